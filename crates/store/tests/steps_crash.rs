//! Crash safety and multi-instance execution of the step runner, with real processes.
//!
//! The worker is `steps-crash-worker` (`src/bin/steps-crash-worker.rs`): the function
//! `crash-five` runs five steps, each performing a side effect with an idempotency key
//! (`<run id>:<step>`) against a ledger: `crash_execs` records every execution of a step body,
//! `crash_effects` holds the effects that counted (one per key, as a provider honouring
//! idempotency keys keeps them).
//!
//! What "exactly once" means here: a step's *result* is committed exactly once (memoized), and
//! a step body may run again only if its process died after the body ran but before the result
//! committed; the idempotency key then turns the repeat into a no-op that returns the original
//! effect. The tests assert both, and count the re-executions.
//!
//! - `crash_kill_9_twenty_times`: 200 runs on a SQLite file (and on a fresh Postgres database
//!   when `TEST_DATABASE_URL` is set); the worker is killed with SIGKILL 20 times at random
//!   moments (seeded; `STEPS_CRASH_SEED` overrides) and restarted, then left to finish.
//! - `two_instances_share_one_postgres`: two worker processes on one fresh Postgres database
//!   share 500 runs; no step body may run twice, and both must do work. Postgres only.
//!
//! No sleeps are used for synchronisation: waits poll conditions with bounded timeouts. The
//! only sleeps are the random delays before a kill, which are the chaos being injected.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_steps::{Engine, Event};
use support_store::Db;
use support_testkit::TestDb;

const WORKER: &str = env!("CARGO_BIN_EXE_steps-crash-worker");
const STEPS: i64 = 5;

const LEDGER: &[&str] = &[
    "CREATE TABLE crash_execs (exec_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, step BIGINT NOT NULL, \
     worker TEXT NOT NULL, pid BIGINT NOT NULL, at BIGINT NOT NULL)",
    "CREATE TABLE crash_effects (idem_key TEXT NOT NULL, run_id TEXT NOT NULL, step BIGINT NOT NULL, \
     exec_id TEXT NOT NULL)",
    "CREATE INDEX crash_effects_key ON crash_effects (idem_key)",
];

/// splitmix64: a small seeded RNG, so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A worker process. Killed on drop, so a failing test leaves nothing behind.
struct Worker {
    child: Child,
    name: String,
}

impl Worker {
    fn spawn(url: &str, name: &str, lease_ms: u64) -> Self {
        let child = Command::new(WORKER)
            .args([url, name, &lease_ms.to_string(), "16"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn steps-crash-worker");
        Self {
            child,
            name: name.to_string(),
        }
    }

    /// Wait for the `READY` line (the worker loop is running).
    fn ready(&mut self, timeout: Duration) {
        let stdout = self.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("READY") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("worker {} did not start", self.name));
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("worker {} exited on its own: {status}", self.name);
        }
    }

    /// SIGKILL (`kill -9`): no destructor, no graceful shutdown, no flushing.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Close stdin (the worker shuts down gracefully) and wait for it to exit.
    async fn stop(mut self, timeout: Duration) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "worker {} exited with {status}",
                    self.name
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "worker {} did not stop",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` every few milliseconds until it returns `Some`, for at most `timeout`.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.read_pool())
        .await
        .unwrap()
}

async fn execs(db: &Db) -> i64 {
    count(db, "SELECT COUNT(*) FROM crash_execs").await
}

async fn completed(db: &Db) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM steps_runs WHERE function_id = 'crash-five' AND status = 'completed'",
    )
    .await
}

/// Create the ledger and send `n` start events (runs are created by the workers' fan-out).
async fn prepare(db: &Db, n: usize) {
    for sql in LEDGER {
        sqlx::query(*sql).execute(db.write_pool()).await.unwrap();
    }
    let sender = Engine::builder(Arc::new(db.clone())).build().unwrap();
    let events = (0..n)
        .map(|i| Event::new("crash/start", json!({ "n": i })))
        .collect();
    sender.send(events).await.unwrap();
}

/// One execution of a step body: (exec id, worker, pid).
type Exec = (String, String, i64);

/// What the ledger says after all runs ended.
#[derive(Debug)]
struct Outcome {
    /// Step-body executions per worker name.
    execs_by_worker: BTreeMap<String, usize>,
    /// Executions that were not the effect that counted (re-executions after a crash).
    reexecuted: usize,
    /// (run, step) pairs whose body ran more than once.
    steps_reexecuted: usize,
    /// Runs whose steps were executed by more than one worker.
    runs_shared: usize,
}

/// Check every run completed, once per event, with every step's effect exactly once and the
/// committed step results equal to those effects.
async fn check_ledger(db: &Db, runs: usize) -> Outcome {
    let rows = sqlx::query(
        "SELECT id, event_id, status, output FROM steps_runs WHERE function_id = 'crash-five'",
    )
    .fetch_all(db.read_pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), runs, "one run per event");
    let mut outputs: HashMap<String, Value> = HashMap::new();
    let mut events = HashSet::new();
    for r in &rows {
        use sqlx::Row;
        let id: String = r.get("id");
        let status: String = r.get("status");
        assert_eq!(status, "completed", "run {id}");
        assert!(
            events.insert(r.get::<String, _>("event_id")),
            "two runs for one event"
        );
        let out: String = r.get("output");
        outputs.insert(id, serde_json::from_str(&out).unwrap());
    }

    // Effects: exactly one per (run, step) and none for anything else.
    let effects: Vec<(String, String, i64, String)> =
        sqlx::query_as("SELECT idem_key, run_id, step, exec_id FROM crash_effects")
            .fetch_all(db.read_pool())
            .await
            .unwrap();
    let mut by_key: HashMap<(String, i64), String> = HashMap::new();
    for (key, run, step, exec) in &effects {
        assert_eq!(key, &format!("{run}:{step}"));
        assert!(outputs.contains_key(run), "effect for unknown run {run}");
        assert!(
            by_key.insert((run.clone(), *step), exec.clone()).is_none(),
            "effect {key} applied twice"
        );
    }
    assert_eq!(
        by_key.len(),
        runs * STEPS as usize,
        "every step's effect exactly once"
    );

    // The committed (memoized) step results and the run outputs are the effects that counted.
    let steps: Vec<(String, String, String)> =
        sqlx::query_as("SELECT run_id, name, result FROM steps_steps WHERE status = 'completed'")
            .fetch_all(db.read_pool())
            .await
            .unwrap();
    let steps: HashMap<(String, String), Value> = steps
        .into_iter()
        .map(|(run, name, result)| ((run, name), serde_json::from_str(&result).unwrap()))
        .collect();
    for (run, output) in &outputs {
        for step in 1..=STEPS {
            let exec = &by_key[&(run.clone(), step)];
            assert_eq!(
                steps.get(&(run.clone(), format!("s{step}"))),
                Some(&json!({ "data": exec })),
                "run {run} step {step}: the memoized result is the effect"
            );
            assert_eq!(output["effects"][(step - 1) as usize], json!(exec));
        }
    }

    // Executions: each (run, step) ran at most once per process; extra runs are re-executions.
    let execs: Vec<(String, String, i64, String, i64)> =
        sqlx::query_as("SELECT exec_id, run_id, step, worker, pid FROM crash_execs")
            .fetch_all(db.read_pool())
            .await
            .unwrap();
    let mut per_step: HashMap<(String, i64), Vec<Exec>> = HashMap::new();
    let mut execs_by_worker = BTreeMap::new();
    let mut workers_of_run: HashMap<String, HashSet<String>> = HashMap::new();
    for (exec, run, step, worker, pid) in execs {
        *execs_by_worker.entry(worker.clone()).or_insert(0) += 1;
        workers_of_run
            .entry(run.clone())
            .or_default()
            .insert(worker.clone());
        per_step
            .entry((run, step))
            .or_default()
            .push((exec, worker, pid));
    }
    assert_eq!(per_step.len(), by_key.len(), "executions without an effect");
    let mut reexecuted = 0;
    let mut steps_reexecuted = 0;
    for (key, list) in &per_step {
        let pids: HashSet<i64> = list.iter().map(|(_, _, pid)| *pid).collect();
        assert_eq!(
            pids.len(),
            list.len(),
            "{key:?} ran twice in one process: {list:?}"
        );
        assert!(list.iter().any(|(exec, _, _)| exec == &by_key[key]));
        if list.len() > 1 {
            steps_reexecuted += 1;
            reexecuted += list.len() - 1;
        }
    }
    Outcome {
        execs_by_worker,
        reexecuted,
        steps_reexecuted,
        runs_shared: workers_of_run.values().filter(|w| w.len() > 1).count(),
    }
}

async fn crash_scenario(t: &TestDb, runs: usize, kills: usize, seed: u64) {
    let db = &t.db;
    let started = Instant::now();
    prepare(db, runs).await;
    let mut rng = Rng(seed);
    let total = (runs as i64) * STEPS;
    let mut killed = Vec::new();
    for k in 0..kills {
        let before = execs(db).await;
        let target = (before + rng.range(1, 25) as i64).min(total);
        let mut w = Worker::spawn(&t.url, &format!("crash-{k}"), 2_000);
        poll("progress before a kill", Duration::from_secs(30), || {
            w.assert_alive();
            async move {
                (execs(db).await >= target || completed(db).await == runs as i64).then_some(())
            }
        })
        .await;
        // The random moment: right at the progress point, or a little later.
        let delay = rng.range(0, 20);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        killed.push(w.name.clone());
        w.kill_9();
    }
    let at_last_kill = execs(db).await;
    let mut w = Worker::spawn(&t.url, "final", 2_000);
    poll("all runs to complete", Duration::from_secs(60), || {
        w.assert_alive();
        async move { (completed(db).await == runs as i64).then_some(()) }
    })
    .await;
    w.stop(Duration::from_secs(15)).await;
    let o = check_ledger(db, runs).await;
    let elapsed = started.elapsed();
    eprintln!(
        "crash test [{:?}]: {runs} runs x {STEPS} steps, {} SIGKILLs (seed {seed}), {} step executions \
         before the last kill; all runs completed, {} effects exactly once; {} step bodies re-executed \
         after kills ({} (run, step) pairs), deduplicated by their idempotency keys; {:.1} s; \
         executions per worker: {:?}",
        t.backend(),
        killed.len(),
        at_last_kill,
        total,
        o.reexecuted,
        o.steps_reexecuted,
        elapsed.as_secs_f64(),
        o.execs_by_worker,
    );
    // Every re-execution happened because a process died mid-step.
    for (worker, _) in o.execs_by_worker.iter().filter(|(w, _)| *w != "final") {
        assert!(killed.contains(worker), "{worker}");
    }
    assert!(
        o.reexecuted <= killed.len() * 16,
        "at most the in-flight steps of each killed worker re-run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kill_9_twenty_times() {
    let seed = std::env::var("STEPS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    for t in TestDb::all().await.unwrap() {
        crash_scenario(&t, 200, 20, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres() {
    let Some(t) = TestDb::postgres().await.unwrap() else {
        eprintln!("SKIPPED: two_instances_share_one_postgres (TEST_DATABASE_URL is not set)");
        return;
    };
    let runs = 500;
    let db = &t.db;
    let started = Instant::now();
    for sql in LEDGER {
        sqlx::query(*sql).execute(db.write_pool()).await.unwrap();
    }
    let mut a = Worker::spawn(&t.url, "instance-a", 5_000);
    let mut b = Worker::spawn(&t.url, "instance-b", 5_000);
    a.ready(Duration::from_secs(30));
    b.ready(Duration::from_secs(30));
    let sender = Engine::builder(Arc::new(db.clone())).build().unwrap();
    sender
        .send(
            (0..runs)
                .map(|i| Event::new("crash/start", json!({ "n": i })))
                .collect(),
        )
        .await
        .unwrap();
    poll("all runs to complete", Duration::from_secs(120), || {
        a.assert_alive();
        b.assert_alive();
        async move { (completed(db).await == runs as i64).then_some(()) }
    })
    .await;
    a.stop(Duration::from_secs(15)).await;
    b.stop(Duration::from_secs(15)).await;
    let o = check_ledger(db, runs).await;
    eprintln!(
        "two instances on one Postgres: {runs} runs x {STEPS} steps in {:.1} s; step executions per \
         instance {:?}; {} runs had steps on both instances; {} re-executions",
        started.elapsed().as_secs_f64(),
        o.execs_by_worker,
        o.runs_shared,
        o.reexecuted
    );
    assert_eq!(o.reexecuted, 0, "no step body ran twice");
    assert_eq!(
        o.execs_by_worker.values().sum::<usize>(),
        runs * STEPS as usize
    );
    assert_eq!(o.execs_by_worker.len(), 2, "both instances did work");
    assert!(o.execs_by_worker.values().all(|&n| n > 0));
}
