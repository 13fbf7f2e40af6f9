//! Who acts: API tokens, users (roles, linked Slack ids, deactivation) and sessions.

use crate::auth::Role;
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub token_hash: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// The user the token acts for (its approvals count as that user's). A token acts with
    /// the lower of its own role and its user's.
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    /// The Slack user linked to this user (`skill users link-slack`): Slack clicks count as
    /// this user's, and only linked Slack users may decide.
    pub slack_user_id: Option<String>,
    pub created_at: Millis,
    /// Set when the user was deactivated: their tokens stop working, their Slack clicks are
    /// refused.
    #[serde(default)]
    pub deactivated_at: Option<Millis>,
}

impl UserRow {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// Whether `leaving` (about to be demoted or deactivated) is the last active admin among
/// `users`: the one rule `skill users` and the dashboard's Users page both refuse on.
pub fn is_last_active_admin(users: &[UserRow], leaving: &UserRow) -> bool {
    leaving.role == Role::Admin
        && leaving.is_active()
        && !users
            .iter()
            .any(|u| u.id != leaving.id && u.role == Role::Admin && u.is_active())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Who acts: API tokens, users (roles, linked Slack ids, deactivation) and sessions.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert_api_token(&self, t: &ApiTokenRow) -> StoreResult<()>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRow>>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>>;
    async fn revoke_api_token(&self, id: &str, at: Millis) -> StoreResult<bool>;
    async fn upsert_user(&self, u: &UserRow) -> StoreResult<()>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    /// A new user; `Conflict` when the email is taken.
    async fn insert_user(&self, u: &UserRow) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<UserRow>>;
    /// Every user, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<UserRow>>;
    /// The user a Slack user id is linked to.
    async fn find_user_by_slack_id(&self, slack_user_id: &str) -> StoreResult<Option<UserRow>>;
    /// Link (`Some`) or unlink (`None`) a Slack user id; `Conflict` when another user has it.
    /// `false` when there is no such user.
    async fn set_user_slack_id(
        &self,
        user_id: &str,
        slack_user_id: Option<&str>,
    ) -> StoreResult<bool>;
    async fn set_user_role(&self, user_id: &str, role: Role) -> StoreResult<bool>;
    async fn set_user_password(&self, user_id: &str, password_hash: &str) -> StoreResult<bool>;
    /// Deactivate an active user; `false` when there is none or it already was.
    async fn deactivate_user(&self, user_id: &str, at: Millis) -> StoreResult<bool>;
    async fn insert_session(&self, s: &SessionRow) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<SessionRow>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
}
