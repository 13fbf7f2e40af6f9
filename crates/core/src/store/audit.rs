//! The hash-chained audit log and its archives.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// What to record. `kind` is dotted, e.g. `route.decided`, `tool.called`, `webhook.ignored`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub kind: String,
    pub app: Option<String>,
    pub conversation_id: Option<String>,
    /// Who did it: `system`, `agent`, `user:<email>`, `slack:<id>`, `token:<name>`.
    pub actor: String,
    pub trace_id: Option<String>,
    pub data: Value,
}

impl AuditEvent {
    pub fn new(kind: impl Into<String>, actor: impl Into<String>, data: Value) -> Self {
        Self {
            kind: kind.into(),
            app: None,
            conversation_id: None,
            actor: actor.into(),
            trace_id: None,
            data,
        }
    }

    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    pub fn conversation(mut self, id: impl Into<String>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    pub fn trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Millis,
    pub kind: String,
    pub app: Option<String>,
    pub conversation_id: Option<String>,
    pub actor: String,
    pub trace_id: Option<String>,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// One `skill audit archive`: rows `from_seq..=through_seq` were exported and deleted; the
/// remaining chain starts from `through_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditArchiveRow {
    pub through_seq: i64,
    pub through_hash: String,
    pub from_seq: i64,
    pub row_count: i64,
    /// The `--before` bound: every archived row was written before it.
    pub before_at: Millis,
    pub archived_at: Millis,
    pub actor: String,
}

/// Audit filter for the JSON API. `after_seq` is the cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub app: Option<String>,
    pub conversation_id: Option<String>,
    pub kind: Option<String>,
    pub after_seq: i64,
    pub limit: i64,
}

/// The hash-chained audit log and its archives.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, ev: &AuditEvent) -> StoreResult<AuditRecord>;
    /// Rows with `seq > after_seq`, oldest first.
    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// The newest `(seq, hash)` as the chain head recorded it.
    async fn audit_head(&self) -> StoreResult<(i64, String)>;
    /// Where the remaining chain starts: `(seq, hash)` of the newest archived row, or
    /// `(0, GENESIS)` when nothing was ever archived.
    async fn audit_genesis(&self) -> StoreResult<(i64, String)>;
    /// The recorded archives, oldest first.
    async fn list_audit_archives(&self) -> StoreResult<Vec<AuditArchiveRow>>;
    /// In one transaction: record `archive`, delete the rows it covers, and append `ev` (the
    /// archive's own audit entry). `Conflict` when the row at `archive.through_seq` does not
    /// have `archive.through_hash` or the range does not start at the current genesis.
    async fn archive_audit(
        &self,
        archive: &AuditArchiveRow,
        ev: &AuditEvent,
    ) -> StoreResult<AuditRecord>;
}
