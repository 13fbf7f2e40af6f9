//! The platform's copy of Front conversations and their messages.

use crate::pipeline::inbound::Direction;
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;

/// Conversation status as Front and the platform understand it.
pub const CONVERSATION_STATUSES: &[&str] =
    &["new", "open", "pending", "on_hold", "solved", "closed"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub id: String,
    pub front_id: String,
    pub app: Option<String>,
    pub customer_email: Option<String>,
    pub subject: Option<String>,
    pub status: ConversationStatus,
    pub escalation: Option<String>,
    pub escalation_reason: Option<String>,
    pub assignee: Option<String>,
    pub sla_due_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRow {
    pub id: String,
    pub front_id: String,
    pub conversation_id: String,
    /// `inbound` or `outbound`.
    pub direction: Direction,
    pub author: Option<String>,
    /// Plain text body; `None` once purged.
    pub body: Option<String>,
    /// The raw (HTML) body; `None` once purged.
    pub raw_body: Option<String>,
    pub sent_at: Millis,
    pub purged_at: Option<Millis>,
}

/// The platform's copy of Front conversations and their messages.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn upsert_conversation(&self, c: &ConversationRow) -> StoreResult<()>;
    async fn get_conversation(&self, front_id: &str) -> StoreResult<Option<ConversationRow>>;
    async fn list_conversations(
        &self,
        app: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>>;
    async fn upsert_message(&self, m: &MessageRow) -> StoreResult<()>;
    async fn list_messages(&self, conversation_id: &str) -> StoreResult<Vec<MessageRow>>;
}
