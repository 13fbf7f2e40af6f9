//! `support-steps`: an Inngest-compatible durable step runner.
//!
//! **Architecture Invariant: this crate knows nothing about support.** It depends on no other
//! workspace crate; `support-store` implements its storage port ([`RunStore`]) and the
//! application defines the functions.
//!
//! - [`Function`] defines a durable function: triggers (event + optional CEL expression),
//!   retries with backoff, concurrency (limit + key expression), idempotency key, `cancel_on`,
//!   debounce, and a Rust handler `async fn(Ctx, Event) -> Result<T, StepError>`.
//! - [`Ctx`] gives the handler its steps (`run`, `sleep`, `sleep_until`, `wait_for_event`,
//!   `send_event`, `invoke`), memoized and hashed exactly as Inngest does (see [`hash`]).
//! - [`Engine`] stores events, fans them out to runs, waits and cancellations, and runs the
//!   worker loop ([`Engine::start`]) with leases, heartbeats, stored timers and graceful
//!   shutdown; failed runs are dead-lettered and can be replayed.
//! - [`event_api::router`] is Inngest's Event API (`POST /e/{event_key}`).
//! - [`sdk::router`] serves Rust functions over Inngest's SDK protocol (`/api/inngest`), so any
//!   Inngest server can run them; [`signing`] has the request signatures.
//! - [`Engine::serve_sdk_apps`] is the server side: SDK apps (any language) sync with
//!   `/fn/register` and the engine calls them with signed requests.

pub mod clock;
pub mod cron;
pub mod ctx;
pub mod engine;
pub mod error;
pub mod event;
pub mod event_api;
pub mod expr;
mod fleet;
pub mod function;
pub mod hash;
pub mod sdk;
pub mod server;
pub mod signing;
pub mod store;
pub mod timestr;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ctx::{Ctx, EventSender};
pub use engine::{Engine, EngineBuilder, Runner, RunnerConfig};
pub use error::{EngineError, ResultExt, RunStoreError, StepError};
pub use event::{Event, FAILED_EVENT, Millis, now_ms};
pub use function::{Backoff, CancelOn, Concurrency, Debounce, Function, Trigger};
pub use store::{RunDetail, RunFilter, RunStatus, RunStore, RunSummary, StepRecord};
