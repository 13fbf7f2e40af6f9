//! `cargo xtask seed`: fills a database with a year of synthetic support traffic for the
//! dashboard benchmark (`cargo xtask bench-dashboard`).
//!
//! `--conversations N` (default 1,000,000), `--audit N` (default 10,000,000 on SQLite,
//! 5,000,000 on Postgres), `--db PATH` (SQLite, default `target/bench-dashboard/sqlite/support.db`)
//! or `--postgres URL`, `--json` (a JSON summary on stdout instead of the text one).
//!
//! The schema is the store's own (`support_store::Db::connect` runs the migrations); the rows
//! are written with multi-row `INSERT`s in transactions of [`CHUNK`] conversations. Traffic is
//! spread over the three demo apps and the last 12 months, oldest first: statuses, escalations,
//! 1-4 messages, route decisions (action, category, confidence, flags) in the audit trail,
//! refund actions with approvals (pending ones only in the last two days) and magic-link
//! actions. The audit rows form a valid hash chain computed with `support_core::audit`, and
//! the head is recorded, so `skill audit verify` passes. Built in release: a debug `xtask`
//! re-runs itself with `cargo run --release`.

use anyhow::{Context, Result, bail};
use sqlx::AnyConnection;
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support_core::audit;

mod generate;
use generate::{Chunk, Generator, Schema, Table, V};

const INNER: &str = "XTASK_SEED_RELEASE";
/// Conversations per transaction.
const CHUNK: usize = 5_000;
/// Rows per multi-row `INSERT` (at most 12 columns: 6,000 parameters, under both limits).
const ROWS_PER_INSERT: usize = 500;
/// What to seed where.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub url: String,
    pub conversations: u64,
    pub audit: u64,
    /// The newest timestamp (Unix ms); traffic covers the 365 days before it.
    pub now: i64,
    pub progress: bool,
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SeedReport {
    pub backend: String,
    pub conversations: u64,
    pub messages: u64,
    pub actions: u64,
    pub approvals: u64,
    pub pending_approvals: u64,
    pub drafts: u64,
    pub audit: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub seconds: f64,
}

fn usage() -> &'static str {
    "cargo xtask seed [--postgres URL | --db PATH] [--conversations N] [--audit N] [--json]"
}

/// The backfill of `sdk_endpoint_health`, as in its migration.
const SDK_HEALTH_BACKFILL: &str = "INSERT INTO sdk_endpoint_health (app, ok_seq, failed_seq) \
     SELECT app, MAX(CASE WHEN data LIKE '%\"ok\":true%' THEN seq END), \
     MAX(CASE WHEN data LIKE '%\"ok\":false%' THEN seq END) \
     FROM audit_log WHERE kind = 'tool.called' AND app IS NOT NULL GROUP BY app";

pub fn default_sqlite(root: &Path) -> PathBuf {
    root.join("target/bench-dashboard/sqlite/support.db")
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    if cfg!(debug_assertions) && std::env::var_os(INNER).is_none() {
        eprintln!("xtask: building the seeder in release (cargo run --release -p xtask)");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        return crate::run(
            Command::new(cargo)
                .args(["run", "--release", "--quiet", "-p", "xtask", "--", "seed"])
                .args(args)
                .env(INNER, "1")
                .current_dir(root),
        );
    }
    let (mut postgres, mut db, mut conversations, mut audit_rows, mut as_json) =
        (None, None, 1_000_000u64, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context(usage());
        match a.as_str() {
            "--postgres" => postgres = Some(value()?),
            "--db" => db = Some(PathBuf::from(value()?)),
            "--conversations" => conversations = value()?.replace('_', "").parse()?,
            "--audit" => audit_rows = Some(value()?.replace('_', "").parse()?),
            "--json" => as_json = true,
            other => bail!("unknown option {other}: {}", usage()),
        }
    }
    let url = match (&postgres, &db) {
        (Some(_), Some(_)) => bail!("--postgres and --db exclude each other"),
        (Some(url), None) => url.clone(),
        (None, db) => {
            let path = db.clone().unwrap_or_else(|| default_sqlite(root));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let audit = audit_rows.unwrap_or(if postgres.is_some() {
        5_000_000
    } else {
        10_000_000
    });
    let options = SeedOptions {
        url,
        conversations,
        audit,
        now: support_core::time::now_ms(),
        progress: !as_json,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(seed(&options))?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "seeded {} ({}): {} conversations, {} messages, {} drafts, {} actions, {} approvals ({} pending), \
             {} audit rows (head {} {}) in {:.1} s",
            support_store::redact_url(&options.url),
            report.backend,
            report.conversations,
            report.messages,
            report.drafts,
            report.actions,
            report.approvals,
            report.pending_approvals,
            report.audit,
            report.head_seq,
            &report.head_hash[..12],
            report.seconds
        );
    }
    Ok(())
}

/// A multi-row `INSERT`. SQLite gets anonymous `?` placeholders: sqlx looks each named
/// (`$n`) parameter up by name, which is quadratic in a statement's parameters.
fn insert_sql(table: &Table, rows: usize, sqlite: bool) -> String {
    let n = table.columns.len();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        table.name,
        table.columns.join(", ")
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push(',');
            }
            if sqlite {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * n + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

async fn write_table(conn: &mut AnyConnection, table: &Table, sqlite: bool) -> Result<()> {
    for batch in table.rows.chunks(ROWS_PER_INSERT) {
        let sql = insert_sql(table, batch.len(), sqlite);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            for v in row {
                q = match v {
                    V::Text(s) => q.bind(s.as_str()),
                    V::OptText(s) => q.bind(s.as_deref()),
                    V::Int(n) => q.bind(*n),
                    V::OptInt(n) => q.bind(*n),
                    V::Real(n) => q.bind(*n),
                };
            }
        }
        q.execute(&mut *conn)
            .await
            .with_context(|| format!("inserting into {}", table.name))?;
    }
    Ok(())
}

/// Seed `options.url` (migrated first; it must hold no conversations and no audit rows yet).
pub async fn seed(options: &SeedOptions) -> Result<SeedReport> {
    let started = Instant::now();
    let db = support_store::Db::connect(&options.url)
        .await
        .context("connecting and migrating")?;
    let backend = db.kind();
    db.close().await;
    drop(db);
    let plain = options.url.replace("?mode=rwc", "");
    let mut conn = AnyConnection::connect(&plain)
        .await
        .context("connecting for the bulk load")?;
    let existing: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM conversations) + (SELECT COUNT(*) FROM audit_log)",
    )
    .fetch_one(&mut conn)
    .await?;
    if existing > 0 {
        bail!("the database already holds conversations or audit rows; seed needs an empty one");
    }
    let schema = Schema {
        route: sqlx::query("SELECT route_action FROM conversations LIMIT 1")
            .fetch_optional(&mut conn)
            .await
            .is_ok(),
        drafts: sqlx::query("SELECT id FROM drafts LIMIT 1")
            .fetch_optional(&mut conn)
            .await
            .is_ok(),
    };
    if backend == support_store::Backend::Sqlite {
        conn.execute("PRAGMA synchronous = OFF").await?;
        conn.execute("PRAGMA cache_size = -262144").await?;
        conn.execute("PRAGMA temp_store = MEMORY").await?;
    }
    let sqlite = backend == support_store::Backend::Sqlite;
    let mut generator = Generator::new(options, schema);
    let n = options.conversations;
    let bar = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(n);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} conversations ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // Generation and hashing run on a blocking thread, one chunk ahead of the writer.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    let producer = tokio::task::spawn_blocking(move || {
        let mut from = 0;
        while from < n {
            let to = (from + CHUNK as u64).min(n);
            if tx.blocking_send(generator.chunk(from, to)).is_err() {
                return;
            }
            from = to;
        }
    });
    let mut report = SeedReport {
        backend: backend.name().to_string(),
        head_hash: audit::GENESIS.to_string(),
        ..SeedReport::default()
    };
    while let Some(chunk) = rx.recv().await {
        let mut txn = conn.begin().await?;
        for table in &chunk.tables {
            write_table(&mut txn, table, sqlite).await?;
        }
        write_table(&mut txn, &chunk.audit, sqlite).await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(chunk.head.0)
            .bind(chunk.head.1.as_str())
            .execute(&mut *txn)
            .await?;
        txn.commit().await?;
        report.conversations += chunk.counts.conversations;
        report.messages += chunk.counts.messages;
        report.actions += chunk.counts.actions;
        report.approvals += chunk.counts.approvals;
        report.pending_approvals += chunk.counts.pending_approvals;
        report.drafts += chunk.counts.drafts;
        report.audit += chunk.counts.audit;
        (report.head_seq, report.head_hash) = chunk.head;
        if let Some(bar) = &bar {
            bar.set_position(report.conversations);
            bar.set_message(format!("{} audit rows", report.audit));
        }
    }
    producer.await.context("the generator thread failed")?;
    // The rows went in around the store: derive what the store keeps as it appends
    // `tool.called` entries (migrations/*/20261208002000_sdk_endpoint_health.sql).
    conn.execute("DELETE FROM sdk_endpoint_health").await?;
    conn.execute(SDK_HEALTH_BACKFILL).await?;
    // Postgres: VACUUM as well, as autovacuum would after a bulk load. Without it the visibility
    // map is empty and every index-only scan fetches each row from the heap, a state a live
    // database is not in (the overview's counts read ~20,000 heap pages instead of an index).
    let finish = if sqlite {
        "ANALYZE"
    } else {
        "VACUUM (ANALYZE)"
    };
    if let Some(bar) = &bar {
        bar.finish();
        eprintln!("xtask: {finish} (planner statistics)");
    }
    conn.execute(finish).await?;
    conn.close().await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::generate::audit_kinds;
    use super::*;

    #[test]
    fn audit_rows_are_spread_exactly_and_kinds_fill_them() {
        let g = Generator::new(
            &SeedOptions {
                url: String::new(),
                conversations: 7,
                audit: 23,
                now: 1_800_000_000_000,
                progress: false,
            },
            Schema::default(),
        );
        let total: u64 = (0..7).map(|i| g.audit_rows_of(i)).sum();
        assert_eq!(total, 23);
        let kinds = audit_kinds("agent", Some("approved"), 14);
        assert_eq!(kinds.len(), 14);
        assert_eq!(kinds[..2], ["webhook.received", "route.decided"]);
        assert_eq!(kinds.last(), Some(&"draft.created"));
        assert_eq!(audit_kinds("silence", None, 1), ["webhook.received"]);
    }

    /// Tiny sizes on a fresh SQLite file: the counts match and the chain verifies through the
    /// store, as `skill audit verify` does.
    #[test]
    fn seeded_database_verifies_and_counts_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seed.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let report = seed(&SeedOptions {
                url: url.clone(),
                conversations: 6_001,
                audit: 24_000,
                now: support_core::time::now_ms(),
                progress: false,
            })
            .await
            .expect("seed");
            assert_eq!(report.conversations, 6_001);
            assert_eq!(report.audit, 24_000);
            assert_eq!(report.head_seq, 24_000);
            let db = support_store::Db::connect(&url).await.expect("open");
            let count = |sql: &'static str| {
                let pool = db.read_pool().clone();
                async move {
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&pool)
                        .await
                        .expect("count")
                }
            };
            assert_eq!(count("SELECT COUNT(*) FROM conversations").await, 6_001);
            assert_eq!(count("SELECT COUNT(*) FROM audit_log").await, 24_000);
            assert_eq!(
                count("SELECT COUNT(*) FROM messages").await as u64,
                report.messages
            );
            assert_eq!(
                count("SELECT COUNT(*) FROM approvals").await as u64,
                report.approvals
            );
            assert!(report.pending_approvals < report.approvals);
            assert_eq!(
                count("SELECT COUNT(DISTINCT app) FROM conversations").await,
                3
            );
            let chain = support_core::audit::verify(&db)
                .await
                .expect("chain verifies");
            assert_eq!(chain.rows, 24_000);
            assert_eq!(chain.head_hash, report.head_hash);
            // A second seed into the same database is refused.
            let again = seed(&SeedOptions {
                url: url.clone(),
                conversations: 1,
                audit: 1,
                now: support_core::time::now_ms(),
                progress: false,
            })
            .await;
            assert!(again.is_err());
        });
    }
}
