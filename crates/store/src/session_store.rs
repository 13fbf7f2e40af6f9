//! `impl SessionStore for Db`: session use (idle expiry), sign out everywhere, sign-in lockouts.

use crate::rows::{self, corrupt};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::store::{LoginLockout, SessionStore, SessionUse, StoreResult};
use support_core::time::Millis;

type R<T> = StoreResult<T>;

#[async_trait]
impl SessionStore for Db {
    async fn session_use(&self, token_hash: &str, now: Millis) -> R<Option<SessionUse>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, created_at, expires_at, last_seen_at FROM sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        match row {
            Some(r) => Ok(Some(SessionUse {
                session: rows::session(&r)?,
                last_seen_at: r.try_get("last_seen_at").map_err(corrupt)?,
            })),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, token_hash: &str, at: Millis) -> R<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(at)
            .bind(token_hash)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> R<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn login_lockout(&self, user_id: &str) -> R<Option<LoginLockout>> {
        let row = sqlx::query(
            "SELECT user_id, failures, window_start, locked_until FROM login_lockouts WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        match row {
            Some(r) => Ok(Some(LoginLockout {
                user_id: r.try_get("user_id").map_err(corrupt)?,
                failures: r.try_get("failures").map_err(corrupt)?,
                window_start: r.try_get("window_start").map_err(corrupt)?,
                locked_until: r.try_get("locked_until").map_err(corrupt)?,
            })),
            None => Ok(None),
        }
    }

    async fn put_login_lockout(&self, l: &LoginLockout) -> R<()> {
        sqlx::query(
            "INSERT INTO login_lockouts (user_id, failures, window_start, locked_until) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
             failures = excluded.failures, window_start = excluded.window_start, \
             locked_until = excluded.locked_until",
        )
        .bind(&l.user_id)
        .bind(l.failures)
        .bind(l.window_start)
        .bind(l.locked_until)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn clear_login_lockout(&self, user_id: &str) -> R<()> {
        sqlx::query("DELETE FROM login_lockouts WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}
