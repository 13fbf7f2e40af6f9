//! The one write path of SLA policies and schedules (API, `skill sla`, the dashboard):
//! validated, then stored, then audited (`sla.policy_set`, `sla.policy_removed`,
//! `sla.schedule_set`, `sla.schedule_removed`).

use super::{Schedule, SlaError, SlaPolicy};
use crate::audit::AuditEvent;
use crate::store::{Store, StoreError};
use crate::time::Millis;
use serde_json::json;

/// A refused or failed write.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Sla(#[from] SlaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    /// The stable code (`invalid_sla`, `unknown_schedule`, `schedule_in_use`, `unknown_app`,
    /// `not_found`, `store_unavailable`).
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Sla(e) => e.code(),
            AdminError::Store(_) => "store_unavailable",
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
