//! Runs that failed for good become dead letters the team can see and replay.
//!
//! The runner announces every final failure with an `inngest/function.failed` event, stored in
//! the same transaction as the failure (the embedded executor; a real Inngest server sends the
//! same event). This function records it in the platform's `dead_letters` table, with the
//! cause, and audits it against the conversation the run was about.
//!
//! [`replay_dead_letter`] is what an admin does about a letter, from the dashboard API
//! (`POST /api/v1/dead-letters/{id}/replay`) or `skill dead-letters replay`:
//! - `action`: a retry with a new idempotency key ([`crate::inbound::request_retry`]); the
//!   retry resolves the letter when it succeeds;
//! - `run`: the run is re-queued where it failed (its finished steps stay memoized);
//! - `webhook` (a Stripe delivery that could not be applied): the stored event is applied again.
//!
//! Each replay is audited (`dead_letter.replayed`); a resolved letter is never replayed.

use serde_json::{Value, json};
use std::sync::Arc;
use support_steps::{Ctx, Event, FAILED_EVENT, Function, StepError};

use crate::inbound::{RetryRequestError, request_retry};
use support_core::approvals::ApprovalChannel;
use support_core::audit::AuditEvent;
use support_core::store::{DeadLetter, DeadLetterKind, Store, StoreError};
use support_core::stripe_connect::{self as sc, WebhookDeps};
use support_core::time::now_ms;

/// The id of the dead-letter function.
pub const DEAD_LETTER_FN: &str = "support-dead-letters";

/// The human-readable cause of a failure event's `error` (`{name, message}`).
pub fn cause(error: &Value) -> String {
    match (error["name"].as_str(), error["message"].as_str()) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message.to_string(),
        _ => error.to_string(),
    }
}

/// Records `inngest/function.failed` events as dead letters (kind `run`).
pub fn dead_letter_function(store: Arc<dyn Store>) -> Function {
    Function::new(DEAD_LETTER_FN)
        .name("Dead letters")
        .on_event(FAILED_EVENT)
        .retries(10)
        .handler(move |ctx: Ctx, ev: Event| {
            let store = store.clone();
            async move { record(&ctx, &ev, store).await }
        })
}

async fn record(ctx: &Ctx, ev: &Event, store: Arc<dyn Store>) -> Result<Value, StepError> {
    let run_id = ev.data["run_id"].as_str().unwrap_or_default().to_string();
    let function = ev.data["function_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let error = cause(&ev.data["error"]);
    let original = &ev.data["event"]["data"];
    let app = original["app_id"].as_str().map(str::to_string);
    let conversation = original["conversation_id"].as_str().map(str::to_string);
    let id = format!("dl_{}", ev.id);
    let (data, s) = (ev.data.clone(), store.clone());
    let (i, r, e, f) = (id.clone(), run_id.clone(), error.clone(), function.clone());
    ctx.run("record", move || async move {
        let letter = DeadLetter {
            id: i.clone(),
            kind: DeadLetterKind::Run,
            ref_id: r.clone(),
            error: e.clone(),
            payload: data,
            created_at: now_ms(),
            resolved_at: None,
        };
        match s.insert_dead_letter(&letter).await {
            // Recorded by an earlier attempt that crashed before its step was memoized.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(StepError::retriable(format!("store: {other}"))),
        }
        let mut audit = AuditEvent::new(
            "run.dead_lettered",
            "runner",
            json!({"dead_letter": i, "run_id": r, "function": f, "error": e}),
        )
        .trace(r.clone());
        if let Some(app) = &app {
            audit = audit.app(app.clone());
        }
        if let Some(conversation) = &conversation {
            audit = audit.conversation(conversation.clone());
        }
        s.append_audit(&audit)
            .await
            .map_err(|e| StepError::retriable(format!("store: {e}")))?;
        Ok(json!({"dead_letter": i}))
    })
    .await
}

/// Re-queues a failed run where it failed; the embedded executor's `Engine::replay`. `None`
/// where runs belong to a real Inngest server (replay them in its dashboard).
#[async_trait::async_trait]
pub trait RunReplayer: Send + Sync {
    /// `Ok(false)`: the run is not failed or cancelled (nothing to replay).
    async fn replay_run(&self, run_id: &str) -> Result<bool, String>;
}

#[async_trait::async_trait]
impl RunReplayer for support_steps::Engine {
    async fn replay_run(&self, run_id: &str) -> Result<bool, String> {
        self.replay(run_id).await.map_err(|e| e.to_string())
    }
}

/// What replaying a letter needs.
pub struct ReplayDeps<'a> {
    pub webhook: WebhookDeps<'a>,
    pub runs: Option<&'a dyn RunReplayer>,
    /// Where a replayed dispute is alerted (the app's Slack channel).
    pub alerts: Option<&'a dyn ApprovalChannel>,
}

/// Why a letter was not replayed. Every variant but `Store` is the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("dead letter {0} not found")]
    NotFound(String),
    #[error("dead letter {0} is already resolved")]
    Resolved(String),
    /// The letter is about something that cannot be replayed here (with why).
    #[error("{0}")]
    NotReplayable(String),
    /// Replayed, and it failed again; the letter stays open.
    #[error("the replay failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replay dead letter `id` on behalf of `actor` (audited). Returns what was done, as JSON.
pub async fn replay_dead_letter(
    deps: &ReplayDeps<'_>,
    id: &str,
    actor: &str,
) -> Result<Value, ReplayError> {
    let store = deps.webhook.store;
    let letter = store
        .get_dead_letter(id)
        .await?
        .ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
    if letter.resolved_at.is_some() {
        return Err(ReplayError::Resolved(id.to_string()));
    }
    let done = match letter.kind.as_str() {
        "action" => {
            let r = request_retry(store, deps.webhook.events, &letter.ref_id, actor)
                .await
                .map_err(|e| match e {
                    RetryRequestError::Store(e) => ReplayError::Store(e),
                    RetryRequestError::NotRetriable(m) => ReplayError::NotReplayable(m),
                    other => ReplayError::Failed(other.to_string()),
                })?;
            // The retry resolves the letter once it succeeds.
            json!({"status": "retry_requested", "action_id": r.action_id, "attempt": r.attempt, "event_id": r.event_id})
        }
        "run" => {
            let runs = deps.runs.ok_or_else(|| {
                ReplayError::NotReplayable(
                    "runs belong to the Inngest server: replay the run in its dashboard".into(),
                )
            })?;
            if !runs
                .replay_run(&letter.ref_id)
                .await
                .map_err(ReplayError::Failed)?
            {
                return Err(ReplayError::NotReplayable(format!(
                    "run {} is not failed; nothing to replay",
                    letter.ref_id
                )));
            }
            store.resolve_dead_letter(&letter.id, now_ms()).await?;
            json!({"status": "run_requeued", "run_id": letter.ref_id})
        }
        "webhook" if letter.ref_id.starts_with("stripe:") => {
            let processed = sc::process_event(&deps.webhook, &letter.payload, now_ms())
                .await
                .map_err(|e| ReplayError::Failed(e.to_string()))?;
            store.resolve_dead_letter(&letter.id, now_ms()).await?;
            if let Some(pending) = &processed.alert {
                sc::send_alert(store, deps.alerts, pending).await?;
            }
            json!({"status": "applied", "event": processed.summary})
        }
        other => {
            return Err(ReplayError::NotReplayable(format!(
                "a {other} letter about {} cannot be replayed",
                letter.ref_id
            )));
        }
    };
    let mut audit = AuditEvent::new(
        "dead_letter.replayed",
        actor.to_string(),
        json!({"dead_letter": letter.id, "kind": letter.kind, "ref_id": letter.ref_id, "outcome": done}),
    );
    // Runs and actions carry their conversation in the letter.
    let about = match letter.kind.as_str() {
        "run" => &letter.payload["event"]["data"],
        _ => &letter.payload,
    };
    if let Some(app) = about["app_id"].as_str().or(about["app"].as_str()) {
        audit = audit.app(app.to_string());
    }
    if let Some(conversation) = about["conversation_id"].as_str() {
        audit = audit.conversation(conversation.to_string());
    }
    store.append_audit(&audit).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_like_sentences() {
        assert_eq!(
            cause(&json!({"name": "Error", "message": "Front answered 503"})),
            "Error: Front answered 503"
        );
        assert_eq!(cause(&json!({"message": "boom"})), "boom");
        assert_eq!(cause(&json!("odd")), "\"odd\"");
    }
}
