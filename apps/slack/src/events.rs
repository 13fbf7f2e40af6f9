//! `POST /slack/events`: the Events API. The request is signed like interactions (checked
//! against every signing secret, 5-minute window). `url_verification` answers the challenge
//! Slack sends when the request URL is saved; `event_callback`s are acknowledged at once and
//! deduplicated by `event_id` (Slack retries with `X-Slack-Retry-Num` when it got no 200 in
//! 3 s). `app_uninstalled` and `tokens_revoked` are audited, since approvals can no longer be
//! posted; other event types are acknowledged and ignored.

use crate::{SlackError, verify};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::time::now_ms;
use support_host::Platform;

/// Event types that change what the platform can do in Slack.
const AUDITED: &[&str] = &["app_uninstalled", "tokens_revoked"];

/// A verified Events API body, parsed by [`parse_envelope`].
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Slack checks the request URL: answer the `challenge`.
    UrlVerification { challenge: String },
    /// An event, with its non-empty `event_id` and its `event.type` (empty when absent).
    EventCallback {
        event_id: String,
        kind: String,
        envelope: Value,
    },
    /// Another envelope type (or none): acknowledged and ignored.
    Other { kind: Option<String> },
}

/// Parse an Events API body (after its signature was checked). Any input gives `Ok` or a
/// [`SlackError::BadPayload`] (400 `bad_payload`), never a panic; the property tests
/// (`tests/prop_slack.rs`) drive it with arbitrary bodies.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, SlackError> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| SlackError::BadPayload(format!("body is not JSON: {e}")))?;
    match envelope["type"].as_str() {
        Some("url_verification") => {
            let challenge = envelope["challenge"].as_str().ok_or_else(|| {
                SlackError::BadPayload("url_verification without a challenge".into())
            })?;
            Ok(Envelope::UrlVerification {
                challenge: challenge.to_string(),
            })
        }
        Some("event_callback") => {
            let event_id = envelope["event_id"]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| SlackError::BadPayload("event_callback without an event_id".into()))?
                .to_string();
            let kind = envelope["event"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            Ok(Envelope::EventCallback {
                event_id,
                kind,
                envelope,
            })
        }
        other => Ok(Envelope::Other {
            kind: other.map(str::to_string),
        }),
    }
}

pub async fn events(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, SlackError> {
    if let Err(e) = verify::verify_request(
        &p.settings.slack.signing_secrets,
        &headers,
        &body,
        now_ms() / 1000,
    ) {
        let ev = AuditEvent::new(
            "slack.request_refused",
            "slack",
            json!({"code": "invalid_signature", "error": e.to_string(), "endpoint": "events"}),
        );
        let _ = support_host::limits::audit_refusal(
            p.store.as_ref(),
            "slack",
            "invalid_signature",
            &ev,
        )
        .await;
        return Err(SlackError::InvalidSignature(e.to_string()));
    }
    match parse_envelope(&body)? {
        Envelope::UrlVerification { challenge } => Ok(Json(json!({ "challenge": challenge }))),
        Envelope::EventCallback {
            event_id,
            kind,
            envelope,
        } => {
            let (event_id, kind) = (event_id.as_str(), kind.as_str());
            if !p
                .store
                .record_webhook_receipt("slack", event_id, now_ms())
                .await
                .map_err(|e| SlackError::Internal(e.to_string()))?
            {
                return Ok(Json(json!({"status": "duplicate", "event_id": event_id})));
            }
            if !AUDITED.contains(&kind) {
                return Ok(Json(json!({"status": "ignored", "type": kind})));
            }
            p.store
                .append_audit(&AuditEvent::new(
                    format!("slack.{kind}"),
                    "slack",
                    json!({"event_id": event_id, "team_id": envelope["team_id"],
                           "api_app_id": envelope["api_app_id"], "event": envelope["event"]}),
                ))
                .await
                .map_err(|e| SlackError::Internal(e.to_string()))?;
            tracing::warn!(
                event = kind,
                "Slack access was removed: approvals cannot be posted until the app is reinstalled"
            );
            Ok(Json(json!({"status": "accepted", "event_id": event_id})))
        }
        Envelope::Other { kind } => Ok(Json(json!({"status": "ignored", "type": kind}))),
    }
}
