//! The event port: how the domain hands work to the durable runner. The host implements it
//! with the embedded executor (or Inngest's event API); names and payloads follow
//! `shared/CONTRACTS.md` ("Our own events").

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const INBOUND_RECEIVED: &str = "support/inbound.received";
pub const OUTBOUND_SENT: &str = "support/outbound.sent";
/// Watch a conversation for the reply to our draft (`not_sent` when none comes in the window):
/// `{event_id, app_id, conversation_id}`, sent by the Front intake beside each inbound event.
pub const REPLY_WATCH: &str = "support/reply.watch";
pub const COMMENT_RECEIVED: &str = "support/comment.received";
pub const CONVERSATION_SNOOZED: &str = "support/conversation.snoozed";
pub const CONVERSATION_ARCHIVED: &str = "support/conversation.archived";
/// Front's `conversation_reopened`: `{event_id, app_id, conversation_id, …}` like the others.
pub const CONVERSATION_REOPENED: &str = "support/conversation.reopened";
/// A change of a conversation's SLA clock, sent by the Front intake beside the inbound, outbound,
/// archive and reopen events (its own event, so those start exactly the runs they did):
/// `{event_id, app_id, conversation_id, message_id, front_type, emitted_at}`.
pub const SLA_CLOCK: &str = "support/sla.clock";
/// A conversation's SLA clock must be re-evaluated (the route decided its priority, a human
/// changed it): `{conversation_id, app_id, reason}`.
pub const SLA_CHANGED: &str = "support/sla.changed";
pub const APPROVAL_REQUESTED: &str = "support/approval.requested";
pub const APPROVAL_DECIDED: &str = "support/approval.decided";
/// An approved action ran: `{action_id, app_id, conversation_id, result}`.
pub const ACTION_EXECUTED: &str = "support/action.executed";
/// An approved action failed (and is dead-lettered): `{action_id, app_id, conversation_id, error}`.
pub const ACTION_FAILED: &str = "support/action.failed";
/// An admin asked to retry a dead-lettered action: `{action_id, attempt, actor}`.
pub const ACTION_RETRY_REQUESTED: &str = "support/action.retry_requested";
/// A product's Stripe Connect account disconnected the platform (`account.application.deauthorized`).
pub const STRIPE_ACCOUNT_DEAUTHORIZED: &str = "stripe/account.deauthorized";
/// A customer disputed a charge (`charge.dispute.created`).
pub const STRIPE_DISPUTE_CREATED: &str = "stripe/dispute.created";
/// A charge was refunded, by us or outside the platform (`charge.refunded`).
pub const STRIPE_CHARGE_REFUNDED: &str = "stripe/charge.refunded";

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
