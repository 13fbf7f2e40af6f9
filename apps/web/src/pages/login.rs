//! `GET /login`, `POST /login` (email + password, argon2id), `POST /logout` and
//! `POST /logout/everywhere`.
//!
//! Brute force: `/login` has its own per-source rate limit (`rate_limit.login`, the edge), and
//! an account with [`MAX_FAILURES`] failed sign-ins within [`WINDOW_MS`] is locked for
//! [`LOCK_MS`] (`login.locked`, audited once per lock; `423 account_locked` meanwhile, even with
//! the right password). Failed sign-ins are audited as sampled refusals (`login.failed`),
//! successes always (`login.succeeded`).
//!
//! The login form has no session yet, so its CSRF check is a double-submit cookie
//! ([`csrf::LOGIN_COOKIE`]). A success starts a session ([`sessions::start_session`]) and
//! redirects to `next` (a local path only); a failure says only "email or password is
//! incorrect".

use crate::auth::{self, Posted, Viewer, csrf, sessions};
use crate::ui::{self, Flash, PageError};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use support_core::audit::AuditEvent;
use support_core::crypto::{self, ct_eq};
use support_core::store::{LoginLockout, UserRow};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/login", get(form).post(login))
        .route("/logout", post(logout))
        .route("/logout/everywhere", post(logout_everywhere))
}

/// Failed sign-ins within [`WINDOW_MS`] that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// The window failed sign-ins are counted in.
pub const WINDOW_MS: Millis = 15 * 60 * 1000;
/// How long a locked account stays locked.
pub const LOCK_MS: Millis = 15 * 60 * 1000;

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// The login page; `error` re-renders it after a refusal.
fn login_page(
    p: &Platform,
    headers: &HeaderMap,
    next: &str,
    email: &str,
    error: Option<PageError>,
) -> Response {
    // Reuse the browser's login token if it has one (several tabs), else mint one.
    let token = sessions::read_cookie(headers, csrf::LOGIN_COOKIE)
        .filter(|t| t.len() >= 16 && t.len() <= 64)
        .unwrap_or_else(|| crypto::random_token("", 18));
    let flash = Flash::from_headers(headers);
    let status = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    let error_view = error.map(|e| {
        e.log();
        view! { <ui::ErrorPanel code=e.code message=e.message/> }
    });
    // Single sign-on, when configured (auth::oidc).
    let sso = crate::auth::oidc::login_link(p, next).map(|(href, label)| {
        view! { <p><a href=href>{format!("Sign in with {label}")}</a></p> }
    });
    let body = view! {
        <main class="narrow">
            <h1>"Sign in"</h1>
            {ui::flash_view(flash.as_ref())}
            {error_view}
            <form class="stack" method="post" action="/login">
                <input type="hidden" name="_csrf" value=token.clone()/>
                <input type="hidden" name="next" value=next.to_string()/>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required=true value=email.to_string()/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required=true/>
                <button type="submit">"Sign in"</button>
            </form>
            {sso}
        </main>
    }
    .into_any();
    let mut res = ui::document("Sign in", body, None).into_response();
    *res.status_mut() = status;
    ui::append_cookie(
        &mut res,
        &sessions::cookie(p, csrf::LOGIN_COOKIE, &token, Some(3600)),
    );
    if flash.is_some() {
        ui::append_cookie(&mut res, &sessions::clear_cookie(p, ui::FLASH_COOKIE));
    }
    res
}

async fn form(
    State(p): State<Platform>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = auth::safe_next(q.next.as_deref());
    login_page(&p, &headers, &next, "", None)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// A password hash to check against when the email is unknown, so both answers take as long.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        support_core::auth::hash_password("not the password of anyone").unwrap_or_default()
    })
}

async fn login(
    State(p): State<Platform>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let next = auth::safe_next(f.next.as_deref());
    let email = f.email.trim().to_ascii_lowercase();
    let cookie = sessions::read_cookie(&headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !ct_eq(cookie.as_bytes(), f.csrf.as_bytes()) {
        return login_page(&p, &headers, &next, &email, Some(PageError::csrf_invalid()));
    }
    let user = match p.store.get_user_by_email(&email).await {
        Ok(u) => u,
        Err(e) => return login_page(&p, &headers, &next, &email, Some(e.into())),
    };
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    // A locked account is refused before its password is even checked.
    let now = now_ms();
    if let Some(u) = &user {
        match p.store.login_lockout(&u.id).await {
            Ok(Some(l)) if l.locked_until.is_some_and(|t| t > now) => {
                return login_page(&p, &headers, &next, &email, Some(locked()));
            }
            Ok(_) => {}
            Err(e) => return login_page(&p, &headers, &next, &email, Some(e.into())),
        }
    }
    let password = f.password;
    let ok =
        tokio::task::spawn_blocking(move || support_core::auth::verify_password(&password, &phc))
            .await
            .unwrap_or(false);
    let user = match user {
        Some(u) if ok && u.is_active() && u.password_hash.is_some() => u,
        _ => {
            let ev = AuditEvent::new(
                "login.failed",
                "anonymous",
                json!({"email": email.chars().take(254).collect::<String>(), "known": user.is_some()}),
            );
            if let Err(e) =
                support_host::limits::audit_refusal(p.store.as_ref(), "login", "failed", &ev).await
            {
                tracing::warn!(cause = %e, "cannot audit a failed login");
            }
            let mut refused = PageError::new(
                StatusCode::UNAUTHORIZED,
                "login_failed",
                "Email or password is incorrect.",
            );
            if let Some(u) = &user {
                match record_failure(&p, u, now).await {
                    Ok(true) => refused = locked(),
                    Ok(false) => {}
                    Err(e) => refused = e.into(),
                }
            }
            return login_page(&p, &headers, &next, &email, Some(refused));
        }
    };
    if let Err(e) = p.store.clear_login_lockout(&user.id).await {
        return login_page(&p, &headers, &next, &email, Some(e.into()));
    }
    let set_cookie = match sessions::start_session(&p, &user.id, "password").await {
        Ok(c) => c,
        Err(e) => return login_page(&p, &headers, &next, &email, Some(e.into())),
    };
    if let Err(e) = p
        .store
        .append_audit(&AuditEvent::new(
            "login.succeeded",
            format!("user:{}", user.email),
            json!({"user_id": user.id, "method": "password"}),
        ))
        .await
    {
        tracing::warn!(cause = %e, "cannot audit a login");
    }
    let mut res = ui::see_other(&next);
    ui::append_cookie(&mut res, &set_cookie);
    ui::append_cookie(&mut res, &sessions::clear_cookie(&p, csrf::LOGIN_COOKIE));
    res
}

#[derive(Debug, Deserialize)]
struct Empty {}

/// End this session.
async fn logout(
    State(p): State<Platform>,
    headers: HeaderMap,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let viewer: Viewer = posted.viewer;
    let clear = sessions::end_session(&p, &headers).await?;
    tracing::info!(user_id = %viewer.user_id, "signed out");
    let mut res = ui::redirect_with_flash(&p, "/login", Flash::info("You are signed out."));
    ui::append_cookie(&mut res, &clear);
    Ok(res)
}

fn locked() -> PageError {
    PageError::new(
        StatusCode::LOCKED,
        "account_locked",
        format!(
            "Too many failed sign-ins: this account is locked for {} minutes. Try again later, \
             or ask an admin to reset your password.",
            LOCK_MS / 60_000
        ),
    )
}

/// Count a failed sign-in of an existing account; `true` when it locks the account now
/// (audited as `login.locked`).
async fn record_failure(
    p: &Platform,
    u: &UserRow,
    now: Millis,
) -> Result<bool, support_core::store::StoreError> {
    let mut l = match p.store.login_lockout(&u.id).await? {
        Some(l) if now - l.window_start < WINDOW_MS => l,
        _ => LoginLockout {
            user_id: u.id.clone(),
            failures: 0,
            window_start: now,
            locked_until: None,
        },
    };
    l.failures += 1;
    let locks = l.failures >= MAX_FAILURES && l.locked_until.is_none_or(|t| t <= now);
    if locks {
        l.locked_until = Some(now + LOCK_MS);
    }
    p.store.put_login_lockout(&l).await?;
    if locks {
        p.store
            .append_audit(&AuditEvent::new(
                "login.locked",
                "system",
                json!({"user_id": u.id, "email": u.email, "failures": l.failures,
                       "locked_until": l.locked_until}),
            ))
            .await?;
    }
    Ok(locks)
}

/// End every session of the viewer (every browser), audited.
async fn logout_everywhere(
    State(p): State<Platform>,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let viewer = posted.viewer;
    let ended = sessions::end_all_sessions(&p, &viewer.user_id).await?;
    p.store
        .append_audit(&AuditEvent::new(
            "session.ended_everywhere",
            viewer.actor(),
            json!({"user_id": viewer.user_id, "sessions": ended}),
        ))
        .await?;
    let mut res = ui::redirect_with_flash(
        &p,
        "/login",
        Flash::info(format!("You are signed out everywhere ({ended} sessions).")),
    );
    ui::append_cookie(&mut res, &sessions::clear_cookie(&p, sessions::COOKIE));
    Ok(res)
}
