//! The storage port. `crates/store` implements it on SQLite and Postgres; one conformance suite
//! runs against both.

use async_trait::async_trait;
use serde::Serialize;

mod sessions;
pub use sessions::*;

mod dashboard;
pub use dashboard::*;

// The stored statuses and kinds live in the neutral `crate::status` (the pipeline uses them
// too); re-exported here so `store::ActionStatus` and friends keep their paths.
pub use crate::status::*;

mod apps;
pub use apps::*;

mod audit;
pub use audit::*;

mod identity;
pub use identity::*;

mod delivery;
pub use delivery::*;

mod conversations;
pub use conversations::*;

mod retention;
pub use retention::*;

mod approvals;
pub use approvals::*;

mod knowledge;
pub use knowledge::*;

mod admin;
pub use admin::*;

mod plugin;
pub use plugin::*;

mod autosend;
pub use autosend::*;

mod signals;
pub use signals::*;

mod sla;
pub use sla::*;
mod analytics;
pub use analytics::*;

mod vectors;
pub use vectors::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which migrations are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    pub backend: String,
    pub expected: usize,
    pub applied: usize,
    pub pending: Vec<String>,
}

impl MigrationStatus {
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The storage port's traits, to call its methods on a concrete store (`Db`):
/// `use support_core::store::prelude::*;` (through `dyn Store` they need no import).
pub mod prelude {
    pub use super::{
        AnalyticsStore, AppStore, ApprovalStore, AuditStore, AutoSendStore, ChunkVectorStore,
        ConversationStore, DeliveryStore, IdentityStore, KnowledgeStore, RetentionStore,
        SignalStore, SlaStore, Store,
    };
}

/// The storage port.
#[async_trait]
pub trait Store:
    AppStore
    + AuditStore
    + IdentityStore
    + DeliveryStore
    + ConversationStore
    + RetentionStore
    + ApprovalStore
    + KnowledgeStore
    + SessionStore
    + AdminStore
    + DashboardStore
    + PluginStore
    + AutoSendStore
    + SignalStore
    + SlaStore
    + AnalyticsStore
    + ChunkVectorStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
}
