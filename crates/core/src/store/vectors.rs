//! Stored chunk vectors: an embedder's vector of a chunk's exact embedded text
//! (`knowledge::chunk_text`), kept so that no rebuild (a restart, another instance, a
//! `skill kb reindex`) embeds an unchanged chunk again. Keyed by (model, dimensions, content
//! hash of the text): a vector of another model or size is never returned. An optimisation
//! only: the knowledge base embeds as before when this store fails.

use async_trait::async_trait;
use std::collections::HashMap;

use super::StoreResult;

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
