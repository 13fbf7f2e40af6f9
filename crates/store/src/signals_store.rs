//! `impl SignalStore for Db`: the learning loop's append-only signals and the trust cache.

use crate::rows::corrupt;
use crate::store_impl::R;
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::store::{SignalStore, TrustCacheRow};
use support_core::trust::{Signal, SignalKind};

const SIGNAL_COLS: &str = "id, app, category, conversation_id, kind, value, weight, at, run_id, source, actor, note, detail";

fn signal(r: &AnyRow) -> R<Signal> {
    let kind: String = r.try_get("kind").map_err(corrupt)?;
    let detail: String = r.try_get("detail").map_err(corrupt)?;
    Ok(Signal {
        id: r.try_get("id").map_err(corrupt)?,
        app: r.try_get("app").map_err(corrupt)?,
        category: r.try_get("category").map_err(corrupt)?,
        conversation_id: r.try_get("conversation_id").map_err(corrupt)?,
        kind: SignalKind::parse(&kind).ok_or_else(|| corrupt(format!("signal kind {kind:?}")))?,
        value: r.try_get("value").map_err(corrupt)?,
        weight: r.try_get("weight").map_err(corrupt)?,
        at: r.try_get("at").map_err(corrupt)?,
        run_id: r.try_get("run_id").map_err(corrupt)?,
        source: r.try_get("source").map_err(corrupt)?,
        actor: r.try_get("actor").map_err(corrupt)?,
        note: r.try_get("note").map_err(corrupt)?,
        detail: serde_json::from_str(&detail).map_err(corrupt)?,
    })
}

fn trust_row(r: &AnyRow) -> R<TrustCacheRow> {
    Ok(TrustCacheRow {
        app: r.try_get("app").map_err(corrupt)?,
        category: r.try_get("category").map_err(corrupt)?,
        score: r.try_get("score").map_err(corrupt)?,
        effective_samples: r.try_get("effective_samples").map_err(corrupt)?,
        signals: r.try_get("signals").map_err(corrupt)?,
        trend: r.try_get("trend").map_err(corrupt)?,
        computed_at: r.try_get("computed_at").map_err(corrupt)?,
    })
}

#[async_trait]
impl SignalStore for Db {
    async fn record_signal(&self, s: &Signal) -> R<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO signals ({SIGNAL_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(&s.id)
        .bind(&s.app)
        .bind(&s.category)
        .bind(&s.conversation_id)
        .bind(s.kind.as_str())
        .bind(s.value)
        .bind(s.weight)
        .bind(s.at)
        .bind(&s.run_id)
        .bind(&s.source)
        .bind(&s.actor)
        .bind(&s.note)
        .bind(s.detail.to_string())
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn signals_for(&self, app: &str, category: &str) -> R<Vec<Signal>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLS} FROM signals WHERE app = $1 AND category = $2 ORDER BY at, id"
        )))
        .bind(app)
        .bind(category)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(signal)
        .collect()
    }

    async fn signals_for_conversation(&self, conversation_id: &str) -> R<Vec<Signal>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLS} FROM signals WHERE conversation_id = $1 ORDER BY at, id"
        )))
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(signal)
        .collect()
    }

    async fn signal_categories(&self, app: Option<&str>) -> R<Vec<(String, String)>> {
        sqlx::query(
            "SELECT DISTINCT app, category FROM signals WHERE ($1 IS NULL OR app = $1) \
             ORDER BY app, category",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("app").map_err(corrupt)?,
                r.try_get("category").map_err(corrupt)?,
            ))
        })
        .collect()
    }

    async fn put_trust_cache(&self, t: &TrustCacheRow) -> R<()> {
        sqlx::query(
            "INSERT INTO trust_cache (app, category, score, effective_samples, signals, trend, computed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app, category) DO UPDATE SET \
             score = excluded.score, effective_samples = excluded.effective_samples, \
             signals = excluded.signals, trend = excluded.trend, computed_at = excluded.computed_at",
        )
        .bind(&t.app)
        .bind(&t.category)
        .bind(t.score)
        .bind(t.effective_samples)
        .bind(t.signals)
        .bind(t.trend)
        .bind(t.computed_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn trust_cache(&self, app: Option<&str>) -> R<Vec<TrustCacheRow>> {
        sqlx::query(
            "SELECT app, category, score, effective_samples, signals, trend, computed_at \
             FROM trust_cache WHERE ($1 IS NULL OR app = $1) ORDER BY app, category",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(trust_row)
        .collect()
    }

    async fn actions_for_charge(&self, charge_id: &str) -> R<Vec<support_core::store::ActionRow>> {
        if charge_id.is_empty() {
            return Ok(Vec::new());
        }
        // Parameters are stored as compact JSON: a LIKE narrows, the exact check decides.
        let escaped = charge_id
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
            .replace('"', "\\\"");
        let pattern = format!("%\"chargeId\":\"{escaped}\"%");
        let rows = sqlx::query(crate::store_impl::safe!(
            "SELECT {} FROM actions WHERE params LIKE $1 ESCAPE '\\' ORDER BY created_at, id",
            crate::store_impl::ACTION_COLS
        ))
        .bind(pattern)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        let mut out = Vec::new();
        for r in &rows {
            let a = crate::rows::action(r)?;
            if a.params["chargeId"].as_str() == Some(charge_id) {
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn conversations_for_email(
        &self,
        email: &str,
        app: Option<&str>,
        limit: i64,
    ) -> R<Vec<support_core::store::ConversationRow>> {
        let email = email.trim().to_lowercase();
        if email.is_empty() {
            return Ok(Vec::new());
        }
        // `conversations_email_recent` (customer_email, updated_at, id) serves it.
        sqlx::query(crate::store_impl::safe!(
            "SELECT {} FROM conversations WHERE customer_email = $1 AND ($2 IS NULL OR app = $2) \
             ORDER BY updated_at DESC, id LIMIT $3",
            crate::store_impl::CONV_COLS
        ))
        .bind(email)
        .bind(app)
        .bind(limit.clamp(1, 100))
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(crate::rows::conversation)
        .collect()
    }
}
