//! The durable workflows of the support platform, on the runner (`support-steps`): the inbound
//! workflow (a Front message becomes a draft), action retries, dead letters, retention, and the
//! replay of a recorded inbound run.
//!
//! Architecture Invariant: `support-core` never depends on the runner; everything that runs as a
//! durable function lives here, on top of core's pure pipeline and ports.

pub mod agent;
pub mod analytics;
pub mod approval;
pub mod autosend;
pub mod context;
pub mod conversation_actions;
pub mod dead_letters;
pub mod draft;
pub mod hydrate;
pub mod inbound;
pub mod models;
pub mod outcome;
pub mod replay;
pub mod retention;
pub mod retry;
pub mod route;
pub mod sla;
pub mod step;
pub mod tools;

pub use draft::draft_marker;
pub use inbound::*;
pub use tools::{PlatformTools, QuoteError};
