//! Automatic sending's state: the mode of each app × category (with the last demotion and
//! why), eval certificates, the kill switches, and each automatic send's intent (recorded
//! before the message goes to Front, so a retry checks Front for our marker instead of sending
//! twice).

use super::{AutoSendStatus, StoreResult};
use crate::autosend::Mode;
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The mode of one app × category. No row: `draft`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeRow {
    pub app: String,
    pub category: String,
    pub mode: Mode,
    /// Why it was last changed (a demotion's reason, a promotion's gate).
    pub reason: Option<String>,
    /// Who changed it (`system` for demotions, `cli:<user>`).
    pub changed_by: String,
    pub changed_at: Millis,
    /// The last demotion, when there was one.
    pub demoted_at: Option<Millis>,
    pub demotion_reason: Option<String>,
}

/// An eval certificate of one app × category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateRow {
    pub app: String,
    pub category: String,
    pub passed: bool,
    /// `autosend::certificate::inputs_hash` of the inputs it was run with.
    pub inputs_hash: String,
    pub scenarios: i64,
    pub failures: serde_json::Value,
    pub certified_at: Millis,
}

/// A kill switch: `scope` is `*` (every app) or an app slug.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchRow {
    pub scope: String,
    pub enabled: bool,
    pub reason: Option<String>,
    pub changed_by: String,
    pub changed_at: Millis,
}

/// One automatic send, keyed by the run: `intent` before Front is called, `sent` after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoSendRow {
    pub run_id: String,
    pub app: String,
    pub category: String,
    pub conversation_id: String,
    /// `workflow::draft::draft_marker(run_id)`, in the sent body.
    pub marker: String,
    pub status: AutoSendStatus,
    /// Front's `message_uid` (202 answer) or the message id found by the marker.
    pub front_message: Option<String>,
    /// The gate's report at the moment of sending.
    pub gate: serde_json::Value,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

#[async_trait]
pub trait AutoSendStore: Send + Sync {
    async fn put_mode(&self, m: &ModeRow) -> StoreResult<()>;
    async fn get_mode(&self, app: &str, category: &str) -> StoreResult<Option<ModeRow>>;
    async fn list_modes(&self, app: Option<&str>) -> StoreResult<Vec<ModeRow>>;
    /// Replace the certificate of `(app, category)`.
    async fn put_certificate(&self, c: &CertificateRow) -> StoreResult<()>;
    async fn get_certificate(
        &self,
        app: &str,
        category: &str,
    ) -> StoreResult<Option<CertificateRow>>;
    async fn list_certificates(&self, app: Option<&str>) -> StoreResult<Vec<CertificateRow>>;
    async fn put_switch(&self, s: &SwitchRow) -> StoreResult<()>;
    async fn list_switches(&self) -> StoreResult<Vec<SwitchRow>>;
    /// Record the intent of a send; `false` when the run has one already (nothing written).
    async fn record_send_intent(&self, s: &AutoSendRow) -> StoreResult<bool>;
    async fn get_send(&self, run_id: &str) -> StoreResult<Option<AutoSendRow>>;
    /// Mark the run's send done.
    async fn mark_sent(&self, run_id: &str, front_message: &str, at: Millis) -> StoreResult<()>;
    /// The automatic sends of a conversation, oldest first.
    async fn sends_for_conversation(&self, conversation_id: &str) -> StoreResult<Vec<AutoSendRow>>;
}
