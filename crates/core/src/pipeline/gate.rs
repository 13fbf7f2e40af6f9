//! The policy gate: decides whether a proposed tool call runs now, waits for approval, goes
//! to a human, or must not happen. Every decision names its rule.

use serde::{Deserialize, Serialize};

use super::inbound::{CustomerFacts, PurchaseFact};
use super::tools::{RiskClass, ToolCall, ToolName};
use crate::registry::AppPolicy;

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateOutcome {
    /// Run it now.
    Auto,
    /// Wait for `approvers` different people to approve.
    Approval { approvers: u8 },
    /// Do not run it; a human takes the conversation.
    Escalate,
    /// Do not run it; the reply explains what is needed instead (e.g. the owner's consent).
    NoAction,
}

/// A gate decision with the rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    pub outcome: GateOutcome,
    /// Stable rule id (`refund.auto_window`, `transfer.not_owner`, …).
    pub rule: String,
    /// Human reason.
    pub reason: String,
}

impl GateDecision {
    fn new(outcome: GateOutcome, rule: &str, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            rule: rule.to_owned(),
            reason: reason.into(),
        }
    }

    /// Whether the call may run now.
    pub fn is_auto(&self) -> bool {
        self.outcome == GateOutcome::Auto
    }

    /// Whether the call waits for approval.
    pub fn needs_approval(&self) -> bool {
        matches!(self.outcome, GateOutcome::Approval { .. })
    }
}

/// What the gate looks at besides the call.
#[derive(Debug, Clone, Copy)]
pub struct GateContext<'a> {
    pub policy: &'a AppPolicy,
    pub facts: &'a CustomerFacts,
    /// The address the request came from (the customer).
    pub requester_email: &'a str,
    /// The message carried a prompt injection: nothing risky runs without a human.
    pub injection: bool,
}

/// Decides on one call.
pub fn decide(call: &ToolCall, ctx: &GateContext<'_>) -> GateDecision {
    let decision = match call.tool.risk() {
        RiskClass::Read => GateDecision::new(GateOutcome::Auto, "read", "reads only"),
        RiskClass::LowImpact => GateDecision::new(
            GateOutcome::Auto,
            "low_impact",
            format!("{} is a small reversible change", call.tool),
        ),
        RiskClass::ApprovalRequired => approval_required(call, ctx),
    };
    harden(decision, call, ctx)
}

fn approval_required(call: &ToolCall, ctx: &GateContext<'_>) -> GateDecision {
    match call.tool {
        ToolName::ProcessRefund => refund(call, ctx),
        ToolName::TransferPurchase => transfer(call, ctx),
        ToolName::UpdateEmail => GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "account.update_email",
            "changing the login email always needs approval",
        ),
        other => GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "default.approval_required",
            format!("{other} needs approval"),
        ),
    }
}

fn purchase<'a>(call: &ToolCall, ctx: &GateContext<'a>) -> Option<&'a PurchaseFact> {
    let id = call.param("purchaseId")?;
    ctx.facts.purchases.iter().find(|p| p.id == id)
}

fn refund(call: &ToolCall, ctx: &GateContext<'_>) -> GateDecision {
    let Some(p) = purchase(call, ctx) else {
        return GateDecision::new(
            GateOutcome::Escalate,
            "refund.unknown_purchase",
            "the purchase is not in the customer's records",
        );
    };
    if !p.is_active() {
        return GateDecision::new(
            GateOutcome::NoAction,
            "refund.not_active",
            format!("the purchase is already {}", p.status),
        );
    }
    let Some(age) = p.age_days else {
        return GateDecision::new(
            GateOutcome::Escalate,
            "refund.unknown_age",
            "the purchase date cannot be read",
        );
    };
    let policy = ctx.policy;
    if age < policy.refund_auto_days {
        GateDecision::new(
            GateOutcome::Auto,
            "refund.auto_window",
            format!(
                "bought {age} days ago, inside {} days",
                policy.refund_auto_days
            ),
        )
    } else if age <= policy.refund_approval_days {
        GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "refund.approval_window",
            format!(
                "bought {age} days ago, between {} and {} days",
                policy.refund_auto_days, policy.refund_approval_days
            ),
        )
    } else {
        GateDecision::new(
            GateOutcome::Escalate,
            "refund.beyond_window",
            format!(
                "bought {age} days ago, beyond {} days",
                policy.refund_approval_days
            ),
        )
    }
}

fn transfer(call: &ToolCall, ctx: &GateContext<'_>) -> GateDecision {
    let Some(p) = purchase(call, ctx) else {
        return GateDecision::new(
            GateOutcome::NoAction,
            "transfer.not_owner",
            "the requester owns no such purchase: ask the owner to confirm",
        );
    };
    if p.owner_email != ctx.requester_email.to_lowercase() {
        return GateDecision::new(
            GateOutcome::NoAction,
            "transfer.not_owner",
            "the requester does not own the purchase: ask the owner to confirm",
        );
    }
    if p.is_team {
        return GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "transfer.team_license",
            "moving a team licence or its seats needs approval",
        );
    }
    match p.age_days {
        Some(age) if age <= ctx.policy.transfer_auto_days => GateDecision::new(
            GateOutcome::Auto,
            "transfer.owner_recent",
            format!(
                "the owner asks, bought {age} days ago (inside {} days)",
                ctx.policy.transfer_auto_days
            ),
        ),
        _ => GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "transfer.owner_older",
            format!(
                "the owner asks, purchase older than {} days",
                ctx.policy.transfer_auto_days
            ),
        ),
    }
}

/// Rules that only ever make a decision stricter: prompt injection and large amounts.
fn harden(decision: GateDecision, call: &ToolCall, ctx: &GateContext<'_>) -> GateDecision {
    if call.tool.risk() != RiskClass::ApprovalRequired {
        return decision;
    }
    let amount = purchase(call, ctx).map(|p| p.amount_cents);
    let two = match (ctx.policy.two_approver_above_cents, amount) {
        (Some(limit), Some(amount)) => amount > limit,
        _ => false,
    };
    match decision.outcome {
        GateOutcome::Auto | GateOutcome::Approval { .. } if two => GateDecision::new(
            GateOutcome::Approval { approvers: 2 },
            "amount.two_approvers",
            format!(
                "{}; the amount is above the two-approver limit",
                decision.reason
            ),
        ),
        GateOutcome::Auto if ctx.injection => GateDecision::new(
            GateOutcome::Approval { approvers: 1 },
            "injection.force_approval",
            format!(
                "{}; the message carried injected instructions, so a human approves",
                decision.reason
            ),
        ),
        _ => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fact(id: &str, age: i64, team: bool) -> PurchaseFact {
        PurchaseFact {
            id: id.into(),
            product_id: id.into(),
            product: "Typewise Pro".into(),
            amount_cents: 34_900,
            currency: "usd".into(),
            purchased_at: String::new(),
            age_days: Some(age),
            is_team: team,
            owner_email: "owner@x.test".into(),
            owner_user_id: "u1".into(),
            status: "active".into(),
        }
    }

    fn decide_on(
        tool: ToolName,
        id: &str,
        purchases: Vec<PurchaseFact>,
        policy: &AppPolicy,
    ) -> GateDecision {
        let facts = CustomerFacts {
            email: "owner@x.test".into(),
            looked_up: true,
            user: None,
            purchases,
        };
        let ctx = GateContext {
            policy,
            facts: &facts,
            requester_email: "owner@x.test",
            injection: false,
        };
        decide(
            &ToolCall::new(tool, json!({"purchaseId": id, "toEmail": "n@x.test"})),
            &ctx,
        )
    }

    #[test]
    fn refunds_follow_the_age_windows() {
        let policy = AppPolicy::default();
        let rule = |age, team| {
            decide_on(
                ToolName::ProcessRefund,
                "p",
                vec![fact("p", age, team)],
                &policy,
            )
            .rule
        };
        assert_eq!(rule(10, false), "refund.auto_window");
        assert_eq!(rule(35, false), "refund.approval_window");
        assert_eq!(rule(60, false), "refund.beyond_window");
        assert_eq!(rule(10, true), "refund.auto_window");
        assert_eq!(
            decide_on(ToolName::ProcessRefund, "nope", vec![], &policy).outcome,
            GateOutcome::Escalate
        );
    }

    #[test]
    fn transfers_depend_on_owner_team_and_age() {
        let policy = AppPolicy::default();
        let d = decide_on(
            ToolName::TransferPurchase,
            "p",
            vec![fact("p", 10, false)],
            &policy,
        );
        assert_eq!(
            (d.outcome, d.rule.as_str()),
            (GateOutcome::Auto, "transfer.owner_recent")
        );
        let d = decide_on(
            ToolName::TransferPurchase,
            "p",
            vec![fact("p", 60, false)],
            &policy,
        );
        assert!(d.needs_approval());
        let d = decide_on(
            ToolName::TransferPurchase,
            "p",
            vec![fact("p", 1, true)],
            &policy,
        );
        assert_eq!(d.rule, "transfer.team_license");
        let mut other = fact("p", 1, false);
        other.owner_email = "someone@else.test".into();
        let d = decide_on(ToolName::TransferPurchase, "p", vec![other], &policy);
        assert_eq!(d.outcome, GateOutcome::NoAction);
    }

    #[test]
    fn accounts_large_amounts_and_injection() {
        let mut policy = AppPolicy::default();
        assert_eq!(
            decide_on(ToolName::UpdateEmail, "p", vec![], &policy).rule,
            "account.update_email"
        );
        assert!(decide_on(ToolName::UpdateName, "p", vec![], &policy).is_auto());
        assert!(decide_on(ToolName::LookupUser, "p", vec![], &policy).is_auto());
        policy.two_approver_above_cents = Some(10_000);
        let d = decide_on(
            ToolName::ProcessRefund,
            "p",
            vec![fact("p", 3, false)],
            &policy,
        );
        assert_eq!(d.outcome, GateOutcome::Approval { approvers: 2 });

        let facts = CustomerFacts {
            purchases: vec![fact("p", 3, false)],
            ..CustomerFacts::default()
        };
        let policy = AppPolicy::default();
        let ctx = GateContext {
            policy: &policy,
            facts: &facts,
            requester_email: "owner@x.test",
            injection: true,
        };
        let d = decide(
            &ToolCall::new(ToolName::ProcessRefund, json!({"purchaseId": "p"})),
            &ctx,
        );
        assert_eq!(d.rule, "injection.force_approval");
    }
}
