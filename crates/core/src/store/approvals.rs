//! Proposed actions, their approvals, approvers' votes and single-use capabilities.

use crate::pipeline::tools::{RiskClass, ToolName};
use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

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
    /// Where the request is: `dashboard` until it is posted to Slack, then `slack`.
    pub channel: DecisionChannel,
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
    /// Where the vote was cast.
    pub channel: DecisionChannel,
    pub voted_at: Millis,
}

/// Proposed actions, their approvals, approvers' votes and single-use capabilities.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
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
    /// Every approval of a conversation's actions, oldest first (indexed: actions by
    /// conversation, approvals by action).
    async fn approvals_for_conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Vec<ApprovalRow>>;
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
        channel: DecisionChannel,
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
}
