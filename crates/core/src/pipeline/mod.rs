//! The deterministic offline brain of the support spine: pure domain logic, no I/O except
//! through the [`tools::ToolExecutor`] port.
//!
//! The durable workflow runs these steps:
//!
//! 1. **hydrate**: [`agent::hydrate`] looks the customer up into [`inbound::CustomerFacts`].
//! 2. **route**: [`router::route`] applies system rules, thread state, canned responses and
//!    the [`classify`] cues under the labelling policy; every decision carries its `rule` and
//!    `reasons`.
//! 3. **agent**: [`agent::run`] plans tools, puts writes through the [`gate`], and drafts a
//!    reply ([`reply`]) from tool results and knowledge ([`kb`]).
//! 4. **validate**: [`validate::validate`] scores the draft.
//! 5. **gate / draft**: proposals wait for approval; the draft goes to the inbox.
//!
//! [`eval`] measures all of it over labelled scenarios; [`replay`] re-runs a recorded run on its
//! recorded inputs (tool calls answered from the recording) and diffs the decisions.
//!
//! When a model is configured, [`model_classify`] gives the classifier's category and
//! [`model_agent`] replaces the offline agent with a tool-calling loop over the
//! [`crate::llm::Llm`] port; both return the same types, so the gate, validation (plus the
//! [`promises`] scorer), drafting and audit treat them alike.

pub mod agent;
pub mod classify;
pub mod eval;
pub mod extract;
pub mod fixtures;
pub mod gate;
pub mod inbound;
pub mod kb;
pub mod model_agent;
pub mod model_classify;
pub mod profile;
pub mod promises;
pub mod reply;
pub mod router;
pub mod template;
pub mod text;
pub mod tools;
pub mod validate;

pub use agent::{AgentInput, AgentOutcome, ProposedAction, StepStatus, ToolStep, hydrate};
pub use classify::{Analysis, Category, Flags, Intent};
pub use gate::{GateContext, GateDecision, GateOutcome};
pub use inbound::{CustomerFacts, Direction, Inbound, PurchaseFact, ThreadMessage};
pub use kb::KbHit;
pub use profile::AppProfile;
pub use router::{CannedMatch, RouteAction, RouteDecision, RouteInput, route};
pub use tools::{RiskClass, ToolCall, ToolError, ToolExecutor, ToolName, ToolSpec, tool_specs};
pub use validate::{ScorerResult, ValidationContext, validate};
