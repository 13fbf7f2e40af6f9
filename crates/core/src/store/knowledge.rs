//! Trust scores, the knowledge base and canned responses.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRow {
    pub app: String,
    pub category: String,
    pub score: f64,
    pub samples: i64,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbDocument {
    pub id: String,
    pub app: String,
    pub title: String,
    pub source: Option<String>,
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbChunk {
    pub id: String,
    pub document_id: String,
    pub app: String,
    pub ordinal: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: String,
    pub app: Option<String>,
    pub name: String,
    /// A pattern the router matches the inbound message against.
    pub trigger: String,
    /// A `{{var}}` template.
    pub body: String,
    pub updated_at: Millis,
}

/// Trust scores, the knowledge base and canned responses.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    async fn upsert_trust(&self, t: &TrustRow) -> StoreResult<()>;
    async fn get_trust(&self, app: &str, category: &str) -> StoreResult<Option<TrustRow>>;
    async fn list_trust(&self, app: Option<&str>) -> StoreResult<Vec<TrustRow>>;
    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> StoreResult<()>;
    async fn list_kb_chunks(&self, app: &str) -> StoreResult<Vec<KbChunk>>;
    async fn upsert_canned(&self, c: &CannedResponse) -> StoreResult<()>;
    async fn list_canned(&self, app: Option<&str>) -> StoreResult<Vec<CannedResponse>>;
}
