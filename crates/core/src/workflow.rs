//! The inbound workflow on the durable runner: a Front message becomes a draft.
//!
//! `hydrate` → `route` → `agent` (tools through [`PlatformTools`]) → `validate` → `gate`
//! (pending approvals wait for `support/approval.decided`) → `draft`. Every step is memoized by
//! the runner, so a crash resumes after the last committed step; every write is idempotent
//! (Front drafts by run, actions by their idempotency key), and every decision is audited with
//! the run id as trace id.

use crate::approvals::{ApprovalChannel, ApprovalState, Approver, format_money};
use crate::audit::AuditEvent;
use crate::capability;
use crate::crypto::MasterKey;
use crate::decision;
use crate::events;
use crate::front::{FrontApi, FrontError, Message, NewDraft};
use crate::payments::{
    ChargeLocation, Payments, PaymentsError, RefundQuote, RefundReason, RefundRequest,
    RefundTarget, cross_check, format_amount,
};
use crate::pipeline::agent::{self, AgentInput, AgentOutcome};
use crate::pipeline::inbound::{CustomerFacts, Direction, Inbound, ThreadMessage};
use crate::pipeline::kb::Bm25Index;
use crate::pipeline::profile::AppProfile;
use crate::pipeline::replay::{RouteInputs, RouteRecord};
use crate::pipeline::router::{self, RouteAction, RouteDecision, RouteInput};
use crate::pipeline::text;
use crate::pipeline::tools::{ToolCall, ToolError, ToolExecutor, ToolName};
use crate::pipeline::validate::{self, ScorerResult};
use crate::registry::{AppPolicy, Registry};
use crate::store::{
    ActionPatch, ActionRow, AppRow, ApprovalRow, ConversationRow, DeadLetter, IdempotencyState,
    MessageRow, Store,
};
use crate::time::now_ms;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_sdk::SupportIntegration;
use support_steps::{Ctx, Event, Function, StepError};

mod models;
mod retry;

pub use models::{ModelStep, choice_for};
pub use retry::{
    ACTION_RETRY_FN, RetryRequestError, RetryRequested, action_retry_function, request_retry,
    retry_key,
};

/// How many decision events a pending action considers before it gives up (forged or replayed
/// events are refused and the run waits again).
pub const MAX_DECISION_ATTEMPTS: usize = 5;

/// The id of the inbound function.
pub const INBOUND_FN: &str = "support-inbound";
/// How many recent messages `hydrate` re-fetches.
pub const THREAD_DEPTH: usize = 10;

/// Gives the SDK client of an app (its endpoint, signed with its newest secret).
pub trait ProductDirectory: Send + Sync + 'static {
    fn client(&self, app: &AppRow) -> Result<Arc<dyn SupportIntegration>, String>;
}

/// What the inbound workflow needs.
#[derive(Clone)]
pub struct InboundDeps {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub front: Arc<dyn FrontApi>,
    pub products: Arc<dyn ProductDirectory>,
    /// Signs and verifies action capabilities.
    pub master_key: MasterKey,
    /// Stripe Connect refunds, when `stripe.secret_key` is set.
    pub payments: Option<Arc<dyn Payments>>,
    /// Where approval requests are posted (Slack), when `slack.bot_token` is set.
    pub approvals: Option<Arc<dyn ApprovalChannel>>,
    /// Builds the model of a step's (provider, model) choice (`models`), when any provider is
    /// configured.
    pub models: Option<Arc<dyn crate::llm::ModelDirectory>>,
    /// The global model choices (`settings.llm.classifier` / `agent`); an app's `policy.llm`
    /// overrides them per step. Neither set: the offline classifier and agent.
    pub llm_defaults: crate::registry::AppLlm,
}

/// The inbound function: one run per Front event, one at a time per conversation.
pub fn inbound_function(deps: InboundDeps) -> Function {
    Function::new(INBOUND_FN)
        .name("Inbound message")
        .on_event(events::INBOUND_RECEIVED)
        .concurrency(1, Some("event.data.conversation_id"))
        .idempotency("event.data.event_id")
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move { inbound(ctx, ev, deps).await }
        })
}

/// What `hydrate` records: the conversation as it was, so later steps (and replays) use the
/// same inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub app: String,
    pub conversation_id: String,
    pub message_id: String,
    pub channel_id: Option<String>,
    pub inbound: Inbound,
    pub facts: CustomerFacts,
}

fn front_err(e: FrontError) -> StepError {
    match e {
        FrontError::RateLimited { retry_after_secs } => StepError::retry_after(
            "Front rate limit",
            Duration::from_secs(retry_after_secs.max(1)),
        ),
        e if e.is_retriable() => StepError::retriable(e),
        e => StepError::non_retriable(e),
    }
}

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retriable(format!("store: {e}"))
}

async fn audit(
    store: &dyn Store,
    trace: &str,
    app: &str,
    conv: &str,
    kind: &str,
    data: Value,
) -> Result<(), StepError> {
    store
        .append_audit(
            &AuditEvent::new(kind, "agent", data)
                .app(app)
                .conversation(conv)
                .trace(trace),
        )
        .await
        .map(|_| ())
        .map_err(store_err)
}

fn message_text(m: &Message) -> String {
    match (&m.text, &m.body) {
        (Some(t), _) if !t.trim().is_empty() => t.clone(),
        (_, Some(html)) => text::strip_html(html),
        _ => m.blurb.clone().unwrap_or_default(),
    }
}

fn platform_status(front_status: Option<&str>) -> &'static str {
    match front_status {
        Some("archived") => "solved",
        Some("deleted") => "closed",
        Some("snoozed") => "on_hold",
        Some("assigned" | "unassigned" | "open") => "open",
        _ => "new",
    }
}

/// Marks drafts written by the platform, so a later diff can find them.
pub fn draft_marker(run_id: &str) -> String {
    format!("<!-- support-draft:{run_id} -->")
}

async fn hydrate(ctx: &Ctx, ev: &Event, deps: &InboundDeps) -> Result<Snapshot, StepError> {
    let conv_id = ev.data["conversation_id"]
        .as_str()
        .ok_or_else(|| StepError::non_retriable("event has no conversation_id"))?
        .to_string();
    let trace = ctx.run_id().to_string();
    // Payloads can be previews: always re-fetch the conversation and its messages.
    let conv = deps
        .front
        .get_conversation(&conv_id)
        .await
        .map_err(front_err)?;
    let messages = deps
        .front
        .list_messages(&conv_id, THREAD_DEPTH)
        .await
        .map_err(front_err)?;
    let app_slug = ev.data["app_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| StepError::non_retriable("event has no app_id"))?;
    let app = deps
        .registry
        .by_slug(&app_slug)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable(format!("app {app_slug} is not registered")))?;
    let real: Vec<&Message> = messages.iter().filter(|m| !m.is_draft).collect();
    let wanted = ev.data["message_id"].as_str();
    let newest = real
        .iter()
        .find(|m| Some(m.id.as_str()) == wanted)
        .or_else(|| real.iter().find(|m| m.is_inbound))
        .copied()
        .ok_or_else(|| StepError::non_retriable("no inbound message in the conversation"))?;
    let teammate_replying = messages.iter().any(|m| {
        m.is_draft
            && !m
                .body
                .as_deref()
                .unwrap_or_default()
                .contains("<!-- support-draft:")
    });
    let thread: Vec<ThreadMessage> = real
        .iter()
        .filter(|m| m.id != newest.id)
        .rev()
        .map(|m| ThreadMessage {
            direction: if m.is_inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            body: message_text(m),
            author: m.recipient("from").map(str::to_string),
        })
        .collect();
    let inbound = Inbound {
        app: app.slug.clone(),
        from: newest.recipient("from").unwrap_or_default().to_string(),
        reply_to: newest.recipient("reply-to").map(str::to_string),
        subject: conv
            .subject
            .clone()
            .or_else(|| newest.subject.clone())
            .unwrap_or_default(),
        body: message_text(newest),
        thread,
        conversation_status: Some(platform_status(conv.status.as_deref()).to_string()),
        teammate_replying,
    };
    let email = inbound.customer_email();
    let now = now_ms();
    let tools = PlatformTools::new(deps, &app, &trace, &conv_id).await?;
    let facts = if text::emails(&email).is_empty() {
        CustomerFacts {
            email: email.clone(),
            ..CustomerFacts::default()
        }
    } else {
        agent::hydrate(&tools, &email, now).await
    };

    // Keep the platform's copy of the conversation.
    let status = platform_status(conv.status.as_deref()).to_string();
    let existing = deps
        .store
        .get_conversation(&conv_id)
        .await
        .map_err(store_err)?;
    let row = ConversationRow {
        id: existing
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| crate::ids::new_id("conv")),
        front_id: conv_id.clone(),
        app: Some(app.slug.clone()),
        customer_email: Some(email.clone()),
        subject: Some(inbound.subject.clone()),
        status,
        escalation: existing.as_ref().and_then(|c| c.escalation.clone()),
        escalation_reason: existing.as_ref().and_then(|c| c.escalation_reason.clone()),
        assignee: conv.assignee.as_ref().map(|a| a.id.clone()),
        sla_due_at: existing.as_ref().and_then(|c| c.sla_due_at),
        created_at: existing.as_ref().map(|c| c.created_at).unwrap_or(now),
        updated_at: now,
    };
    deps.store
        .upsert_conversation(&row)
        .await
        .map_err(store_err)?;
    for m in &real {
        deps.store
            .upsert_message(&MessageRow {
                id: crate::ids::new_id("msg"),
                front_id: m.id.clone(),
                conversation_id: conv_id.clone(),
                direction: if m.is_inbound {
                    "inbound".into()
                } else {
                    "outbound".into()
                },
                author: m.recipient("from").map(str::to_string),
                body: Some(message_text(m)),
                raw_body: m.body.clone(),
                sent_at: m.created_at.map(|s| (s * 1000.0) as i64).unwrap_or(now),
                purged_at: None,
            })
            .await
            .map_err(store_err)?;
    }
    let snapshot = Snapshot {
        app: app.slug.clone(),
        conversation_id: conv_id.clone(),
        message_id: newest.id.clone(),
        channel_id: newest
            .extra
            .get("channel_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        inbound,
        facts,
    };
    audit(
        deps.store.as_ref(),
        &trace,
        &app.slug,
        &conv_id,
        "hydrate.completed",
        json!({"message_id": snapshot.message_id, "thread": snapshot.inbound.thread.len(),
               "customer": email, "known_customer": snapshot.facts.user.is_some(),
               "purchases": snapshot.facts.purchases.len(), "via_form": snapshot.inbound.via_form()}),
    )
    .await?;
    Ok(snapshot)
}

/// The result of the `agent` step: the outcome plus validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drafted {
    pub outcome: AgentOutcome,
    pub scorers: Vec<ScorerResult>,
    /// `true` when validation failed twice and the conversation is escalated instead.
    pub withheld: bool,
}

async fn inbound(ctx: Ctx, ev: Event, deps: InboundDeps) -> Result<Value, StepError> {
    let trace = ctx.run_id().to_string();
    let snap: Snapshot = {
        let (c, e, d) = (ctx.clone(), ev.clone(), deps.clone());
        ctx.run("hydrate", move || async move { hydrate(&c, &e, &d).await })
            .await?
    };
    let app = deps
        .registry
        .by_slug(&snap.app)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable("app removed"))?;
    let policy: AppPolicy = serde_json::from_value(app.policy.clone()).unwrap_or_default();
    let profile = AppProfile::for_app(&snap.app);

    // The route step records the inputs it decided on (clock, policy, canned responses) next to
    // the decision, so `skill replay` can re-run it exactly (`pipeline::replay`).
    let RouteRecord {
        decision: route,
        inputs: route_inputs,
    } = {
        let (d, s, p, pr, t) = (
            deps.clone(),
            snap.clone(),
            policy.clone(),
            profile.clone(),
            trace.clone(),
        );
        ctx.run("route", move || async move {
            let canned = d.store.list_canned(Some(&s.app)).await.map_err(store_err)?;
            let rin = RouteInput { inbound: &s.inbound, facts: Some(&s.facts), policy: &p, profile: &pr, canned: &canned };
            let (decision, classified) = models::route(&d, &s, &t, rin, router::route(rin)).await?;
            let inputs = RouteInputs::new(now_ms(), p.clone(), canned).with_classifier(classified);
            audit(
                d.store.as_ref(),
                &t,
                &s.app,
                &s.conversation_id,
                "route.decided",
                json!({"action": decision.action, "category": decision.category, "confidence": decision.confidence,
                       "rule": decision.rule, "reasons": decision.reasons, "flags": decision.flags.names(),
                       "canned_hash": inputs.canned_hash}),
            )
            .await?;
            Ok(RouteRecord { decision, inputs: Some(inputs) })
        })
        .await?
    };
    // The agent decides on the route's clock (runs from before it was recorded: now).
    let decided_at = route_inputs.as_ref().map_or_else(now_ms, |i| i.now);
    if route.action == RouteAction::Silence {
        return Ok(json!({"action": "silence", "rule": route.rule}));
    }

    let drafted: Drafted = {
        let (d, s, p, pr, r, t, a) = (
            deps.clone(),
            snap.clone(),
            policy.clone(),
            profile.clone(),
            route.clone(),
            trace.clone(),
            app.clone(),
        );
        ctx.run("agent", move || async move {
            let tools = PlatformTools::new(&d, &a, &t, &s.conversation_id)
                .await?
                .with_facts(s.facts.clone());
            let input = AgentInput {
                inbound: &s.inbound,
                route: &r,
                policy: &p,
                profile: &pr,
                facts: Some(&s.facts),
                now: decided_at,
            };
            if let Some(drafted) = models::agent(&d, &s, &t, input, &tools, &pr).await? {
                return Ok(drafted);
            }
            let mut outcome = agent::run(input, &tools).await;
            let vctx = crate::pipeline::eval::validation_context(&r, &outcome, &pr);
            let mut scorers = outcome
                .draft
                .as_deref()
                .map(|dr| validate::validate(dr, &vctx))
                .unwrap_or_default();
            let mut withheld = false;
            if scorers.iter().any(|sc| !sc.passed) {
                audit(
                    d.store.as_ref(),
                    &t,
                    &s.app,
                    &s.conversation_id,
                    "validate.failed",
                    json!({"attempt": 1, "findings": failing(&scorers)}),
                )
                .await?;
                // Rebuild once; a second failure withholds the draft and escalates.
                outcome = agent::run(input, &tools).await;
                scorers = outcome
                    .draft
                    .as_deref()
                    .map(|dr| validate::validate(dr, &vctx))
                    .unwrap_or_default();
                withheld = scorers.iter().any(|sc| !sc.passed);
            }
            audit(
                d.store.as_ref(),
                &t,
                &s.app,
                &s.conversation_id,
                "validate.completed",
                json!({"passed": !withheld, "scorers": scorers}),
            )
            .await?;
            Ok(Drafted {
                outcome,
                scorers,
                withheld,
            })
        })
        .await?
    };

    // Gate: approval-required proposals become pending actions and wait for a human. A refund
    // is quoted from its Stripe charge first: the approval carries the charge's amount and
    // currency, and a charge that disagrees with the product's figure goes to a human instead.
    let mut pending = Vec::new();
    let mut escalations = Vec::new();
    for (i, proposal) in drafted.outcome.proposals.iter().enumerate() {
        let (d, s, r, t, prop, a, p) = (
            deps.clone(),
            snap.clone(),
            route.clone(),
            trace.clone(),
            proposal.clone(),
            app.clone(),
            policy.clone(),
        );
        let draft = drafted.outcome.draft.clone();
        let gated: Gated = ctx
            .run(&format!("gate-{i}"), move || async move {
                gate_proposal(&d, &s, &r, &t, &a, &p, &prop, draft).await
            })
            .await?;
        if gated.pending {
            pending.push(gated.action_id);
        }
        escalations.extend(gated.escalation);
    }
    // A refund refused at the gate: the promised reply is withheld and a human takes over.
    let drafted = if escalations.is_empty() {
        drafted
    } else {
        let mut dr = drafted.clone();
        dr.outcome.action = RouteAction::EscalateHuman;
        dr.outcome.draft = None;
        dr.outcome
            .notes
            .push(format!("handed over: {}", escalations.join("; ")));
        dr
    };
    // Post each request to the approval channel (Slack) when one is configured. A failure to
    // post is audited; the dashboard and the CLI still see the approval.
    let mut channels = Vec::new();
    for id in &pending {
        let posted: bool = match (&deps.approvals, &policy.approval_channel) {
            (Some(_), Some(channel)) => {
                let (d, s, t, aid, ch, name, draft) = (
                    deps.clone(),
                    snap.clone(),
                    trace.clone(),
                    id.clone(),
                    channel.clone(),
                    app.name.clone(),
                    drafted.outcome.draft.clone(),
                );
                ctx.run(&format!("notify-{id}"), move || async move {
                    post_request(&d, &s, &t, &aid, &ch, &name, draft.as_deref()).await
                })
                .await?
            }
            _ => false,
        };
        channels.push(if posted { "slack" } else { "dashboard" });
    }
    if !pending.is_empty() {
        let ids = pending.clone();
        let (d, s) = (deps.clone(), snap.clone());
        ctx.send_event(
            "approval-requested",
            ids.iter()
                .zip(channels.iter())
                .map(|(id, channel)| {
                    Event::new(events::APPROVAL_REQUESTED, json!({"action_id": id, "app_id": s.app, "conversation_id": s.conversation_id, "channel": channel}))
                        .with_id(format!("approval-requested:{id}"))
                })
                .collect(),
        )
        .await?;
        drop(d);
    }

    // Draft: written once per run (the step is memoized; a retry after a crash before the step
    // committed finds the draft by its marker and does not write a second one).
    let draft_id: Option<String> = {
        let (d, s, r, dr, t) = (
            deps.clone(),
            snap.clone(),
            route.clone(),
            drafted.clone(),
            trace.clone(),
        );
        let run_id = ctx.run_id().to_string();
        ctx.run("draft", move || async move {
            write_draft(&d, &s, &r, &dr, &t, &run_id).await
        })
        .await?
    };

    // Wait for each pending approval and apply the decision. A decision event that does not
    // hold up (forged, replayed, a capability for another action) is refused and audited, and
    // the run waits again for the rest of the approval's lifetime.
    let mut decisions = Vec::new();
    for id in &pending {
        let ttl_ms = policy.approval_ttl_ms();
        let expires_at = deps
            .store
            .approval_for_action(id)
            .await
            .map_err(store_err)?
            .map(|a| a.expires_at);
        let expr = format!("async.data.action_id == \"{id}\"");
        let mut outcome = Value::Null;
        for attempt in 0..MAX_DECISION_ATTEMPTS {
            let suffix = if attempt == 0 {
                String::new()
            } else {
                format!("-{attempt}")
            };
            let remaining = match (attempt, expires_at) {
                (0, _) | (_, None) => ttl_ms,
                (_, Some(at)) => at - now_ms(),
            };
            let decided = if remaining > 0 {
                ctx.wait_for_event(
                    &format!("approval-{id}{suffix}"),
                    events::APPROVAL_DECIDED,
                    Duration::from_millis(u64::try_from(remaining).unwrap_or(3_600_000)),
                    Some(&expr),
                )
                .await?
            } else {
                None
            };
            let (d, s, t, aid, draft) = (
                deps.clone(),
                snap.clone(),
                trace.clone(),
                id.clone(),
                drafted.outcome.draft.clone(),
            );
            let last = attempt + 1 == MAX_DECISION_ATTEMPTS;
            outcome = ctx
                .run(&format!("decided-{id}{suffix}"), move || async move {
                    let data = decided.as_ref().map(|e| e.data.clone());
                    apply_decision(&d, &s, &t, &aid, data.as_ref(), draft.as_deref(), last).await
                })
                .await?;
            if outcome["status"] != "refused" {
                break;
            }
        }
        if let Some(event) = action_event(&snap, id, &outcome) {
            ctx.send_event(&format!("action-event-{id}"), vec![event])
                .await?;
        }
        decisions.push(outcome);
    }

    Ok(json!({
        "action": drafted.outcome.action,
        "category": route.category,
        "rule": route.rule,
        "draft_id": draft_id,
        "pending_actions": pending,
        "decisions": decisions,
        "withheld": drafted.withheld,
    }))
}

/// `support/action.executed` or `support/action.failed` for a decided action that ran (or
/// tried to); `None` for rejections, expiries and refusals.
fn action_event(s: &Snapshot, action_id: &str, outcome: &Value) -> Option<Event> {
    let (name, key, value) = match outcome["status"].as_str()? {
        "executed" => (events::ACTION_EXECUTED, "result", outcome["result"].clone()),
        "failed" => (events::ACTION_FAILED, "error", outcome["error"].clone()),
        _ => return None,
    };
    let mut data =
        json!({"action_id": action_id, "app_id": s.app, "conversation_id": s.conversation_id});
    data[key] = value;
    Some(Event::new(name, data).with_id(format!("{name}:{action_id}")))
}

/// Post the approval request of `action_id` to `channel`; `true` when posted.
/// What the gate step decided about one proposal (memoized).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Gated {
    action_id: String,
    /// The action waits for approval.
    pending: bool,
    /// Why it went to a human instead (a refund whose Stripe charge disagrees with the
    /// product's figure, is already refunded, cannot be found, …).
    #[serde(default)]
    escalation: Option<String>,
}

/// Record one proposal as an action and, when it needs approval, its approval. A refund's
/// amount and currency are the Stripe charge's ([`PlatformTools::quote_refund`]); the
/// two-approver limit compares the charge's minor units.
#[allow(clippy::too_many_arguments)]
async fn gate_proposal(
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
    let id = crate::ids::new_id("act");
    let mut needs = prop.gate.needs_approval();
    let mut required = match prop.gate.outcome {
        crate::pipeline::gate::GateOutcome::Approval { approvers } => i64::from(approvers.max(1)),
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
        "pending_approval"
    } else {
        "rejected"
    };
    d.store
        .insert_action(&ActionRow {
            id: id.clone(),
            conversation_id: Some(s.conversation_id.clone()),
            app: Some(s.app.clone()),
            kind: prop.call.tool.as_str().to_string(),
            params: params.clone(),
            category: Some(r.category.as_str().to_string()),
            confidence: Some(f64::from(r.confidence)),
            reasoning: Some(prop.gate.reason.clone()),
            risk: prop.call.tool.risk().as_str().to_string(),
            status: status.into(),
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
                id: crate::ids::new_id("apr"),
                action_id: id.clone(),
                channel: "dashboard".into(),
                slack_channel: None,
                slack_ts: None,
                status: "pending".into(),
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

async fn post_request(
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
                .set_approval_message(&approval.id, "slack", &m.channel, &m.ts)
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
async fn update_message(
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
async fn update_message_of(
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
    let msg = crate::approvals::MessageRef {
        channel: ch.clone(),
        ts: ts.clone(),
    };
    if let Err(e) = approvals.update_request(&msg, &req, &state).await {
        tracing::warn!(action = %action.id, state = state.as_str(), cause = %e, "cannot update the approval message");
    }
}

async fn audit_as(
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
async fn dead_letter_action(store: &dyn Store, letter: &DeadLetter) -> Result<(), StepError> {
    match store.insert_dead_letter(letter).await {
        Ok(()) | Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(store_err(e)),
    }
}

/// Record how an `executing` action ended: `executed` with its result, or `failed` with the
/// error. Callers finish their dead-letter bookkeeping first: a crash before this point
/// resumes from `executing`, and every call before it is idempotent.
async fn finish_action(
    store: &dyn Store,
    aid: &str,
    outcome: Result<&Value, &String>,
) -> Result<(), StepError> {
    let (status, patch) = match outcome {
        Ok(result) => (
            "executed",
            ActionPatch {
                result: Some(result.clone()),
                ..Default::default()
            },
        ),
        Err(error) => (
            "failed",
            ActionPatch {
                error: Some(error.clone()),
                ..Default::default()
            },
        ),
    };
    store
        .transition_action(aid, &["executing"], status, &patch, now_ms())
        .await
        .map_err(store_err)?;
    Ok(())
}

fn summarize(action: &ActionRow, result: &Value) -> String {
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
async fn apply_decision(
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
            "approved" | "rejected" => approval.status.clone(),
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
                .decide_approval(&approval.id, "expired", "system", None, now)
                .await
                .map_err(store_err)?;
            store
                .transition_action(
                    aid,
                    &["pending_approval"],
                    "expired",
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
                    &["pending_approval"],
                    "rejected",
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
                &action.kind,
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
                    &["pending_approval"],
                    "approved",
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
                    &["approved"],
                    "executing",
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
            let tool = ToolName::parse(&action.kind)
                .ok_or_else(|| StepError::non_retriable(format!("unknown tool {}", action.kind)))?;
            let call = ToolCall::new(tool, action.params.clone());
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
                            kind: "action".into(),
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
async fn announce_execution(
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
async fn audited(
    store: &dyn Store,
    conv: &str,
    kind: &str,
    matches: impl Fn(&Value) -> bool,
) -> Result<bool, StepError> {
    let rows = store
        .list_audit(&crate::store::AuditFilter {
            conversation_id: Some(conv.to_string()),
            kind: Some(kind.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .map_err(store_err)?;
    Ok(rows.iter().any(|r| matches(&r.data)))
}

/// Tag the conversation in Front, record the escalation and audit it.
async fn escalate(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    tag: &str,
    reason: &str,
) -> Result<(), StepError> {
    d.front
        .add_tags(&s.conversation_id, &[tag.to_string()])
        .await
        .map_err(front_err)?;
    if let Some(mut c) = d
        .store
        .get_conversation(&s.conversation_id)
        .await
        .map_err(store_err)?
    {
        c.escalation = Some(tag.to_string());
        c.escalation_reason = Some(reason.to_string());
        c.updated_at = now_ms();
        d.store.upsert_conversation(&c).await.map_err(store_err)?;
    }
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "conversation.escalated",
        json!({"tag": tag, "reason": reason}),
    )
    .await
}

fn failing(scorers: &[ScorerResult]) -> Vec<&ScorerResult> {
    scorers.iter().filter(|s| !s.passed).collect()
}

async fn write_draft(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    dr: &Drafted,
    trace: &str,
    run_id: &str,
) -> Result<Option<String>, StepError> {
    let marker = draft_marker(run_id);
    let escalated = dr.outcome.action.is_escalation() || dr.withheld;
    if escalated {
        let tag = match dr.outcome.action {
            RouteAction::EscalateUrgent => "urgent",
            RouteAction::EscalateInstructor => "instructor",
            _ => "needs-human",
        };
        // The agent's own hand-over reason (the gate refused, the model agent stopped) says
        // more than the route's when the agent changed the action.
        let handed_over = (dr.outcome.action != r.action)
            .then(|| {
                dr.outcome
                    .notes
                    .iter()
                    .rev()
                    .find_map(|n| n.strip_prefix("handed over: "))
            })
            .flatten();
        let reason = if dr.withheld {
            "the draft failed validation twice".to_string()
        } else if let Some(why) = handed_over {
            why.to_string()
        } else {
            r.reasons.first().cloned().unwrap_or_default()
        };
        escalate(d, s, trace, tag, &reason).await?;
    }
    let body = match (&dr.outcome.draft, dr.withheld) {
        (Some(text), false) => text.clone(),
        _ => return Ok(None),
    };
    // Idempotent: a draft with this run's marker is not written twice.
    let existing = d
        .front
        .list_messages(&s.conversation_id, THREAD_DEPTH)
        .await
        .map_err(front_err)?;
    if let Some(m) = existing
        .iter()
        .find(|m| m.is_draft && m.body.as_deref().unwrap_or_default().contains(&marker))
    {
        return Ok(Some(m.id.clone()));
    }
    let html = format!("{}{marker}", text_to_html(&body));
    let channel = s
        .channel_id
        .clone()
        .unwrap_or_else(|| format!("cha_{}", s.app));
    let created = d
        .front
        .create_draft(
            &s.conversation_id,
            &NewDraft {
                body: html,
                channel_id: channel,
                mode: "shared".into(),
                author_id: None,
            },
        )
        .await
        .map_err(front_err)?;
    let context = format!(
        "Support agent: {} ({}; rule {}). {}",
        dr.outcome.action,
        r.category.as_str(),
        r.rule,
        dr.outcome.notes.join(" ")
    );
    d.front
        .add_comment(
            &s.conversation_id,
            &format!(
                "{context}\nAudit: /api/v1/audit?conversation={}",
                s.conversation_id
            ),
        )
        .await
        .map_err(front_err)?;
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "draft.created",
        json!({"draft_id": created.id, "chars": body.len(), "action": dr.outcome.action}),
    )
    .await?;
    Ok(Some(created.id))
}

fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(|p| {
            format!(
                "<p>{}</p>",
                p.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('\n', "<br>")
            )
        })
        .collect()
}

/// Tools backed by the app's SDK endpoint, the knowledge base and the action log. Writes are
/// idempotent (keyed by run, tool and arguments) and audited.
pub struct PlatformTools {
    store: Arc<dyn Store>,
    product: Arc<dyn SupportIntegration>,
    kb: Bm25Index,
    app: String,
    trace: String,
    conversation: String,
    payments: Option<Arc<dyn Payments>>,
    stripe_account: Option<String>,
    /// The app's status: `disconnected` after Stripe deauthorized the platform.
    app_status: String,
    facts: Option<CustomerFacts>,
}

/// Why a refund could not be quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteError {
    /// Nothing is refunded; a human takes the conversation, with this reason.
    Escalate(String),
    /// A passing failure (Stripe or the product unreachable): try again.
    Retry(String),
}

/// What a write runs under: its idempotency key (also the Stripe `Idempotency-Key`) and the
/// approved amount.
struct WriteCtx {
    key: String,
    amount_cents: Option<i64>,
    /// The action this write carries out (recorded in Stripe's metadata for reconciliation).
    action_id: Option<String>,
}

impl PlatformTools {
    pub async fn new(
        deps: &InboundDeps,
        app: &AppRow,
        trace: &str,
        conversation: &str,
    ) -> Result<Self, StepError> {
        let product = deps
            .products
            .client(app)
            .map_err(StepError::non_retriable)?;
        let chunks = deps
            .store
            .list_kb_chunks(&app.slug)
            .await
            .map_err(store_err)?;
        Ok(Self {
            store: deps.store.clone(),
            product,
            kb: Bm25Index::new(chunks),
            app: app.slug.clone(),
            trace: trace.into(),
            conversation: conversation.into(),
            payments: deps.payments.clone(),
            stripe_account: app.stripe_account.clone(),
            app_status: app.status.clone(),
            facts: None,
        })
    }

    /// Tools that know the customer's purchases (to find the Stripe charge of a refund).
    pub fn with_facts(mut self, facts: CustomerFacts) -> Self {
        self.facts = Some(facts);
        self
    }

    /// A purchase of this customer as the app reports it now (`getPurchases` of its owner).
    async fn purchase_of(
        &self,
        purchase_id: &str,
    ) -> Result<support_sdk::types::Purchase, ToolError> {
        let owner = self
            .facts
            .as_ref()
            .and_then(|f| f.purchases.iter().find(|p| p.id == purchase_id))
            .map(|p| p.owner_user_id.clone())
            .ok_or_else(|| {
                ToolError::NotFound(format!("purchase {purchase_id} of this customer"))
            })?;
        let purchases = self
            .product
            .get_purchases(&owner)
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        purchases
            .into_iter()
            .find(|p| p.id == purchase_id)
            .ok_or_else(|| ToolError::NotFound(format!("purchase {purchase_id} of this customer")))
    }

    /// What refunding `purchase_id` would move, from its Stripe charge (queried now): the
    /// charge's currency and what is left on it. The product's figure (`Purchase.amount`,
    /// major units) is only cross-checked; a disagreement beyond rounding, a purchase without
    /// a charge, a charge Stripe does not know or one already refunded is a reason to hand the
    /// refund to a human ([`QuoteError::Escalate`]). Without Stripe nothing moves through it
    /// (the product only revokes access): the quote is the product's figure, unverified.
    pub async fn quote_refund(&self, purchase_id: &str) -> Result<RefundQuote, QuoteError> {
        let Some(payments) = &self.payments else {
            let fact = self
                .facts
                .as_ref()
                .and_then(|f| f.purchases.iter().find(|p| p.id == purchase_id))
                .ok_or_else(|| {
                    QuoteError::Escalate(format!(
                        "purchase {purchase_id} is not in the customer's records"
                    ))
                })?;
            return Ok(RefundQuote {
                charge_id: None,
                amount_cents: fact.amount_cents,
                currency: fact.currency.to_ascii_lowercase(),
                charge_amount_cents: None,
                refunded_cents: None,
                verified: false,
            });
        };
        self.stripe_connected()
            .map_err(|e| QuoteError::Escalate(e.to_string()))?;
        let purchase = self.purchase_of(purchase_id).await.map_err(|e| match e {
            ToolError::NotFound(m) => QuoteError::Escalate(m),
            other => QuoteError::Retry(other.to_string()),
        })?;
        let charge_id = purchase.stripe_charge_id.clone().ok_or_else(|| {
            QuoteError::Escalate(format!(
                "purchase {purchase_id} names no Stripe charge, so there is nothing to refund on Stripe"
            ))
        })?;
        let charge = payments
            .get_charge(self.stripe_account.as_deref(), &charge_id)
            .await
            .map_err(|e| {
                if e.is_retriable() {
                    QuoteError::Retry(format!("Stripe charge {charge_id}: {e}"))
                } else {
                    QuoteError::Escalate(format!("Stripe charge {charge_id}: {e}"))
                }
            })?;
        cross_check(purchase.amount, &purchase.currency, &charge).map_err(|why| {
            QuoteError::Escalate(format!(
                "refund_amount_mismatch: {why}; nothing was refunded"
            ))
        })?;
        if charge.remaining_cents() <= 0 {
            return Err(QuoteError::Escalate(format!(
                "Stripe charge {charge_id} is already fully refunded ({} of {})",
                format_amount(charge.amount_refunded_cents, &charge.currency),
                format_amount(charge.amount_cents, &charge.currency)
            )));
        }
        Ok(RefundQuote {
            charge_id: Some(charge_id),
            amount_cents: charge.remaining_cents(),
            currency: charge.currency.to_ascii_lowercase(),
            charge_amount_cents: Some(charge.amount_cents),
            refunded_cents: Some(charge.amount_refunded_cents),
            verified: true,
        })
    }

    /// Whether our own refund under `key` is already on the charge (an attempt that died after
    /// Stripe made it): then Stripe replays it for the key and the remainder check is moot.
    async fn refunded_under_key(
        &self,
        payments: &dyn Payments,
        charge: &str,
        key: &str,
    ) -> Result<bool, ToolError> {
        let refunds = payments
            .list_refunds(
                self.stripe_account.as_deref(),
                &RefundTarget::Charge(charge.to_string()),
                100,
            )
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(refunds
            .iter()
            .any(|r| r.metadata.get("idempotency_key").map(String::as_str) == Some(key)))
    }

    /// Refund through Stripe when it is configured; `None` when it is not. The charge is read
    /// from Stripe first: the product's figure must still agree with it, an approved charge id
    /// must still be the purchase's, and the amount (the approved one, or what is left) never
    /// exceeds what is left on the charge. Any of these failing refunds nothing.
    async fn stripe_refund(
        &self,
        call: &ToolCall,
        w: &WriteCtx,
    ) -> Result<Option<crate::payments::Refund>, ToolError> {
        self.stripe_connected()?;
        let Some(payments) = &self.payments else {
            return Ok(None);
        };
        let purchase_id = call.param("purchaseId").unwrap_or_default();
        let purchase = self.purchase_of(purchase_id).await?;
        let charge_id = purchase.stripe_charge_id.clone().ok_or_else(|| {
            ToolError::Failed(format!("purchase {purchase_id} has no Stripe charge"))
        })?;
        if let Some(approved) = call.param("chargeId")
            && approved != charge_id
        {
            return Err(ToolError::Failed(format!(
                "refund_charge_changed: purchase {purchase_id} now names Stripe charge {charge_id}, the approval was for {approved}; nothing was refunded"
            )));
        }
        let charge = payments
            .get_charge(self.stripe_account.as_deref(), &charge_id)
            .await
            .map_err(|e: PaymentsError| {
                ToolError::Failed(format!("Stripe charge {charge_id}: {e}"))
            })?;
        cross_check(purchase.amount, &purchase.currency, &charge).map_err(|why| {
            ToolError::Failed(format!(
                "refund_amount_mismatch: {why}; nothing was refunded"
            ))
        })?;
        let left = charge.remaining_cents();
        let fits = match w.amount_cents {
            Some(a) => a > 0 && a <= left,
            None => left > 0,
        };
        if !fits
            && !self
                .refunded_under_key(payments.as_ref(), &charge_id, &w.key)
                .await?
        {
            let asked = w.amount_cents.map_or_else(
                || "the rest".to_string(),
                |a| format_amount(a, &charge.currency),
            );
            return Err(ToolError::Failed(format!(
                "refund_exceeds_remaining: {asked} asked, {} left on Stripe charge {charge_id} ({} of {} already refunded); nothing was refunded",
                format_amount(left, &charge.currency),
                format_amount(charge.amount_refunded_cents, &charge.currency),
                format_amount(charge.amount_cents, &charge.currency)
            )));
        }
        let location = match &self.stripe_account {
            Some(account) => ChargeLocation::Direct {
                account: account.clone(),
            },
            None => ChargeLocation::Platform,
        };
        let request = RefundRequest {
            target: RefundTarget::Charge(charge_id),
            location,
            amount_cents: w.amount_cents,
            reason: Some(RefundReason::RequestedByCustomer),
            metadata: [
                ("app".to_string(), self.app.clone()),
                ("purchase_id".to_string(), purchase_id.to_string()),
                ("idempotency_key".to_string(), w.key.clone()),
            ]
            .into_iter()
            .chain(w.action_id.clone().map(|a| ("action_id".to_string(), a)))
            .collect(),
            idempotency_key: w.key.clone(),
        };
        payments
            .refund(&request)
            .await
            .map(Some)
            .map_err(|e| ToolError::Failed(e.to_string()))
    }

    /// Refuse money movements for an app whose Stripe account deauthorized the platform:
    /// nothing is sent to Stripe until it connects again.
    fn stripe_connected(&self) -> Result<(), ToolError> {
        if self.app_status == crate::stripe_connect::DISCONNECTED {
            return Err(ToolError::Failed(format!(
                "stripe_disconnected: app {} is disconnected from Stripe (its Connect account deauthorized the platform); reconnect with `skill apps connect-stripe {}`",
                self.app, self.app
            )));
        }
        Ok(())
    }

    /// The payments port and the connected account for a read-only Stripe query.
    fn stripe_reader(&self) -> Result<(&dyn Payments, Option<&str>), ToolError> {
        self.stripe_connected()?;
        let payments = self.payments.as_deref().ok_or_else(|| {
            ToolError::NotImplemented("Stripe is not configured (stripe.secret_key)".into())
        })?;
        Ok((payments, self.stripe_account.as_deref()))
    }

    /// `listCharges`, `listRefunds`, `listSubscriptions`: live Stripe reads on the app's
    /// connected account (the platform account when it has none); nothing is stored.
    async fn stripe_query(&self, call: &ToolCall) -> Result<Value, ToolError> {
        let (payments, account) = self.stripe_reader()?;
        let limit = call
            .params
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(10, |n| u8::try_from(n.clamp(1, 100)).unwrap_or(100));
        let customer = call.param("customerId").filter(|c| !c.is_empty());
        let fail = |e: crate::payments::PaymentsError| match e {
            crate::payments::PaymentsError::InvalidRequest { status: 404, .. } => {
                ToolError::NotFound(e.to_string())
            }
            crate::payments::PaymentsError::Invalid(m) => ToolError::InvalidParams(m),
            other => ToolError::Failed(other.to_string()),
        };
        let need_customer =
            || customer.ok_or_else(|| ToolError::InvalidParams("missing customerId".into()));
        fn v<T: Serialize>(x: T) -> Value {
            serde_json::to_value(x).unwrap_or(Value::Null)
        }
        match call.tool {
            ToolName::ListCharges => payments
                .list_charges(account, need_customer()?, limit)
                .await
                .map(v)
                .map_err(fail),
            ToolName::ListSubscriptions => payments
                .list_subscriptions(account, need_customer()?, limit)
                .await
                .map(v)
                .map_err(fail),
            ToolName::ListRefunds => {
                match (call.param("chargeId").filter(|c| !c.is_empty()), customer) {
                    (Some(charge), _) => payments
                        .list_refunds(account, &RefundTarget::Charge(charge.to_string()), limit)
                        .await
                        .map(v)
                        .map_err(fail),
                    (None, Some(customer)) => payments
                        .customer_refunds(account, customer, limit)
                        .await
                        .map(v)
                        .map_err(fail),
                    (None, None) => Err(ToolError::InvalidParams(
                        "listRefunds needs chargeId or customerId".into(),
                    )),
                }
            }
            other => Err(ToolError::InvalidParams(format!(
                "{other} is not a Stripe query"
            ))),
        }
    }

    /// Run an approved write exactly once: `key` (the action id) is the idempotency key, so a
    /// retry returns the stored result; an attempt that died mid-way is resumed (every call it
    /// makes is idempotent on the same key).
    pub async fn execute_approved(
        &self,
        call: &ToolCall,
        key: &str,
        amount_cents: Option<i64>,
    ) -> Result<Value, ToolError> {
        call.validate()?;
        let w = WriteCtx {
            key: key.to_string(),
            amount_cents,
            action_id: Some(key.to_string()),
        };
        self.run_write(call, &w, true).await
    }

    /// Retry of a dead-lettered action: a new idempotency key (`{action}:retry-{n}`), since
    /// Stripe replays the first (failed) answer for a key it has seen.
    pub async fn execute_retry(
        &self,
        call: &ToolCall,
        action_id: &str,
        attempt: u64,
        amount_cents: Option<i64>,
    ) -> Result<Value, ToolError> {
        call.validate()?;
        let w = WriteCtx {
            key: retry_key(action_id, attempt),
            amount_cents,
            action_id: Some(action_id.to_string()),
        };
        self.run_write(call, &w, true).await
    }

    async fn run_write(
        &self,
        call: &ToolCall,
        w: &WriteCtx,
        resume: bool,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let result = match self
            .store
            .idempotency_begin(&w.key, call.tool.as_str(), now_ms())
            .await
        {
            Ok(IdempotencyState::Completed(v)) => Ok(v),
            Ok(IdempotencyState::InProgress) if !resume => Err(ToolError::Failed(
                "the same action is already in progress".into(),
            )),
            Ok(IdempotencyState::Started | IdempotencyState::InProgress) => {
                let r = self.call_product(call, w).await;
                match &r {
                    Ok(v) => {
                        let _ = self.store.idempotency_complete(&w.key, v, now_ms()).await;
                    }
                    Err(_) => {
                        let _ = self.store.idempotency_abandon(&w.key).await;
                    }
                }
                r
            }
            Err(e) => Err(ToolError::Failed(format!("store: {e}"))),
        };
        self.audit_call(call, &result, started).await;
        result
    }

    async fn audit_call(
        &self,
        call: &ToolCall,
        result: &Result<Value, ToolError>,
        started: Instant,
    ) {
        let ms = started.elapsed().as_millis() as u64;
        let data = match result {
            Ok(v) => {
                json!({"tool": call.tool, "args": call.params, "ok": true, "result": v, "duration_ms": ms})
            }
            Err(e) => {
                json!({"tool": call.tool, "args": call.params, "ok": false, "error": e.to_string(), "duration_ms": ms})
            }
        };
        let _ = self
            .store
            .append_audit(
                &AuditEvent::new("tool.called", "agent", data)
                    .app(&self.app)
                    .conversation(&self.conversation)
                    .trace(&self.trace),
            )
            .await;
    }

    async fn call_product(&self, call: &ToolCall, w: &WriteCtx) -> Result<Value, ToolError> {
        let p = &self.product;
        let s = |k: &str| call.param(k).unwrap_or_default().to_string();
        let to = |r: Result<Value, support_sdk::IntegrationError>| {
            r.map_err(|e| ToolError::Failed(e.to_string()))
        };
        fn v<T: Serialize>(x: T) -> Value {
            serde_json::to_value(x).unwrap_or(Value::Null)
        }
        match call.tool {
            ToolName::LookupUser => to(p.lookup_user(&s("email")).await.map(v)),
            ToolName::GetPurchases => to(p.get_purchases(&s("userId")).await.map(v)),
            ToolName::GetSubscriptions => to(p.get_subscriptions(&s("userId")).await.map(v)),
            ToolName::SearchKnowledge => {
                let limit = call
                    .params
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(3) as usize;
                Ok(v(self.kb.search(&s("query"), limit)))
            }
            ToolName::GenerateMagicLink => to(p
                .generate_magic_link(support_sdk::types::GenerateMagicLinkParams {
                    email: s("email"),
                    expires_in: 3600,
                })
                .await
                .map(v)),
            ToolName::UpdateName => to(p
                .update_name(support_sdk::types::UpdateNameParams {
                    user_id: s("userId"),
                    new_name: s("newName"),
                })
                .await
                .map(v)),
            ToolName::UpdateEmail => to(p
                .update_email(support_sdk::types::UpdateEmailParams {
                    user_id: s("userId"),
                    new_email: s("newEmail"),
                })
                .await
                .map(v)),
            ToolName::TransferPurchase => to(p
                .transfer_purchase(support_sdk::types::TransferPurchaseParams {
                    purchase_id: s("purchaseId"),
                    from_user_id: s("fromUserId"),
                    to_email: s("toEmail"),
                })
                .await
                .map(v)),
            ToolName::ListCharges | ToolName::ListRefunds | ToolName::ListSubscriptions => {
                self.stripe_query(call).await
            }
            ToolName::ProcessRefund => {
                // Stripe first (when configured, idempotent on the key), then the SDK side:
                // access is revoked for the refunded purchase, with the refund's id.
                let refund = self.stripe_refund(call, w).await?;
                let refund_id = match &refund {
                    Some(r) => r.id.clone(),
                    None => format!(
                        "refund_{}",
                        crate::crypto::sha256_hex(s("purchaseId").as_bytes())
                            .get(..12)
                            .unwrap_or_default()
                    ),
                };
                let mut out = to(p
                    .revoke_access(support_sdk::types::RevokeAccessParams {
                        purchase_id: s("purchaseId"),
                        reason: s("reason"),
                        refund_id: refund_id.clone(),
                    })
                    .await
                    .map(v))?;
                if let Value::Object(map) = &mut out {
                    map.insert("refundId".into(), json!(refund_id));
                    if let Some(r) = refund {
                        map.insert("refund".into(), v(r));
                    }
                }
                Ok(out)
            }
        }
    }
}

#[async_trait]
impl ToolExecutor for PlatformTools {
    async fn execute(&self, call: &ToolCall) -> Result<Value, ToolError> {
        call.validate()?;
        let write = call.tool.risk() != crate::pipeline::tools::RiskClass::Read;
        let key = format!(
            "{}:{}:{}",
            self.trace,
            call.tool.as_str(),
            crate::crypto::sha256_hex(crate::audit::canonical_json(&call.params).as_bytes())
        );
        let w = WriteCtx {
            key,
            amount_cents: None,
            action_id: None,
        };
        if write {
            return self.run_write(call, &w, false).await;
        }
        let started = Instant::now();
        let result = self.call_product(call, &w).await;
        self.audit_call(call, &result, started).await;
        result
    }
}
