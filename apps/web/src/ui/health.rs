//! The health of an integration as the audit trail tells it (the newest entry showing it
//! working, the newest showing it failing), for the overview and the Apps pages: a
//! [`Probe`] per integration and their [`table`]. "Not recorded" means the trail holds no such
//! entry, not that all is well.

use super::{RelTime, StatusBadge, Table};
use leptos::prelude::*;
use support_core::store::{AuditRecord, StoreError};
use support_core::time::Millis;
use support_host::Platform;

/// How many of a kind's newest audit entries a probe looks through.
pub const HEALTH_SCAN: i64 = 5_000;

/// One integration's health as the audit trail tells it.
pub struct Probe {
    pub name: String,
    pub success: Option<AuditRecord>,
    pub error: Option<AuditRecord>,
    /// What a missing error entry means for this integration.
    pub note: &'static str,
}

impl Probe {
    /// `ok`, `failed` (the newest word is an error) or `unknown`.
    pub fn state(&self) -> &'static str {
        match (&self.success, &self.error) {
            (None, None) => "unknown",
            (Some(_), None) => "ok",
            (None, Some(_)) => "failed",
            (Some(s), Some(e)) if s.seq > e.seq => "ok",
            _ => "failed",
        }
    }
}

/// The newest audit entry of any of `kinds` (of `app`; whose data contains `contains`).
pub async fn newest(
    p: &Platform,
    kinds: &[&str],
    app: Option<&str>,
    contains: Option<&str>,
) -> Result<Option<AuditRecord>, StoreError> {
    let mut best: Option<AuditRecord> = None;
    for kind in kinds {
        if let Some(r) = p
            .store
            .latest_audit_of(kind, app, contains, HEALTH_SCAN)
            .await?
            && best.as_ref().is_none_or(|b| r.seq > b.seq)
        {
            best = Some(r);
        }
    }
    Ok(best)
}

/// An app's SDK endpoint, live: its newest successful and failed tool call, as the store
/// keeps them when it appends `tool.called` entries (two primary-key reads, no scan).
pub async fn sdk_probe(p: &Platform, slug: &str) -> Result<Probe, StoreError> {
    let h = p.store.sdk_endpoint_health(slug).await?;
    Ok(Probe {
        name: format!("SDK endpoint of {slug}"),
        success: h.success,
        error: h.failure,
        note: "no failed tool call recorded",
    })
}

/// What an error entry says (its `error`, `reason`, `message` or `code`), shortened.
pub fn error_text(e: &AuditRecord) -> String {
    let d = &e.data;
    let text = ["error", "reason", "message", "code"]
        .iter()
        .find_map(|k| d[*k].as_str())
        .unwrap_or_default();
    text.chars().take(200).collect()
}

/// The last success of a probe (or "not recorded").
pub fn success_cell(pr: &Probe, now: Millis) -> AnyView {
    match &pr.success {
        Some(s) => {
            view! { <RelTime at=s.at now=now/>" "<span class="muted">{s.kind.clone()}</span> }
                .into_any()
        }
        None => view! { <span class="muted">"not recorded"</span> }.into_any(),
    }
}

/// The last error of a probe, with what it said (or the probe's note).
pub fn error_cell(pr: &Probe, now: Millis) -> AnyView {
    match &pr.error {
        Some(e) => {
            let what = error_text(e);
            view! {
                <RelTime at=e.at now=now/>" "<span class="muted">{e.kind.clone()}</span>
                <div>{what}</div>
            }
            .into_any()
        }
        None => view! { <span class="muted">{pr.note}</span> }.into_any(),
    }
}

/// The probes as a table: integration, state, last success, last error.
pub fn table(probes: Vec<Probe>, now: Millis) -> AnyView {
    let rows = probes
        .into_iter()
        .map(|pr| {
            let state = pr.state();
            view! {
                <tr>
                    <td>{pr.name.clone()}</td>
                    <td><StatusBadge status=state/></td>
                    <td>{success_cell(&pr, now)}</td>
                    <td>{error_cell(&pr, now)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table head=vec!["Integration", "State", "Last success", "Last error"] caption="Integration health">
            {rows}
        </Table>
    }
    .into_any()
}
