//! The SLA clock's durable timers (`support-sla-clock`), over core's pure
//! [`support_core::sla::clock`].
//!
//! One run per change of a conversation's clock: `support/sla.clock`, which the Front intake
//! sends beside an inbound message, a reply sent by a human or automatically (`outbound_sent`),
//! an archive and a reopen, and `support/sla.changed` (the route decided the priority, a human
//! changed it). Runs are one at a time per conversation.
//!
//! 1. `record`: the event is appended to the stored clock ([`SlaClockRow`]), the policy is
//!    matched again (priority from the route, urgent escalations `high`, unless a human set
//!    it; category, Front tags, escalation), the clock is evaluated and written with the next
//!    generation (compare and set), which also sets the conversation's `sla_due_at`.
//! 2. For each warning and breach still ahead, by time: `sleep_until` it; then `claim`: when
//!    the stored generation is no longer this run's, a newer event superseded it and the run
//!    ends (that run has its own timers); otherwise the alarm's key
//!    (`first_reply:0:breach`) is claimed in `sla_alarms` for this run, so each alarm fires
//!    once per conversation whatever the number of runs.
//! 3. The claimed alarm's effects, each its own memoized step (a crash between them resumes
//!    after the last one done): the Front tag (`sla-warning` / `sla-breach`), the Slack alert
//!    to the app's approval channel (`ApprovalChannel::post_alert`), and the audit entry
//!    (`sla.warning` / `sla.breach`, the hook for reporting events).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support_core::analytics::EventKind;
use support_core::approvals::{Alert, ApprovalChannel};
use support_core::audit::AuditEvent;
use support_core::events;
use support_core::front::FrontApi;
use support_core::registry::{Registry, policy_of};
use support_core::sla::clock::{
    Alarm, ClockEvent, ClockEventKind, Deadline, MetricState, evaluate,
};
use support_core::sla::hours::{BusinessCalendar, Span};
use support_core::sla::{Facts, Priority, select};
use support_core::store::{SlaClockRow, Store};
use support_steps::{Ctx, Event, Function, StepError};

use crate::inbound::{front_err, store_err};

/// The id of the SLA clock function.
pub const SLA_FN: &str = "support-sla-clock";

/// What the SLA timers need.
#[derive(Clone)]
pub struct SlaDeps {
    pub store: Arc<dyn Store>,
    pub front: Arc<dyn FrontApi>,
    pub registry: Arc<Registry>,
    pub approvals: Option<Arc<dyn ApprovalChannel>>,
}

impl SlaDeps {
    pub fn from_inbound(d: &crate::InboundDeps) -> Self {
        Self {
            store: d.store.clone(),
            front: d.front.clone(),
            registry: d.registry.clone(),
            approvals: d.approvals.clone(),
        }
    }
}

/// The clock event of a Front event type (`front_type` of `support/sla.clock`).
pub fn clock_event(front_type: &str) -> Option<ClockEventKind> {
    Some(match front_type {
        "inbound_received" => ClockEventKind::Inbound,
        "outbound_sent" => ClockEventKind::Reply,
        "conversation_archived" => ClockEventKind::Archived,
        "conversation_reopened" => ClockEventKind::Reopened,
        _ => return None,
    })
}

/// `support-sla-clock`.
pub fn sla_function(deps: SlaDeps) -> Function {
    Function::new(SLA_FN)
        .name("SLA clock")
        .on_event(events::SLA_CLOCK)
        .on_event(events::SLA_CHANGED)
        .concurrency(1, Some("event.data.conversation_id"))
        .retries(6)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move { run(&ctx, &ev, deps).await }
        })
}

/// What `record` decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    generation: i64,
    policy_id: Option<String>,
    app: String,
    deadlines: Vec<Deadline>,
}

async fn run(ctx: &Ctx, ev: &Event, deps: SlaDeps) -> Result<Value, StepError> {
    let conversation = ev.data["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if conversation.is_empty() {
        return Ok(json!({"skipped": "no conversation"}));
    }
    let event = if ev.name == events::SLA_CLOCK {
        clock_event(ev.data["front_type"].as_str().unwrap_or_default())
            .map(|kind| ClockEvent::new(kind, ev.ts))
    } else {
        None
    };
    let app_hint = ev.data["app_id"].as_str().map(str::to_string);
    let (d, conv) = (deps.clone(), conversation.clone());
    let plan: Option<Plan> = ctx
        .run("record", move || async move {
            record(&d, &conv, app_hint, event, ev_time(event)).await
        })
        .await?;
    let Some(plan) = plan else {
        return Ok(json!({"skipped": "no app"}));
    };
    let mut fired = Vec::new();
    for d in &plan.deadlines {
        let key = d.key();
        ctx.sleep_until(&format!("sleep:{key}"), d.at).await?;
        let (store, conv, k, generation, run_id) = (
            deps.store.clone(),
            conversation.clone(),
            key.clone(),
            plan.generation,
            ctx.run_id().to_string(),
        );
        let at = d.at;
        let claim: Value = ctx
            .run(&format!("claim:{key}"), move || async move {
                let current = store.get_sla_clock(&conv).await.map_err(store_err)?;
                if current.map(|c| c.generation) != Some(generation) {
                    return Ok::<_, StepError>(json!({"superseded": true}));
                }
                let owned = store
                    .claim_sla_alarm(&conv, &k, at, &run_id)
                    .await
                    .map_err(store_err)?;
                Ok(json!({"claimed": owned}))
            })
            .await?;
        if claim["superseded"] == true {
            return Ok(
                json!({"generation": plan.generation, "fired": fired, "superseded_at": key}),
            );
        }
        if claim["claimed"] != true {
            continue;
        }
        effects(ctx, &deps, &plan, &conversation, d).await?;
        fired.push(key);
    }
    Ok(json!({"generation": plan.generation, "policy": plan.policy_id, "fired": fired}))
}

fn ev_time(e: Option<ClockEvent>) -> Option<i64> {
    e.map(|e| e.at)
}

/// Append the event, match the policy, evaluate, write the next generation.
async fn record(
    deps: &SlaDeps,
    conversation: &str,
    app_hint: Option<String>,
    event: Option<ClockEvent>,
    at: Option<i64>,
) -> Result<Option<Plan>, StepError> {
    let store = deps.store.as_ref();
    let existing = store.get_sla_clock(conversation).await.map_err(store_err)?;
    let detail = store
        .conversation_detail(conversation)
        .await
        .map_err(store_err)?;
    let row = detail.conversation.as_ref();
    let app = existing
        .as_ref()
        .map(|c| c.app.clone())
        .or(app_hint)
        .or_else(|| row.and_then(|c| c.app.clone()))
        .filter(|a| !a.is_empty());
    let Some(app) = app else {
        return Ok(None);
    };
    let mut events = existing
        .as_ref()
        .map(|c| c.events.clone())
        .unwrap_or_default();
    if let Some(e) = event {
        events.push(e);
    }
    let (priority, set_by) = match &existing {
        Some(SlaClockRow {
            priority,
            priority_set_by: Some(by),
            ..
        }) => (*priority, Some(by.clone())),
        _ => (
            Priority::from_route(detail.route.as_ref().map(|r| r.action)),
            None,
        ),
    };
    // Front's tags; a Front that fails is read around (the policy then matches without tags).
    let mut tags: Vec<String> = match deps.front.get_conversation(conversation).await {
        Ok(c) => c.tags.into_iter().map(|t| t.name.unwrap_or(t.id)).collect(),
        Err(e) => {
            tracing::warn!(cause = %e, conversation, "SLA: cannot read the conversation's tags");
            Vec::new()
        }
    };
    if let Some(esc) = row.and_then(|c| c.escalation.clone()) {
        tags.push(esc);
    }
    let facts = Facts {
        priority,
        category: detail.route.as_ref().map(|r| r.category.clone()),
        tags,
        escalated: row.is_some_and(|c| c.escalation.is_some()),
    };
    let policies = store
        .list_sla_policies(Some(&app))
        .await
        .map_err(store_err)?;
    let policy = select(&policies, &facts).cloned();
    let (due_at, deadlines, met) = match &policy {
        None => (None, Vec::new(), Vec::new()),
        Some(p) => {
            let calendar = match &p.schedule {
                Some(id) => match store.get_sla_schedule(id).await.map_err(store_err)? {
                    Some(s) => Some(
                        BusinessCalendar::new(&s)
                            .map_err(|e| StepError::non_retriable(format!("schedule {id}: {e}")))?,
                    ),
                    None => None,
                },
                None => None,
            };
            let eval = evaluate(p, &events, |t| match (&calendar, t.business_hours) {
                (Some(c), true) => Span::Business(c),
                _ => Span::Calendar,
            });
            let met: Vec<(String, u32)> = eval
                .metrics
                .iter()
                .filter(|m| m.state == MetricState::Met)
                .map(|m| (m.metric.as_str().to_string(), m.cycle))
                .collect();
            (eval.due_at(), eval.deadlines(), met)
        }
    };
    // The targets met so far, for SLA attainment (idempotent per metric and cycle).
    for (metric, cycle) in &met {
        crate::analytics::sla_verdict(
            store,
            &app,
            conversation,
            EventKind::SlaMet,
            metric,
            *cycle,
            at.unwrap_or_else(support_core::time::now_ms),
        )
        .await;
    }
    let fired: Vec<String> = store
        .sla_alarms(conversation)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|a| a.key)
        .collect();
    let deadlines: Vec<Deadline> = deadlines
        .into_iter()
        .filter(|d| !fired.contains(&d.key()))
        .collect();
    let generation = existing.as_ref().map_or(1, |c| c.generation + 1);
    let next = SlaClockRow {
        conversation_id: conversation.to_string(),
        app: app.clone(),
        policy_id: policy.as_ref().map(|p| p.id.clone()),
        priority,
        priority_set_by: set_by,
        events,
        generation,
        due_at,
        updated_at: at.unwrap_or_else(|| existing.as_ref().map_or(0, |c| c.updated_at)),
    };
    if !store.put_sla_clock(&next).await.map_err(store_err)? {
        // Another writer (a human's priority change) moved the clock: read it again.
        return Err(StepError::retriable("SLA clock changed meanwhile"));
    }
    Ok(Some(Plan {
        generation,
        policy_id: next.policy_id,
        app,
        deadlines,
    }))
}

/// The Front tag, the Slack alert and the audit entry of a claimed alarm, each once.
async fn effects(
    ctx: &Ctx,
    deps: &SlaDeps,
    plan: &Plan,
    conversation: &str,
    d: &Deadline,
) -> Result<(), StepError> {
    let key = d.key();
    let (front, conv, alarm) = (deps.front.clone(), conversation.to_string(), d.alarm);
    ctx.run(&format!("tag:{key}"), move || async move {
        front
            .add_tags(&conv, &[alarm.tag().to_string()])
            .await
            .map_err(front_err)?;
        Ok::<_, StepError>(json!({"tag": alarm.tag()}))
    })
    .await?;

    let (registry, approvals, app, conv, dl, policy) = (
        deps.registry.clone(),
        deps.approvals.clone(),
        plan.app.clone(),
        conversation.to_string(),
        d.clone(),
        plan.policy_id.clone(),
    );
    let alerted: Value = ctx
        .run(&format!("alert:{key}"), move || async move {
            let channel = match registry.by_slug(&app).await {
                Ok(Some(a)) => policy_of(&a).ok().and_then(|p| p.approval_channel),
                _ => None,
            };
            let (Some(ch), Some(channel)) = (approvals, channel) else {
                return Ok::<_, StepError>(json!({"alerted": false, "reason": "no channel"}));
            };
            let title = match dl.alarm {
                Alarm::Warning => format!("SLA warning: {} due soon", dl.metric.as_str()),
                Alarm::Breach => format!("SLA breached: {}", dl.metric.as_str()),
            };
            let alert = Alert {
                title,
                text: format!("Conversation {conv} ({app})"),
                fields: vec![
                    ("App".into(), app.clone()),
                    ("Conversation".into(), conv.clone()),
                    ("Target".into(), dl.metric.as_str().into()),
                    ("Policy".into(), policy.unwrap_or_default()),
                    ("Due".into(), support_core::time::format_utc(dl.at)),
                ],
            };
            match ch.post_alert(&channel, &alert).await {
                Ok(_) => Ok(json!({"alerted": true, "channel": channel})),
                Err(e) if e.is_retriable() => Err(StepError::retriable(format!("slack: {e}"))),
                Err(e) => Ok(json!({"alerted": false, "reason": e.to_string()})),
            }
        })
        .await?;

    let (store, conv, app, dl, policy) = (
        deps.store.clone(),
        conversation.to_string(),
        plan.app.clone(),
        d.clone(),
        plan.policy_id.clone(),
    );
    let generation = plan.generation;
    ctx.run(&format!("audit:{key}"), move || async move {
        let kind = match dl.alarm {
            Alarm::Warning => "sla.warning",
            Alarm::Breach => "sla.breach",
        };
        store
            .append_audit(
                &AuditEvent::new(
                    kind,
                    "system",
                    json!({"metric": dl.metric.as_str(), "cycle": dl.cycle, "due_at": dl.at,
                           "key": dl.key(), "policy": policy, "generation": generation,
                           "tag": dl.alarm.tag(), "alerted": alerted["alerted"]}),
                )
                .app(&app)
                .conversation(&conv),
            )
            .await
            .map_err(store_err)?;
        // The reporting event beside the audit entry (SLA breaches and warnings in analytics).
        let report = match dl.alarm {
            Alarm::Warning => EventKind::SlaWarning,
            Alarm::Breach => EventKind::SlaBreach,
        };
        crate::analytics::sla_verdict(
            store.as_ref(),
            &app,
            &conv,
            report,
            dl.metric.as_str(),
            dl.cycle,
            dl.at,
        )
        .await;
        Ok::<_, StepError>(json!({"audited": kind}))
    })
    .await?;
    Ok(())
}
