//! `impl IdentityStore for Db`: API tokens, users and sessions.

use crate::rows::{self};
use crate::store_impl::R;
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::auth::Role;
use support_core::store::*;
use support_core::time::Millis;

const USER_BY_EMAIL: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE email = $1";

const USER_BY_ID: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE id = $1";

const USER_BY_SLACK: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE slack_user_id = $1";

const USERS_ALL: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users ORDER BY created_at, email";

#[async_trait]
impl IdentityStore for Db {
    async fn insert_api_token(&self, t: &ApiTokenRow) -> R<()> {
        sqlx::query("INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.role.as_str())
            .bind(&t.token_hash)
            .bind(t.created_at)
            .bind(t.revoked_at)
            .bind(&t.user_id)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn find_api_token(&self, token_hash: &str) -> R<Option<ApiTokenRow>> {
        sqlx::query("SELECT id, name, role, token_hash, created_at, revoked_at, user_id FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::token(&r))
            .transpose()
    }

    async fn list_api_tokens(&self) -> R<Vec<ApiTokenRow>> {
        sqlx::query("SELECT id, name, role, token_hash, created_at, revoked_at, user_id FROM api_tokens ORDER BY created_at")
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::token)
            .collect()
    }

    async fn revoke_api_token(&self, id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_user(&self, u: &UserRow) -> R<()> {
        sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (email) DO UPDATE SET name = excluded.name, role = excluded.role, \
             password_hash = excluded.password_hash, slack_user_id = excluded.slack_user_id, \
             deactivated_at = excluded.deactivated_at",
        )
        .bind(&u.id)
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.slack_user_id)
        .bind(u.created_at)
        .bind(u.deactivated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_user_by_email(&self, email: &str) -> R<Option<UserRow>> {
        sqlx::query(USER_BY_EMAIL)
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::user(&r))
            .transpose()
    }

    async fn insert_user(&self, u: &UserRow) -> R<()> {
        sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&u.id)
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.slack_user_id)
        .bind(u.created_at)
        .bind(u.deactivated_at)
        .execute(&self.write)
        .await
        .map_err(|e| match backend_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("user {} already exists", u.email)),
            other => other,
        })?;
        Ok(())
    }

    async fn get_user(&self, id: &str) -> R<Option<UserRow>> {
        sqlx::query(USER_BY_ID)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::user(&r))
            .transpose()
    }

    async fn list_users(&self) -> R<Vec<UserRow>> {
        sqlx::query(USERS_ALL)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::user)
            .collect()
    }

    async fn find_user_by_slack_id(&self, slack_user_id: &str) -> R<Option<UserRow>> {
        // Decisions read it: from the writer, like the approval they decide.
        sqlx::query(USER_BY_SLACK)
            .bind(slack_user_id)
            .fetch_optional(&self.write)
            .await
            .map_err(backend_err)?
            .map(|r| rows::user(&r))
            .transpose()
    }

    async fn set_user_slack_id(&self, user_id: &str, slack_user_id: Option<&str>) -> R<bool> {
        let done = sqlx::query("UPDATE users SET slack_user_id = $2 WHERE id = $1")
            .bind(user_id)
            .bind(slack_user_id)
            .execute(&self.write)
            .await
            .map_err(|e| match backend_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "Slack user {} is linked to another user",
                    slack_user_id.unwrap_or_default()
                )),
                other => other,
            })?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_user_role(&self, user_id: &str, role: Role) -> R<bool> {
        let done = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(user_id)
            .bind(role.as_str())
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_user_password(&self, user_id: &str, password_hash: &str) -> R<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn deactivate_user(&self, user_id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "UPDATE users SET deactivated_at = $2 WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(user_id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_session(&self, s: &SessionRow) -> R<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&s.token_hash)
            .bind(&s.user_id)
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn get_session(&self, token_hash: &str, now: Millis) -> R<Option<SessionRow>> {
        sqlx::query("SELECT token_hash, user_id, created_at, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::session(&r))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> R<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}
