//! Canned responses in the JSON API (issue 15): viewers read, agents and admins write, with the
//! kb API's role matrix and error envelope.
//!
//! - `GET /api/v1/canned[?app=]` (the app's and every app's responses, stale ones marked),
//!   `POST /api/v1/canned` (`{app?, name, trigger, body, sources: [{article_id, version}]}`);
//! - `GET|PUT|DELETE /api/v1/canned/{id}` (a `PUT` is a new version; `base_version` refuses a
//!   lost update with `409 conflict`), `GET /api/v1/canned/{id}/versions/{version}`.
//!
//! An unknown `{{variable}}` is `400 unknown_template_variable`, a broken `{{` is
//! `400 bad_template`, a source that is no article version is `400 unknown_article_version`.
//! Writes are audited (`canned.written`, `canned.removed`).

use crate::api::Caller;
use crate::kb::{Body, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::corpus::template_variables;
use support_core::store::{CannedInput, CannedOutcome, CannedRow, PutKind, StoreError};
use support_core::time::now_ms;
use support_host::{ApiError, Platform};
use support_knowledge::canned::{self as rules, CannedError, CannedFields};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/canned", get(list).post(create))
        .route("/api/v1/canned/{id}", get(show).put(update).delete(remove))
        .route("/api/v1/canned/{id}/versions/{version}", get(version))
}

/// A refused template or field, with its stable code.
pub fn canned_err(e: CannedError) -> ApiError {
    ApiError::Refused {
        code: e.code(),
        status: StatusCode::BAD_REQUEST,
        message: e.to_string(),
    }
}

/// The store's refusal of a write: a source that is no article version is the writer's mistake.
pub fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) if what.starts_with("article ") => ApiError::Refused {
            code: "unknown_article_version",
            status: StatusCode::BAD_REQUEST,
            message: format!("{what} does not exist"),
        },
        e => e.into(),
    }
}

/// A canned response as the API shows it: the row and its template's variables.
pub fn view(row: &CannedRow) -> Value {
    let mut v = json!(row);
    v["variables"] = json!(template_variables(&row.body).unwrap_or_default());
    v
}

/// Writes `input` (checked) and records `canned.written` (not when nothing changed).
pub async fn write(
    p: &Platform,
    input: CannedInput,
    actor: &str,
    channel: &str,
) -> Result<CannedOutcome, ApiError> {
    let app = input.app.clone();
    let out = p.store.put_canned(&input).await.map_err(store_err)?;
    if out.kind == PutKind::Unchanged {
        return Ok(out);
    }
    let mut event = AuditEvent::new(
        "canned.written",
        actor,
        json!({"canned": out.id, "version": out.version, "kind": out.kind, "channel": channel}),
    );
    if let Some(app) = app {
        event = event.app(app);
    }
    if let Err(e) = p.store.append_audit(&event).await {
        tracing::warn!(cause = %e, "audit entry not recorded");
    }
    Ok(out)
}

async fn list(
    caller: Caller,
    State(p): State<Platform>,
    Params(q): Params<crate::kb::AppQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    if let Some(app) = &q.app {
        crate::kb::slug(app)?;
    }
    let rows = p.store.list_canned_rows(q.app.as_deref()).await?;
    Ok(Json(
        json!({"items": rows.iter().map(view).collect::<Vec<_>>()}),
    ))
}

/// A canned response as a client writes it.
#[derive(Debug, Deserialize)]
struct CannedBody {
    #[serde(flatten)]
    fields: CannedFields,
    /// The version this edit started from (`PUT` only).
    base_version: Option<i64>,
}

async fn create(
    caller: Caller,
    State(p): State<Platform>,
    body: Result<Body<CannedBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Agent)?;
    let Body(b) = body?;
    let input =
        rules::input(None, None, b.fields, &caller.user_id, now_ms()).map_err(canned_err)?;
    let out = write(&p, input, &caller.actor, "api").await?;
    Ok((StatusCode::CREATED, Json(json!(out))))
}

async fn current(p: &Platform, id: &str) -> Result<CannedRow, ApiError> {
    p.store
        .get_canned(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("canned response {id}")))
}

async fn update(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    body: Result<Body<CannedBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Agent)?;
    let Body(b) = body?;
    current(&p, &id).await?;
    let input = rules::input(
        Some(id),
        b.base_version,
        b.fields,
        &caller.user_id,
        now_ms(),
    )
    .map_err(canned_err)?;
    let out = write(&p, input, &caller.actor, "api").await?;
    Ok(Json(json!(out)))
}

async fn show(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let row = current(&p, &id).await?;
    let versions = p.store.canned_versions(&id).await?;
    Ok(Json(json!({"canned": view(&row), "versions": versions})))
}

async fn version(
    caller: Caller,
    State(p): State<Platform>,
    Path((id, v)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let v: i64 = v
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("version {v:?} is not a number")))?;
    let row = p
        .store
        .canned_versions(&id)
        .await?
        .into_iter()
        .find(|x| x.version == v)
        .ok_or_else(|| ApiError::NotFound(format!("canned response {id} version {v}")))?;
    Ok(Json(json!(row)))
}

async fn remove(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Agent)?;
    let row = current(&p, &id).await?;
    if !p.store.remove_canned(&id, now_ms()).await? {
        return Err(ApiError::NotFound(format!("canned response {id}")));
    }
    let mut event = AuditEvent::new(
        "canned.removed",
        caller.actor.clone(),
        json!({"canned": id, "channel": "api"}),
    );
    if let Some(app) = row.app {
        event = event.app(app);
    }
    if let Err(e) = p.store.append_audit(&event).await {
        tracing::warn!(cause = %e, "audit entry not recorded");
    }
    Ok(StatusCode::NO_CONTENT)
}
