//! Retention: purging message bodies, decided approvals' payloads and the runner's copies in batches.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;

/// Which rows a retention batch covers: those of one registered app (conversations and actions
/// whose `app` is the slug), or those of no registered app (no app, or an app since removed),
/// which follow the global defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "app")]
pub enum RetentionScope {
    App(String),
    Unowned,
}

/// Retention: purging message bodies, decided approvals' payloads and the runner's copies in batches.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Drop bodies of messages sent before `before`; metadata stays. Returns how many.
    async fn purge_message_bodies(&self, before: Millis, at: Millis) -> StoreResult<u64>;
    /// Retention: drop the bodies of at most `limit` messages of `scope` sent before `before`
    /// and not purged yet (oldest first), setting `purged_at = at`. Returns how many.
    async fn purge_message_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> StoreResult<u64>;
    /// Retention: purge the payload of at most `limit` approvals of `scope` decided before
    /// `before` (see [`RetentionScope`]): the approval's draft and capability, its action's
    /// params (`{}`), reasoning and result. Pending approvals, actions still in flight
    /// (`pending_approval`, `approved`, `executing`) and actions with an unresolved dead letter
    /// are left alone. Sets `approvals.purged_at = at`. Returns how many approvals.
    async fn purge_approval_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> StoreResult<u64>;
    /// When an approval's payload was purged (`None`: not purged, or no such approval).
    async fn approval_purged_at(&self, id: &str) -> StoreResult<Option<Millis>>;
    /// Retention of the runner's copies: for at most `limit` runs that ended before `before`
    /// (completed, or failed/cancelled without an unresolved dead letter), replace every
    /// memoized step result with `{"purged": true}`, drop the output and the event's data, and
    /// set `purged_at = at`. Returns how many runs.
    async fn purge_run_batch(&self, before: Millis, at: Millis, limit: i64) -> StoreResult<u64>;
    /// Retention of the runner's copies: replace the data of at most `limit` events processed
    /// before `before` whose runs are all purged (or that started none) with
    /// `{"purged": true}`, and set `purged_at = at`. Returns how many events.
    async fn purge_event_batch(&self, before: Millis, at: Millis, limit: i64) -> StoreResult<u64>;
}
