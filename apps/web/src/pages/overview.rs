//! Overview (`/`): what needs a human now (pending approvals, urgent escalations, open dead
//! letters, failing runs), the volume of today and the last 7 days, and the health of Front,
//! Slack, Stripe and each app's SDK endpoint as far as the audit trail tells (last success,
//! last error; "not recorded" when it does not).
//!
//! Each section reads on its own: a store failure shows an error panel in its place and the
//! rest of the page still renders.
//!
//! Like every page it needs a session (an API token does not open it).

use crate::auth::Viewer;
use crate::ui::health::{self, Probe, newest};
use crate::ui::{self, ErrorPanel, Nav, Page, PageError, RelTime, StatusBadge, Table};
use axum::extract::State;
use axum::response::Response;
use leptos::prelude::*;
use support_core::store::{ConversationFilter, StoreError};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

const DAY: Millis = 86_400_000;

fn section_error(e: StoreError) -> AnyView {
    let err = PageError::from(e);
    err.log();
    view! { <ErrorPanel code=err.code message=err.message/> }.into_any()
}

fn tile(label: &'static str, count: i64, href: &'static str, hint: &'static str) -> AnyView {
    let class = if count > 0 { "tile tile-alert" } else { "tile" };
    view! {
        <a class=class href=href>
            <span class="tile-count">{count}</span>
            <span class="tile-label">{label}</span>
            <span class="muted">{hint}</span>
        </a>
    }
    .into_any()
}

/// GET `/`.
pub async fn page(viewer: Viewer, State(p): State<Platform>) -> Response {
    let now = now_ms();
    let today = now - now.rem_euclid(DAY);
    let starts: Vec<Millis> = (0..7).map(|i| today - i * DAY).collect();

    let counts = match p.store.overview_counts(&starts, now - DAY).await {
        Err(e) => section_error(e),
        Ok(c) => {
            let week: i64 = c.per_day.iter().sum();
            let today_n = c.per_day.first().copied().unwrap_or_default();
            let max = c.per_day.iter().copied().max().unwrap_or(0).max(1);
            let bars = c
                .per_day
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let h = (n * 60 / max).max(if *n > 0 { 2 } else { 0 });
                    let x = ((6 - i) * 40 + 5).to_string();
                    let y = (70 - h).to_string();
                    let label = format!(
                        "{}: {n}",
                        ui::absolute_time(starts[i]).get(..10).unwrap_or_default()
                    );
                    view! {
                        <rect x=x y=y width="30" height=h.to_string() class="bar">
                            <title>{label}</title>
                        </rect>
                    }
                })
                .collect_view();
            view! {
                <section aria-labelledby="needs-human">
                    <h2 id="needs-human">"Needs a human now"</h2>
                    <div class="tiles">
                        {tile("pending approvals", c.pending_approvals, "/approvals", "waiting for a decision")}
                        {tile("urgent escalations", c.urgent_escalations, "/conversations?escalation=urgent", "escalated urgent, not solved")}
                        {tile("open dead letters", c.open_dead_letters, "/dead-letters", "failed for good, to replay")}
                        {tile("runs failed (24 h)", c.failed_runs, "#failing-runs", "see below")}
                        {tile("runs retrying", c.retrying_runs, "#failing-runs", "waiting for their next attempt")}
                    </div>
                </section>
                <section aria-labelledby="volume">
                    <h2 id="volume">"Volume"</h2>
                    <p>
                        <strong>{today_n}</strong>" new conversations today (UTC) · "
                        <strong>{week}</strong>" in the last 7 days"
                    </p>
                    <svg class="chart" viewBox="0 0 285 75" width="285" height="75" role="img" aria-label="New conversations per day, last 7 days">
                        {bars}
                    </svg>
                </section>
            }
            .into_any()
        }
    };

    let urgent = match p
        .store
        .conversation_page(&ConversationFilter {
            escalation: Some("urgent".into()),
            limit: 5,
            ..ConversationFilter::default()
        })
        .await
    {
        Err(e) => section_error(e),
        Ok(page) if page.items.is_empty() => view! {
            <p class="muted">"No urgent escalations. The router escalates legal threats, chargeback threats and angry customers as urgent."</p>
        }
        .into_any(),
        Ok(page) => {
            let rows = page
                .items
                .into_iter()
                .map(|i| {
                    let c = i.conversation;
                    let href = format!("/conversations/{}", c.front_id);
                    let subject = c.subject.clone().unwrap_or_else(|| "(no subject)".into());
                    let status = c.status.to_string();
                    view! {
                        <tr>
                            <td><RelTime at=c.updated_at now=now/></td>
                            <td><a href=href>{subject}</a></td>
                            <td>{c.customer_email.clone().unwrap_or_default()}</td>
                            <td>{c.escalation_reason.clone().unwrap_or_default()}</td>
                            <td><StatusBadge status=status/></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <Table head=vec!["Updated", "Subject", "Customer", "Why", "Status"] caption="Urgent escalations">
                    {rows}
                </Table>
            }
            .into_any()
        }
    };

    let failing = match p.store.failed_runs(5).await {
        Err(e) => section_error(e),
        Ok(runs) if runs.is_empty() => {
            view! { <p class="muted">"No run has failed for good."</p> }.into_any()
        }
        Ok(runs) => {
            let rows = runs
                .into_iter()
                .map(|r| {
                    let at = r.ended_at.unwrap_or(r.created_at);
                    view! {
                        <tr>
                            <td><RelTime at=at now=now/></td>
                            <td><code>{r.id.clone()}</code></td>
                            <td>{r.function_id.clone()}</td>
                            <td>{r.attempt}</td>
                            <td>{r.error.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <Table head=vec!["Failed", "Run", "Function", "Attempts", "Error"] caption="Failed runs">
                    {rows}
                </Table>
            }
            .into_any()
        }
    };

    let health = match probes(&p).await {
        Err(e) => section_error(e),
        Ok(probes) => health::table(probes, now),
    };
    let ready = p
        .store
        .migration_status()
        .await
        .map(|s| s.up_to_date())
        .unwrap_or(false);
    let db = format!(
        "Support platform · database {} · {}",
        p.store.backend(),
        if ready { "ready" } else { "not ready" }
    );
    let body = view! {
        {counts}
        <section aria-labelledby="urgent">
            <h2 id="urgent">"Urgent escalations"</h2>
            {urgent}
            <p><a href="/conversations?escalation=urgent">"All urgent escalations"</a></p>
        </section>
        <section aria-labelledby="failing-runs">
            <h2 id="failing-runs">"Runs failing"</h2>
            {failing}
        </section>
        <section aria-labelledby="health">
            <h2 id="health">"Health"</h2>
            <p class="muted">
                "Derived from the audit trail: the newest entry that shows each integration working, and the newest that shows it failing. "
                "“Not recorded” means the trail holds no such entry (yet), not that all is well."
            </p>
            {health}
        </section>
        <p class="muted">{db}</p>
    };
    ui::render(&p, &viewer, Page::new("Overview", Nav::Overview, body)).await
}

async fn probes(p: &Platform) -> Result<Vec<Probe>, StoreError> {
    let mut out = vec![
        Probe {
            name: "Front".into(),
            success: newest(p, &["hydrate.completed", "draft.created"], None, None).await?,
            error: newest(p, &["front.webhook_refused"], None, None).await?,
            note: "no refused webhook recorded; Front API failures show on the failing run",
        },
        Probe {
            name: "Slack".into(),
            success: newest(p, &["approval.posted"], None, None).await?,
            error: newest(
                p,
                &["approval.post_failed", "slack.request_refused"],
                None,
                None,
            )
            .await?,
            note: "none recorded",
        },
        Probe {
            name: "Stripe".into(),
            success: newest(
                p,
                &[
                    "stripe.refund_reconciled",
                    "stripe.connected",
                    "stripe.refund_external",
                ],
                None,
                None,
            )
            .await?,
            error: newest(
                p,
                &[
                    "stripe.webhook_refused",
                    "stripe.webhook_failed",
                    "stripe.account_deauthorized",
                ],
                None,
                None,
            )
            .await?,
            note: "no webhook failure recorded; failed refunds show as failed actions",
        },
    ];
    for app in p.store.list_apps().await? {
        out.push(health::sdk_probe(p, &app.slug).await?);
    }
    Ok(out)
}
