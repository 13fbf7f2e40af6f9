//! The storage port. `crates/store` implements it on SQLite and Postgres; one conformance suite
//! runs against both.

use crate::auth::Role;
use crate::pipeline::inbound::Direction;
use crate::pipeline::tools::{RiskClass, ToolName};
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod sessions;
pub use sessions::*;

mod dashboard;
pub use dashboard::*;

mod status;
pub(crate) use status::string_like;
pub use status::*;

mod admin;
pub use admin::*;

mod plugin;
pub use plugin::*;

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which migrations are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    pub backend: String,
    pub expected: usize,
    pub applied: usize,
    pub pending: Vec<String>,
}

impl MigrationStatus {
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty()
    }
}

/// An onboarded product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub front_inbox_ids: Vec<String>,
    pub sdk_base_url: String,
    /// Sealed with the master key (see `registry`); never plaintext.
    pub secrets_enc: String,
    pub stripe_account: Option<String>,
    pub policy: Value,
    pub capabilities: Value,
    /// `connected`, `disconnected` (e.g. Stripe deauthorized).
    pub status: AppStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub token_hash: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// The user the token acts for (its approvals count as that user's). A token acts with
    /// the lower of its own role and its user's.
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    /// The Slack user linked to this user (`skill users link-slack`): Slack clicks count as
    /// this user's, and only linked Slack users may decide.
    pub slack_user_id: Option<String>,
    pub created_at: Millis,
    /// Set when the user was deactivated: their tokens stop working, their Slack clicks are
    /// refused.
    #[serde(default)]
    pub deactivated_at: Option<Millis>,
}

impl UserRow {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Conversation status as Front and the platform understand it.
pub const CONVERSATION_STATUSES: &[&str] =
    &["new", "open", "pending", "on_hold", "solved", "closed"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub id: String,
    pub front_id: String,
    pub app: Option<String>,
    pub customer_email: Option<String>,
    pub subject: Option<String>,
    pub status: ConversationStatus,
    pub escalation: Option<String>,
    pub escalation_reason: Option<String>,
    pub assignee: Option<String>,
    pub sla_due_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRow {
    pub id: String,
    pub front_id: String,
    pub conversation_id: String,
    /// `inbound` or `outbound`.
    pub direction: Direction,
    pub author: Option<String>,
    /// Plain text body; `None` once purged.
    pub body: Option<String>,
    /// The raw (HTML) body; `None` once purged.
    pub raw_body: Option<String>,
    pub sent_at: Millis,
    pub purged_at: Option<Millis>,
}

pub const ACTION_STATUSES: &[&str] = &[
    "proposed",
    "pending_approval",
    "approved",
    "rejected",
    "expired",
    "executing",
    "executed",
    "failed",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    pub id: String,
    pub conversation_id: Option<String>,
    pub app: Option<String>,
    /// The tool the action runs.
    pub kind: ToolName,
    pub params: Value,
    pub category: Option<String>,
    pub confidence: Option<f64>,
    pub reasoning: Option<String>,
    /// `read`, `low_impact`, `approval_required`.
    pub risk: RiskClass,
    pub status: ActionStatus,
    pub idempotency_key: String,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub trace_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A change to an action made together with a status transition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionPatch {
    pub params: Option<Value>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub id: String,
    pub action_id: String,
    /// `slack`, `dashboard`, `cli`.
    pub channel: String,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    /// `pending`, `approved`, `rejected`, `expired`.
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub expires_at: Millis,
    pub created_at: Millis,
    pub decided_at: Option<Millis>,
    /// How many different people must approve (1 or 2).
    #[serde(default = "one")]
    pub approvers_required: i64,
    /// The money at stake in minor units, when the action moves money.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    /// The capability token minted when the approval completed (see `capability`).
    #[serde(default)]
    pub capability: Option<String>,
    /// The reply drafted with the request (the Edit modal starts from it).
    #[serde(default)]
    pub draft: Option<String>,
}

fn one() -> i64 {
    1
}

/// One person's approval of an approval that needs several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalVote {
    pub approval_id: String,
    /// How the approver decided (`slack:U…`, `token:<name>`, `cli:<os user>`): a label.
    pub approver: String,
    /// The user who voted (a token's user, a linked Slack user); `None` for the command line
    /// without a user. Votes are unique per user (per label when there is no user).
    #[serde(default)]
    pub user_id: Option<String>,
    /// The identity the caller claimed (recorded, never trusted).
    pub actor: String,
    pub channel: String,
    pub voted_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRow {
    pub app: String,
    pub category: String,
    pub score: f64,
    pub samples: i64,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbDocument {
    pub id: String,
    pub app: String,
    pub title: String,
    pub source: Option<String>,
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbChunk {
    pub id: String,
    pub document_id: String,
    pub app: String,
    pub ordinal: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: String,
    pub app: Option<String>,
    pub name: String,
    /// A pattern the router matches the inbound message against.
    pub trigger: String,
    /// A `{{var}}` template.
    pub body: String,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    /// What died: `run`, `action`, `webhook`.
    pub kind: DeadLetterKind,
    pub ref_id: String,
    pub error: String,
    pub payload: Value,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

/// The state of an idempotency key when an operation starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IdempotencyState {
    /// This caller owns the key now and must complete it.
    Started,
    /// Another attempt started and has not completed.
    InProgress,
    /// Done before: here is the stored result.
    Completed(Value),
}

/// Which rows a retention batch covers: those of one registered app (conversations and actions
/// whose `app` is the slug), or those of no registered app (no app, or an app since removed),
/// which follow the global defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "app")]
pub enum RetentionScope {
    App(String),
    Unowned,
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

/// The storage port.
#[async_trait]
pub trait Store:
    SessionStore + AdminStore + DashboardStore + PluginStore + Send + Sync + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;

    // apps
    async fn insert_app(&self, app: &AppRow) -> StoreResult<()>;
    async fn update_app(&self, app: &AppRow) -> StoreResult<()>;
    async fn get_app(&self, slug: &str) -> StoreResult<Option<AppRow>>;
    async fn find_app_by_inbox(&self, inbox_id: &str) -> StoreResult<Option<AppRow>>;
    async fn list_apps(&self) -> StoreResult<Vec<AppRow>>;
    async fn delete_app(&self, slug: &str) -> StoreResult<bool>;

    // audit
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

    // api tokens, users, sessions
    async fn insert_api_token(&self, t: &ApiTokenRow) -> StoreResult<()>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRow>>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>>;
    async fn revoke_api_token(&self, id: &str, at: Millis) -> StoreResult<bool>;
    async fn upsert_user(&self, u: &UserRow) -> StoreResult<()>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    /// A new user; `Conflict` when the email is taken.
    async fn insert_user(&self, u: &UserRow) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<UserRow>>;
    /// Every user, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<UserRow>>;
    /// The user a Slack user id is linked to.
    async fn find_user_by_slack_id(&self, slack_user_id: &str) -> StoreResult<Option<UserRow>>;
    /// Link (`Some`) or unlink (`None`) a Slack user id; `Conflict` when another user has it.
    /// `false` when there is no such user.
    async fn set_user_slack_id(
        &self,
        user_id: &str,
        slack_user_id: Option<&str>,
    ) -> StoreResult<bool>;
    async fn set_user_role(&self, user_id: &str, role: Role) -> StoreResult<bool>;
    async fn set_user_password(&self, user_id: &str, password_hash: &str) -> StoreResult<bool>;
    /// Deactivate an active user; `false` when there is none or it already was.
    async fn deactivate_user(&self, user_id: &str, at: Millis) -> StoreResult<bool>;
    async fn insert_session(&self, s: &SessionRow) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<SessionRow>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    // webhook dedupe, idempotency, dead letters
    /// `true` when this `(source, event_id)` was not seen before.
    async fn record_webhook_receipt(
        &self,
        source: &str,
        event_id: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn receipt_exists(&self, source: &str, event_id: &str) -> StoreResult<bool>;
    async fn idempotency_begin(
        &self,
        key: &str,
        scope: &str,
        at: Millis,
    ) -> StoreResult<IdempotencyState>;
    async fn idempotency_complete(&self, key: &str, result: &Value, at: Millis) -> StoreResult<()>;
    /// Forget an unfinished key so a later attempt can start again.
    async fn idempotency_abandon(&self, key: &str) -> StoreResult<()>;
    async fn insert_dead_letter(&self, d: &DeadLetter) -> StoreResult<()>;
    async fn list_dead_letters(&self, include_resolved: bool) -> StoreResult<Vec<DeadLetter>>;
    async fn resolve_dead_letter(&self, id: &str, at: Millis) -> StoreResult<bool>;
    async fn get_dead_letter(&self, id: &str) -> StoreResult<Option<DeadLetter>>;
    /// Every letter (resolved ones too) about one action, run or delivery, oldest first.
    async fn dead_letters_of(&self, ref_id: &str) -> StoreResult<Vec<DeadLetter>>;

    // conversations and messages
    async fn upsert_conversation(&self, c: &ConversationRow) -> StoreResult<()>;
    async fn get_conversation(&self, front_id: &str) -> StoreResult<Option<ConversationRow>>;
    async fn list_conversations(
        &self,
        app: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>>;
    async fn upsert_message(&self, m: &MessageRow) -> StoreResult<()>;
    async fn list_messages(&self, conversation_id: &str) -> StoreResult<Vec<MessageRow>>;
    /// Drop bodies of messages sent before `before`; metadata stays. Returns how many.
    async fn purge_message_bodies(&self, before: Millis, at: Millis) -> StoreResult<u64>;
    /// Retention: drop the bodies of at most `limit` messages of `scope` sent before `before`
    /// and not purged yet (oldest first), setting `purged_at = at`. Returns how many.
    async fn purge_message_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> StoreResult<u64>;
    /// Retention: purge the payload of at most `limit` approvals of `scope` decided before
    /// `before` (see [`RetentionScope`]): the approval's draft and capability, its action's
    /// params (`{}`), reasoning and result. Pending approvals, actions still in flight
    /// (`pending_approval`, `approved`, `executing`) and actions with an unresolved dead letter
    /// are left alone. Sets `approvals.purged_at = at`. Returns how many approvals.
    async fn purge_approval_batch(
        &self,
        scope: &RetentionScope,
        before: Millis,
        at: Millis,
        limit: i64,
    ) -> StoreResult<u64>;
    /// When an approval's payload was purged (`None`: not purged, or no such approval).
    async fn approval_purged_at(&self, id: &str) -> StoreResult<Option<Millis>>;
    /// Retention of the runner's copies: for at most `limit` runs that ended before `before`
    /// (completed, or failed/cancelled without an unresolved dead letter), replace every
    /// memoized step result with `{"purged": true}`, drop the output and the event's data, and
    /// set `purged_at = at`. Returns how many runs.
    async fn purge_run_batch(&self, before: Millis, at: Millis, limit: i64) -> StoreResult<u64>;
    /// Retention of the runner's copies: replace the data of at most `limit` events processed
    /// before `before` whose runs are all purged (or that started none) with
    /// `{"purged": true}`, and set `purged_at = at`. Returns how many events.
    async fn purge_event_batch(&self, before: Millis, at: Millis, limit: i64) -> StoreResult<u64>;

    // actions and approvals
    async fn insert_action(&self, a: &ActionRow) -> StoreResult<()>;
    async fn get_action(&self, id: &str) -> StoreResult<Option<ActionRow>>;
    async fn list_actions(&self, conversation_id: &str) -> StoreResult<Vec<ActionRow>>;
    /// Compare-and-set: moves the action to `to` only if its status is one of `from`.
    async fn transition_action(
        &self,
        id: &str,
        from: &[ActionStatus],
        to: ActionStatus,
        patch: &ActionPatch,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn insert_approval(&self, a: &ApprovalRow) -> StoreResult<()>;
    async fn get_approval(&self, id: &str) -> StoreResult<Option<ApprovalRow>>;
    async fn list_approvals(&self, status: Option<ApprovalStatus>)
    -> StoreResult<Vec<ApprovalRow>>;
    /// Compare-and-set from `pending`; `false` if it was already decided.
    async fn decide_approval(
        &self,
        id: &str,
        status: ApprovalStatus,
        decided_by: &str,
        reason: Option<&str>,
        at: Millis,
    ) -> StoreResult<bool>;
    /// The approval of an action (the newest, if there were several).
    async fn approval_for_action(&self, action_id: &str) -> StoreResult<Option<ApprovalRow>>;
    /// Record one approver's vote; `false` when this user (this label, for a vote without a
    /// user) already voted.
    async fn add_approval_vote(&self, vote: &ApprovalVote) -> StoreResult<bool>;
    /// The votes of an approval, oldest first.
    async fn list_approval_votes(&self, approval_id: &str) -> StoreResult<Vec<ApprovalVote>>;
    /// Store the capability minted for a decided approval.
    async fn set_approval_capability(&self, id: &str, token: &str) -> StoreResult<()>;
    /// Where the approval request was posted (Slack channel and message `ts`).
    async fn set_approval_message(
        &self,
        id: &str,
        channel: &str,
        slack_channel: &str,
        slack_ts: &str,
    ) -> StoreResult<()>;
    /// Consume a capability nonce: `true` the first time, `false` when it was already used.
    async fn consume_capability(
        &self,
        nonce: &str,
        action_id: &str,
        at: Millis,
    ) -> StoreResult<bool>;

    // trust, knowledge, canned responses
    async fn upsert_trust(&self, t: &TrustRow) -> StoreResult<()>;
    async fn get_trust(&self, app: &str, category: &str) -> StoreResult<Option<TrustRow>>;
    async fn list_trust(&self, app: Option<&str>) -> StoreResult<Vec<TrustRow>>;
    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> StoreResult<()>;
    async fn list_kb_chunks(&self, app: &str) -> StoreResult<Vec<KbChunk>>;
    async fn upsert_canned(&self, c: &CannedResponse) -> StoreResult<()>;
    async fn list_canned(&self, app: Option<&str>) -> StoreResult<Vec<CannedResponse>>;
}
