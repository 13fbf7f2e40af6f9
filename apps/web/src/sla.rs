//! SLA policies and schedules in the JSON API: everyone with a token reads, admins write (through
//! `support_core::sla::admin`, validated and audited, the same path as `skill sla` and the
//! dashboard). Bodies are limited to [`MAX_BODY`] (`413 payload_too_large`); a body that does
//! not parse is `400 bad_request`, a refused one carries the SLA code (`invalid_sla`, `unknown_schedule`,
//! `unknown_app`, `schedule_in_use`, `not_found`).
//!
//! - `GET /api/v1/sla/policies[?app=]`, `POST /api/v1/sla/policies` (a whole policy, replaced by
//!   app and id), `GET|DELETE /api/v1/sla/policies/{app}/{id}`;
//! - `GET /api/v1/sla/schedules`, `POST /api/v1/sla/schedules`, `GET|DELETE
//!   /api/v1/sla/schedules/{id}`;
//! - `GET /api/v1/sla/at-risk[?app=&within_minutes=60]`: open conversations whose `sla_due_at`
//!   is past or within the window, soonest first;
//! - `GET /api/v1/sla/conversations/{front_id}`: the clock, the alarms that fired;
//! - `POST /api/v1/sla/conversations/{front_id}/priority` (`{"priority": "high"}`, agents and
//!   admins): a person sets the conversation's priority (`support_core::sla::admin::set_priority`:
//!   kept over the route's, audited `sla.priority_set`, the clock re-evaluated by
//!   `support-sla-clock`); `400 invalid_priority`, `404 not_found`, `503 runner_unavailable`.

use crate::api::Caller;
use crate::kb::Params;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::auth::Role;
use support_core::sla::admin::{self, AdminError};
use support_core::sla::{Schedule, SlaPolicy};
use support_core::time::now_ms;
use support_host::{ApiError, Platform};

/// The largest body a write accepts.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/sla/policies", get(list_policies).post(put_policy))
        .route(
            "/api/v1/sla/policies/{app}/{id}",
            get(get_policy).delete(remove_policy),
        )
        .route(
            "/api/v1/sla/schedules",
            get(list_schedules).post(put_schedule),
        )
        .route(
            "/api/v1/sla/schedules/{id}",
            get(get_schedule).delete(remove_schedule),
        )
        .route("/api/v1/sla/at-risk", get(at_risk))
        .route("/api/v1/sla/conversations/{front_id}", get(clock))
        .route(
            "/api/v1/sla/conversations/{front_id}/priority",
            axum::routing::post(set_priority),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// An SLA write's refusal as the API answers it.
pub fn admin_error(e: AdminError) -> ApiError {
    let status = match e.code() {
        "not_found" | "unknown_app" => StatusCode::NOT_FOUND,
        "schedule_in_use" => StatusCode::CONFLICT,
        "runner_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable" => return ApiError::Unavailable(e.to_string()),
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Refused {
        code: e.code(),
        status,
        message: e.to_string(),
    }
}

/// A JSON body: too large is `413 payload_too_large`, anything else that does not parse
/// `400 bad_request`.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::Refused {
                code: "payload_too_large",
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("the body is larger than {MAX_BODY} bytes"),
            }),
            Err(e) => Err(ApiError::BadRequest(format!(
                "the body is not valid: {}",
                e.body_text()
            ))),
        }
    }
}

#[derive(Debug, Deserialize)]
struct AppQuery {
    app: Option<String>,
    within_minutes: Option<i64>,
}

async fn list_policies(
    caller: Caller,
    State(p): State<Platform>,
    Params(q): Params<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let items = p.store.list_sla_policies(q.app.as_deref()).await?;
    Ok(Json(json!({"items": items})))
}

async fn get_policy(
    caller: Caller,
    State(p): State<Platform>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<SlaPolicy>, ApiError> {
    caller.require(Role::Viewer)?;
    p.store
        .get_sla_policy(&app, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("policy {app}/{id}")))
}

async fn put_policy(
    caller: Caller,
    State(p): State<Platform>,
    Body(policy): Body<SlaPolicy>,
) -> Result<Json<SlaPolicy>, ApiError> {
    caller.require(Role::Admin)?;
    admin::put_policy(p.store.as_ref(), policy, &caller.actor, now_ms())
        .await
        .map(Json)
        .map_err(admin_error)
}

async fn remove_policy(
    caller: Caller,
    State(p): State<Platform>,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    admin::remove_policy(p.store.as_ref(), &app, &id, &caller.actor)
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_schedules(
    caller: Caller,
    State(p): State<Platform>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let items = p.store.list_sla_schedules().await?;
    Ok(Json(json!({"items": items})))
}

async fn get_schedule(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    caller.require(Role::Viewer)?;
    p.store
        .get_sla_schedule(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("schedule {id}")))
}

async fn put_schedule(
    caller: Caller,
    State(p): State<Platform>,
    Body(schedule): Body<Schedule>,
) -> Result<Json<Schedule>, ApiError> {
    caller.require(Role::Admin)?;
    admin::put_schedule(p.store.as_ref(), schedule, &caller.actor, now_ms())
        .await
        .map(Json)
        .map_err(admin_error)
}

async fn remove_schedule(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    admin::remove_schedule(p.store.as_ref(), &id, &caller.actor)
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn at_risk(
    caller: Caller,
    State(p): State<Platform>,
    Params(q): Params<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let within = q.within_minutes.unwrap_or(60);
    if !(0..=7 * 24 * 60).contains(&within) {
        return Err(ApiError::BadRequest(
            "within_minutes must be between 0 and 10080".into(),
        ));
    }
    let now = now_ms();
    let rows = p
        .store
        .sla_at_risk(q.app.as_deref(), now + within * 60_000, 200)
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({"conversation_id": c.front_id, "app": c.app, "subject": c.subject,
                   "status": c.status, "sla_due_at": c.sla_due_at,
                   "breached": c.sla_due_at.is_some_and(|d| d <= now)})
        })
        .collect();
    Ok(Json(json!({"items": items, "now": now})))
}

async fn clock(
    caller: Caller,
    State(p): State<Platform>,
    Path(front_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let clock = p
        .store
        .get_sla_clock(&front_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("SLA clock of {front_id}")))?;
    let alarms = p.store.sla_alarms(&front_id).await?;
    Ok(Json(json!({"clock": clock, "alarms": alarms})))
}

#[derive(Debug, Deserialize)]
struct PriorityBody {
    priority: String,
}

async fn set_priority(
    caller: Caller,
    State(p): State<Platform>,
    Path(front_id): Path<String>,
    Body(body): Body<PriorityBody>,
) -> Result<Json<admin::PrioritySet>, ApiError> {
    caller.require(Role::Agent)?;
    admin::set_priority(
        p.store.as_ref(),
        p.events.as_ref(),
        &front_id,
        &body.priority,
        &caller.actor,
        now_ms(),
    )
    .await
    .map(Json)
    .map_err(admin_error)
}
