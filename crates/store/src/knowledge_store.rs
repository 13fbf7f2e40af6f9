//! `impl KnowledgeStore for Db`: trust scores, knowledge chunks and canned responses.

use crate::rows::{self};
use crate::store_impl::R;
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;

#[async_trait]
impl KnowledgeStore for Db {
    async fn upsert_trust(&self, t: &TrustRow) -> R<()> {
        sqlx::query(
            "INSERT INTO trust_scores (app, category, score, samples, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app, category) DO UPDATE SET score = excluded.score, samples = excluded.samples, updated_at = excluded.updated_at",
        )
        .bind(&t.app)
        .bind(&t.category)
        .bind(t.score)
        .bind(t.samples)
        .bind(t.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_trust(&self, app: &str, category: &str) -> R<Option<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE app = $1 AND category = $2")
            .bind(app)
            .bind(category)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::trust(&r))
            .transpose()
    }

    async fn list_trust(&self, app: Option<&str>) -> R<Vec<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE ($1 IS NULL OR app = $1) ORDER BY app, category")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::trust)
            .collect()
    }

    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query("INSERT INTO kb_documents (id, app, title, source, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&doc.id)
            .bind(&doc.app)
            .bind(&doc.title)
            .bind(&doc.source)
            .bind(&doc.body)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        for c in chunks {
            sqlx::query("INSERT INTO kb_chunks (id, document_id, app, ordinal, text) VALUES ($1, $2, $3, $4, $5)")
                .bind(&c.id)
                .bind(&c.document_id)
                .bind(&c.app)
                .bind(c.ordinal)
                .bind(&c.text)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn list_kb_chunks(&self, app: &str) -> R<Vec<KbChunk>> {
        sqlx::query("SELECT id, document_id, app, ordinal, text FROM kb_chunks WHERE app = $1 ORDER BY document_id, ordinal")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::kb_chunk)
            .collect()
    }

    async fn upsert_canned(&self, c: &CannedResponse) -> R<()> {
        sqlx::query(
            "INSERT INTO canned_responses (id, app, name, trigger_pattern, body, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET app = excluded.app, name = excluded.name, trigger_pattern = excluded.trigger_pattern, \
             body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&c.id)
        .bind(&c.app)
        .bind(&c.name)
        .bind(&c.trigger)
        .bind(&c.body)
        .bind(c.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn list_canned(&self, app: Option<&str>) -> R<Vec<CannedResponse>> {
        sqlx::query(
            "SELECT id, app, name, trigger_pattern, body, updated_at FROM canned_responses \
             WHERE ($1 IS NULL OR app IS NULL OR app = $1) ORDER BY name, id",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::canned)
        .collect()
    }
}
