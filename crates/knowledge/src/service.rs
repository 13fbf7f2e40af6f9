//! [`KnowledgeBase`]: the one write path (store first, in one transaction, then the index) and
//! the read path that keeps an in-RAM index in step with the store. The index is rebuilt from
//! the store at start-up; a write through this process updates the changed articles only; a
//! write by another process (`skill kb import` while the server runs, another instance) changes
//! the store's `knowledge_revision`, which the next search notices and rebuilds from.
//!
//! A rebuild whose embedder fails falls back to tantivy instead of failing (see
//! `HybridRetriever`); [`KnowledgeBase::reindex`] audits the change (`kb.lexical_fallback`
//! with the reason, `kb.hybrid_restored` when a later rebuild embeds again) and
//! [`KnowledgeBase::status`] tells the CLI, the API and the Knowledge page.
//!
//! Chunk vectors are stored (see `DenseRetriever`) only by writes through this type and by
//! [`KnowledgeBase::reindex`], which also prunes them; a search, and the rebuild a search
//! starts, only read them.

use std::sync::{Arc, Mutex};

use support_core::audit::AuditEvent;
use support_core::knowledge::{Hit, IndexStatus, RetrieveError, Retriever, Visibility};
use support_core::store::{ArticleInput, PutKind, PutOutcome, Store, StoreError};
use support_core::time::Millis;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] RetrieveError),
}

/// How many changed articles a write indexes at once (one commit of tantivy's; a commit per
/// article made a 1,000-file import spend most of its time making and merging segments).
const INDEX_BATCH: usize = 500;

/// The knowledge base of the platform: the store and an index (see the module docs).
#[derive(Clone)]
pub struct KnowledgeBase {
    store: Arc<dyn Store>,
    index: Arc<dyn Retriever>,
    revision: Arc<Mutex<Option<String>>>,
    /// The index outlives this process and is shared (Upstash Vector): every writer updates it,
    /// so a revision changed by another process needs no rebuild here; `skill kb reindex` does.
    shared: bool,
}

impl KnowledgeBase {
    /// Over `store`, with tantivy as the index (empty until [`KnowledgeBase::reindex`] or the
    /// first search).
    pub fn lexical(store: Arc<dyn Store>) -> Result<Self, KnowledgeError> {
        Ok(Self::new(
            store,
            Arc::new(crate::lexical::LexicalIndex::new()?),
        ))
    }

    pub fn new(store: Arc<dyn Store>, index: Arc<dyn Retriever>) -> Self {
        Self {
            store,
            index,
            revision: Arc::new(Mutex::new(None)),
            shared: false,
        }
    }

    /// Over an index that outlives the process and that every writer updates (Upstash
    /// Vector): never rebuilt on a revision change, only by [`KnowledgeBase::reindex`].
    pub fn shared(store: Arc<dyn Store>, index: Arc<dyn Retriever>) -> Self {
        Self {
            shared: true,
            ..Self::new(store, index)
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn remember(&self, rev: String) {
        if let Ok(mut r) = self.revision.lock() {
            *r = Some(rev);
        }
    }

    /// Rebuild the index from the store's current chunks; returns how many were indexed. An
    /// embedder that fails meanwhile leaves the index lexical only ([`Self::status`]), audited.
    /// New chunk vectors are stored, and stored vectors no current chunk uses are deleted
    /// (of every model: what stays is at most one vector per current chunk text and model).
    pub async fn reindex(&self) -> Result<usize, KnowledgeError> {
        self.rebuild_from_store(true).await
    }

    /// `write`: [`Retriever::rebuild`] and prune stored vectors (`skill kb reindex`);
    /// otherwise [`Retriever::refresh`], which stores nothing (a search noticed another
    /// process's write).
    async fn rebuild_from_store(&self, write: bool) -> Result<usize, KnowledgeError> {
        let rev = self.store.knowledge_revision().await?;
        let chunks = self.store.current_chunks(None).await?;
        let before = self.index.status();
        if write {
            self.index.rebuild(&chunks).await?;
            let keep: Vec<String> = chunks
                .iter()
                .map(|c| {
                    support_core::knowledge::text_hash(&support_core::knowledge::chunk_text(c))
                })
                .collect();
            match self.store.prune_chunk_vectors(&keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    "knowledge reindex: pruned stored chunk vectors"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "knowledge reindex: stored chunk vectors could not be pruned")
                }
            }
        } else {
            self.index.refresh(&chunks).await?;
        }
        self.remember(rev);
        self.audit_status(&before, chunks.len()).await;
        Ok(chunks.len())
    }

    /// Audit a change of [`Self::status`] since `before` (`kb.lexical_fallback` also when it
    /// stays: each rebuild that could not embed is recorded).
    async fn audit_status(&self, before: &IndexStatus, chunks: usize) {
        let after = self.index.status();
        let event = match (&before.lexical_fallback, &after.lexical_fallback) {
            (_, Some(why)) => AuditEvent::new(
                "kb.lexical_fallback",
                "system",
                serde_json::json!({"reason": why, "chunks": chunks,
                    "already_lexical": before.lexical_fallback.is_some()}),
            ),
            (Some(_), None) => AuditEvent::new(
                "kb.hybrid_restored",
                "system",
                serde_json::json!({"chunks": chunks}),
            ),
            (None, None) => return,
        };
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(error = %e, kind = %event.kind, "knowledge index: audit failed");
        }
    }

    /// What the index answers with now (lexical only after a rebuild the embedder failed).
    pub fn status(&self) -> IndexStatus {
        self.index.status()
    }

    async fn ensure_fresh(&self) -> Result<(), KnowledgeError> {
        if self.shared {
            return Ok(());
        }
        let rev = self.store.knowledge_revision().await?;
        let known = self.revision.lock().ok().and_then(|r| r.clone());
        if known.as_deref() != Some(rev.as_str()) {
            // Started by a search: reads stored vectors, writes none.
            self.rebuild_from_store(false).await?;
        }
        Ok(())
    }

    /// Write new article versions (one transaction), then index what changed.
    pub async fn put(&self, inputs: &[ArticleInput]) -> Result<Vec<PutOutcome>, KnowledgeError> {
        let before = self.store.knowledge_revision().await?;
        let known = self.revision.lock().ok().and_then(|r| r.clone());
        let out = self.store.put_articles(inputs).await?;
        let status = self.index.status();
        // The changed articles, indexed INDEX_BATCH at a time (one tantivy commit each).
        let changed: Vec<&PutOutcome> = out
            .iter()
            .filter(|o| o.kind != PutKind::Unchanged)
            .collect();
        for batch in changed.chunks(INDEX_BATCH) {
            let mut articles = Vec::with_capacity(batch.len());
            for o in batch {
                let chunks = self.store.article_chunks(&o.article_id).await?;
                articles.push((o.article_id.clone(), chunks));
            }
            self.index.index_articles(&articles).await?;
        }
        if status.lexical_fallback.is_none() && self.index.status().lexical_fallback.is_some() {
            self.audit_status(&status, out.len()).await;
        }
        // In step only if it was before this write; otherwise the next search rebuilds.
        if known.as_deref() == Some(before.as_str()) {
            self.remember(self.store.knowledge_revision().await?);
        }
        Ok(out)
    }

    /// Remove an article (its versions stay); `false` when there was none.
    pub async fn remove(&self, id: &str, at: Millis) -> Result<bool, KnowledgeError> {
        let removed = self.store.remove_article(id, at).await?;
        if removed {
            self.index.index_article(id, &[]).await?;
        }
        Ok(removed)
    }

    /// Search `app`'s current articles (rebuilding first when another process wrote).
    pub async fn search(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, KnowledgeError> {
        self.ensure_fresh().await?;
        Ok(self.index.search(app, query, k, visibility).await?)
    }
}

#[async_trait::async_trait]
impl Retriever for KnowledgeBase {
    async fn search(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, RetrieveError> {
        KnowledgeBase::search(self, app, query, k, visibility)
            .await
            .map_err(|e| match e {
                KnowledgeError::Index(e) => e,
                KnowledgeError::Store(e) => RetrieveError::Unavailable(e.to_string()),
            })
    }

    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[support_core::store::ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        self.index.index_article(article_id, chunks).await
    }

    async fn index_articles(
        &self,
        articles: &[(String, Vec<support_core::store::ArticleChunkRow>)],
    ) -> Result<(), RetrieveError> {
        self.index.index_articles(articles).await
    }

    async fn rebuild(
        &self,
        chunks: &[support_core::store::ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        self.index.rebuild(chunks).await
    }

    async fn refresh(
        &self,
        chunks: &[support_core::store::ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        self.index.refresh(chunks).await
    }

    fn status(&self) -> IndexStatus {
        self.index.status()
    }
}
