//! [`HybridRetriever`]: tantivy's lexical ranking and the dense ranking of the same current
//! chunks, fused by reciprocal rank (core's [`rrf`], k = 60, Upstash's formula), each side
//! giving its best [`FUSION_DEPTH`]. Both sides filter by app and visibility and hold only
//! current versions; a write embeds first, so a failing embedder leaves both sides unchanged.
//!
//! A query the embedder cannot answer (provider down, timeout) is answered by the lexical side
//! alone and logged: retrieval degrades, the draft does not fail.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use support_core::embed::Embedder;
use support_core::knowledge::{Hit, RetrieveError, Retriever, Visibility};
use support_core::retrieval::{FUSION_DEPTH, rrf};
use support_core::store::ArticleChunkRow;

use crate::dense::DenseRetriever;
use crate::lexical::LexicalIndex;

/// Lexical + dense, fused (see the module docs).
pub struct HybridRetriever {
    lexical: Arc<LexicalIndex>,
    dense: Arc<DenseRetriever>,
}

impl HybridRetriever {
    pub fn new(embedder: Arc<dyn Embedder>) -> Result<Self, RetrieveError> {
        Ok(Self {
            lexical: Arc::new(LexicalIndex::new()?),
            dense: Arc::new(DenseRetriever::new(embedder)),
        })
    }

    /// Over indexes that are already built (the eval shares them with the single retrievers).
    pub fn from_parts(lexical: Arc<LexicalIndex>, dense: Arc<DenseRetriever>) -> Self {
        Self { lexical, dense }
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
        let vectors = self.dense.embed_chunks(chunks).await?;
        self.lexical.index_article_now(article_id, chunks)?;
        self.dense.put_vectors(article_id, chunks, vectors)
    }

    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        let vectors = self.dense.embed_chunks(chunks).await?;
        self.lexical.rebuild_now(chunks)?;
        self.dense.replace_all(chunks, vectors)
    }
}
