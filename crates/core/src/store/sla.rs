//! SLA policies, schedules and each conversation's SLA clock (see [`crate::sla`]).

use super::{ConversationRow, StoreResult};
use crate::sla::clock::ClockEvent;
use crate::sla::{Priority, Schedule, SlaPolicy};
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A conversation's SLA clock: the events it is computed from, the policy and priority it runs
/// under, and a generation bumped by every change (a durable timer of an older generation is
/// superseded and fires nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaClockRow {
    /// Front's conversation id.
    pub conversation_id: String,
    pub app: String,
    /// The policy that matched at the last change; `None`: none applies.
    pub policy_id: Option<String>,
    pub priority: Priority,
    /// Who set the priority by hand; `None`: it comes from the route.
    pub priority_set_by: Option<String>,
    /// Oldest first.
    pub events: Vec<ClockEvent>,
    /// 1 for the first write, +1 for each change.
    pub generation: i64,
    /// The earliest breach time of a running target (the conversation's `sla_due_at`).
    pub due_at: Option<Millis>,
    pub updated_at: Millis,
}

/// A warning or breach that fired (`key` as [`crate::sla::clock::Deadline::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaAlarmRow {
    pub conversation_id: String,
    pub key: String,
    pub fired_at: Millis,
    /// The run that claimed it.
    pub owner: String,
}

#[async_trait]
pub trait SlaStore: Send + Sync {
    /// Policies (of `app`, when given), by app, position and id.
    async fn list_sla_policies(&self, app: Option<&str>) -> StoreResult<Vec<SlaPolicy>>;
    async fn get_sla_policy(&self, app: &str, id: &str) -> StoreResult<Option<SlaPolicy>>;
    /// Insert or replace by `(app, id)`.
    async fn put_sla_policy(&self, p: &SlaPolicy) -> StoreResult<()>;
    async fn delete_sla_policy(&self, app: &str, id: &str) -> StoreResult<bool>;
    /// Schedules by id.
    async fn list_sla_schedules(&self) -> StoreResult<Vec<Schedule>>;
    async fn get_sla_schedule(&self, id: &str) -> StoreResult<Option<Schedule>>;
    async fn put_sla_schedule(&self, s: &Schedule) -> StoreResult<()>;
    async fn delete_sla_schedule(&self, id: &str) -> StoreResult<bool>;
    async fn get_sla_clock(&self, conversation_id: &str) -> StoreResult<Option<SlaClockRow>>;
    /// Compare and set: writes `row` when the stored generation is `row.generation - 1` (no row
    /// for generation 1); `false` and nothing written otherwise. Also sets the conversation's
    /// `sla_due_at` to `row.due_at`, in the same transaction.
    async fn put_sla_clock(&self, row: &SlaClockRow) -> StoreResult<bool>;
    /// Claim alarm `key` for `owner` (a run id): `true` when it is (now or already) `owner`'s,
    /// `false` when another owner claimed it first. A retry of the owner's claim keeps it, so a
    /// run that dies after claiming still carries out the alarm.
    async fn claim_sla_alarm(
        &self,
        conversation_id: &str,
        key: &str,
        at: Millis,
        owner: &str,
    ) -> StoreResult<bool>;
    /// A conversation's fired alarms, oldest first.
    async fn sla_alarms(&self, conversation_id: &str) -> StoreResult<Vec<SlaAlarmRow>>;
    /// Conversations with an `sla_due_at` before `before` (of `app`, when given), soonest first.
    async fn sla_at_risk(
        &self,
        app: Option<&str>,
        before: Millis,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>>;
}
