//! The approval-channel port: where a risky action waits for a human. An [`ApprovalRequest`] is
//! posted once, then its message is updated at every transition ([`ApprovalState`]) until the
//! action was executed, failed, rejected or expired. Slack is the first channel
//! (`crates/connectors::slack`); the dashboard reads the same domain types.
//!
//! The ids of the interactive elements ([`ids`]) are ours, shared by the renderer and the
//! handler that parses what the human clicked or submitted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::Millis;

/// Stable ids of the interactive elements of an approval message and its modals.
pub mod ids {
    /// Button: approve the action (`value` = action id).
    pub const APPROVE: &str = "approval_approve";
    /// Button: open the reject modal (`value` = action id).
    pub const REJECT: &str = "approval_reject";
    /// Button: open the edit modal (`value` = action id).
    pub const EDIT: &str = "approval_edit";
    /// Buttons: rate our draft good or bad (`value` = action id): a trust signal.
    pub const RATE_GOOD: &str = "draft_rate_good";
    pub const RATE_BAD: &str = "draft_rate_bad";
    /// Link button to the conversation in Front (no callback payload matters).
    pub const OPEN_IN_FRONT: &str = "approval_open_front";
    /// `callback_id` of the reject modal; `private_metadata` carries the action id.
    pub const REJECT_MODAL: &str = "approval_reject_modal";
    /// `callback_id` of the edit modal; `private_metadata` carries the action id.
    pub const EDIT_MODAL: &str = "approval_edit_modal";
    /// Input block/action of the rejection reason.
    pub const REASON_BLOCK: &str = "reason";
    pub const REASON_INPUT: &str = "reason_input";
    /// Input block/action of the edited draft.
    pub const DRAFT_BLOCK: &str = "draft";
    pub const DRAFT_INPUT: &str = "draft_input";
    /// Input block/action of the edited amount (in major units, e.g. `12.50`).
    pub const AMOUNT_BLOCK: &str = "amount";
    pub const AMOUNT_INPUT: &str = "amount_input";
}

/// Everything a human needs to decide on an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Our action id (`act_…`), carried by every button.
    pub action_id: String,
    pub app_slug: String,
    pub app_name: String,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The Front inbox the conversation came in through (name or id).
    #[serde(default)]
    pub inbox: Option<String>,
    /// Front conversation id (`cnv_…`).
    pub conversation_id: String,
    /// A link to the conversation in Front.
    #[serde(default)]
    pub front_url: Option<String>,
    /// The tool the agent wants to run, e.g. `processRefund`.
    pub tool: String,
    /// The tool's arguments as the agent proposed them.
    pub params: Value,
    /// The money at stake, in minor units (cents), when the action moves money.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// ISO currency code, lowercase (`usd`).
    #[serde(default)]
    pub currency: Option<String>,
    /// Why the agent proposes it.
    pub reasoning: String,
    /// The reply the customer would get.
    #[serde(default)]
    pub draft: Option<String>,
    /// How many different people must approve (1 or 2).
    pub approvers_required: u8,
    pub expires_at: Millis,
}

/// Where an action stands. Each transition updates the posted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting; `approved_by` lists approvals so far when two are needed.
    Pending {
        approved_by: Vec<Approver>,
    },
    Approved {
        approved_by: Vec<Approver>,
    },
    Executing {
        approved_by: Vec<Approver>,
    },
    Executed {
        approved_by: Vec<Approver>,
        /// A short human summary (`Refunded $25.00 (re_123)`).
        result: String,
    },
    Failed {
        approved_by: Vec<Approver>,
        error: String,
    },
    Rejected {
        by: Approver,
        reason: Option<String>,
    },
    Expired,
}

impl ApprovalState {
    /// The state's wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Approved { .. } => "approved",
            Self::Executing { .. } => "executing",
            Self::Executed { .. } => "executed",
            Self::Failed { .. } => "failed",
            Self::Rejected { .. } => "rejected",
            Self::Expired => "expired",
        }
    }

    /// Whether the message still offers the buttons.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Pending { .. })
    }
}

/// Who decided: the channel's own user id (Slack `U…`) and a display name when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl Approver {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
        }
    }
}

/// A posted approval message: the channel id and the message's timestamp (Slack's `ts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// A modal to open in answer to a click (Slack needs the click's `trigger_id`, valid 3 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "modal", rename_all = "snake_case")]
pub enum ApprovalModal {
    /// Ask for the reason of a rejection.
    Reject { action_id: String, summary: String },
    /// Edit the draft and, for money, the amount before approving.
    Edit {
        action_id: String,
        draft: Option<String>,
        amount_cents: Option<i64>,
        currency: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalChannelError {
    /// The channel refused the call with its own code (Slack: `channel_not_found`,
    /// `invalid_auth`, `expired_trigger_id`, …).
    #[error("approval channel refused the call: {code}")]
    Api { code: String },
    #[error("approval channel rate limit; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("approval channel: HTTP {status}")]
    Http { status: u16 },
    #[error("approval channel: {0}")]
    Transport(String),
    #[error("approval channel: invalid request or response: {0}")]
    Invalid(String),
    #[error("approval channel is not configured")]
    NotConfigured,
}

impl ApprovalChannelError {
    /// Whether a retry may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport(_) => true,
            Self::Http { status } => *status >= 500,
            Self::Api { code } => matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ),
            Self::Invalid(_) | Self::NotConfigured => false,
        }
    }
}

/// A place where humans approve actions.
#[async_trait]
pub trait ApprovalChannel: Send + Sync + 'static {
    /// Post a new approval request to `channel`.
    async fn post_request(
        &self,
        channel: &str,
        request: &ApprovalRequest,
    ) -> Result<MessageRef, ApprovalChannelError>;

    /// Re-render the posted request in `state`.
    async fn update_request(
        &self,
        message: &MessageRef,
        request: &ApprovalRequest,
        state: &ApprovalState,
    ) -> Result<(), ApprovalChannelError>;

    /// Open a modal in answer to a click.
    async fn open_modal(
        &self,
        trigger_id: &str,
        modal: &ApprovalModal,
    ) -> Result<(), ApprovalChannelError>;

    /// A message only `user` sees in `channel` (e.g. "you already approved this").
    async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), ApprovalChannelError>;

    /// A plain alert in `channel` (no buttons), e.g. a Stripe dispute. Channels that cannot
    /// post alerts answer [`ApprovalChannelError::NotConfigured`].
    async fn post_alert(
        &self,
        channel: &str,
        alert: &Alert,
    ) -> Result<MessageRef, ApprovalChannelError> {
        let _ = (channel, alert);
        Err(ApprovalChannelError::NotConfigured)
    }
}

/// A plain alert for the approvers' channel: a title, a body and labelled facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub title: String,
    pub text: String,
    /// `(label, value)` pairs shown as fields.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
}

/// `1234` cents in `usd` -> `$12.34`; other currencies -> `12.34 CHF`, in the currency's own
/// minor units (`1000` in `jpy` -> `1000 JPY`). Approval messages use
/// [`crate::payments::format_amount`] (`$12.34 USD`).
pub fn format_money(amount_cents: i64, currency: Option<&str>) -> String {
    let sign = if amount_cents < 0 { "-" } else { "" };
    let major =
        crate::payments::major_units(amount_cents.saturating_abs(), currency.unwrap_or("usd"));
    match currency.map(str::to_ascii_lowercase).as_deref() {
        None | Some("usd") => format!("{sign}${major}"),
        Some("eur") => format!("{sign}€{major}"),
        Some("gbp") => format!("{sign}£{major}"),
        Some(other) => format!("{sign}{major} {}", other.to_ascii_uppercase()),
    }
}

/// Parse an amount typed by a human in major units (`12`, `12.5`, `$12.50`, `1,200.00`) into
/// minor units. Refuses negatives, more than two decimals and anything else.
pub fn parse_money(input: &str) -> Option<i64> {
    let s: String = input
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
    {
        return None;
    }
    let major: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let minor: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    major.checked_mul(100)?.checked_add(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(format_money(1234, Some("usd")), "$12.34");
        assert_eq!(format_money(5, None), "$0.05");
        assert_eq!(format_money(-250, Some("USD")), "-$2.50");
        assert_eq!(format_money(1000, Some("eur")), "€10.00");
        assert_eq!(format_money(1000, Some("jpy")), "1000 JPY");
        assert_eq!(parse_money("12"), Some(1200));
        assert_eq!(parse_money("12.5"), Some(1250));
        assert_eq!(parse_money(" $1,200.05 "), Some(120_005));
        assert_eq!(parse_money(".5"), Some(50));
        for bad in ["", "-1", "1.234", "abc", "1e3", ".", "$", "12.3.4"] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        assert_eq!(parse_money("99999999999999999999"), None);
    }

    #[test]
    fn states() {
        let s = ApprovalState::Rejected {
            by: Approver::new("U1"),
            reason: Some("outside policy".into()),
        };
        assert_eq!(s.as_str(), "rejected");
        assert!(!s.is_open());
        assert!(
            ApprovalState::Pending {
                approved_by: vec![]
            }
            .is_open()
        );
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(json["state"], "rejected");
        assert_eq!(json["by"]["id"], "U1");
        assert!(
            ApprovalChannelError::RateLimited {
                retry_after_secs: 1
            }
            .is_retriable()
        );
        assert!(
            !ApprovalChannelError::Api {
                code: "channel_not_found".into()
            }
            .is_retriable()
        );
    }
}
