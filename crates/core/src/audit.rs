//! The audit trail: append-only and hash-chained.
//!
//! Each row stores `hash = sha256(prev_hash ‖ canonical_row)`, where `canonical_row` is the row
//! (without its hash) as JSON with sorted keys. Editing or deleting any row breaks the chain,
//! and [`verify`] finds where.
//!
//! The log is pruned only by an explicit archive (`skill audit archive --before DATE`):
//! [`plan_archive`] picks the rows written before the date (after verifying the chain),
//! [`write_archive`] exports them as JSON lines under a header with the range's head hash,
//! and [`commit_archive`] records the archive, deletes the rows and appends an
//! `audit.archived` entry in one transaction. [`verify`] then starts from the recorded genesis
//! (the last archived row's hash) instead of [`GENESIS`]; [`verify_archive`] checks a file.

use crate::store::{Store, StoreError};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The audit row types live beside the storage port that persists them ([`crate::store`]).
pub use crate::store::{AuditEvent, AuditRecord};

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
    #[error(
        "the audit log starts after seq {seq}, but no `audit.archived` entry in it records that start"
    )]
    UnrecordedGenesis { seq: i64 },
    #[error("store error while verifying: {0}")]
    Store(String),
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Rows verified (those after the genesis).
    pub rows: i64,
    pub head_hash: String,
    /// Where the chain starts: `0` and [`GENESIS`], or the newest archive's last row.
    pub genesis_seq: i64,
    pub genesis_hash: String,
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

    /// Whether the row's hash matches its contents and `prev_hash`.
    pub fn hash_is_valid(&self) -> bool {
        chain_hash(
            &self.prev_hash,
            &canonical_row(self.seq, self.at, &self.event(), &self.prev_hash),
        ) == self.hash
    }
}

/// Walk the whole chain, page by page, from the recorded genesis (see [`archive`]), and check
/// every link and hash against the head. After an archive, the remaining chain must also hold
/// the `audit.archived` entry that recorded its genesis.
///
/// The head is read first and the walk stops at it: an entry appended while the walk runs
/// (the platform keeps writing) is left for the next check instead of reading as a truncation.
pub async fn verify(store: &dyn Store) -> Result<ChainReport, ChainError> {
    let store_err = |e: StoreError| ChainError::Store(e.to_string());
    let (head_seq, head_hash) = store.audit_head().await.map_err(store_err)?;
    let (genesis_seq, genesis_hash) = store.audit_genesis().await.map_err(store_err)?;
    let mut prev = genesis_hash.clone();
    let mut expected = genesis_seq + 1;
    let mut genesis_recorded = genesis_seq == 0 && genesis_hash == GENESIS;
    'walk: loop {
        let page = store
            .audit_page(expected - 1, 500)
            .await
            .map_err(store_err)?;
        if page.is_empty() {
            break;
        }
        for r in page {
            if r.seq > head_seq {
                break 'walk;
            }
            if r.seq != expected {
                return Err(ChainError::Gap {
                    expected,
                    found: r.seq,
                });
            }
            if r.prev_hash != prev {
                return Err(ChainError::Unlinked { seq: r.seq });
            }
            if !r.hash_is_valid() {
                return Err(ChainError::Altered { seq: r.seq });
            }
            if r.kind == ARCHIVED_KIND
                && r.data["through_seq"] == genesis_seq
                && r.data["through_hash"] == genesis_hash.as_str()
            {
                genesis_recorded = true;
            }
            prev = r.hash;
            expected += 1;
        }
    }
    let last_seq = expected - 1;
    if head_seq != last_seq || head_hash != prev {
        return Err(ChainError::Truncated { head_seq, last_seq });
    }
    if !genesis_recorded {
        return Err(ChainError::UnrecordedGenesis { seq: genesis_seq });
    }
    Ok(ChainReport {
        rows: last_seq - genesis_seq,
        head_hash: prev,
        genesis_seq,
        genesis_hash,
    })
}

// ---- archive ----

/// The audit kind of an archive's own entry.
pub const ARCHIVED_KIND: &str = "audit.archived";
/// The first line of an archive file names its format.
pub const ARCHIVE_FORMAT: &str = "support-audit-archive/1";

/// What an archive covers: the first line of the file (`{"archive": {...}}`), followed by one
/// [`AuditRecord`] per line, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    pub format: String,
    pub from_seq: i64,
    pub through_seq: i64,
    pub rows: i64,
    /// The hash the first archived row links to (the genesis before this archive).
    pub prev_hash: String,
    /// The hash of the last archived row: the genesis of the remaining chain.
    pub head_hash: String,
    /// Every archived row was written before this time (Unix ms).
    pub before: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the audit chain does not verify, so it cannot be archived: {0}")]
    Chain(#[from] ChainError),
    #[error("store error while archiving: {0}")]
    Store(String),
    #[error("cannot write the archive: {0}")]
    Io(String),
    #[error("the archive file is invalid: {0}")]
    Invalid(String),
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// What `skill audit archive --before` would archive: the rows from the current genesis up to
/// the last one written before `before` (stopping at the first row written later), after the
/// whole chain verified. `None` when there is nothing to archive.
pub async fn plan_archive(
    store: &dyn Store,
    before: Millis,
) -> Result<Option<ArchiveHeader>, ArchiveError> {
    let report = verify(store).await?;
    let mut after = report.genesis_seq;
    let mut head = report.genesis_hash.clone();
    'pages: loop {
        let page = store.audit_page(after, 500).await?;
        if page.is_empty() {
            break;
        }
        for r in page {
            if r.at >= before {
                break 'pages;
            }
            after = r.seq;
            head = r.hash;
        }
    }
    if after == report.genesis_seq {
        return Ok(None);
    }
    Ok(Some(ArchiveHeader {
        format: ARCHIVE_FORMAT.into(),
        from_seq: report.genesis_seq + 1,
        through_seq: after,
        rows: after - report.genesis_seq,
        prev_hash: report.genesis_hash,
        head_hash: head,
        before,
    }))
}

/// Write the archive of `plan` (header line, then the rows) to `out`. Returns the SHA-256 of
/// what was written (recorded in the archive's audit entry).
pub async fn write_archive(
    store: &dyn Store,
    plan: &ArchiveHeader,
    out: &mut (dyn std::io::Write + Send),
) -> Result<String, ArchiveError> {
    use sha2::Digest;
    let io = |e: std::io::Error| ArchiveError::Io(e.to_string());
    let mut digest = sha2::Sha256::new();
    let mut line = |out: &mut (dyn std::io::Write + Send), v: &Value| -> Result<(), ArchiveError> {
        let mut text = serde_json::to_string(v).map_err(|e| ArchiveError::Io(e.to_string()))?;
        text.push('\n');
        digest.update(text.as_bytes());
        out.write_all(text.as_bytes()).map_err(io)
    };
    line(out, &serde_json::json!({ "archive": plan }))?;
    let mut after = plan.from_seq - 1;
    let mut prev = plan.prev_hash.clone();
    while after < plan.through_seq {
        let page = store
            .audit_page(after, 500.min(plan.through_seq - after))
            .await?;
        if page.is_empty() {
            break;
        }
        for r in page {
            if r.seq != after + 1 || r.prev_hash != prev || !r.hash_is_valid() {
                return Err(ArchiveError::Chain(ChainError::Unlinked { seq: r.seq }));
            }
            let v = serde_json::to_value(&r).map_err(|e| ArchiveError::Io(e.to_string()))?;
            line(out, &v)?;
            after = r.seq;
            prev = r.hash;
        }
    }
    if after != plan.through_seq || prev != plan.head_hash {
        return Err(ArchiveError::Store(format!(
            "the audit log changed while archiving (ended at seq {after})"
        )));
    }
    out.flush().map_err(io)?;
    Ok(hex::encode(digest.finalize()))
}

/// Record the archive, delete the rows it covers and append its `audit.archived` entry, in one
/// transaction. Call after the file is written and synced.
pub async fn commit_archive(
    store: &dyn Store,
    plan: &ArchiveHeader,
    actor: &str,
    file: Option<&str>,
    file_sha256: &str,
    now: Millis,
) -> Result<AuditRecord, ArchiveError> {
    let row = crate::store::AuditArchiveRow {
        through_seq: plan.through_seq,
        through_hash: plan.head_hash.clone(),
        from_seq: plan.from_seq,
        row_count: plan.rows,
        before_at: plan.before,
        archived_at: now,
        actor: actor.to_string(),
    };
    let ev = AuditEvent::new(
        ARCHIVED_KIND,
        actor,
        serde_json::json!({
            "from_seq": plan.from_seq,
            "through_seq": plan.through_seq,
            "rows": plan.rows,
            "prev_hash": plan.prev_hash,
            "through_hash": plan.head_hash,
            "before": plan.before,
            "file": file,
            "file_sha256": file_sha256,
        }),
    );
    Ok(store.archive_audit(&row, &ev).await?)
}

/// Check an archive file on its own: the header, every row's hash and link, from the header's
/// `prev_hash` to its `head_hash`.
pub fn verify_archive(input: impl std::io::BufRead) -> Result<ArchiveHeader, ArchiveError> {
    let bad = |m: String| ArchiveError::Invalid(m);
    let mut lines = input.lines();
    let first = lines
        .next()
        .ok_or_else(|| bad("the file is empty".into()))?
        .map_err(|e| ArchiveError::Io(e.to_string()))?;
    let v: Value = serde_json::from_str(&first).map_err(|e| bad(format!("line 1: {e}")))?;
    let header: ArchiveHeader = serde_json::from_value(v["archive"].clone())
        .map_err(|e| bad(format!("line 1 is not an archive header: {e}")))?;
    if header.format != ARCHIVE_FORMAT {
        return Err(bad(format!("unknown format {:?}", header.format)));
    }
    let mut prev = header.prev_hash.clone();
    let mut expected = header.from_seq;
    for (i, l) in lines.enumerate() {
        let l = l.map_err(|e| ArchiveError::Io(e.to_string()))?;
        let r: AuditRecord =
            serde_json::from_str(&l).map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        if r.seq != expected {
            return Err(ArchiveError::Chain(ChainError::Gap {
                expected,
                found: r.seq,
            }));
        }
        if r.prev_hash != prev {
            return Err(ArchiveError::Chain(ChainError::Unlinked { seq: r.seq }));
        }
        if !r.hash_is_valid() {
            return Err(ArchiveError::Chain(ChainError::Altered { seq: r.seq }));
        }
        prev = r.hash;
        expected += 1;
    }
    if expected - 1 != header.through_seq || prev != header.head_hash {
        return Err(ArchiveError::Chain(ChainError::Truncated {
            head_seq: header.through_seq,
            last_seq: expected - 1,
        }));
    }
    Ok(header)
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
