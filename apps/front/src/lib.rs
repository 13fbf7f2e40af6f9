//! `support-front`: Front's application webhook (`POST /webhooks/front`) and the sidebar plugin
//! (`/plugin/front`, its JSON under `/plugin/front/api/`; see [`plugin`]).

pub mod intake;
pub mod plugin;
#[cfg(feature = "demo")]
pub mod sandbox;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use support_host::{ApiError, Platform};

/// The Front app's error type, with a stable machine-readable `code`. Causes are logged,
/// never sent.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("invalid Front signature")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
    #[error("the runner is unavailable; Front will retry")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<support_core::store::StoreError> for FrontError {
    fn from(e: support_core::store::StoreError) -> Self {
        match e {
            support_core::store::StoreError::Unavailable(c) => Self::Unavailable(c),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<FrontError> for ApiError {
    /// The host's JSON error envelope (`{"error":{"code","message"}}`) with Front's stable
    /// codes; causes stay in the log.
    fn from(e: FrontError) -> Self {
        let (status, code) = match &e {
            FrontError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            FrontError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            FrontError::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            FrontError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            // Logged by the envelope, answered `internal error`.
            FrontError::Internal(cause) => return ApiError::Internal(cause.clone()),
        };
        ApiError::Refused {
            code,
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for FrontError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => {
                tracing::error!(code = "unavailable", %cause, "Front request failed")
            }
            Self::Unauthorized(reason) => {
                tracing::debug!(code = "invalid_signature", %reason, "Front request refused")
            }
            _ => {}
        }
        ApiError::from(self).into_response()
    }
}

/// The Front service, for `support-front` and `skill dev`.
pub const SERVICE: support_host::Service = support_host::Service {
    name: "front",
    routes: &[
        "POST /webhooks/front               Front's application webhook (signed)",
        "GET  /plugin/front                 the Front sidebar plugin (auth_secret)",
        "*    /plugin/front/api/...          the plugin's JSON (signed session token)",
        "GET  /plugin/front/link             link a Front teammate to a platform user",
    ],
    mount,
};

/// Front's routes, for `skill dev` and `support-front`.
pub fn mount(p: &Platform) -> Router<Platform> {
    Router::new()
        .route("/webhooks/front", post(intake::webhook))
        .merge(plugin::router(p))
}
