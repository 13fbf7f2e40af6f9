//! `support-front`: Front's application webhook (`POST /webhooks/front`) and the sidebar plugin
//! (`/plugin/front`). The intake arrives with the spine issue; until then these routes answer
//! `501 not_implemented` so the route table stays stable.

pub mod sandbox;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use support_web::Platform;

/// The Front app's error type, with a stable machine-readable `code`.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
}

impl IntoResponse for FrontError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
        };
        (
            status,
            Json(serde_json::json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

async fn webhook() -> FrontError {
    FrontError::NotImplemented("the Front webhook intake")
}

async fn plugin() -> FrontError {
    FrontError::NotImplemented("the Front sidebar plugin")
}

/// Front's routes, for `skill dev` and `support-front`.
pub fn mount(_: &Platform) -> Router<Platform> {
    Router::new()
        .route("/webhooks/front", post(webhook))
        .route("/plugin/front", get(plugin))
}
