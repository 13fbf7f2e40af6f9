//! The plugin's JSON (`/plugin/front/api/…`), every route behind a session token
//! ([`PluginCaller`]). Reading and inserting drafts needs only the token; deciding an approval
//! needs the linked platform user (agent or admin), and goes through the same decision function
//! as Slack and the dashboard ([`Platform::decide`]). Every action is audited with the user
//! (when linked) and the teammate id (attribution only).

use super::auth::{self, PluginCaller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::{Principal, Role};
use support_core::decision::{Decision, DecisionError, Outcome, Verdict};
use support_core::pipeline::inbound::Direction;
use support_core::store::{
    ActionRow, ApprovalRow, ApprovalStatus, AuditRecord, ConversationDetail, DraftRating, Rating,
};
use support_core::time::now_ms;
use support_core::trust::{Signal, SignalKind};
use support_host::{ApiError, Platform};

/// How many trail entries a conversation shows.
pub const TRAIL_LIMIT: usize = 40;
/// How many conversations a multi-selection summarises.
pub const MULTI_LIMIT: usize = 20;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/plugin/front/api/session", post(session))
        .route("/plugin/front/api/link/redeem", post(redeem))
        .route("/plugin/front/api/inbox", get(inbox))
        .route("/plugin/front/api/conversations", get(many))
        .route("/plugin/front/api/conversations/{id}", get(conversation))
        .route("/plugin/front/api/conversations/{id}/rate", post(rate))
        .route(
            "/plugin/front/api/conversations/{id}/inserted",
            post(inserted),
        )
        .route("/plugin/front/api/approvals/{id}/{verdict}", post(decide))
}

/// A Front id (`cnv_…`, `tea_…`): short, ASCII letters, digits, `_` and `-`.
pub(super) fn front_id(id: &str, prefix: &str) -> Result<String, ApiError> {
    let ok = id.starts_with(prefix)
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(id.to_string())
    } else {
        Err(ApiError::BadRequest(format!("not a {prefix}… id")))
    }
}

/// The teammate id a body names (attribution only), when well-formed.
pub(super) fn teammate(t: Option<&str>) -> Option<String> {
    t.and_then(|t| front_id(t, "tea_").ok())
}

fn me(c: &PluginCaller) -> Value {
    match &c.user {
        Some(u) => json!({"linked": true, "email": u.email, "role": u.role.as_str(),
                          "can_decide": u.role.allows(Role::Agent), "teammate_id": c.claims.tea}),
        None => json!({"linked": false, "can_decide": false}),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    credential: Option<String>,
}

/// A fresh token: with the user only when the body carries a valid credential whose user is
/// active. A bad credential is not an error (the plugin keeps working unlinked): `linked: false`
/// and `credential_rejected: true`, so the page forgets it.
async fn session(
    caller: PluginCaller,
    State(p): State<Platform>,
    Json(body): Json<SessionBody>,
) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let mut rejected = false;
    let mut user = None;
    if let Some(cred) = body.credential.as_deref() {
        match auth::open_credential(&p.master_key, cred, now) {
            Some(c) => match p.store.get_user(&c.uid).await? {
                Some(u) if u.is_active() => user = Some((u, c.tea)),
                _ => rejected = true,
            },
            None => rejected = true,
        }
    }
    let token = auth::session_token(
        &p.master_key,
        user.as_ref().map(|(u, tea)| (u.id.as_str(), tea.as_str())),
        now,
    );
    let me = match &user {
        Some((u, tea)) => json!({"linked": true, "email": u.email, "role": u.role.as_str(),
                                 "can_decide": u.role.allows(Role::Agent), "teammate_id": tea}),
        None => json!({"linked": false, "can_decide": false}),
    };
    let _ = caller;
    Ok(Json(
        json!({"token": token, "expires_in_ms": auth::SESSION_MS, "me": me,
                   "credential_rejected": rejected}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    state: String,
}

/// The one-time ticket of a finished link, for the plugin that holds its `state`: the
/// long-lived credential, once. `404 link_pending` until the user confirmed the link.
async fn redeem(
    caller: PluginCaller,
    State(p): State<Platform>,
    Json(body): Json<RedeemBody>,
) -> Result<Json<Value>, ApiError> {
    if body.state.len() < 32 || body.state.len() > 128 {
        return Err(ApiError::BadRequest(
            "state must be 32-128 characters".into(),
        ));
    }
    let now = now_ms();
    let hash = support_core::crypto::sha256_hex(body.state.as_bytes());
    let Some(ticket) = p.store.redeem_link_ticket(&hash, now).await? else {
        return Err(ApiError::Refused {
            code: "link_pending",
            status: StatusCode::NOT_FOUND,
            message: "no finished link for this state (yet)".into(),
        });
    };
    let cred = auth::credential(&p.master_key, &ticket.user_id, &ticket.teammate_id, now);
    p.store
        .append_audit(&AuditEvent::new(
            "front_plugin.credential_issued",
            format!("user_id:{}", ticket.user_id),
            json!({"user_id": ticket.user_id, "teammate_id": ticket.teammate_id,
                   "token": caller.claims.jti}),
        ))
        .await?;
    Ok(Json(
        json!({"credential": cred, "teammate_id": ticket.teammate_id}),
    ))
}

/// An approval with its action, as the sidebar shows it.
fn approval_json(a: &ApprovalRow, action: Option<&ActionRow>) -> Value {
    let amount = a
        .amount_cents
        .map(|c| support_core::payments::format_amount(c, a.currency.as_deref().unwrap_or("usd")));
    json!({
        "id": a.id, "status": a.status, "amount": amount, "amount_cents": a.amount_cents,
        "currency": a.currency, "expires_at": a.expires_at, "approvers_required": a.approvers_required,
        "decided_by": a.decided_by, "reason": a.reason,
        "conversation_id": action.and_then(|x| x.conversation_id.clone()),
        "action": action.map(|x| json!({"id": x.id, "kind": x.kind, "params": x.params,
            "reasoning": x.reasoning, "status": x.status, "charge_id": x.params["chargeId"]})),
    })
}

fn trail_item(r: &AuditRecord) -> Value {
    json!({"at": r.at, "kind": r.kind, "actor": r.actor, "data": r.data})
}

/// What the sidebar shows for one conversation.
pub fn conversation_view(id: &str, d: &ConversationDetail) -> Value {
    let Some(conv) = &d.conversation else {
        return json!({"id": id, "found": false});
    };
    let newest = |kind: &str| d.audit.iter().rev().find(|r| r.kind == kind);
    let route = newest("route.decided").map(|r| {
        json!({"action": r.data["action"], "category": r.data["category"],
               "confidence": r.data["confidence"], "rule": r.data["rule"],
               "reasons": r.data["reasons"], "flags": r.data["flags"]})
    });
    let withheld = newest("validate.completed").is_some_and(|r| r.data["passed"] == json!(false));
    let draft = d.drafts.last().map(|dr| {
        let status = match &dr.sent_text {
            Some(sent) if sent.trim() != dr.text.trim() => "edited",
            Some(_) => "sent",
            None => "written",
        };
        json!({"text": dr.text, "status": status, "run_id": dr.run_id,
               "knowledge_sources": dr.knowledge_sources, "created_at": dr.created_at,
               "sent_text": dr.sent_text})
    });
    let draft = match (draft, withheld) {
        (Some(d), _) => d,
        (None, true) => {
            json!({"text": null, "status": "withheld", "reason": "the draft failed validation twice"})
        }
        (None, false) => Value::Null,
    };
    let action_of = |id: &str| d.actions.iter().find(|a| a.id == id);
    let pending: Vec<Value> = d
        .approvals
        .iter()
        .filter(|a| a.status == ApprovalStatus::Pending)
        .map(|a| approval_json(a, action_of(&a.action_id)))
        .collect();
    let executed: Vec<Value> = d
        .actions
        .iter()
        .filter(|a| matches!(a.status.as_str(), "executed" | "failed" | "rejected" | "expired"))
        .map(|a| json!({"id": a.id, "kind": a.kind, "status": a.status, "result": a.result, "error": a.error}))
        .collect();
    let reply_to = d
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .max_by_key(|m| m.sent_at)
        .map(|m| m.front_id.clone());
    let trail: Vec<Value> = d
        .audit
        .iter()
        .rev()
        .take(TRAIL_LIMIT)
        .map(trail_item)
        .collect();
    let runs: Vec<Value> = d
        .runs
        .iter()
        .map(|r| {
            json!({"id": r.id, "function_id": r.function_id, "status": r.status,
                        "created_at": r.created_at, "ended_at": r.ended_at})
        })
        .collect();
    json!({
        "id": id, "found": true, "subject": conv.subject, "status": conv.status,
        "app": conv.app, "customer_email": conv.customer_email, "escalation": conv.escalation,
        "escalation_reason": conv.escalation_reason,
        "suggestion": {"draft": draft, "route": route},
        "reply_to_message_id": reply_to,
        "approvals": pending, "executed": executed, "trail": trail, "runs": runs,
    })
}

async fn conversation(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    let d = p.store.conversation_detail(&id).await?;
    let mut v = conversation_view(&id, &d);
    v["me"] = me(&caller);
    v["ratings"] = json!(
        p.store
            .list_draft_ratings(&id)
            .await?
            .into_iter()
            .take(5)
            .map(|r| json!({"rating": r.rating, "note": r.note, "teammate_id": r.teammate_id, "created_at": r.created_at}))
            .collect::<Vec<_>>()
    );
    Ok(Json(v))
}

#[derive(Deserialize)]
struct ManyQuery {
    ids: String,
}

/// A short state of each selected conversation (`?ids=cnv_a,cnv_b`).
async fn many(
    _caller: PluginCaller,
    State(p): State<Platform>,
    Query(q): Query<ManyQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for id in q.ids.split(',').filter(|s| !s.is_empty()).take(MULTI_LIMIT) {
        let id = front_id(id, "cnv_")?;
        let d = p.store.conversation_detail(&id).await?;
        let v = conversation_view(&id, &d);
        items.push(
            json!({"id": id, "found": v["found"], "subject": v["subject"],
            "route_action": v["suggestion"]["route"]["action"],
            "draft_status": v["suggestion"]["draft"]["status"],
            "pending_approvals": v["approvals"].as_array().map_or(0, Vec::len)}),
        );
    }
    Ok(Json(json!({"items": items})))
}

/// The inbox's pending approvals (no conversation selected).
async fn inbox(caller: PluginCaller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for a in p
        .store
        .list_approvals(Some(ApprovalStatus::Pending))
        .await?
        .into_iter()
        .take(50)
    {
        let action = p.store.get_action(&a.action_id).await?;
        items.push(approval_json(&a, action.as_ref()));
    }
    Ok(Json(json!({"approvals": items, "me": me(&caller)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBody {
    rating: String,
    note: Option<String>,
    teammate_id: Option<String>,
    run_id: Option<String>,
}

/// Rate our draft good or bad: a `DraftRating` row and a trust signal, audited.
async fn rate(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Json(body): Json<RateBody>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    let rating = Rating::parse(&body.rating)
        .map_err(|_| ApiError::BadRequest("rating must be good or bad".into()))?;
    let note = body
        .note
        .map(|n| n.trim().chars().take(1000).collect::<String>())
        .filter(|n| !n.is_empty());
    let run_id = body.run_id.filter(|r| r.len() <= 64);
    let r = DraftRating {
        id: support_core::crypto::random_token("rat_", 12),
        conversation_id: id.clone(),
        run_id,
        rating,
        note,
        teammate_id: teammate(body.teammate_id.as_deref()),
        user_id: caller.user.as_ref().map(|u| u.id.clone()),
        created_at: now_ms(),
    };
    p.store.insert_draft_rating(&r).await?;
    let signal = rating_signal(&p, &r).await?;
    p.store
        .append_audit(
            &AuditEvent::new(
                "front_plugin.draft_rated",
                caller.actor(),
                json!({"rating": r.rating, "note": r.note, "run_id": r.run_id,
                       "teammate_id": r.teammate_id, "user_id": r.user_id,
                       "signal_id": signal}),
            )
            .conversation(id),
        )
        .await?;
    Ok(Json(json!({"id": r.id, "rating": r.rating})))
}

/// The rating as a trust signal (`rating_good` 1 / `rating_bad` 0) for the conversation's app
/// and the category its route decided, idempotent by the rating's id (audited, the trust cache
/// refreshed; a bad one after an automatic answer demotes the category). `None` (nothing
/// recorded) when the conversation has no app or no route decision yet.
async fn rating_signal(p: &Platform, r: &DraftRating) -> Result<Option<String>, ApiError> {
    let d = p.store.conversation_detail(&r.conversation_id).await?;
    let app = d.conversation.as_ref().and_then(|c| c.app.clone());
    let category = d
        .audit
        .iter()
        .rev()
        .find(|a| a.kind == "route.decided")
        .and_then(|a| a.data["category"].as_str().map(str::to_string));
    let (Some(app), Some(category)) = (app, category) else {
        return Ok(None);
    };
    let kind = if r.rating == Rating::Good {
        SignalKind::RatingGood
    } else {
        SignalKind::RatingBad
    };
    let mut s = Signal::new(
        format!("sig_{}", r.id),
        kind,
        app,
        category,
        &r.conversation_id,
        r.created_at,
        "plugin",
    );
    s.run_id = r.run_id.clone();
    s.actor = r.user_id.clone().or_else(|| r.teammate_id.clone());
    s.note = r.note.clone();
    s.detail = json!({"rating_id": r.id, "teammate_id": r.teammate_id, "user_id": r.user_id});
    // The row, its `signal.recorded` entry and the cached trust; a bad rating after an
    // automatic answer demotes the category.
    if support_core::trust::record_signal(p.store.as_ref(), &s, r.created_at).await? {
        support_host::functions::after_rating(&p.services, &s).await?;
    }
    Ok(Some(s.id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InsertedBody {
    teammate_id: Option<String>,
    run_id: Option<String>,
    draft_id: Option<String>,
}

/// The page inserted our draft into Front's composer (audited).
async fn inserted(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Json(body): Json<InsertedBody>,
) -> Result<Json<Value>, ApiError> {
    let id = front_id(&id, "cnv_")?;
    let short = |s: Option<String>| s.filter(|s| s.len() <= 64);
    p.store
        .append_audit(
            &AuditEvent::new(
                "front_plugin.draft_inserted",
                caller.actor(),
                json!({"teammate_id": teammate(body.teammate_id.as_deref()),
                       "run_id": short(body.run_id), "front_draft_id": short(body.draft_id),
                       "user_id": caller.user.as_ref().map(|u| u.id.clone())}),
            )
            .conversation(id),
        )
        .await?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    reason: Option<String>,
    teammate_id: Option<String>,
    params: Option<Value>,
    draft: Option<String>,
    amount_cents: Option<i64>,
}

fn decision_error(e: DecisionError) -> ApiError {
    let status = match &e {
        DecisionError::NotFound(_) => StatusCode::NOT_FOUND,
        DecisionError::AlreadyDecided(_) | DecisionError::SameApprover(_) => StatusCode::CONFLICT,
        DecisionError::Expired => StatusCode::GONE,
        DecisionError::InvalidEdit(_) | DecisionError::ReasonRequired => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DecisionError::Store(s) => return ApiError::Unavailable(s.to_string()),
        DecisionError::Capability(m) => return ApiError::Internal(m.clone()),
        DecisionError::Delivery(m) => {
            return ApiError::Refused {
                code: "decision_not_delivered",
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("the decision was recorded but the workflow was not told: {m}"),
            };
        }
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::Refused {
        code: e.code(),
        status,
        message: e.to_string(),
    }
}

/// Approve, reject (with a reason) or edit, as the linked user: the shared decision function.
/// Without a linked user: `403 plugin_not_linked`, audited.
async fn decide(
    caller: PluginCaller,
    State(p): State<Platform>,
    Path((id, verdict)): Path<(String, String)>,
    Json(body): Json<DecideBody>,
) -> Result<Json<Value>, ApiError> {
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        "edit" => Verdict::Edit,
        _ => return Err(ApiError::NotFound("plugin decision route".into())),
    };
    let tea = teammate(body.teammate_id.as_deref());
    let user = match caller.require(Role::Agent) {
        Ok(u) => u.clone(),
        Err(e) => {
            p.store
                .append_audit(&AuditEvent::new(
                    "approval.refused",
                    caller.actor(),
                    json!({"code": match &e { ApiError::Refused { code, .. } => *code, _ => "forbidden" },
                           "id": id.chars().take(64).collect::<String>(), "verdict": verdict,
                           "channel": "front", "teammate_id": tea}),
                ))
                .await?;
            return Err(e);
        }
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if verdict == Verdict::Reject && reason.is_none() {
        return Err(ApiError::Refused {
            code: "reason_required",
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "say why you reject it".into(),
        });
    }
    let d = Decision {
        id,
        verdict,
        approver: format!("user:{}", user.email),
        principal: Principal::Session {
            user_id: user.id.clone(),
        },
        claimed_actor: tea.map(|t| format!("front:{t}")),
        reason,
        channel: support_core::store::DecisionChannel::Front,
        params: body.params,
        draft: body.draft,
        amount_cents: body.amount_cents,
    };
    let outcome = p.decide(&d).await.map_err(decision_error)?;
    Ok(Json(match outcome {
        Outcome::Decided {
            approval, decision, ..
        } => {
            json!({"approval_id": approval.id, "decision": decision, "status": approval.status})
        }
        Outcome::AwaitingAnother {
            approval, required, ..
        } => {
            json!({"approval_id": approval.id, "decision": "pending", "status": approval.status, "required": required})
        }
    }))
}
