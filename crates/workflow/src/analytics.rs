//! Analytics on the runner: where the workflow writes reporting events (one helper per moment,
//! each keyed so that a replayed or retried step records nothing twice) and the two durable
//! functions of `core::analytics`:
//! - `support-analytics-resolved` (`support/conversation.archived`): the resolution;
//! - `support-analytics-rollup` (cron every 10 minutes and `support/analytics.rollup_requested`):
//!   `analytics::refresh`, the days that got events since the last run rolled up again.
//!
//! A failure to record is logged and never fails the step it belongs to: reporting must not
//! hold a customer's reply back.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support_core::analytics::{self, EventKind, ReportingEvent};
use support_core::events;
use support_core::store::Store;
use support_core::time::{Millis, now_ms};
use support_steps::{Ctx, Event, Function, StepError};

use crate::inbound::store_err;

/// The id of the resolution recorder.
pub const RESOLVED_FN: &str = "support-analytics-resolved";
/// The id of the rollup job.
pub const ROLLUP_FN: &str = "support-analytics-rollup";
/// Asks for a rollup now (`{}`).
pub const ROLLUP_REQUESTED: &str = "support/analytics.rollup_requested";
/// The rollup job's schedule.
pub const ROLLUP_CRON: &str = "*/10 * * * *";

/// Record `e` (and what it implies); errors are logged, not returned.
pub async fn record(store: &dyn Store, e: ReportingEvent) {
    if let Err(err) = analytics::record(store, &e).await {
        tracing::warn!(cause = %err, id = %e.id, kind = e.kind.as_str(), "cannot record a reporting event");
    }
}

/// A customer message reached us (`at`: the webhook's event time), once per message.
pub async fn message_received(
    store: &dyn Store,
    app: &str,
    category: &str,
    conversation: &str,
    message_id: &str,
    at: Millis,
) {
    let e = ReportingEvent::new(
        format!("received:{conversation}:{message_id}"),
        EventKind::MessageReceived,
        app,
        category,
        conversation,
        at,
    );
    record(store, e).await;
}

/// Our draft of run `run_id` is written; `received_at`: the webhook's time.
pub async fn draft_written(
    store: &dyn Store,
    app: &str,
    category: &str,
    conversation: &str,
    run_id: &str,
    received_at: Millis,
) {
    let now = now_ms();
    let mut e = ReportingEvent::new(
        format!("draft:{run_id}"),
        EventKind::DraftWritten,
        app,
        category,
        conversation,
        now,
    );
    if received_at > 0 {
        e = e.value(now - received_at);
    }
    record(store, e).await;
}

/// A reply left: `key` is the run (automatic) or Front's message id (a human's).
pub async fn reply_sent(
    store: &dyn Store,
    app: &str,
    category: &str,
    conversation: &str,
    key: &str,
    automatic: bool,
) {
    let kind = if automatic {
        EventKind::ReplyAuto
    } else {
        EventKind::ReplyHuman
    };
    let e = ReportingEvent::new(
        format!("reply:{key}"),
        kind,
        app,
        category,
        conversation,
        now_ms(),
    );
    record(store, e).await;
}

/// A conversation was handed to a human; `key` identifies the hand-over (the run, or the
/// request).
pub async fn escalated(store: &dyn Store, app: &str, conversation: &str, key: &str, reason: &str) {
    let e = ReportingEvent::new(
        format!("escalated:{key}"),
        EventKind::Escalated,
        app,
        "",
        conversation,
        now_ms(),
    )
    .reason(reason);
    record(store, e).await;
}

/// An SLA target's verdict for a conversation: `sla_met` (it finished in time) or the warning
/// or breach that fired; one event per conversation, metric, cycle and kind (`metric` is the
/// reason, e.g. `first_reply`).
pub async fn sla_verdict(
    store: &dyn Store,
    app: &str,
    conversation: &str,
    kind: EventKind,
    metric: &str,
    cycle: u32,
    at: Millis,
) {
    let e = ReportingEvent::new(
        format!("sla:{conversation}:{metric}:{cycle}:{}", kind.as_str()),
        kind,
        app,
        "",
        conversation,
        at,
    )
    .reason(metric);
    record(store, e).await;
}

/// An approval was requested for `action_id`.
pub async fn approval_requested(
    store: &dyn Store,
    app: &str,
    category: &str,
    conversation: &str,
    action_id: &str,
) {
    let e = ReportingEvent::new(
        format!("approval_requested:{action_id}"),
        EventKind::ApprovalRequested,
        app,
        category,
        conversation,
        now_ms(),
    );
    record(store, e).await;
}

/// An approval was decided: `outcome` is `apply_decision`'s answer (its `status`); refused
/// decision events are not decisions. The latency is the stored approval's.
pub async fn approval_decided(
    store: &dyn Store,
    app: &str,
    conversation: &str,
    action_id: &str,
    outcome: &Value,
) {
    let decision = outcome["decision"].as_str().or(outcome["status"].as_str());
    let reason = match decision {
        Some("rejected") => "rejected",
        Some("expired") => "expired",
        Some("approved" | "executed" | "failed" | "executing") => "approved",
        _ => return,
    };
    let now = now_ms();
    let approval = match store.approval_for_action(action_id).await {
        Ok(a) => a,
        Err(err) => {
            tracing::warn!(cause = %err, "cannot read an approval for analytics");
            None
        }
    };
    let decided_at = approval.as_ref().and_then(|a| a.decided_at).unwrap_or(now);
    let mut e = ReportingEvent::new(
        format!("approval_decided:{action_id}"),
        EventKind::ApprovalDecided,
        app,
        "",
        conversation,
        decided_at,
    )
    .reason(reason);
    if let Some(a) = &approval {
        e = e.value(decided_at - a.created_at);
    }
    record(store, e).await;
}

/// What a human did with our draft of run `run_id` (`unchanged`, `edited`, `rewritten`).
pub async fn draft_outcome(
    store: &dyn Store,
    app: &str,
    category: &str,
    conversation: &str,
    run_id: &str,
    outcome: &str,
) {
    let kind = match outcome {
        "unchanged" => EventKind::DraftUnchanged,
        "edited" => EventKind::DraftEdited,
        "rewritten" => EventKind::DraftRewritten,
        _ => return,
    };
    let e = ReportingEvent::new(
        format!("outcome:{run_id}"),
        kind,
        app,
        category,
        conversation,
        now_ms(),
    );
    record(store, e).await;
}

/// `support/conversation.archived` → a resolution (its time and touch filled by
/// `analytics::record` from the conversation's events).
pub fn resolved_function(store: Arc<dyn Store>) -> Function {
    Function::new(RESOLVED_FN)
        .name("Analytics: resolution")
        .on_event(events::CONVERSATION_ARCHIVED)
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let store = store.clone();
            async move {
                ctx.run("record", move || async move {
                    let conversation = ev.data["conversation_id"].as_str().unwrap_or_default();
                    if conversation.is_empty() {
                        return Ok::<_, StepError>(json!({"skipped": "no conversation"}));
                    }
                    let key = ev.data["event_id"].as_str().unwrap_or(&ev.id);
                    let e = ReportingEvent::new(
                        format!("resolved:{key}"),
                        EventKind::Resolved,
                        ev.data["app_id"].as_str().unwrap_or_default(),
                        "",
                        conversation,
                        if ev.ts > 0 { ev.ts } else { now_ms() },
                    );
                    let new = analytics::record(store.as_ref(), &e)
                        .await
                        .map_err(store_err)?;
                    Ok(json!({"recorded": new}))
                })
                .await
            }
        })
}

/// The rollup job: cron and on request, one run at a time.
pub fn rollup_function(store: Arc<dyn Store>) -> Function {
    Function::new(ROLLUP_FN)
        .name("Analytics: rollup")
        .on_cron(ROLLUP_CRON)
        .on_event(ROLLUP_REQUESTED)
        .concurrency(1, None)
        .retries(3)
        .handler(move |ctx: Ctx, _ev: Event| {
            let store = store.clone();
            async move {
                ctx.run("refresh", move || async move {
                    let days = analytics::refresh(store.as_ref(), now_ms())
                        .await
                        .map_err(store_err)?;
                    Ok::<_, StepError>(json!({"days": days}))
                })
                .await
            }
        })
}

/// The analytics functions.
pub fn functions(store: Arc<dyn Store>) -> Vec<Function> {
    vec![resolved_function(store.clone()), rollup_function(store)]
}
