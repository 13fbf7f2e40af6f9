//! Dashboard sessions: a random token in an HttpOnly, SameSite=Lax cookie (Secure when
//! `public_url` is https), stored hashed (SHA-256) in the store, with an absolute expiry
//! ([`ABSOLUTE_MS`] after it started) and an idle expiry ([`IDLE_MS`] after its last use;
//! uses are recorded at most once a minute).
//!
//! [`start_session`] is the one way a session begins (the password login here, OIDC in
//! `auth::oidc`): it stores the session and returns the `Set-Cookie` header value.

use axum::http::HeaderMap;
use support_core::auth;
use support_core::crypto;
use support_core::store::{SessionRow, SessionUse, StoreError};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

/// The session cookie's name, its absolute and idle lifetimes: core's, shared with the Front
/// plugin's link page.
pub use support_core::store::{
    SESSION_ABSOLUTE_MS as ABSOLUTE_MS, SESSION_COOKIE as COOKIE, SESSION_IDLE_MS as IDLE_MS,
};

/// How often a session's use is written (its idle expiry is that much coarser).
pub const TOUCH_EVERY_MS: Millis = 60 * 1000;

/// Whether a stored session (its absolute expiry checked by the store) is still alive at `now`:
/// used within [`IDLE_MS`] and younger than [`ABSOLUTE_MS`].
pub fn alive(s: &SessionUse, now: Millis) -> bool {
    s.alive(now)
}

/// Whether the session's use at `now` should be written.
pub fn needs_touch(s: &SessionUse, now: Millis) -> bool {
    now - s.last_seen_at.max(s.session.created_at) >= TOUCH_EVERY_MS
}

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

/// End every session of `user_id` (sign out everywhere, deactivation, password reset).
pub async fn end_all_sessions(p: &Platform, user_id: &str) -> Result<u64, StoreError> {
    p.store.delete_user_sessions(user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use support_core::retention::{Clock, ManualClock};

    fn session(created_at: Millis, last_seen_at: Millis) -> SessionUse {
        SessionUse {
            session: SessionRow {
                token_hash: "h".into(),
                user_id: "u".into(),
                created_at,
                expires_at: created_at + ABSOLUTE_MS,
            },
            last_seen_at,
        }
    }

    #[test]
    fn idle_and_absolute_expiry_on_the_manual_clock() {
        let clock = ManualClock::new(1_000_000);
        let start = clock.now_ms();
        let s = session(start, 0);
        assert!(alive(&s, clock.now_ms()));
        clock.advance(IDLE_MS - 1);
        assert!(alive(&s, clock.now_ms()), "just within the idle time");
        clock.advance(1);
        assert!(!alive(&s, clock.now_ms()), "idle for IDLE_MS");
        // Used regularly, it still ends at the absolute expiry.
        let used = session(start, start + ABSOLUTE_MS - 1000);
        assert!(alive(&used, start + ABSOLUTE_MS - 1));
        assert!(!alive(&used, start + ABSOLUTE_MS));
        assert!(!needs_touch(&s, start + TOUCH_EVERY_MS - 1));
        assert!(needs_touch(&s, start + TOUCH_EVERY_MS));
    }
}
