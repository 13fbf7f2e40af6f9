//! The handler's view of a run: [`Ctx`] and its step tools.
//!
//! Inngest's execution model: the handler is re-run from the top for every invocation. A step
//! whose result is memoized returns it at once. A new step is *discovered*: it is recorded as
//! an op; `run` steps are executed (the closure runs, its result recorded), every other kind
//! (sleep, wait, send, invoke) is just recorded. A new step never returns to the handler: its
//! future stays pending, and once no more progress is possible the invocation is interrupted
//! and the engine commits the recorded ops exactly once. The next invocation sees them
//! memoized.
//!
//! Steps that are started together (`futures::join!`, `join_all`) are discovered in the same
//! invocation and, in the embedded executor, run concurrently.

use crate::clock::Clock;
use crate::error::StepError;
use crate::event::{Event, Millis};
use crate::hash::StepIds;
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

/// What kind of step an op is.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    Run,
    Sleep {
        until: Millis,
        duration_ms: i64,
    },
    WaitForEvent {
        event: String,
        if_expr: Option<String>,
        until: Millis,
        timeout_ms: i64,
    },
    SendEvent {
        events: Vec<Event>,
    },
    Invoke {
        function_id: String,
        payload: Value,
        until: Option<Millis>,
        timeout_ms: Option<i64>,
    },
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Run => "run",
            OpKind::Sleep { .. } => "sleep",
            OpKind::WaitForEvent { .. } => "wait_for_event",
            OpKind::SendEvent { .. } => "send_event",
            OpKind::Invoke { .. } => "invoke",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Undecided,
    Execute,
    Skip,
}

/// A step discovered during one invocation.
#[derive(Debug, Clone)]
pub struct Op {
    pub hash: String,
    /// The user's step id.
    pub id: String,
    pub kind: OpKind,
    /// False when the step was already registered by an earlier invocation (a pending wait).
    pub fresh: bool,
    /// For executed `run` steps: the result or error.
    pub outcome: Option<Result<Value, StepError>>,
    pub started_at: Millis,
    pub ended_at: Millis,
    pub(crate) decision: Decision,
    pub(crate) abandoned: bool,
}

/// How an invocation treats new `run` steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// The embedded executor: execute every new `run` step as soon as it is discovered.
    Embedded,
    /// SDK request with `stepId=step`: execute the one new step when it is alone and
    /// immediate execution is allowed, else only plan.
    Discover { immediate: bool },
    /// SDK request with `stepId=<hash>`: execute that step only.
    Target(String),
}

struct State {
    memo: HashMap<String, Value>,
    pending: HashSet<String>,
    ids: StepIds,
    ops: Vec<Op>,
    mode: Mode,
    wakers: HashMap<String, Waker>,
}

/// Sends events for `ctx.send_event` when the handler runs behind the SDK endpoint.
#[async_trait]
pub trait EventSender: Send + Sync {
    async fn send(&self, events: Vec<Event>) -> Result<Vec<String>, StepError>;
}

struct Inner {
    run_id: String,
    function_id: String,
    attempt: u32,
    event: Event,
    state: Mutex<State>,
    sender: Option<Arc<dyn EventSender>>,
    clock: Arc<dyn Clock>,
}

/// The handler's context. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("run_id", &self.inner.run_id)
            .field("function_id", &self.inner.function_id)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

/// Split a memoized value into result or error: `{"data": x}` -> Ok(x), `{"error": e}` ->
/// Err(e), anything else is a raw value (Ok).
pub(crate) fn unwrap_memo(v: &Value) -> Result<Value, Value> {
    if let Value::Object(map) = v
        && !map.is_empty()
        && map
            .keys()
            .all(|k| k == "data" || k == "error" || k == "input")
    {
        if let Some(e) = map.get("error") {
            return Err(e.clone());
        }
        return Ok(map.get("data").cloned().unwrap_or(Value::Null));
    }
    Ok(v.clone())
}

fn park<T>() -> impl Future<Output = T> {
    std::future::pending()
}

/// Marks a `run` step abandoned if its future is dropped mid-execution (e.g. by `select!`).
struct ExecGuard {
    ctx: Ctx,
    hash: String,
    done: bool,
}

impl Drop for ExecGuard {
    fn drop(&mut self) {
        if !self.done {
            let mut st = self.ctx.lock();
            if let Some(op) = st.ops.iter_mut().find(|o| o.hash == self.hash) {
                op.abandoned = true;
            }
        }
    }
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        run_id: String,
        function_id: String,
        attempt: u32,
        event: Event,
        memo: HashMap<String, Value>,
        pending: HashSet<String>,
        mode: Mode,
        sender: Option<Arc<dyn EventSender>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                run_id,
                function_id,
                attempt,
                event,
                sender,
                clock,
                state: Mutex::new(State {
                    memo,
                    pending,
                    ids: StepIds::default(),
                    ops: Vec::new(),
                    mode,
                    wakers: HashMap::new(),
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    pub fn function_id(&self) -> &str {
        &self.inner.function_id
    }

    /// The attempt of the current step (0 on the first try).
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The event that started the run.
    pub fn event(&self) -> &Event {
        &self.inner.event
    }

    /// The runner's time (Unix milliseconds), from its clock. Not memoized: a function that
    /// decides on it reads it inside a `run` step, so a replay sees the same value.
    pub fn now_ms(&self) -> Millis {
        self.inner.clock.now_ms()
    }

    /// The ops discovered so far in this invocation.
    pub(crate) fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut self.lock().ops)
    }

    /// Hash the next use of `id` and look up its memoized value.
    fn begin(&self, id: &str) -> (String, Option<Value>) {
        let mut st = self.lock();
        let hash = st.ids.next(id);
        let memo = st.memo.get(&hash).cloned();
        (hash, memo)
    }

    fn register(&self, hash: &str, id: &str, kind: OpKind) {
        let mut st = self.lock();
        let fresh = !st.pending.contains(hash);
        let decision = match (&kind, &st.mode) {
            (OpKind::Run, Mode::Embedded) => Decision::Execute,
            (OpKind::Run, Mode::Target(t)) if t == hash => Decision::Execute,
            (OpKind::Run, Mode::Discover { .. }) => Decision::Undecided,
            _ => Decision::Skip,
        };
        let decision = if fresh { decision } else { Decision::Skip };
        st.ops.push(Op {
            hash: hash.to_string(),
            id: id.to_string(),
            kind,
            fresh,
            outcome: None,
            started_at: 0,
            ended_at: 0,
            decision,
            abandoned: false,
        });
    }

    fn decision(&self, hash: &str) -> impl Future<Output = bool> + Send + use<> {
        let ctx = self.clone();
        let hash = hash.to_string();
        poll_fn(move |cx| {
            let mut st = ctx.lock();
            match st.ops.iter().find(|o| o.hash == hash).map(|o| o.decision) {
                Some(Decision::Execute) => Poll::Ready(true),
                Some(Decision::Skip) | None => Poll::Ready(false),
                Some(Decision::Undecided) => {
                    st.wakers.insert(hash.clone(), cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }

    fn start(&self, hash: &str) -> Millis {
        let now = self.now_ms();
        let mut st = self.lock();
        if let Some(op) = st.ops.iter_mut().find(|o| o.hash == hash) {
            op.started_at = now;
        }
        now
    }

    fn finish(&self, hash: &str, outcome: Result<Value, StepError>) {
        let mut st = self.lock();
        if let Some(op) = st.ops.iter_mut().find(|o| o.hash == hash) {
            op.outcome = Some(outcome);
            op.ended_at = self.now_ms();
        }
    }

    /// A memoized step: run `f` once, durably record its JSON result, and return it on every
    /// later invocation. `Err(StepError::Retriable)` retries the step with backoff;
    /// `NonRetriable` (or running out of retries) hands back `StepError::StepFailed`.
    pub fn run<T, F, Fut>(
        &self,
        id: &str,
        f: F,
    ) -> impl Future<Output = Result<T, StepError>> + Send + use<T, F, Fut>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, StepError>> + Send,
        T: Serialize + DeserializeOwned + Send,
    {
        let ctx = self.clone();
        let (hash, memo) = self.begin(id);
        let id = id.to_string();
        async move {
            if let Some(v) = memo {
                return match unwrap_memo(&v) {
                    Ok(data) => serde_json::from_value(data).map_err(|e| {
                        StepError::non_retriable(format!(
                            "step `{id}`: stored result does not fit the type: {e}"
                        ))
                    }),
                    Err(e) => Err(StepError::from_step_json(&id, &e)),
                };
            }
            ctx.register(&hash, &id, OpKind::Run);
            if !ctx.decision(&hash).await {
                return park().await;
            }
            let mut guard = ExecGuard {
                ctx: ctx.clone(),
                hash: hash.clone(),
                done: false,
            };
            let _ = ctx.start(&hash);
            let span =
                tracing::info_span!("steps.step", step = %id, hash = %hash, run_id = %ctx.run_id());
            let out = tracing::Instrument::instrument(f(), span).await;
            let outcome = out.and_then(|v| {
                serde_json::to_value(v).map_err(|e| {
                    StepError::non_retriable(format!("step `{id}`: result is not JSON: {e}"))
                })
            });
            ctx.finish(&hash, outcome);
            guard.done = true;
            park().await
        }
    }

    fn passive(
        &self,
        id: &str,
        kind: OpKind,
    ) -> impl Future<Output = Result<Value, Value>> + Send + use<> {
        let ctx = self.clone();
        let (hash, memo) = self.begin(id);
        let id = id.to_string();
        async move {
            if let Some(v) = memo {
                return unwrap_memo(&v);
            }
            ctx.register(&hash, &id, kind);
            park().await
        }
    }

    /// Sleep durably for `duration` (survives restarts).
    pub fn sleep(
        &self,
        id: &str,
        duration: Duration,
    ) -> impl Future<Output = Result<(), StepError>> + Send + use<> {
        let ms = duration.as_millis() as i64;
        let fut = self.passive(
            id,
            OpKind::Sleep {
                until: self.now_ms() + ms,
                duration_ms: ms,
            },
        );
        async move {
            let _ = fut.await;
            Ok(())
        }
    }

    /// Sleep durably until `at` (Unix milliseconds).
    pub fn sleep_until(
        &self,
        id: &str,
        at: Millis,
    ) -> impl Future<Output = Result<(), StepError>> + Send + use<> {
        let now = self.now_ms();
        let fut = self.passive(
            id,
            OpKind::Sleep {
                until: at,
                duration_ms: (at - now).max(0),
            },
        );
        async move {
            let _ = fut.await;
            Ok(())
        }
    }

    /// Wait for an event named `event` sent after this wait is registered, for which the CEL
    /// `if_expr` holds (`event` = this run's trigger, `async` = the candidate). `None` on
    /// timeout.
    pub fn wait_for_event(
        &self,
        id: &str,
        event: &str,
        timeout: Duration,
        if_expr: Option<&str>,
    ) -> impl Future<Output = Result<Option<Event>, StepError>> + Send + use<> {
        let ms = timeout.as_millis() as i64;
        let fut = self.passive(
            id,
            OpKind::WaitForEvent {
                event: event.to_string(),
                if_expr: if_expr.map(str::to_string),
                until: self.now_ms() + ms,
                timeout_ms: ms,
            },
        );
        let id = id.to_string();
        async move {
            match fut.await {
                Ok(Value::Null) => Ok(None),
                Ok(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                    StepError::non_retriable(format!("step `{id}`: stored event is invalid: {e}"))
                }),
                Err(e) => Err(StepError::from_step_json(&id, &e)),
            }
        }
    }

    /// Send events durably (exactly once per run); returns their ids.
    pub fn send_event(
        &self,
        id: &str,
        events: Vec<Event>,
    ) -> BoxFuture<'static, Result<Vec<String>, StepError>> {
        let now = self.now_ms();
        let events: Vec<Event> = events.into_iter().map(|e| e.normalized(now)).collect();
        if let Some(sender) = self.inner.sender.clone() {
            let fut = self.run(id, move || async move {
                sender.send(events).await.map(|ids| json!({ "ids": ids }))
            });
            return Box::pin(async move { fut.await.map(|v: Value| ids_of(&v)) });
        }
        let fut = self.passive(id, OpKind::SendEvent { events });
        let id = id.to_string();
        Box::pin(async move {
            match fut.await {
                Ok(v) => Ok(ids_of(&v)),
                Err(e) => Err(StepError::from_step_json(&id, &e)),
            }
        })
    }

    /// Invoke another function with `payload` as its event data and wait for its result.
    pub fn invoke(
        &self,
        id: &str,
        function_id: &str,
        payload: Value,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Value, StepError>> + Send + use<> {
        let timeout_ms = timeout.map(|t| t.as_millis() as i64);
        let fut = self.passive(
            id,
            OpKind::Invoke {
                function_id: function_id.to_string(),
                payload,
                until: timeout_ms.map(|t| self.now_ms() + t),
                timeout_ms,
            },
        );
        let id = id.to_string();
        async move { fut.await.map_err(|e| StepError::from_step_json(&id, &e)) }
    }
}

fn ids_of(v: &Value) -> Vec<String> {
    v.get("ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How an invocation ended.
#[derive(Debug)]
pub(crate) enum Driven {
    /// The handler returned.
    Done(Result<Value, StepError>),
    /// No more progress: the discovered ops are in `ctx.take_ops()`.
    Interrupted,
}

/// Poll the handler until it returns or cannot progress without committing its ops.
pub(crate) async fn drive(
    ctx: Ctx,
    mut fut: BoxFuture<'static, Result<Value, StepError>>,
) -> Driven {
    let mut decided = false;
    poll_fn(move |cx| {
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(Driven::Done(r));
        }
        let mut st = ctx.lock();
        if st.ops.is_empty() {
            return Poll::Pending; // awaiting the handler's own I/O
        }
        if st
            .ops
            .iter()
            .any(|o| o.decision == Decision::Execute && o.outcome.is_none() && !o.abandoned)
        {
            return Poll::Pending; // a step is still executing
        }
        if let Mode::Discover { immediate } = st.mode.clone()
            && !decided
        {
            decided = true;
            let fresh: Vec<usize> = (0..st.ops.len()).filter(|&i| st.ops[i].fresh).collect();
            if immediate && fresh.len() == 1 && st.ops[fresh[0]].kind == OpKind::Run {
                let i = fresh[0];
                st.ops[i].decision = Decision::Execute;
                let hash = st.ops[i].hash.clone();
                if let Some(w) = st.wakers.remove(&hash) {
                    w.wake();
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let wakers: Vec<Waker> = st.wakers.drain().map(|(_, w)| w).collect();
            for op in st.ops.iter_mut() {
                if op.decision == Decision::Undecided {
                    op.decision = Decision::Skip;
                }
            }
            drop(st);
            for w in wakers {
                w.wake();
            }
            return Poll::Ready(Driven::Interrupted);
        }
        Poll::Ready(Driven::Interrupted)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_step_id;

    fn ctx(memo: HashMap<String, Value>, mode: Mode) -> Ctx {
        Ctx::new(
            "run_1".into(),
            "fn".into(),
            0,
            Event::new("e", json!({})),
            memo,
            HashSet::new(),
            mode,
            None,
            crate::clock::system(),
        )
    }

    #[tokio::test]
    async fn new_step_executes_once_and_interrupts() {
        let c = ctx(HashMap::new(), Mode::Embedded);
        let c2 = c.clone();
        let fut: BoxFuture<'static, Result<Value, StepError>> = Box::pin(async move {
            let a: i32 = c2.run("a", || async { Ok(1) }).await?;
            let b: i32 = c2.run("b", || async { Ok(2) }).await?;
            Ok(json!(a + b))
        });
        assert!(matches!(drive(c.clone(), fut).await, Driven::Interrupted));
        let ops = c.take_ops();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].hash, hash_step_id("a"));
        assert_eq!(ops[0].outcome, Some(Ok(json!(1))));
    }

    #[tokio::test]
    async fn memoized_steps_return_and_handler_completes() {
        let memo = HashMap::from([
            (hash_step_id("a"), json!({"data": 1})),
            (hash_step_id("b"), json!({"data": 2})),
        ]);
        let c = ctx(memo, Mode::Embedded);
        let c2 = c.clone();
        let fut: BoxFuture<'static, Result<Value, StepError>> = Box::pin(async move {
            let a: i32 = c2.run("a", || async { Ok(10) }).await?;
            let b: i32 = c2.run("b", || async { Ok(20) }).await?;
            Ok(json!(a + b))
        });
        match drive(c, fut).await {
            Driven::Done(Ok(v)) => assert_eq!(v, json!(3)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn parallel_steps_are_discovered_together() {
        let c = ctx(HashMap::new(), Mode::Discover { immediate: true });
        let c2 = c.clone();
        let fut: BoxFuture<'static, Result<Value, StepError>> = Box::pin(async move {
            let (a, b) = futures::join!(
                c2.run("p", || async { Ok::<_, StepError>(1) }),
                c2.run("p", || async { Ok::<_, StepError>(2) })
            );
            Ok(json!([a?, b?]))
        });
        assert!(matches!(drive(c.clone(), fut).await, Driven::Interrupted));
        let ops = c.take_ops();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].hash, hash_step_id("p:1"));
        assert!(ops.iter().all(|o| o.outcome.is_none()), "planned, not run");
    }

    #[tokio::test]
    async fn single_new_step_runs_immediately_in_discovery() {
        let c = ctx(HashMap::new(), Mode::Discover { immediate: true });
        let c2 = c.clone();
        let fut: BoxFuture<'static, Result<Value, StepError>> = Box::pin(async move {
            Ok(json!(
                c2.run("one", || async { Ok::<_, StepError>(5) }).await?
            ))
        });
        assert!(matches!(drive(c.clone(), fut).await, Driven::Interrupted));
        let ops = c.take_ops();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].outcome, Some(Ok(json!(5))));
    }

    #[test]
    fn memo_shapes() {
        assert_eq!(unwrap_memo(&json!({"data": 1})), Ok(json!(1)));
        assert_eq!(
            unwrap_memo(&json!({"error": {"message": "x"}})),
            Err(json!({"message": "x"}))
        );
        let ev = json!({"name": "a", "data": {"x": 1}, "id": "1", "ts": 1});
        assert_eq!(unwrap_memo(&ev), Ok(ev.clone()));
        assert_eq!(unwrap_memo(&Value::Null), Ok(Value::Null));
    }
}
