//! Analytics: the append-only reporting events and their daily rollups per app × category (see
//! [`crate::analytics`]).

use super::StoreResult;
use crate::analytics::{DayRollup, ReportingEvent};
use crate::time::Millis;
use async_trait::async_trait;

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Append a reporting event; `false` (and nothing written) when one with its id exists.
    async fn insert_reporting_event(&self, e: &ReportingEvent) -> StoreResult<bool>;
    /// Append many (one transaction); events whose id exists are skipped. How many were new.
    async fn insert_reporting_events(&self, events: &[ReportingEvent]) -> StoreResult<u64>;
    /// A conversation's reporting events, oldest first.
    async fn reporting_events_for_conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Vec<ReportingEvent>>;
    /// Every reporting event of one UTC day (days since the epoch), oldest first.
    async fn reporting_events_of_day(&self, day: i64) -> StoreResult<Vec<ReportingEvent>>;
    /// The days (sorted) with events recorded at or after `since`.
    async fn reporting_days_recorded_since(&self, since: Millis) -> StoreResult<Vec<i64>>;
    /// Replace the rollups of `day` with `rows`, in one transaction (a re-rollup is idempotent).
    async fn replace_rollups(&self, day: i64, rows: &[DayRollup], at: Millis) -> StoreResult<()>;
    /// Rollups of days `from..=to` (of `app`, when given) per app × category (no totals rows),
    /// by day, app and category.
    async fn rollups(&self, from: i64, to: i64, app: Option<&str>) -> StoreResult<Vec<DayRollup>>;
    /// The totals rows of days `from..=to`: `app`'s (category `*`), or every app's (`*`, `*`);
    /// one a day, by day.
    async fn rollup_totals(
        &self,
        from: i64,
        to: i64,
        app: Option<&str>,
    ) -> StoreResult<Vec<DayRollup>>;
    /// The rollup job's watermark: events recorded before it are in the rollups.
    async fn rollup_watermark(&self) -> StoreResult<Millis>;
    async fn set_rollup_watermark(&self, at: Millis) -> StoreResult<()>;
}
