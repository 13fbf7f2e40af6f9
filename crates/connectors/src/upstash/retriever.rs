//! [`UpstashRetriever`]: core's [`Retriever`] port on an Upstash Vector hybrid index
//! (`kb.backend = "upstash"`). One namespace per app (the app's slug); one vector per chunk of
//! an article's current version, id `<article id>#<chunk id>` (so an article's vectors are
//! deleted by prefix), our dense vector from the configured [`Embedder`] and core's sparse
//! vector ([`sparse_vector`]: hashed terms, BM25's saturated tf), metadata `{article_id,
//! chunk_id, version, app, visibility, title, heading}` and the chunk's text as `data`.
//!
//! A query is `/query/<app>` with both vectors, `queryMode: "HYBRID"`, `fusionAlgorithm: "RRF"`
//! (Upstash fuses with k = 60, as the embedded backend does), `includeMetadata` and
//! `includeData`, and `filter: "visibility = 'public'"` for customers. A query that keeps no
//! term after stop words is `DENSE`. Errors keep Upstash's `{error, status}` message; the token
//! is never in them.
//!
//! With a [`ChunkVectorStore`] ([`UpstashRetriever::with_vectors`]) the dense vectors of writes
//! and `skill kb reindex` come from the store when it has them (new ones are stored), as in the
//! embedded backend; queries are never stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use support_core::embed::Embedder;
use support_core::knowledge::{Hit, RetrieveError, Retriever, Visibility, chunk_text, embed_query};
use support_core::retrieval::sparse_vector;
use support_core::store::{ArticleChunkRow, ChunkVectorStore};
use support_core::store::{StoreNew, embed_chunks_stored};

use super::{Query, QueryMode, SparseVector, UpsertVector, UpstashError, UpstashVector};

fn index_err(e: UpstashError) -> RetrieveError {
    match e {
        UpstashError::Api { status, message } if status < 500 && status != 429 => {
            RetrieveError::Index(format!("upstash vector {status}: {message}"))
        }
        other => RetrieveError::Unavailable(other.to_string()),
    }
}

/// The vector id of a chunk.
pub fn vector_id(article_id: &str, chunk_id: &str) -> String {
    format!("{article_id}#{chunk_id}")
}

fn sparse(text: &str, query: bool) -> SparseVector {
    let (indices, values) = sparse_vector(text, query);
    SparseVector { indices, values }
}

/// Upstash Vector behind the retrieval port (see the module docs).
pub struct UpstashRetriever {
    client: UpstashVector,
    embedder: Arc<dyn Embedder>,
    stored: Option<Arc<dyn ChunkVectorStore>>,
    /// article id → app (its namespace), for a removal, which carries no chunks.
    apps: Mutex<HashMap<String, String>>,
}

impl UpstashRetriever {
    pub fn new(client: UpstashVector, embedder: Arc<dyn Embedder>) -> Self {
        Self {
            client,
            embedder,
            stored: None,
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Take chunk vectors from (and store new ones in) `stored`.
    pub fn with_vectors(mut self, stored: Arc<dyn ChunkVectorStore>) -> Self {
        self.stored = Some(stored);
        self
    }

    async fn vectors(
        &self,
        chunks: &[ArticleChunkRow],
    ) -> Result<Vec<UpsertVector>, RetrieveError> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = chunks.iter().map(chunk_text).collect();
        // Only writes and `skill kb reindex` get here (the index is shared, never refreshed by
        // a search): new vectors may be stored.
        let dense = embed_chunks_stored(
            &*self.embedder,
            self.stored.as_deref(),
            chunks,
            StoreNew::Yes,
        )
        .await?;
        Ok(chunks
            .iter()
            .zip(dense)
            .zip(texts)
            .map(|((c, vector), text)| UpsertVector {
                id: vector_id(&c.article_id, &c.id),
                vector,
                sparse_vector: sparse(&text, false),
                metadata: Some(json!({
                    "article_id": c.article_id,
                    "chunk_id": c.id,
                    "version": c.version,
                    "app": c.app,
                    "visibility": c.visibility.as_str(),
                    "title": c.title,
                    "heading": c.heading,
                })),
                data: Some(c.text.clone()),
            })
            .collect())
    }

    /// The namespaces an article may be in: the one it was last written to by this process,
    /// else every namespace of the index.
    async fn namespaces_of(&self, article_id: &str) -> Result<Vec<String>, RetrieveError> {
        let known = self
            .apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(article_id)
            .cloned();
        match known {
            Some(app) => Ok(vec![app]),
            None => Ok(self
                .client
                .info()
                .await
                .map_err(index_err)?
                .1
                .into_keys()
                .filter(|ns| !ns.is_empty())
                .collect()),
        }
    }
}

fn hit(m: super::Match) -> Option<Hit> {
    let md = m.metadata.unwrap_or(Value::Null);
    let s = |k: &str| md.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Hit {
        chunk_id: s("chunk_id")?,
        article_id: s("article_id")?,
        version: md.get("version").and_then(Value::as_i64).unwrap_or(0),
        title: s("title").unwrap_or_default(),
        heading: s("heading").unwrap_or_default(),
        text: m.data.unwrap_or_default(),
        score: m.score,
    })
}

#[async_trait]
impl Retriever for UpstashRetriever {
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
        let vector = embed_query(&*self.embedder, query).await?;
        let sv = sparse(query, true);
        let hybrid = !sv.indices.is_empty();
        let q = Query {
            vector: Some(vector),
            sparse_vector: hybrid.then_some(sv),
            top_k: k,
            include_metadata: true,
            include_data: true,
            filter: match visibility {
                Visibility::Public => "visibility = 'public'".into(),
                Visibility::Internal => String::new(),
            },
            query_mode: if hybrid {
                QueryMode::Hybrid
            } else {
                QueryMode::Dense
            },
            fusion_algorithm: "RRF",
        };
        let matches = self.client.query(app, &q).await.map_err(index_err)?;
        Ok(matches.into_iter().filter_map(hit).collect())
    }

    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        let vectors = self.vectors(chunks).await?;
        let prefix = format!("{article_id}#");
        let mut namespaces: BTreeSet<String> =
            self.namespaces_of(article_id).await?.into_iter().collect();
        let app = chunks.first().map(|c| c.app.clone());
        if let Some(app) = &app {
            namespaces.insert(app.clone());
        }
        for ns in &namespaces {
            self.client
                .delete_prefix(ns, &prefix)
                .await
                .map_err(index_err)?;
        }
        let mut apps = match app {
            Some(app) => {
                self.client
                    .upsert(&app, &vectors)
                    .await
                    .map_err(index_err)?;
                Some(app)
            }
            None => None,
        };
        let mut known = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        match apps.take() {
            Some(app) => known.insert(article_id.to_owned(), app),
            None => known.remove(article_id),
        };
        Ok(())
    }

    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        let vectors = self.vectors(chunks).await?;
        let mut by_app: BTreeMap<&str, Vec<UpsertVector>> = BTreeMap::new();
        for (c, v) in chunks.iter().zip(vectors) {
            by_app.entry(c.app.as_str()).or_default().push(v);
        }
        let (_, existing) = self.client.info().await.map_err(index_err)?;
        let mut namespaces: BTreeSet<String> =
            existing.into_keys().filter(|ns| !ns.is_empty()).collect();
        namespaces.extend(by_app.keys().map(|a| a.to_string()));
        for ns in &namespaces {
            self.client.reset(ns).await.map_err(index_err)?;
        }
        for (app, vs) in &by_app {
            self.client.upsert(app, vs).await.map_err(index_err)?;
        }
        let mut known = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        known.clear();
        for c in chunks {
            known.insert(c.article_id.clone(), c.app.clone());
        }
        Ok(())
    }
}
