//! `impl ApprovalStore for Db`: actions, approvals, votes and capability nonces.

use crate::rows;
use crate::store_impl::{ACTION_COLS, APPROVAL_COLS, R, safe, to_json};
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;
use support_core::time::Millis;

#[async_trait]
impl ApprovalStore for Db {
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
            .bind(a.channel.as_str())
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

    async fn approvals_for_conversation(&self, conversation_id: &str) -> R<Vec<ApprovalRow>> {
        sqlx::query(
            "SELECT ap.id, ap.action_id, ap.channel, ap.slack_channel, ap.slack_ts, ap.status, \
             ap.decided_by, ap.reason, ap.expires_at, ap.created_at, ap.decided_at, \
             ap.approvers_required, ap.amount_cents, ap.currency, ap.capability, ap.draft \
             FROM approvals ap JOIN actions a ON a.id = ap.action_id \
             WHERE a.conversation_id = $1 ORDER BY ap.created_at, ap.id",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::approval)
        .collect()
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
        .bind(v.channel.as_str())
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
        rows.iter().map(rows::approval_vote).collect()
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
        channel: DecisionChannel,
        slack_channel: &str,
        slack_ts: &str,
    ) -> R<()> {
        sqlx::query(
            "UPDATE approvals SET channel = $2, slack_channel = $3, slack_ts = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(channel.as_str())
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
}
