//! The admin pages' queries (approvals queue, audit search and export, dead letters): keyset
//! pages over indexed columns, never a scan of a whole table.
//!
//! Indexes (migration `20261206000300_dashboard_admin`): `audit_log_kind (kind, seq)`,
//! `audit_log_actor (actor, seq)`, `audit_log_at (at, seq)` next to the existing
//! `audit_log_app (app, seq)` and `audit_log_conversation (conversation_id, seq)`;
//! `approvals_decided (decided_at, id)` next to `approvals_status (status, created_at)`;
//! `dead_letters_created (created_at, id)`.

use super::{ActionRow, ApprovalRow, ApprovalVote, AuditRecord, DeadLetter, StoreResult};
use crate::time::Millis;
use async_trait::async_trait;

/// The dashboard's audit filter. Every field is optional; dates are `[from, to)` in Unix ms.
///
/// A date range is first turned into a `seq` range through `audit_log_at` (the log is stamped
/// while its head row is locked, so `at` does not decrease along `seq`), then the rows are
/// read by the index of the most selective other filter within that range, `at` checked too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub app: Option<String>,
    pub actor: Option<String>,
    pub conversation_id: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

/// Where an audit page starts: the newest rows, rows older than a seq ("Older"), or rows
/// newer than a seq ("Newer").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SeqCursor {
    #[default]
    Newest,
    Before(i64),
    After(i64),
}

/// A keyset position in a list ordered by a time and an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: Millis,
    pub id: String,
}

/// A page of a keyset list, in the list's own order: the first page, the rows after a row
/// (further down the list) or the rows before it (further up; still returned in the list's
/// order). "Before" is what a pager's link back one page asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ListPage {
    #[default]
    First,
    After(TimeCursor),
    Before(TimeCursor),
}

/// Which approvals the queue lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalsQuery {
    /// `false`: pending, oldest first (by `created_at`, `id`); `true`: approved, rejected and
    /// expired, most recently decided first (by `decided_at`, `id`).
    pub decided: bool,
    /// Only approvals of this app's actions.
    pub app: Option<String>,
    pub page: ListPage,
    pub limit: i64,
}

/// The admin pages' store queries (approvals, audit, dead letters), on both databases.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// A page of audit rows matching `q`, newest first (whatever the cursor's direction).
    async fn audit_search(
        &self,
        q: &AuditQuery,
        cursor: SeqCursor,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Rows matching `q` with `seq > after_seq`, oldest first: one batch of an export.
    async fn audit_export_batch(
        &self,
        q: &AuditQuery,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Pending approvals, oldest first, after `after` (`created_at`, `id`).
    async fn pending_approvals_page(
        &self,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>>;

    /// Decided approvals (approved, rejected, expired), most recently decided first, before
    /// `before` (`decided_at`, `id`).
    async fn decided_approvals_page(
        &self,
        before: Option<&TimeCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>>;

    /// A page of the approvals queue (see [`ApprovalsQuery`]), in the list's order.
    async fn approvals_list(&self, q: &ApprovalsQuery) -> StoreResult<Vec<ApprovalRow>>;

    /// A page of dead letters, newest first (resolved ones too when `include_resolved`).
    async fn dead_letters_list(
        &self,
        include_resolved: bool,
        page: &ListPage,
        limit: i64,
    ) -> StoreResult<Vec<DeadLetter>>;

    /// The actions with these ids (any order; missing ids are left out).
    async fn actions_by_ids(&self, ids: &[String]) -> StoreResult<Vec<ActionRow>>;

    /// The votes of these approvals, oldest first.
    async fn votes_of_approvals(&self, approval_ids: &[String]) -> StoreResult<Vec<ApprovalVote>>;

    /// Dead letters, newest first, before `before` (`created_at`, `id`); resolved ones too
    /// when `include_resolved`.
    async fn dead_letters_page(
        &self,
        include_resolved: bool,
        before: Option<&TimeCursor>,
        limit: i64,
    ) -> StoreResult<Vec<DeadLetter>>;
}
