//! `impl AutoSendStore for Db`: modes, certificates, kill switches and send intents.

use crate::rows::{self, corrupt};
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::autosend::Mode;
use support_core::store::{
    AutoSendRow, AutoSendStatus, AutoSendStore, CertificateRow, ModeRow, StoreResult, SwitchRow,
};
use support_core::time::Millis;

type R<T> = StoreResult<T>;

const MODE_COLS: &str =
    "app, category, mode, reason, changed_by, changed_at, demoted_at, demotion_reason";
const CERT_COLS: &str = "app, category, passed, inputs_hash, scenarios, failures, certified_at";
const SEND_COLS: &str = "run_id, app, category, conversation_id, marker, status, front_message, \
                         gate, created_at, sent_at";

fn get<T>(row: &AnyRow, col: &str) -> R<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn json(row: &AnyRow, col: &str) -> R<serde_json::Value> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn mode_row(r: &AnyRow) -> R<ModeRow> {
    let mode: String = get(r, "mode")?;
    Ok(ModeRow {
        app: get(r, "app")?,
        category: get(r, "category")?,
        mode: Mode::parse(&mode).ok_or_else(|| corrupt(format!("column mode: {mode:?}")))?,
        reason: get(r, "reason")?,
        changed_by: get(r, "changed_by")?,
        changed_at: get(r, "changed_at")?,
        demoted_at: get(r, "demoted_at")?,
        demotion_reason: get(r, "demotion_reason")?,
    })
}

fn cert_row(r: &AnyRow) -> R<CertificateRow> {
    Ok(CertificateRow {
        app: get(r, "app")?,
        category: get(r, "category")?,
        passed: get::<i64>(r, "passed")? != 0,
        inputs_hash: get(r, "inputs_hash")?,
        scenarios: get(r, "scenarios")?,
        failures: json(r, "failures")?,
        certified_at: get(r, "certified_at")?,
    })
}

fn send_row(r: &AnyRow) -> R<AutoSendRow> {
    Ok(AutoSendRow {
        run_id: get(r, "run_id")?,
        app: get(r, "app")?,
        category: get(r, "category")?,
        conversation_id: get(r, "conversation_id")?,
        marker: get(r, "marker")?,
        status: rows::parsed(r, "status", AutoSendStatus::parse)?,
        front_message: get(r, "front_message")?,
        gate: json(r, "gate")?,
        created_at: get(r, "created_at")?,
        sent_at: get(r, "sent_at")?,
    })
}

#[async_trait]
impl AutoSendStore for Db {
    async fn put_mode(&self, m: &ModeRow) -> R<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO autosend_modes ({MODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (app, category) DO UPDATE SET mode = excluded.mode, \
             reason = excluded.reason, changed_by = excluded.changed_by, \
             changed_at = excluded.changed_at, demoted_at = excluded.demoted_at, \
             demotion_reason = excluded.demotion_reason"
        )))
        .bind(&m.app)
        .bind(&m.category)
        .bind(m.mode.as_str())
        .bind(&m.reason)
        .bind(&m.changed_by)
        .bind(m.changed_at)
        .bind(m.demoted_at)
        .bind(&m.demotion_reason)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_mode(&self, app: &str, category: &str) -> R<Option<ModeRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MODE_COLS} FROM autosend_modes WHERE app = $1 AND category = $2"
        )))
        .bind(app)
        .bind(category)
        .fetch_optional(&self.write)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(mode_row)
        .transpose()
    }

    async fn list_modes(&self, app: Option<&str>) -> R<Vec<ModeRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MODE_COLS} FROM autosend_modes WHERE ($1 IS NULL OR app = $1) \
             ORDER BY app, category"
        )))
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(mode_row)
        .collect()
    }

    async fn put_certificate(&self, c: &CertificateRow) -> R<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO autosend_certificates ({CERT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (app, category) DO UPDATE SET passed = excluded.passed, \
             inputs_hash = excluded.inputs_hash, scenarios = excluded.scenarios, \
             failures = excluded.failures, certified_at = excluded.certified_at"
        )))
        .bind(&c.app)
        .bind(&c.category)
        .bind(i64::from(c.passed))
        .bind(&c.inputs_hash)
        .bind(c.scenarios)
        .bind(c.failures.to_string())
        .bind(c.certified_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_certificate(&self, app: &str, category: &str) -> R<Option<CertificateRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CERT_COLS} FROM autosend_certificates WHERE app = $1 AND category = $2"
        )))
        .bind(app)
        .bind(category)
        .fetch_optional(&self.write)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(cert_row)
        .transpose()
    }

    async fn list_certificates(&self, app: Option<&str>) -> R<Vec<CertificateRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CERT_COLS} FROM autosend_certificates WHERE ($1 IS NULL OR app = $1) \
             ORDER BY app, category"
        )))
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(cert_row)
        .collect()
    }

    async fn put_switch(&self, s: &SwitchRow) -> R<()> {
        sqlx::query(
            "INSERT INTO autosend_switches (scope, enabled, reason, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope) DO UPDATE SET \
             enabled = excluded.enabled, reason = excluded.reason, \
             changed_by = excluded.changed_by, changed_at = excluded.changed_at",
        )
        .bind(&s.scope)
        .bind(i64::from(s.enabled))
        .bind(&s.reason)
        .bind(&s.changed_by)
        .bind(s.changed_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn list_switches(&self) -> R<Vec<SwitchRow>> {
        sqlx::query(
            "SELECT scope, enabled, reason, changed_by, changed_at FROM autosend_switches \
             ORDER BY scope",
        )
        .fetch_all(&self.write)
        .await
        .map_err(backend_err)?
        .iter()
        .map(|r| {
            Ok(SwitchRow {
                scope: get(r, "scope")?,
                enabled: get::<i64>(r, "enabled")? != 0,
                reason: get(r, "reason")?,
                changed_by: get(r, "changed_by")?,
                changed_at: get(r, "changed_at")?,
            })
        })
        .collect()
    }

    async fn record_send_intent(&self, s: &AutoSendRow) -> R<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO autosend_sends ({SEND_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_id) DO NOTHING"
        )))
        .bind(&s.run_id)
        .bind(&s.app)
        .bind(&s.category)
        .bind(&s.conversation_id)
        .bind(&s.marker)
        .bind(s.status.as_str())
        .bind(&s.front_message)
        .bind(s.gate.to_string())
        .bind(s.created_at)
        .bind(s.sent_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_send(&self, run_id: &str) -> R<Option<AutoSendRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SEND_COLS} FROM autosend_sends WHERE run_id = $1"
        )))
        .bind(run_id)
        .fetch_optional(&self.write)
        .await
        .map_err(backend_err)?
        .as_ref()
        .map(send_row)
        .transpose()
    }

    async fn mark_sent(&self, run_id: &str, front_message: &str, at: Millis) -> R<()> {
        sqlx::query(
            "UPDATE autosend_sends SET status = 'sent', front_message = $1, sent_at = $2 \
             WHERE run_id = $3",
        )
        .bind(front_message)
        .bind(at)
        .bind(run_id)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn sends_for_conversation(&self, conversation_id: &str) -> R<Vec<AutoSendRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SEND_COLS} FROM autosend_sends WHERE conversation_id = $1 \
             ORDER BY created_at, run_id"
        )))
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(send_row)
        .collect()
    }
}
