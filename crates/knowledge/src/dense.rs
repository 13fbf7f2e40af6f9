//! [`DenseRetriever`]: core's [`Retriever`] port over an [`Embedder`] and core's in-process
//! [`DenseIndex`] (brute-force cosine per app). One vector per chunk of an article's current
//! version (title, heading and text embedded together); a new version replaces all of an
//! article's vectors, a removed article drops them. Internal chunks are only returned to
//! internal readers.
//!
//! With a [`ChunkVectorStore`] ([`DenseRetriever::with_vectors`]) a chunk's vector is looked up
//! by (model, dimensions, hash of its embedded text) before the embedder is asked, and new
//! vectors of writes and rebuilds are stored; a rebuild a search started
//! ([`Retriever::refresh`]) only reads, and queries are never stored.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use support_core::embed::Embedder;
use support_core::knowledge::{Hit, RetrieveError, Retriever, Visibility};
use support_core::retrieval::{DenseDoc, DenseIndex};
use support_core::store::StoreNew;
use support_core::store::{ArticleChunkRow, ChunkVectorStore};

pub use support_core::knowledge::chunk_text;

#[derive(Default)]
struct State {
    index: DenseIndex,
    /// chunk id → the chunk (a hit's title, heading and text).
    chunks: HashMap<String, ArticleChunkRow>,
    /// article id → (app, its chunk ids).
    articles: HashMap<String, (String, Vec<String>)>,
}

impl State {
    fn remove(&mut self, article_id: &str) {
        if let Some((app, ids)) = self.articles.remove(article_id) {
            self.index.remove_article(&app, article_id);
            for id in ids {
                self.chunks.remove(&id);
            }
        }
    }

    fn put(
        &mut self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
        vectors: Vec<Vec<f32>>,
    ) -> Result<(), RetrieveError> {
        self.remove(article_id);
        let Some(app) = chunks.first().map(|c| c.app.clone()) else {
            return Ok(());
        };
        let docs = chunks
            .iter()
            .zip(vectors)
            .map(|(c, v)| {
                (
                    DenseDoc {
                        chunk_id: c.id.clone(),
                        article_id: c.article_id.clone(),
                        version: c.version,
                        public: c.visibility == Visibility::Public,
                    },
                    v,
                )
            })
            .collect();
        self.index
            .put_article(&app, article_id, docs)
            .map_err(|e| RetrieveError::Index(e.to_string()))?;
        self.articles.insert(
            article_id.to_owned(),
            (app, chunks.iter().map(|c| c.id.clone()).collect()),
        );
        for c in chunks {
            self.chunks.insert(c.id.clone(), c.clone());
        }
        Ok(())
    }
}

/// Dense retrieval in this process (see the module docs).
pub struct DenseRetriever {
    embedder: Arc<dyn Embedder>,
    vectors: Option<Arc<dyn ChunkVectorStore>>,
    state: RwLock<State>,
}

impl DenseRetriever {
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self {
            embedder,
            vectors: None,
            state: RwLock::new(State::default()),
        }
    }

    /// Look chunk vectors up in `vectors` before embedding, and store new ones there.
    pub fn with_vectors(mut self, vectors: Arc<dyn ChunkVectorStore>) -> Self {
        self.vectors = Some(vectors);
        self
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The vectors of `chunks`, in order: the stored ones, the embedder's for the rest, which
    /// are stored when `store_new` says so
    /// ([`support_core::store::embed_chunks_stored`]).
    pub async fn embed_chunks(
        &self,
        chunks: &[ArticleChunkRow],
        store_new: StoreNew,
    ) -> Result<Vec<Vec<f32>>, RetrieveError> {
        support_core::store::embed_chunks_stored(
            &*self.embedder,
            self.vectors.as_deref(),
            chunks,
            store_new,
        )
        .await
    }

    /// The vector of a query.
    pub async fn embed_query(&self, query: &str) -> Result<Vec<f32>, RetrieveError> {
        support_core::knowledge::embed_query(&*self.embedder, query).await
    }

    /// Replace `article_id`'s vectors with precomputed ones (see [`Self::embed_chunks`]).
    pub fn put_vectors(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
        vectors: Vec<Vec<f32>>,
    ) -> Result<(), RetrieveError> {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.put(article_id, chunks, vectors)
    }

    /// Replace everything with precomputed vectors (`vectors[i]` is `chunks[i]`'s).
    pub fn replace_all(
        &self,
        chunks: &[ArticleChunkRow],
        vectors: Vec<Vec<f32>>,
    ) -> Result<(), RetrieveError> {
        let mut by_article: Vec<(String, Vec<ArticleChunkRow>, Vec<Vec<f32>>)> = Vec::new();
        let mut pos: HashMap<&str, usize> = HashMap::new();
        for (c, v) in chunks.iter().zip(vectors) {
            let i = *pos.entry(c.article_id.as_str()).or_insert_with(|| {
                by_article.push((c.article_id.clone(), Vec::new(), Vec::new()));
                by_article.len() - 1
            });
            by_article[i].1.push(c.clone());
            by_article[i].2.push(v);
        }
        let mut fresh = State::default();
        for (article, cs, vs) in by_article {
            fresh.put(&article, &cs, vs)?;
        }
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        *st = fresh;
        Ok(())
    }

    /// The best `k` chunks for an embedded query (see [`Retriever::search`]).
    pub fn search_vector(
        &self,
        app: &str,
        query: &[f32],
        k: usize,
        visibility: Visibility,
    ) -> Vec<Hit> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.index
            .search(app, query, k, visibility == Visibility::Internal)
            .into_iter()
            .filter_map(|h| {
                let c = st.chunks.get(&h.chunk_id)?;
                Some(Hit {
                    chunk_id: h.chunk_id,
                    article_id: h.article_id,
                    version: h.version,
                    title: c.title.clone(),
                    heading: c.heading.clone(),
                    text: c.text.clone(),
                    score: f64::from(h.score),
                })
            })
            .collect()
    }

    /// How many chunks are indexed.
    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .chunks
            .len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Retriever for DenseRetriever {
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
        let q = self.embed_query(query).await?;
        Ok(self.search_vector(app, &q, k, visibility))
    }

    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        let vectors = self.embed_chunks(chunks, StoreNew::Yes).await?;
        self.put_vectors(article_id, chunks, vectors)
    }

    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        let vectors = self.embed_chunks(chunks, StoreNew::Yes).await?;
        self.replace_all(chunks, vectors)
    }

    async fn refresh(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        let vectors = self.embed_chunks(chunks, StoreNew::No).await?;
        self.replace_all(chunks, vectors)
    }
}
