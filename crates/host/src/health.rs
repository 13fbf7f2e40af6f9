//! `/healthz` (the process is up), `/readyz` (database reachable, migrations applied) and
//! `/metrics` (Prometheus text format).

use crate::platform::Platform;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn readyz(State(p): State<Platform>) -> impl IntoResponse {
    let db = match tokio::time::timeout(std::time::Duration::from_secs(2), p.store.ping()).await {
        Ok(r) => r,
        Err(_) => Err(support_core::store::StoreError::Unavailable(
            "ping timed out after 2 s".into(),
        )),
    };
    let migrations = match &db {
        Ok(()) => p.store.migration_status().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match (&db, &migrations) {
        (Ok(()), Ok(st)) if st.up_to_date() => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": p.store.backend(), "migrations": st})),
        ),
        _ => {
            let cause = match (&db, &migrations) {
                (Err(e), _) => format!("database unreachable: {e}"),
                (_, Err(e)) => format!("cannot read migrations: {e}"),
                (_, Ok(st)) => format!("migrations pending: {}", st.pending.join(", ")),
            };
            tracing::warn!(%cause, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "database": p.store.backend(),
                            "error": {"code": "not_ready", "message": "database unreachable or migrations pending"}})),
            )
        }
    }
}

async fn metrics(State(p): State<Platform>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
}
