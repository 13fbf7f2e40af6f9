//! The learning loop's durable functions: what humans did with our drafts.
//!
//! - [`outcome_function`] (`support/outbound.sent`): re-fetch the sent message from Front
//!   (webhooks may be previews), find the draft of ours it answers — the one whose
//!   [`draft_marker`](crate::draft::draft_marker) the sent body still carries, else our latest
//!   draft in the conversation that nothing was sent for yet — and classify it
//!   (`trust::outcome::classify`: unchanged / edited / rewritten). The sent text is stored beside
//!   the draft (`DashboardStore::set_draft_sent`) for the dashboard's diff. No draft: `no_draft`,
//!   audited, never an error.
//! - [`not_sent_function`] (`support/reply.watch`, sent by the intake beside each inbound message): a durable wait for a reply in the same
//!   conversation with the `trust.not_sent_window_secs` timeout; when it times out and our
//!   draft of that conversation is still unsent a full window after it was written, `not_sent`.
//!   An inbound message within 7 days of an answer of ours that was sent counts as a reopen
//!   (a bad outcome, with the extra weight).
//!
//! - [`stripe_outcome_function`] (`stripe/dispute.created`, `stripe/charge.refunded`): a dispute
//!   of a charge one of our actions worked on, or a refund of ours Stripe reports `failed` or
//!   `canceled` (reversed), is a bad outcome of that action's conversation (`disputed`,
//!   `refund_reversed`, with the extra weight). A dispute of a charge none of our actions
//!   worked on is matched by the payer's email (the event's, else the charge's, read through
//!   `Payments::get_charge`): the customer's most recent conversation in the app with an answer
//!   of ours sent within [`DISPUTE_EMAIL_WINDOW_DAYS`] (`SignalStore::conversations_for_email`);
//!   no such conversation: `outcome.dispute_unmatched`, audited, no signal.
//!
//! Every bad outcome (and a rewrite of a follow-up) goes through
//! [`autosend::on_signal`](crate::autosend::on_signal): after an automatic answer in the
//! conversation it demotes the category to drafts, alerts Slack and is audited. An automatic
//! send of ours that Front reports back (`outbound_sent`) is not a human's verdict: no signal.
//!
//! One signal per draft: its id is `sig_outcome_{run_id}` (`sig_reopen_{run_id}` for a reopen),
//! so replays and retries record it once and the first outcome stands.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support_core::approvals::ApprovalChannel;
use support_core::audit::AuditEvent;
use support_core::events;
use support_core::front::FrontApi;
use support_core::payments::Payments;
use support_core::registry::Registry;
use support_core::store::{DraftRow, Store};
use support_core::time::now_ms;
use support_core::trust::outcome::{Outcome, classify, clean};
use support_core::trust::{
    DAY_MS, REOPEN_WINDOW_DAYS, Signal, SignalKind, TrustSettings, record_signal,
};
use support_steps::{Ctx, Event, Function, StepError};

use crate::inbound::{front_err, store_err};

/// The id of the outcome function.
pub const OUTCOME_FN: &str = "support-outcome";
/// The id of the not-sent watcher.
pub const NOT_SENT_FN: &str = "support-not-sent";

/// What the learning loop's functions need.
#[derive(Clone)]
pub struct OutcomeDeps {
    pub store: Arc<dyn Store>,
    pub front: Arc<dyn FrontApi>,
    pub settings: TrustSettings,
    /// For the demotion's alert: the app's approval channel.
    pub registry: Arc<Registry>,
    pub approvals: Option<Arc<dyn ApprovalChannel>>,
    /// Stripe, to read a disputed charge's payer email when the event does not carry it.
    pub payments: Option<Arc<dyn Payments>>,
}

/// The learning loop's functions over the inbound workflow's store and Front client.
pub fn functions(deps: &crate::InboundDeps, settings: &TrustSettings) -> Vec<Function> {
    let d = OutcomeDeps {
        store: deps.store.clone(),
        front: deps.front.clone(),
        settings: settings.clone(),
        registry: deps.registry.clone(),
        approvals: deps.approvals.clone(),
        payments: deps.payments.clone(),
    };
    vec![
        outcome_function(d.clone()),
        not_sent_function(d.clone()),
        stripe_outcome_function(d),
    ]
}

/// After a signal: demote an automatic category when it is a bad outcome of an automatic
/// answer (see [`crate::autosend::on_signal`]).
async fn demote_if_bad(deps: &OutcomeDeps, s: &Signal) -> Result<Value, StepError> {
    let d = crate::autosend::on_signal(
        deps.store.as_ref(),
        deps.approvals.as_deref(),
        &deps.registry,
        s,
    )
    .await
    .map_err(store_err)?;
    Ok(match d {
        crate::autosend::Demotion::None => Value::Null,
        crate::autosend::Demotion::Demoted { alerted } => json!({"alerted": alerted}),
    })
}

/// The run id in a body carrying our draft marker (`<!-- support-draft:{run_id} -->`).
pub fn marker_run_id(body: &str) -> Option<&str> {
    let start = body.find("support-draft:")? + "support-draft:".len();
    let rest = &body[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The draft a sent body answers: the one named by its marker, else the latest draft nothing
/// was sent for yet.
pub fn answered_draft<'d>(drafts: &'d [DraftRow], sent_body: &str) -> Option<&'d DraftRow> {
    if let Some(run) = marker_run_id(sent_body)
        && let Some(d) = drafts.iter().find(|d| d.run_id == run)
    {
        return Some(d);
    }
    drafts
        .iter()
        .filter(|d| d.sent_at.is_none())
        .max_by_key(|d| d.created_at)
}

fn outcome_signal(
    kind: SignalKind,
    d: &DraftRow,
    app: &str,
    category: &str,
    at: i64,
    detail: Value,
) -> Signal {
    let mut s = Signal::new(
        format!("sig_outcome_{}", d.run_id),
        kind,
        app,
        category,
        d.conversation_id.clone(),
        at,
        "front",
    );
    s.run_id = Some(d.run_id.clone());
    s.detail = detail;
    s
}

/// `support/outbound.sent` → the outcome of our draft.
pub fn outcome_function(deps: OutcomeDeps) -> Function {
    Function::new(OUTCOME_FN)
        .name("Reply outcome")
        .on_event(events::OUTBOUND_SENT)
        .concurrency(1, Some("event.data.conversation_id"))
        .idempotency("event.data.event_id")
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move { outcome(&ctx, &ev, deps).await }
        })
}

async fn outcome(ctx: &Ctx, ev: &Event, deps: OutcomeDeps) -> Result<Value, StepError> {
    let conversation = ev.data["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message_id = ev.data["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if conversation.is_empty() || message_id.is_empty() {
        return Ok(json!({"outcome": "skipped", "reason": "no conversation or message id"}));
    }
    let front = deps.front.clone();
    let mid = message_id.clone();
    let sent: Value = ctx
        .run("fetch-message", move || async move {
            let m = front.get_message(&mid).await.map_err(front_err)?;
            Ok::<_, StepError>(json!({
                "body": m.body.or(m.text).unwrap_or_default(),
                "inbound": m.is_inbound,
                "author": m.author.map(|a| a.id),
            }))
        })
        .await?;
    if sent["inbound"] == true {
        return Ok(json!({"outcome": "skipped", "reason": "inbound message"}));
    }
    let store = deps.store.clone();
    let app_hint = ev.data["app_id"].as_str().map(str::to_string);
    let deps2 = deps.clone();
    ctx.run("classify", move || async move {
        let deps = deps2;
        let body = sent["body"].as_str().unwrap_or_default().to_string();
        let detail = store.conversation_detail(&conversation).await.map_err(store_err)?;
        let app = app_hint
            .or_else(|| detail.conversation.as_ref().and_then(|c| c.app.clone()))
            .unwrap_or_default();
        let category = detail
            .route
            .as_ref()
            .map(|r| r.category.clone())
            .unwrap_or_else(|| "unknown".into());
        let now = now_ms();
        let Some(draft) = answered_draft(&detail.drafts, &body) else {
            let ev = AuditEvent::new(
                "outcome.recorded",
                "front",
                json!({"outcome": Outcome::NoDraft.as_str(), "message_id": message_id, "category": category}),
            )
            .conversation(conversation.clone());
            let ev = if app.is_empty() { ev } else { ev.app(app.clone()) };
            store.append_audit(&ev).await.map_err(store_err)?;
            crate::analytics::reply_sent(store.as_ref(), &app, &category, &conversation, &message_id, false).await;
            return Ok::<_, StepError>(json!({"outcome": Outcome::NoDraft.as_str()}));
        };
        let app = draft.app.clone().filter(|a| !a.is_empty()).unwrap_or(app);
        // Our own automatic send, reported back by Front: not a human's verdict on a draft.
        if let Some(send) = store.get_send(&draft.run_id).await.map_err(store_err)? {
            if draft.sent_at.is_none() {
                store
                    .set_draft_sent(&draft.run_id, &clean(&body), now)
                    .await
                    .map_err(store_err)?;
            }
            return Ok(json!({"outcome": "automatic", "run_id": draft.run_id, "status": send.status}));
        }
        let ours = draft.html.clone().unwrap_or_else(|| draft.text.clone());
        let (outcome, similarity) = classify(&ours, &body);
        store
            .set_draft_sent(&draft.run_id, &clean(&body), now)
            .await
            .map_err(store_err)?;
        let kind = outcome.signal_kind().unwrap_or(SignalKind::Rewritten);
        let signal = outcome_signal(
            kind,
            draft,
            &app,
            &category,
            now,
            json!({"similarity": similarity, "message_id": message_id, "by_marker": body.contains("support-draft:")}),
        );
        let new = record_signal(store.as_ref(), &signal, now).await.map_err(store_err)?;
        crate::analytics::reply_sent(store.as_ref(), &app, &category, &conversation, &message_id, false).await;
        crate::analytics::draft_outcome(store.as_ref(), &app, &category, &conversation, &draft.run_id, outcome.as_str()).await;
        let demoted = demote_if_bad(&deps, &signal).await?;
        Ok(json!({"outcome": outcome.as_str(), "similarity": similarity, "run_id": draft.run_id,
                  "recorded": new, "demoted": demoted}))
    })
    .await
}

/// `support/reply.watch` → `not_sent` when no reply follows our draft within the window;
/// a reopen when it follows an answer of ours sent within 7 days.
pub fn not_sent_function(deps: OutcomeDeps) -> Function {
    Function::new(NOT_SENT_FN)
        .name("Draft not sent")
        .on_event(events::REPLY_WATCH)
        .idempotency("event.data.event_id")
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move { not_sent(&ctx, &ev, deps).await }
        })
}

async fn not_sent(ctx: &Ctx, ev: &Event, deps: OutcomeDeps) -> Result<Value, StepError> {
    let conversation = ev.data["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if conversation.is_empty() {
        return Ok(json!({"skipped": "no conversation"}));
    }
    let (store, conv, extra) = (
        deps.store.clone(),
        conversation.clone(),
        deps.settings.bad_outcome_extra_weight,
    );
    let received = ev.ts;
    let deps2 = deps.clone();
    let reopened: Value = ctx
        .run("reopen", move || async move {
            let deps = deps2;
            let detail = store.conversation_detail(&conv).await.map_err(store_err)?;
            let answered = detail
                .drafts
                .iter()
                .filter(|d| {
                    d.sent_at.is_some_and(|at| {
                        at <= received && received - at <= REOPEN_WINDOW_DAYS * DAY_MS
                    })
                })
                .max_by_key(|d| d.sent_at);
            let Some(d) = answered else {
                return Ok::<_, StepError>(Value::Null);
            };
            let app = d.app.clone().unwrap_or_default();
            let category = detail
                .route
                .map(|r| r.category)
                .unwrap_or_else(|| "unknown".into());
            let mut s = outcome_signal(
                SignalKind::Reopened,
                d,
                &app,
                &category,
                received,
                json!({}),
            )
            .with_bad_outcome_weight(extra);
            s.id = format!("sig_reopen_{}", d.run_id);
            record_signal(store.as_ref(), &s, now_ms())
                .await
                .map_err(store_err)?;
            let demoted = demote_if_bad(&deps, &s).await?;
            Ok(json!({"run_id": d.run_id, "demoted": demoted}))
        })
        .await?;
    let window = Duration::from_secs(deps.settings.not_sent_window_secs);
    let expr = "async.data.conversation_id == event.data.conversation_id";
    let replied = ctx
        .wait_for_event("reply", events::OUTBOUND_SENT, window, Some(expr))
        .await?;
    if replied.is_some() {
        return Ok(json!({"reopened": reopened, "replied": true}));
    }
    // Our draft may have been written after the wait began: give it its full window.
    let (store, conv) = (deps.store.clone(), conversation.clone());
    let due: Option<i64> = ctx
        .run("draft-due", move || async move {
            let detail = store.conversation_detail(&conv).await.map_err(store_err)?;
            Ok::<_, StepError>(
                detail
                    .drafts
                    .iter()
                    .filter(|d| d.sent_at.is_none() && d.created_at >= received)
                    .map(|d| d.created_at)
                    .max()
                    .map(|at| at + window.as_millis() as i64),
            )
        })
        .await?;
    let Some(due) = due else {
        return Ok(json!({"reopened": reopened, "draft": false}));
    };
    // The runner's clock decides (a test moves it), as it does for the wait above.
    if due > ctx.now_ms() {
        ctx.sleep_until("draft-window", due).await?;
    }
    let (store, conv) = (deps.store.clone(), conversation.clone());
    let at = ctx.now_ms();
    ctx.run("not-sent", move || async move {
        let detail = store.conversation_detail(&conv).await.map_err(store_err)?;
        let Some(d) = detail
            .drafts
            .iter()
            .filter(|d| d.sent_at.is_none() && d.created_at >= received)
            .max_by_key(|d| d.created_at)
        else {
            return Ok::<_, StepError>(json!({"outcome": "sent"}));
        };
        let app = d.app.clone().unwrap_or_default();
        let category = detail
            .route
            .as_ref()
            .map(|r| r.category.clone())
            .unwrap_or_else(|| "unknown".into());
        let s = outcome_signal(SignalKind::NotSent, d, &app, &category, at, json!({}));
        let new = record_signal(store.as_ref(), &s, at)
            .await
            .map_err(store_err)?;
        Ok(json!({"outcome": Outcome::NotSent.as_str(), "run_id": d.run_id, "recorded": new}))
    })
    .await
}

/// The id of the Stripe bad-outcome function.
pub const STRIPE_OUTCOME_FN: &str = "support-stripe-outcome";

/// `stripe/dispute.created` and `stripe/charge.refunded` → `disputed` / `refund_reversed`
/// signals for the conversations of our actions on that charge, then demotion.
pub fn stripe_outcome_function(deps: OutcomeDeps) -> Function {
    Function::new(STRIPE_OUTCOME_FN)
        .name("Stripe bad outcome")
        .on_event(events::STRIPE_DISPUTE_CREATED)
        .on_event(events::STRIPE_CHARGE_REFUNDED)
        .idempotency("event.data.event_id")
        .retries(4)
        .backoff(Duration::from_millis(500), Duration::from_secs(60))
        .handler(move |ctx: Ctx, ev: Event| {
            let deps = deps.clone();
            async move {
                let name = ev.name.clone();
                let data = ev.data.clone();
                ctx.run("signals", move || async move {
                    stripe_signals(&deps, &name, &data).await
                })
                .await
            }
        })
}

/// How far back a dispute of a charge none of our actions worked on looks for an answer of
/// ours to the same customer (Stripe allows disputes for months; an answer older than this is
/// not what the customer disputes).
pub const DISPUTE_EMAIL_WINDOW_DAYS: i64 = 60;
/// How many of the customer's most recent conversations the email match looks at.
const DISPUTE_EMAIL_CONVERSATIONS: i64 = 20;

/// A conversation a Stripe event is a bad outcome of.
struct Target {
    conversation: String,
    app: Option<String>,
    /// The category when the conversation's route does not say (an action's).
    category: Option<String>,
    kind: SignalKind,
    id: String,
    detail: Value,
}

impl Target {
    fn of_action(a: support_core::store::ActionRow, kind: SignalKind, id: String) -> Option<Self> {
        Some(Self {
            conversation: a.conversation_id.clone()?,
            detail: json!({"action_id": a.id}),
            app: a.app,
            category: a.category,
            kind,
            id,
        })
    }
}

/// The conversations a Stripe event is a bad outcome of, with the signal kind.
async fn stripe_targets(
    deps: &OutcomeDeps,
    name: &str,
    data: &Value,
) -> Result<Vec<Target>, StepError> {
    let store = deps.store.as_ref();
    let mut out = Vec::new();
    if name == events::STRIPE_DISPUTE_CREATED {
        let charge = data["charge"].as_str().unwrap_or_default();
        let dispute = data["dispute_id"].as_str().unwrap_or_default();
        for a in store.actions_for_charge(charge).await.map_err(store_err)? {
            let id = format!("sig_dispute_{dispute}_{}", a.id);
            out.extend(Target::of_action(a, SignalKind::Disputed, id));
        }
        if out.is_empty() {
            out.extend(dispute_by_email(deps, data).await?);
        }
    } else {
        for r in data["reconciled"].as_array().into_iter().flatten() {
            let reversed = matches!(r["refund_status"].as_str(), Some("failed" | "canceled"));
            let Some(action_id) = r["action_id"].as_str().filter(|_| reversed) else {
                continue;
            };
            if let Some(a) = store.get_action(action_id).await.map_err(store_err)? {
                let id = format!(
                    "sig_reversal_{}",
                    r["refund_id"].as_str().unwrap_or(action_id)
                );
                out.extend(Target::of_action(a, SignalKind::RefundReversed, id));
            }
        }
    }
    Ok(out)
}

/// The payer's email of a disputed charge: the event's, else the charge's (Stripe). `None`
/// when neither has one or Stripe does not know the charge; a retriable Stripe error retries.
async fn dispute_email(deps: &OutcomeDeps, data: &Value) -> Result<Option<String>, StepError> {
    if let Some(e) = data["customer_email"].as_str().filter(|e| !e.is_empty()) {
        return Ok(Some(e.to_lowercase()));
    }
    let (Some(payments), Some(charge)) = (
        deps.payments.as_ref(),
        data["charge"].as_str().filter(|c| !c.is_empty()),
    ) else {
        return Ok(None);
    };
    match payments.get_charge(data["account"].as_str(), charge).await {
        Ok(c) => Ok(c
            .email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())),
        Err(e) if e.is_retriable() => Err(StepError::retriable(format!("stripe: {e}"))),
        Err(e) => {
            tracing::warn!(charge, cause = %e, "disputed charge not readable");
            Ok(None)
        }
    }
}

/// A dispute of a charge none of our actions worked on: the customer's (by the payer's email)
/// most recent conversation in the app with an answer of ours sent (an automatic send, or a
/// draft a human sent) within [`DISPUTE_EMAIL_WINDOW_DAYS`] before now. Unmatched: audited.
async fn dispute_by_email(deps: &OutcomeDeps, data: &Value) -> Result<Option<Target>, StepError> {
    let store = deps.store.as_ref();
    let dispute = data["dispute_id"].as_str().unwrap_or_default();
    let app = data["app"].as_str();
    let now = now_ms();
    let email = dispute_email(deps, data).await?;
    let mut found = None;
    if let Some(email) = &email {
        let since = now - DISPUTE_EMAIL_WINDOW_DAYS * DAY_MS;
        for c in store
            .conversations_for_email(email, app, DISPUTE_EMAIL_CONVERSATIONS)
            .await
            .map_err(store_err)?
        {
            let sends = store
                .sends_for_conversation(&c.front_id)
                .await
                .map_err(store_err)?;
            let drafts = store.list_drafts(&c.front_id).await.map_err(store_err)?;
            let answered = sends
                .iter()
                .filter(|x| x.status == support_core::store::AutoSendStatus::Sent)
                .filter_map(|x| x.sent_at)
                .chain(drafts.iter().filter_map(|d| d.sent_at))
                .filter(|at| (since..=now).contains(at))
                .max();
            if let Some(at) = answered {
                found = Some((c, at));
                break;
            }
        }
    }
    let Some((c, answered_at)) = found else {
        let mut ev = AuditEvent::new(
            "outcome.dispute_unmatched",
            "system",
            json!({"dispute_id": dispute, "charge": data["charge"], "event_id": data["event_id"],
                   "why": if email.is_some() {
                       "no answer of ours to the payer's email in the window"
                   } else {
                       "no payer email on the dispute or the charge"
                   },
                   "window_days": DISPUTE_EMAIL_WINDOW_DAYS}),
        );
        if let Some(app) = app {
            ev = ev.app(app);
        }
        store.append_audit(&ev).await.map_err(store_err)?;
        return Ok(None);
    };
    Ok(Some(Target {
        id: format!("sig_dispute_{dispute}_email_{}", c.front_id),
        conversation: c.front_id,
        app: c.app,
        category: None,
        kind: SignalKind::Disputed,
        detail: json!({"matched_by": "customer_email", "answered_at": answered_at}),
    }))
}

async fn stripe_signals(deps: &OutcomeDeps, name: &str, data: &Value) -> Result<Value, StepError> {
    let store = deps.store.as_ref();
    let mut done = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for t in stripe_targets(deps, name, data).await? {
        let conversation = t.conversation.clone();
        if !seen.insert((conversation.clone(), t.kind.as_str())) {
            continue;
        }
        let detail = store
            .conversation_detail(&conversation)
            .await
            .map_err(store_err)?;
        let app = t
            .app
            .clone()
            .or_else(|| detail.conversation.as_ref().and_then(|c| c.app.clone()))
            .unwrap_or_default();
        let category = detail
            .route
            .as_ref()
            .map(|r| r.category.clone())
            .or_else(|| t.category.clone())
            .unwrap_or_else(|| "unknown".into());
        let now = now_ms();
        let mut s = Signal::new(
            t.id,
            t.kind,
            app,
            category,
            conversation.clone(),
            now,
            "stripe",
        )
        .with_bad_outcome_weight(deps.settings.bad_outcome_extra_weight);
        let mut d = json!({"event_id": data["event_id"], "charge": data["charge"]});
        if let (Some(d), Some(extra)) = (d.as_object_mut(), t.detail.as_object()) {
            d.extend(extra.clone());
        }
        s.detail = d;
        let new = record_signal(store, &s, now).await.map_err(store_err)?;
        let demoted = demote_if_bad(deps, &s).await?;
        done.push(
            json!({"conversation_id": conversation, "signal": t.kind.as_str(),
                         "recorded": new, "demoted": demoted}),
        );
    }
    Ok(json!({"signals": done}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn draft(run: &str, at: i64, sent: Option<i64>) -> DraftRow {
        DraftRow {
            id: format!("d_{run}"),
            conversation_id: "cnv_1".into(),
            app: Some("alpha".into()),
            run_id: run.into(),
            front_draft_id: None,
            text: "hello".into(),
            html: None,
            knowledge_sources: json!([]),
            created_at: at,
            sent_text: None,
            sent_at: sent,
        }
    }

    #[test]
    fn the_marker_names_the_draft_else_the_latest_unsent_one() {
        let drafts = vec![
            draft("run_a", 1, None),
            draft("run_b", 2, Some(3)),
            draft("run_c", 4, None),
        ];
        let marked = format!("<p>hi</p>{}", crate::draft::draft_marker("run_a"));
        assert_eq!(marker_run_id(&marked), Some("run_a"));
        assert_eq!(answered_draft(&drafts, &marked).unwrap().run_id, "run_a");
        assert_eq!(
            answered_draft(&drafts, "<p>hi</p>").unwrap().run_id,
            "run_c"
        );
        let all_sent = vec![draft("run_b", 2, Some(3))];
        assert!(answered_draft(&all_sent, "<p>hi</p>").is_none());
        assert!(answered_draft(&[], "<p>hi</p>").is_none());
        assert_eq!(marker_run_id("support-draft:"), None);
    }
}
