//! Retention: the platform keeps customer text only as long as it needs it.
//!
//! This module holds the plan (cutoffs per app from a [`Clock`]) and the report; the durable
//! function that carries it out is `support_workflow::retention`.
//!
//! The `support-retention` durable function runs on a cron schedule (`settings.retention.
//! schedule`, five fields, UTC; daily by default) and on `support/retention.requested`. Each run:
//! - blanks the bodies (plain and raw) of messages sent more than `message_body_days` ago (30 by
//!   default) and sets their `purged_at`;
//! - purges the payload of approvals decided more than `approval_payload_days` ago (90 by
//!   default): the approval's draft and capability, and its action's params (`{}`), reasoning
//!   and result; the rows, statuses, amounts, approvers and votes stay, and `purged_at` is set.
//!   Pending approvals, actions still in flight and actions with an unresolved dead letter (a
//!   retry needs their params) are never purged;
//! - purges the runner's copies of that text for runs that ended before the shortest message
//!   retention of any app: memoized step results (the hydrated thread, drafts) become
//!   `{"purged": true}`, run outputs are dropped, and the data of their events (and of processed
//!   events whose runs are all purged) becomes `{"purged": true}` (`purged_at` set on both).
//!   Failed or cancelled runs with an unresolved dead letter are kept for their replay. A purged
//!   run can no longer be replayed with `skill replay`;
//! - writes one `retention.purged` audit entry with the counts.
//!
//! The days are per app: `AppPolicy.retention` overrides the global defaults; conversations and
//! actions of no registered app follow the defaults. The cutoffs come from a [`Clock`] read once
//! in the run's first step (memoized), so a retried run purges against the same instant.
//! Work is bounded: batches of `batch_size` rows (one statement and one durable step each), at
//! most `max_batches_per_run` full batches per run (plus the last, partial or empty, batch of
//! each scope); a run that hits the bound asks for a follow-up run, which picks up the rest.
//! Every batch only touches rows not purged yet, so a second run changes nothing.
//!
//! The audit chain stays verifiable: purging never touches `audit_log`. Audit entries do not
//! carry message bodies (the workflow records ids, counts, decisions and hashes); what they
//! hold is kept until it is archived with `skill audit archive` (see [`crate::audit`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::registry::policy_of;
use crate::settings::RetentionSettings;
use crate::store::{AppRow, RetentionScope};
use crate::time::{DAY_MS, Millis};

/// The id of the retention function.
pub const RETENTION_FN: &str = "support-retention";
/// Asks for a retention run now (also sent by a run that hit its bound, to continue).
pub const RETENTION_REQUESTED: &str = "support/retention.requested";
/// The audit kind of a run's entry.
pub const PURGED_KIND: &str = "retention.purged";

/// Where the time comes from. Production uses [`SystemClock`]; tests use [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        crate::time::now_ms()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Millis) -> Self {
        Self(AtomicI64::new(at))
    }

    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// The cutoffs of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopePlan {
    pub scope: RetentionScope,
    pub message_body_days: i64,
    pub approval_payload_days: i64,
    /// Messages sent before this lose their bodies.
    pub messages_before: Millis,
    /// Approvals decided before this lose their payloads.
    pub approvals_before: Millis,
}

impl ScopePlan {
    /// A short label for step ids and reports: the app slug, or `_unowned`.
    pub fn label(&self) -> &str {
        match &self.scope {
            RetentionScope::App(slug) => slug,
            RetentionScope::Unowned => "_unowned",
        }
    }
}

/// What a run purges, decided once at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub now: Millis,
    pub scopes: Vec<ScopePlan>,
    /// The runner's copies (memoized step results, run outputs, event data: the hydrated
    /// thread, drafts) of runs that ended before this are purged: the shortest message
    /// retention of any app, since runs are not kept per app.
    pub runs_before: Millis,
    /// Apps whose stored policy cannot be read: left alone (their override is unknown).
    pub skipped: Vec<String>,
}

fn cutoff(now: Millis, days: i64) -> Millis {
    now.saturating_sub(days.saturating_mul(DAY_MS))
}

/// The cutoffs for every registered app (its override, else the defaults) and for rows of no
/// registered app (the defaults).
pub fn plan(apps: &[AppRow], defaults: &RetentionSettings, now: Millis) -> Plan {
    let mut scopes = Vec::new();
    let mut skipped = Vec::new();
    let scope = |scope: RetentionScope, m: i64, a: i64| ScopePlan {
        scope,
        message_body_days: m,
        approval_payload_days: a,
        messages_before: cutoff(now, m),
        approvals_before: cutoff(now, a),
    };
    for app in apps {
        match policy_of(app) {
            Ok(policy) => {
                let r = policy.retention;
                scopes.push(scope(
                    RetentionScope::App(app.slug.clone()),
                    r.message_body_days
                        .unwrap_or(defaults.message_body_days)
                        .max(1),
                    r.approval_payload_days
                        .unwrap_or(defaults.approval_payload_days)
                        .max(1),
                ));
            }
            Err(e) => {
                tracing::warn!(app = %app.slug, error = %e, "retention skips an app whose policy cannot be read");
                skipped.push(app.slug.clone());
            }
        }
    }
    scopes.push(scope(
        RetentionScope::Unowned,
        defaults.message_body_days.max(1),
        defaults.approval_payload_days.max(1),
    ));
    let runner_days = scopes
        .iter()
        .map(|s| s.message_body_days)
        .min()
        .unwrap_or(defaults.message_body_days)
        .max(1);
    Plan {
        now,
        scopes,
        runs_before: cutoff(now, runner_days),
        skipped,
    }
}

/// Counts of one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub messages: u64,
    pub approvals: u64,
}

/// What a run did (its output, and the data of its audit entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// The instant the cutoffs were computed from.
    pub now: Millis,
    pub messages: u64,
    pub approvals: u64,
    /// Runs and events of the runner whose copies were purged.
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub events: u64,
    /// Per app (`_unowned` for rows of no registered app), only where something was purged.
    pub by_app: BTreeMap<String, Counts>,
    /// Statements run (full, partial and empty batches).
    pub batches: i64,
    /// `false` when the run stopped at `max_batches_per_run` (a follow-up run continues).
    pub complete: bool,
    pub skipped_apps: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{AppPolicy, AppRetention};
    use serde_json::json;

    fn app(slug: &str, retention: AppRetention) -> AppRow {
        let policy = AppPolicy {
            retention,
            ..AppPolicy::default()
        };
        AppRow {
            id: format!("app_{slug}"),
            slug: slug.into(),
            name: slug.into(),
            front_inbox_ids: vec![],
            sdk_base_url: "http://127.0.0.1:1".into(),
            secrets_enc: String::new(),
            stripe_account: None,
            policy: serde_json::to_value(policy).unwrap_or_default(),
            capabilities: json!({}),
            status: crate::store::AppStatus::Connected,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn plan_uses_overrides_then_defaults() {
        let now = 1_000 * DAY_MS;
        let apps = [
            app("a", AppRetention::default()),
            app(
                "b",
                AppRetention {
                    message_body_days: Some(7),
                    approval_payload_days: None,
                },
            ),
        ];
        let mut broken = app("c", AppRetention::default());
        broken.policy = json!({"retention": {"message_body_days": "soon"}});
        let mut all = apps.to_vec();
        all.push(broken);
        let p = plan(&all, &RetentionSettings::default(), now);
        assert_eq!(p.skipped, ["c"]);
        assert_eq!(p.scopes.len(), 3);
        assert_eq!(p.scopes[0].messages_before, now - 30 * DAY_MS);
        assert_eq!(p.scopes[0].approvals_before, now - 90 * DAY_MS);
        assert_eq!(p.scopes[1].messages_before, now - 7 * DAY_MS);
        assert_eq!(p.scopes[1].approvals_before, now - 90 * DAY_MS);
        assert_eq!(p.scopes[2].scope, RetentionScope::Unowned);
        assert_eq!(p.scopes[2].label(), "_unowned");
    }

    #[test]
    fn cutoffs_never_overflow() {
        assert_eq!(cutoff(i64::MIN, 30), i64::MIN);
        assert_eq!(cutoff(0, i64::MAX), -i64::MAX);
    }
}
