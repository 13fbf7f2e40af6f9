//! The false-promise scorer: a draft that promises work the platform cannot do, or says work
//! is done that no tool did.
//!
//! Three families:
//! - **claims of work done** ("I've refunded", "has been transferred", "I've sent you a new
//!   login link") when the matching tool did not run in this run (claims about an action
//!   waiting for approval are `pending_claims`' business);
//! - **work no tool can do** ("I've escalated this to engineering", "I'll call you", "I've
//!   cancelled your subscription", "I've applied a discount", "please find attached");
//! - **deadlines** ("within 24 hours", "in the next 2 business days", "by tomorrow") unless the
//!   trusted facts (knowledge passages, tool results) state the same figure.

use super::validate::{ScorerResult, ValidationContext};

/// Claims that a tool's work is done, by tool.
const DONE: &[(&str, bool, &[&str])] = &[
    // (tool, approval-required, phrases)
    (
        "processRefund",
        true,
        &[
            "i've refunded",
            "i have refunded",
            "i've processed your refund",
            "i have processed your refund",
            "refund has been processed",
            "refund has been issued",
            "i've issued a refund",
            "i have issued a refund",
            "i've issued your refund",
            "has been refunded",
            "you've been refunded",
            "you have been refunded",
            "refund is on its way",
        ],
    ),
    (
        "transferPurchase",
        true,
        &[
            "i've transferred",
            "i have transferred",
            "has been transferred",
            "have been transferred",
            "i've moved your",
            "i have moved your",
        ],
    ),
    (
        "updateEmail",
        true,
        &[
            "i've changed the login email",
            "i've changed your email",
            "i have changed your email",
            "i've updated your email",
            "i have updated your email",
            "email has been changed",
            "email has been updated",
        ],
    ),
    (
        "updateName",
        false,
        &[
            "i've updated the name",
            "i have updated the name",
            "i've updated your name",
            "i've changed your name",
            "i've changed the name",
            "name has been updated",
            "name has been changed",
        ],
    ),
    (
        "generateMagicLink",
        false,
        &[
            "sent a fresh login link",
            "sent a new login link",
            "sent you a new login link",
            "sent you a fresh login link",
            "sent you a login link",
            "sent a login link",
            "sent you a magic link",
            "sent a magic link",
            "sent a new magic link",
            "new login link is on its way",
        ],
    ),
];

/// Work no tool of the platform can do.
const IMPOSSIBLE: &[&str] = &[
    "escalated to engineering",
    "escalated this to engineering",
    "escalated it to engineering",
    "escalated to our engineering",
    "escalated this to our engineering",
    "passed this to our engineers",
    "passed it to our engineers",
    "our engineers will",
    "our engineering team will",
    "the engineering team will",
    "i will call you",
    "i'll call you",
    "we will call you",
    "we'll call you",
    "give you a call",
    "call you back",
    "i'll phone",
    "we'll phone",
    "i will phone",
    "schedule a call",
    "set up a call",
    "hop on a call",
    "i've cancelled your",
    "i have cancelled your",
    "i've canceled your",
    "i have canceled your",
    "has been cancelled",
    "has been canceled",
    "i've deleted your",
    "i have deleted your",
    "has been deleted",
    "data has been erased",
    "i've exported your",
    "i've applied a discount",
    "i've added a discount",
    "i've issued a coupon",
    "i've created a coupon",
    "i've credited",
    "i have credited",
    "credited your account",
    "i've extended your access",
    "i've reset your password",
    "i have reset your password",
    "i've fixed the bug",
    "we've fixed the bug",
    "i've fixed the issue",
    "i've sent you an invoice",
    "i've sent the invoice",
    "i've emailed you the invoice",
    "i've attached",
    "please find attached",
];

/// Deadline phrases without a number.
const DEADLINES: &[&str] = &[
    "by tomorrow",
    "by end of day",
    "by the end of the day",
    "by end of the day",
    "by end of week",
    "by the end of the week",
    "first thing tomorrow",
    "within the hour",
];

const UNITS: &[&str] = &[
    "hour", "hours", "day", "days", "week", "weeks", "minute", "minutes",
];

const SMALL_NUMBERS: &[&str] = &[
    "a", "an", "one", "two", "three", "four", "five", "six", "seven", "ten", "24", "48", "72",
];

/// The scorer.
pub fn false_promises(draft: &str, ctx: &ValidationContext) -> ScorerResult {
    let lower = draft.to_lowercase().replace('’', "'");
    let trusted = ctx.facts.to_lowercase();
    let mut findings = Vec::new();
    for (tool, approval, phrases) in DONE {
        if ctx.executed_tools.iter().any(|t| t == tool) || (*approval && ctx.pending_action) {
            continue;
        }
        for p in *phrases {
            if lower.contains(p) {
                findings.push(format!("claims '{p}' but {tool} did not run"));
            }
        }
    }
    for p in IMPOSSIBLE {
        if lower.contains(p) {
            findings.push(format!("promises '{p}', which the platform cannot do"));
        }
    }
    for p in DEADLINES {
        if lower.contains(p) && !trusted.contains(p) {
            findings.push(format!("promises a deadline '{p}'"));
        }
    }
    for claim in numeric_deadlines(&lower) {
        if !trusted.contains(&claim) {
            findings.push(format!("promises a deadline 'within {claim}'"));
        }
    }
    ScorerResult {
        scorer: "false_promise".into(),
        passed: findings.is_empty(),
        findings,
    }
}

/// "within 24 hours", "in the next 2 business days", "within a day": the quantity and unit.
fn numeric_deadlines(lower: &str) -> Vec<String> {
    let toks: Vec<&str> = lower
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric() && c != '-'))
        .collect();
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let start = match *t {
            "within" => i + 1,
            "next" if i > 0 && toks[i - 1] == "the" => i + 1,
            _ => continue,
        };
        let Some(qty) = toks.get(start) else {
            continue;
        };
        let numeric = qty.chars().all(|c| c.is_ascii_digit()) && !qty.is_empty();
        if !numeric && !SMALL_NUMBERS.contains(qty) {
            continue;
        }
        let mut unit = start + 1;
        if matches!(toks.get(unit), Some(&"business" | &"working")) {
            unit += 1;
        }
        if toks.get(unit).is_some_and(|u| UNITS.contains(u)) {
            out.push(toks[start..=unit].join(" "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(executed: &[&str], pending: bool, facts: &str) -> ValidationContext {
        ValidationContext {
            facts: facts.into(),
            pending_action: pending,
            executed_tools: executed.iter().map(|s| (*s).to_owned()).collect(),
            ..ValidationContext::default()
        }
    }

    fn findings(draft: &str, c: &ValidationContext) -> Vec<String> {
        false_promises(draft, c).findings
    }

    #[test]
    fn claims_of_work_done_need_the_tool_to_have_run() {
        let draft = "Hi Ana,\n\nI've refunded your Typewise purchase in full.\n\nBest";
        assert_eq!(findings(draft, &ctx(&[], false, "")).len(), 1);
        assert!(findings(draft, &ctx(&["processRefund"], false, "")).is_empty());
        // A pending refund described as done is pending_claims' finding, not this one.
        assert!(findings(draft, &ctx(&[], true, "")).is_empty());
        let link = "I've just sent a fresh login link to ana@x.test.";
        assert_eq!(findings(link, &ctx(&[], true, "")).len(), 1);
        assert!(findings(link, &ctx(&["generateMagicLink"], false, "")).is_empty());
    }

    #[test]
    fn work_no_tool_can_do_is_caught() {
        let c = ctx(&["processRefund"], false, "");
        for draft in [
            "I've escalated this to engineering and they will look at it.",
            "I’ll call you tomorrow to sort it out.",
            "I've cancelled your subscription.",
            "Please find attached your invoice.",
        ] {
            assert!(!findings(draft, &c).is_empty(), "{draft}");
        }
        assert!(
            findings(
                "Thanks! I've passed it on to the team. If you'd like to talk it through, just reply here.",
                &c
            )
            .is_empty()
        );
    }

    #[test]
    fn deadlines_must_come_from_the_facts() {
        let none = ctx(&[], false, "");
        assert_eq!(
            findings("We will get back to you within 24 hours.", &none),
            ["promises a deadline 'within 24 hours'"]
        );
        assert_eq!(
            numeric_deadlines("in the next 2 business days, or within a day"),
            ["2 business days", "a day"]
        );
        assert_eq!(findings("You'll hear back by tomorrow.", &none).len(), 1);
        // Stated by a knowledge passage: fine.
        let kb = ctx(
            &[],
            false,
            "Refunds reach your card within 5 business days.",
        );
        assert!(findings("It should reach your card within 5 business days.", &kb).is_empty());
        // Vague timing is not a deadline.
        assert!(findings("It should arrive within a few minutes.", &none).is_empty());
    }
}
