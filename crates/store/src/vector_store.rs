//! `impl ChunkVectorStore for Db`: chunk vectors as little-endian f32 bytes (SQLite `BLOB`,
//! Postgres `BYTEA`), one row per (model, dims, content hash). Lookups and deletes go in
//! batches of [`BATCH`] keys so no statement nears either database's parameter limit.

use std::collections::{HashMap, HashSet};

use crate::rows::corrupt;
use crate::store_impl::{R, placeholders, safe};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::store::{ChunkVectorStore, VectorSpace};

/// Keys per statement.
const BATCH: usize = 500;

fn dims_i64(dims: usize) -> R<i64> {
    i64::try_from(dims).map_err(corrupt)
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8], dims: usize) -> R<Vec<f32>> {
    if b.len() != dims * 4 {
        return Err(corrupt(format!(
            "a stored vector of {} bytes where {dims} floats ({} bytes) were expected",
            b.len(),
            dims * 4
        )));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[async_trait]
impl ChunkVectorStore for Db {
    async fn chunk_vectors(
        &self,
        space: VectorSpace<'_>,
        hashes: &[String],
    ) -> R<HashMap<String, Vec<f32>>> {
        let dims = dims_i64(space.dims)?;
        let mut out = HashMap::new();
        for batch in hashes.chunks(BATCH) {
            let sql = safe!(
                "SELECT content_hash, vector FROM chunk_vectors WHERE model = $1 AND dims = $2 \
                 AND content_hash IN ({})",
                placeholders(3, batch.len())
            );
            let mut q = sqlx::query(sql).bind(space.model).bind(dims);
            for h in batch {
                q = q.bind(h);
            }
            for r in q.fetch_all(&self.read).await.map_err(backend_err)? {
                let hash: String = r.try_get("content_hash").map_err(corrupt)?;
                let bytes: Vec<u8> = r.try_get("vector").map_err(corrupt)?;
                out.insert(hash, from_bytes(&bytes, space.dims)?);
            }
        }
        Ok(out)
    }

    async fn put_chunk_vectors(
        &self,
        space: VectorSpace<'_>,
        vectors: &[(String, Vec<f32>)],
    ) -> R<()> {
        let dims = dims_i64(space.dims)?;
        if let Some((h, v)) = vectors.iter().find(|(_, v)| v.len() != space.dims) {
            return Err(corrupt(format!(
                "the vector of {h} has {} floats, not {}",
                v.len(),
                space.dims
            )));
        }
        // One row per key (Postgres refuses to update a row twice in one statement): the last.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, (h, _)) in vectors.iter().enumerate() {
            last.insert(h.as_str(), i);
        }
        let unique: Vec<&(String, Vec<f32>)> = vectors
            .iter()
            .enumerate()
            .filter(|(i, (h, _))| last.get(h.as_str()) == Some(i))
            .map(|(_, v)| v)
            .collect();
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        // Four parameters a row.
        for batch in unique.chunks(BATCH / 4) {
            let rows = (0..batch.len())
                .map(|i| {
                    format!(
                        "(${}, ${}, ${}, ${})",
                        4 * i + 1,
                        4 * i + 2,
                        4 * i + 3,
                        4 * i + 4
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = safe!(
                "INSERT INTO chunk_vectors (model, dims, content_hash, vector) VALUES {rows} \
                 ON CONFLICT (model, dims, content_hash) DO UPDATE SET vector = excluded.vector"
            );
            let mut q = sqlx::query(sql);
            for (h, v) in batch.iter().copied() {
                q = q.bind(space.model).bind(dims).bind(h).bind(to_bytes(v));
            }
            q.execute(&mut *tx).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(())
    }

    async fn prune_chunk_vectors(&self, keep: &[String]) -> R<u64> {
        let keep: HashSet<&str> = keep.iter().map(String::as_str).collect();
        let stored: Vec<String> = sqlx::query("SELECT DISTINCT content_hash FROM chunk_vectors")
            .fetch_all(&self.write)
            .await
            .map_err(backend_err)?
            .iter()
            .map(|r| r.try_get("content_hash").map_err(corrupt))
            .collect::<R<_>>()?;
        let gone: Vec<&String> = stored
            .iter()
            .filter(|h| !keep.contains(h.as_str()))
            .collect();
        let mut deleted = 0;
        for batch in gone.chunks(BATCH) {
            let sql = safe!(
                "DELETE FROM chunk_vectors WHERE content_hash IN ({})",
                placeholders(1, batch.len())
            );
            let mut q = sqlx::query(sql);
            for h in batch {
                q = q.bind(*h);
            }
            deleted += q
                .execute(&self.write)
                .await
                .map_err(backend_err)?
                .rows_affected();
        }
        Ok(deleted)
    }
}
