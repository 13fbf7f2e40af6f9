//! The event port: how the domain hands work to the durable runner. The host implements it
//! with the embedded executor (or Inngest's event API); names and payloads follow
//! `shared/CONTRACTS.md` ("Our own events").

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const INBOUND_RECEIVED: &str = "support/inbound.received";
pub const OUTBOUND_SENT: &str = "support/outbound.sent";
pub const COMMENT_RECEIVED: &str = "support/comment.received";
pub const CONVERSATION_SNOOZED: &str = "support/conversation.snoozed";
pub const CONVERSATION_ARCHIVED: &str = "support/conversation.archived";
pub const APPROVAL_REQUESTED: &str = "support/approval.requested";
pub const APPROVAL_DECIDED: &str = "support/approval.decided";

/// An event for the runner. `id` deduplicates: the same id is processed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutEvent {
    pub name: String,
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot enqueue events: {0}")]
pub struct EventSinkError(pub String);

/// Send events to the durable runner. Returns the stored event ids.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn send(&self, events: Vec<OutEvent>) -> Result<Vec<String>, EventSinkError>;
}
