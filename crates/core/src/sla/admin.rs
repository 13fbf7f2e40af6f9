//! The one write path of SLA policies and schedules (API, `skill sla`, the dashboard):
//! validated, then stored, then audited (`sla.policy_set`, `sla.policy_removed`,
//! `sla.schedule_set`, `sla.schedule_removed`), and of a conversation's priority set by a
//! person ([`set_priority`], audited `sla.priority_set`).

use super::{Priority, Schedule, SlaError, SlaPolicy};
use crate::audit::AuditEvent;
use crate::events::{self, EventSink, OutEvent};
use crate::store::{SlaClockRow, Store, StoreError};
use crate::time::Millis;
use serde::Serialize;
use serde_json::json;

/// A refused or failed write.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Sla(#[from] SlaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runner did not take the clock's re-evaluation (the priority is stored: retry).
    #[error("the SLA clock could not be re-evaluated: {0}")]
    Events(String),
}

impl AdminError {
    /// The stable code (`invalid_sla`, `invalid_priority`, `unknown_schedule`,
    /// `schedule_in_use`, `unknown_app`, `not_found`, `store_unavailable`,
    /// `runner_unavailable`).
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Sla(e) => e.code(),
            AdminError::Store(_) => "store_unavailable",
            AdminError::Events(_) => "runner_unavailable",
        }
    }
}

/// Validate and store a policy (replacing the one with its app and id), audited with the policy.
pub async fn put_policy(
    store: &dyn Store,
    mut p: SlaPolicy,
    actor: &str,
    now: Millis,
) -> Result<SlaPolicy, AdminError> {
    p.validate()?;
    if store.get_app(&p.app).await?.is_none() {
        return Err(SlaError::UnknownApp(p.app.clone()).into());
    }
    if let Some(s) = &p.schedule
        && store.get_sla_schedule(s).await?.is_none()
    {
        return Err(SlaError::UnknownSchedule(s.clone()).into());
    }
    p.updated_at = now;
    p.updated_by = actor.to_string();
    let before = store.get_sla_policy(&p.app, &p.id).await?;
    store.put_sla_policy(&p).await?;
    store
        .append_audit(
            &AuditEvent::new(
                "sla.policy_set",
                actor,
                json!({"policy": p, "created": before.is_none()}),
            )
            .app(&p.app),
        )
        .await?;
    Ok(p)
}

/// Remove a policy, audited; `not_found` when there is none.
pub async fn remove_policy(
    store: &dyn Store,
    app: &str,
    id: &str,
    actor: &str,
) -> Result<(), AdminError> {
    if !store.delete_sla_policy(app, id).await? {
        return Err(SlaError::NotFound(format!("policy {app}/{id}")).into());
    }
    store
        .append_audit(&AuditEvent::new("sla.policy_removed", actor, json!({"id": id})).app(app))
        .await?;
    Ok(())
}

/// Validate and store a schedule, audited.
pub async fn put_schedule(
    store: &dyn Store,
    mut s: Schedule,
    actor: &str,
    now: Millis,
) -> Result<Schedule, AdminError> {
    s.validate()?;
    s.updated_at = now;
    s.updated_by = actor.to_string();
    let before = store.get_sla_schedule(&s.id).await?;
    store.put_sla_schedule(&s).await?;
    store
        .append_audit(&AuditEvent::new(
            "sla.schedule_set",
            actor,
            json!({"schedule": s, "created": before.is_none()}),
        ))
        .await?;
    Ok(s)
}

/// Remove a schedule no policy names, audited.
pub async fn remove_schedule(store: &dyn Store, id: &str, actor: &str) -> Result<(), AdminError> {
    let users: Vec<String> = store
        .list_sla_policies(None)
        .await?
        .into_iter()
        .filter(|p| p.schedule.as_deref() == Some(id))
        .map(|p| format!("{}/{}", p.app, p.id))
        .collect();
    if !users.is_empty() {
        return Err(SlaError::ScheduleInUse(id.to_string(), users.join(", ")).into());
    }
    if !store.delete_sla_schedule(id).await? {
        return Err(SlaError::NotFound(format!("schedule {id}")).into());
    }
    store
        .append_audit(&AuditEvent::new(
            "sla.schedule_removed",
            actor,
            json!({"id": id}),
        ))
        .await?;
    Ok(())
}

/// A priority set by a person ([`set_priority`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrioritySet {
    pub conversation_id: String,
    pub app: String,
    pub priority: Priority,
    /// The priority before (`None`: the conversation had no clock yet).
    pub previous: Option<Priority>,
    pub set_by: String,
    /// The clock's generation this write made (older timers are superseded by it).
    pub generation: i64,
    /// The `support/sla.changed` event that re-evaluates the clock.
    pub event_id: String,
}

/// How many times a write that lost the clock's compare-and-set to a running clock is retried.
const PRIORITY_ATTEMPTS: usize = 5;

/// Set a conversation's priority by hand (`low`, `normal`, `high`, `urgent`; `invalid_priority`
/// otherwise; `not_found` for an unknown conversation): stored on its SLA clock with who set it
/// (kept over the route's from then on), as the clock's next generation (compare and set, so
/// the timers of the previous generation fire nothing), then `support/sla.changed` is sent so
/// `support-sla-clock` matches the policy again and schedules the new timers (the same durable
/// path as any change of the conversation's facts), then audited (`sla.priority_set`). When the
/// event cannot be sent the priority stays stored and the call fails with
/// `runner_unavailable`: calling again re-sends it.
pub async fn set_priority(
    store: &dyn Store,
    sink: &dyn EventSink,
    conversation_id: &str,
    priority: &str,
    actor: &str,
    now: Millis,
) -> Result<PrioritySet, AdminError> {
    let priority = Priority::parse(priority.trim())
        .ok_or_else(|| SlaError::InvalidPriority(priority.chars().take(40).collect()))?;
    let conversation = store
        .get_conversation(conversation_id)
        .await?
        .ok_or_else(|| SlaError::NotFound(format!("conversation {conversation_id}")))?;
    let mut attempt = 0;
    let (row, previous) = loop {
        attempt += 1;
        let existing = store.get_sla_clock(conversation_id).await?;
        let app = existing
            .as_ref()
            .map(|c| c.app.clone())
            .or_else(|| conversation.app.clone())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                SlaError::NotFound(format!("the app of conversation {conversation_id}"))
            })?;
        let previous = existing.as_ref().map(|c| c.priority);
        let row = match existing {
            Some(c) => SlaClockRow {
                priority,
                priority_set_by: Some(actor.to_string()),
                generation: c.generation + 1,
                updated_at: now,
                ..c
            },
            None => SlaClockRow {
                conversation_id: conversation_id.to_string(),
                app,
                policy_id: None,
                priority,
                priority_set_by: Some(actor.to_string()),
                events: Vec::new(),
                generation: 1,
                due_at: None,
                updated_at: now,
            },
        };
        if store.put_sla_clock(&row).await? {
            break (row, previous);
        }
        if attempt >= PRIORITY_ATTEMPTS {
            return Err(StoreError::Conflict(format!(
                "the SLA clock of {conversation_id} kept changing"
            ))
            .into());
        }
    };
    let event_id = format!("sla-priority:{conversation_id}:{}", row.generation);
    sink.send(vec![OutEvent {
        name: events::SLA_CHANGED.into(),
        data: json!({"conversation_id": conversation_id, "app_id": row.app,
                     "reason": "priority", "priority": priority, "set_by": actor}),
        id: Some(event_id.clone()),
    }])
    .await
    .map_err(|e| AdminError::Events(e.to_string()))?;
    store
        .append_audit(
            &AuditEvent::new(
                "sla.priority_set",
                actor,
                json!({"priority": priority, "previous": previous,
                       "generation": row.generation, "event_id": event_id}),
            )
            .app(&row.app)
            .conversation(conversation_id),
        )
        .await?;
    Ok(PrioritySet {
        conversation_id: conversation_id.to_string(),
        app: row.app,
        priority,
        previous,
        set_by: actor.to_string(),
        generation: row.generation,
        event_id,
    })
}
