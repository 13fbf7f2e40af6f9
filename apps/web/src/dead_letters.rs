//! Dead letters in the JSON API (admin): `GET /api/v1/dead-letters?status=open|all` lists what
//! failed for good (actions, runs, Stripe deliveries), newest first; `POST
//! /api/v1/dead-letters/{id}/replay` replays one through
//! [`support_workflow::dead_letters::replay_dead_letter`], shared with `skill dead-letters replay`.

use crate::api::Caller;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::auth::Role;
use support_core::store::DeadLetter;
use support_core::stripe_connect::WebhookDeps;
use support_host::ApiError;
use support_host::Platform;
use support_workflow::dead_letters::{ReplayDeps, ReplayError, RunReplayer, replay_dead_letter};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/dead-letters", get(list))
        .route("/api/v1/dead-letters/{id}/replay", post(replay))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    /// `open` (the default) or `all`.
    status: Option<String>,
}

/// A letter as the API shows it.
pub fn letter_json(l: &DeadLetter) -> Value {
    json!({"id": l.id, "kind": l.kind, "ref_id": l.ref_id, "error": l.error, "payload": l.payload,
           "created_at": l.created_at, "resolved_at": l.resolved_at,
           "status": if l.resolved_at.is_some() { "resolved" } else { "open" }})
}

async fn list(
    caller: Caller,
    State(p): State<Platform>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let all = match q.status.as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status must be open or all, not {other:?}"
            )));
        }
    };
    let mut letters = p.store.list_dead_letters(all).await?;
    letters.reverse();
    Ok(Json(
        json!({"items": letters.iter().map(letter_json).collect::<Vec<_>>()}),
    ))
}

/// The status and stable code of a replay refusal.
pub fn replay_error(e: ReplayError) -> ApiError {
    let (code, status) = match &e {
        ReplayError::NotFound(what) => return ApiError::NotFound(format!("dead letter {what}")),
        ReplayError::Store(s) => return ApiError::Unavailable(s.to_string()),
        ReplayError::Resolved(_) => ("dead_letter_resolved", StatusCode::CONFLICT),
        ReplayError::NotReplayable(_) => ("dead_letter_not_replayable", StatusCode::CONFLICT),
        ReplayError::Failed(_) => ("replay_failed", StatusCode::BAD_GATEWAY),
    };
    ApiError::Refused {
        code,
        status,
        message: e.to_string(),
    }
}

async fn replay(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let done = replay_letter(&p, &id, &caller.actor)
        .await
        .map_err(replay_error)?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

/// Replay dead letter `id` as `actor` through [`replay_dead_letter`] with this platform's
/// ports: the one replay of the JSON API and the dashboard (the CLI builds the same deps).
pub async fn replay_letter(p: &Platform, id: &str, actor: &str) -> Result<Value, ReplayError> {
    let payments = support_connectors::stripe::from_settings(&p.settings.stripe);
    let alerts = support_connectors::slack::from_settings(&p.settings.slack);
    let runs: Option<&dyn RunReplayer> =
        support_host::runner::is_embedded(&p.settings).then_some(&p.engine as &dyn RunReplayer);
    let deps = ReplayDeps {
        webhook: WebhookDeps {
            store: p.store.as_ref(),
            registry: p.registry.as_ref(),
            events: p.events.as_ref(),
            payments: payments.as_deref(),
        },
        runs,
        alerts: alerts.as_deref().map(|c| c as _),
    };
    replay_dead_letter(&deps, id, actor).await
}
