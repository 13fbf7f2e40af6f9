//! `impl RunStore for Db`: the durable step runner's storage on SQLite and Postgres. Claims are
//! exclusive: on Postgres a claim takes a transaction-scoped advisory lock (so the concurrency-key
//! count cannot race between instances) and `FOR UPDATE SKIP LOCKED`; on SQLite the single
//! writer connection serializes them.

use crate::{Backend, Db};
use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction, any::AnyRow};
use std::collections::{HashMap, HashSet};
use support_steps::store::*;
use support_steps::{error::RunStoreError, event::Event, event::Millis};

type R<T> = Result<T, RunStoreError>;

/// SQL built from constant column lists and numbered placeholders only; values are always bound.
macro_rules! safe {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

fn err(e: sqlx::Error) -> RunStoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => RunStoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            RunStoreError::Conflict(db.message().to_string())
        }
        _ => RunStoreError::Backend(e.to_string()),
    }
}

fn corrupt(e: impl std::fmt::Display) -> RunStoreError {
    RunStoreError::Corrupt(e.to_string())
}

fn get<T>(row: &AnyRow, col: &str) -> R<T>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn json_col(row: &AnyRow, col: &str) -> R<Value> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn opt_json(row: &AnyRow, col: &str) -> R<Option<Value>> {
    let s: Option<String> = get(row, col)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("column {col}: {e}"))))
        .transpose()
}

const RUN_COLS: &str = "id, function_id, event, status, attempt, available_at, concurrency_key, idempotency_key, \
                        parent_run_id, output, error, created_at, started_at, updated_at, ended_at";
const WAIT_COLS: &str = "id, run_id, kind, hash, step_name, event_name, expr, correlation, after_seq, created_at, expires_at";
const STEP_COLS: &str = "hash, name, kind, status, result, attempt, started_at, ended_at";

/// Far in the future: a wait without expiry.
const NEVER: Millis = i64::MAX / 4;

fn run_row(row: &AnyRow) -> R<RunSummary> {
    let status: String = get(row, "status")?;
    let event: Event = serde_json::from_value(json_col(row, "event")?).map_err(corrupt)?;
    Ok(RunSummary {
        id: get(row, "id")?,
        function_id: get(row, "function_id")?,
        status: RunStatus::parse(&status).ok_or_else(|| corrupt(format!("run status {status}")))?,
        attempt: get::<i64>(row, "attempt")? as u32,
        event,
        available_at: get(row, "available_at")?,
        concurrency_key: get(row, "concurrency_key")?,
        idempotency_key: get(row, "idempotency_key")?,
        parent_run_id: get(row, "parent_run_id")?,
        output: opt_json(row, "output")?,
        error: opt_json(row, "error")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        updated_at: get(row, "updated_at")?,
        ended_at: get(row, "ended_at")?,
    })
}

fn wait_row(row: &AnyRow) -> R<WaitRecord> {
    let kind: String = get(row, "kind")?;
    Ok(WaitRecord {
        id: get(row, "id")?,
        run_id: get(row, "run_id")?,
        kind: WaitKind::parse(&kind).ok_or_else(|| corrupt(format!("wait kind {kind}")))?,
        hash: get(row, "hash")?,
        step_name: get(row, "step_name")?,
        event_name: get(row, "event_name")?,
        expr: get(row, "expr")?,
        correlation: get(row, "correlation")?,
        after_seq: get(row, "after_seq")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

fn step_row(row: &AnyRow) -> R<StepRecord> {
    let status: String = get(row, "status")?;
    Ok(StepRecord {
        hash: get(row, "hash")?,
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("step status {status}")))?,
        result: json_col(row, "result")?,
        attempt: get::<i64>(row, "attempt")? as u32,
        started_at: get(row, "started_at")?,
        ended_at: get(row, "ended_at")?,
    })
}

fn event_row(row: &AnyRow) -> R<StoredEvent> {
    Ok(StoredEvent {
        seq: get(row, "seq")?,
        event: serde_json::from_value(json_col(row, "payload")?).map_err(corrupt)?,
        received_at: get(row, "received_at")?,
    })
}

type Tx<'a> = Transaction<'a, Any>;

async fn max_seq(tx: &mut Tx<'_>) -> R<i64> {
    sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(seq), 0) FROM steps_events")
        .fetch_one(&mut **tx)
        .await
        .map_err(err)
}

async fn insert_wait(
    tx: &mut Tx<'_>,
    run_id: &str,
    w: &NewWait,
    after_seq: i64,
    now: Millis,
) -> R<WaitRecord> {
    sqlx::query(safe!("INSERT INTO steps_waits ({WAIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&w.id)
        .bind(run_id)
        .bind(w.kind.as_str())
        .bind(&w.hash)
        .bind(&w.step_name)
        .bind(&w.event_name)
        .bind(&w.expr)
        .bind(&w.correlation)
        .bind(after_seq)
        .bind(now)
        .bind(w.expires_at)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    Ok(WaitRecord {
        id: w.id.clone(),
        run_id: run_id.to_string(),
        kind: w.kind,
        hash: w.hash.clone(),
        step_name: w.step_name.clone(),
        event_name: w.event_name.clone(),
        expr: w.expr.clone(),
        correlation: w.correlation.clone(),
        after_seq,
        created_at: now,
        expires_at: w.expires_at,
    })
}

/// Create a run (or fold it into a debounced one); true when a new run was created.
async fn insert_run(tx: &mut Tx<'_>, run: &NewRun, now: Millis) -> R<bool> {
    let event = serde_json::to_string(&run.event).map_err(corrupt)?;
    if let Some(key) = &run.debounce_key {
        let done = sqlx::query(
            "UPDATE steps_runs SET event = $1, event_id = $2, available_at = $3, updated_at = $4 \
             WHERE function_id = $5 AND debounce_key = $6 AND status = 'queued' AND started_at IS NULL",
        )
        .bind(&event)
        .bind(&run.event.id)
        .bind(run.available_at)
        .bind(now)
        .bind(&run.function_id)
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        if done.rows_affected() > 0 {
            return Ok(false);
        }
    }
    let done = sqlx::query(
        "INSERT INTO steps_runs (id, function_id, event, event_id, status, attempt, available_at, woken, \
         concurrency_key, concurrency_limit, idempotency_key, debounce_key, parent_run_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, 0, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT DO NOTHING",
    )
    .bind(&run.id)
    .bind(&run.function_id)
    .bind(&event)
    .bind(&run.event.id)
    .bind(run.available_at)
    .bind(&run.concurrency_key)
    .bind(run.concurrency_limit.map(i64::from))
    .bind(&run.idempotency_key)
    .bind(&run.debounce_key)
    .bind(&run.parent_run_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    if done.rows_affected() == 0 {
        tracing::info!(function = %run.function_id, key = ?run.idempotency_key, "run skipped: idempotency key already used");
        return Ok(false);
    }
    if !run.cancel_waits.is_empty() {
        let after = max_seq(tx).await?;
        for w in &run.cancel_waits {
            insert_wait(tx, &run.id, w, after, now).await?;
        }
    }
    Ok(true)
}

/// Make a waiting or sleeping run runnable now; a running one is flagged so its commit
/// re-queues it.
async fn wake_run(tx: &mut Tx<'_>, run_id: &str, now: Millis) -> R<()> {
    sqlx::query(
        "UPDATE steps_runs SET woken = 1, \
         available_at = CASE WHEN status IN ('waiting', 'sleeping') THEN $2 ELSE available_at END, \
         status = CASE WHEN status IN ('waiting', 'sleeping') THEN 'queued' ELSE status END, \
         updated_at = $2 WHERE id = $1",
    )
    .bind(run_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}

fn step_kind(kind: &str) -> &'static str {
    match kind {
        "sleep" => "sleep",
        "event" => "wait_for_event",
        "invoke" => "invoke",
        _ => "cancel",
    }
}

/// Delete a wait and memoize `value` for its step; returns its run id when it was still there.
async fn resolve_wait_tx(
    tx: &mut Tx<'_>,
    wait_id: &str,
    value: &Value,
    now: Millis,
    wake: bool,
) -> R<Option<String>> {
    let Some(row) = sqlx::query(
        "DELETE FROM steps_waits WHERE id = $1 RETURNING run_id, hash, step_name, kind",
    )
    .bind(wait_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(err)?
    else {
        return Ok(None);
    };
    let run_id: String = get(&row, "run_id")?;
    let hash: Option<String> = get(&row, "hash")?;
    let name: Option<String> = get(&row, "step_name")?;
    let kind: String = get(&row, "kind")?;
    if let Some(hash) = hash {
        let status = if value.get("error").is_some() {
            "failed"
        } else {
            "completed"
        };
        sqlx::query(safe!(
            "INSERT INTO steps_steps ({STEP_COLS}, run_id) VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7) ON CONFLICT (run_id, hash) DO NOTHING"
        ))
        .bind(&hash)
        .bind(name.unwrap_or_else(|| hash.clone()))
        .bind(step_kind(&kind))
        .bind(status)
        .bind(value.to_string())
        .bind(now)
        .bind(&run_id)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    }
    if wake {
        wake_run(tx, &run_id, now).await?;
    }
    Ok(Some(run_id))
}

/// Hand an ended run's result to the run that invoked it.
async fn resolve_parent(tx: &mut Tx<'_>, child_id: &str, value: &Value, now: Millis) -> R<()> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM steps_waits WHERE kind = 'invoke' AND correlation = $1")
            .bind(child_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(err)?;
    for id in ids {
        resolve_wait_tx(tx, &id, value, now, true).await?;
    }
    Ok(())
}

async fn cancel_run_tx(tx: &mut Tx<'_>, run_id: &str, reason: &Value, now: Millis) -> R<bool> {
    let done = sqlx::query(
        "UPDATE steps_runs SET status = 'cancelled', error = $2, ended_at = $3, updated_at = $3, \
         lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
    )
    .bind(run_id)
    .bind(reason.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM steps_waits WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    resolve_parent(tx, run_id, &json!({ "error": reason }), now).await?;
    Ok(true)
}

async fn end_run(
    tx: &mut Tx<'_>,
    run_id: &str,
    status: &str,
    output: Option<&Value>,
    error: Option<&Value>,
    now: Millis,
) -> R<()> {
    sqlx::query(
        "UPDATE steps_runs SET status = $2, output = $3, error = $4, ended_at = $5, updated_at = $5, \
         lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
    )
    .bind(run_id)
    .bind(status)
    .bind(output.map(Value::to_string))
    .bind(error.map(Value::to_string))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    sqlx::query("DELETE FROM steps_waits WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    let value = match (output, error) {
        (_, Some(e)) => json!({ "error": e }),
        (Some(o), None) => json!({ "data": o }),
        (None, None) => json!({ "data": null }),
    };
    resolve_parent(tx, run_id, &value, now).await
}

/// A run just leased (or kept): resolve its due timers and wait timeouts, and read its
/// memoized steps and pending waits. One query in the common case (nothing due).
async fn load_claimed(tx: &mut Tx<'_>, run: RunSummary, now: Millis) -> R<ClaimedRun> {
    let rows = sqlx::query(
        "SELECT 'w' AS src, id, kind, hash, expires_at, NULL AS result, NULL AS ended_at \
         FROM steps_waits WHERE run_id = $1 \
         UNION ALL SELECT 's', NULL, NULL, hash, NULL, result, ended_at \
         FROM steps_steps WHERE run_id = $1 AND status IN ('completed', 'failed')",
    )
    .bind(&run.id)
    .fetch_all(&mut **tx)
    .await
    .map_err(err)?;
    let mut pending = HashSet::new();
    let mut due: Vec<(i64, String, String)> = Vec::new();
    let mut steps: Vec<(i64, String, Value)> = Vec::new();
    for r in &rows {
        let src: String = get(r, "src")?;
        let hash: Option<String> = get(r, "hash")?;
        if src == "s" {
            let hash = hash.ok_or_else(|| corrupt("step without hash"))?;
            steps.push((get(r, "ended_at")?, hash, json_col(r, "result")?));
            continue;
        }
        match get::<Option<i64>>(r, "expires_at")? {
            Some(t) if t <= now => due.push((t, get(r, "id")?, get(r, "kind")?)),
            _ => pending.extend(hash),
        }
    }
    if !due.is_empty() {
        // Resolve due timers and wait timeouts (earliest first), then read the memo again.
        due.sort();
        for (_, id, kind) in &due {
            let value = match kind.as_str() {
                "invoke" => {
                    json!({"error": {"name": "InvokeTimeoutError", "message": "the invoked function timed out"}})
                }
                _ => json!({ "data": null }),
            };
            if kind == "cancel" {
                sqlx::query("DELETE FROM steps_waits WHERE id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(err)?;
            } else {
                resolve_wait_tx(tx, id, &value, now, false).await?;
            }
        }
        steps.clear();
        for r in sqlx::query(
            "SELECT hash, result, ended_at FROM steps_steps WHERE run_id = $1 AND status IN ('completed', 'failed')",
        )
        .bind(&run.id)
        .fetch_all(&mut **tx)
        .await
        .map_err(err)?
        {
            steps.push((get(&r, "ended_at")?, get(&r, "hash")?, json_col(&r, "result")?));
        }
    }
    // Completion order (Inngest's stack).
    steps.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut memo = HashMap::with_capacity(steps.len());
    let mut stack = Vec::with_capacity(steps.len());
    for (_, hash, result) in steps {
        memo.insert(hash.clone(), result);
        stack.push(hash);
    }
    Ok(ClaimedRun {
        run,
        memo,
        pending,
        stack,
    })
}

impl Db {
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Commit an invocation; with `keep = Some(lease_until)` a continuing run keeps its lease
    /// and is returned as claimed again.
    async fn commit_tx(
        &self,
        run_id: &str,
        owner: &str,
        c: &Commit,
        now: Millis,
        keep: Option<Millis>,
    ) -> R<Option<(Vec<WaitRecord>, Option<ClaimedRun>)>> {
        let mut tx = self.write.begin().await.map_err(err)?;
        // Lock the run and check the lease.
        let held = sqlx::query("UPDATE steps_runs SET updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'")
            .bind(run_id)
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if held.rows_affected() == 0 {
            tx.rollback().await.map_err(err)?;
            return Ok(None);
        }
        for s in &c.steps {
            sqlx::query(safe!(
                "INSERT INTO steps_steps ({STEP_COLS}, run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (run_id, hash) DO UPDATE SET status = excluded.status, result = excluded.result, \
                 attempt = excluded.attempt, started_at = excluded.started_at, ended_at = excluded.ended_at \
                 WHERE steps_steps.status = 'retrying'"
            ))
            .bind(&s.hash)
            .bind(&s.name)
            .bind(&s.kind)
            .bind(s.status.as_str())
            .bind(s.result.to_string())
            .bind(i64::from(s.attempt))
            .bind(s.started_at)
            .bind(s.ended_at)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        for ev in &c.events {
            sqlx::query(
                "INSERT INTO steps_events (id, name, payload, ts, received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&ev.id)
            .bind(&ev.name)
            .bind(serde_json::to_string(ev).map_err(corrupt)?)
            .bind(ev.ts)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        let mut waits = Vec::with_capacity(c.waits.len());
        if !c.waits.is_empty() {
            let after = max_seq(&mut tx).await?;
            for w in &c.waits {
                waits.push(insert_wait(&mut tx, run_id, w, after, now).await?);
            }
        }
        for run in &c.runs {
            insert_run(&mut tx, run, now).await?;
        }
        let mut kept = None;
        match &c.next {
            Next::Continue if keep.is_some() => {
                let row = sqlx::query(safe!(
                    "UPDATE steps_runs SET attempt = 0, woken = 0, available_at = $2, lease_expires_at = $3 \
                     WHERE id = $1 RETURNING {RUN_COLS}"
                ))
                .bind(run_id)
                .bind(now)
                .bind(keep)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
                kept = Some(load_claimed(&mut tx, run_row(&row)?, now).await?);
            }
            Next::Continue | Next::Retry { .. } => {
                let (at, attempt, error) = match &c.next {
                    Next::Retry { at, attempt, error } => {
                        (*at, i64::from(*attempt), Some(error.to_string()))
                    }
                    _ => (now, 0, None),
                };
                sqlx::query(
                    "UPDATE steps_runs SET status = 'queued', available_at = $2, attempt = $3, error = COALESCE($4, error), \
                     lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
                )
                .bind(run_id)
                .bind(at)
                .bind(attempt)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            Next::Pending => {
                let woken: i64 = sqlx::query_scalar("SELECT woken FROM steps_runs WHERE id = $1")
                    .bind(run_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err)?;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, MIN(expires_at) AS first, \
                     SUM(CASE WHEN kind IN ('event', 'invoke') THEN 1 ELSE 0 END) AS waiting \
                     FROM steps_waits WHERE run_id = $1 AND kind <> 'cancel'",
                )
                .bind(run_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
                let n: i64 = get(&row, "n")?;
                let first: Option<i64> = get(&row, "first")?;
                let waiting: Option<i64> = get(&row, "waiting")?;
                let (status, at) = if woken != 0 {
                    ("queued", now)
                } else if n == 0 {
                    // Nothing to wait for yet no progress: try again shortly.
                    ("queued", now + 1_000)
                } else if waiting.unwrap_or(0) > 0 {
                    ("waiting", first.unwrap_or(NEVER))
                } else {
                    ("sleeping", first.unwrap_or(NEVER))
                };
                sqlx::query(
                    "UPDATE steps_runs SET status = $2, available_at = $3, attempt = 0, lease_owner = NULL, \
                     lease_expires_at = NULL WHERE id = $1",
                )
                .bind(run_id)
                .bind(status)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            Next::Complete(output) => {
                end_run(&mut tx, run_id, "completed", Some(output), None, now).await?
            }
            Next::Fail(error) => end_run(&mut tx, run_id, "failed", None, Some(error), now).await?,
        }
        tx.commit().await.map_err(err)?;
        Ok(Some((waits, kept)))
    }
}

/// One event's effects inside a transaction (see `RunStore::apply_event`).
async fn apply_event_tx(
    tx: &mut Tx<'_>,
    seq: i64,
    owner: &str,
    effects: &EventEffects,
    now: Millis,
) -> R<()> {
    let done = sqlx::query(
        "UPDATE steps_events SET processed_at = $3, lease_owner = NULL, lease_expires_at = NULL \
             WHERE seq = $1 AND lease_owner = $2 AND processed_at IS NULL",
    )
    .bind(seq)
    .bind(owner)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    if done.rows_affected() == 0 {
        return Ok(()); // lease lost: another worker processes it
    }
    for run in &effects.new_runs {
        insert_run(tx, run, now).await?;
    }
    for (wait_id, value) in &effects.resolve {
        resolve_wait_tx(tx, wait_id, value, now, true).await?;
    }
    for wait_id in &effects.cancel {
        let run_id: Option<String> =
            sqlx::query_scalar("SELECT run_id FROM steps_waits WHERE id = $1")
                .bind(wait_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(err)?;
        if let Some(run_id) = run_id {
            let reason = json!({"name": "Cancelled", "message": "cancelled by a matching event"});
            cancel_run_tx(tx, &run_id, &reason, now).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl RunStore for Db {
    async fn insert_events(&self, events: &[Event], now: Millis) -> R<Vec<i64>> {
        let mut tx = self.write.begin().await.map_err(err)?;
        let mut seqs = Vec::with_capacity(events.len());
        for ev in events {
            let payload = serde_json::to_string(ev).map_err(corrupt)?;
            let seq: Option<i64> = sqlx::query_scalar(
                "INSERT INTO steps_events (id, name, payload, ts, received_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO NOTHING RETURNING seq",
            )
            .bind(&ev.id)
            .bind(&ev.name)
            .bind(&payload)
            .bind(ev.ts)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            let seq = match seq {
                Some(s) => s,
                None => sqlx::query_scalar("SELECT seq FROM steps_events WHERE id = $1")
                    .bind(&ev.id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err)?,
            };
            seqs.push(seq);
        }
        tx.commit().await.map_err(err)?;
        Ok(seqs)
    }

    async fn claim_events(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> R<Vec<StoredEvent>> {
        let lock = self.skip_locked();
        // One statement is atomic on its own: no explicit transaction (BEGIN and COMMIT would
        // be two more round trips on every pass of the worker loop).
        let rows = sqlx::query(safe!(
            "UPDATE steps_events SET lease_owner = $1, lease_expires_at = $2 WHERE seq IN (\
             SELECT seq FROM steps_events WHERE processed_at IS NULL AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
             ORDER BY seq LIMIT $4{lock}) RETURNING seq, payload, received_at"
        ))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await
        .map_err(err)?;
        let mut out = rows.iter().map(event_row).collect::<R<Vec<_>>>()?;
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    async fn waits_for_event(&self, name: &str) -> R<Vec<WaitRecord>> {
        sqlx::query(safe!(
            "SELECT {WAIT_COLS} FROM steps_waits WHERE event_name = $1 AND kind IN ('event', 'cancel') ORDER BY created_at, id"
        ))
        .bind(name)
        .fetch_all(&self.read)
        .await
        .map_err(err)?
        .iter()
        .map(wait_row)
        .collect()
    }

    async fn apply_event(
        &self,
        seq: i64,
        owner: &str,
        effects: &EventEffects,
        now: Millis,
    ) -> R<()> {
        let mut tx = self.write.begin().await.map_err(err)?;
        apply_event_tx(&mut tx, seq, owner, effects, now).await?;
        tx.commit().await.map_err(err)
    }

    async fn apply_events(&self, owner: &str, batch: &[(i64, EventEffects)], now: Millis) -> R<()> {
        let mut tx = self.write.begin().await.map_err(err)?;
        for (seq, effects) in batch {
            apply_event_tx(&mut tx, *seq, owner, effects, now).await?;
        }
        tx.commit().await.map_err(err)
    }

    async fn events_after(&self, name: &str, after_seq: i64, limit: u32) -> R<Vec<StoredEvent>> {
        sqlx::query("SELECT seq, payload, received_at FROM steps_events WHERE name = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(name)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(err)?
            .iter()
            .map(event_row)
            .collect()
    }

    async fn resolve_wait(&self, wait_id: &str, value: &Value, now: Millis) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(err)?;
        let done = resolve_wait_tx(&mut tx, wait_id, value, now, true)
            .await?
            .is_some();
        tx.commit().await.map_err(err)?;
        Ok(done)
    }

    async fn claim_run(&self, owner: &str, now: Millis, lease_ms: i64) -> R<Option<ClaimedRun>> {
        let lock = self.skip_locked();
        let mut tx = self.write.begin().await.map_err(err)?;
        if self.backend == Backend::Postgres {
            // Serialize claims across instances so concurrency counts are exact.
            sqlx::query("SELECT pg_advisory_xact_lock(727374657073)")
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        let row = sqlx::query(safe!(
            "UPDATE steps_runs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             started_at = COALESCE(started_at, $3), updated_at = $3, woken = 0 \
             WHERE id = (SELECT r.id FROM steps_runs r WHERE \
               ((r.status IN ('queued', 'sleeping', 'waiting') AND r.available_at <= $3) \
                OR (r.status = 'running' AND r.lease_expires_at < $3)) \
               AND (r.concurrency_key IS NULL OR (SELECT COUNT(*) FROM steps_runs o WHERE o.concurrency_key = r.concurrency_key \
                    AND o.status = 'running' AND o.lease_expires_at >= $3 AND o.id <> r.id) < r.concurrency_limit) \
             ORDER BY r.available_at, r.id LIMIT 1{lock}) \
             RETURNING {RUN_COLS}"
        ))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(row) = row else {
            tx.commit().await.map_err(err)?;
            return Ok(None);
        };
        let claimed = load_claimed(&mut tx, run_row(&row)?, now).await?;
        tx.commit().await.map_err(err)?;
        Ok(Some(claimed))
    }

    async fn renew_lease(&self, run_id: &str, owner: &str, until: Millis) -> R<bool> {
        let done = sqlx::query(
            "UPDATE steps_runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(run_id)
        .bind(owner)
        .bind(until)
        .execute(&self.write)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn commit(
        &self,
        run_id: &str,
        owner: &str,
        c: &Commit,
        now: Millis,
    ) -> R<Option<Vec<WaitRecord>>> {
        Ok(self
            .commit_tx(run_id, owner, c, now, None)
            .await?
            .map(|(waits, _)| waits))
    }

    async fn commit_continue(
        &self,
        run_id: &str,
        owner: &str,
        c: &Commit,
        now: Millis,
        lease_until: Millis,
    ) -> R<Option<(Vec<WaitRecord>, Option<ClaimedRun>)>> {
        self.commit_tx(run_id, owner, c, now, Some(lease_until))
            .await
    }

    async fn next_due(&self) -> R<Option<Millis>> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(available_at) FROM steps_runs WHERE status IN ('queued', 'sleeping', 'waiting')",
        )
        .fetch_one(&self.read)
        .await
        .map_err(err)
    }

    async fn cancel_run(&self, run_id: &str, reason: &Value, now: Millis) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(err)?;
        let done = cancel_run_tx(&mut tx, run_id, reason, now).await?;
        tx.commit().await.map_err(err)?;
        Ok(done)
    }

    async fn replay_run(&self, run_id: &str, cancel_waits: &[NewWait], now: Millis) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(err)?;
        let done = sqlx::query(
            "UPDATE steps_runs SET status = 'queued', attempt = 0, available_at = $2, error = NULL, output = NULL, \
             ended_at = NULL, woken = 0, updated_at = $2 WHERE id = $1 AND status IN ('failed', 'cancelled')",
        )
        .bind(run_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(err)?;
            return Ok(false);
        }
        sqlx::query(
            "DELETE FROM steps_steps WHERE run_id = $1 AND status IN ('failed', 'retrying')",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if !cancel_waits.is_empty() {
            let after = max_seq(&mut tx).await?;
            for w in cancel_waits {
                insert_wait(&mut tx, run_id, w, after, now).await?;
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn get_run(&self, run_id: &str) -> R<Option<RunDetail>> {
        let Some(row) = sqlx::query(safe!("SELECT {RUN_COLS} FROM steps_runs WHERE id = $1"))
            .bind(run_id)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?
        else {
            return Ok(None);
        };
        let run = run_row(&row)?;
        let steps = sqlx::query(safe!("SELECT {STEP_COLS} FROM steps_steps WHERE run_id = $1 ORDER BY started_at, ended_at, hash"))
            .bind(run_id)
            .fetch_all(&self.read)
            .await
            .map_err(err)?
            .iter()
            .map(step_row)
            .collect::<R<Vec<_>>>()?;
        let waits = sqlx::query(safe!(
            "SELECT {WAIT_COLS} FROM steps_waits WHERE run_id = $1 ORDER BY created_at, id"
        ))
        .bind(run_id)
        .fetch_all(&self.read)
        .await
        .map_err(err)?
        .iter()
        .map(wait_row)
        .collect::<R<Vec<_>>>()?;
        Ok(Some(RunDetail { run, steps, waits }))
    }

    async fn list_runs(&self, f: &RunFilter) -> R<Vec<RunSummary>> {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(fid) = &f.function_id {
            binds.push(fid.clone());
            conds.push(format!("function_id = ${}", binds.len()));
        }
        if let Some(st) = f.status {
            binds.push(st.as_str().to_string());
            conds.push(format!("status = ${}", binds.len()));
        }
        if let Some(eid) = &f.event_id {
            binds.push(eid.clone());
            conds.push(format!("event_id = ${}", binds.len()));
        }
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let limit = if f.limit == 0 {
            100
        } else {
            i64::from(f.limit)
        };
        let n = binds.len() + 1;
        let mut q = sqlx::query(safe!(
            "SELECT {RUN_COLS} FROM steps_runs {where_} ORDER BY created_at DESC, id DESC LIMIT ${n}"
        ));
        for b in binds {
            q = q.bind(b);
        }
        q.bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(err)?
            .iter()
            .map(run_row)
            .collect()
    }

    async fn upsert_app(&self, app: &AppRecord) -> R<()> {
        sqlx::query(
            "INSERT INTO steps_apps (id, url, sdk, framework, functions, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, sdk = excluded.sdk, framework = excluded.framework, \
             functions = excluded.functions, updated_at = excluded.updated_at",
        )
        .bind(&app.id)
        .bind(&app.url)
        .bind(&app.sdk)
        .bind(&app.framework)
        .bind(app.functions.to_string())
        .bind(app.updated_at)
        .execute(&self.write)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn apps_version(&self) -> R<(i64, Millis)> {
        let sql = "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS m FROM steps_apps";
        let row = sqlx::query(sql).fetch_one(&self.read).await.map_err(err)?;
        Ok((get(&row, "n")?, get(&row, "m")?))
    }

    async fn list_apps(&self) -> R<Vec<AppRecord>> {
        sqlx::query(
            "SELECT id, url, sdk, framework, functions, updated_at FROM steps_apps ORDER BY id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(err)?
        .iter()
        .map(|r| {
            Ok(AppRecord {
                id: get(r, "id")?,
                url: get(r, "url")?,
                sdk: get(r, "sdk")?,
                framework: get(r, "framework")?,
                functions: json_col(r, "functions")?,
                updated_at: get(r, "updated_at")?,
            })
        })
        .collect()
    }
}
