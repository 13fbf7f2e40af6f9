//! What the steps of the inbound workflow share: their names (the runner memoizes a step by its
//! name, and `skill replay` reads the recorded `hydrate`, `route` and `agent` back by the same
//! names) and the audit port the route and agent steps write through.

use async_trait::async_trait;
use serde_json::Value;
use std::convert::Infallible;

/// The step that re-fetches the conversation and records the [`crate::Snapshot`].
pub const HYDRATE: &str = "hydrate";
/// The step that routes the message (records a [`crate::replay::RouteRecord`]).
pub const ROUTE: &str = "route";
/// The step that runs the agent and validates its draft (records a [`crate::Drafted`]).
pub const AGENT: &str = "agent";
/// The step that writes the draft to Front (or escalates).
pub const DRAFT: &str = "draft";
/// Prefix of the gate step of each proposal (`gate-0`, `gate-1`, …).
pub const GATE_PREFIX: &str = "gate-";
/// Prefix of the step that posts an approval request (`notify-<action id>`).
pub const NOTIFY_PREFIX: &str = "notify-";
/// Prefix of the wait for an approval decision (`approval-<action id>[-attempt]`).
pub const APPROVAL_PREFIX: &str = "approval-";
/// Prefix of the step that looks for a decision made before the run waits for it
/// (`decided-before-<action id>`).
pub const DECIDED_BEFORE_PREFIX: &str = "decided-before-";
/// Prefix of the step that applies a decision (`decided-<action id>[-attempt]`).
pub const DECIDED_PREFIX: &str = "decided-";

/// Where the route and agent steps record what they did (`llm.call`, `validate.failed`,
/// `route.classifier_fallback`): the audit log of the run in the workflow, nowhere in a replay.
#[async_trait]
pub trait StepAudit: Send + Sync {
    type Error: Send;
    async fn audit(&self, kind: &str, data: Value) -> Result<(), Self::Error>;
}

/// Records nothing (a replay).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

#[async_trait]
impl StepAudit for NoAudit {
    type Error = Infallible;
    async fn audit(&self, _kind: &str, _data: Value) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The value of a step that cannot fail.
pub fn infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(never) => match never {},
    }
}
