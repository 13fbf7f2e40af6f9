//! `POST /webhooks/front`: Front's application webhook.
//!
//! Verify the signature (base64 HMAC-SHA256 of `"{ts}:{body}"`, ms timestamp, 5-minute window,
//! any configured secret), answer the challenge handshake, find the app by inbox, and hand the
//! event to the durable runner, which drops duplicates by event id. Nothing slow happens here:
//! Front wants an answer within 5 s, so the work is recorded and enqueued only.

use crate::FrontError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::events::{self, OutEvent};
use support_core::time::now_ms;
use support_host::Platform;

const WINDOW_MS: i64 = 5 * 60 * 1000;

/// Front's envelope type → our runner event name. `None`: acknowledged and ignored.
pub fn runner_event(front_type: &str) -> Option<&'static str> {
    Some(match front_type {
        "inbound_received" => events::INBOUND_RECEIVED,
        "outbound_sent" => events::OUTBOUND_SENT,
        "new_comment_added" => events::COMMENT_RECEIVED,
        "conversation_snoozed" | "conversation_snooze_expired" => events::CONVERSATION_SNOOZED,
        "conversation_archived" => events::CONVERSATION_ARCHIVED,
        "conversation_reopened" => events::CONVERSATION_REOPENED,
        _ => return None,
    })
}

/// Inbox ids named by an event's `source` or `target`.
fn inbox_ids(payload: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for side in ["source", "target"] {
        let part = &payload[side];
        if part["_meta"]["type"] == "inboxes" {
            if let Some(items) = part["data"].as_array() {
                ids.extend(
                    items
                        .iter()
                        .filter_map(|i| i["id"].as_str().map(str::to_string)),
                );
            } else if let Some(id) = part["data"]["id"].as_str() {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// A verified Front webhook body, parsed by [`parse_webhook`].
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A type we do not handle (see [`runner_event`]): acknowledged and ignored.
    Ignored { kind: String },
    /// An event for the runner.
    Event(FrontEvent),
}

/// What the intake takes from a Front event it handles.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontEvent {
    /// Front's envelope `type`.
    pub kind: String,
    /// Our runner event name for `kind`.
    pub name: &'static str,
    /// `payload.id`, Front's event id (non-empty).
    pub event_id: String,
    pub conversation_id: Option<String>,
    /// The message id when the event's target is a message.
    pub message_id: Option<String>,
    /// Inbox ids named by the event's source or target.
    pub inboxes: Vec<String>,
    /// `payload.emitted_at`, as sent.
    pub emitted_at: Value,
}

/// Parse a Front webhook body (after its signature was checked). Any input gives `Ok` or a
/// [`FrontError::BadRequest`] (400 `bad_request`), never a panic; this is the function the
/// property tests (`tests/prop_intake.rs`) drive with arbitrary bodies.
pub fn parse_webhook(body: &[u8]) -> Result<Parsed, FrontError> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| FrontError::BadRequest(format!("body is not JSON: {e}")))?;
    let kind = envelope["type"].as_str().unwrap_or_default().to_string();
    let Some(name) = runner_event(&kind) else {
        return Ok(Parsed::Ignored { kind });
    };
    let payload = &envelope["payload"];
    let event_id = payload["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FrontError::BadRequest("payload.id (the event id) is missing".into()))?
        .to_string();
    let conversation_id = payload["conversation"]["id"].as_str().map(str::to_string);
    let message_id = if payload["target"]["_meta"]["type"] == "message" {
        payload["target"]["data"]["id"].as_str().map(str::to_string)
    } else {
        None
    };
    Ok(Parsed::Event(FrontEvent {
        kind,
        name,
        event_id,
        conversation_id,
        message_id,
        inboxes: inbox_ids(payload),
        emitted_at: payload["emitted_at"].clone(),
    }))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub async fn webhook(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, FrontError> {
    let secrets: Vec<&str> = p
        .settings
        .front
        .signing_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    if let Err(e) = support_core::front::verify_webhook(
        &secrets,
        header(&headers, "x-front-signature"),
        header(&headers, "x-front-request-timestamp"),
        &body,
        now_ms(),
        WINDOW_MS,
    ) {
        tracing::warn!(reason = %e, "Front webhook refused");
        metrics::counter!("front_webhooks_total", "outcome" => "unauthorized").increment(1);
        // Sampled: a flood of unsigned requests writes a few rows a minute, not one each.
        let ev = AuditEvent::new(
            "front.webhook_refused",
            "front",
            json!({"code": "invalid_signature", "reason": e.to_string()}),
        );
        if let Err(err) =
            support_host::limits::audit_refusal(p.store.as_ref(), "front", "invalid_signature", &ev)
                .await
        {
            tracing::warn!(cause = %err, "cannot audit a refused Front webhook");
        }
        return Err(FrontError::Unauthorized(e.to_string()));
    }
    if let Some(challenge) = header(&headers, "x-front-challenge") {
        return Ok(Json(json!({"challenge": challenge})));
    }
    let event = match parse_webhook(&body)? {
        Parsed::Ignored { kind } => {
            metrics::counter!("front_webhooks_total", "outcome" => "ignored_type").increment(1);
            return Ok(Json(json!({"status": "ignored", "type": kind})));
        }
        Parsed::Event(event) => event,
    };
    let FrontEvent {
        kind,
        name,
        event_id,
        conversation_id,
        message_id,
        inboxes,
        emitted_at,
    } = event;
    let mut app = None;
    for inbox in &inboxes {
        if let Some(a) = p
            .registry
            .by_inbox(inbox)
            .await
            .map_err(|e| FrontError::Internal(e.to_string()))?
        {
            app = Some(a.slug);
            break;
        }
    }
    if app.is_none() && !inboxes.is_empty() {
        p.store
            .append_audit(
                &AuditEvent::new("webhook.ignored", "front", json!({"reason": "unknown inbox", "inboxes": inboxes, "event_id": event_id, "type": kind}))
                    .conversation(conversation_id.clone().unwrap_or_default()),
            )
            .await?;
        p.store
            .record_webhook_receipt("front", &event_id, now_ms())
            .await?;
        metrics::counter!("front_webhooks_total", "outcome" => "unknown_inbox").increment(1);
        return Ok(Json(
            json!({"status": "ignored", "reason": "unknown inbox"}),
        ));
    }

    let data = json!({
        "event_id": event_id,
        "app_id": app,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "front_type": kind,
        "emitted_at": emitted_at,
    });
    // The enqueued event is the receipt: its id is `front:{event id}`, and the runner (the
    // embedded one by a unique key, Inngest by event-id deduplication) stores it once. A retry
    // by Front is acknowledged again and absorbed there, so no separate receipt write (or
    // pre-read) sits on this path; concurrent webhooks share one commit (`Engine::send`).
    let mut out = vec![OutEvent {
        name: name.to_string(),
        data: data.clone(),
        id: Some(format!("front:{event_id}")),
    }];
    // The learning loop watches for the reply to the draft this message will get (its own
    // event, so the inbound event starts exactly one run).
    if name == events::INBOUND_RECEIVED {
        out.push(OutEvent {
            name: events::REPLY_WATCH.to_string(),
            data: data.clone(),
            id: Some(format!("front-watch:{event_id}")),
        });
    }
    // The SLA clock runs from the same events (`support_workflow::sla`), through its own event.
    if matches!(
        name,
        events::INBOUND_RECEIVED
            | events::OUTBOUND_SENT
            | events::CONVERSATION_ARCHIVED
            | events::CONVERSATION_REOPENED
    ) {
        out.push(OutEvent {
            name: events::SLA_CLOCK.to_string(),
            data,
            id: Some(format!("front-sla:{event_id}")),
        });
    }
    p.events
        .send(out)
        .await
        .map_err(|e| FrontError::Unavailable(e.to_string()))?;
    metrics::counter!("front_webhooks_total", "outcome" => "accepted").increment(1);
    Ok(Json(json!({"status": "accepted", "event_id": event_id})))
}
