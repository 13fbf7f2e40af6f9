//! The inbound workflow on the durable runner: a Front message becomes a draft.
//!
//! `hydrate` → `route` → `agent` (tools through [`PlatformTools`]) → `validate` → `gate`
//! (pending approvals wait for `support/approval.decided`) → `draft`. Every step is memoized by
//! the runner, so a crash resumes after the last committed step; every write is idempotent
//! (Front drafts by run, actions by their idempotency key), and every decision is audited with
//! the run id as trace id.

use crate::replay::RouteRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support_core::approvals::ApprovalChannel;
use support_core::audit::AuditEvent;
use support_core::crypto::MasterKey;
use support_core::events;
use support_core::front::{FrontApi, FrontError};
use support_core::payments::Payments;
use support_core::pipeline::agent::{AgentInput, AgentOutcome};
use support_core::pipeline::inbound::{CustomerFacts, Inbound};
use support_core::pipeline::profile::AppProfile;
use support_core::pipeline::router::RouteAction;
use support_core::pipeline::validate::ScorerResult;
use support_core::registry::{AppPolicy, Registry};
use support_core::store::Store;
use support_core::time::now_ms;
use support_steps::{Ctx, Event, Function, StepError};

use crate::agent::agent_step;
use crate::approval::{Gated, apply_decision, gate_proposal, post_request};
use crate::draft::write_draft;
use crate::hydrate::hydrate;
use crate::route::route_step;
use crate::step::{self, StepAudit};
use crate::tools::PlatformTools;

pub use crate::models::{ModelStep, choice_for};
pub use crate::retry::{
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

pub use support_core::registry::ProductDirectory;

/// What the inbound workflow needs.
#[derive(Clone)]
pub struct InboundDeps {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub front: Arc<dyn FrontApi>,
    pub products: Arc<dyn ProductDirectory>,
    /// Signs and verifies action capabilities.
    pub master_key: MasterKey,
    /// The knowledge base's retrieval (`searchKnowledge`), public articles only.
    pub knowledge: Arc<dyn support_core::knowledge::Retriever>,
    /// Scores the app's canned responses against a message for the router
    /// (`support_knowledge::canned::CannedIndex`: the same lexical retrieval as articles).
    pub canned_scorer: Arc<dyn support_core::knowledge::CannedScorer>,
    /// Stripe Connect refunds, when `stripe.secret_key` is set.
    pub payments: Option<Arc<dyn Payments>>,
    /// Where approval requests are posted (Slack), when `slack.bot_token` is set.
    pub approvals: Option<Arc<dyn ApprovalChannel>>,
    /// Builds the model of a step's (provider, model) choice (`models`), when any provider is
    /// configured.
    pub models: Option<Arc<dyn support_core::llm::ModelDirectory>>,
    /// The global model choices (`settings.llm.classifier` / `agent`); an app's `policy.llm`
    /// overrides them per step. Neither set: the offline classifier and agent.
    pub llm_defaults: support_core::registry::AppLlm,
    /// The settings file's kill switches of automatic sending (`settings.autosend`).
    pub autosend: support_core::autosend::AutoSendSettings,
    /// The per-conversation context cache (`crate::context`): on the registry's `Cache`
    /// (memory in one process, Redis in a fleet).
    pub context: support_core::context_cache::ContextCache,
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

pub(crate) fn front_err(e: FrontError) -> StepError {
    match e {
        FrontError::RateLimited { retry_after_secs } => StepError::retry_after(
            "Front rate limit",
            Duration::from_secs(retry_after_secs.max(1)),
        ),
        e if e.is_retriable() => StepError::retriable(e),
        e => StepError::non_retriable(e),
    }
}

pub(crate) fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retriable(format!("store: {e}"))
}

pub(crate) async fn audit(
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

/// The audit port of the route and agent steps in a run: the conversation's audit log, under
/// the run id as trace id.
pub(crate) struct RunAudit<'a> {
    store: &'a dyn Store,
    trace: &'a str,
    app: &'a str,
    conversation: &'a str,
}

impl<'a> RunAudit<'a> {
    pub(crate) fn new(d: &'a InboundDeps, s: &'a Snapshot, trace: &'a str) -> Self {
        Self {
            store: d.store.as_ref(),
            trace,
            app: &s.app,
            conversation: &s.conversation_id,
        }
    }
}

#[async_trait::async_trait]
impl StepAudit for RunAudit<'_> {
    type Error = StepError;
    async fn audit(&self, kind: &str, data: Value) -> Result<(), StepError> {
        audit(
            self.store,
            self.trace,
            self.app,
            self.conversation,
            kind,
            data,
        )
        .await
    }
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
        ctx.run(
            step::HYDRATE,
            move || async move { hydrate(&c, &e, &d).await },
        )
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
    // the decision, so `skill replay` can re-run it exactly (`crate::replay`).
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
        let received_at = ev.ts;
        ctx.run(step::ROUTE, move || async move {
            let rec = route_step(&d, &s, &t, &p, &pr).await?;
            // Analytics: the message, under the category the route gave it (once per message,
            // so a re-run of the same message is not counted again).
            crate::analytics::message_received(
                d.store.as_ref(),
                &s.app,
                rec.decision.category.as_str(),
                &s.conversation_id,
                &s.message_id,
                received_at,
            )
            .await;
            Ok::<_, StepError>(rec)
        })
        .await?
    };
    // The SLA clock takes its priority from the route (`crate::sla`): re-evaluate it.
    ctx.send_event(
        "sla-route",
        vec![
            Event::new(
                events::SLA_CHANGED,
                json!({"conversation_id": snap.conversation_id, "app_id": snap.app, "reason": "route"}),
            )
            .with_id(format!("sla-route:{}", ctx.run_id())),
        ],
    )
    .await?;
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
        ctx.run(step::AGENT, move || async move {
            let tools = PlatformTools::new(&d, &a, &t, &s.conversation_id)
                .await?
                .with_facts(s.facts.clone())
                .with_context(d.context.clone(), &s.message_id);
            let input = AgentInput {
                inbound: &s.inbound,
                route: &r,
                policy: &p,
                profile: &pr,
                facts: Some(&s.facts),
                now: decided_at,
            };
            agent_step(&d, &s, &t, input, &tools, &pr).await
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
            .run(&format!("{}{i}", step::GATE_PREFIX), move || async move {
                let gated = gate_proposal(&d, &s, &r, &t, &a, &p, &prop, draft).await?;
                if gated.pending {
                    crate::analytics::approval_requested(
                        d.store.as_ref(),
                        &s.app,
                        r.category.as_str(),
                        &s.conversation_id,
                        &gated.action_id,
                    )
                    .await;
                }
                Ok::<_, StepError>(gated)
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
                ctx.run(
                    &format!("{}{id}", step::NOTIFY_PREFIX),
                    move || async move {
                        post_request(&d, &s, &t, &aid, &ch, &name, draft.as_deref()).await
                    },
                )
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
        let received_at = ev.ts;
        ctx.run(step::DRAFT, move || async move {
            let id = write_draft(&d, &s, &r, &dr, &t, &run_id).await?;
            if dr.outcome.draft.is_some() && !dr.withheld {
                crate::analytics::draft_written(
                    d.store.as_ref(),
                    &s.app,
                    r.category.as_str(),
                    &s.conversation_id,
                    &run_id,
                    received_at,
                )
                .await;
            }
            Ok::<_, StepError>(id)
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
        // The approval is visible from the gate step on, and a wait sees only the events sent
        // after it is registered: a decision made in between (a fast click in Slack, a script
        // on the API) is read from the store, where every decision is recorded before its
        // event is sent. Memoized, so a replay takes the same path.
        let decided_before: bool = {
            let (d, aid) = (deps.clone(), id.clone());
            ctx.run(
                &format!("{}{id}", step::DECIDED_BEFORE_PREFIX),
                move || async move {
                    let status = d
                        .store
                        .approval_for_action(&aid)
                        .await
                        .map_err(store_err)?
                        .map(|a| a.status.as_str().to_string());
                    Ok::<_, StepError>(matches!(status.as_deref(), Some("approved" | "rejected")))
                },
            )
            .await?
        };
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
            let decided = if attempt == 0 && decided_before {
                // apply_decision reads the recorded decision (and its capability) from the store.
                None
            } else if remaining > 0 {
                ctx.wait_for_event(
                    &format!("{}{id}{suffix}", step::APPROVAL_PREFIX),
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
                .run(
                    &format!("{}{id}{suffix}", step::DECIDED_PREFIX),
                    move || async move {
                        let data = decided.as_ref().map(|e| e.data.clone());
                        let out =
                            apply_decision(&d, &s, &t, &aid, data.as_ref(), draft.as_deref(), last)
                                .await?;
                        crate::analytics::approval_decided(
                            d.store.as_ref(),
                            &s.app,
                            &s.conversation_id,
                            &aid,
                            &out,
                        )
                        .await;
                        Ok::<_, StepError>(out)
                    },
                )
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
pub(crate) fn action_event(s: &Snapshot, action_id: &str, outcome: &Value) -> Option<Event> {
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

pub(crate) fn failing(scorers: &[ScorerResult]) -> Vec<&ScorerResult> {
    scorers.iter().filter(|s| !s.passed).collect()
}
