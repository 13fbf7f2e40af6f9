//! The storage port of the step runner. `support-store` implements it on SQLite and Postgres.
//!
//! Every method is one transaction. The runner keeps all decisions (what to run, what a step
//! returned, what matches); the store keeps them durable and atomic: a commit writes the new
//! step results, timers, waits, events and child runs together with the run's next state,
//! guarded by the lease, so a step's result is committed exactly once.

use crate::error::RunStoreError;
use crate::event::{Event, Millis};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub type StoreResult<T> = Result<T, RunStoreError>;

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Runnable at `available_at` (also: waiting out a retry backoff or a debounce).
    Queued,
    /// Leased by a worker.
    Running,
    /// Only timers pending.
    Sleeping,
    /// Waiting for an event or an invoked function.
    Waiting,
    Completed,
    /// Dead-lettered: out of retries or a non-retriable error. See `Engine::replay`.
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Sleeping => "sleeping",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "sleeping" => Self::Sleeping,
            "waiting" => Self::Waiting,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What a pending wait is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// A durable timer (`sleep`); resolves to `{"data": null}` at `expires_at`.
    Sleep,
    /// `wait_for_event`; resolves to `{"data": event}`, or `{"data": null}` at `expires_at`.
    Event,
    /// An invoked run (`correlation` = its id); resolves to its output or error.
    Invoke,
    /// `cancel_on`: a matching event cancels the run.
    Cancel,
}

impl WaitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sleep => "sleep",
            Self::Event => "event",
            Self::Invoke => "invoke",
            Self::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sleep" => Self::Sleep,
            "event" => Self::Event,
            "invoke" => Self::Invoke,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }
}

/// A wait to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWait {
    pub id: String,
    pub kind: WaitKind,
    /// The step's hash (none for `Cancel`).
    pub hash: Option<String>,
    pub step_name: Option<String>,
    pub event_name: Option<String>,
    /// CEL over `async`, with `event.*` already substituted.
    pub expr: Option<String>,
    pub correlation: Option<String>,
    pub expires_at: Option<Millis>,
}

/// A registered wait.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitRecord {
    pub id: String,
    pub run_id: String,
    pub kind: WaitKind,
    pub hash: Option<String>,
    pub step_name: Option<String>,
    pub event_name: Option<String>,
    pub expr: Option<String>,
    pub correlation: Option<String>,
    /// Only events with a greater sequence number can match (events sent before the wait
    /// existed do not).
    pub after_seq: i64,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// A run to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub id: String,
    pub function_id: String,
    pub event: Event,
    pub available_at: Millis,
    pub concurrency_key: Option<String>,
    pub concurrency_limit: Option<u32>,
    /// Unique per function: a run with the same key is not created again.
    pub idempotency_key: Option<String>,
    /// When set, an unstarted queued run of the same function and key takes this event and
    /// `available_at` instead of a new run being created.
    pub debounce_key: Option<String>,
    pub parent_run_id: Option<String>,
    /// `cancel_on` waits, registered only if the run is created.
    pub cancel_waits: Vec<NewWait>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: Event,
    pub received_at: Millis,
}

/// What processing one event does, applied atomically with marking it processed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventEffects {
    pub new_runs: Vec<NewRun>,
    /// Event waits to resolve: (wait id, memoized value `{"data": event}`).
    pub resolve: Vec<(String, Value)>,
    /// Cancel waits that matched: the runs are cancelled.
    pub cancel: Vec<String>,
}

/// A step's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Memoized `{"data": …}`.
    Completed,
    /// Memoized `{"error": …}`.
    Failed,
    /// The last attempt failed and will be retried (not memoized).
    Retrying,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "retrying" => Self::Retrying,
            _ => return None,
        })
    }
}

/// A step result to write.
#[derive(Debug, Clone, PartialEq)]
pub struct StepWrite {
    pub hash: String,
    pub name: String,
    pub kind: String,
    pub status: StepStatus,
    /// `{"data": …}` or `{"error": …}`.
    pub result: Value,
    pub attempt: u32,
    pub started_at: Millis,
    pub ended_at: Millis,
}

/// The run's state after a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Runnable again now (progress was made).
    Continue,
    /// Retry at `at` with attempt number `attempt`.
    Retry {
        at: Millis,
        attempt: u32,
        error: Value,
    },
    /// Blocked on waits/timers: runnable at the earliest expiry, or when a wait resolves.
    Pending,
    Complete(Value),
    Fail(Value),
}

/// Everything one invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub steps: Vec<StepWrite>,
    pub waits: Vec<NewWait>,
    pub events: Vec<Event>,
    pub runs: Vec<NewRun>,
    pub next: Next,
}

/// A run as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub function_id: String,
    pub status: RunStatus,
    pub attempt: u32,
    pub event: Event,
    pub available_at: Millis,
    pub concurrency_key: Option<String>,
    pub idempotency_key: Option<String>,
    pub parent_run_id: Option<String>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub updated_at: Millis,
    pub ended_at: Option<Millis>,
}

/// A step as shown on a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub hash: String,
    pub name: String,
    pub kind: String,
    pub status: StepStatus,
    pub result: Value,
    pub attempt: u32,
    pub started_at: Millis,
    pub ended_at: Millis,
}

/// A run with its steps and pending waits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub run: RunSummary,
    pub steps: Vec<StepRecord>,
    pub waits: Vec<WaitRecord>,
}

/// A run leased to a worker, with its memoized steps.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    pub run: RunSummary,
    /// hash -> `{"data": …}` | `{"error": …}`.
    pub memo: HashMap<String, Value>,
    /// Hashes of waits/timers still pending.
    pub pending: HashSet<String>,
    /// Memoized step hashes in completion order (Inngest's `ctx.stack.stack`).
    pub stack: Vec<String>,
}

/// Filters for [`RunStore::list_runs`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub function_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Runs triggered by this event id.
    pub event_id: Option<String>,
    /// Newest first; 0 means 100.
    pub limit: u32,
}

/// An SDK app registered through `/fn/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub id: String,
    pub url: String,
    pub sdk: Option<String>,
    pub framework: Option<String>,
    /// The `functions` array as the SDK sent it.
    pub functions: Value,
    pub updated_at: Millis,
}

/// The storage port. Object-safe; implementations must be safe to share across workers and
/// processes (claims are exclusive: `FOR UPDATE SKIP LOCKED` on Postgres).
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Store events (an id already stored is ignored); returns their sequence numbers.
    async fn insert_events(&self, events: &[Event], now: Millis) -> StoreResult<Vec<i64>>;

    /// Lease up to `limit` unprocessed events (in sequence order).
    async fn claim_events(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Pending `Event` and `Cancel` waits for events named `name`.
    async fn waits_for_event(&self, name: &str) -> StoreResult<Vec<WaitRecord>>;

    /// Apply an event's effects and mark it processed (only while `owner` holds its lease).
    async fn apply_event(
        &self,
        seq: i64,
        owner: &str,
        effects: &EventEffects,
        now: Millis,
    ) -> StoreResult<()>;

    /// [`apply_event`](Self::apply_event) for a batch of claimed events, in order. Stores
    /// that can should do it in one transaction; effects are idempotent (a wait resolved by an
    /// earlier event of the batch is gone for a later one).
    async fn apply_events(
        &self,
        owner: &str,
        batch: &[(i64, EventEffects)],
        now: Millis,
    ) -> StoreResult<()> {
        for (seq, effects) in batch {
            self.apply_event(*seq, owner, effects, now).await?;
        }
        Ok(())
    }

    /// Stored events named `name` with a sequence number above `after_seq`.
    async fn events_after(
        &self,
        name: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Resolve one wait with a memoized value and wake its run; false if already resolved.
    async fn resolve_wait(&self, wait_id: &str, value: &Value, now: Millis) -> StoreResult<bool>;

    /// Lease the next runnable run: due queued/sleeping/waiting runs and runs whose lease
    /// expired, within their concurrency limit. Timers and waits that are due are resolved
    /// in the same transaction.
    async fn claim_run(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<ClaimedRun>>;

    /// Extend a lease; false when it was lost (expired and re-claimed, or the run cancelled).
    async fn renew_lease(&self, run_id: &str, owner: &str, until: Millis) -> StoreResult<bool>;

    /// Commit an invocation. `None` when the lease was lost (nothing is written); otherwise
    /// the waits registered (with their `after_seq`).
    async fn commit(
        &self,
        run_id: &str,
        owner: &str,
        commit: &Commit,
        now: Millis,
    ) -> StoreResult<Option<Vec<WaitRecord>>>;

    /// Like [`RunStore::commit`], but a run that continues (`Next::Continue`) keeps its lease
    /// (extended to `lease_until`) and is returned claimed again, in the same transaction, so
    /// the worker runs its next step at once instead of re-queueing and re-claiming it. The
    /// default commits and returns no run (the run is re-queued).
    async fn commit_continue(
        &self,
        run_id: &str,
        owner: &str,
        commit: &Commit,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<(Vec<WaitRecord>, Option<ClaimedRun>)>> {
        let _ = lease_until;
        Ok(self
            .commit(run_id, owner, commit, now)
            .await?
            .map(|waits| (waits, None)))
    }

    /// The earliest `available_at` of a queued, sleeping or waiting run.
    async fn next_due(&self) -> StoreResult<Option<Millis>>;

    /// Cancel a run that has not ended; false otherwise.
    async fn cancel_run(&self, run_id: &str, reason: &Value, now: Millis) -> StoreResult<bool>;

    /// Re-queue a failed or cancelled run: failed steps are forgotten, successful ones stay
    /// memoized, `cancel_waits` are registered again.
    async fn replay_run(
        &self,
        run_id: &str,
        cancel_waits: &[NewWait],
        now: Millis,
    ) -> StoreResult<bool>;

    async fn get_run(&self, run_id: &str) -> StoreResult<Option<RunDetail>>;

    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunSummary>>;

    /// Save an SDK app's registration (replacing an earlier one with the same id).
    async fn upsert_app(&self, app: &AppRecord) -> StoreResult<()>;

    async fn list_apps(&self) -> StoreResult<Vec<AppRecord>>;

    /// How many SDK apps are stored and the newest `updated_at`: what a worker compares, before
    /// each batch, to know whether another instance registered or re-registered an app. The
    /// default reads every app; stores answer it with one aggregate query.
    async fn apps_version(&self) -> StoreResult<(i64, Millis)> {
        let apps = self.list_apps().await?;
        let newest = apps.iter().map(|a| a.updated_at).max().unwrap_or(0);
        Ok((apps.len() as i64, newest))
    }
}
