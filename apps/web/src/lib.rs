//! `support-web`: the dashboard, the JSON API (`/api/v1`), health and metrics, Stripe's webhook
//! and Connect onboarding ([`stripe`]), dead letters ([`dead_letters`]), and the hosting shell ([`host`]) that every binary and
//! the test harness use to run the platform.
//!
//! Architecture Invariant: handlers hold no state of their own; everything lives in
//! [`host::Platform`], built once by [`host::build`].

pub mod actions;
pub mod api;
pub mod approvals;
pub mod dashboard;
pub mod dead_letters;
pub mod demo;
pub mod error;
pub mod health;
pub mod host;
pub mod limits;
pub mod runner;
pub mod server;
pub mod stripe;
pub mod telemetry;

pub use host::{BuildOptions, Mount, Platform, launch};
