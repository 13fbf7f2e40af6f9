//! `impl DeliveryStore for Db`: webhook receipts, idempotency keys and dead letters.

use crate::rows::{self, corrupt};
use crate::store_impl::{R, to_json};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::store::*;
use support_core::time::Millis;

#[async_trait]
impl DeliveryStore for Db {
    async fn record_webhook_receipt(&self, source: &str, event_id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "INSERT INTO webhook_receipts (source, event_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (source, event_id) DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn receipt_exists(&self, source: &str, event_id: &str) -> R<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM webhook_receipts WHERE source = $1 AND event_id = $2",
        )
        .bind(source)
        .bind(event_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        Ok(row.is_some())
    }

    async fn idempotency_begin(&self, key: &str, scope: &str, at: Millis) -> R<IdempotencyState> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key, scope, status, created_at) VALUES ($1, $2, 'started', $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(scope)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyState::Started);
        }
        let row = sqlx::query("SELECT status, result FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_one(&self.write)
            .await
            .map_err(backend_err)?;
        let status: String = row.try_get("status").map_err(corrupt)?;
        if status == "completed" {
            let result: Option<String> = row.try_get("result").map_err(corrupt)?;
            let v = result
                .map(|s| serde_json::from_str(&s).map_err(corrupt))
                .transpose()?
                .unwrap_or(serde_json::Value::Null);
            Ok(IdempotencyState::Completed(v))
        } else {
            Ok(IdempotencyState::InProgress)
        }
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        result: &serde_json::Value,
        at: Millis,
    ) -> R<()> {
        let done = sqlx::query("UPDATE idempotency_keys SET status = 'completed', result = $2, completed_at = $3 WHERE key = $1")
            .bind(key)
            .bind(to_json(result))
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("idempotency key {key}")));
        }
        Ok(())
    }

    async fn idempotency_abandon(&self, key: &str) -> R<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND status = 'started'")
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn insert_dead_letter(&self, d: &DeadLetter) -> R<()> {
        sqlx::query("INSERT INTO dead_letters (id, kind, ref_id, error, payload, created_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&d.id)
            .bind(d.kind.as_str())
            .bind(&d.ref_id)
            .bind(&d.error)
            .bind(to_json(&d.payload))
            .bind(d.created_at)
            .bind(d.resolved_at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn list_dead_letters(&self, include_resolved: bool) -> R<Vec<DeadLetter>> {
        let sql = if include_resolved {
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters ORDER BY created_at, id"
        } else {
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE resolved_at IS NULL ORDER BY created_at, id"
        };
        sqlx::query(sql)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::dead_letter)
            .collect()
    }

    async fn resolve_dead_letter(&self, id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "UPDATE dead_letters SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_dead_letter(&self, id: &str) -> R<Option<DeadLetter>> {
        sqlx::query(
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(rows::dead_letter)
        .transpose()
    }

    async fn dead_letters_of(&self, ref_id: &str) -> R<Vec<DeadLetter>> {
        sqlx::query(
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE ref_id = $1 ORDER BY created_at, id",
        )
        .bind(ref_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::dead_letter)
        .collect()
    }
}
