//! Stored chunk vectors: an embedder's vector of a chunk's exact embedded text
//! (`knowledge::chunk_text`), kept so that no rebuild (a restart, another instance, a
//! `skill kb reindex`) embeds an unchanged chunk again. Keyed by (model, dimensions, content
//! hash of the text): a vector of another model or size is never returned. An optimisation
//! only: the knowledge base embeds as before when this store fails.

use async_trait::async_trait;
use std::collections::HashMap;

use super::StoreResult;
use crate::knowledge::{ArticleChunkRow, RetrieveError};

/// Which embedder's vectors: its model name and vector length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorSpace<'a> {
    pub model: &'a str,
    pub dims: usize,
}

/// Vectors of chunk texts, by (model, dimensions, `knowledge::text_hash`).
#[async_trait]
pub trait ChunkVectorStore: Send + Sync {
    /// The stored vectors of `space` among `hashes` (hash → vector); hashes without one are
    /// absent. A stored blob whose length is not 4 × `space.dims` is an error.
    async fn chunk_vectors(
        &self,
        space: VectorSpace<'_>,
        hashes: &[String],
    ) -> StoreResult<HashMap<String, Vec<f32>>>;

    /// Store `(hash, vector)` pairs of `space`, replacing a stored one of the same key (so a
    /// row refused on read is repaired by the next rebuild that stores). A vector whose length
    /// is not `space.dims` is an error and nothing is written.
    async fn put_chunk_vectors(
        &self,
        space: VectorSpace<'_>,
        vectors: &[(String, Vec<f32>)],
    ) -> StoreResult<()>;

    /// Delete the stored vectors (of every model) whose hash is not in `keep` (the current
    /// chunks' hashes); returns how many rows were deleted.
    async fn prune_chunk_vectors(&self, keep: &[String]) -> StoreResult<u64>;
}

/// Whether [`embed_chunks_stored`] may store the vectors it had to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreNew {
    /// An authenticated write, an import, `skill kb reindex`: store them.
    Yes,
    /// A rebuild a search started (another process wrote): read stored vectors only.
    No,
}

/// [`crate::knowledge::embed_chunks`] through stored vectors: every chunk's text ([`crate::knowledge::chunk_text`]) is looked up by
/// (model, dimensions, [`crate::knowledge::text_hash`]) first; the embedder is asked only for the misses (one
/// call, in order, each distinct text once), and with [`StoreNew::Yes`] their vectors are
/// stored. An embedder that does not know its size before it answers (an OpenAI-compatible
/// one without `kb.embedder.dimensions`) is asked for the first chunk alone first. A store
/// that fails is logged and ignored: the chunks are embedded as without it.
pub async fn embed_chunks_stored(
    embedder: &dyn crate::embed::Embedder,
    store: Option<&dyn ChunkVectorStore>,
    chunks: &[ArticleChunkRow],
    store_new: StoreNew,
) -> Result<Vec<Vec<f32>>, RetrieveError> {
    let Some(store) = store else {
        return crate::knowledge::embed_chunks(embedder, chunks).await;
    };
    if chunks.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = chunks.iter().map(crate::knowledge::chunk_text).collect();
    let hashes: Vec<String> = texts
        .iter()
        .map(|t| crate::knowledge::text_hash(t))
        .collect();
    // Each distinct text once, in order of first appearance.
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<usize> = (0..texts.len())
        .filter(|&i| seen.insert(hashes[i].as_str()))
        .collect();
    let mut got: std::collections::HashMap<String, Vec<f32>> = std::collections::HashMap::new();
    let mut fresh: Vec<(String, Vec<f32>)> = Vec::new();
    if embedder.dimensions() == 0 {
        let first = distinct[0];
        let mut v =
            crate::knowledge::embed_texts(embedder, std::slice::from_ref(&texts[first])).await?;
        let v = v.pop().unwrap_or_default();
        got.insert(hashes[first].clone(), v.clone());
        fresh.push((hashes[first].clone(), v));
    }
    let dims = embedder.dimensions();
    let space = VectorSpace {
        model: embedder.model(),
        dims,
    };
    let lookup: Vec<String> = distinct
        .iter()
        .map(|&i| hashes[i].clone())
        .filter(|h| !got.contains_key(h))
        .collect();
    if dims > 0 && !lookup.is_empty() {
        match store.chunk_vectors(space, &lookup).await {
            Ok(found) => got.extend(found.into_iter().filter(|(_, v)| v.len() == dims)),
            Err(e) => tracing::warn!(error = %e, model = space.model,
                "stored chunk vectors could not be read; embedding every chunk"),
        }
    }
    let misses: Vec<usize> = distinct
        .into_iter()
        .filter(|&i| !got.contains_key(&hashes[i]))
        .collect();
    if !misses.is_empty() {
        let miss_texts: Vec<String> = misses.iter().map(|&i| texts[i].clone()).collect();
        let vectors = crate::knowledge::embed_texts(embedder, &miss_texts).await?;
        for (i, v) in misses.into_iter().zip(vectors) {
            got.insert(hashes[i].clone(), v.clone());
            fresh.push((hashes[i].clone(), v));
        }
    }
    let dims = embedder.dimensions();
    if store_new == StoreNew::Yes && dims > 0 && !fresh.is_empty() {
        let space = VectorSpace { dims, ..space };
        fresh.retain(|(_, v)| v.len() == dims);
        if let Err(e) = store.put_chunk_vectors(space, &fresh).await {
            tracing::warn!(error = %e, model = space.model, vectors = fresh.len(),
                "new chunk vectors could not be stored; the next rebuild embeds them again");
        }
    }
    hashes
        .iter()
        .map(|h| {
            got.get(h)
                .cloned()
                .ok_or_else(|| RetrieveError::Index("a chunk was left without a vector".into()))
        })
        .collect()
}
