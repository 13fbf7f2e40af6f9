//! `impl AnalyticsStore for Db`: reporting events (append-only, keyed by the writer's id), the
//! daily rollups (a day replaced in one transaction) and the rollup job's watermark.

use crate::rows::corrupt;
use crate::store_impl::R;
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::analytics::{ALL, DayRollup, EventKind, ReportingEvent, Tally, day_of};
use support_core::store::AnalyticsStore;
use support_core::time::{Millis, now_ms};

const EVENT_COLS: &str = "id, app, category, conversation_id, kind, value, at, reason";
const WATERMARK: &str = "rollup_watermark";

fn event(r: &AnyRow) -> R<ReportingEvent> {
    let kind: String = r.try_get("kind").map_err(corrupt)?;
    Ok(ReportingEvent {
        id: r.try_get("id").map_err(corrupt)?,
        app: r.try_get("app").map_err(corrupt)?,
        category: r.try_get("category").map_err(corrupt)?,
        conversation_id: r.try_get("conversation_id").map_err(corrupt)?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("reporting event kind {kind:?}")))?,
        value: r.try_get("value").map_err(corrupt)?,
        at: r.try_get("at").map_err(corrupt)?,
        reason: r.try_get("reason").map_err(corrupt)?,
    })
}

fn rollup(r: &AnyRow) -> R<DayRollup> {
    let data: String = r.try_get("data").map_err(corrupt)?;
    let tally: Tally = serde_json::from_str(&data).map_err(corrupt)?;
    Ok(DayRollup {
        day: r.try_get("day").map_err(corrupt)?,
        app: r.try_get("app").map_err(corrupt)?,
        category: r.try_get("category").map_err(corrupt)?,
        tally,
    })
}

fn insert(e: &ReportingEvent) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO reporting_events ({EVENT_COLS}, day, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING"
    )))
    .bind(&e.id)
    .bind(&e.app)
    .bind(&e.category)
    .bind(&e.conversation_id)
    .bind(e.kind.as_str())
    .bind(e.value)
    .bind(e.at)
    .bind(&e.reason)
    .bind(day_of(e.at))
    .bind(now_ms())
}

#[async_trait]
impl AnalyticsStore for Db {
    async fn insert_reporting_event(&self, e: &ReportingEvent) -> R<bool> {
        let done = insert(e).execute(&self.write).await.map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_reporting_events(&self, events: &[ReportingEvent]) -> R<u64> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let mut new = 0;
        for e in events {
            new += insert(e)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(new)
    }

    async fn reporting_events_for_conversation(
        &self,
        conversation_id: &str,
    ) -> R<Vec<ReportingEvent>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLS} FROM reporting_events WHERE conversation_id = $1 ORDER BY at, id"
        )))
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(event)
        .collect()
    }

    async fn reporting_events_of_day(&self, day: i64) -> R<Vec<ReportingEvent>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLS} FROM reporting_events WHERE day = $1 ORDER BY at, id"
        )))
        .bind(day)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(event)
        .collect()
    }

    async fn reporting_days_recorded_since(&self, since: Millis) -> R<Vec<i64>> {
        // The newest row first: MAX over the `recorded_at` index is a one-row probe whatever
        // the planner's statistics, and nothing new (most reads) needs no other query.
        let newest: Option<i64> =
            sqlx::query("SELECT MAX(recorded_at) AS newest FROM reporting_events")
                .fetch_one(&self.read)
                .await
                .map_err(backend_err)?
                .try_get("newest")
                .map_err(corrupt)?;
        let Some(newest) = newest.filter(|n| *n >= since) else {
            return Ok(Vec::new());
        };
        // A closed range, no DISTINCT / ORDER BY: on a table never analyzed (Postgres without
        // autovacuum after a bulk load) `recorded_at >= $1` alone is estimated at a third of
        // the rows and read by a sequential scan (seen: 1.2-4 s at 7.3M rows); a two-sided
        // range's default estimate is small, so the `recorded_at` index finds the few recent
        // rows either way. DISTINCT or ORDER BY would tempt the planner into the `(day, at)`
        // index.
        let rows = sqlx::query(
            "SELECT day FROM reporting_events WHERE recorded_at >= $1 AND recorded_at <= $2",
        )
        .bind(since)
        .bind(newest)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        let mut days = rows
            .iter()
            .map(|r| r.try_get("day").map_err(corrupt))
            .collect::<R<Vec<i64>>>()?;
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }

    async fn replace_rollups(&self, day: i64, rows: &[DayRollup], at: Millis) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query("DELETE FROM analytics_rollups WHERE day = $1")
            .bind(day)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        for r in rows {
            let data = serde_json::to_string(&r.tally).map_err(corrupt)?;
            sqlx::query(
                "INSERT INTO analytics_rollups (day, app, category, data, rolled_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(day)
            .bind(&r.app)
            .bind(&r.category)
            .bind(data)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn rollups(&self, from: i64, to: i64, app: Option<&str>) -> R<Vec<DayRollup>> {
        let q = match app {
            Some(_) => sqlx::query(
                "SELECT day, app, category, data FROM analytics_rollups \
                 WHERE day >= $1 AND day <= $2 AND app = $3 AND category <> '*' \
                 ORDER BY day, app, category",
            ),
            None => sqlx::query(
                "SELECT day, app, category, data FROM analytics_rollups \
                 WHERE day >= $1 AND day <= $2 AND category <> '*' ORDER BY day, app, category",
            ),
        };
        let q = q.bind(from).bind(to);
        let q = match app {
            Some(a) => q.bind(a),
            None => q,
        };
        q.fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rollup)
            .collect()
    }

    async fn rollup_totals(&self, from: i64, to: i64, app: Option<&str>) -> R<Vec<DayRollup>> {
        sqlx::query(
            "SELECT day, app, category, data FROM analytics_rollups \
             WHERE day >= $1 AND day <= $2 AND app = $3 AND category = '*' ORDER BY day",
        )
        .bind(from)
        .bind(to)
        .bind(app.unwrap_or(ALL))
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rollup)
        .collect()
    }

    async fn rollup_watermark(&self) -> R<Millis> {
        let row = sqlx::query("SELECT value FROM analytics_state WHERE name = $1")
            .bind(WATERMARK)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?;
        match row {
            Some(r) => r.try_get("value").map_err(corrupt),
            None => Ok(0),
        }
    }

    async fn set_rollup_watermark(&self, at: Millis) -> R<()> {
        sqlx::query(
            "INSERT INTO analytics_state (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(WATERMARK)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }
}
