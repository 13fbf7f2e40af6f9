//! `support-slack`: Slack interactivity and events (`POST /slack/interactions`,
//! `POST /slack/events`). Approval flows arrive with the human-in-the-loop issue; until then
//! these routes answer `501 not_implemented` so the route table stays stable.

pub mod interactions;
pub mod verify;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use support_web::Platform;

/// The Slack app's error type, with a stable machine-readable `code`.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
}

impl IntoResponse for SlackError {
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

async fn interactions() -> SlackError {
    SlackError::NotImplemented("Slack interactivity")
}

async fn events() -> SlackError {
    SlackError::NotImplemented("Slack events")
}

/// Slack's routes, for `skill dev` and `support-slack`.
pub fn mount(_: &Platform) -> Router<Platform> {
    Router::new()
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
}
