//! `impl ConversationStore for Db`: conversations and their messages.

use crate::rows::{self};
use crate::store_impl::{CONV_COLS, R, safe};
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;

#[async_trait]
impl ConversationStore for Db {
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
}
