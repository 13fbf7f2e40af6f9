//! Dashboard sessions: a random token in an HttpOnly, SameSite=Lax cookie (Secure when
//! `public_url` is https), stored hashed (SHA-256) in the store with an absolute expiry.
//!
//! [`start_session`] is the one way a session begins (the password login here, OIDC in
//! `auth::oidc`): it stores the session and returns the `Set-Cookie` header value.

use axum::http::HeaderMap;
use support_core::auth;
use support_core::crypto;
use support_core::store::{SessionRow, StoreError};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

/// The session cookie's name.
pub const COOKIE: &str = "support_session";

/// How long a session lives at most, whatever its use: 12 hours.
pub const ABSOLUTE_MS: Millis = 12 * 60 * 60 * 1000;

/// How long a session lives without a request: 2 hours.
pub const IDLE_MS: Millis = 2 * 60 * 60 * 1000;

/// Whether cookies must be `Secure`: the platform is reached over https.
pub fn secure(p: &Platform) -> bool {
    p.settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// A cookie header value: `name=value; Path=/; HttpOnly; SameSite=Lax[; Secure][; Max-Age=N]`.
pub fn cookie(p: &Platform, name: &str, value: &str, max_age_secs: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure(p) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age_secs {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// A cookie that removes `name`.
pub fn clear_cookie(p: &Platform, name: &str) -> String {
    cookie(p, name, "", Some(0))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The stored form of a session token.
pub fn hash(token: &str) -> String {
    auth::hash_token(token)
}

/// Begin a session for `user_id` (already authenticated by the caller: password or OIDC),
/// audited as `session.started` with `method` (`password`, `oidc`). Returns the `Set-Cookie`
/// header value to send with the redirect.
pub async fn start_session(
    p: &Platform,
    user_id: &str,
    method: &str,
) -> Result<String, StoreError> {
    let token = crypto::random_token("ses_", 32);
    let now = now_ms();
    p.store
        .insert_session(&SessionRow {
            token_hash: hash(&token),
            user_id: user_id.to_string(),
            created_at: now,
            expires_at: now + ABSOLUTE_MS,
        })
        .await?;
    tracing::info!(user_id, method, "dashboard session started");
    Ok(cookie(p, COOKIE, &token, Some(ABSOLUTE_MS / 1000)))
}

/// End the session whose token the request carries (if any); returns the cookie that clears it.
pub async fn end_session(p: &Platform, headers: &HeaderMap) -> Result<String, StoreError> {
    if let Some(token) = read_cookie(headers, COOKIE) {
        p.store.delete_session(&hash(&token)).await?;
    }
    Ok(clear_cookie(p, COOKIE))
}
