//! Approvals in the JSON API: `GET /api/v1/approvals?status=pending` (viewer and up) and
//! `POST /api/v1/approvals/{id}/approve|reject|edit` (agent and up). The decision itself is
//! [`support_core::decision::decide`], shared with Slack and the CLI; this module maps its
//! refusals to JSON errors with stable codes. The approver is the caller's token, never a
//! body-supplied `actor` (which is recorded next to it).

use crate::api::Caller;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::decision::{Decision, DecisionError, Outcome, Verdict};
use support_core::store::{ApprovalRow, ApprovalStatus, Store};
use support_host::ApiError;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/approvals", get(list))
        .route("/api/v1/approvals/{id}", get(show))
        .route("/api/v1/approvals/{id}/{verdict}", post(decide_route))
}

/// A decision refusal as an API error (status by kind, the decision's own code).
pub fn decision_error(e: DecisionError) -> ApiError {
    let status = match &e {
        DecisionError::NotFound(_) => StatusCode::NOT_FOUND,
        DecisionError::AlreadyDecided(_) | DecisionError::SameApprover(_) => StatusCode::CONFLICT,
        DecisionError::Expired => StatusCode::GONE,
        DecisionError::NotAnApprover(_)
        | DecisionError::NotLinked(_)
        | DecisionError::Inactive(_)
        | DecisionError::RoleTooLow(..) => StatusCode::FORBIDDEN,
        DecisionError::InvalidEdit(_) | DecisionError::ReasonRequired => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DecisionError::Store(s) => {
            return ApiError::Unavailable(s.to_string());
        }
        DecisionError::Delivery(m) => {
            return ApiError::Refused {
                code: "decision_not_delivered",
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("the decision was recorded but the workflow was not told: {m}"),
            };
        }
        DecisionError::Capability(m) => return ApiError::Internal(m.clone()),
    };
    ApiError::Refused {
        code: e.code(),
        status,
        message: e.to_string(),
    }
}

/// Decide through the shared decision function ([`Platform::decide`]).
pub async fn decide(p: &Platform, d: &Decision) -> Result<Outcome, DecisionError> {
    p.decide(d).await
}

/// An outcome as JSON.
pub fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Decided {
            approval,
            action,
            decision,
            approvers,
            event_id,
        } => json!({"approval_id": approval.id, "action_id": action.id, "decision": decision,
                    "status": approval.status, "approvers": approvers, "event_id": event_id}),
        Outcome::AwaitingAnother {
            approval,
            action,
            approvers,
            required,
        } => json!({"approval_id": approval.id, "action_id": action.id, "decision": "pending",
                    "status": approval.status, "approvers": approvers, "required": required}),
    }
}

/// One approval with its action, for lists.
pub async fn approval_json(store: &dyn Store, a: &ApprovalRow) -> Result<Value, ApiError> {
    let action = store.get_action(&a.action_id).await?;
    let votes: Vec<String> = store
        .list_approval_votes(&a.id)
        .await?
        .into_iter()
        .map(|v| v.approver)
        .collect();
    let app_name = match action.as_ref().and_then(|x| x.app.clone()) {
        Some(slug) => store.get_app(&slug).await?.map(|a| a.name),
        None => None,
    };
    // The money at stake is the Stripe charge's (amount left on it, its currency), with the
    // charge id; without a charge id (Stripe not configured) it is the product's figure.
    let charge_id = action
        .as_ref()
        .and_then(|x| x.params["chargeId"].as_str().map(str::to_string));
    let amount = a
        .amount_cents
        .map(|c| support_core::payments::format_amount(c, a.currency.as_deref().unwrap_or("usd")));
    let amount_source = a.amount_cents.map(|_| {
        if charge_id.is_some() {
            "stripe_charge"
        } else {
            "product"
        }
    });
    Ok(json!({
        "id": a.id, "action_id": a.action_id, "status": a.status, "channel": a.channel,
        "amount": amount, "charge_id": charge_id, "amount_source": amount_source,
        "slack_channel": a.slack_channel, "slack_ts": a.slack_ts,
        "decided_by": a.decided_by, "reason": a.reason, "expires_at": a.expires_at,
        "created_at": a.created_at, "decided_at": a.decided_at,
        "approvers_required": a.approvers_required, "approvals": votes,
        "amount_cents": a.amount_cents, "currency": a.currency,
        "app": action.as_ref().and_then(|x| x.app.clone()), "app_name": app_name,
        "conversation_id": action.as_ref().and_then(|x| x.conversation_id.clone()),
        "action": action.map(|x| json!({"id": x.id, "kind": x.kind, "params": x.params, "reasoning": x.reasoning,
                                         "status": x.status, "risk": x.risk, "category": x.category,
                                         "result": x.result, "error": x.error})),
    }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(
    caller: Caller,
    State(p): State<Platform>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let status = q
        .status
        .filter(|s| s != "all")
        .map(|s| ApprovalStatus::parse(&s))
        .transpose()
        .map_err(|_| {
            ApiError::BadRequest(
                "status must be pending, approved, rejected, expired or all".into(),
            )
        })?;
    let mut items = Vec::new();
    for a in p.store.list_approvals(status).await? {
        items.push(approval_json(p.store.as_ref(), &a).await?);
    }
    Ok(Json(json!({"items": items})))
}

async fn show(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let a = match p.store.get_approval(&id).await? {
        Some(a) => Some(a),
        None => p.store.approval_for_action(&id).await?,
    }
    .ok_or_else(|| ApiError::NotFound(format!("approval {id}")))?;
    Ok(Json(approval_json(p.store.as_ref(), &a).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    reason: Option<String>,
    /// Who the caller says it is: recorded, never used to authorize.
    actor: Option<String>,
    params: Option<Value>,
    draft: Option<String>,
    amount_cents: Option<i64>,
}

async fn decide_route(
    caller: Caller,
    State(p): State<Platform>,
    Path((id, verdict)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        "edit" => Verdict::Edit,
        _ => {
            return Err(ApiError::NotFound(format!(
                "route /api/v1/approvals/{{id}}/{verdict:.32}"
            )));
        }
    };
    if let Err(e) = caller.require(Role::Agent) {
        p.store
            .append_audit(&AuditEvent::new(
                "approval.refused",
                caller.actor.clone(),
                json!({"code": "forbidden", "id": id.chars().take(64).collect::<String>(),
                       "verdict": verdict, "role": caller.role, "channel": "dashboard"}),
            ))
            .await?;
        return Err(e);
    }
    let body: DecisionBody = if body.iter().all(u8::is_ascii_whitespace) {
        DecisionBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let d = Decision {
        id,
        verdict,
        approver: caller.actor.clone(),
        // Counted as the token's user.
        principal: caller.principal(),
        claimed_actor: body.actor,
        reason: body
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        channel: support_core::store::DecisionChannel::Dashboard,
        params: body.params,
        draft: body.draft,
        amount_cents: body.amount_cents,
    };
    let outcome = decide(&p, &d).await.map_err(decision_error)?;
    Ok(Json(outcome_json(&outcome)))
}
