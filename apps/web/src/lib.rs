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
pub mod functions;
pub mod health;
pub mod host;
pub mod limits;
pub mod models;
pub mod runner;
pub mod server;
pub mod stripe;
pub mod telemetry;

pub use host::{BuildOptions, Mount, Platform, Service, launch};

/// The dashboard, the JSON API, Stripe's webhook and Connect callback.
pub fn mount(_: &Platform) -> axum::Router<Platform> {
    axum::Router::new()
        .merge(api::router())
        .merge(approvals::router())
        .merge(actions::router())
        .merge(dead_letters::router())
        .merge(stripe::router())
        .merge(dashboard::router())
}

/// The web service, for `support-web` and `skill dev`.
pub const SERVICE: Service = Service {
    name: "web",
    routes: &[
        "GET  /                             the dashboard (a session or API token)",
        "     /api/v1/...                   the JSON API (bearer tokens, roles)",
        "POST /webhooks/stripe              Stripe's webhook (signed)",
        "GET  /stripe/oauth/callback        Stripe Connect onboarding (signed state)",
    ],
    mount,
};
