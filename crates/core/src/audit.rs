//! The audit trail: append-only and hash-chained.
//!
//! Each row stores `hash = sha256(prev_hash ‖ canonical_row)`, where `canonical_row` is the row
//! (without its hash) as JSON with sorted keys. Editing or deleting any row breaks the chain,
//! and [`verify`] finds where.

use crate::store::{Store, StoreError};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(canonical_json)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => other.to_string(),
    }
}

/// The canonical form of a row, everything but its own hash.
pub fn canonical_row(seq: i64, at: Millis, ev: &AuditEvent, prev_hash: &str) -> String {
    canonical_json(&serde_json::json!({
        "seq": seq,
        "at": at,
        "kind": ev.kind,
        "app": ev.app,
        "conversation_id": ev.conversation_id,
        "actor": ev.actor,
        "trace_id": ev.trace_id,
        "data": ev.data,
        "prev_hash": prev_hash,
    }))
}

/// `sha256(prev_hash ‖ canonical_row)` as hex.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut buf = Vec::with_capacity(prev_hash.len() + canonical.len());
    buf.extend_from_slice(prev_hash.as_bytes());
    buf.extend_from_slice(canonical.as_bytes());
    crate::crypto::sha256_hex(&buf)
}

/// Where the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit row {seq} was altered: its hash does not match its contents")]
    Altered { seq: i64 },
    #[error("audit row {seq} does not link to the row before it (a row was removed or reordered)")]
    Unlinked { seq: i64 },
    #[error("audit rows are missing: expected seq {expected}, found {found}")]
    Gap { expected: i64, found: i64 },
    #[error(
        "the newest audit rows were removed: the head says {head_seq}, the log ends at {last_seq}"
    )]
    Truncated { head_seq: i64, last_seq: i64 },
    #[error("store error while verifying: {0}")]
    Store(String),
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub rows: i64,
    pub head_hash: String,
}

impl AuditRecord {
    fn event(&self) -> AuditEvent {
        AuditEvent {
            kind: self.kind.clone(),
            app: self.app.clone(),
            conversation_id: self.conversation_id.clone(),
            actor: self.actor.clone(),
            trace_id: self.trace_id.clone(),
            data: self.data.clone(),
        }
    }
}

/// Walk the whole chain, page by page, and check every link and hash against the head.
pub async fn verify(store: &dyn Store) -> Result<ChainReport, ChainError> {
    let store_err = |e: StoreError| ChainError::Store(e.to_string());
    let mut prev = GENESIS.to_string();
    let mut expected = 1i64;
    loop {
        let page = store
            .audit_page(expected - 1, 500)
            .await
            .map_err(store_err)?;
        if page.is_empty() {
            break;
        }
        for r in page {
            if r.seq != expected {
                return Err(ChainError::Gap {
                    expected,
                    found: r.seq,
                });
            }
            if r.prev_hash != prev {
                return Err(ChainError::Unlinked { seq: r.seq });
            }
            let want = chain_hash(&prev, &canonical_row(r.seq, r.at, &r.event(), &r.prev_hash));
            if want != r.hash {
                return Err(ChainError::Altered { seq: r.seq });
            }
            prev = r.hash;
            expected += 1;
        }
    }
    let last_seq = expected - 1;
    let (head_seq, head_hash) = store.audit_head().await.map_err(store_err)?;
    if head_seq != last_seq || head_hash != prev {
        return Err(ChainError::Truncated { head_seq, last_seq });
    }
    Ok(ChainReport {
        rows: last_seq,
        head_hash: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_deeply() {
        let v = serde_json::json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "é"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"é","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn hash_depends_on_prev_and_row() {
        let ev = AuditEvent::new(
            "route.decided",
            "system",
            serde_json::json!({"route": "silence"}),
        );
        let row = canonical_row(1, 10, &ev, GENESIS);
        let h1 = chain_hash(GENESIS, &row);
        assert_eq!(h1.len(), 64);
        assert_ne!(h1, chain_hash(&"1".repeat(64), &row));
        let ev2 = AuditEvent::new(
            "route.decided",
            "system",
            serde_json::json!({"route": "respond"}),
        );
        assert_ne!(
            h1,
            chain_hash(GENESIS, &canonical_row(1, 10, &ev2, GENESIS))
        );
    }
}
