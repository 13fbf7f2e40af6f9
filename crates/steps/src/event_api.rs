//! Inngest's Event API: `POST /e/{event_key}` with one event or an array, answering
//! `{"ids": [...], "status": 200}`.

use crate::engine::Engine;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Which event keys are accepted.
#[derive(Debug, Clone, Default)]
pub struct EventApiConfig {
    /// Accepted event keys.
    pub event_keys: Vec<String>,
    /// Dev mode: any non-empty key is accepted.
    pub dev: bool,
}

impl EventApiConfig {
    fn accepts(&self, key: &str) -> bool {
        if key.is_empty() {
            return false;
        }
        self.dev
            || self
                .event_keys
                .iter()
                .any(|k| bool::from(k.as_bytes().ct_eq(key.as_bytes())))
    }
}

struct ApiState {
    engine: Engine,
    config: EventApiConfig,
}

/// The Event API router (`POST /e/{event_key}`); mount it where the event API lives.
pub fn router(engine: Engine, config: EventApiConfig) -> axum::Router {
    axum::Router::new()
        .route("/e/{event_key}", post(ingest))
        .with_state(Arc::new(ApiState { engine, config }))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": message.into(), "status": status.as_u16()})),
    )
        .into_response()
}

async fn ingest(State(st): State<Arc<ApiState>>, Path(key): Path<String>, body: Bytes) -> Response {
    if !st.config.accepts(&key) {
        return error(StatusCode::UNAUTHORIZED, "Event key not found");
    }
    let events = match crate::event::Event::parse_many(&body) {
        Ok(ev) => ev,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    match st.engine.send(events).await {
        Ok(ids) => (StatusCode::OK, Json(json!({"ids": ids, "status": 200}))).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "storing events failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "could not store events")
        }
    }
}
