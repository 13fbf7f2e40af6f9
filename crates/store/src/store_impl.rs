//! What the store's job files (`apps_store.rs`, `audit_store.rs`, …: one per supertrait of
//! `Store`) share: column lists, `safe!`, `to_json`; and `impl Store for Db` itself (backend,
//! ping, migrations). Portable SQL for SQLite and Postgres.

use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;

pub(crate) fn to_json(v: &serde_json::Value) -> String {
    v.to_string()
}

pub(crate) type R<T> = StoreResult<T>;

/// SQL built from constant column lists and numbered placeholders only; values are always bound.
macro_rules! safe {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}
pub(crate) use safe;

/// `$first, $first+1, …` for `n` values (an `IN (…)` list).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) const APP_COLS: &str = "id, slug, name, front_inbox_ids, sdk_base_url, secrets_enc, stripe_account, policy, capabilities, status, created_at, updated_at";

pub(crate) const ACTION_COLS: &str = "id, conversation_id, app, kind, params, category, confidence, reasoning, risk, status, idempotency_key, result, error, trace_id, created_at, updated_at";

pub(crate) const APPROVAL_COLS: &str = "id, action_id, channel, slack_channel, slack_ts, status, decided_by, reason, expires_at, created_at, decided_at, approvers_required, amount_cents, currency, capability, draft";

pub(crate) const CONV_COLS: &str = "id, front_id, app, customer_email, subject, status, escalation, escalation_reason, assignee, sla_due_at, created_at, updated_at";

pub(crate) const AUDIT_COLS: &str =
    "seq, at, kind, app, conversation_id, actor, trace_id, data, prev_hash, hash";

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
}
