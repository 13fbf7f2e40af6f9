//! The dashboard's pages (one module each), all behind a session ([`crate::auth::Viewer`]).
//! Every route of the dashboard is listed in [`router`], so `/` and each page are wired in
//! one place.

pub mod analytics;
pub mod approvals;
pub mod apps;
pub mod audit;
pub mod canned;
pub mod conversations;
pub mod dead_letters;
pub mod knowledge;
pub mod login;
pub mod overview;
pub mod sla;
pub mod trust;
pub mod users;

use axum::Router;
use axum::routing::get;
use support_host::Platform;

/// Every dashboard page. (The security headers and the stylesheet are added by
/// [`crate::dashboard_router`].)
pub fn router() -> Router<Platform> {
    Router::new()
        .route("/", get(overview::page))
        .merge(conversations::router())
        .merge(login::router())
        .merge(approvals::router())
        .merge(audit::router())
        .merge(dead_letters::router())
        .merge(apps::router())
        .merge(users::router())
        .merge(knowledge::router())
        .merge(canned::router())
        .merge(trust::router())
        .merge(sla::router())
        .merge(analytics::router())
}
