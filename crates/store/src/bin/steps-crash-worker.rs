//! `steps-crash-worker`: a step-runner process for the crash and multi-instance tests
//! (`crates/store/tests/steps_crash.rs`). Not a product binary.
//!
//! ```text
//! steps-crash-worker <database-url> <worker-id> [lease-ms] [max-concurrency]
//! ```
//!
//! Runs the worker loop for the function `crash-five` (event `crash/start`): five `run` steps,
//! each performing one side effect against a ledger with an idempotency key, the way a real
//! call to a payment or email provider does:
//!
//! - every execution of a step body is recorded in `crash_execs` (nothing hides a re-execution);
//! - the effect itself goes to `crash_effects` only if no effect with the key
//!   `<run id>:<step>` exists yet, in the same transaction; the step returns the exec id of the
//!   effect that counts (a provider answers a replayed key with the original response).
//!
//! The test creates both tables. Prints `READY <pid>` once the worker loop runs; shuts down
//! gracefully when stdin closes.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support_steps::{Ctx, Engine, Event, Function, RunnerConfig, StepError};
use support_store::Db;

const USAGE: &str =
    "usage: steps-crash-worker <database-url> <worker-id> [lease-ms] [max-concurrency]";

/// One side effect with an idempotency key; returns the exec id of the effect that counts.
async fn effect(db: &Db, run_id: &str, step: i64, worker: &str) -> Result<String, StepError> {
    let fail = |e: sqlx::Error| StepError::retriable(format!("ledger: {e}"));
    let exec_id = ulid::Ulid::new().to_string();
    let key = format!("{run_id}:{step}");
    let mut tx = db.write_pool().begin().await.map_err(fail)?;
    sqlx::query(
        "INSERT INTO crash_execs (exec_id, run_id, step, worker, pid, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&exec_id)
    .bind(run_id)
    .bind(step)
    .bind(worker)
    .bind(i64::from(std::process::id()))
    .bind(support_steps::now_ms())
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    sqlx::query(
        "INSERT INTO crash_effects (idem_key, run_id, step, exec_id) SELECT $1, $2, $3, $4 \
         WHERE NOT EXISTS (SELECT 1 FROM crash_effects WHERE idem_key = $1)",
    )
    .bind(&key)
    .bind(run_id)
    .bind(step)
    .bind(&exec_id)
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    let original: String =
        sqlx::query_scalar("SELECT exec_id FROM crash_effects WHERE idem_key = $1")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok(original)
}

fn function(db: Db, worker: String) -> Function {
    Function::new("crash-five")
        .on_event("crash/start")
        .retries(20)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .handler(move |ctx: Ctx, _ev: Event| {
            let db = db.clone();
            let worker = worker.clone();
            async move {
                let mut effects = Vec::with_capacity(5);
                for step in 1..=5i64 {
                    let (db, worker, run_id) =
                        (db.clone(), worker.clone(), ctx.run_id().to_string());
                    let id: String = ctx
                        .run(&format!("s{step}"), move || async move {
                            effect(&db, &run_id, step, &worker).await
                        })
                        .await?;
                    effects.push(id);
                }
                Ok(json!({ "effects": effects }))
            }
        })
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("bad argument {s:?}\n{USAGE}")),
    }
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let (Some(url), Some(worker)) = (args.first(), args.get(1)) else {
        return Err(USAGE.into());
    };
    let lease_ms: u64 = arg(&args, 2, 2_000)?;
    let concurrency: usize = arg(&args, 3, 16)?;
    let db = Db::connect_lazy(url).map_err(|e| e.to_string())?;
    let engine = Engine::builder(Arc::new(db.clone()))
        .config(RunnerConfig {
            worker_id: worker.clone(),
            max_concurrency: concurrency,
            lease: Duration::from_millis(lease_ms),
            poll_interval: Duration::from_millis(50),
            drain_timeout: Duration::from_secs(10),
            ..Default::default()
        })
        .function(function(db, worker.clone()))
        .build()
        .map_err(|e| e.to_string())?;
    let runner = engine.start();
    println!("READY {}", std::process::id());
    // Run until stdin closes (the parent closed it, or died).
    let _ =
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await;
    runner.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(args).await {
        eprintln!("steps-crash-worker: {e}");
        std::process::exit(2);
    }
}
