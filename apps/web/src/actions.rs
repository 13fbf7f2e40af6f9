//! Actions in the JSON API: `POST /api/v1/actions/{id}/retry` (admin) asks the runner to retry
//! a dead-lettered action ([`support_workflow::request_retry`], shared with
//! `skill actions retry`; the work is `support_workflow::action_retry_function`).

use crate::api::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use support_core::auth::Role;
use support_host::ApiError;
use support_host::Platform;
use support_workflow::{RetryRequestError, request_retry};

pub fn router() -> Router<Platform> {
    Router::new().route("/api/v1/actions/{id}/retry", post(retry))
}

async fn retry(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let r = request_retry(p.store.as_ref(), p.events.as_ref(), &id, &caller.actor)
        .await
        .map_err(|e| match e {
            RetryRequestError::NotFound(what) => ApiError::NotFound(format!("action {what}")),
            RetryRequestError::NotRetriable(message) => ApiError::Refused {
                code: "action_not_retriable",
                status: StatusCode::CONFLICT,
                message,
            },
            RetryRequestError::Store(e) => ApiError::from(e),
            RetryRequestError::Events(e) => ApiError::Unavailable(e),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"action_id": r.action_id, "attempt": r.attempt, "event_id": r.event_id,
                    "status": "retry_requested"}),
        ),
    ))
}
