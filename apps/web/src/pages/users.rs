//! Users and tokens (admin): `GET /users` lists the people approvals are counted by and the API
//! tokens; forms create a user (with a first password, shown once), change a role, deactivate,
//! reset a password (shown once), link or unlink a Slack user id, create a token (shown once)
//! and revoke one. The same rules and audit entries (`user.*`, `token.*`) as `skill users` and
//! `skill tokens`: the last active admin is never demoted or deactivated; a deactivated user's
//! and a reset password's sessions end.

use crate::auth::{Posted, Viewer, sessions};
use crate::ui::{self, EmptyState, Flash, Nav, Page, PageError, RelTime, StatusBadge, Table};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::{self, Role};
use support_core::ids::{Email, new_id};
use support_core::store::{StoreError, UserRow};
use support_core::time::now_ms;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/users", get(page).post(create))
        .route("/tokens", get(tokens_page).post(create_token))
        .route("/users/{id}/role", post(set_role))
        .route("/users/{id}/deactivate", post(deactivate))
        .route("/users/{id}/password", post(reset_password))
        .route("/users/{id}/slack", post(link_slack))
        .route("/tokens/{id}/revoke", post(revoke_token))
}

fn refused(message: impl Into<String>) -> PageError {
    PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
}

async fn audit(p: &Platform, v: &Viewer, kind: &str, data: Value) -> Result<(), PageError> {
    p.store
        .append_audit(&AuditEvent::new(kind, v.actor(), data))
        .await?;
    Ok(())
}

async fn user(p: &Platform, id: &str) -> Result<UserRow, PageError> {
    p.store
        .get_user(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("user {id}")))
}

/// Refuse to leave no active admin (as `skill users`).
async fn keeps_an_admin(p: &Platform, leaving: &UserRow) -> Result<(), PageError> {
    if leaving.role != Role::Admin || !leaving.is_active() {
        return Ok(());
    }
    if support_core::store::is_last_active_admin(&p.store.list_users().await?, leaving) {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "last_admin",
            format!(
                "{} is the last active admin; make another admin first.",
                leaving.email
            ),
        ));
    }
    Ok(())
}

fn role_options(selected: Role) -> impl IntoView {
    [Role::Viewer, Role::Agent, Role::Admin]
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected=r == selected>{r.as_str()}</option> })
        .collect_view()
}

fn user_row(v: &Viewer, u: UserRow, now: i64) -> impl IntoView + use<> {
    let id = u.id.clone();
    let active = u.is_active();
    let status = if active { "active" } else { "deactivated" };
    let slack = u.slack_user_id.clone().unwrap_or_default();
    let role_id = format!("role-{id}");
    let slack_id = format!("slack-{id}");
    let csrf = || ui::csrf_field(v);
    let actions = active.then(|| {
        view! {
            <form method="post" action=format!("/users/{id}/role") class="inline">
                {csrf()}
                <label class="sr-only" for=role_id.clone()>"Role"</label>
                <select id=role_id name="role">{role_options(u.role)}</select>
                <button type="submit" class="secondary">"Set role"</button>
            </form>
            " "
            <form method="post" action=format!("/users/{id}/slack") class="inline">
                {csrf()}
                <label class="sr-only" for=slack_id.clone()>"Slack user id"</label>
                <input id=slack_id name="slack_user_id" value=slack.clone() placeholder="U012AB3CD" size="11"/>
                <button type="submit" class="secondary">"Link Slack"</button>
            </form>
            " "
            <form method="post" action=format!("/users/{id}/password") class="inline">
                {csrf()}
                <button type="submit" class="secondary">"Reset password"</button>
            </form>
            " "
            <form method="post" action=format!("/users/{id}/deactivate") class="inline">
                {csrf()}
                <button type="submit" class="danger">"Deactivate"</button>
            </form>
        }
    });
    view! {
        <tr>
            <td>{u.email}<br/><span class="muted">{u.name.unwrap_or_default()}</span></td>
            <td><StatusBadge status=u.role.as_str()/></td>
            <td><StatusBadge status=status/></td>
            <td>{u.slack_user_id.unwrap_or_else(|| "–".into())}</td>
            <td><RelTime at=u.created_at now=now/></td>
            <td>{actions}</td>
        </tr>
    }
}

async fn page(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Admin)?;
    let now = now_ms();
    // Tokens' own users (`…@tokens.invalid`) are listed with the tokens, not here.
    let users: Vec<UserRow> = p
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| !u.email.ends_with("@tokens.invalid"))
        .collect();
    let rows = users
        .into_iter()
        .map(|u| user_row(&viewer, u, now))
        .collect_view();
    let body = view! {
        <p><a href="/tokens">"API tokens →"</a></p>
        <Table head=vec!["User", "Role", "Status", "Slack", "Created", "Actions"] caption="Users">
            {rows}
        </Table>
        <h2>"Add a user"</h2>
        <form class="stack" method="post" action="/users">
            {ui::csrf_field(&viewer)}
            <label for="new-email">"Email"</label>
            <input id="new-email" name="email" type="email" required=true/>
            <label for="new-name">"Name"</label>
            <input id="new-name" name="name"/>
            <label for="new-role">"Role"</label>
            <select id="new-role" name="role">{role_options(Role::Viewer)}</select>
            <button type="submit">"Create user (a first password is shown once)"</button>
        </form>
    };
    Ok(ui::render(&p, &viewer, Page::new("Users", Nav::Users, body)).await)
}

/// A secret shown once (a new password or token), on a page of its own.
async fn shown_once(
    p: &Platform,
    v: &Viewer,
    title: &str,
    what: String,
    secret: String,
) -> Response {
    let body = view! {
        <div class="flash flash-success" role="status">{what}</div>
        <p>"Copy it now; it is not shown again."</p>
        <pre><code>{secret}</code></pre>
        <p><a href="/users">"Back to users"</a>" · "<a href="/tokens">"Tokens"</a></p>
    };
    ui::render(p, v, Page::new(title.to_string(), Nav::Users, body)).await
}

#[derive(Debug, Deserialize)]
struct NewUser {
    email: String,
    #[serde(default)]
    name: Option<String>,
    role: String,
}

async fn create(State(p): State<Platform>, posted: Posted<NewUser>) -> Result<Response, PageError> {
    let Posted { viewer, form } = posted;
    viewer.require(Role::Admin)?;
    let email = Email::parse(&form.email).map_err(|e| refused(e.to_string()))?;
    let role = Role::parse(&form.role).map_err(|e| refused(e.to_string()))?;
    let password = support_core::crypto::random_token("", 18);
    let hash = auth::hash_password(&password).map_err(PageError::internal)?;
    let u = UserRow {
        id: new_id("usr"),
        email: email.as_str().to_string(),
        name: form
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        role,
        password_hash: Some(hash),
        slack_user_id: None,
        created_at: now_ms(),
        deactivated_at: None,
    };
    p.store.insert_user(&u).await.map_err(|e| match e {
        StoreError::Conflict(_) => PageError::new(
            StatusCode::CONFLICT,
            "user_exists",
            format!("A user {} exists already.", u.email),
        ),
        other => other.into(),
    })?;
    audit(
        &p,
        &viewer,
        "user.created",
        json!({"user_id": u.id, "email": u.email, "role": role}),
    )
    .await?;
    Ok(shown_once(
        &p,
        &viewer,
        "User created",
        format!(
            "Created {} user {}. Their first password:",
            role.as_str(),
            u.email
        ),
        password,
    )
    .await)
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    role: String,
}

async fn set_role(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<RoleForm>,
) -> Result<Response, PageError> {
    let Posted { viewer, form } = posted;
    viewer.require(Role::Admin)?;
    let role = Role::parse(&form.role).map_err(|e| refused(e.to_string()))?;
    let u = user(&p, &id).await?;
    if role != Role::Admin {
        keeps_an_admin(&p, &u).await?;
    }
    p.store.set_user_role(&u.id, role).await?;
    audit(
        &p,
        &viewer,
        "user.role_changed",
        json!({"user_id": u.id, "email": u.email, "from": u.role, "to": role}),
    )
    .await?;
    let msg = format!("{} is now {}.", u.email, role.as_str());
    Ok(ui::redirect_with_flash(&p, "/users", Flash::success(msg)))
}

async fn deactivate(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<Value>,
) -> Result<Response, PageError> {
    let viewer = posted.viewer;
    viewer.require(Role::Admin)?;
    let u = user(&p, &id).await?;
    if !u.is_active() {
        let msg = format!("{} was already deactivated.", u.email);
        return Ok(ui::redirect_with_flash(&p, "/users", Flash::info(msg)));
    }
    keeps_an_admin(&p, &u).await?;
    p.store.deactivate_user(&u.id, now_ms()).await?;
    let ended = sessions::end_all_sessions(&p, &u.id).await?;
    audit(
        &p,
        &viewer,
        "user.deactivated",
        json!({"user_id": u.id, "email": u.email, "sessions_ended": ended}),
    )
    .await?;
    let msg = format!(
        "Deactivated {}: signed out, their tokens stop working, their Slack clicks are refused.",
        u.email
    );
    Ok(ui::redirect_with_flash(&p, "/users", Flash::success(msg)))
}

async fn reset_password(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<Value>,
) -> Result<Response, PageError> {
    let viewer = posted.viewer;
    viewer.require(Role::Admin)?;
    let u = user(&p, &id).await?;
    let password = support_core::crypto::random_token("", 18);
    let hash = auth::hash_password(&password).map_err(PageError::internal)?;
    p.store.set_user_password(&u.id, &hash).await?;
    p.store.clear_login_lockout(&u.id).await?;
    let ended = sessions::end_all_sessions(&p, &u.id).await?;
    audit(
        &p,
        &viewer,
        "user.password_reset",
        json!({"user_id": u.id, "email": u.email, "sessions_ended": ended}),
    )
    .await?;
    Ok(shown_once(
        &p,
        &viewer,
        "Password reset",
        format!("New password for {} (their sessions ended):", u.email),
        password,
    )
    .await)
}

#[derive(Debug, Deserialize)]
struct SlackForm {
    #[serde(default)]
    slack_user_id: String,
}

async fn link_slack(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<SlackForm>,
) -> Result<Response, PageError> {
    let Posted { viewer, form } = posted;
    viewer.require(Role::Admin)?;
    let u = user(&p, &id).await?;
    let slack = form.slack_user_id.trim();
    let slack = slack.strip_prefix("slack:").unwrap_or(slack);
    if slack.is_empty() {
        let Some(previous) = u.slack_user_id.clone() else {
            let msg = format!("{} has no linked Slack user.", u.email);
            return Ok(ui::redirect_with_flash(&p, "/users", Flash::info(msg)));
        };
        p.store.set_user_slack_id(&u.id, None).await?;
        audit(
            &p,
            &viewer,
            "user.slack_unlinked",
            json!({"user_id": u.id, "email": u.email, "slack_user_id": previous}),
        )
        .await?;
        let msg = format!("Unlinked Slack user {previous} from {}.", u.email);
        return Ok(ui::redirect_with_flash(&p, "/users", Flash::success(msg)));
    }
    if !auth::is_slack_user_id(slack) {
        return Err(refused(format!(
            "{slack:?} is not a Slack user id (like U012AB3CD: Slack profile, More, Copy member ID)."
        )));
    }
    if let Some(other) = p.store.find_user_by_slack_id(slack).await?
        && other.id != u.id
    {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "slack_linked_elsewhere",
            format!(
                "Slack user {slack} is linked to {} already; unlink it there first.",
                other.email
            ),
        ));
    }
    p.store.set_user_slack_id(&u.id, Some(slack)).await?;
    audit(
        &p,
        &viewer,
        "user.slack_linked",
        json!({"user_id": u.id, "email": u.email, "slack_user_id": slack, "previous": u.slack_user_id}),
    )
    .await?;
    let msg = format!("Linked Slack user {slack} to {}.", u.email);
    Ok(ui::redirect_with_flash(&p, "/users", Flash::success(msg)))
}

async fn tokens_page(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Admin)?;
    let now = now_ms();
    let users = p.store.list_users().await?;
    let email_of = |id: &str| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.email.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let tokens = p.store.list_api_tokens().await?;
    let empty = tokens.is_empty();
    let rows = tokens
        .into_iter()
        .map(|t| {
            let revoke = t.revoked_at.is_none().then(|| {
                view! {
                    <form method="post" action=format!("/tokens/{}/revoke", t.id) class="inline">
                        {ui::csrf_field(&viewer)}
                        <button type="submit" class="danger">"Revoke"</button>
                    </form>
                }
            });
            let status = if t.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            };
            view! {
                <tr>
                    <td>{t.name}</td>
                    <td><StatusBadge status=t.role.as_str()/></td>
                    <td>{email_of(&t.user_id)}</td>
                    <td><StatusBadge status=status/></td>
                    <td><RelTime at=t.created_at now=now/></td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    let list = if empty {
        view! { <EmptyState title="No API tokens">"Tokens let the CLI and scripts call /api/v1; create one below."</EmptyState> }.into_any()
    } else {
        view! {
            <Table head=vec!["Name", "Role", "User", "Status", "Created", ""] caption="API tokens">{rows}</Table>
        }
        .into_any()
    };
    let body = view! {
        <p><a href="/users">"← Users"</a></p>
        {list}
        <h2>"Create a token"</h2>
        <form class="stack" method="post" action="/tokens">
            {ui::csrf_field(&viewer)}
            <label for="tok-name">"Name"</label>
            <input id="tok-name" name="name" required=true maxlength="64"/>
            <label for="tok-role">"Role"</label>
            <select id="tok-role" name="role">{role_options(Role::Viewer)}</select>
            <label for="tok-user">"For user (email; empty: a service token with a user of its own)"</label>
            <input id="tok-user" name="user" type="email"/>
            <button type="submit">"Create token (shown once)"</button>
        </form>
    };
    Ok(ui::render(&p, &viewer, Page::new("API tokens", Nav::Users, body)).await)
}

#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    user: String,
}

async fn create_token(
    State(p): State<Platform>,
    posted: Posted<NewToken>,
) -> Result<Response, PageError> {
    let Posted { viewer, form } = posted;
    viewer.require(Role::Admin)?;
    let role = Role::parse(&form.role).map_err(|e| refused(e.to_string()))?;
    let name = form.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(refused("The name must be 1-64 characters."));
    }
    let actor = viewer.actor();
    let token = match form.user.trim() {
        "" => {
            crate::api::create_api_token(&p, name, role, &actor)
                .await?
                .1
        }
        email => {
            let email = Email::parse(email).map_err(|e| refused(e.to_string()))?;
            let u = p
                .store
                .get_user_by_email(email.as_str())
                .await?
                .filter(|u| u.is_active())
                .ok_or_else(|| PageError::not_found(format!("active user {}", email.as_str())))?;
            if !u.role.allows(role) {
                return Err(refused(format!(
                    "A {} token cannot belong to {}, whose role is {}.",
                    role.as_str(),
                    u.email,
                    u.role.as_str()
                )));
            }
            crate::api::create_user_token(&p, &u.id, name, role, &actor)
                .await?
                .1
        }
    };
    Ok(shown_once(
        &p,
        &viewer,
        "Token created",
        format!("Created {} token {name}:", role.as_str()),
        token,
    )
    .await)
}

async fn revoke_token(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<Value>,
) -> Result<Response, PageError> {
    let viewer = posted.viewer;
    viewer.require(Role::Admin)?;
    if !p.store.revoke_api_token(&id, now_ms()).await? {
        return Ok(ui::redirect_with_flash(
            &p,
            "/tokens",
            Flash::info("That token was already revoked (or does not exist)."),
        ));
    }
    audit(&p, &viewer, "token.revoked", json!({"id": id})).await?;
    Ok(ui::redirect_with_flash(
        &p,
        "/tokens",
        Flash::success("Token revoked."),
    ))
}
