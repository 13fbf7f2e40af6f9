//! `impl PluginStore for Db`: the Front plugin's link tickets and draft ratings.

use crate::rows::corrupt;
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use support_core::store::{DraftRating, PluginLinkTicket, PluginStore, Rating, StoreResult};
use support_core::time::Millis;

type R<T> = StoreResult<T>;

#[async_trait]
impl PluginStore for Db {
    async fn insert_link_ticket(&self, t: &PluginLinkTicket) -> R<bool> {
        let done = sqlx::query(
            "INSERT INTO front_plugin_tickets \
             (state_hash, user_id, teammate_id, created_at, expires_at, redeemed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (state_hash) DO NOTHING",
        )
        .bind(&t.state_hash)
        .bind(&t.user_id)
        .bind(&t.teammate_id)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.redeemed_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn redeem_link_ticket(
        &self,
        state_hash: &str,
        now: Millis,
    ) -> R<Option<PluginLinkTicket>> {
        let row = sqlx::query(
            "UPDATE front_plugin_tickets SET redeemed_at = $1 \
             WHERE state_hash = $2 AND redeemed_at IS NULL AND expires_at > $1 \
             RETURNING state_hash, user_id, teammate_id, created_at, expires_at, redeemed_at",
        )
        .bind(now)
        .bind(state_hash)
        .fetch_optional(&self.write)
        .await
        .map_err(backend_err)?;
        match row {
            Some(r) => Ok(Some(PluginLinkTicket {
                state_hash: r.try_get("state_hash").map_err(corrupt)?,
                user_id: r.try_get("user_id").map_err(corrupt)?,
                teammate_id: r.try_get("teammate_id").map_err(corrupt)?,
                created_at: r.try_get("created_at").map_err(corrupt)?,
                expires_at: r.try_get("expires_at").map_err(corrupt)?,
                redeemed_at: r.try_get("redeemed_at").map_err(corrupt)?,
            })),
            None => Ok(None),
        }
    }

    async fn insert_draft_rating(&self, r: &DraftRating) -> R<()> {
        sqlx::query(
            "INSERT INTO draft_ratings \
             (id, conversation_id, run_id, rating, note, teammate_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.conversation_id)
        .bind(&r.run_id)
        .bind(r.rating.as_str())
        .bind(&r.note)
        .bind(&r.teammate_id)
        .bind(&r.user_id)
        .bind(r.created_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn list_draft_ratings(&self, conversation_id: &str) -> R<Vec<DraftRating>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, run_id, rating, note, teammate_id, user_id, created_at \
             FROM draft_ratings WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 100",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        rows.iter()
            .map(|r| {
                Ok(DraftRating {
                    id: r.try_get("id").map_err(corrupt)?,
                    conversation_id: r.try_get("conversation_id").map_err(corrupt)?,
                    run_id: r.try_get("run_id").map_err(corrupt)?,
                    rating: crate::rows::parsed(r, "rating", Rating::parse)?,
                    note: r.try_get("note").map_err(corrupt)?,
                    teammate_id: r.try_get("teammate_id").map_err(corrupt)?,
                    user_id: r.try_get("user_id").map_err(corrupt)?,
                    created_at: r.try_get("created_at").map_err(corrupt)?,
                })
            })
            .collect()
    }
}
