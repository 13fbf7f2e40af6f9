//! `impl RetentionStore for Db`: purges in bounded batches; rows stay, with `purged_at`.

use crate::rows::corrupt;
use crate::store_impl::{R, safe};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::store::*;
use support_core::time::Millis;

/// What retention leaves in place of a purged step result or event data.
const PURGED_JSON: &str = r#"{"purged":true}"#;

/// A stored event (JSON) with its `data` replaced by `{"purged": true}`; its name, id and
/// time stay. Unparseable text is replaced whole.
fn purged_event(stored: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("data".into(), serde_json::json!({"purged": true}));
            serde_json::Value::Object(map).to_string()
        }
        _ => PURGED_JSON.to_string(),
    }
}

#[async_trait]
impl RetentionStore for Db {
    async fn purge_message_bodies(&self, before: Millis, at: Millis) -> R<u64> {
        let done = sqlx::query(
            "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE sent_at < $1 AND purged_at IS NULL",
        )
        .bind(before)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_message_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> R<u64> {
        let q = match scope {
            RetentionScope::App(app) => sqlx::query(
                "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE id IN (\
                 SELECT m.id FROM messages m JOIN conversations c ON c.front_id = m.conversation_id \
                 WHERE c.app = $4 AND m.purged_at IS NULL AND m.sent_at < $1 ORDER BY m.sent_at LIMIT $3)",
            )
            .bind(before)
            .bind(at)
            .bind(limit.max(0))
            .bind(app.clone()),
            RetentionScope::Unowned => sqlx::query(
                "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE id IN (\
                 SELECT m.id FROM messages m WHERE m.purged_at IS NULL AND m.sent_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM conversations c JOIN apps a ON a.slug = c.app \
                 WHERE c.front_id = m.conversation_id) ORDER BY m.sent_at LIMIT $3)",
            )
            .bind(before)
            .bind(at)
            .bind(limit.max(0)),
        };
        let done = q.execute(&self.write).await.map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_approval_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> R<u64> {
        // Decided before the cutoff, every approval of the action too; the action no longer in
        // flight and not waiting for a retry (an unresolved dead letter needs its params).
        const PICK: &str = "SELECT ap.id, ap.action_id FROM approvals ap JOIN actions a ON a.id = ap.action_id \
             WHERE ap.purged_at IS NULL AND ap.status <> 'pending' AND ap.decided_at IS NOT NULL AND ap.decided_at < $1 \
             AND a.status NOT IN ('pending_approval', 'approved', 'executing') \
             AND NOT EXISTS (SELECT 1 FROM approvals p WHERE p.action_id = a.id AND (p.decided_at IS NULL OR p.decided_at >= $1)) \
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.ref_id = a.id AND d.resolved_at IS NULL)";
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = match scope {
            RetentionScope::App(app) => sqlx::query(safe!(
                "{PICK} AND a.app = $3 ORDER BY ap.decided_at, ap.id LIMIT $2"
            ))
            .bind(before)
            .bind(limit.max(0))
            .bind(app.clone()),
            RetentionScope::Unowned => sqlx::query(safe!(
                "{PICK} AND NOT EXISTS (SELECT 1 FROM apps x WHERE x.slug = a.app) ORDER BY ap.decided_at, ap.id LIMIT $2"
            ))
            .bind(before)
            .bind(limit.max(0)),
        }
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut approvals = Vec::with_capacity(rows.len());
        let mut actions = Vec::with_capacity(rows.len());
        for r in &rows {
            approvals.push(r.try_get::<String, _>("id").map_err(corrupt)?);
            actions.push(r.try_get::<String, _>("action_id").map_err(corrupt)?);
        }
        actions.sort();
        actions.dedup();
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut q = sqlx::query(safe!(
            "UPDATE approvals SET draft = NULL, capability = NULL, purged_at = $1 \
             WHERE purged_at IS NULL AND id IN ({})",
            list(approvals.len())
        ))
        .bind(at);
        for id in &approvals {
            q = q.bind(id);
        }
        let done = q.execute(&mut *tx).await.map_err(backend_err)?;
        let mut q = sqlx::query(safe!(
            "UPDATE actions SET params = $1, reasoning = NULL, result = NULL WHERE id IN ({})",
            list(actions.len())
        ))
        .bind("{}");
        for id in &actions {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn approval_purged_at(&self, id: &str) -> R<Option<Millis>> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT purged_at FROM approvals WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await
                .map_err(backend_err)?;
        Ok(v.flatten())
    }

    async fn purge_run_batch(&self, before: Millis, at: Millis, limit: i64) -> R<u64> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = sqlx::query(
            "SELECT r.id, r.event FROM steps_runs r WHERE r.purged_at IS NULL AND r.ended_at IS NOT NULL \
             AND r.ended_at < $1 AND (r.status = 'completed' OR (r.status IN ('failed', 'cancelled') \
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.ref_id = r.id AND d.resolved_at IS NULL))) \
             ORDER BY r.ended_at, r.id LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        for r in &rows {
            let id: String = r.try_get("id").map_err(corrupt)?;
            let event: String = r.try_get("event").map_err(corrupt)?;
            sqlx::query("UPDATE steps_steps SET result = $2 WHERE run_id = $1")
                .bind(&id)
                .bind(PURGED_JSON)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
            sqlx::query(
                "UPDATE steps_runs SET event = $2, output = NULL, purged_at = $3 WHERE id = $1",
            )
            .bind(&id)
            .bind(purged_event(&event))
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(rows.len() as u64)
    }

    async fn purge_event_batch(&self, before: Millis, at: Millis, limit: i64) -> R<u64> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = sqlx::query(
            "SELECT e.seq, e.payload FROM steps_events e WHERE e.purged_at IS NULL \
             AND e.processed_at IS NOT NULL AND e.processed_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM steps_runs r WHERE r.event_id = e.id AND r.purged_at IS NULL) \
             ORDER BY e.processed_at, e.seq LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        for r in &rows {
            let seq: i64 = r.try_get("seq").map_err(corrupt)?;
            let payload: String = r.try_get("payload").map_err(corrupt)?;
            sqlx::query("UPDATE steps_events SET payload = $2, purged_at = $3 WHERE seq = $1")
                .bind(seq)
                .bind(purged_event(&payload))
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(rows.len() as u64)
    }
}
