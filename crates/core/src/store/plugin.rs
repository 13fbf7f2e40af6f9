//! What the Front sidebar plugin stores: one-time link tickets (a signed-in user binding a Front
//! teammate to their account; the plugin redeems the ticket once for its signed credential) and
//! the agents' ratings of our drafts (good/bad with a note: a signal for the trust work).

use super::{Rating, StoreResult};
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A link ticket: written when a signed-in user confirms the link, redeemed once by the plugin
/// that holds the `state` whose hash keys it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginLinkTicket {
    /// SHA-256 (hex) of the plugin's random `state`; the state itself is never stored.
    pub state_hash: String,
    pub user_id: String,
    /// The Front teammate id the user confirmed (attribution).
    pub teammate_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub redeemed_at: Option<Millis>,
}

/// An agent's rating of one of our drafts, from the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftRating {
    pub id: String,
    /// The Front conversation id.
    pub conversation_id: String,
    /// The run whose draft was rated, when known.
    pub run_id: Option<String>,
    pub rating: Rating,
    pub note: Option<String>,
    pub teammate_id: Option<String>,
    /// The platform user, when the plugin is linked.
    pub user_id: Option<String>,
    pub created_at: Millis,
}

#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Record a ticket; `false` when one with the same state exists (nothing written).
    async fn insert_link_ticket(&self, t: &PluginLinkTicket) -> StoreResult<bool>;
    /// Redeem the ticket of `state_hash` once, before it expires: the ticket, or `None` when it
    /// does not exist, expired or was redeemed already.
    async fn redeem_link_ticket(
        &self,
        state_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<PluginLinkTicket>>;
    async fn insert_draft_rating(&self, r: &DraftRating) -> StoreResult<()>;
    /// A conversation's ratings, newest first.
    async fn list_draft_ratings(&self, conversation_id: &str) -> StoreResult<Vec<DraftRating>>;
}
