//! The dashboard's sessions and sign-in lockouts (migration `20261206000100_dashboard_sessions`):
//! when a session was last used (idle expiry), ending every session of a user ("sign out
//! everywhere", deactivation), and the failed sign-ins that lock an account for a while.

use super::{SessionRow, StoreResult};
use crate::time::Millis;
use async_trait::async_trait;

/// A stored session and when it was last used (`0`: never since it started).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUse {
    pub session: SessionRow,
    pub last_seen_at: Millis,
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
