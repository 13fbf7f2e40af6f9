//! The `hydrate` step: re-fetch the conversation from Front, look the customer up through the
//! product's SDK, keep the platform's copy of the conversation and its messages, and record the
//! [`Snapshot`] every later step (and a replay) decides on.

use serde_json::{Value, json};
use support_core::front::Message;
use support_core::pipeline::agent::{self};
use support_core::pipeline::inbound::{CustomerFacts, Direction, Inbound, ThreadMessage};
use support_core::pipeline::text;
use support_core::store::{ConversationRow, ConversationStatus, MessageRow};
use support_core::time::now_ms;
use support_steps::{Ctx, Event, StepError};

use crate::context;
use crate::inbound::{InboundDeps, Snapshot, THREAD_DEPTH, audit, front_err, store_err};
use crate::tools::PlatformTools;

pub(crate) fn message_text(m: &Message) -> String {
    match (&m.text, &m.body) {
        (Some(t), _) if !t.trim().is_empty() => t.clone(),
        (_, Some(html)) => text::strip_html(html),
        _ => m.blurb.clone().unwrap_or_default(),
    }
}

pub(crate) fn platform_status(front_status: Option<&str>) -> ConversationStatus {
    match front_status {
        Some("archived") => ConversationStatus::Solved,
        Some("deleted") => ConversationStatus::Closed,
        Some("snoozed") => ConversationStatus::OnHold,
        Some("assigned" | "unassigned" | "open") => ConversationStatus::Open,
        _ => ConversationStatus::New,
    }
}

pub(crate) async fn hydrate(
    ctx: &Ctx,
    ev: &Event,
    deps: &InboundDeps,
) -> Result<Snapshot, StepError> {
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
    // The customer's facts: from the context cache when this message was hydrated before
    // (a re-run), else from the product's SDK, then cached (`crate::context`).
    let context_id = context::context_id(&conv_id, &newest.id);
    let versions = context::StoreVersions(deps.store.as_ref());
    let (cached, lookup) = context::load(&deps.context, &versions, &context_id, &email, now).await;
    let facts = match cached {
        Some(c) => c.facts,
        None => {
            let tools = PlatformTools::new(deps, &app, &trace, &conv_id).await?;
            let (facts, complete) = if text::emails(&email).is_empty() {
                let facts = CustomerFacts {
                    email: email.clone(),
                    ..CustomerFacts::default()
                };
                (facts, true)
            } else {
                agent::hydrate_checked(&tools, &email, now).await
            };
            // A lookup that failed is not kept: a re-run asks the product again.
            if complete {
                let ctx = context::HydratedContext {
                    facts: facts.clone(),
                    searches: Vec::new(),
                };
                context::save(&deps.context, &context_id, ctx, now).await;
            }
            facts
        }
    };

    // Keep the platform's copy of the conversation.
    let status = platform_status(conv.status.as_deref());
    let existing = deps
        .store
        .get_conversation(&conv_id)
        .await
        .map_err(store_err)?;
    let row = ConversationRow {
        id: existing
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| support_core::ids::new_id("conv")),
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
                id: support_core::ids::new_id("msg"),
                front_id: m.id.clone(),
                conversation_id: conv_id.clone(),
                direction: if m.is_inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
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
               "purchases": snapshot.facts.purchases.len(), "via_form": snapshot.inbound.via_form(),
               "context_cache": context::lookup_name(lookup)}),
    )
    .await?;
    Ok(snapshot)
}
