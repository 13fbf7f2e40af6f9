//! [`HybridRetriever`]: tantivy's lexical ranking and the dense ranking of the same current
//! chunks, fused by reciprocal rank (core's [`rrf`], k = 60, Upstash's formula), each side
//! giving its best [`FUSION_DEPTH`]. Both sides filter by app and visibility and hold only
//! current versions.
//!
//! A query the embedder cannot answer (provider down, timeout) is answered by the lexical side
//! alone and logged: retrieval degrades, the draft does not fail.
//!
//! A rebuild the embedder cannot embed (start-up, `skill kb reindex`, another process's write)
//! falls back to tantivy: the lexical side is rebuilt, the dense side emptied (it would hold
//! outdated vectors), and the index answers lexically until a rebuild embeds again; logged, and
//! visible as [`Retriever::status`] (`lexical_fallback`, which `KnowledgeBase::reindex` audits
//! and the CLI, API and Knowledge page show). A write the embedder cannot embed falls back the
//! same way (the store already holds it); meanwhile writes index their articles lexically.
//!
//! The dense side looks chunk vectors up in its [`ChunkVectorStore`] when it has one
//! ([`HybridRetriever::with_vectors`]): writes and rebuilds store the vectors they had to
//! compute, a rebuild a search started ([`Retriever::refresh`]) and queries store none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use support_core::embed::Embedder;
use support_core::knowledge::{Hit, IndexStatus, RetrieveError, Retriever, Visibility};
use support_core::retrieval::{FUSION_DEPTH, rrf};
use support_core::store::StoreNew;
use support_core::store::{ArticleChunkRow, ChunkVectorStore};

use crate::dense::DenseRetriever;
use crate::lexical::LexicalIndex;

/// Lexical + dense, fused (see the module docs).
pub struct HybridRetriever {
    lexical: Arc<LexicalIndex>,
    dense: Arc<DenseRetriever>,
    /// Why the last rebuild fell back to tantivy alone (`None`: hybrid).
    fallback: Mutex<Option<String>>,
}

impl HybridRetriever {
    pub fn new(embedder: Arc<dyn Embedder>) -> Result<Self, RetrieveError> {
        Ok(Self {
            lexical: Arc::new(LexicalIndex::new()?),
            dense: Arc::new(DenseRetriever::new(embedder)),
            fallback: Mutex::new(None),
        })
    }

    /// With chunk vectors looked up in (and new ones stored in) `vectors`.
    pub fn with_vectors(
        embedder: Arc<dyn Embedder>,
        vectors: Arc<dyn ChunkVectorStore>,
    ) -> Result<Self, RetrieveError> {
        Ok(Self::from_parts(
            Arc::new(LexicalIndex::new()?),
            Arc::new(DenseRetriever::new(embedder).with_vectors(vectors)),
        ))
    }

    /// Over indexes that are already built (the eval shares them with the single retrievers).
    pub fn from_parts(lexical: Arc<LexicalIndex>, dense: Arc<DenseRetriever>) -> Self {
        Self {
            lexical,
            dense,
            fallback: Mutex::new(None),
        }
    }

    /// Whether the index answers lexically only (the last rebuild could not embed).
    pub fn is_lexical_fallback(&self) -> bool {
        self.fallback.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn set_fallback(&self, why: Option<String>) {
        if let Ok(mut f) = self.fallback.lock() {
            *f = why;
        }
    }

    pub fn lexical(&self) -> &LexicalIndex {
        &self.lexical
    }

    pub fn dense(&self) -> &DenseRetriever {
        &self.dense
    }

    /// Fuses a lexical and a dense ranking (best first) into the best `k`.
    pub fn fuse(lexical: Vec<Hit>, dense: Vec<Hit>, k: usize) -> Vec<Hit> {
        let lists = [
            lexical.iter().map(|h| h.chunk_id.as_str()).collect(),
            dense.iter().map(|h| h.chunk_id.as_str()).collect(),
        ];
        let fused = rrf(&lists);
        let mut by_id: HashMap<&str, &Hit> = HashMap::new();
        for h in dense.iter().chain(lexical.iter()) {
            by_id.insert(h.chunk_id.as_str(), h);
        }
        fused
            .into_iter()
            .take(k)
            .filter_map(|(id, score)| {
                by_id.get(id).map(|h| Hit {
                    score,
                    ..(*h).clone()
                })
            })
            .collect()
    }
}

#[async_trait]
impl Retriever for HybridRetriever {
    async fn search(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, RetrieveError> {
        if k == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let depth = FUSION_DEPTH.max(k);
        let lexical = self.lexical.search_now(app, query, depth, visibility)?;
        if self.is_lexical_fallback() {
            return Ok(lexical.into_iter().take(k).collect());
        }
        let dense = match self.dense.embed_query(query).await {
            Ok(q) => self.dense.search_vector(app, &q, depth, visibility),
            Err(e) => {
                tracing::warn!(error = %e, "hybrid retrieval: the embedder failed; lexical only");
                Vec::new()
            }
        };
        Ok(Self::fuse(lexical, dense, k))
    }

    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        if self.is_lexical_fallback() {
            // The dense side is empty until a rebuild embeds again: keep tantivy in step.
            return self.lexical.index_article_now(article_id, chunks);
        }
        match self.dense.embed_chunks(chunks, StoreNew::Yes).await {
            Ok(vectors) => {
                self.lexical.index_article_now(article_id, chunks)?;
                self.dense.put_vectors(article_id, chunks, vectors)
            }
            Err(e) => {
                // The store already holds the new version: tantivy takes it, and the dense
                // side (which would keep the old one) is emptied until a rebuild embeds.
                tracing::error!(error = %e, article = article_id,
                    "knowledge write: the embedder failed; falling back to tantivy (lexical only)");
                self.lexical.index_article_now(article_id, chunks)?;
                self.dense.replace_all(&[], Vec::new())?;
                self.set_fallback(Some(e.to_string()));
                Ok(())
            }
        }
    }

    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        self.rebuild_with(chunks, StoreNew::Yes).await
    }

    async fn refresh(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        self.rebuild_with(chunks, StoreNew::No).await
    }

    fn status(&self) -> IndexStatus {
        IndexStatus {
            lexical_fallback: self.fallback.lock().ok().and_then(|f| f.clone()),
        }
    }
}

impl HybridRetriever {
    async fn rebuild_with(
        &self,
        chunks: &[ArticleChunkRow],
        store_new: StoreNew,
    ) -> Result<(), RetrieveError> {
        match self.dense.embed_chunks(chunks, store_new).await {
            Ok(vectors) => {
                self.lexical.rebuild_now(chunks)?;
                self.dense.replace_all(chunks, vectors)?;
                self.set_fallback(None);
            }
            Err(e) => {
                tracing::error!(error = %e, chunks = chunks.len(),
                    "knowledge rebuild: the embedder failed; falling back to tantivy (lexical only)");
                self.lexical.rebuild_now(chunks)?;
                self.dense.replace_all(&[], Vec::new())?;
                self.set_fallback(Some(e.to_string()));
            }
        }
        Ok(())
    }
}
