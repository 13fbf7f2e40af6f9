//! The dashboard's sessions and sign-in lockouts (migration `20261206000100_dashboard_sessions`):
//! when a session was last used (idle expiry), ending every session of a user ("sign out
//! everywhere", deactivation), and the failed sign-ins that lock an account for a while.

use super::{SessionRow, StoreResult};
use crate::time::Millis;
use async_trait::async_trait;

/// The dashboard's session cookie (read by the dashboard and by the Front plugin's link page).
pub const SESSION_COOKIE: &str = "support_session";
/// How long a session lives at most, whatever its use: 12 hours.
pub const SESSION_ABSOLUTE_MS: Millis = 12 * 60 * 60 * 1000;
/// How long a session may go unused: 2 hours.
pub const SESSION_IDLE_MS: Millis = 2 * 60 * 60 * 1000;

/// A stored session and when it was last used (`0`: never since it started).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUse {
    pub session: SessionRow,
    pub last_seen_at: Millis,
}

impl SessionUse {
    /// Whether the session may still be used at `now`: before its stored expiry, used within
    /// [`SESSION_IDLE_MS`] and younger than [`SESSION_ABSOLUTE_MS`].
    pub fn alive(&self, now: Millis) -> bool {
        let last = self.last_seen_at.max(self.session.created_at);
        now < self.session.expires_at
            && now - self.session.created_at < SESSION_ABSOLUTE_MS
            && now - last < SESSION_IDLE_MS
    }
}

/// Failed sign-ins of one account: how many since `window_start`, and until when it is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLockout {
    pub user_id: String,
    pub failures: i64,
    pub window_start: Millis,
    pub locked_until: Option<Millis>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session with this token hash whose absolute expiry is after `now`, with its last use.
    async fn session_use(&self, token_hash: &str, now: Millis) -> StoreResult<Option<SessionUse>>;
    /// Record a use of the session at `at`.
    async fn touch_session(&self, token_hash: &str, at: Millis) -> StoreResult<()>;
    /// End every session of `user_id`; how many there were.
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64>;
    /// The account's failed sign-ins, if any are recorded.
    async fn login_lockout(&self, user_id: &str) -> StoreResult<Option<LoginLockout>>;
    /// Record the account's failed sign-ins (insert or replace).
    async fn put_login_lockout(&self, l: &LoginLockout) -> StoreResult<()>;
    /// Forget the account's failed sign-ins (after a success or a password reset).
    async fn clear_login_lockout(&self, user_id: &str) -> StoreResult<()>;
}
