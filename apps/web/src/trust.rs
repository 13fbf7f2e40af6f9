//! Trust in the JSON API (viewer and up): `GET /api/v1/trust[?app=slug]` recomputes each app ×
//! category's trust from its signal rows now (`support_core::trust::current`) and lists them.

use crate::api::Caller;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::auth::Role;
use support_core::time::now_ms;
use support_core::trust::{HALF_LIFE_DAYS, current, row_json};
use support_host::ApiError;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new().route("/api/v1/trust", get(list))
}

#[derive(Debug, Deserialize)]
struct TrustQuery {
    app: Option<String>,
}

async fn list(
    caller: Caller,
    State(p): State<Platform>,
    Query(q): Query<TrustQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    if let Some(app) = &q.app
        && support_core::AppSlug::parse(app).is_err()
    {
        return Err(ApiError::BadRequest(format!(
            "app {app:?} is not a valid slug"
        )));
    }
    let rows = current(p.store.as_ref(), q.app.as_deref(), now_ms(), HALF_LIFE_DAYS).await?;
    Ok(Json(
        json!({"items": rows.iter().map(row_json).collect::<Vec<_>>()}),
    ))
}
