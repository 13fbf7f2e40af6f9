//! The JSON API under `/api/v1`, for the dashboard and the CLI. Every route requires
//! `Authorization: Bearer <token>`; the token's role is checked on the server.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::{self, AuditEvent};
use support_core::auth::{self, Principal, Role};
use support_core::ids::new_id;
use support_core::store::{ApiTokenRow, AuditFilter, UserRow};
use support_core::time::now_ms;
use support_host::ApiError;
use support_host::Platform;

/// Who is calling, established from the bearer token: the token's user, with the lower of
/// the token's and the user's roles.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// `token:<name>`, the label audit entries carry.
    pub actor: String,
    /// The user the token belongs to (who approvals count as).
    pub user_id: String,
    pub token_id: String,
}

impl Caller {
    /// The caller as the decision function counts it.
    pub fn principal(&self) -> Principal {
        Principal::Token {
            user_id: self.user_id.clone(),
            token_id: self.token_id.clone(),
        }
    }
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<Platform> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, p: &Platform) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let row = p
            .store
            .find_api_token(&auth::hash_token(token))
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(ApiError::Unauthorized)?;
        // A token acts for its user: a deactivated (or missing) user's tokens are dead.
        let user = p
            .store
            .get_user(&row.user_id)
            .await?
            .filter(|u| u.is_active())
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            role: row.role.min(user.role),
            actor: format!("token:{}", row.name),
            user_id: user.id,
            token_id: row.id,
        })
    }
}

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/apps", get(list_apps))
        .route("/api/v1/audit", get(list_audit))
        .route("/api/v1/audit/verify", get(verify_audit))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/conversations", get(list_conversations))
        .route("/api/v1/conversations/{front_id}", get(get_conversation))
}

#[derive(Debug, Deserialize)]
struct ConversationQuery {
    app: Option<String>,
    limit: Option<i64>,
}

async fn list_conversations(
    caller: Caller,
    State(p): State<Platform>,
    Query(q): Query<ConversationQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let items = p.store.list_conversations(q.app.as_deref(), limit).await?;
    Ok(Json(json!({"items": items})))
}

/// One conversation as the platform saw it: messages, actions (with approvals), drafts, the
/// runs that handled it and its audit trail.
async fn get_conversation(
    caller: Caller,
    State(p): State<Platform>,
    axum::extract::Path(front_id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let conversation = p
        .store
        .get_conversation(&front_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {front_id}")))?;
    let messages = p.store.list_messages(&front_id).await?;
    let actions = p.store.list_actions(&front_id).await?;
    let approvals = p.store.approvals_for_conversation(&front_id).await?;
    let audit = p
        .store
        .list_audit(&AuditFilter {
            conversation_id: Some(front_id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let drafts: Vec<Value> = audit
        .iter()
        .filter(|r| r.kind == "draft.created")
        .map(|r| json!({"draft_id": r.data["draft_id"], "at": r.at, "run_id": r.trace_id}))
        .collect();
    let mut run_ids: Vec<String> = Vec::new();
    for id in audit.iter().filter_map(|r| r.trace_id.clone()) {
        if !run_ids.contains(&id) {
            run_ids.push(id);
        }
    }
    let mut runs = Vec::new();
    for id in run_ids {
        if let Ok(Some(d)) = p.engine.get_run(&id).await {
            runs.push(
                json!({"id": d.run.id, "function": d.run.function_id, "status": d.run.status,
                             "attempt": d.run.attempt, "created_at": d.run.created_at,
                             "steps": d.steps.len(), "output": d.run.output, "error": d.run.error}),
            );
        }
    }
    Ok(Json(json!({
        "conversation": conversation,
        "messages": messages,
        "actions": actions,
        "approvals": approvals,
        "drafts": drafts,
        "runs": runs,
        "audit": audit,
    })))
}

async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({"actor": caller.actor, "role": caller.role, "user_id": caller.user_id}))
}

async fn list_apps(caller: Caller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let apps: Vec<Value> = p
        .store
        .list_apps()
        .await?
        .into_iter()
        .map(|a| {
            json!({"slug": a.slug, "name": a.name, "front_inbox_ids": a.front_inbox_ids, "sdk_base_url": a.sdk_base_url,
                   "stripe_account": a.stripe_account, "policy": a.policy, "capabilities": a.capabilities, "status": a.status})
        })
        .collect();
    Ok(Json(json!({"items": apps})))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    conversation: Option<String>,
    app: Option<String>,
    kind: Option<String>,
    cursor: Option<i64>,
    limit: Option<i64>,
}

async fn list_audit(
    caller: Caller,
    State(p): State<Platform>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let items = p
        .store
        .list_audit(&AuditFilter {
            app: q.app,
            conversation_id: q.conversation,
            kind: q.kind,
            after_seq: q.cursor.unwrap_or(0),
            limit,
        })
        .await?;
    let next = if items.len() as i64 == limit {
        items.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn verify_audit(caller: Caller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    match audit::verify(p.store.as_ref()).await {
        Ok(report) => Ok(Json(
            json!({"ok": true, "rows": report.rows, "head_hash": report.head_hash}),
        )),
        Err(audit::ChainError::Store(e)) => Err(ApiError::Unavailable(e)),
        Err(e) => Ok(Json(
            json!({"ok": false, "error": {"code": "audit_chain_broken", "message": e.to_string()}}),
        )),
    }
}

async fn list_tokens(caller: Caller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let items: Vec<Value> = p
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .map(|t| json!({"id": t.id, "name": t.name, "role": t.role, "user_id": t.user_id, "created_at": t.created_at, "revoked_at": t.revoked_at}))
        .collect();
    Ok(Json(json!({"items": items})))
}

#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
    role: String,
    /// The email of the user the token belongs to; without it the token gets a user of its own.
    #[serde(default)]
    user: Option<String>,
}

async fn create_token(
    caller: Caller,
    State(p): State<Platform>,
    Json(body): Json<NewToken>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let role = Role::parse(&body.role).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::BadRequest("name must be 1-64 characters".into()));
    }
    let (id, token, user_id) = match body.user.as_deref() {
        Some(email) => {
            let user = user_for_token(&p, email, role).await?;
            let (id, token) = create_user_token(&p, &user.id, name, role, &caller.actor).await?;
            (id, token, user.id)
        }
        None => {
            let (id, token) = create_api_token(&p, name, role, &caller.actor).await?;
            let user_id = format!("usr_{id}");
            (id, token, user_id)
        }
    };
    Ok(Json(
        json!({"id": id, "name": name, "role": role, "user_id": user_id, "token": token}),
    ))
}

/// The active user `email` names, whose role allows a token of `role`.
async fn user_for_token(p: &Platform, email: &str, role: Role) -> Result<UserRow, ApiError> {
    let email =
        support_core::ids::Email::parse(email).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let user = p
        .store
        .get_user_by_email(email.as_str())
        .await?
        .filter(|u| u.is_active())
        .ok_or_else(|| ApiError::NotFound(format!("active user {}", email.as_str())))?;
    if !user.role.allows(role) {
        return Err(ApiError::BadRequest(format!(
            "a {} token cannot belong to {}, whose role is {}",
            role.as_str(),
            user.email,
            user.role.as_str()
        )));
    }
    Ok(user)
}

/// Mint, store (hashed) and audit an API token for a user of its own (a service token: it
/// counts as one approver, separate from every person); returns `(id, plaintext)`.
pub async fn create_api_token(
    p: &Platform,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(String, String), ApiError> {
    let (minted, token) = new_token_row(name, role, String::new());
    let user = own_token_user(&token);
    p.store.insert_user(&user).await?;
    let token = ApiTokenRow {
        user_id: user.id,
        ..token
    };
    store_token(p, &token, actor).await?;
    Ok((token.id, minted.plaintext))
}

/// Mint, store (hashed) and audit an API token that acts for user `user_id`; returns
/// `(id, plaintext)`.
pub async fn create_user_token(
    p: &Platform,
    user_id: &str,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(String, String), ApiError> {
    let (minted, token) = new_token_row(name, role, user_id.to_string());
    store_token(p, &token, actor).await?;
    Ok((token.id, minted.plaintext))
}

/// A new token row and its plaintext.
pub fn new_token_row(name: &str, role: Role, user_id: String) -> (auth::NewToken, ApiTokenRow) {
    let minted = auth::mint_token();
    let row = ApiTokenRow {
        id: new_id("tok"),
        name: name.to_string(),
        role,
        token_hash: minted.hash.clone(),
        created_at: now_ms(),
        revoked_at: None,
        user_id,
    };
    (minted, row)
}

/// The user of its own a token created for nobody gets (as the migration gave earlier
/// tokens): `usr_<token id>`, no password, so it cannot log in.
pub fn own_token_user(token: &ApiTokenRow) -> UserRow {
    UserRow {
        id: format!("usr_{}", token.id),
        email: auth::token_user_email(&token.id),
        name: Some(format!("token {}", token.name)),
        role: token.role,
        password_hash: None,
        slack_user_id: None,
        created_at: token.created_at,
        deactivated_at: None,
    }
}

async fn store_token(p: &Platform, token: &ApiTokenRow, actor: &str) -> Result<(), ApiError> {
    p.store.insert_api_token(token).await?;
    p.store
        .append_audit(&AuditEvent::new(
            "token.created",
            actor,
            json!({"id": token.id, "name": token.name, "role": token.role, "user_id": token.user_id}),
        ))
        .await?;
    Ok(())
}
