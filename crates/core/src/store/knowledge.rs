//! Trust scores, the knowledge base and canned responses.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;
use crate::knowledge::{ChunkDraft, Visibility};

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

// The knowledge and canned-response types the pipeline reads live in the neutral
// `crate::corpus`; re-exported here so `store::KbChunk` keeps its path.
pub use crate::corpus::{CannedResponse, KbChunk};

/// An article as it is now (its current version's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleRow {
    pub id: String,
    pub app: String,
    pub title: String,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    /// Where it was imported from (a path or URL); the import matches on (app, source).
    pub source: Option<String>,
    pub url: Option<String>,
    pub current_version: i64,
    pub content_hash: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One version of an article; versions are never changed once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleVersionRow {
    pub article_id: String,
    pub version: i64,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub url: Option<String>,
    pub content_hash: String,
    /// Who made it (`import`, a user id).
    pub author: String,
    pub created_at: Millis,
}

/// A chunk of one article version (a knowledge domain type; the store persists it).
pub use crate::knowledge::ArticleChunkRow;

/// A new version of an article (new or existing), as the import, the API and the page write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleInput {
    /// Edit this article; `None` finds it by (app, source) or creates one.
    pub id: Option<String>,
    pub app: String,
    pub source: Option<String>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub url: Option<String>,
    /// `knowledge::content_hash` of the fields above.
    pub content_hash: String,
    pub chunks: Vec<ChunkDraft>,
    pub author: String,
    pub at: Millis,
}

/// What writing an [`ArticleInput`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PutKind {
    Created,
    Updated,
    /// Same content hash as the current version: nothing written.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOutcome {
    pub article_id: String,
    pub version: i64,
    pub kind: PutKind,
    /// Drafts (not yet sent) marked stale by this new version.
    pub stale_drafts: u64,
    /// Canned responses whose current version cites an older version, marked stale.
    #[serde(default)]
    pub stale_canned: u64,
}

pub use crate::corpus::CannedSource;

/// A canned response as it is now (its current version's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedRow {
    pub id: String,
    /// `None`: every app.
    pub app: Option<String>,
    pub name: String,
    pub trigger: String,
    /// The `{{var}}` template.
    pub body: String,
    pub current_version: i64,
    /// The article versions the current version cites.
    pub sources: Vec<CannedSource>,
    /// A cited article changed (or was removed) after this version was written; the router
    /// does not answer with a stale canned response until someone writes a new version.
    pub stale: bool,
    pub updated_at: Millis,
}

impl CannedRow {
    /// The response as the router reads it.
    pub fn response(&self) -> CannedResponse {
        CannedResponse {
            id: self.id.clone(),
            app: self.app.clone(),
            name: self.name.clone(),
            trigger: self.trigger.clone(),
            body: self.body.clone(),
            updated_at: self.updated_at,
            sources: self.sources.clone(),
        }
    }
}

/// One version of a canned response; never changed once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedVersionRow {
    pub canned_id: String,
    pub version: i64,
    pub name: String,
    pub trigger: String,
    pub body: String,
    pub sources: Vec<CannedSource>,
    /// Who wrote it (a user id, `system`).
    pub author: String,
    pub created_at: Millis,
}

/// A new version of a canned response (new or existing), as the API, the CLI and the page
/// write it. The template is checked by the caller (`corpus::template_variables`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedInput {
    /// This response (created with that id when it does not exist); `None` creates one.
    pub id: Option<String>,
    pub app: Option<String>,
    pub name: String,
    pub trigger: String,
    pub body: String,
    pub sources: Vec<CannedSource>,
    /// The version the writer started from: a different current version is a
    /// `StoreError::Conflict` (someone saved meanwhile); `None` does not check.
    pub base_version: Option<i64>,
    pub author: String,
    pub at: Millis,
}

/// What writing a [`CannedInput`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedOutcome {
    pub id: String,
    pub version: i64,
    pub kind: PutKind,
}

/// A draft that used an article version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleUse {
    pub draft_id: String,
    pub conversation_id: String,
    pub version: i64,
    pub created_at: Millis,
    pub sent: bool,
    /// Not sent and citing an older version than the current one.
    pub stale: bool,
}

/// Trust scores, the knowledge base and canned responses.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    async fn upsert_trust(&self, t: &TrustRow) -> StoreResult<()>;
    async fn get_trust(&self, app: &str, category: &str) -> StoreResult<Option<TrustRow>>;
    async fn list_trust(&self, app: Option<&str>) -> StoreResult<Vec<TrustRow>>;
    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> StoreResult<()>;
    async fn list_kb_chunks(&self, app: &str) -> StoreResult<Vec<KbChunk>>;
    /// Write `c` as a new version of the canned response with its id (author `system`, no
    /// sources); unchanged content writes nothing.
    async fn upsert_canned(&self, c: &CannedResponse) -> StoreResult<()>;
    /// The canned responses the router may answer with: of `app` and of every app, neither
    /// removed nor stale.
    async fn list_canned(&self, app: Option<&str>) -> StoreResult<Vec<CannedResponse>>;
    /// Write a new version of a canned response in one transaction (the row, the version, its
    /// cited article versions); the same fields and sources as the current version change
    /// nothing. A new version is stale at once when it cites an outdated article version.
    async fn put_canned(&self, c: &CannedInput) -> StoreResult<CannedOutcome>;
    /// Canned responses of `app` and of every app (all when `None`), stale ones included,
    /// removed ones not; by name.
    async fn list_canned_rows(&self, app: Option<&str>) -> StoreResult<Vec<CannedRow>>;
    async fn get_canned(&self, id: &str) -> StoreResult<Option<CannedRow>>;
    /// Every version, newest first.
    async fn canned_versions(&self, id: &str) -> StoreResult<Vec<CannedVersionRow>>;
    /// Remove a canned response (its versions stay); `false` when there was none.
    async fn remove_canned(&self, id: &str, at: Millis) -> StoreResult<bool>;

    /// Write new article versions, all in ONE transaction (nothing half-written on error):
    /// an input whose content hash equals the current version's changes nothing; otherwise a
    /// new version and its chunks are written, and drafts not yet sent that cite an older
    /// version of the article are marked stale.
    async fn put_articles(&self, inputs: &[ArticleInput]) -> StoreResult<Vec<PutOutcome>>;
    /// Articles of `app` (all apps when `None`), by title; removed ones are not listed.
    async fn list_articles(&self, app: Option<&str>) -> StoreResult<Vec<ArticleRow>>;
    async fn get_article(&self, id: &str) -> StoreResult<Option<ArticleRow>>;
    /// Every version of an article, newest first.
    async fn article_versions(&self, id: &str) -> StoreResult<Vec<ArticleVersionRow>>;
    async fn article_version(
        &self,
        id: &str,
        version: i64,
    ) -> StoreResult<Option<ArticleVersionRow>>;
    /// Remove an article (its versions stay, for the drafts that cite them; it is no longer
    /// listed or retrieved). Drafts not yet sent that cite it are marked stale. `false` when
    /// there was no such article.
    async fn remove_article(&self, id: &str, at: Millis) -> StoreResult<bool>;
    /// The chunks of the current versions of `app`'s articles (every app when `None`).
    async fn current_chunks(&self, app: Option<&str>) -> StoreResult<Vec<ArticleChunkRow>>;
    /// The chunks of an article's current version (empty when removed).
    async fn article_chunks(&self, id: &str) -> StoreResult<Vec<ArticleChunkRow>>;
    /// Record which article versions the draft written by `run_id` used.
    async fn record_draft_sources(
        &self,
        run_id: &str,
        sources: &[(String, i64)],
    ) -> StoreResult<()>;
    /// The drafts that used an article, newest first.
    async fn article_uses(&self, id: &str) -> StoreResult<Vec<ArticleUse>>;
    /// Changes whenever any article is written or removed (an index compares it to know it
    /// must rebuild, e.g. after `skill kb import` ran in another process).
    async fn knowledge_revision(&self) -> StoreResult<String>;
    /// Whether the draft written by `run_id` is stale (its knowledge changed before it was sent).
    async fn draft_stale(&self, run_id: &str) -> StoreResult<bool>;
}
