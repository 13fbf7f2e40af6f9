//! `impl AuditStore for Db`: the hash-chained audit log and its archives.

use crate::rows::{self, corrupt};
use crate::store_impl::{AUDIT_COLS, R, safe};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::audit::{self, AuditEvent, AuditRecord};
use support_core::store::*;
use support_core::time::now_ms;

/// Append one audit row inside `tx` (the caller commits).
async fn append_audit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ev: &AuditEvent,
) -> R<AuditRecord> {
    // Bumping the head row first serializes appenders (a row lock on Postgres, the single
    // writer on SQLite), so the chain never forks.
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await
        .map_err(backend_err)?;
    let seq: i64 = head.try_get("seq").map_err(corrupt)?;
    let prev_hash: String = head.try_get("hash").map_err(corrupt)?;
    let at = now_ms();
    let canonical = audit::canonical_row(seq, at, ev, &prev_hash);
    let hash = audit::chain_hash(&prev_hash, &canonical);
    sqlx::query(safe!(
        "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(seq)
    .bind(at)
    .bind(&ev.kind)
    .bind(&ev.app)
    .bind(&ev.conversation_id)
    .bind(&ev.actor)
    .bind(&ev.trace_id)
    .bind(audit::canonical_json(&ev.data))
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await
    .map_err(backend_err)?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(backend_err)?;
    record_sdk_health(tx, ev, seq).await?;
    Ok(AuditRecord {
        seq,
        at,
        kind: ev.kind.clone(),
        app: ev.app.clone(),
        conversation_id: ev.conversation_id.clone(),
        actor: ev.actor.clone(),
        trace_id: ev.trace_id.clone(),
        data: ev.data.clone(),
        prev_hash,
        hash,
    })
}

/// A `tool.called` entry of an app moves that app's SDK endpoint health
/// (`sdk_endpoint_health`, read by the dashboard) to this entry, in the append's transaction.
async fn record_sdk_health(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ev: &AuditEvent,
    seq: i64,
) -> R<()> {
    let (Some(app), Some(ok)) = (
        ev.app.as_deref(),
        ev.data.get("ok").and_then(|v| v.as_bool()),
    ) else {
        return Ok(());
    };
    if ev.kind != "tool.called" {
        return Ok(());
    }
    let sql = if ok {
        "INSERT INTO sdk_endpoint_health (app, ok_seq) VALUES ($1, $2) \
         ON CONFLICT (app) DO UPDATE SET ok_seq = excluded.ok_seq"
    } else {
        "INSERT INTO sdk_endpoint_health (app, failed_seq) VALUES ($1, $2) \
         ON CONFLICT (app) DO UPDATE SET failed_seq = excluded.failed_seq"
    };
    sqlx::query(sql)
        .bind(app)
        .bind(seq)
        .execute(&mut **tx)
        .await
        .map_err(backend_err)?;
    Ok(())
}

#[async_trait]
impl AuditStore for Db {
    async fn append_audit(&self, ev: &AuditEvent) -> R<AuditRecord> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let record = append_audit_in(&mut tx, ev).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(record)
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> R<Vec<AuditRecord>> {
        sqlx::query(safe!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::audit)
        .collect()
    }

    async fn list_audit(&self, f: &AuditFilter) -> R<Vec<AuditRecord>> {
        let limit = if f.limit <= 0 { 100 } else { f.limit.min(1000) };
        sqlx::query(safe!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 \
             AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR conversation_id = $3) AND ($4 IS NULL OR kind = $4) \
             ORDER BY seq LIMIT $5"
        ))
        .bind(f.after_seq)
        .bind(&f.app)
        .bind(&f.conversation_id)
        .bind(&f.kind)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::audit)
        .collect()
    }

    async fn audit_head(&self) -> R<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.read)
            .await
            .map_err(backend_err)?;
        Ok((
            row.try_get("seq").map_err(corrupt)?,
            row.try_get("hash").map_err(corrupt)?,
        ))
    }

    async fn audit_genesis(&self) -> R<(i64, String)> {
        let row = sqlx::query(
            "SELECT through_seq, through_hash FROM audit_archives ORDER BY through_seq DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        match row {
            Some(r) => Ok((
                r.try_get("through_seq").map_err(corrupt)?,
                r.try_get("through_hash").map_err(corrupt)?,
            )),
            None => Ok((0, audit::GENESIS.to_string())),
        }
    }

    async fn list_audit_archives(&self) -> R<Vec<AuditArchiveRow>> {
        sqlx::query(
            "SELECT through_seq, through_hash, from_seq, row_count, before_at, archived_at, actor \
             FROM audit_archives ORDER BY through_seq",
        )
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| {
            Ok(AuditArchiveRow {
                through_seq: r.try_get("through_seq").map_err(corrupt)?,
                through_hash: r.try_get("through_hash").map_err(corrupt)?,
                from_seq: r.try_get("from_seq").map_err(corrupt)?,
                row_count: r.try_get("row_count").map_err(corrupt)?,
                before_at: r.try_get("before_at").map_err(corrupt)?,
                archived_at: r.try_get("archived_at").map_err(corrupt)?,
                actor: r.try_get("actor").map_err(corrupt)?,
            })
        })
        .collect()
    }

    async fn archive_audit(&self, a: &AuditArchiveRow, ev: &AuditEvent) -> R<AuditRecord> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        // Take the head's lock first, as appenders do, so archives and appends serialize.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        let genesis: Option<i64> =
            sqlx::query_scalar("SELECT MAX(through_seq) FROM audit_archives")
                .fetch_one(&mut *tx)
                .await
                .map_err(backend_err)?;
        let genesis = genesis.unwrap_or(0);
        if a.from_seq != genesis + 1 || a.through_seq < a.from_seq {
            return Err(StoreError::Conflict(format!(
                "the archive must start at seq {} (it starts at {} and ends at {})",
                genesis + 1,
                a.from_seq,
                a.through_seq
            )));
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(a.through_seq)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend_err)?;
        if hash.as_deref() != Some(a.through_hash.as_str()) {
            return Err(StoreError::Conflict(format!(
                "audit row {} does not have the archived head hash",
                a.through_seq
            )));
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq >= $1 AND seq <= $2")
                .bind(a.from_seq)
                .bind(a.through_seq)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend_err)?;
        if count != a.row_count || count != a.through_seq - a.from_seq + 1 {
            return Err(StoreError::Conflict(format!(
                "the archived range holds {count} rows, expected {}",
                a.row_count
            )));
        }
        sqlx::query(
            "INSERT INTO audit_archives (through_seq, through_hash, from_seq, row_count, before_at, archived_at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.through_seq)
        .bind(&a.through_hash)
        .bind(a.from_seq)
        .bind(a.row_count)
        .bind(a.before_at)
        .bind(a.archived_at)
        .bind(&a.actor)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(a.through_seq)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        let record = append_audit_in(&mut tx, ev).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(record)
    }
}
