//! `support-web`: the dashboard, the JSON API (`/api/v1`), Stripe's webhook and Connect
//! onboarding ([`stripe`]) and dead letters ([`dead_letters`]), contributed to the host
//! (`support-host`) as one [`Service`] ([`SERVICE`]).
//!
//! Architecture Invariant: handlers hold no state of their own; everything lives in
//! [`Platform`], built once by `support_host::host::build`.

pub mod actions;
pub mod analytics;
pub mod api;
pub mod approvals;
pub mod auth;
pub mod canned;
pub mod dead_letters;
pub mod kb;
pub mod pages;
pub mod sla;
pub mod stripe;
pub mod trust;
pub mod ui;

use support_host::{Platform, Service};

/// The dashboard, the JSON API, Stripe's webhook and Connect callback.
pub fn mount(p: &Platform) -> axum::Router<Platform> {
    axum::Router::new()
        .merge(api::router())
        .merge(analytics::router())
        .merge(approvals::router())
        .merge(actions::router())
        .merge(dead_letters::router())
        .merge(kb::router())
        .merge(canned::router())
        .merge(stripe::router())
        .merge(trust::router())
        .merge(sla::router())
        .merge(dashboard_router(p))
}

/// The dashboard: its pages ([`pages::router`]) and stylesheet, every response with the
/// security headers ([`ui::headers::security_headers`]).
pub fn dashboard_router(p: &Platform) -> axum::Router<Platform> {
    axum::Router::new()
        .merge(pages::router())
        .merge(auth::oidc::router())
        .route("/ui/style.css", axum::routing::get(ui::headers::stylesheet))
        .route("/pkg/{file}", axum::routing::get(ui::headers::bundle_file))
        .layer(axum::middleware::from_fn_with_state(
            p.clone(),
            ui::headers::security_headers,
        ))
}

/// The web service, for `support-web` and `skill dev`.
pub const SERVICE: Service = Service {
    name: "web",
    routes: &[
        "GET  /                             the dashboard (sign in at /login)",
        "     /api/v1/...                   the JSON API (bearer tokens, roles)",
        "POST /webhooks/stripe              Stripe's webhook (signed)",
        "GET  /stripe/oauth/callback        Stripe Connect onboarding (signed state)",
    ],
    mount,
};
