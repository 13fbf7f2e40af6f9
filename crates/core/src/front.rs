//! The Front port: the subset of Front's Core API the pipeline uses, with Front's own shapes.
//! `crates/connectors` implements it over HTTP; the Front sandbox serves the same API locally.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Front conversation (`cnv_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// Front's status: `archived`, `unassigned`, `assigned`, `deleted`, `snoozed`, `open`, …
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub assignee: Option<Teammate>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub created_at: Option<f64>,
    /// Everything else Front sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Teammate {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A recipient of a message: `role` is `from`, `to`, `cc`, `bcc` or `reply-to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub handle: String,
    pub role: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A Front message (`msg_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub is_inbound: bool,
    #[serde(default)]
    pub is_draft: bool,
    /// Seconds since the epoch (Front sends a float).
    #[serde(default)]
    pub created_at: Option<f64>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub blurb: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub body: Option<String>,
    /// Plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub author: Option<Teammate>,
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Drafts carry a version; edits and deletes must send it.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl Message {
    /// The first recipient with `role`.
    pub fn recipient(&self, role: &str) -> Option<&str> {
        self.recipients
            .iter()
            .find(|r| r.role == role)
            .map(|r| r.handle.as_str())
    }
}

/// A page of Front results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(rename = "_results")]
    pub results: Vec<T>,
    #[serde(rename = "_pagination", default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub next: Option<String>,
}

/// A draft to create: `mode` is `shared` so teammates see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDraft {
    pub body: String,
    pub channel_id: String,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
}

/// A reply sent to the customer (`POST /conversations/{id}/messages`, Front's
/// `OutboundReplyMessage`): `body` is HTML; `options.archive` defaults to `true` at Front, so we
/// always say what we want. Front has no idempotency key for messages: put a marker in `body`
/// and look for it before retrying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReply {
    pub body: String,
    /// Plain-text version of the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    pub options: ReplyOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyOptions {
    pub archive: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_ids: Vec<String>,
}

/// Front's answer to a reply: 202 `{"status":"accepted","message_uid":"…"}` (the message is
/// created asynchronously; the uid is an alias to look it up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedMessage {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message_uid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("Front: {0} not found")]
    NotFound(String),
    /// 301: the conversation was merged into another.
    #[error("Front: conversation moved to {0}")]
    Moved(String),
    #[error("Front: version conflict (409)")]
    Conflict,
    #[error("Front: rate limited; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("Front: request rejected ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Front: server error ({status})")]
    Server { status: u16 },
    #[error("Front: {0}")]
    Transport(String),
    #[error("Front: unexpected response: {0}")]
    Invalid(String),
}

impl FrontError {
    /// Whether a retry may succeed (rate limits, 5xx, transport errors).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport(_)
        )
    }
}

/// What the pipeline needs from Front.
#[async_trait]
pub trait FrontApi: Send + Sync + 'static {
    async fn get_conversation(&self, id: &str) -> Result<Conversation, FrontError>;
    /// The newest `limit` messages, newest first, following `_pagination.next`.
    async fn list_messages(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<Message>, FrontError>;
    async fn get_message(&self, id: &str) -> Result<Message, FrontError>;
    async fn create_draft(
        &self,
        conversation_id: &str,
        draft: &NewDraft,
    ) -> Result<Message, FrontError>;
    async fn delete_draft(&self, draft_id: &str, version: &str) -> Result<(), FrontError>;
    /// Reply on the conversation: the message is SENT to the customer. Not idempotent.
    async fn send_reply(
        &self,
        conversation_id: &str,
        reply: &NewReply,
    ) -> Result<AcceptedMessage, FrontError>;
    async fn add_comment(&self, conversation_id: &str, body: &str) -> Result<(), FrontError>;
    async fn add_tags(&self, conversation_id: &str, tag_ids: &[String]) -> Result<(), FrontError>;
    async fn remove_tags(
        &self,
        conversation_id: &str,
        tag_ids: &[String],
    ) -> Result<(), FrontError>;
    async fn set_assignee(
        &self,
        conversation_id: &str,
        teammate_id: Option<&str>,
    ) -> Result<(), FrontError>;
}

/// Front application-webhook signature: base64 HMAC-SHA256 of `"{timestamp_ms}:{body}"`.
pub fn webhook_signature(secret: &str, timestamp_ms: &str, body: &[u8]) -> String {
    use base64::Engine;
    let mut msg = Vec::with_capacity(timestamp_ms.len() + 1 + body.len());
    msg.extend_from_slice(timestamp_ms.as_bytes());
    msg.push(b':');
    msg.extend_from_slice(body);
    base64::engine::general_purpose::STANDARD
        .encode(crate::crypto::hmac_sha256(secret.as_bytes(), &msg))
}

/// Why a Front webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookAuthError {
    #[error("missing x-front-signature or x-front-request-timestamp header")]
    Missing,
    #[error("x-front-request-timestamp is not a millisecond timestamp")]
    BadTimestamp,
    #[error("the request is older than 5 minutes (or from the future)")]
    Expired,
    #[error("signature does not match any signing secret")]
    Mismatch,
}

/// Check a Front webhook: a millisecond timestamp within `window_ms` of `now_ms`, and a
/// signature matching any of `secrets` (rotation). Comparison is constant-time.
pub fn verify_webhook(
    secrets: &[&str],
    signature: Option<&str>,
    timestamp_ms: Option<&str>,
    body: &[u8],
    now_ms: i64,
    window_ms: i64,
) -> Result<(), WebhookAuthError> {
    let (Some(sig), Some(ts)) = (signature, timestamp_ms) else {
        return Err(WebhookAuthError::Missing);
    };
    let t: i64 = ts
        .trim()
        .parse()
        .map_err(|_| WebhookAuthError::BadTimestamp)?;
    // Overflow-safe: `i64::MIN`/`i64::MAX` are just outside the window (no panic in debug).
    if !crate::time::within(now_ms, t, window_ms) {
        return Err(WebhookAuthError::Expired);
    }
    let given = sig.trim().as_bytes();
    let ok = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .any(|s| crate::crypto::ct_eq(webhook_signature(s, ts.trim(), body).as_bytes(), given));
    if ok {
        Ok(())
    } else {
        Err(WebhookAuthError::Mismatch)
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;

    const BODY: &[u8] = br#"{"type":"sync","authorization":{"id":"cmp_123"}}"#;

    #[test]
    fn contract_vector() {
        assert_eq!(
            webhook_signature("front_test_secret", "1700000000123", BODY),
            "ue4vv2PVauMOMhkrl1dDiGbx8XRT4vBANMELRuFrXf8="
        );
    }

    #[test]
    fn verification_rules() {
        let sig = "ue4vv2PVauMOMhkrl1dDiGbx8XRT4vBANMELRuFrXf8=";
        let now = 1_700_000_000_123 + 1000;
        let w = 300_000;
        assert_eq!(
            verify_webhook(
                &["front_test_secret"],
                Some(sig),
                Some("1700000000123"),
                BODY,
                now,
                w
            ),
            Ok(())
        );
        assert_eq!(
            verify_webhook(
                &["old", "front_test_secret"],
                Some(sig),
                Some("1700000000123"),
                BODY,
                now,
                w
            ),
            Ok(())
        );
        assert_eq!(
            verify_webhook(&["other"], Some(sig), Some("1700000000123"), BODY, now, w),
            Err(WebhookAuthError::Mismatch)
        );
        assert_eq!(
            verify_webhook(
                &["front_test_secret"],
                Some("short"),
                Some("1700000000123"),
                BODY,
                now,
                w
            ),
            Err(WebhookAuthError::Mismatch)
        );
        assert_eq!(
            verify_webhook(
                &["front_test_secret"],
                Some(sig),
                Some("1700000000123"),
                b"{}",
                now,
                w
            ),
            Err(WebhookAuthError::Mismatch)
        );
        assert_eq!(
            verify_webhook(
                &["front_test_secret"],
                Some(sig),
                Some("1700000000123"),
                BODY,
                now + 301_000,
                w
            ),
            Err(WebhookAuthError::Expired)
        );
        assert_eq!(
            verify_webhook(&["front_test_secret"], None, Some("1"), BODY, now, w),
            Err(WebhookAuthError::Missing)
        );
        assert_eq!(
            verify_webhook(&["front_test_secret"], Some(sig), Some("abc"), BODY, now, w),
            Err(WebhookAuthError::BadTimestamp)
        );
        assert_eq!(
            verify_webhook(&[""], Some(sig), Some("1700000000123"), BODY, now, w),
            Err(WebhookAuthError::Mismatch)
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let sig = "ue4vv2PVauMOMhkrl1dDiGbx8XRT4vBANMELRuFrXf8=";
        let now = 1_700_000_000_123;
        for ts in [
            i64::MIN.to_string(),
            i64::MAX.to_string(),
            (i64::MIN + 1).to_string(),
            "-1".into(),
        ] {
            assert_eq!(
                verify_webhook(
                    &["front_test_secret"],
                    Some(sig),
                    Some(&ts),
                    BODY,
                    now,
                    300_000
                ),
                Err(WebhookAuthError::Expired),
                "{ts}"
            );
        }
        // A signed timestamp at the extremes, checked at the extremes of `now`.
        for (ts, now) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (i64::MIN, 0)] {
            let t = ts.to_string();
            let sig = webhook_signature("front_test_secret", &t, BODY);
            assert_eq!(
                verify_webhook(
                    &["front_test_secret"],
                    Some(&sig),
                    Some(&t),
                    BODY,
                    now,
                    300_000
                ),
                Err(WebhookAuthError::Expired),
                "{ts} at {now}"
            );
        }
        for garbage in [
            "",
            "9223372036854775808",
            "-9223372036854775809",
            "1e3",
            "0x10",
            "١٢",
        ] {
            assert_eq!(
                verify_webhook(
                    &["front_test_secret"],
                    Some(sig),
                    Some(garbage),
                    BODY,
                    now,
                    300_000
                ),
                Err(WebhookAuthError::BadTimestamp),
                "{garbage:?}"
            );
        }
    }
}
