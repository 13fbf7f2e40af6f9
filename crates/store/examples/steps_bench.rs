//! The step runner's benchmark (run by `cargo xtask bench-steps`, in release).
//!
//! ```text
//! steps_bench [--out FILE] [--sequential N] [--runs N] [--waits N] [--js-runs N] [--js-dir DIR]
//!             [--postgres URL]
//! ```
//!
//! On a fresh SQLite file (WAL, `synchronous = NORMAL`, the store's defaults), loopback only:
//!
//! - **per-step overhead**: a five-step function whose steps do nothing, one run at a time; the
//!   time from sending the event to the run's completion being committed, divided by five.
//! - **sustained throughput**: `--runs` runs sent at once, until the last completion commits.
//! - **event-to-resume latency**: a run waits in `wait_for_event`; from sending the matching
//!   event until the step after the wait starts executing.
//! - **the same five-step function in the official JS SDK** (`inngest` on Node, the conformance
//!   app in `crates/steps/tests/inngest-js`), served over HTTP and executed by our engine; the
//!   ratio to the embedded figures. Skipped when Node or its node_modules are missing.
//!
//! Completions are observed exactly, without polling: the engine's store is wrapped in a
//! [`RunStore`] that reports each commit after it returns. Writes a JSON report (`--out`).

use async_trait::async_trait;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_steps::error::RunStoreError;
use support_steps::event::Millis;
use support_steps::store::*;
use support_steps::{Ctx, Engine, Event, Function, RunnerConfig, StepError};
use support_store::Db;
use support_testkit::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

type R<T> = Result<T, RunStoreError>;
type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SIGNING_KEY: &str =
    "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
const EVENT_KEY: &str = "bench-event-key";
/// Upper bound on any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// A committed invocation: the run, and whether it ended or is now waiting.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Committed {
    Ended,
    Pending,
    Other,
}

/// The store, reporting each commit once it is durable.
struct Observed {
    db: Db,
    tx: mpsc::UnboundedSender<(String, Committed, Instant)>,
}

impl Observed {
    fn report(&self, run_id: &str, commit: &Commit) {
        let what = match commit.next {
            Next::Complete(_) | Next::Fail(_) => Committed::Ended,
            Next::Pending => Committed::Pending,
            _ => Committed::Other,
        };
        let _ = self.tx.send((run_id.to_string(), what, Instant::now()));
    }
}

#[async_trait]
impl RunStore for Observed {
    async fn insert_events(&self, events: &[Event], now: Millis) -> R<Vec<i64>> {
        self.db.insert_events(events, now).await
    }
    async fn claim_events(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> R<Vec<StoredEvent>> {
        self.db.claim_events(owner, now, lease_ms, limit).await
    }
    async fn waits_for_event(&self, name: &str) -> R<Vec<WaitRecord>> {
        self.db.waits_for_event(name).await
    }
    async fn apply_event(
        &self,
        seq: i64,
        owner: &str,
        effects: &EventEffects,
        now: Millis,
    ) -> R<()> {
        self.db.apply_event(seq, owner, effects, now).await
    }
    async fn events_after(&self, name: &str, after_seq: i64, limit: u32) -> R<Vec<StoredEvent>> {
        self.db.events_after(name, after_seq, limit).await
    }
    async fn resolve_wait(&self, wait_id: &str, value: &Value, now: Millis) -> R<bool> {
        self.db.resolve_wait(wait_id, value, now).await
    }
    async fn claim_run(&self, owner: &str, now: Millis, lease_ms: i64) -> R<Option<ClaimedRun>> {
        self.db.claim_run(owner, now, lease_ms).await
    }
    async fn renew_lease(&self, run_id: &str, owner: &str, until: Millis) -> R<bool> {
        self.db.renew_lease(run_id, owner, until).await
    }
    async fn commit(
        &self,
        run_id: &str,
        owner: &str,
        commit: &Commit,
        now: Millis,
    ) -> R<Option<Vec<WaitRecord>>> {
        let out = self.db.commit(run_id, owner, commit, now).await;
        if matches!(out, Ok(Some(_))) {
            self.report(run_id, commit);
        }
        out
    }
    async fn commit_continue(
        &self,
        run_id: &str,
        owner: &str,
        commit: &Commit,
        now: Millis,
        lease_until: Millis,
    ) -> R<Option<(Vec<WaitRecord>, Option<ClaimedRun>)>> {
        let out = self
            .db
            .commit_continue(run_id, owner, commit, now, lease_until)
            .await;
        if matches!(out, Ok(Some(_))) {
            self.report(run_id, commit);
        }
        out
    }
    async fn next_due(&self) -> R<Option<Millis>> {
        self.db.next_due().await
    }
    async fn cancel_run(&self, run_id: &str, reason: &Value, now: Millis) -> R<bool> {
        self.db.cancel_run(run_id, reason, now).await
    }
    async fn replay_run(&self, run_id: &str, cancel_waits: &[NewWait], now: Millis) -> R<bool> {
        self.db.replay_run(run_id, cancel_waits, now).await
    }
    async fn get_run(&self, run_id: &str) -> R<Option<RunDetail>> {
        self.db.get_run(run_id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> R<Vec<RunSummary>> {
        self.db.list_runs(filter).await
    }
    async fn upsert_app(&self, app: &AppRecord) -> R<()> {
        self.db.upsert_app(app).await
    }
    async fn list_apps(&self) -> R<Vec<AppRecord>> {
        self.db.list_apps().await
    }
}

struct Options {
    out: Option<PathBuf>,
    sequential: usize,
    runs: usize,
    waits: usize,
    js_runs: usize,
    js_dir: PathBuf,
    postgres: Option<String>,
}

fn options() -> Res<Options> {
    let mut o = Options {
        out: None,
        sequential: 300,
        runs: 1000,
        waits: 300,
        js_runs: 300,
        js_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../steps/tests/inngest-js"),
        postgres: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => o.out = Some(value()?.into()),
            "--sequential" => o.sequential = value()?.parse()?,
            "--runs" => o.runs = value()?.parse()?,
            "--waits" => o.waits = value()?.parse()?,
            "--js-runs" => o.js_runs = value()?.parse()?,
            "--js-dir" => o.js_dir = value()?.into(),
            "--postgres" => o.postgres = Some(value()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if o.sequential == 0 || o.runs == 0 || o.waits == 0 {
        return Err("counts must be positive".into());
    }
    Ok(o)
}

/// Completions and resumes, as they happen.
struct Bench {
    engine: Engine,
    commits: mpsc::UnboundedReceiver<(String, Committed, Instant)>,
    resumed: mpsc::UnboundedReceiver<(i64, Instant)>,
}

fn five() -> Function {
    Function::new("bench-five")
        .on_event("bench/five")
        .handler(|ctx: Ctx, _ev: Event| async move {
            let mut total = 0i64;
            for i in 1..=5i64 {
                total += ctx
                    .run(
                        &format!("s{i}"),
                        move || async move { Ok::<_, StepError>(i) },
                    )
                    .await?;
            }
            Ok(json!({ "total": total }))
        })
}

fn waiter(resumed: mpsc::UnboundedSender<(i64, Instant)>) -> Function {
    Function::new("bench-wait")
        .on_event("bench/wait")
        .handler(move |ctx: Ctx, ev: Event| {
            let resumed = resumed.clone();
            async move {
                let k = ev.data["k"].as_i64().unwrap_or_default();
                ctx.run("before", || async { Ok::<_, StepError>(()) })
                    .await?;
                let got = ctx
                    .wait_for_event(
                        "resume",
                        "bench/resume",
                        Duration::from_secs(60),
                        Some("async.data.k == event.data.k"),
                    )
                    .await?;
                ctx.run("after", move || async move {
                    let _ = resumed.send((k, Instant::now()));
                    Ok::<_, StepError>(())
                })
                .await?;
                Ok(json!({ "resumed": got.is_some() }))
            }
        })
}

fn bench(db: &Db) -> Res<Bench> {
    let (tx, commits) = mpsc::unbounded_channel();
    let (rtx, resumed) = mpsc::unbounded_channel();
    let store = Observed { db: db.clone(), tx };
    let engine = Engine::builder(Arc::new(store))
        .config(RunnerConfig {
            worker_id: "bench".into(),
            ..Default::default()
        })
        .function(five())
        .function(waiter(rtx))
        .build()?;
    Ok(Bench {
        engine,
        commits,
        resumed,
    })
}

impl Bench {
    /// Wait for `n` runs to end; returns when the last one did.
    async fn ended(&mut self, n: usize) -> Res<Instant> {
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
        loop {
            let (_, what, at) = tokio::time::timeout_at(deadline, self.commits.recv())
                .await
                .map_err(|_| format!("timed out after {seen}/{n} runs"))?
                .ok_or("engine stopped")?;
            if what == Committed::Ended {
                seen += 1;
                if seen == n {
                    return Ok(at);
                }
            }
        }
    }

    async fn pending(&mut self) -> Res<()> {
        let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
        loop {
            let (_, what, _) = tokio::time::timeout_at(deadline, self.commits.recv())
                .await
                .map_err(|_| "timed out waiting for a wait")?
                .ok_or("engine stopped")?;
            if what == Committed::Pending {
                return Ok(());
            }
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats_ms(mut xs: Vec<f64>) -> Value {
    xs.sort_by(f64::total_cmp);
    let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    json!({
        "n": xs.len(),
        "mean_ms": mean,
        "p50_ms": pct(&xs, 0.50),
        "p90_ms": pct(&xs, 0.90),
        "p99_ms": pct(&xs, 0.99),
        "max_ms": xs.last().copied().unwrap_or_default(),
    })
}

/// One five-step run at a time: latency per run (event sent -> completion committed).
async fn sequential(b: &mut Bench, event: &str, n: usize) -> Res<Value> {
    let mut per_run = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        b.engine
            .send_one(Event::new(event, json!({ "i": i })))
            .await?;
        let done = b.ended(1).await?;
        per_run.push(done.duration_since(t0).as_secs_f64() * 1e3);
    }
    let stats = stats_ms(per_run);
    let per_step_us = stats["mean_ms"].as_f64().unwrap_or_default() * 1e3 / 5.0;
    Ok(json!({ "runs": n, "per_run": stats, "per_step_us": per_step_us }))
}

/// `n` runs at once: sustained runs per second.
async fn throughput(b: &mut Bench, event: &str, n: usize) -> Res<Value> {
    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        b.engine
            .send(
                chunk
                    .iter()
                    .map(|i| Event::new(event, json!({ "i": i })))
                    .collect(),
            )
            .await?;
    }
    let done = b.ended(n).await?;
    let secs = done.duration_since(t0).as_secs_f64();
    Ok(json!({
        "runs": n,
        "seconds": secs,
        "runs_per_second": n as f64 / secs,
        "steps_per_second": (n * 5) as f64 / secs,
        "per_step_us": secs * 1e6 / (n * 5) as f64,
    }))
}

/// A run waits for an event; latency from sending it to the next step executing.
async fn resume(b: &mut Bench, n: usize) -> Res<Value> {
    let mut lat = Vec::with_capacity(n);
    for k in 0..n as i64 {
        b.engine
            .send_one(Event::new("bench/wait", json!({ "k": k })))
            .await?;
        b.pending().await?;
        let t0 = Instant::now();
        b.engine
            .send_one(Event::new("bench/resume", json!({ "k": k })))
            .await?;
        let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
        loop {
            let (got, at) = tokio::time::timeout_at(deadline, b.resumed.recv())
                .await
                .map_err(|_| "timed out waiting for a resume")?
                .ok_or("engine stopped")?;
            if got == k {
                lat.push(at.duration_since(t0).as_secs_f64() * 1e3);
                break;
            }
        }
        b.ended(1).await?;
    }
    Ok(stats_ms(lat))
}

/// The JS app on Node, synced with our executor. `None` when Node or the modules are missing.
async fn start_js(engine: &Engine, dir: &std::path::Path) -> Res<Option<tokio::process::Child>> {
    if !dir.join("node_modules/inngest/package.json").exists() {
        eprintln!(
            "steps_bench: {} has no node_modules; skipping the JS SDK",
            dir.display()
        );
        return Ok(None);
    }
    let register = engine
        .serve_sdk_apps(support_steps::server::ServerConfig {
            signing_key: Some(SIGNING_KEY.into()),
            // The node app listens on loopback.
            allowed_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        })
        .await?;
    let app = register.merge(support_steps::event_api::router(
        engine.clone(),
        support_steps::event_api::EventApiConfig {
            event_keys: vec![EVENT_KEY.into()],
            dev: false,
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut child = match tokio::process::Command::new("node")
        .arg("app.js")
        .current_dir(dir)
        .env("INNGEST_BASE_URL", &base)
        .env("INNGEST_SIGNING_KEY", SIGNING_KEY)
        .env("INNGEST_EVENT_KEY", EVENT_KEY)
        .env("INNGEST_DEV", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("steps_bench: cannot start node ({e}); skipping the JS SDK");
            return Ok(None);
        }
    };
    let stdout = child.stdout.take().ok_or("node stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(p) = line.strip_prefix("PORT=") {
                return Some(p.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or("the node app did not start")?;
    let res = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/api/inngest"))
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("sync failed: {}", res.text().await?).into());
    }
    Ok(Some(child))
}

fn ratio(a: &Value, b: &Value) -> Value {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    }
}

async fn embedded(db: &Db, o: &Options) -> Res<(Bench, Value)> {
    let mut b = bench(db)?;
    let runner = b.engine.start();
    // Warm up (connections, statement caches).
    sequential(&mut b, "bench/five", 20).await?;
    eprintln!("steps_bench: per-step overhead ({} runs)", o.sequential);
    let seq = sequential(&mut b, "bench/five", o.sequential).await?;
    let counted = statements(&mut b, 50).await?;
    eprintln!("steps_bench: throughput ({} runs)", o.runs);
    let thr = throughput(&mut b, "bench/five", o.runs).await?;
    eprintln!("steps_bench: event-to-resume ({} waits)", o.waits);
    let res = resume(&mut b, o.waits).await?;
    runner.shutdown().await;
    Ok((
        b,
        json!({ "sequential": seq, "sql_statements": counted, "throughput": thr, "event_to_resume": res }),
    ))
}

/// Counts sqlx's per-statement events (target `sqlx::query`) while `ON` is set. sqlx emits one
/// per statement it executes; BEGIN and COMMIT are not among them.
struct StatementCounter;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl tracing::Subscriber for StatementCounter {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.target() == "sqlx::query" {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "sqlx::query" && COUNTING.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// SQL statements per five-step run, one run at a time (deterministic, unlike timings).
async fn statements(b: &mut Bench, n: usize) -> Res<Value> {
    use std::sync::atomic::Ordering;
    STATEMENTS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    sequential(b, "bench/five", n).await?;
    COUNTING.store(false, Ordering::Relaxed);
    let per_run = STATEMENTS.load(Ordering::Relaxed) as f64 / n as f64;
    Ok(json!({ "runs": n, "statements_per_run": per_run, "statements_per_step": per_run / 5.0 }))
}

/// The floor: one statement, and one empty write transaction, through sqlx on this store.
async fn roundtrips(db: &Db) -> Res<Value> {
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        sqlx::query("SELECT 1").execute(db.write_pool()).await?;
    }
    let stmt = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        let mut tx = db.write_pool().begin().await?;
        sqlx::query("UPDATE steps_apps SET updated_at = 0 WHERE id = 'none'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let txn = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    Ok(json!({ "statement_us": stmt, "write_transaction_us": txn }))
}

async fn main_() -> Res<()> {
    let o = options()?;
    tracing::subscriber::set_global_default(StatementCounter)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sqlite = TestDb::sqlite().await?;
    let floor = roundtrips(&sqlite.db).await?;
    let (_, emb) = embedded(&sqlite.db, &o).await?;
    let mut report = json!({
        "benchmark": "support-steps: five-step function (steps return a constant), embedded executor",
        "store": "SQLite file, WAL, synchronous=NORMAL",
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "sqlx_roundtrip": floor,
        "embedded_sqlite": emb,
        "targets": { "per_step_us": 1000.0, "event_to_resume_p99_ms": 10.0 },
    });

    if let Some(url) = &o.postgres {
        let pg = Db::connect(url).await?;
        for t in ["steps_steps", "steps_waits", "steps_runs", "steps_events"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t}")))
                .execute(pg.write_pool())
                .await?;
        }
        let (_, v) = embedded(&pg, &o).await?;
        report["embedded_postgres"] = v;
    }

    // The official JS SDK over HTTP, on a fresh SQLite file, same executor.
    let js_db = TestDb::sqlite().await?;
    let mut b = bench(&js_db.db)?;
    let runner = b.engine.start();
    if o.js_runs > 0
        && let Some(child) = start_js(&b.engine, &o.js_dir).await?
    {
        sequential(&mut b, "js/bench.five", 10).await?;
        let n = o.js_runs.min(o.sequential);
        eprintln!("steps_bench: JS SDK per-step overhead ({n} runs)");
        let seq = sequential(&mut b, "js/bench.five", n).await?;
        eprintln!("steps_bench: JS SDK throughput ({} runs)", o.js_runs);
        let thr = throughput(&mut b, "js/bench.five", o.js_runs).await?;
        report["ratio_js_to_embedded"] = json!({
            "per_step_latency": ratio(&seq["per_step_us"], &report["embedded_sqlite"]["sequential"]["per_step_us"]),
            "per_step_sustained": ratio(&thr["per_step_us"], &report["embedded_sqlite"]["throughput"]["per_step_us"]),
            "runs_per_second": ratio(&report["embedded_sqlite"]["throughput"]["runs_per_second"], &thr["runs_per_second"]),
        });
        report["js_sdk_http_sqlite"] = json!({
            "sdk": "npm inngest 3.54.2 on Node, serve() from inngest/node, signed requests",
            "sequential": seq,
            "throughput": thr,
        });
        drop(child);
    }
    runner.shutdown().await;

    let text = serde_json::to_string_pretty(&report)?;
    match &o.out {
        Some(p) => std::fs::write(p, &text)?,
        None => println!("{text}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = main_().await {
        eprintln!("steps_bench: {e}");
        std::process::exit(1);
    }
}
