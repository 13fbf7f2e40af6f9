//! The approval step: each proposal becomes an action (and, when it needs one, an approval
//! request posted to Slack); a decision event is verified against the store and the action's
//! capability, and an approved action is executed, announced and audited (`apply_decision`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_core::approvals::{ApprovalState, Approver, format_money};
use support_core::audit::AuditEvent;
use support_core::capability;
use support_core::decision;
use support_core::payments::RefundQuote;
use support_core::pipeline::agent::{self};
use support_core::pipeline::router::RouteDecision;
use support_core::pipeline::tools::{ToolCall, ToolName};
use support_core::registry::AppPolicy;
use support_core::store::{
    ActionPatch, ActionRow, ActionStatus, AppRow, ApprovalRow, ApprovalStatus, DeadLetter,
    DeadLetterKind, DecisionChannel, Store,
};
use support_core::time::now_ms;
use support_steps::StepError;

use crate::draft::escalate;
use crate::inbound::{InboundDeps, Snapshot, audit, front_err, store_err};
use crate::tools::{PlatformTools, QuoteError};

/// Post the approval request of `action_id` to `channel`; `true` when posted.
/// What the gate step decided about one proposal (memoized).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Gated {
    pub(crate) action_id: String,
    /// The action waits for approval.
    pub(crate) pending: bool,
    /// Why it went to a human instead (a refund whose Stripe charge disagrees with the
    /// product's figure, is already refunded, cannot be found, …).
    #[serde(default)]
    pub(crate) escalation: Option<String>,
}

/// Record one proposal as an action and, when it needs approval, its approval. A refund's
/// amount and currency are the Stripe charge's ([`PlatformTools::quote_refund`]); the
/// two-approver limit compares the charge's minor units.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn gate_proposal(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    t: &str,
    app: &AppRow,
    policy: &AppPolicy,
    prop: &agent::ProposedAction,
    draft: Option<String>,
) -> Result<Gated, StepError> {
    let now = now_ms();
    let id = support_core::ids::new_id("act");
    let mut needs = prop.gate.needs_approval();
    let mut required = match prop.gate.outcome {
        support_core::pipeline::gate::GateOutcome::Approval { approvers } => {
            i64::from(approvers.max(1))
        }
        _ => 1,
    };
    let mut params = prop.call.params.clone();
    let mut quote: Option<RefundQuote> = None;
    let mut escalation: Option<String> = None;
    if needs && prop.call.tool == ToolName::ProcessRefund {
        let tools = PlatformTools::new(d, app, t, &s.conversation_id)
            .await?
            .with_facts(s.facts.clone());
        let purchase = prop.call.param("purchaseId").unwrap_or_default();
        match tools.quote_refund(purchase).await {
            Ok(q) => {
                if let (Some(map), Some(charge)) = (params.as_object_mut(), q.charge_id.as_ref()) {
                    map.insert("chargeId".into(), json!(charge));
                }
                let base = if prop.gate.rule == "amount.two_approvers" {
                    1
                } else {
                    required
                };
                let two = policy
                    .two_approver_above_cents
                    .is_some_and(|limit| q.amount_cents > limit);
                required = if two { 2 } else { base };
                quote = Some(q);
            }
            Err(QuoteError::Retry(e)) => return Err(StepError::retriable(e)),
            Err(QuoteError::Escalate(why)) => {
                needs = false;
                escalation = Some(why);
            }
        }
    }
    let status = if needs {
        ActionStatus::PendingApproval
    } else {
        ActionStatus::Rejected
    };
    d.store
        .insert_action(&ActionRow {
            id: id.clone(),
            conversation_id: Some(s.conversation_id.clone()),
            app: Some(s.app.clone()),
            kind: prop.call.tool,
            params: params.clone(),
            category: Some(r.category.as_str().to_string()),
            confidence: Some(f64::from(r.confidence)),
            reasoning: Some(prop.gate.reason.clone()),
            risk: prop.call.tool.risk(),
            status,
            idempotency_key: id.clone(),
            result: None,
            error: escalation.clone(),
            trace_id: Some(t.to_string()),
            created_at: now,
            updated_at: now,
        })
        .await
        .map_err(store_err)?;
    if needs {
        d.store
            .insert_approval(&ApprovalRow {
                id: support_core::ids::new_id("apr"),
                action_id: id.clone(),
                channel: DecisionChannel::Dashboard,
                slack_channel: None,
                slack_ts: None,
                status: ApprovalStatus::Pending,
                decided_by: None,
                reason: None,
                expires_at: now + policy.approval_ttl_ms(),
                created_at: now,
                decided_at: None,
                approvers_required: required,
                amount_cents: quote.as_ref().map(|q| q.amount_cents),
                currency: quote.as_ref().map(|q| q.currency.clone()),
                capability: None,
                draft,
            })
            .await
            .map_err(store_err)?;
    }
    let (outcome, rule) = match &escalation {
        Some(_) => (
            json!({"kind": "escalate"}),
            "refund.charge_check".to_string(),
        ),
        None => (json!(prop.gate.outcome), prop.gate.rule.clone()),
    };
    audit(d.store.as_ref(), t, &s.app, &s.conversation_id, "gate.decided",
          json!({"action_id": id, "tool": prop.call.tool, "params": params, "outcome": outcome, "rule": rule,
                 "reason": escalation.as_deref().unwrap_or(&prop.gate.reason), "approvers_required": needs.then_some(required),
                 "refund": quote})).await?;
    if let Some(why) = &escalation {
        audit(
            d.store.as_ref(),
            t,
            &s.app,
            &s.conversation_id,
            "refund.refused",
            json!({"action_id": id, "purchase_id": prop.call.param("purchaseId"), "reason": why}),
        )
        .await?;
    }
    Ok(Gated {
        action_id: id,
        pending: needs,
        escalation,
    })
}

pub(crate) async fn post_request(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    action_id: &str,
    channel: &str,
    app_name: &str,
    draft: Option<&str>,
) -> Result<bool, StepError> {
    let Some(approvals) = &d.approvals else {
        return Ok(false);
    };
    let action = d.store.get_action(action_id).await.map_err(store_err)?;
    let approval = d
        .store
        .approval_for_action(action_id)
        .await
        .map_err(store_err)?;
    let (Some(action), Some(approval)) = (action, approval) else {
        return Err(StepError::non_retriable(format!(
            "action {action_id} is gone"
        )));
    };
    let req = decision::request_for(&action, &approval, app_name, Some(&s.facts.email), draft);
    match approvals.post_request(channel, &req).await {
        Ok(m) => {
            d.store
                .set_approval_message(&approval.id, DecisionChannel::Slack, &m.channel, &m.ts)
                .await
                .map_err(store_err)?;
            audit(d.store.as_ref(), trace, &s.app, &s.conversation_id, "approval.posted",
                  json!({"action_id": action_id, "approval_id": approval.id, "channel": m.channel, "ts": m.ts})).await?;
            Ok(true)
        }
        Err(e) if e.is_retriable() => Err(StepError::retriable(e)),
        Err(e) => {
            audit(
                d.store.as_ref(),
                trace,
                &s.app,
                &s.conversation_id,
                "approval.post_failed",
                json!({"action_id": action_id, "channel": channel, "error": e.to_string()}),
            )
            .await?;
            Ok(false)
        }
    }
}

/// Re-render the posted approval message (best effort: a failure is logged, never fatal).
pub(crate) async fn update_message(
    d: &InboundDeps,
    s: &Snapshot,
    action: &ActionRow,
    approval: &ApprovalRow,
    draft: Option<&str>,
    state: ApprovalState,
) {
    update_message_of(
        d,
        &s.app,
        Some(&s.facts.email),
        action,
        approval,
        draft,
        state,
    )
    .await;
}

/// Update the approval's Slack message (if it has one) to `state`.
pub(crate) async fn update_message_of(
    d: &InboundDeps,
    app: &str,
    customer: Option<&str>,
    action: &ActionRow,
    approval: &ApprovalRow,
    draft: Option<&str>,
    state: ApprovalState,
) {
    let (Some(ch), Some(ts), Some(approvals)) =
        (&approval.slack_channel, &approval.slack_ts, &d.approvals)
    else {
        return;
    };
    let name = match d.registry.by_slug(app).await {
        Ok(Some(a)) => a.name,
        _ => app.to_string(),
    };
    let req = decision::request_for(action, approval, &name, customer, draft);
    let msg = support_core::approvals::MessageRef {
        channel: ch.clone(),
        ts: ts.clone(),
    };
    if let Err(e) = approvals.update_request(&msg, &req, &state).await {
        tracing::warn!(action = %action.id, state = state.as_str(), cause = %e, "cannot update the approval message");
    }
}

pub(crate) async fn audit_as(
    store: &dyn Store,
    trace: &str,
    app: &str,
    conv: &str,
    kind: &str,
    actor: &str,
    data: Value,
) -> Result<(), StepError> {
    store
        .append_audit(
            &AuditEvent::new(kind, actor, data)
                .app(app)
                .conversation(conv)
                .trace(trace),
        )
        .await
        .map(|_| ())
        .map_err(store_err)
}

/// Record a failed action's dead letter, once: the id is derived from the attempt, so a step
/// that resumes after a crash finds it already there. It is written before the action is
/// marked `failed`, so whoever sees the action failed also finds the letter a retry needs.
pub(crate) async fn dead_letter_action(
    store: &dyn Store,
    letter: &DeadLetter,
) -> Result<(), StepError> {
    match store.insert_dead_letter(letter).await {
        Ok(()) | Err(support_core::store::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(store_err(e)),
    }
}

/// Record how an `executing` action ended: `executed` with its result, or `failed` with the
/// error. Callers finish their dead-letter bookkeeping first: a crash before this point
/// resumes from `executing`, and every call before it is idempotent.
pub(crate) async fn finish_action(
    store: &dyn Store,
    aid: &str,
    outcome: Result<&Value, &String>,
) -> Result<(), StepError> {
    let (status, patch) = match outcome {
        Ok(result) => (
            ActionStatus::Executed,
            ActionPatch {
                result: Some(result.clone()),
                ..Default::default()
            },
        ),
        Err(error) => (
            ActionStatus::Failed,
            ActionPatch {
                error: Some(error.clone()),
                ..Default::default()
            },
        ),
    };
    store
        .transition_action(aid, &[ActionStatus::Executing], status, &patch, now_ms())
        .await
        .map_err(store_err)?;
    Ok(())
}

pub(crate) fn summarize(action: &ActionRow, result: &Value) -> String {
    match result.get("refund") {
        Some(r) if r.is_object() => format!(
            "Refunded {} ({})",
            format_money(
                r["amount_cents"].as_i64().unwrap_or_default(),
                r["currency"].as_str()
            ),
            r["id"].as_str().unwrap_or_default()
        ),
        _ => format!("{} done", action.kind),
    }
}

/// Apply what was decided about `aid` (`data` is the `support/approval.decided` payload, `None`
/// when the wait timed out). The store is authoritative: an event that disagrees with the
/// approval row, or whose capability does not verify, is refused (`status: refused`).
pub(crate) async fn apply_decision(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    aid: &str,
    data: Option<&Value>,
    draft: Option<&str>,
    last_attempt: bool,
) -> Result<Value, StepError> {
    let store = d.store.as_ref();
    let now = now_ms();
    let action = store
        .get_action(aid)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable(format!("action {aid} is gone")))?;
    let approval = store
        .approval_for_action(aid)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable(format!("approval of {aid} is gone")))?;
    let (app, conv) = (s.app.as_str(), s.conversation_id.as_str());
    let approval_id = approval.id.as_str();
    let refuse = |why: String, actor: String| async move {
        audit_as(store, trace, app, conv, "approval.event_refused", &actor,
                 json!({"action_id": aid, "approval_id": approval_id, "reason": why, "last_attempt": last_attempt})).await?;
        if last_attempt {
            escalate(
                d,
                s,
                trace,
                "needs-human",
                &format!("approval of {aid}: too many refused decisions"),
            )
            .await?;
        }
        Ok::<Value, StepError>(json!({"action_id": aid, "status": "refused", "reason": why}))
    };
    let decision = match data {
        Some(v) => v["decision"].as_str().unwrap_or_default().to_string(),
        // The wait timed out. A decision recorded in the store whose event was lost still
        // counts; otherwise the approval expires.
        None => match approval.status.as_str() {
            "approved" | "rejected" => approval.status.to_string(),
            _ => "expired".to_string(),
        },
    };
    let actor = data
        .and_then(|v| v["actor"].as_str())
        .map(str::to_string)
        .or_else(|| approval.decided_by.clone())
        .unwrap_or_else(|| "unknown".into());
    match decision.as_str() {
        "expired" => {
            let _ = store
                .decide_approval(&approval.id, ApprovalStatus::Expired, "system", None, now)
                .await
                .map_err(store_err)?;
            store
                .transition_action(
                    aid,
                    &[ActionStatus::PendingApproval],
                    ActionStatus::Expired,
                    &ActionPatch::default(),
                    now,
                )
                .await
                .map_err(store_err)?;
            d.front
                .add_comment(conv, &format!("Approval for action {aid} ({}) expired; nothing was executed. Escalated to the team.", action.kind))
                .await
                .map_err(front_err)?;
            audit_as(
                store,
                trace,
                app,
                conv,
                "approval.expired",
                "system",
                json!({"action_id": aid, "approval_id": approval.id}),
            )
            .await?;
            escalate(
                d,
                s,
                trace,
                "needs-human",
                &format!("approval of {} expired", action.kind),
            )
            .await?;
            update_message(d, s, &action, &approval, draft, ApprovalState::Expired).await;
            Ok(json!({"action_id": aid, "decision": "expired", "status": "expired"}))
        }
        "rejected" => {
            if approval.status != "rejected" {
                return refuse(
                    format!(
                        "the event says rejected, the approval is {}",
                        approval.status
                    ),
                    actor,
                )
                .await;
            }
            store
                .transition_action(
                    aid,
                    &[ActionStatus::PendingApproval],
                    ActionStatus::Rejected,
                    &ActionPatch::default(),
                    now,
                )
                .await
                .map_err(store_err)?;
            let by = approval.decided_by.clone().unwrap_or(actor);
            let reason = approval.reason.clone();
            d.front
                .add_comment(
                    conv,
                    &format!(
                        "Action {aid} ({}) was rejected by {by}{}. Nothing was executed.",
                        action.kind,
                        reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                )
                .await
                .map_err(front_err)?;
            audit_as(store, trace, app, conv, "action.rejected", &by,
                     json!({"action_id": aid, "approval_id": approval.id, "approver": by, "reason": reason})).await?;
            let state = ApprovalState::Rejected {
                by: Approver::new(by.strip_prefix("slack:").unwrap_or(&by)),
                reason,
            };
            update_message(d, s, &action, &approval, draft, state).await;
            Ok(json!({"action_id": aid, "decision": "rejected", "status": "rejected"}))
        }
        "approved" => {
            // The capability first: a token minted for another action, tool or arguments is
            // refused whatever the store says.
            let token = data
                .and_then(|v| v["capability"].as_str())
                .map(str::to_string)
                .or_else(|| approval.capability.clone());
            let Some(token) = token else {
                return refuse("no capability".into(), actor).await;
            };
            let claims = match capability::verify(
                &d.master_key,
                &token,
                aid,
                action.kind.as_str(),
                &action.params,
                now,
            ) {
                Ok(c) => c,
                Err(e) => {
                    audit_as(
                        store,
                        trace,
                        app,
                        conv,
                        "capability.refused",
                        &actor,
                        json!({"action_id": aid, "error": e.to_string()}),
                    )
                    .await?;
                    return refuse(format!("capability refused: {e}"), actor).await;
                }
            };
            if approval.status != "approved" {
                return refuse(
                    format!(
                        "the event says approved, the approval is {}",
                        approval.status
                    ),
                    actor,
                )
                .await;
            }
            if approval.capability.as_deref() != Some(token.as_str()) {
                audit_as(
                    store,
                    trace,
                    app,
                    conv,
                    "capability.refused",
                    &actor,
                    json!({"action_id": aid, "error": "not the capability of this approval"}),
                )
                .await?;
                return refuse(
                    "capability is not the one minted for this approval".into(),
                    actor,
                )
                .await;
            }
            let approvers = claims.approvers.clone();
            let approver_list = decision::approvers_of(&approvers);
            if !store
                .consume_capability(&claims.nonce, aid, now)
                .await
                .map_err(store_err)?
            {
                match action.status.as_str() {
                    // Our own earlier attempt consumed it and died mid-way: resume.
                    "executing" | "approved" => {}
                    // It ran, and the step failed or died before its follow-ups were done
                    // (Front down for the comment, say): finish them, never run it again.
                    "executed" | "failed" => {
                        let outcome = match action.status.as_str() {
                            "executed" => Ok(action.result.clone().unwrap_or(Value::Null)),
                            _ => Err(action.error.clone().unwrap_or_default()),
                        };
                        return announce_execution(
                            d, s, trace, &action, &approval, draft, data, &approvers, outcome,
                        )
                        .await;
                    }
                    _ => {
                        audit_as(
                            store,
                            trace,
                            app,
                            conv,
                            "capability.refused",
                            &actor,
                            json!({"action_id": aid, "error": "capability already used"}),
                        )
                        .await?;
                        return refuse("capability already used".into(), actor).await;
                    }
                }
            }
            store
                .transition_action(
                    aid,
                    &[ActionStatus::PendingApproval],
                    ActionStatus::Approved,
                    &ActionPatch::default(),
                    now,
                )
                .await
                .map_err(store_err)?;
            audit_as(store, trace, app, conv, "action.approved", &approvers.join(","),
                     json!({"action_id": aid, "approval_id": approval.id, "approvers": approvers, "amount_cents": claims.amount_cents})).await?;
            update_message(
                d,
                s,
                &action,
                &approval,
                draft,
                ApprovalState::Approved {
                    approved_by: approver_list.clone(),
                },
            )
            .await;
            store
                .transition_action(
                    aid,
                    &[ActionStatus::Approved],
                    ActionStatus::Executing,
                    &ActionPatch::default(),
                    now_ms(),
                )
                .await
                .map_err(store_err)?;
            audit_as(
                store,
                trace,
                app,
                conv,
                "action.executing",
                &approvers.join(","),
                json!({"action_id": aid, "approvers": approvers}),
            )
            .await?;
            update_message(
                d,
                s,
                &action,
                &approval,
                draft,
                ApprovalState::Executing {
                    approved_by: approver_list.clone(),
                },
            )
            .await;

            let app_row = d
                .registry
                .by_slug(app)
                .await
                .map_err(store_err)?
                .ok_or_else(|| StepError::non_retriable("app removed"))?;
            let tools = PlatformTools::new(d, &app_row, trace, conv)
                .await?
                .with_facts(s.facts.clone());
            let call = ToolCall::new(action.kind, action.params.clone());
            let outcome = match tools
                .execute_approved(&call, aid, claims.amount_cents)
                .await
            {
                Ok(result) => {
                    finish_action(store, aid, Ok(&result)).await?;
                    Ok(result)
                }
                Err(e) => {
                    let error = e.to_string();
                    dead_letter_action(
                        store,
                        &DeadLetter {
                            id: format!("dl_{aid}"),
                            kind: DeadLetterKind::Action,
                            ref_id: aid.to_string(),
                            error: error.clone(),
                            payload: json!({"action_id": aid, "approval_id": approval.id, "tool": action.kind, "params": action.params,
                                            "app": app, "conversation_id": conv, "approvers": approvers, "amount_cents": claims.amount_cents}),
                            created_at: now_ms(),
                            resolved_at: None,
                        },
                    )
                    .await?;
                    finish_action(store, aid, Err(&error)).await?;
                    Err(error)
                }
            };
            announce_execution(
                d, s, trace, &action, &approval, draft, data, &approvers, outcome,
            )
            .await
        }
        other => refuse(format!("unknown decision {other:?}"), actor).await,
    }
}

/// The follow-ups of an approved action that ran (`outcome` is its result or its error): the
/// `action.executed`/`action.failed` audit entry, the Front comments and the Slack message.
/// Re-entrant, because a step retried after a Front failure (or a crash) comes back here instead
/// of running the action again: the audit entry is written once; Front may see a comment twice
/// only if its answer to the first was lost.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn announce_execution(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    action: &ActionRow,
    approval: &ApprovalRow,
    draft: Option<&str>,
    data: Option<&Value>,
    approvers: &[String],
    outcome: Result<Value, String>,
) -> Result<Value, StepError> {
    let store = d.store.as_ref();
    let (app, conv, aid) = (
        s.app.as_str(),
        s.conversation_id.as_str(),
        action.id.as_str(),
    );
    let approver_list = decision::approvers_of(approvers);
    let by = approvers.join(",");
    match outcome {
        Ok(result) => {
            let summary = summarize(action, &result);
            if !audited(store, conv, "action.executed", |d| d["action_id"] == aid).await? {
                audit_as(store, trace, app, conv, "action.executed", &by,
                         json!({"action_id": aid, "approvers": approvers, "result": result, "summary": summary})).await?;
            }
            if let Some(text) = data.and_then(|v| v["edited_params"]["draft"].as_str()) {
                d.front
                    .add_comment(conv, &format!("Reply edited by the approver:\n\n{text}"))
                    .await
                    .map_err(front_err)?;
            }
            d.front
                .add_comment(
                    conv,
                    &format!(
                        "{summary} (action {aid}, approved by {}).",
                        approvers.join(", ")
                    ),
                )
                .await
                .map_err(front_err)?;
            let state = ApprovalState::Executed {
                approved_by: approver_list,
                result: summary,
            };
            update_message(d, s, action, approval, draft, state).await;
            Ok(
                json!({"action_id": aid, "decision": "approved", "status": "executed", "result": result}),
            )
        }
        Err(error) => {
            if !audited(store, conv, "action.failed", |d| d["action_id"] == aid).await? {
                audit_as(
                    store,
                    trace,
                    app,
                    conv,
                    "action.failed",
                    &by,
                    json!({"action_id": aid, "approvers": approvers, "error": error}),
                )
                .await?;
            }
            d.front
                .add_comment(conv, &format!("Action {aid} ({}) failed after approval: {error}. It is in the dead letters for a retry.", action.kind))
                .await
                .map_err(front_err)?;
            let state = ApprovalState::Failed {
                approved_by: approver_list,
                error: error.clone(),
            };
            update_message(d, s, action, approval, draft, state).await;
            Ok(
                json!({"action_id": aid, "decision": "approved", "status": "failed", "error": error}),
            )
        }
    }
}

/// Whether the conversation's audit trail already has a `kind` entry whose data `matches`: how
/// re-entrant steps write an entry once.
pub(crate) async fn audited(
    store: &dyn Store,
    conv: &str,
    kind: &str,
    matches: impl Fn(&Value) -> bool,
) -> Result<bool, StepError> {
    let rows = store
        .list_audit(&support_core::store::AuditFilter {
            conversation_id: Some(conv.to_string()),
            kind: Some(kind.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .map_err(store_err)?;
    Ok(rows.iter().any(|r| matches(&r.data)))
}
