//! The domain of the support platform.
//!
//! Everything a support conversation goes through lives here: identifiers parsed at the edge,
//! settings, the audit chain, secret encryption, the app registry and the *port* traits
//! ([`store::Store`] and friends) that adapter crates implement.
//!
//! Architecture Invariant: this crate never imports axum, sqlx, Slack or Stripe types. Adapters
//! depend on it, never the other way round.

pub mod analytics;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod autosend;
pub mod cache;
pub mod capability;
pub mod context_cache;
pub mod corpus;
pub mod crypto;
pub mod decision;
pub mod embed;
pub mod events;
pub mod front;
pub mod ids;
pub mod knowledge;
pub mod llm;
pub mod payments;
pub mod pipeline;
pub mod registry;
pub mod retention;
pub mod retrieval;
pub mod settings;
pub mod signing;
pub mod sla;
pub mod status;
pub mod store;
pub mod stripe_connect;
pub mod time;
pub mod trust;

pub use ids::{AppSlug, Email, ParseError};
pub use settings::Settings;
