//! The learning loop's signals (append-only rows, see [`crate::trust`]) and the cached trust
//! per app × category.

use super::StoreResult;
use crate::time::Millis;
use crate::trust::Signal;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The last trust computed for an app × category (a cache: `trust::trust_at` over the category's
/// signals is the truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustCacheRow {
    pub app: String,
    pub category: String,
    pub score: f64,
    pub effective_samples: f64,
    /// Signals counted.
    pub signals: i64,
    /// The score now minus the score 7 days earlier.
    pub trend: f64,
    /// The time the numbers are for.
    pub computed_at: Millis,
}

#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Append a signal; `false` (and nothing written) when one with the same id exists.
    async fn record_signal(&self, s: &Signal) -> StoreResult<bool>;
    /// An app × category's signals, oldest first.
    async fn signals_for(&self, app: &str, category: &str) -> StoreResult<Vec<Signal>>;
    /// A conversation's signals, oldest first.
    async fn signals_for_conversation(&self, conversation_id: &str) -> StoreResult<Vec<Signal>>;
    /// The app × category pairs that have signals (of `app`, when given), sorted.
    async fn signal_categories(&self, app: Option<&str>) -> StoreResult<Vec<(String, String)>>;
    /// Replace the cached trust of the row's app × category.
    async fn put_trust_cache(&self, row: &TrustCacheRow) -> StoreResult<()>;
    /// Cached trust rows (of `app`, when given), sorted by app and category.
    async fn trust_cache(&self, app: Option<&str>) -> StoreResult<Vec<TrustCacheRow>>;
    /// The actions working on Stripe charge `charge_id` (`chargeId` of their parameters), oldest
    /// first: how a dispute or a reversed refund finds the conversations it is a bad outcome of.
    async fn actions_for_charge(
        &self,
        charge_id: &str,
    ) -> StoreResult<Vec<crate::store::ActionRow>>;
    /// The conversations of the customer `email` (compared lowercased, as stored), in `app`
    /// when given, most recently updated first, at most `limit` (1..=100): how a dispute of a
    /// charge none of our actions worked on finds the conversation it is a bad outcome of.
    async fn conversations_for_email(
        &self,
        email: &str,
        app: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<crate::store::ConversationRow>>;
}
