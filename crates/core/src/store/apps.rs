//! Onboarded products: the app rows the registry reads and writes.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// An onboarded product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub front_inbox_ids: Vec<String>,
    pub sdk_base_url: String,
    /// Sealed with the master key (see `registry`); never plaintext.
    pub secrets_enc: String,
    pub stripe_account: Option<String>,
    pub policy: Value,
    pub capabilities: Value,
    /// `connected`, `disconnected` (e.g. Stripe deauthorized).
    pub status: AppStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Onboarded products: the app rows the registry reads and writes.
#[async_trait]
pub trait AppStore: Send + Sync {
    async fn insert_app(&self, app: &AppRow) -> StoreResult<()>;
    async fn update_app(&self, app: &AppRow) -> StoreResult<()>;
    async fn get_app(&self, slug: &str) -> StoreResult<Option<AppRow>>;
    async fn find_app_by_inbox(&self, inbox_id: &str) -> StoreResult<Option<AppRow>>;
    async fn list_apps(&self) -> StoreResult<Vec<AppRow>>;
    async fn delete_app(&self, slug: &str) -> StoreResult<bool>;
}
