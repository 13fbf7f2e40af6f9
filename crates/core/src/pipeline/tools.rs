//! The agent's tools: names, risk classes, JSON schemas for LLM tool definitions, calls and
//! the [`ToolExecutor`] port the host backs with the SDK client, the knowledge index and the
//! approval gate.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How risky a tool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    /// Reads data; always allowed.
    Read,
    /// A small, reversible write (a login link, a name fix).
    LowImpact,
    /// Moves money or ownership: approval by default (the gate may auto-approve by policy).
    ApprovalRequired,
}

impl RiskClass {
    /// The wire name, as stored in `actions.risk`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Read => "read",
            RiskClass::LowImpact => "low_impact",
            RiskClass::ApprovalRequired => "approval_required",
        }
    }

    /// Parses a stored string.
    pub fn parse(s: &str) -> Result<Self, crate::status::UnknownValue> {
        [
            RiskClass::Read,
            RiskClass::LowImpact,
            RiskClass::ApprovalRequired,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| crate::status::UnknownValue {
            what: "risk class",
            value: s.to_string(),
        })
    }
}

impl std::fmt::Display for RiskClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::status::string_like!(RiskClass);
crate::status::string_like!(ToolName);

/// The tools the agent can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ToolName {
    #[serde(rename = "lookupUser")]
    LookupUser,
    #[serde(rename = "getPurchases")]
    GetPurchases,
    #[serde(rename = "getSubscriptions")]
    GetSubscriptions,
    #[serde(rename = "searchKnowledge")]
    SearchKnowledge,
    #[serde(rename = "generateMagicLink")]
    GenerateMagicLink,
    #[serde(rename = "updateName")]
    UpdateName,
    #[serde(rename = "processRefund")]
    ProcessRefund,
    #[serde(rename = "transferPurchase")]
    TransferPurchase,
    #[serde(rename = "updateEmail")]
    UpdateEmail,
    #[serde(rename = "listCharges")]
    ListCharges,
    #[serde(rename = "listRefunds")]
    ListRefunds,
    #[serde(rename = "listSubscriptions")]
    ListSubscriptions,
}

impl ToolName {
    /// Every tool.
    pub const ALL: [ToolName; 12] = [
        ToolName::LookupUser,
        ToolName::GetPurchases,
        ToolName::GetSubscriptions,
        ToolName::SearchKnowledge,
        ToolName::GenerateMagicLink,
        ToolName::UpdateName,
        ToolName::ProcessRefund,
        ToolName::TransferPurchase,
        ToolName::UpdateEmail,
        ToolName::ListCharges,
        ToolName::ListRefunds,
        ToolName::ListSubscriptions,
    ];

    /// The wire name (`processRefund`).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::LookupUser => "lookupUser",
            ToolName::GetPurchases => "getPurchases",
            ToolName::GetSubscriptions => "getSubscriptions",
            ToolName::SearchKnowledge => "searchKnowledge",
            ToolName::GenerateMagicLink => "generateMagicLink",
            ToolName::UpdateName => "updateName",
            ToolName::ProcessRefund => "processRefund",
            ToolName::TransferPurchase => "transferPurchase",
            ToolName::UpdateEmail => "updateEmail",
            ToolName::ListCharges => "listCharges",
            ToolName::ListRefunds => "listRefunds",
            ToolName::ListSubscriptions => "listSubscriptions",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The risk class.
    pub fn risk(self) -> RiskClass {
        match self {
            ToolName::LookupUser
            | ToolName::GetPurchases
            | ToolName::GetSubscriptions
            | ToolName::SearchKnowledge
            | ToolName::ListCharges
            | ToolName::ListRefunds
            | ToolName::ListSubscriptions => RiskClass::Read,
            ToolName::GenerateMagicLink | ToolName::UpdateName => RiskClass::LowImpact,
            ToolName::ProcessRefund | ToolName::TransferPurchase | ToolName::UpdateEmail => {
                RiskClass::ApprovalRequired
            }
        }
    }

    /// What the tool does, for an LLM tool definition.
    pub fn description(self) -> &'static str {
        match self {
            ToolName::LookupUser => "Find the customer's account by email address.",
            ToolName::GetPurchases => "List a user's purchases with dates, amounts and status.",
            ToolName::GetSubscriptions => {
                "List a user's recurring subscriptions and renewal dates."
            }
            ToolName::SearchKnowledge => {
                "Search the product's help articles and FAQ; returns the most relevant passages."
            }
            ToolName::GenerateMagicLink => "Send the user a fresh one-time login link by email.",
            ToolName::UpdateName => "Change the display name on a user's account and certificates.",
            ToolName::ProcessRefund => {
                "Refund a purchase to the original payment method. Subject to the refund policy."
            }
            ToolName::TransferPurchase => {
                "Move a purchase (or team seat) from its owner to another email address."
            }
            ToolName::UpdateEmail => "Change the login email address of a user's account.",
            ToolName::ListCharges => {
                "List a Stripe customer's most recent charges (amount, refunded amount, dispute, status) on the product's Stripe account, live from Stripe."
            }
            ToolName::ListRefunds => {
                "List the Stripe refunds of a charge, or of a Stripe customer's recent charges, live from Stripe."
            }
            ToolName::ListSubscriptions => {
                "List a Stripe customer's subscriptions in any status (renewal date, cancel at period end), live from Stripe."
            }
        }
    }

    /// The JSON schema of the parameters.
    pub fn params_schema(self) -> Value {
        let string = |d: &str| json!({ "type": "string", "description": d });
        let (props, required): (Value, &[&str]) = match self {
            ToolName::LookupUser => (
                json!({ "email": string("The customer's email address.") }),
                &["email"],
            ),
            ToolName::GetPurchases | ToolName::GetSubscriptions => (
                json!({ "userId": string("The user id from lookupUser.") }),
                &["userId"],
            ),
            ToolName::SearchKnowledge => (
                json!({
                    "query": string("What to look for, in plain words."),
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10 }
                }),
                &["query"],
            ),
            ToolName::GenerateMagicLink => (
                json!({
                    "email": string("Where to send the link."),
                    "expiresIn": { "type": "integer", "description": "Seconds, e.g. 3600." }
                }),
                &["email"],
            ),
            ToolName::UpdateName => (
                json!({ "userId": string("The user id."), "newName": string("The corrected name.") }),
                &["userId", "newName"],
            ),
            ToolName::ProcessRefund => (
                json!({
                    "purchaseId": string("The purchase to refund."),
                    "reason": string("Why, in the customer's words."),
                    "chargeId": string("Leave it out: the platform sets the purchase's Stripe charge (`ch_…`) when it quotes the refund; the amount always comes from that charge.")
                }),
                &["purchaseId", "reason"],
            ),
            ToolName::TransferPurchase => (
                json!({
                    "purchaseId": string("The purchase to move."),
                    "fromUserId": string("The current owner's user id."),
                    "toEmail": string("The new owner's email address.")
                }),
                &["purchaseId", "fromUserId", "toEmail"],
            ),
            ToolName::UpdateEmail => (
                json!({ "userId": string("The user id."), "newEmail": string("The new login email.") }),
                &["userId", "newEmail"],
            ),
            ToolName::ListCharges | ToolName::ListSubscriptions => (
                json!({
                    "customerId": string("The Stripe customer id (`cus_…`)."),
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100 }
                }),
                &["customerId"],
            ),
            ToolName::ListRefunds => (
                json!({
                    "chargeId": string("A Stripe charge id (`ch_…`, e.g. a purchase's stripeChargeId). Give this or customerId."),
                    "customerId": string("A Stripe customer id (`cus_…`): refunds of their recent charges. Give this or chargeId."),
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100 }
                }),
                &[],
            ),
        };
        json!({
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false
        })
    }
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool definition as LLM APIs expect it (`name`, `description`, `parameters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub risk: RiskClass,
    pub parameters: Value,
}

/// The registry of every tool, for building LLM tool definitions.
pub fn tool_specs() -> Vec<ToolSpec> {
    ToolName::ALL
        .into_iter()
        .map(|t| ToolSpec {
            name: t.as_str().to_owned(),
            description: t.description().to_owned(),
            risk: t.risk(),
            parameters: t.params_schema(),
        })
        .collect()
}

/// One tool call with camelCase JSON parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: ToolName,
    pub params: Value,
}

impl ToolCall {
    /// A call of `tool` with `params`.
    pub fn new(tool: ToolName, params: Value) -> Self {
        Self { tool, params }
    }

    /// A string parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// Checks the parameters against the schema's required keys and types (strings and
    /// integers; no extra keys).
    pub fn validate(&self) -> Result<(), ToolError> {
        let schema = self.tool.params_schema();
        let Some(params) = self.params.as_object() else {
            return Err(ToolError::InvalidParams(
                "parameters must be an object".into(),
            ));
        };
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !params.contains_key(key) {
                return Err(ToolError::InvalidParams(format!("missing {key}")));
            }
        }
        for (key, value) in params {
            let Some(prop) = props.get(key) else {
                return Err(ToolError::InvalidParams(format!("unknown parameter {key}")));
            };
            let ok = match prop["type"].as_str() {
                Some("string") => value.is_string(),
                Some("integer") => value.is_i64() || value.is_u64(),
                _ => true,
            };
            if !ok {
                return Err(ToolError::InvalidParams(format!(
                    "{key} has the wrong type"
                )));
            }
        }
        Ok(())
    }
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("tool not available: {0}")]
    NotImplemented(String),
    #[error("tool failed: {0}")]
    Failed(String),
}

/// Executes tool calls. The host backs it with the SDK client, the knowledge index and the
/// approval gate; the eval backs it with a simulated product.
///
/// Result shapes follow the SDK wire models: `lookupUser` → `User | null`, `getPurchases` →
/// `Purchase[]`, `getSubscriptions` → `Subscription[]`, `searchKnowledge` →
/// `[{id, text, score}]`, `generateMagicLink` → `{url}`, mutations → `{success, error?}`.
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// Runs one call.
    async fn execute(&self, call: &ToolCall) -> Result<Value, ToolError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_risks_match_the_policy() {
        for t in ToolName::ALL {
            assert_eq!(ToolName::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap_or_default(),
                Value::String(t.as_str().into())
            );
        }
        assert_eq!(ToolName::LookupUser.risk(), RiskClass::Read);
        assert_eq!(ToolName::UpdateName.risk(), RiskClass::LowImpact);
        assert_eq!(ToolName::UpdateEmail.risk(), RiskClass::ApprovalRequired);
        assert_eq!(ToolName::ListCharges.risk(), RiskClass::Read);
        assert_eq!(ToolName::ListRefunds.risk(), RiskClass::Read);
        assert_eq!(ToolName::ListSubscriptions.risk(), RiskClass::Read);
        assert_eq!(tool_specs().len(), 12);
    }

    #[test]
    fn calls_are_validated_against_the_schema() {
        let ok = ToolCall::new(ToolName::LookupUser, json!({"email": "a@b.test"}));
        assert!(ok.validate().is_ok());
        let missing = ToolCall::new(ToolName::ProcessRefund, json!({"purchaseId": "p"}));
        assert!(matches!(
            missing.validate(),
            Err(ToolError::InvalidParams(_))
        ));
        let extra = ToolCall::new(ToolName::LookupUser, json!({"email": "a", "admin": true}));
        assert!(extra.validate().is_err());
        let wrong = ToolCall::new(ToolName::LookupUser, json!({"email": 3}));
        assert!(wrong.validate().is_err());
    }
}
