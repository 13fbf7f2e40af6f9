//! The embedded executor: event fan-out, claiming, executing handlers, committing ops, and
//! the worker loop with leases, heartbeats, stored timers and graceful shutdown.

use crate::ctx::{Ctx, Driven, Mode, Op, OpKind, drive};
use crate::error::{EngineError, RunStoreError, StepError};
use crate::event::{Event, FAILED_EVENT, INVOKED_EVENT, Millis};
use crate::expr::{Expr, substitute_event};
use crate::function::{Compiled, Function};
use crate::store::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

mod commit;

/// How many invocations in a row a worker runs for one run that keeps making progress before
/// putting it back in the queue (see `Engine::execute`).
const MAX_IN_PLACE: u32 = 32;

/// Tuning of the worker loop.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Lease owner name; unique per process (a ULID by default).
    pub worker_id: String,
    /// Runs executed at once by this worker.
    pub max_concurrency: usize,
    /// How long a claim lasts without a heartbeat (heartbeats every third of it).
    pub lease: Duration,
    /// Upper bound on sleeping between checks for work from other processes.
    pub poll_interval: Duration,
    /// Events fanned out per batch.
    pub event_batch: u32,
    /// An invocation taking longer than this fails with a retriable error.
    pub invocation_timeout: Duration,
    /// How long `shutdown` waits for in-flight runs before abandoning them to lease expiry.
    pub drain_timeout: Duration,
    /// Where every time the runner reads comes from (the wall clock unless a test sets one).
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", ulid::Ulid::new()),
            max_concurrency: 16,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            event_batch: 100,
            invocation_timeout: Duration::from_secs(15 * 60),
            drain_timeout: Duration::from_secs(30),
            clock: crate::clock::system(),
        }
    }
}

pub(crate) type Invoker = Arc<dyn RemoteInvoker>;

/// Executes one invocation of a function served elsewhere (an SDK over HTTP).
#[async_trait::async_trait]
pub(crate) trait RemoteInvoker: Send + Sync {
    async fn invoke(&self, run: &ClaimedRun, def: &Compiled) -> (Driven, Vec<Op>);
}

pub(crate) struct Inner {
    pub store: Arc<dyn RunStore>,
    pub functions: RwLock<HashMap<String, Arc<Compiled>>>,
    pub config: RunnerConfig,
    pub notify: Notify,
    pub changes: watch::Sender<u64>,
    pub remote: RwLock<Option<Invoker>>,
    /// Group commit of [`Engine::send`]: see [`SendQueue`].
    pub sends: SendQueue,
    /// Set once SDK apps are served: which stored apps this engine has loaded (see `fleet`).
    pub sdk_sync: std::sync::Mutex<Option<crate::fleet::SdkSync>>,
}

/// Events waiting to be stored, and who waits for them.
type PendingSend = (
    Vec<Event>,
    tokio::sync::oneshot::Sender<Result<(), RunStoreError>>,
);

/// Group commit for `send`: concurrent callers queue their events; whoever holds `flush`
/// stores everything queued in one transaction and answers each caller. Under load one commit
/// carries many webhooks; alone, a caller flushes its own events at once.
#[derive(Default)]
pub(crate) struct SendQueue {
    pending: std::sync::Mutex<Vec<PendingSend>>,
    flush: tokio::sync::Mutex<()>,
}

/// The durable step engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("worker_id", &self.inner.config.worker_id)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    store: Arc<dyn RunStore>,
    functions: Vec<Function>,
    config: RunnerConfig,
}

impl EngineBuilder {
    pub fn function(mut self, f: Function) -> Self {
        self.functions.push(f);
        self
    }

    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Validate every definition (ids unique, handlers present, CEL compiles).
    pub fn build(self) -> Result<Engine, EngineError> {
        let mut map = HashMap::new();
        for f in self.functions {
            if f.handler.is_none() {
                return Err(EngineError::Definition {
                    function: f.id.clone(),
                    message: "no handler".into(),
                });
            }
            let id = f.id.clone();
            if map
                .insert(id.clone(), Arc::new(Compiled::new(f)?))
                .is_some()
            {
                return Err(EngineError::Definition {
                    function: id,
                    message: "defined twice".into(),
                });
            }
        }
        let (changes, _) = watch::channel(0);
        Ok(Engine {
            inner: Arc::new(Inner {
                store: self.store,
                functions: RwLock::new(map),
                config: self.config,
                notify: Notify::new(),
                changes,
                remote: RwLock::new(None),
                sends: SendQueue::default(),
                sdk_sync: std::sync::Mutex::new(None),
            }),
        })
    }
}

/// A running worker loop. Dropping it does not stop it; call [`Runner::shutdown`].
pub struct Runner {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Runner {
    /// Stop claiming, wait for in-flight runs (up to the drain timeout), then return.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stop at once, as a crash would: in-flight runs are abandoned mid-step, their leases
    /// left to expire and be re-claimed.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock<T>(l: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn builder(store: Arc<dyn RunStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            functions: Vec::new(),
            config: RunnerConfig::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.inner.store
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// The runner's time (its configured clock), Unix milliseconds.
    pub fn now(&self) -> Millis {
        self.inner.config.clock.now_ms()
    }

    /// The definitions of the functions this engine knows (local and registered SDK ones).
    pub fn functions(&self) -> Vec<Function> {
        read(&self.inner.functions)
            .values()
            .map(|c| c.def.clone())
            .collect()
    }

    pub(crate) fn function(&self, id: &str) -> Option<Arc<Compiled>> {
        read(&self.inner.functions).get(id).cloned()
    }

    pub(crate) fn lock_sdk_sync(&self) -> std::sync::MutexGuard<'_, Option<crate::fleet::SdkSync>> {
        lock(&self.inner.sdk_sync)
    }

    pub(crate) fn add_function(&self, c: Compiled) {
        write(&self.inner.functions).insert(c.def.id.clone(), Arc::new(c));
    }

    pub(crate) fn set_remote(&self, invoker: Invoker) {
        *write(&self.inner.remote) = Some(invoker);
    }

    /// Store events durably and wake the worker; returns their ids. Runs, wait matches and
    /// cancellations follow asynchronously (exactly once per event).
    pub async fn send(&self, events: Vec<Event>) -> Result<Vec<String>, EngineError> {
        let now = self.now();
        let mut out = Vec::with_capacity(events.len());
        for ev in &events {
            if ev.name.trim().is_empty() {
                return Err(EngineError::InvalidEvent("name is required".into()));
            }
        }
        let events: Vec<Event> = events.into_iter().map(|e| e.normalized(now)).collect();
        out.extend(events.iter().map(|e| e.id.clone()));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        lock(&self.inner.sends.pending).push((events, tx));
        let stored = {
            let _flushing = self.inner.sends.flush.lock().await;
            match rx.try_recv() {
                // An earlier flush carried ours.
                Ok(r) => r,
                Err(_) => {
                    let batch = std::mem::take(&mut *lock(&self.inner.sends.pending));
                    let store = self.inner.store.clone();
                    // A task of its own: if this caller goes away (its client hung up), the
                    // batch it carries for the others is still stored and answered.
                    let flush = tokio::spawn(async move {
                        let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                        let all: Vec<Event> = events.into_iter().flatten().collect();
                        let r = store.insert_events(&all, now).await.map(|_| ());
                        for waiter in waiters {
                            let _ = waiter.send(r.clone());
                        }
                    });
                    let _ = flush.await;
                    rx.try_recv().unwrap_or_else(|_| {
                        Err(RunStoreError::Unavailable(
                            "the event batch was dropped before it was stored".into(),
                        ))
                    })
                }
            }
        };
        stored?;
        self.inner.notify.notify_one();
        Ok(out)
    }

    /// Send one event; returns its id.
    pub async fn send_one(&self, event: Event) -> Result<String, EngineError> {
        Ok(self
            .send(vec![event])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Cancel a run that has not ended.
    pub async fn cancel(&self, run_id: &str) -> Result<bool, EngineError> {
        let done = self
            .inner
            .store
            .cancel_run(
                run_id,
                &json!({"name": "Cancelled", "message": "cancelled by request"}),
                self.now(),
            )
            .await?;
        self.changed();
        Ok(done)
    }

    /// Re-queue a dead-lettered (failed) or cancelled run. Steps that succeeded stay
    /// memoized, so it resumes where it failed.
    pub async fn replay(&self, run_id: &str) -> Result<bool, EngineError> {
        let Some(detail) = self.inner.store.get_run(run_id).await? else {
            return Err(EngineError::NotFound(format!("run {run_id}")));
        };
        let cancel_waits = match self.function(&detail.run.function_id) {
            Some(def) => cancel_waits(&def, &detail.run.event, self.now()),
            None => Vec::new(),
        };
        let done = self
            .inner
            .store
            .replay_run(run_id, &cancel_waits, self.now())
            .await?;
        self.changed();
        Ok(done)
    }

    pub async fn get_run(&self, run_id: &str) -> Result<Option<RunDetail>, EngineError> {
        Ok(self.inner.store.get_run(run_id).await?)
    }

    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, EngineError> {
        Ok(self.inner.store.list_runs(filter).await?)
    }

    /// Runs started by the event with this id.
    pub async fn runs_for_event(&self, event_id: &str) -> Result<Vec<RunSummary>, EngineError> {
        self.list_runs(&RunFilter {
            event_id: Some(event_id.to_string()),
            ..Default::default()
        })
        .await
    }

    /// Wait until `check` returns `Some`, re-checking whenever this engine changes something
    /// (and at least every 25 ms, for changes made by other processes), for at most `timeout`.
    pub async fn wait_until<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, EngineError>>,
    {
        let mut rx = self.inner.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Timeout(what.to_string()));
            }
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(25)),
                rx.changed(),
            )
            .await;
        }
    }

    /// Wait until the run has ended (completed, failed or cancelled).
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<RunDetail, EngineError> {
        self.wait_until(&format!("run {run_id} to end"), timeout, || async {
            Ok(self
                .get_run(run_id)
                .await?
                .filter(|d| d.run.status.is_terminal()))
        })
        .await
    }

    /// Wait until the event with this id has started `n` runs; returns them.
    pub async fn wait_for_runs_of(
        &self,
        event_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RunSummary>, EngineError> {
        self.wait_until(
            &format!("{n} run(s) of event {event_id}"),
            timeout,
            || async {
                let runs = self.runs_for_event(event_id).await?;
                Ok((runs.len() >= n).then_some(runs))
            },
        )
        .await
    }

    fn changed(&self) {
        self.tell_waiters();
        self.inner.notify.notify_one();
    }

    /// Wake `wait_until` callers, not the worker loop.
    fn tell_waiters(&self) {
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn has_functions(&self) -> bool {
        !read(&self.inner.functions).is_empty()
    }

    fn has_crons(&self) -> bool {
        read(&self.inner.functions)
            .values()
            .any(|c| !c.crons.is_empty())
    }

    /// Send `inngest/scheduled.timer` for every cron tick in `(since, now]`. Event ids name the
    /// function and the minute, so concurrent workers fire each tick once. Returns the new mark.
    pub async fn fire_crons(&self, since: Millis) -> Millis {
        let now = self.now();
        let defs: Vec<Arc<Compiled>> = read(&self.inner.functions)
            .values()
            .filter(|c| !c.crons.is_empty())
            .cloned()
            .collect();
        let mut events = Vec::new();
        for def in defs {
            for (spec, trigger) in def
                .crons
                .iter()
                .zip(def.def.triggers.iter().filter_map(|t| match t {
                    crate::function::Trigger::Cron { cron } => Some(cron.clone()),
                    _ => None,
                }))
            {
                for minute in spec.due_between(since, now, 60) {
                    events.push(
                        Event::new(
                            crate::cron::SCHEDULED_EVENT,
                            json!({"function_id": def.def.id, "cron": trigger}),
                        )
                        .with_id(format!("cron:{}:{minute}", def.def.id)),
                    );
                }
            }
        }
        if events.is_empty() {
            return now;
        }
        match self.send(events).await {
            Ok(_) => now,
            Err(e) => {
                tracing::warn!(error = %e, "firing cron ticks failed; retrying");
                since
            }
        }
    }

    /// Start the worker loop on the current Tokio runtime.
    pub fn start(&self) -> Runner {
        let (stop, stop_rx) = watch::channel(false);
        let engine = self.clone();
        let span = tracing::info_span!("steps.worker", worker = %self.inner.config.worker_id);
        let task = tokio::spawn(async move { engine.worker_loop(stop_rx).await }.instrument(span));
        Runner { stop, task }
    }

    async fn worker_loop(self, mut stop: watch::Receiver<bool>) {
        let cfg = self.inner.config.clone();
        let mut inflight: JoinSet<()> = JoinSet::new();
        // A clock a test moves wakes the loop, so timers it made due fire at once.
        let mut clock_moved = cfg.clock.subscribe();
        tracing::info!("step worker started");
        // Cron ticks after this start are fired; ticks missed while no worker ran are not.
        let mut cron_checked = self.now();
        loop {
            if *stop.borrow() {
                break;
            }
            cron_checked = self.fire_crons(cron_checked).await;
            while let Some(r) = inflight.try_join_next() {
                if let Err(e) = r {
                    tracing::error!(error = %e, "run task failed");
                }
            }
            let mut wait = cfg.poll_interval;
            let mut more_events = false;
            // A worker fans an event out with the functions it knows. Without any it would
            // mark events processed that start nothing, so it leaves them to workers that
            // have functions (SDK apps registered later make it take part).
            if !self.has_functions() {
                // SDK apps registered on another instance may give it some.
                self.sync_sdk_apps().await;
            }
            if self.has_functions() {
                match self.process_events().await {
                    Ok(n) => more_events = n >= cfg.event_batch as usize,
                    Err(e) => tracing::warn!(error = %e, "processing events failed"),
                }
            }
            let mut full = false;
            let mut store_ok = true;
            // Nor does it claim runs it could only push back as "unknown function".
            let can_run = self.has_functions();
            loop {
                if !can_run {
                    break;
                }
                if inflight.len() >= cfg.max_concurrency {
                    full = true;
                    break;
                }
                match self
                    .inner
                    .store
                    .claim_run(&cfg.worker_id, self.now(), cfg.lease.as_millis() as i64)
                    .await
                {
                    Ok(Some(claimed)) => {
                        let engine = self.clone();
                        let stop = stop.clone();
                        inflight.spawn(async move { engine.execute(claimed, stop).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming runs failed");
                        store_ok = false;
                        break;
                    }
                }
            }
            if more_events {
                continue;
            }
            if self.has_crons() {
                let next_minute = (self.now().div_euclid(60_000) + 1) * 60_000;
                wait = wait.min(Duration::from_millis(
                    (next_minute - self.now()).max(1) as u64
                ));
            }
            if store_ok && !full {
                match self.inner.store.next_due().await {
                    Ok(Some(due)) => {
                        let now = self.now();
                        // Due but not claimable: blocked by a concurrency limit; wait for a
                        // run to finish (a notification) or the poll interval.
                        if due > now {
                            wait = wait.min(Duration::from_millis((due - now) as u64));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "reading timers failed"),
                }
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = self.inner.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = async {
                    match clock_moved.as_mut() {
                        Some(rx) => {
                            if rx.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
                // A finished run notifies (`changed`), so only a full worker needs to wake on
                // its task ending (to claim again); otherwise every step would cost a second,
                // empty pass (claim events, claim runs, read timers). Finished tasks are reaped
                // at the top of the loop.
                Some(r) = inflight.join_next(), if full => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "run task failed");
                    }
                }
            }
        }
        tracing::info!(in_flight = inflight.len(), "step worker draining");
        let drained = tokio::time::timeout(cfg.drain_timeout, async {
            while inflight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("drain timed out; abandoning in-flight runs to lease expiry");
            inflight.abort_all();
        }
        tracing::info!("step worker stopped");
    }

    /// Fan out one batch of events; returns how many were processed.
    pub(crate) async fn process_events(&self) -> Result<usize, EngineError> {
        let cfg = &self.inner.config;
        let events = self
            .inner
            .store
            .claim_events(
                &cfg.worker_id,
                self.now(),
                cfg.lease.as_millis() as i64,
                cfg.event_batch,
            )
            .await?;
        let n = events.len();
        if n > 0 {
            // Fan out with the functions of the whole fleet: SDK apps registered on any
            // instance since this one last looked are loaded first.
            self.sync_sdk_apps().await;
        }
        // One transaction for the batch. Effects are computed from the waits as they were
        // before the batch: a wait created meanwhile (by a run, or as a new run's cancel
        // wait) is registered after every event already stored, so it could not match these.
        let mut batch: Vec<(i64, EventEffects)> = Vec::with_capacity(n);
        let mut waits: HashMap<String, Vec<WaitRecord>> = HashMap::new();
        for se in events {
            let span =
                tracing::info_span!("steps.event", event = %se.event.name, event_id = %se.event.id);
            let effects = self.effects_for(&se, &mut waits).instrument(span).await?;
            batch.push((se.seq, effects));
        }
        if !batch.is_empty() {
            self.inner
                .store
                .apply_events(&cfg.worker_id, &batch, self.now())
                .await?;
        }
        if n > 0 {
            // Only waiters: the worker loop, the caller, claims the new runs next.
            self.tell_waiters();
        }
        Ok(n)
    }

    /// What one event does: the runs it starts, the waits it resolves or cancels. `waits`
    /// caches the pending waits by event name for one batch (a wait an earlier event of the
    /// batch resolved is resolved at most once: the store deletes it on the first).
    async fn effects_for(
        &self,
        se: &StoredEvent,
        waits: &mut HashMap<String, Vec<WaitRecord>>,
    ) -> Result<EventEffects, EngineError> {
        let now = self.now();
        let ev = &se.event;
        let ev_json = ev.to_value();
        let mut effects = EventEffects::default();
        let defs: Vec<Arc<Compiled>> = read(&self.inner.functions).values().cloned().collect();
        for def in defs {
            if def.triggered_by(ev, &ev_json) {
                effects.new_runs.push(new_run(&def, ev.clone(), None, now));
            }
        }
        if !waits.contains_key(&ev.name) {
            let pending = self.inner.store.waits_for_event(&ev.name).await?;
            waits.insert(ev.name.clone(), pending);
        }
        for w in waits.get(&ev.name).into_iter().flatten() {
            if se.seq <= w.after_seq {
                continue;
            }
            if wait_matches(w, &ev_json) {
                match w.kind {
                    WaitKind::Cancel => effects.cancel.push(w.id.clone()),
                    _ => effects
                        .resolve
                        .push((w.id.clone(), json!({ "data": ev_json }))),
                }
            }
        }
        Ok(effects)
    }

    /// Execute a claimed run. While it makes progress (`Next::Continue`) it keeps its lease
    /// and its next invocation runs at once, up to [`MAX_IN_PLACE`] invocations in a row (then
    /// it goes back to the queue so other runs get a turn) and not while stopping.
    async fn execute(self, claimed: ClaimedRun, stop: watch::Receiver<bool>) {
        let mut claimed = claimed;
        let mut in_place = 0;
        loop {
            match self
                .execute_once(claimed, &stop, in_place < MAX_IN_PLACE)
                .await
            {
                Some(next) => {
                    claimed = next;
                    in_place += 1;
                }
                None => return,
            }
        }
    }

    /// One invocation and its commit; the run again when it was kept (see `execute`).
    async fn execute_once(
        &self,
        claimed: ClaimedRun,
        stop: &watch::Receiver<bool>,
        may_keep: bool,
    ) -> Option<ClaimedRun> {
        let run = claimed.run.clone();
        let span = tracing::info_span!("steps.run", run_id = %run.id, function = %run.function_id, attempt = run.attempt);
        async move {
            let cfg = self.inner.config.clone();
            let Some(def) = self.function(&run.function_id) else {
                tracing::warn!("unknown function; retrying later");
                let commit = Commit {
                    steps: vec![],
                    waits: vec![],
                    events: vec![],
                    runs: vec![],
                    next: Next::Retry {
                        at: self.now() + 5_000,
                        attempt: run.attempt,
                        error: json!({"name": "Error", "message": format!("unknown function {}", run.function_id)}),
                    },
                };
                let _ = self.inner.store.commit(&run.id, &cfg.worker_id, &commit, self.now()).await;
                return None;
            };
            let invocation = async {
                if let Some(handler) = def.def.handler.clone() {
                    let ctx = Ctx::new(
                        run.id.clone(),
                        run.function_id.clone(),
                        run.attempt,
                        run.event.clone(),
                        claimed.memo.clone(),
                        claimed.pending.clone(),
                        Mode::Embedded,
                        None,
                        cfg.clock.clone(),
                    );
                    let fut = handler(ctx.clone(), run.event.clone());
                    let mut task = AbortOnDrop(tokio::spawn(drive(ctx.clone(), fut).in_current_span()));
                    let driven = match (&mut task.0).await {
                        Ok(d) => d,
                        Err(e) => Driven::Done(Err(StepError::retriable(format!("handler panicked: {e}")))),
                    };
                    (driven, ctx.take_ops())
                } else {
                    let remote = read(&self.inner.remote).clone();
                    match remote {
                        Some(r) => r.invoke(&claimed, &def).await,
                        None => (Driven::Done(Err(StepError::retriable("no executor for remote function"))), vec![]),
                    }
                }
            };
            let heartbeat = async {
                let every = cfg.lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let until = self.now() + cfg.lease.as_millis() as i64;
                    match self.inner.store.renew_lease(&run.id, &cfg.worker_id, until).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                    }
                }
            };
            let (driven, ops) = tokio::select! {
                r = invocation => r,
                _ = heartbeat => {
                    tracing::info!("lease lost (cancelled or re-claimed); abandoning this invocation");
                    self.changed();
                    return None;
                }
                _ = tokio::time::sleep(cfg.invocation_timeout) => {
                    (Driven::Done(Err(StepError::retriable("invocation timed out"))), vec![])
                }
            };
            let commit = self.build_commit(&def, &run, driven, ops);
            if let Next::Fail(e) = &commit.next {
                tracing::warn!(error = %e, "run failed (dead-lettered)");
            }
            let now = self.now();
            // Decided now, not before the invocation: a worker told to stop meanwhile
            // releases the run.
            let committed = if may_keep && !*stop.borrow() {
                let until = now + cfg.lease.as_millis() as i64;
                self.inner.store.commit_continue(&run.id, &cfg.worker_id, &commit, now, until).await
            } else {
                self.inner.store.commit(&run.id, &cfg.worker_id, &commit, now).await.map(|w| w.map(|w| (w, None)))
            };
            let kept = match committed {
                Ok(Some((waits, kept))) => {
                    for w in waits.iter().filter(|w| w.kind == WaitKind::Event) {
                        if let Err(e) = self.catch_up(w).await {
                            tracing::warn!(error = %e, "wait catch-up failed");
                        }
                    }
                    kept
                }
                Ok(None) => {
                    tracing::info!("lease lost before commit; results discarded");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "commit failed; the run will be re-claimed");
                    None
                }
            };
            if kept.is_some() {
                // Still ours: tell waiters, but the worker loop has nothing new to claim.
                self.tell_waiters();
            } else {
                self.changed();
            }
            kept
        }
        .instrument(span)
        .await
    }

    /// Events stored between reading the sequence and registering a wait could be missed by
    /// the event processor; look at them once.
    async fn catch_up(&self, w: &WaitRecord) -> Result<(), EngineError> {
        let Some(name) = &w.event_name else {
            return Ok(());
        };
        for se in self
            .inner
            .store
            .events_after(name, w.after_seq, 100)
            .await?
        {
            let ev_json = se.event.to_value();
            if wait_matches(w, &ev_json) {
                self.inner
                    .store
                    .resolve_wait(&w.id, &json!({ "data": ev_json }), self.now())
                    .await?;
                break;
            }
        }
        Ok(())
    }
}

fn wait_matches(w: &WaitRecord, ev_json: &Value) -> bool {
    let Some(src) = w.expr.as_deref() else {
        return true;
    };
    match Expr::compile(src).and_then(|e| e.matches(&[("async", ev_json)])) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(wait = %w.id, error = %e, "wait expression failed");
            false
        }
    }
}

pub(crate) fn cancel_waits(def: &Compiled, event: &Event, now: Millis) -> Vec<NewWait> {
    let ev_json = event.to_value();
    def.def
        .cancel_on
        .iter()
        .map(|c| NewWait {
            id: ulid::Ulid::new().to_string(),
            kind: WaitKind::Cancel,
            hash: None,
            step_name: None,
            event_name: Some(c.event.clone()),
            expr: c.if_expr.as_deref().map(|e| substitute_event(e, &ev_json)),
            correlation: None,
            expires_at: c.timeout.map(|t| now + t.as_millis() as i64),
        })
        .collect()
}

pub(crate) fn new_run(def: &Compiled, event: Event, parent: Option<String>, now: Millis) -> NewRun {
    let ev_json = event.to_value();
    let vars = [("event", &ev_json)];
    let key_of = |e: &Option<Expr>, what: &str| -> Option<String> {
        match e.as_ref().map(|e| e.key(&vars)) {
            None => None,
            Some(Ok(k)) => k,
            Some(Err(err)) => {
                tracing::warn!(function = %def.def.id, error = %err, "{what} expression failed");
                None
            }
        }
    };
    let concurrency_key = def.def.concurrency.as_ref().map(|_| {
        let k = key_of(&def.concurrency_key, "concurrency key").unwrap_or_default();
        format!("{}:{k}", def.def.id)
    });
    let debounce_key = def
        .def
        .debounce
        .as_ref()
        .map(|_| key_of(&def.debounce_key, "debounce key").unwrap_or_default());
    let available_at = now
        + def
            .def
            .debounce
            .as_ref()
            .map_or(0, |d| d.period.as_millis() as i64);
    NewRun {
        id: ulid::Ulid::new().to_string(),
        function_id: def.def.id.clone(),
        cancel_waits: cancel_waits(def, &event, now),
        available_at,
        concurrency_key,
        concurrency_limit: def.def.concurrency.as_ref().map(|c| c.limit),
        idempotency_key: if parent.is_none() {
            key_of(&def.idempotency, "idempotency key")
        } else {
            None
        },
        debounce_key,
        parent_run_id: parent,
        event,
    }
}
