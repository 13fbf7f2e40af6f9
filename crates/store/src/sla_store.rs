//! `impl SlaStore for Db`: SLA policies and schedules (kept whole as JSON), each conversation's
//! clock (compare-and-set on its generation, the conversation's `sla_due_at` in the same
//! transaction) and the alarms that fired (one row per key).

use crate::rows::{conversation, corrupt};
use crate::store_impl::{CONV_COLS, R, safe};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::sla::{Priority, Schedule, SlaPolicy};
use support_core::store::{ConversationRow, SlaAlarmRow, SlaClockRow, SlaStore};

const CLOCK_COLS: &str = "conversation_id, app, policy_id, priority, priority_set_by, events, generation, due_at, updated_at";

fn body<T: serde::de::DeserializeOwned>(r: &AnyRow) -> R<T> {
    let s: String = r.try_get("body").map_err(corrupt)?;
    serde_json::from_str(&s).map_err(corrupt)
}

fn clock(r: &AnyRow) -> R<SlaClockRow> {
    let priority: String = r.try_get("priority").map_err(corrupt)?;
    let events: String = r.try_get("events").map_err(corrupt)?;
    Ok(SlaClockRow {
        conversation_id: r.try_get("conversation_id").map_err(corrupt)?,
        app: r.try_get("app").map_err(corrupt)?,
        policy_id: r.try_get("policy_id").map_err(corrupt)?,
        priority: Priority::parse(&priority)
            .ok_or_else(|| corrupt(format!("sla priority {priority:?}")))?,
        priority_set_by: r.try_get("priority_set_by").map_err(corrupt)?,
        events: serde_json::from_str(&events).map_err(corrupt)?,
        generation: r.try_get("generation").map_err(corrupt)?,
        due_at: r.try_get("due_at").map_err(corrupt)?,
        updated_at: r.try_get("updated_at").map_err(corrupt)?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(corrupt)
}

#[async_trait]
impl SlaStore for Db {
    async fn list_sla_policies(&self, app: Option<&str>) -> R<Vec<SlaPolicy>> {
        sqlx::query(
            "SELECT body FROM sla_policies WHERE ($1 IS NULL OR app = $1) ORDER BY app, position, id",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(body)
        .collect()
    }

    async fn get_sla_policy(&self, app: &str, id: &str) -> R<Option<SlaPolicy>> {
        sqlx::query("SELECT body FROM sla_policies WHERE app = $1 AND id = $2")
            .bind(app)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .as_ref()
            .map(body)
            .transpose()
    }

    async fn put_sla_policy(&self, p: &SlaPolicy) -> R<()> {
        sqlx::query(
            "INSERT INTO sla_policies (app, id, position, schedule_id, body, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app, id) DO UPDATE SET \
             position = excluded.position, schedule_id = excluded.schedule_id, \
             body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&p.app)
        .bind(&p.id)
        .bind(p.position)
        .bind(&p.schedule)
        .bind(json(p)?)
        .bind(p.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn delete_sla_policy(&self, app: &str, id: &str) -> R<bool> {
        let done = sqlx::query("DELETE FROM sla_policies WHERE app = $1 AND id = $2")
            .bind(app)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_sla_schedules(&self) -> R<Vec<Schedule>> {
        sqlx::query("SELECT body FROM sla_schedules ORDER BY id")
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(body)
            .collect()
    }

    async fn get_sla_schedule(&self, id: &str) -> R<Option<Schedule>> {
        sqlx::query("SELECT body FROM sla_schedules WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .as_ref()
            .map(body)
            .transpose()
    }

    async fn put_sla_schedule(&self, s: &Schedule) -> R<()> {
        sqlx::query(
            "INSERT INTO sla_schedules (id, body, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&s.id)
        .bind(json(s)?)
        .bind(s.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn delete_sla_schedule(&self, id: &str) -> R<bool> {
        let done = sqlx::query("DELETE FROM sla_schedules WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_sla_clock(&self, conversation_id: &str) -> R<Option<SlaClockRow>> {
        sqlx::query(safe!(
            "SELECT {CLOCK_COLS} FROM sla_clocks WHERE conversation_id = $1"
        ))
        .bind(conversation_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(clock)
        .transpose()
    }

    async fn put_sla_clock(&self, c: &SlaClockRow) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let events = json(&c.events)?;
        let done = if c.generation <= 1 {
            sqlx::query(safe!(
                "INSERT INTO sla_clocks ({CLOCK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (conversation_id) DO NOTHING"
            ))
            .bind(&c.conversation_id)
            .bind(&c.app)
            .bind(&c.policy_id)
            .bind(c.priority.as_str())
            .bind(&c.priority_set_by)
            .bind(&events)
            .bind(c.generation)
            .bind(c.due_at)
            .bind(c.updated_at)
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE sla_clocks SET app = $2, policy_id = $3, priority = $4, \
                 priority_set_by = $5, events = $6, generation = $7, due_at = $8, updated_at = $9 \
                 WHERE conversation_id = $1 AND generation = $10",
            )
            .bind(&c.conversation_id)
            .bind(&c.app)
            .bind(&c.policy_id)
            .bind(c.priority.as_str())
            .bind(&c.priority_set_by)
            .bind(&events)
            .bind(c.generation)
            .bind(c.due_at)
            .bind(c.updated_at)
            .bind(c.generation - 1)
            .execute(&mut *tx)
            .await
        }
        .map_err(backend_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE conversations SET sla_due_at = $2 WHERE front_id = $1")
            .bind(&c.conversation_id)
            .bind(c.due_at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn claim_sla_alarm(
        &self,
        conversation_id: &str,
        key: &str,
        at: i64,
        owner: &str,
    ) -> R<bool> {
        sqlx::query(
            "INSERT INTO sla_alarms (conversation_id, alarm_key, fired_at, owner) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id, alarm_key) DO NOTHING",
        )
        .bind(conversation_id)
        .bind(key)
        .bind(at)
        .bind(owner)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        let holder: String = sqlx::query(
            "SELECT owner FROM sla_alarms WHERE conversation_id = $1 AND alarm_key = $2",
        )
        .bind(conversation_id)
        .bind(key)
        .fetch_one(&self.write)
        .await
        .map_err(backend_err)?
        .try_get("owner")
        .map_err(corrupt)?;
        Ok(holder == owner)
    }

    async fn sla_alarms(&self, conversation_id: &str) -> R<Vec<SlaAlarmRow>> {
        sqlx::query(
            "SELECT conversation_id, alarm_key, fired_at, owner FROM sla_alarms \
             WHERE conversation_id = $1 ORDER BY fired_at, alarm_key",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| {
            Ok(SlaAlarmRow {
                conversation_id: r.try_get("conversation_id").map_err(corrupt)?,
                key: r.try_get("alarm_key").map_err(corrupt)?,
                fired_at: r.try_get("fired_at").map_err(corrupt)?,
                owner: r.try_get("owner").map_err(corrupt)?,
            })
        })
        .collect()
    }

    async fn sla_at_risk(
        &self,
        app: Option<&str>,
        before: i64,
        limit: i64,
    ) -> R<Vec<ConversationRow>> {
        sqlx::query(safe!(
            "SELECT {CONV_COLS} FROM conversations WHERE sla_due_at IS NOT NULL \
             AND sla_due_at <= $1 AND ($2 IS NULL OR app = $2) \
             AND status NOT IN ('solved', 'closed') ORDER BY sla_due_at, id LIMIT $3"
        ))
        .bind(before)
        .bind(app)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(conversation)
        .collect()
    }
}
