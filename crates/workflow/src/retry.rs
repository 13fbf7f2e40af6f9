//! Retrying a dead-lettered action. An approved action that failed (a card error, the product
//! down) is `failed` with a dead letter; an admin's retry request
//! (`support/action.retry_requested`, from `POST /api/v1/actions/{id}/retry`) runs it again
//! here, durably and one at a time per action, with a new idempotency key per attempt
//! (`{action}:retry-{n}`): Stripe answers a key it has seen with its first answer, so reusing
//! the action id would only replay the failure. Success resolves the action's dead letters;
//! another failure leaves a new one. Both are audited and announced like the first attempt.

use serde_json::{Value, json};
use std::time::Duration;
use support_steps::{Ctx, Event, Function, StepError};

use crate::approval::{audited, dead_letter_action, finish_action, summarize, update_message_of};
use crate::inbound::{InboundDeps, front_err, store_err};
use crate::tools::PlatformTools;
use support_core::approvals::ApprovalState;
use support_core::audit::AuditEvent;
use support_core::events;
use support_core::events::{EventSink, OutEvent};
use support_core::pipeline::tools::ToolCall;
use support_core::store::{
    ActionPatch, ActionRow, ActionStatus, ApprovalRow, DeadLetter, DeadLetterKind,
};
use support_core::store::{Store, StoreError};
use support_core::time::now_ms;

/// The id of the retry function.
pub const ACTION_RETRY_FN: &str = "support-action-retry";

/// The idempotency key of retry `attempt` of `action_id`.
pub fn retry_key(action_id: &str, attempt: u64) -> String {
    format!("{action_id}:retry-{attempt}")
}

/// Why a retry cannot be requested.
#[derive(Debug, thiserror::Error)]
pub enum RetryRequestError {
    #[error("action {0} not found")]
    NotFound(String),
    /// Only a `failed` action with an open dead letter can be retried.
    #[error("{0}")]
    NotRetriable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runner did not take the event: {0}")]
    Events(String),
}

/// A retry handed to the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequested {
    pub action_id: String,
    /// 1 for the first retry; also the number of the action's dead letters.
    pub attempt: u64,
    pub event_id: String,
}

/// Ask for a retry of a dead-lettered action on behalf of `actor` (audited). Attempt `n` is the
/// number of the action's dead letters, so asking twice before it runs sends the same event id
/// and is absorbed. Used by `POST /api/v1/actions/{id}/retry` and `skill actions retry`.
pub async fn request_retry(
    store: &dyn Store,
    events: &dyn EventSink,
    action_id: &str,
    actor: &str,
) -> Result<RetryRequested, RetryRequestError> {
    let action = store
        .get_action(action_id)
        .await?
        .ok_or_else(|| RetryRequestError::NotFound(action_id.chars().take(64).collect()))?;
    let letters: Vec<_> = store
        .dead_letters_of(action_id)
        .await?
        .into_iter()
        .filter(|l| l.kind == "action")
        .collect();
    let open = letters.iter().any(|l| l.resolved_at.is_none());
    if action.status != "failed" || !open {
        return Err(RetryRequestError::NotRetriable(format!(
            "action {action_id} is {} and has {} open dead letter(s); only a failed, dead-lettered action can be retried",
            action.status,
            usize::from(open)
        )));
    }
    let attempt = letters.len() as u64;
    let event_id = format!("action-retry:{action_id}:{attempt}");
    let mut audit = AuditEvent::new(
        "action.retry_requested",
        actor,
        json!({"action_id": action_id, "attempt": attempt, "event_id": event_id}),
    );
    if let Some(app) = &action.app {
        audit = audit.app(app.clone());
    }
    if let Some(conv) = &action.conversation_id {
        audit = audit.conversation(conv.clone());
    }
    store.append_audit(&audit).await?;
    events
        .send(vec![OutEvent {
            name: events::ACTION_RETRY_REQUESTED.into(),
            data: json!({"action_id": action_id, "attempt": attempt, "actor": actor}),
            id: Some(event_id.clone()),
        }])
        .await
        .map_err(|e| RetryRequestError::Events(e.to_string()))?;
    Ok(RetryRequested {
        action_id: action_id.to_string(),
        attempt,
        event_id,
    })
}

/// Runs `support/action.retry_requested`.
pub fn action_retry_function(deps: InboundDeps) -> Function {
    Function::new(ACTION_RETRY_FN)
        .name("Retry a failed action")
        .on_event(events::ACTION_RETRY_REQUESTED)
        .concurrency(1, Some("event.data.action_id"))
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move { retry(ctx, ev, deps).await }
        })
}

async fn retry(ctx: Ctx, ev: Event, deps: InboundDeps) -> Result<Value, StepError> {
    let aid = ev.data["action_id"]
        .as_str()
        .ok_or_else(|| StepError::non_retriable("event has no action_id"))?
        .to_string();
    let attempt = ev.data["attempt"].as_u64().unwrap_or(1);
    let actor = ev.data["actor"].as_str().unwrap_or("unknown").to_string();
    let trace = ctx.run_id().to_string();
    let (d, a, t, who) = (deps.clone(), aid.clone(), trace.clone(), actor.clone());
    let outcome: Value = ctx
        .run("execute", move || async move {
            execute(&d, &a, attempt, &who, &t).await
        })
        .await?;
    let (name, key) = match outcome["status"].as_str() {
        Some("executed") => (events::ACTION_EXECUTED, "result"),
        Some("failed") => (events::ACTION_FAILED, "error"),
        _ => return Ok(outcome),
    };
    let mut data = json!({"action_id": aid, "app_id": outcome["app"], "conversation_id": outcome["conversation_id"], "attempt": attempt});
    data[key] = outcome[key].clone();
    ctx.send_event(
        "announce",
        vec![Event::new(name, data).with_id(format!("{name}:{}", retry_key(&aid, attempt)))],
    )
    .await?;
    Ok(outcome)
}

async fn execute(
    d: &InboundDeps,
    aid: &str,
    attempt: u64,
    actor: &str,
    trace: &str,
) -> Result<Value, StepError> {
    let store = d.store.as_ref();
    let action = store
        .get_action(aid)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable(format!("action {aid} is gone")))?;
    let (app, conv) = (
        action.app.clone().unwrap_or_default(),
        action.conversation_id.clone().unwrap_or_default(),
    );
    let audit = |kind: &'static str, data: Value| {
        AuditEvent::new(kind, actor.to_string(), data)
            .app(app.clone())
            .conversation(conv.clone())
            .trace(trace.to_string())
    };
    let approval = store.approval_for_action(aid).await.map_err(store_err)?;
    let email = store
        .get_conversation(&conv)
        .await
        .map_err(store_err)?
        .and_then(|c| c.customer_email);
    // `executed`: this retry ran it and its step failed or died before the follow-ups were
    // done (only a `failed` action can be retried, one attempt at a time, so no other attempt
    // can have executed it). `executing`: this retry died mid-way and resumes (every call is
    // idempotent on its key).
    let now = now_ms();
    let outcome = if action.status == "executed" {
        Ok(action.result.clone().unwrap_or(Value::Null))
    } else if store
        .transition_action(
            aid,
            &[ActionStatus::Failed, ActionStatus::Executing],
            ActionStatus::Executing,
            &ActionPatch::default(),
            now,
        )
        .await
        .map_err(store_err)?
    {
        run_again(
            d,
            &action,
            &app,
            &conv,
            email.as_deref(),
            approval.as_ref(),
            attempt,
            actor,
            trace,
        )
        .await?
    } else {
        let skipped = json!({"action_id": aid, "status": "skipped", "reason": format!("the action is {}", action.status)});
        store
            .append_audit(&audit("action.retry_skipped", skipped.clone()))
            .await
            .map_err(store_err)?;
        return Ok(skipped);
    };

    // The follow-ups, re-entrant: each audit entry is written once per attempt.
    let approved_by: Vec<String> = approval
        .as_ref()
        .and_then(|a| a.decided_by.clone())
        .map(|who| who.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let approved_by = support_core::decision::approvers_of(&approved_by);
    // The approval's Slack message follows the retry, as it followed the first attempt.
    let show = |state: ApprovalState| {
        let (approval, email, app, action) = (&approval, &email, &app, &action);
        async move {
            if let Some(approval) = approval {
                let draft = approval.draft.as_deref();
                update_message_of(d, app, email.as_deref(), action, approval, draft, state).await;
            }
        }
    };
    let this_attempt = |data: &Value| data["action_id"] == aid && data["attempt"] == attempt;
    match outcome {
        Ok(result) => {
            let summary = summarize(&action, &result);
            show(ApprovalState::Executed {
                approved_by: approved_by.clone(),
                result: format!("{summary} (retry {attempt} by {actor})"),
            })
            .await;
            if !audited(store, &conv, "action.executed", this_attempt).await? {
                store
                    .append_audit(&audit(
                        "action.executed",
                        json!({"action_id": aid, "attempt": attempt, "retried_by": actor, "result": result, "summary": summary}),
                    ))
                    .await
                    .map_err(store_err)?;
            }
            d.front
                .add_comment(
                    &conv,
                    &format!("{summary} (action {aid}, retry {attempt} requested by {actor})."),
                )
                .await
                .map_err(front_err)?;
            Ok(
                json!({"action_id": aid, "status": "executed", "attempt": attempt, "result": result,
                      "app": app, "conversation_id": conv}),
            )
        }
        Err(error) => {
            show(ApprovalState::Failed {
                approved_by: approved_by.clone(),
                error: format!("{error} (retry {attempt} by {actor})"),
            })
            .await;
            if !audited(store, &conv, "action.failed", this_attempt).await? {
                store
                    .append_audit(&audit(
                        "action.failed",
                        json!({"action_id": aid, "attempt": attempt, "retried_by": actor, "error": error}),
                    ))
                    .await
                    .map_err(store_err)?;
            }
            Ok(
                json!({"action_id": aid, "status": "failed", "attempt": attempt, "error": error,
                      "app": app, "conversation_id": conv}),
            )
        }
    }
}

/// Run `action` again under retry `attempt`'s idempotency key and record how it ended: its dead
/// letters resolved, or a new one, before the action leaves `executing`.
#[allow(clippy::too_many_arguments)]
async fn run_again(
    d: &InboundDeps,
    action: &ActionRow,
    app: &str,
    conv: &str,
    email: Option<&str>,
    approval: Option<&ApprovalRow>,
    attempt: u64,
    actor: &str,
    trace: &str,
) -> Result<Result<Value, String>, StepError> {
    let store = d.store.as_ref();
    let aid = action.id.as_str();
    let app_row = d
        .registry
        .by_slug(app)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable(format!("app {app} is not registered")))?;
    let tool = action.kind;
    let amount = approval.and_then(|a| a.amount_cents);
    // The purchase behind a refund is the customer's: look them up again, as `hydrate` did.
    let mut tools = PlatformTools::new(d, &app_row, trace, conv).await?;
    if let Some(email) = email {
        let facts = support_core::pipeline::agent::hydrate(&tools, email, now_ms()).await;
        tools = tools.with_facts(facts);
    }
    let call = ToolCall::new(tool, action.params.clone());
    let result = tools.execute_retry(&call, aid, attempt, amount).await;
    let now = now_ms();
    match result {
        Ok(result) => {
            // The letters first: whoever sees the action executed finds them resolved.
            for letter in store.dead_letters_of(aid).await.map_err(store_err)? {
                if letter.kind == "action" && letter.resolved_at.is_none() {
                    store
                        .resolve_dead_letter(&letter.id, now)
                        .await
                        .map_err(store_err)?;
                }
            }
            finish_action(store, aid, Ok(&result)).await?;
            Ok(Ok(result))
        }
        Err(e) => {
            let error = e.to_string();
            dead_letter_action(
                store,
                &DeadLetter {
                    id: format!("dl_{}", retry_key(aid, attempt)),
                    kind: DeadLetterKind::Action,
                    ref_id: aid.to_string(),
                    error: error.clone(),
                    payload: json!({"action_id": aid, "tool": action.kind, "params": action.params,
                                    "app": app, "conversation_id": conv, "attempt": attempt, "retried_by": actor}),
                    created_at: now,
                    resolved_at: None,
                },
            )
            .await?;
            finish_action(store, aid, Err(&error)).await?;
            Ok(Err(error))
        }
    }
}
