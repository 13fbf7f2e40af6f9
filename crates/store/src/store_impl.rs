//! `impl Store for Db`: portable SQL for SQLite and Postgres.

use crate::rows::{self, corrupt};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::audit::{self, AuditEvent, AuditRecord};
use support_core::auth::Role;
use support_core::store::*;
use support_core::time::{Millis, now_ms};

fn to_json(v: &serde_json::Value) -> String {
    v.to_string()
}

type R<T> = StoreResult<T>;

/// SQL built from constant column lists and numbered placeholders only; values are always bound.
macro_rules! safe {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

impl Db {
    async fn replace_inboxes(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        app: &AppRow,
    ) -> R<()> {
        sqlx::query("DELETE FROM app_inboxes WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        for inbox in &app.front_inbox_ids {
            sqlx::query("INSERT INTO app_inboxes (inbox_id, app_id) VALUES ($1, $2)")
                .bind(inbox)
                .bind(&app.id)
                .execute(&mut **tx)
                .await
                .map_err(|e| match backend_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "Front inbox {inbox} already belongs to another app"
                    )),
                    other => other,
                })?;
        }
        Ok(())
    }
}

/// What retention leaves in place of a purged step result or event data.
const PURGED_JSON: &str = r#"{"purged":true}"#;

/// A stored event (JSON) with its `data` replaced by `{"purged": true}`; its name, id and
/// time stay. Unparseable text is replaced whole.
fn purged_event(stored: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("data".into(), serde_json::json!({"purged": true}));
            serde_json::Value::Object(map).to_string()
        }
        _ => PURGED_JSON.to_string(),
    }
}

/// Append one audit row inside `tx` (the caller commits).
async fn append_audit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ev: &AuditEvent,
) -> R<AuditRecord> {
    // Bumping the head row first serializes appenders (a row lock on Postgres, the single
    // writer on SQLite), so the chain never forks.
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await
        .map_err(backend_err)?;
    let seq: i64 = head.try_get("seq").map_err(corrupt)?;
    let prev_hash: String = head.try_get("hash").map_err(corrupt)?;
    let at = now_ms();
    let canonical = audit::canonical_row(seq, at, ev, &prev_hash);
    let hash = audit::chain_hash(&prev_hash, &canonical);
    sqlx::query(safe!(
        "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(seq)
    .bind(at)
    .bind(&ev.kind)
    .bind(&ev.app)
    .bind(&ev.conversation_id)
    .bind(&ev.actor)
    .bind(&ev.trace_id)
    .bind(audit::canonical_json(&ev.data))
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await
    .map_err(backend_err)?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(backend_err)?;
    Ok(AuditRecord {
        seq,
        at,
        kind: ev.kind.clone(),
        app: ev.app.clone(),
        conversation_id: ev.conversation_id.clone(),
        actor: ev.actor.clone(),
        trace_id: ev.trace_id.clone(),
        data: ev.data.clone(),
        prev_hash,
        hash,
    })
}

const APP_COLS: &str = "id, slug, name, front_inbox_ids, sdk_base_url, secrets_enc, stripe_account, policy, capabilities, status, created_at, updated_at";
const ACTION_COLS: &str = "id, conversation_id, app, kind, params, category, confidence, reasoning, risk, status, idempotency_key, result, error, trace_id, created_at, updated_at";
const APPROVAL_COLS: &str = "id, action_id, channel, slack_channel, slack_ts, status, decided_by, reason, expires_at, created_at, decided_at, approvers_required, amount_cents, currency, capability, draft";
const CONV_COLS: &str = "id, front_id, app, customer_email, subject, status, escalation, escalation_reason, assignee, sla_due_at, created_at, updated_at";
const AUDIT_COLS: &str =
    "seq, at, kind, app, conversation_id, actor, trace_id, data, prev_hash, hash";

const USER_BY_EMAIL: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE email = $1";
const USER_BY_ID: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE id = $1";
const USER_BY_SLACK: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users WHERE slack_user_id = $1";
const USERS_ALL: &str = "SELECT id, email, name, role, password_hash, slack_user_id, created_at, deactivated_at FROM users ORDER BY created_at, email";

#[async_trait]
impl Store for Db {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn ping(&self) -> R<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn migration_status(&self) -> R<MigrationStatus> {
        self.status().await
    }

    // ---- apps ----

    async fn insert_app(&self, app: &AppRow) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query(safe!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(&app.id)
            .bind(&app.slug)
            .bind(&app.name)
            .bind(serde_json::to_string(&app.front_inbox_ids).map_err(corrupt)?)
            .bind(&app.sdk_base_url)
            .bind(&app.secrets_enc)
            .bind(&app.stripe_account)
            .bind(to_json(&app.policy))
            .bind(to_json(&app.capabilities))
            .bind(app.status.as_str())
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("app {} already exists", app.slug)),
                other => other,
            })?;
        self.replace_inboxes(&mut tx, app).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn update_app(&self, app: &AppRow) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let done = sqlx::query(
            "UPDATE apps SET name = $2, front_inbox_ids = $3, sdk_base_url = $4, secrets_enc = $5, stripe_account = $6, \
             policy = $7, capabilities = $8, status = $9, updated_at = $10 WHERE slug = $1",
        )
        .bind(&app.slug)
        .bind(&app.name)
        .bind(serde_json::to_string(&app.front_inbox_ids).map_err(corrupt)?)
        .bind(&app.sdk_base_url)
        .bind(&app.secrets_enc)
        .bind(&app.stripe_account)
        .bind(to_json(&app.policy))
        .bind(to_json(&app.capabilities))
        .bind(app.status.as_str())
        .bind(app.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {}", app.slug)));
        }
        self.replace_inboxes(&mut tx, app).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_app(&self, slug: &str) -> R<Option<AppRow>> {
        sqlx::query(safe!("SELECT {APP_COLS} FROM apps WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::app(&r))
            .transpose()
    }

    async fn find_app_by_inbox(&self, inbox_id: &str) -> R<Option<AppRow>> {
        let cols = APP_COLS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(safe!(
            "SELECT {cols} FROM apps a JOIN app_inboxes i ON i.app_id = a.id WHERE i.inbox_id = $1"
        ))
        .bind(inbox_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| rows::app(&r))
        .transpose()
    }

    async fn list_apps(&self) -> R<Vec<AppRow>> {
        sqlx::query(safe!("SELECT {APP_COLS} FROM apps ORDER BY slug"))
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::app)
            .collect()
    }

    async fn delete_app(&self, slug: &str) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query(
            "DELETE FROM app_inboxes WHERE app_id IN (SELECT id FROM apps WHERE slug = $1)",
        )
        .bind(slug)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        let done = sqlx::query("DELETE FROM apps WHERE slug = $1")
            .bind(slug)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    // ---- audit ----

    async fn append_audit(&self, ev: &AuditEvent) -> R<AuditRecord> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let record = append_audit_in(&mut tx, ev).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(record)
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> R<Vec<AuditRecord>> {
        sqlx::query(safe!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::audit)
        .collect()
    }

    async fn list_audit(&self, f: &AuditFilter) -> R<Vec<AuditRecord>> {
        let limit = if f.limit <= 0 { 100 } else { f.limit.min(1000) };
        sqlx::query(safe!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 \
             AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR conversation_id = $3) AND ($4 IS NULL OR kind = $4) \
             ORDER BY seq LIMIT $5"
        ))
        .bind(f.after_seq)
        .bind(&f.app)
        .bind(&f.conversation_id)
        .bind(&f.kind)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::audit)
        .collect()
    }

    async fn audit_head(&self) -> R<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.read)
            .await
            .map_err(backend_err)?;
        Ok((
            row.try_get("seq").map_err(corrupt)?,
            row.try_get("hash").map_err(corrupt)?,
        ))
    }

    async fn audit_genesis(&self) -> R<(i64, String)> {
        let row = sqlx::query(
            "SELECT through_seq, through_hash FROM audit_archives ORDER BY through_seq DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        match row {
            Some(r) => Ok((
                r.try_get("through_seq").map_err(corrupt)?,
                r.try_get("through_hash").map_err(corrupt)?,
            )),
            None => Ok((0, audit::GENESIS.to_string())),
        }
    }

    async fn list_audit_archives(&self) -> R<Vec<AuditArchiveRow>> {
        sqlx::query(
            "SELECT through_seq, through_hash, from_seq, row_count, before_at, archived_at, actor \
             FROM audit_archives ORDER BY through_seq",
        )
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| {
            Ok(AuditArchiveRow {
                through_seq: r.try_get("through_seq").map_err(corrupt)?,
                through_hash: r.try_get("through_hash").map_err(corrupt)?,
                from_seq: r.try_get("from_seq").map_err(corrupt)?,
                row_count: r.try_get("row_count").map_err(corrupt)?,
                before_at: r.try_get("before_at").map_err(corrupt)?,
                archived_at: r.try_get("archived_at").map_err(corrupt)?,
                actor: r.try_get("actor").map_err(corrupt)?,
            })
        })
        .collect()
    }

    async fn archive_audit(&self, a: &AuditArchiveRow, ev: &AuditEvent) -> R<AuditRecord> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        // Take the head's lock first, as appenders do, so archives and appends serialize.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        let genesis: Option<i64> =
            sqlx::query_scalar("SELECT MAX(through_seq) FROM audit_archives")
                .fetch_one(&mut *tx)
                .await
                .map_err(backend_err)?;
        let genesis = genesis.unwrap_or(0);
        if a.from_seq != genesis + 1 || a.through_seq < a.from_seq {
            return Err(StoreError::Conflict(format!(
                "the archive must start at seq {} (it starts at {} and ends at {})",
                genesis + 1,
                a.from_seq,
                a.through_seq
            )));
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(a.through_seq)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend_err)?;
        if hash.as_deref() != Some(a.through_hash.as_str()) {
            return Err(StoreError::Conflict(format!(
                "audit row {} does not have the archived head hash",
                a.through_seq
            )));
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq >= $1 AND seq <= $2")
                .bind(a.from_seq)
                .bind(a.through_seq)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend_err)?;
        if count != a.row_count || count != a.through_seq - a.from_seq + 1 {
            return Err(StoreError::Conflict(format!(
                "the archived range holds {count} rows, expected {}",
                a.row_count
            )));
        }
        sqlx::query(
            "INSERT INTO audit_archives (through_seq, through_hash, from_seq, row_count, before_at, archived_at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.through_seq)
        .bind(&a.through_hash)
        .bind(a.from_seq)
        .bind(a.row_count)
        .bind(a.before_at)
        .bind(a.archived_at)
        .bind(&a.actor)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(a.through_seq)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        let record = append_audit_in(&mut tx, ev).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(record)
    }

    // ---- tokens, users, sessions ----

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

    async fn get_user_by_email(&self, email: &str) -> R<Option<UserRow>> {
        sqlx::query(USER_BY_EMAIL)
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::user(&r))
            .transpose()
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

    // ---- dedupe, idempotency, dead letters ----

    async fn record_webhook_receipt(&self, source: &str, event_id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "INSERT INTO webhook_receipts (source, event_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (source, event_id) DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn receipt_exists(&self, source: &str, event_id: &str) -> R<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM webhook_receipts WHERE source = $1 AND event_id = $2",
        )
        .bind(source)
        .bind(event_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?;
        Ok(row.is_some())
    }

    async fn idempotency_begin(&self, key: &str, scope: &str, at: Millis) -> R<IdempotencyState> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key, scope, status, created_at) VALUES ($1, $2, 'started', $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(scope)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyState::Started);
        }
        let row = sqlx::query("SELECT status, result FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_one(&self.write)
            .await
            .map_err(backend_err)?;
        let status: String = row.try_get("status").map_err(corrupt)?;
        if status == "completed" {
            let result: Option<String> = row.try_get("result").map_err(corrupt)?;
            let v = result
                .map(|s| serde_json::from_str(&s).map_err(corrupt))
                .transpose()?
                .unwrap_or(serde_json::Value::Null);
            Ok(IdempotencyState::Completed(v))
        } else {
            Ok(IdempotencyState::InProgress)
        }
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        result: &serde_json::Value,
        at: Millis,
    ) -> R<()> {
        let done = sqlx::query("UPDATE idempotency_keys SET status = 'completed', result = $2, completed_at = $3 WHERE key = $1")
            .bind(key)
            .bind(to_json(result))
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("idempotency key {key}")));
        }
        Ok(())
    }

    async fn idempotency_abandon(&self, key: &str) -> R<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND status = 'started'")
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn insert_dead_letter(&self, d: &DeadLetter) -> R<()> {
        sqlx::query("INSERT INTO dead_letters (id, kind, ref_id, error, payload, created_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&d.id)
            .bind(d.kind.as_str())
            .bind(&d.ref_id)
            .bind(&d.error)
            .bind(to_json(&d.payload))
            .bind(d.created_at)
            .bind(d.resolved_at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn list_dead_letters(&self, include_resolved: bool) -> R<Vec<DeadLetter>> {
        let sql = if include_resolved {
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters ORDER BY created_at, id"
        } else {
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE resolved_at IS NULL ORDER BY created_at, id"
        };
        sqlx::query(sql)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::dead_letter)
            .collect()
    }

    async fn get_dead_letter(&self, id: &str) -> R<Option<DeadLetter>> {
        sqlx::query(
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(rows::dead_letter)
        .transpose()
    }

    async fn dead_letters_of(&self, ref_id: &str) -> R<Vec<DeadLetter>> {
        sqlx::query(
            "SELECT id, kind, ref_id, error, payload, created_at, resolved_at FROM dead_letters WHERE ref_id = $1 ORDER BY created_at, id",
        )
        .bind(ref_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::dead_letter)
        .collect()
    }

    async fn resolve_dead_letter(&self, id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "UPDATE dead_letters SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    // ---- conversations and messages ----

    async fn upsert_conversation(&self, c: &ConversationRow) -> R<()> {
        sqlx::query(safe!(
            "INSERT INTO conversations ({CONV_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (front_id) DO UPDATE SET app = excluded.app, customer_email = excluded.customer_email, \
             subject = excluded.subject, status = excluded.status, escalation = excluded.escalation, \
             escalation_reason = excluded.escalation_reason, assignee = excluded.assignee, \
             sla_due_at = excluded.sla_due_at, updated_at = excluded.updated_at"
        ))
        .bind(&c.id)
        .bind(&c.front_id)
        .bind(&c.app)
        .bind(&c.customer_email)
        .bind(&c.subject)
        .bind(c.status.as_str())
        .bind(&c.escalation)
        .bind(&c.escalation_reason)
        .bind(&c.assignee)
        .bind(c.sla_due_at)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_conversation(&self, front_id: &str) -> R<Option<ConversationRow>> {
        sqlx::query(safe!(
            "SELECT {CONV_COLS} FROM conversations WHERE front_id = $1"
        ))
        .bind(front_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| rows::conversation(&r))
        .transpose()
    }

    async fn list_conversations(&self, app: Option<&str>, limit: i64) -> R<Vec<ConversationRow>> {
        sqlx::query(safe!(
            "SELECT {CONV_COLS} FROM conversations WHERE ($1 IS NULL OR app = $1) ORDER BY updated_at DESC, id LIMIT $2"
        ))
        .bind(app)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::conversation)
        .collect()
    }

    async fn upsert_message(&self, m: &MessageRow) -> R<()> {
        sqlx::query(
            "INSERT INTO messages (id, front_id, conversation_id, direction, author, body, raw_body, sent_at, purged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (front_id) DO UPDATE SET author = excluded.author, \
             body = CASE WHEN messages.purged_at IS NULL THEN excluded.body ELSE NULL END, \
             raw_body = CASE WHEN messages.purged_at IS NULL THEN excluded.raw_body ELSE NULL END, \
             sent_at = excluded.sent_at",
        )
        .bind(&m.id)
        .bind(&m.front_id)
        .bind(&m.conversation_id)
        .bind(m.direction.as_str())
        .bind(&m.author)
        .bind(&m.body)
        .bind(&m.raw_body)
        .bind(m.sent_at)
        .bind(m.purged_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn list_messages(&self, conversation_id: &str) -> R<Vec<MessageRow>> {
        sqlx::query(
            "SELECT id, front_id, conversation_id, direction, author, body, raw_body, sent_at, purged_at \
             FROM messages WHERE conversation_id = $1 ORDER BY sent_at, id",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::message)
        .collect()
    }

    async fn purge_message_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> R<u64> {
        let q = match scope {
            RetentionScope::App(app) => sqlx::query(
                "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE id IN (\
                 SELECT m.id FROM messages m JOIN conversations c ON c.front_id = m.conversation_id \
                 WHERE c.app = $4 AND m.purged_at IS NULL AND m.sent_at < $1 ORDER BY m.sent_at LIMIT $3)",
            )
            .bind(before)
            .bind(at)
            .bind(limit.max(0))
            .bind(app.clone()),
            RetentionScope::Unowned => sqlx::query(
                "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE id IN (\
                 SELECT m.id FROM messages m WHERE m.purged_at IS NULL AND m.sent_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM conversations c JOIN apps a ON a.slug = c.app \
                 WHERE c.front_id = m.conversation_id) ORDER BY m.sent_at LIMIT $3)",
            )
            .bind(before)
            .bind(at)
            .bind(limit.max(0)),
        };
        let done = q.execute(&self.write).await.map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_approval_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> R<u64> {
        // Decided before the cutoff, every approval of the action too; the action no longer in
        // flight and not waiting for a retry (an unresolved dead letter needs its params).
        const PICK: &str = "SELECT ap.id, ap.action_id FROM approvals ap JOIN actions a ON a.id = ap.action_id \
             WHERE ap.purged_at IS NULL AND ap.status <> 'pending' AND ap.decided_at IS NOT NULL AND ap.decided_at < $1 \
             AND a.status NOT IN ('pending_approval', 'approved', 'executing') \
             AND NOT EXISTS (SELECT 1 FROM approvals p WHERE p.action_id = a.id AND (p.decided_at IS NULL OR p.decided_at >= $1)) \
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.ref_id = a.id AND d.resolved_at IS NULL)";
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = match scope {
            RetentionScope::App(app) => sqlx::query(safe!(
                "{PICK} AND a.app = $3 ORDER BY ap.decided_at, ap.id LIMIT $2"
            ))
            .bind(before)
            .bind(limit.max(0))
            .bind(app.clone()),
            RetentionScope::Unowned => sqlx::query(safe!(
                "{PICK} AND NOT EXISTS (SELECT 1 FROM apps x WHERE x.slug = a.app) ORDER BY ap.decided_at, ap.id LIMIT $2"
            ))
            .bind(before)
            .bind(limit.max(0)),
        }
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut approvals = Vec::with_capacity(rows.len());
        let mut actions = Vec::with_capacity(rows.len());
        for r in &rows {
            approvals.push(r.try_get::<String, _>("id").map_err(corrupt)?);
            actions.push(r.try_get::<String, _>("action_id").map_err(corrupt)?);
        }
        actions.sort();
        actions.dedup();
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut q = sqlx::query(safe!(
            "UPDATE approvals SET draft = NULL, capability = NULL, purged_at = $1 \
             WHERE purged_at IS NULL AND id IN ({})",
            list(approvals.len())
        ))
        .bind(at);
        for id in &approvals {
            q = q.bind(id);
        }
        let done = q.execute(&mut *tx).await.map_err(backend_err)?;
        let mut q = sqlx::query(safe!(
            "UPDATE actions SET params = $1, reasoning = NULL, result = NULL WHERE id IN ({})",
            list(actions.len())
        ))
        .bind("{}");
        for id in &actions {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_run_batch(&self, before: Millis, at: Millis, limit: i64) -> R<u64> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = sqlx::query(
            "SELECT r.id, r.event FROM steps_runs r WHERE r.purged_at IS NULL AND r.ended_at IS NOT NULL \
             AND r.ended_at < $1 AND (r.status = 'completed' OR (r.status IN ('failed', 'cancelled') \
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.ref_id = r.id AND d.resolved_at IS NULL))) \
             ORDER BY r.ended_at, r.id LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        for r in &rows {
            let id: String = r.try_get("id").map_err(corrupt)?;
            let event: String = r.try_get("event").map_err(corrupt)?;
            sqlx::query("UPDATE steps_steps SET result = $2 WHERE run_id = $1")
                .bind(&id)
                .bind(PURGED_JSON)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
            sqlx::query(
                "UPDATE steps_runs SET event = $2, output = NULL, purged_at = $3 WHERE id = $1",
            )
            .bind(&id)
            .bind(purged_event(&event))
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(rows.len() as u64)
    }

    async fn purge_event_batch(&self, before: Millis, at: Millis, limit: i64) -> R<u64> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let rows = sqlx::query(
            "SELECT e.seq, e.payload FROM steps_events e WHERE e.purged_at IS NULL \
             AND e.processed_at IS NOT NULL AND e.processed_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM steps_runs r WHERE r.event_id = e.id AND r.purged_at IS NULL) \
             ORDER BY e.processed_at, e.seq LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend_err)?;
        for r in &rows {
            let seq: i64 = r.try_get("seq").map_err(corrupt)?;
            let payload: String = r.try_get("payload").map_err(corrupt)?;
            sqlx::query("UPDATE steps_events SET payload = $2, purged_at = $3 WHERE seq = $1")
                .bind(seq)
                .bind(purged_event(&payload))
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(rows.len() as u64)
    }

    async fn approval_purged_at(&self, id: &str) -> R<Option<Millis>> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT purged_at FROM approvals WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await
                .map_err(backend_err)?;
        Ok(v.flatten())
    }

    async fn purge_message_bodies(&self, before: Millis, at: Millis) -> R<u64> {
        let done = sqlx::query(
            "UPDATE messages SET body = NULL, raw_body = NULL, purged_at = $2 WHERE sent_at < $1 AND purged_at IS NULL",
        )
        .bind(before)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    // ---- actions and approvals ----

    async fn insert_action(&self, a: &ActionRow) -> R<()> {
        sqlx::query(safe!(
            "INSERT INTO actions ({ACTION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&a.id)
        .bind(&a.conversation_id)
        .bind(&a.app)
        .bind(a.kind.as_str())
        .bind(to_json(&a.params))
        .bind(&a.category)
        .bind(a.confidence)
        .bind(&a.reasoning)
        .bind(a.risk.as_str())
        .bind(a.status.as_str())
        .bind(&a.idempotency_key)
        .bind(a.result.as_ref().map(to_json))
        .bind(&a.error)
        .bind(&a.trace_id)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_action(&self, id: &str) -> R<Option<ActionRow>> {
        sqlx::query(safe!("SELECT {ACTION_COLS} FROM actions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::action(&r))
            .transpose()
    }

    async fn list_actions(&self, conversation_id: &str) -> R<Vec<ActionRow>> {
        sqlx::query(safe!(
            "SELECT {ACTION_COLS} FROM actions WHERE conversation_id = $1 ORDER BY created_at, id"
        ))
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::action)
        .collect()
    }

    async fn transition_action(
        &self,
        id: &str,
        from: &[ActionStatus],
        to: ActionStatus,
        patch: &ActionPatch,
        at: Millis,
    ) -> R<bool> {
        if from.is_empty() {
            return Ok(false);
        }
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
        let sql = format!(
            "UPDATE actions SET status = $2, params = COALESCE($3, params), result = COALESCE($4, result), \
             error = COALESCE($5, error), updated_at = $6 WHERE id = $1 AND status IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(to.as_str())
            .bind(patch.params.as_ref().map(to_json))
            .bind(patch.result.as_ref().map(to_json))
            .bind(&patch.error)
            .bind(at);
        for f in from {
            q = q.bind(f.as_str());
        }
        let done = q.execute(&self.write).await.map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_approval(&self, a: &ApprovalRow) -> R<()> {
        sqlx::query(safe!("INSERT INTO approvals ({APPROVAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
            .bind(&a.id)
            .bind(&a.action_id)
            .bind(&a.channel)
            .bind(&a.slack_channel)
            .bind(&a.slack_ts)
            .bind(a.status.as_str())
            .bind(&a.decided_by)
            .bind(&a.reason)
            .bind(a.expires_at)
            .bind(a.created_at)
            .bind(a.decided_at)
            .bind(a.approvers_required)
            .bind(a.amount_cents)
            .bind(&a.currency)
            .bind(&a.capability)
            .bind(&a.draft)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn get_approval(&self, id: &str) -> R<Option<ApprovalRow>> {
        sqlx::query(safe!("SELECT {APPROVAL_COLS} FROM approvals WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::approval(&r))
            .transpose()
    }

    async fn list_approvals(&self, status: Option<ApprovalStatus>) -> R<Vec<ApprovalRow>> {
        sqlx::query(safe!("SELECT {APPROVAL_COLS} FROM approvals WHERE ($1 IS NULL OR status = $1) ORDER BY created_at, id"))
            .bind(status.map(ApprovalStatus::as_str))
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::approval)
            .collect()
    }

    async fn decide_approval(
        &self,
        id: &str,
        status: ApprovalStatus,
        decided_by: &str,
        reason: Option<&str>,
        at: Millis,
    ) -> R<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET status = $2, decided_by = $3, reason = $4, decided_at = $5 WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(decided_by)
        .bind(reason)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn approval_for_action(&self, action_id: &str) -> R<Option<ApprovalRow>> {
        sqlx::query(safe!(
            "SELECT {APPROVAL_COLS} FROM approvals WHERE action_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(action_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| rows::approval(&r))
        .transpose()
    }

    async fn add_approval_vote(&self, v: &ApprovalVote) -> R<bool> {
        let done = sqlx::query(
            "INSERT INTO approval_votes (approval_id, voter, user_id, approver, actor, channel, voted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (approval_id, voter) DO NOTHING",
        )
        .bind(&v.approval_id)
        // One vote per user; a vote without a user (the command line) is its label's.
        .bind(v.user_id.as_deref().unwrap_or(&v.approver))
        .bind(&v.user_id)
        .bind(&v.approver)
        .bind(&v.actor)
        .bind(&v.channel)
        .bind(v.voted_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_approval_votes(&self, approval_id: &str) -> R<Vec<ApprovalVote>> {
        let rows = sqlx::query(
            "SELECT approval_id, approver, user_id, actor, channel, voted_at FROM approval_votes WHERE approval_id = $1 ORDER BY voted_at, voter",
        )
        .bind(approval_id)
        .fetch_all(&self.write)
        .await
        .map_err(backend_err)?;
        rows.iter()
            .map(|r| {
                Ok(ApprovalVote {
                    approval_id: r.try_get("approval_id").map_err(corrupt)?,
                    approver: r.try_get("approver").map_err(corrupt)?,
                    user_id: r.try_get("user_id").map_err(corrupt)?,
                    actor: r.try_get("actor").map_err(corrupt)?,
                    channel: r.try_get("channel").map_err(corrupt)?,
                    voted_at: r.try_get("voted_at").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn set_approval_capability(&self, id: &str, token: &str) -> R<()> {
        sqlx::query("UPDATE approvals SET capability = $2 WHERE id = $1")
            .bind(id)
            .bind(token)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn set_approval_message(
        &self,
        id: &str,
        channel: &str,
        slack_channel: &str,
        slack_ts: &str,
    ) -> R<()> {
        sqlx::query(
            "UPDATE approvals SET channel = $2, slack_channel = $3, slack_ts = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(channel)
        .bind(slack_channel)
        .bind(slack_ts)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn consume_capability(&self, nonce: &str, action_id: &str, at: Millis) -> R<bool> {
        let done = sqlx::query(
            "INSERT INTO capability_uses (nonce, action_id, used_at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(action_id)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    // ---- trust, knowledge, canned ----

    async fn upsert_trust(&self, t: &TrustRow) -> R<()> {
        sqlx::query(
            "INSERT INTO trust_scores (app, category, score, samples, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app, category) DO UPDATE SET score = excluded.score, samples = excluded.samples, updated_at = excluded.updated_at",
        )
        .bind(&t.app)
        .bind(&t.category)
        .bind(t.score)
        .bind(t.samples)
        .bind(t.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_trust(&self, app: &str, category: &str) -> R<Option<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE app = $1 AND category = $2")
            .bind(app)
            .bind(category)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::trust(&r))
            .transpose()
    }

    async fn list_trust(&self, app: Option<&str>) -> R<Vec<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE ($1 IS NULL OR app = $1) ORDER BY app, category")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::trust)
            .collect()
    }

    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query("INSERT INTO kb_documents (id, app, title, source, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&doc.id)
            .bind(&doc.app)
            .bind(&doc.title)
            .bind(&doc.source)
            .bind(&doc.body)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        for c in chunks {
            sqlx::query("INSERT INTO kb_chunks (id, document_id, app, ordinal, text) VALUES ($1, $2, $3, $4, $5)")
                .bind(&c.id)
                .bind(&c.document_id)
                .bind(&c.app)
                .bind(c.ordinal)
                .bind(&c.text)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn list_kb_chunks(&self, app: &str) -> R<Vec<KbChunk>> {
        sqlx::query("SELECT id, document_id, app, ordinal, text FROM kb_chunks WHERE app = $1 ORDER BY document_id, ordinal")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::kb_chunk)
            .collect()
    }

    async fn upsert_canned(&self, c: &CannedResponse) -> R<()> {
        sqlx::query(
            "INSERT INTO canned_responses (id, app, name, trigger_pattern, body, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET app = excluded.app, name = excluded.name, trigger_pattern = excluded.trigger_pattern, \
             body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&c.id)
        .bind(&c.app)
        .bind(&c.name)
        .bind(&c.trigger)
        .bind(&c.body)
        .bind(c.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn list_canned(&self, app: Option<&str>) -> R<Vec<CannedResponse>> {
        sqlx::query(
            "SELECT id, app, name, trigger_pattern, body, updated_at FROM canned_responses \
             WHERE ($1 IS NULL OR app IS NULL OR app = $1) ORDER BY name, id",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::canned)
        .collect()
    }
}
