//! Linking a Front teammate to a platform user: the plugin opens
//! `/plugin/front/link?state=…&teammate=tea_…` in a window of its own (through Front's
//! `openUrl`); there the user signs in through the dashboard's `/login` (password or SSO: the
//! dashboard's session cookie, first-party in that window) and confirms. That writes a one-time
//! ticket keyed by the hash of the plugin's random `state`; the plugin, which alone knows the
//! state, redeems it once (`POST /plugin/front/api/link/redeem`) for a signed credential it keeps
//! in its `localStorage`. The teammate id is what the plugin said: recorded for attribution.

use super::{document, html, page_headers};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use support_core::audit::AuditEvent;
use support_core::auth::hash_token;
use support_core::crypto::ct_eq;
use support_core::pipeline::text::escape_html;
use support_core::store::{PluginLinkTicket, SESSION_COOKIE, UserRow};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

/// How long a confirmed link waits for the plugin to redeem it.
pub const TICKET_MS: Millis = 10 * 60 * 1000;

pub fn router() -> Router<Platform> {
    Router::new().route("/plugin/front/link", get(show).post(confirm))
}

#[derive(Deserialize)]
struct LinkQuery {
    state: Option<String>,
    teammate: Option<String>,
}

#[derive(Deserialize)]
struct LinkForm {
    state: String,
    teammate: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

fn valid_state(s: &str) -> bool {
    (32..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn valid_teammate(t: &str) -> bool {
    t.starts_with("tea_")
        && t.len() <= 64
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The signed-in dashboard user of this request and their session's hash.
async fn signed_in(
    p: &Platform,
    headers: &HeaderMap,
) -> Result<Option<(UserRow, String)>, Response> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string());
    let Some(token) = token else { return Ok(None) };
    let hash = hash_token(&token);
    let now = now_ms();
    let used = match p.store.session_use(&hash, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(None),
        Err(e) => return Err(support_host::ApiError::from(e).into_response()),
    };
    // The dashboard's own rule: stored expiry, idle and absolute lifetimes.
    if !used.alive(now) {
        return Ok(None);
    }
    match p.store.get_user(&used.session.user_id).await {
        Ok(Some(u)) if u.is_active() => Ok(Some((u, hash))),
        Ok(_) => Ok(None),
        Err(e) => Err(support_host::ApiError::from(e).into_response()),
    }
}

fn csrf_for(p: &Platform, session_hash: &str) -> String {
    support_core::crypto::sha256_hex(
        &p.master_key
            .sign("front-plugin-link-csrf", session_hash.as_bytes()),
    )
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn page(p: &Platform, status: StatusCode, title: &str, body: &str) -> Response {
    let mut res = html(
        p,
        status,
        document(
            title,
            "",
            &format!("<main class=\"plugin link\">{body}</main>"),
            false,
        ),
    );
    // A top-level page: nobody frames it.
    page_headers(res.headers_mut(), "'none'");
    res
}

fn bad_link(p: &Platform) -> Response {
    page(
        p,
        StatusCode::BAD_REQUEST,
        "Link",
        "<h1>This link is not valid</h1><p>Open it again from the sidebar in Front.</p>",
    )
}

async fn show(
    State(p): State<Platform>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (Some(state), Some(tea)) = (q.state, q.teammate) else {
        return bad_link(&p);
    };
    if !valid_state(&state) || !valid_teammate(&tea) {
        return bad_link(&p);
    }
    let (user, hash) = match signed_in(&p, &headers).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            let next = format!(
                "/plugin/front/link?state={}&teammate={}",
                enc(&state),
                enc(&tea)
            );
            return Redirect::to(&format!("/login?next={}", enc(&next))).into_response();
        }
        Err(res) => return res,
    };
    let body = format!(
        "<h1>Link Front to your account</h1>\
         <p>Link Front teammate <code>{tea}</code> to <strong>{email}</strong> ({role})? \
         The sidebar will then act as you: approvals and rejections are yours, audited.</p>\
         <form method=\"post\" action=\"/plugin/front/link\">\
         <input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <input type=\"hidden\" name=\"teammate\" value=\"{tea}\">\
         <button type=\"submit\" class=\"primary\" id=\"link-confirm\">Link my account</button></form>",
        tea = escape_html(&tea),
        email = escape_html(&user.email),
        role = user.role.as_str(),
        csrf = csrf_for(&p, &hash),
        state = escape_html(&state),
    );
    page(&p, StatusCode::OK, "Link Front", &body)
}

async fn confirm(
    State(p): State<Platform>,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    if !valid_state(&f.state) || !valid_teammate(&f.teammate) {
        return bad_link(&p);
    }
    let (user, hash) = match signed_in(&p, &headers).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return page(
                &p,
                StatusCode::UNAUTHORIZED,
                "Link",
                "<h1>Sign in first</h1>",
            );
        }
        Err(res) => return res,
    };
    if !ct_eq(f.csrf.as_bytes(), csrf_for(&p, &hash).as_bytes()) {
        return page(
            &p,
            StatusCode::FORBIDDEN,
            "Link",
            "<h1>This form expired</h1><p>Open the link again.</p>",
        );
    }
    let now = now_ms();
    let ticket = PluginLinkTicket {
        state_hash: support_core::crypto::sha256_hex(f.state.as_bytes()),
        user_id: user.id.clone(),
        teammate_id: f.teammate.clone(),
        created_at: now,
        expires_at: now + TICKET_MS,
        redeemed_at: None,
    };
    let written = match p.store.insert_link_ticket(&ticket).await {
        Ok(w) => w,
        Err(e) => return support_host::ApiError::from(e).into_response(),
    };
    if !written {
        return page(
            &p,
            StatusCode::CONFLICT,
            "Link",
            "<h1>Already linked</h1><p>Open the link again from Front.</p>",
        );
    }
    if let Err(e) = p
        .store
        .append_audit(&AuditEvent::new(
            "front_plugin.linked",
            format!("user:{}", user.email),
            serde_json::json!({"user_id": user.id, "teammate_id": f.teammate, "role": user.role.as_str()}),
        ))
        .await
    {
        return support_host::ApiError::from(e).into_response();
    }
    page(
        &p,
        StatusCode::OK,
        "Linked",
        &format!(
            "<h1 id=\"linked\">Linked</h1><p>Front teammate <code>{}</code> now acts as <strong>{}</strong>. \
             Go back to Front: the sidebar picks it up by itself.</p>",
            escape_html(&f.teammate),
            escape_html(&user.email)
        ),
    )
}
