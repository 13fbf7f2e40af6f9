//! More of the plugin's JSON, for the open conversation:
//! - `GET  …/conversations/{id}/customer`: the customer card ([`CustomerCards::card`], cached);
//! - `GET  …/conversations/{id}/purchases/{purchase}/charge`: that purchase's Stripe charge,
//!   asked on demand ([`CustomerCards::charge`], cached);
//! - `POST …/conversations/{id}/rerun` and `…/handover`: run the agent again and hand over to
//!   a human, through the same functions as the dashboard
//!   ([`support_workflow::conversation_actions`]); they need a linked agent, and are audited
//!   with the user and the Front teammate id (refusals too).

use super::api::{front_id, teammate};
use super::auth::PluginCaller;
use super::customer::{CardError, CustomerCards};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_host::{ApiError, Platform};
use support_workflow::conversation_actions::{
    self, Assignee, ConversationActionError, HandOver, Requester,
};

pub fn router() -> Router<Platform> {
    Router::new()
        .route(
            "/plugin/front/api/conversations/{id}/customer",
            get(customer),
        )
        .route(
            "/plugin/front/api/conversations/{id}/purchases/{purchase}/charge",
            get(charge),
        )
        .route("/plugin/front/api/conversations/{id}/rerun", post(rerun))
        .route(
            "/plugin/front/api/conversations/{id}/handover",
            post(handover),
        )
}

fn card_error(e: CardError) -> ApiError {
    let message = e.to_string();
    let (code, status) = match e {
        CardError::Store(s) => return ApiError::from(s),
        CardError::UnknownPurchase(_) => ("purchase_not_found", StatusCode::NOT_FOUND),
        CardError::NoPayments => ("stripe_not_configured", StatusCode::SERVICE_UNAVAILABLE),
        CardError::Product(_) => ("customer_unavailable", StatusCode::BAD_GATEWAY),
        CardError::Stripe(_) => ("stripe_unavailable", StatusCode::BAD_GATEWAY),
    };
    if status == StatusCode::BAD_GATEWAY {
        tracing::warn!(code, cause = %message, "Front plugin: customer card failed");
    }
    ApiError::Refused {
        code,
        status,
        message,
    }
}

async fn customer(
    _caller: PluginCaller,
    State(p): State<Platform>,
    Extension(cards): Extension<CustomerCards>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    let card = cards
        .card(p.store.as_ref(), &p.registry, &id)
        .await
        .map_err(card_error)?;
    Ok(Json(match card {
        Some(c) => json!({"found": true, "card": c}),
        None => json!({"found": false, "id": id}),
    }))
}

async fn charge(
    _caller: PluginCaller,
    State(p): State<Platform>,
    Extension(cards): Extension<CustomerCards>,
    Path((id, purchase)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    if purchase.is_empty() || purchase.len() > 128 {
        return Err(ApiError::BadRequest("not a purchase id".into()));
    }
    let c = cards
        .charge(p.store.as_ref(), &p.registry, &id, &purchase)
        .await
        .map_err(card_error)?;
    Ok(Json(json!({"charge": c})))
}

fn action_error(e: ConversationActionError) -> ApiError {
    match e {
        ConversationActionError::Invalid(m) => ApiError::BadRequest(m),
        ConversationActionError::Events(m) => ApiError::Refused {
            code: "runner_unavailable",
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("The run could not be queued: {m}"),
        },
        ConversationActionError::Front(f) => ApiError::Refused {
            code: "front_unavailable",
            status: StatusCode::BAD_GATEWAY,
            message: format!("Front did not accept it, so nothing changed there: {f}"),
        },
        ConversationActionError::Store(s) => ApiError::from(s),
    }
}

/// The linked agent acting on conversation `id`, or the refusal (audited).
async fn acting(
    p: &Platform,
    caller: &PluginCaller,
    id: &str,
    what: &str,
    tea: Option<&str>,
) -> Result<
    (
        super::auth::PluginUser,
        support_core::store::ConversationRow,
    ),
    ApiError,
> {
    let user = match caller.require(Role::Agent) {
        Ok(u) => u.clone(),
        Err(e) => {
            let code = match &e {
                ApiError::Refused { code, .. } => *code,
                _ => "forbidden",
            };
            p.store
                .append_audit(
                    &AuditEvent::new(
                        "front_plugin.refused",
                        caller.actor(),
                        json!({"code": code, "action": what, "teammate_id": tea}),
                    )
                    .conversation(id),
                )
                .await?;
            return Err(e);
        }
    };
    let c = p
        .store
        .get_conversation(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id}")))?;
    Ok((user, c))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RerunBody {
    teammate_id: Option<String>,
}

async fn rerun(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Json(body): Json<RerunBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = front_id(&id, "cnv_")?;
    let tea = teammate(body.teammate_id.as_deref());
    let (user, c) = acting(&p, &caller, &id, "rerun", tea.as_deref()).await?;
    let actor = caller.actor();
    let by = Requester {
        actor: &actor,
        source: "front_plugin",
        attribution: json!({"user_id": user.id, "teammate_id": tea}),
    };
    let event_id =
        conversation_actions::request_rerun(p.store.as_ref(), p.events.as_ref(), &c, &by)
            .await
            .map_err(action_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"event_id": event_id, "status": "rerun_requested"})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoverBody {
    teammate_id: Option<String>,
    #[serde(default = "needs_human")]
    tag: String,
    #[serde(default)]
    reason: String,
    /// `unassign` (default), `me` (the teammate the account was linked for) or `keep`.
    #[serde(default)]
    assign: Option<String>,
}

fn needs_human() -> String {
    "needs-human".into()
}

async fn handover(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Json(body): Json<HandoverBody>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    let tea = teammate(body.teammate_id.as_deref());
    let (user, c) = acting(&p, &caller, &id, "handover", tea.as_deref()).await?;
    let assignee = match body.assign.as_deref().unwrap_or("unassign") {
        "unassign" => Assignee::Unassign,
        "keep" => Assignee::Keep,
        // The teammate the account was linked for (checked by the link flow), not the
        // browser's claim.
        "me" => match caller.claims.tea.clone() {
            Some(t) => Assignee::To(t),
            None => return Err(ApiError::BadRequest("no linked teammate to assign".into())),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "assign must be unassign, me or keep, not {other:?}"
            )));
        }
    };
    let h = HandOver {
        tag: body.tag,
        reason: body.reason,
        assignee,
    };
    conversation_actions::validate_hand_over(&h).map_err(action_error)?;
    let front = support_host::functions::front_api(&p.settings)
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::Refused {
            code: "front_not_configured",
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Front is not configured (front.api_token), so nothing can be sent to Front."
                .into(),
        })?;
    let actor = caller.actor();
    let by = Requester {
        actor: &actor,
        source: "front_plugin",
        attribution: json!({"user_id": user.id, "teammate_id": tea}),
    };
    let c =
        conversation_actions::hand_over(p.store.as_ref(), front.as_ref(), c, &h, &user.email, &by)
            .await
            .map_err(action_error)?;
    Ok(Json(
        json!({"tag": c.escalation, "reason": c.escalation_reason,
                   "assignee": c.assignee, "status": "handed_over"}),
    ))
}
