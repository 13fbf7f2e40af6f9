//! What the dashboard reads and the workflow records for it: the drafts we write, each
//! conversation's latest route decision (so the list can filter on it), the conversation list
//! with filters and keyset pagination, the assembled detail of one conversation (a fixed number
//! of queries, never one per row) and the overview's counts.

use super::{
    ActionRow, ApprovalRow, AuditRecord, ConversationRow, DeadLetter, MessageRow, RunStatus,
    StepKind, StepStatus, StoreResult,
};
use crate::pipeline::router::RouteAction;
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A reply we drafted in Front: the text, the run that wrote it, the knowledge it used and,
/// once known, what was actually sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftRow {
    pub id: String,
    /// The Front conversation id.
    pub conversation_id: String,
    pub app: Option<String>,
    /// The run that wrote it (one draft per run).
    pub run_id: String,
    /// Front's id of the draft, when known.
    pub front_draft_id: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// The knowledge the draft was based on (a JSON array; empty until retrieval records it).
    pub knowledge_sources: Value,
    pub created_at: Millis,
    /// What was sent in the end (the learning loop fills it in).
    pub sent_text: Option<String>,
    pub sent_at: Option<Millis>,
}

/// A conversation's latest route decision as the list filters on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteSummary {
    pub action: RouteAction,
    pub category: String,
    /// `angry`, `legal`, `injection`.
    pub flags: Vec<String>,
}

/// Where a page of the conversation list starts: strictly older or strictly newer than the
/// row `(updated_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageCursor {
    Older { updated_at: Millis, id: String },
    Newer { updated_at: Millis, id: String },
}

/// Which conversations to list (newest activity first). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    pub app: Option<String>,
    pub status: Option<String>,
    pub route_action: Option<String>,
    pub category: Option<String>,
    /// A tag (`urgent`, `needs-human`, `instructor`), `any` (escalated) or `none`.
    pub escalation: Option<String>,
    /// A route flag (`angry`, `legal`, `injection`).
    pub flag: Option<String>,
    /// `updated_at >= from`.
    pub from: Option<Millis>,
    /// `updated_at < to`.
    pub to: Option<Millis>,
    /// With an `@`: the customer's email (exact, lower-cased); otherwise a subject substring.
    pub q: Option<String>,
    pub cursor: Option<PageCursor>,
    /// Page size (clamped to 1..=200).
    pub limit: i64,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation: ConversationRow,
    pub route: Option<RouteSummary>,
}

/// A page of the list, newest first, with the cursors of the neighbouring pages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationPage {
    pub items: Vec<ConversationSummary>,
    /// Set when newer rows may exist: `Newer` from the first row.
    pub newer: Option<PageCursor>,
    /// Set when older rows exist: `Older` from the last row.
    pub older: Option<PageCursor>,
}

/// A run of the durable runner, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub function_id: String,
    pub status: RunStatus,
    /// Retries so far.
    pub attempt: i64,
    pub error: Option<String>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
}

/// One memoized step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStepRow {
    pub run_id: String,
    pub name: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub attempt: i64,
    pub started_at: Millis,
    pub ended_at: Millis,
    /// The recorded error of a step that failed or is retrying (never a completed step's result).
    pub error: Option<Value>,
}

/// Everything the detail page of one conversation shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationDetail {
    pub conversation: Option<ConversationRow>,
    pub route: Option<RouteSummary>,
    pub messages: Vec<MessageRow>,
    pub drafts: Vec<DraftRow>,
    pub actions: Vec<ActionRow>,
    pub approvals: Vec<ApprovalRow>,
    /// Dead letters about its actions and runs.
    pub dead_letters: Vec<DeadLetter>,
    /// The conversation's newest audit entries (at most [`DETAIL_AUDIT_LIMIT`]), oldest first.
    pub audit: Vec<AuditRecord>,
    /// The runs that worked on it (named by its audit entries and drafts), newest first.
    pub runs: Vec<RunSummary>,
    /// Their steps, by run then start time.
    pub steps: Vec<RunStepRow>,
}

/// How many audit entries the detail reads.
pub const DETAIL_AUDIT_LIMIT: i64 = 500;
/// How many runs the detail reads.
pub const DETAIL_RUN_LIMIT: usize = 20;

/// The overview's counts.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OverviewCounts {
    pub pending_approvals: i64,
    /// Escalated `urgent` and not solved or closed.
    pub urgent_escalations: i64,
    pub open_dead_letters: i64,
    /// Runs that failed for good since `since`.
    pub failed_runs: i64,
    /// Runs waiting for a retry now.
    pub retrying_runs: i64,
    /// Conversations created since the start of each of the last 7 days, newest day first:
    /// `per_day[0]` is today.
    pub per_day: Vec<i64>,
}

#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// Record a draft; `false` (and nothing written) when the run already has one.
    async fn insert_draft(&self, d: &DraftRow) -> StoreResult<bool>;
    /// The drafts of a conversation, oldest first.
    async fn list_drafts(&self, conversation_id: &str) -> StoreResult<Vec<DraftRow>>;
    /// Record what was sent for a run's draft; `false` when the run has no draft.
    async fn set_draft_sent(&self, run_id: &str, text: &str, at: Millis) -> StoreResult<bool>;
    /// Remember a conversation's latest route decision (its `updated_at` is left alone).
    async fn set_conversation_route(&self, front_id: &str, route: &RouteSummary)
    -> StoreResult<()>;
    /// A page of the conversation list (keyset pagination on `(updated_at, id)`).
    async fn conversation_page(&self, f: &ConversationFilter) -> StoreResult<ConversationPage>;
    /// The detail of the conversation with Front id `front_id` (`conversation: None` when there
    /// is none).
    async fn conversation_detail(&self, front_id: &str) -> StoreResult<ConversationDetail>;
    /// Counts for the overview: `day_starts` are the starts of the last 7 days (today first);
    /// `failed_since` bounds the failed runs.
    async fn overview_counts(
        &self,
        day_starts: &[Millis],
        failed_since: Millis,
    ) -> StoreResult<OverviewCounts>;
    /// The newest runs that failed for good.
    async fn failed_runs(&self, limit: i64) -> StoreResult<Vec<RunSummary>>;
    /// The newest audit entry of `kind` (of `app`, when given; whose JSON data contains
    /// `data_contains`, when given, looking at the newest `scan` entries of the kind only).
    async fn latest_audit_of(
        &self,
        kind: &str,
        app: Option<&str>,
        data_contains: Option<&str>,
        scan: i64,
    ) -> StoreResult<Option<AuditRecord>>;
    /// The SDK endpoint health of `app`: its newest successful and newest failed `tool.called`
    /// audit entries, kept by the store as the entries are appended (`sdk_endpoint_health`).
    /// An entry archived since reads as `None`.
    async fn sdk_endpoint_health(&self, app: &str) -> StoreResult<SdkEndpointHealth>;
}

/// An app's newest successful and newest failed tool call (`tool.called` audit entries).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SdkEndpointHealth {
    pub success: Option<AuditRecord>,
    pub failure: Option<AuditRecord>,
}
