//! Automatic sending, per app × category: the mode (`shadow` → `draft` → `auto`), the gate a
//! reply passes at the moment it would be sent, eval certificates and demotion.
//!
//! Every threshold lives in [`thresholds`]. The gate ([`evaluate`]) is pure: the workflow
//! gathers the facts (trust from the signal rows, the certificate, the switches) and records the
//! whole [`GateReport`] in the audit entry of the send or of the refusal.

pub mod certificate;
pub mod simulate;

use serde::{Deserialize, Serialize};

/// The thresholds of automatic sending, in one place.
pub mod thresholds {
    /// Trust (decayed mean of signal values) at or above which a category may send.
    pub const MIN_TRUST: f64 = 0.85;
    /// Effective samples (Σ decayed weights) at or above which trust counts.
    pub const MIN_EFFECTIVE_SAMPLES: f64 = 50.0;
    /// Classifier confidence at or above which a message may be answered automatically.
    pub const MIN_CONFIDENCE: f64 = 0.9;
    /// Trust's half-life in days (the 30 days; F's `trust::HALF_LIFE_DAYS` agrees).
    pub const HALF_LIFE_DAYS: f64 = 30.0;
    /// Share of a category's eval scenarios that must pass for its certificate.
    pub const CERTIFICATE_MIN_PASS_RATE: f64 = 1.0;
    /// A category with fewer scenarios than this cannot be certified.
    pub const CERTIFICATE_MIN_SCENARIOS: usize = 3;
}

/// Categories (and `team_license`, a purchase kind) that are never sent automatically, whatever
/// the policy says; the app's `never_auto_send` adds to them.
pub const ALWAYS_NEVER: &[&str] = &["unknown", "team_license"];

/// Message flags that keep a reply for a human.
pub const NEVER_FLAGS: &[&str] = &["angry", "legal", "injection"];

/// The kill switches of the settings file (`[autosend]`, `SUPPORT_AUTOSEND__OFF=true`): beside
/// the stored switches of `skill autosend off` and the dashboard, for an operator who must stop
/// every automatic send with a deploy, whatever the store says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoSendSettings {
    /// No automatic sending for any app.
    pub off: bool,
    /// No automatic sending for these apps (slugs).
    pub off_apps: Vec<String>,
}

impl AutoSendSettings {
    /// Why the settings keep `app` from sending automatically, `None` when they don't.
    pub fn switched_off(&self, app: &str) -> Option<String> {
        if self.off {
            Some("automatic sending is switched off everywhere (settings: autosend.off)".into())
        } else if self.off_apps.iter().any(|a| a == app) {
            Some(
                "automatic sending is switched off for this app (settings: autosend.off_apps)"
                    .into(),
            )
        } else {
            None
        }
    }
}

/// How the platform answers a category of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The agent runs and its draft is kept on our side only: nothing is written to Front.
    Shadow,
    /// A draft in Front for a human to send (the default).
    Draft,
    /// The reply is sent to the customer when the gate holds at the moment of sending; a draft
    /// otherwise.
    Auto,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Shadow, Mode::Draft, Mode::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Draft => "draft",
            Mode::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A certificate as the gate sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateFact {
    pub passed: bool,
    pub inputs_hash: String,
}

/// Everything the gate looks at, gathered at the moment of sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateFacts {
    /// The category's stored mode (after any demotion).
    pub mode: Mode,
    /// Why automatic sending is switched off (global or app switch), when it is.
    pub switched_off: Option<String>,
    /// The app's policy lists the category in `auto_send`.
    pub opted_in: bool,
    pub category: String,
    /// The app's `never_auto_send`.
    pub never: Vec<String>,
    /// The customer holds (or asks about) a team licence.
    pub team_license: bool,
    /// The message's flags (`angry`, `legal`, `injection`).
    pub flags: Vec<String>,
    /// Tools the reply proposes that need approval.
    pub approval_tools: Vec<String>,
    pub trust: f64,
    pub effective_samples: f64,
    pub confidence: f64,
    /// Validation scorers that failed (empty: all passed), `withheld` when the draft was.
    pub failed_scorers: Vec<String>,
    pub certificate: Option<CertificateFact>,
    /// The hash of the current certificate inputs (policy, models, prompts, knowledge).
    pub inputs_hash: String,
}

/// One check of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// The gate's verdict with every check, for the audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub allowed: bool,
    pub checks: Vec<Check>,
}

impl GateReport {
    /// The names of the checks that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    }
}

/// Whether `category` (or a team licence) is on the never list.
pub fn never_listed(category: &str, never: &[String], team_license: bool) -> Option<String> {
    if team_license {
        return Some("team_license".into());
    }
    ALWAYS_NEVER
        .iter()
        .map(|s| s.to_string())
        .chain(never.iter().cloned())
        .find(|n| n == category)
}

/// The auto-send gate: every check, each recorded; sending is allowed only when all pass.
pub fn evaluate(f: &GateFacts) -> GateReport {
    use thresholds::*;
    let mut checks = Vec::new();
    let mut check = |name, passed, detail: String| {
        checks.push(Check {
            name,
            passed,
            detail,
        })
    };
    check(
        "mode",
        f.mode == Mode::Auto,
        format!("the category is in {} mode", f.mode),
    );
    check(
        "switch",
        f.switched_off.is_none(),
        f.switched_off
            .clone()
            .unwrap_or_else(|| "automatic sending is on".into()),
    );
    check(
        "policy",
        f.opted_in,
        format!(
            "policy.auto_send {} {}",
            if f.opted_in { "lists" } else { "does not list" },
            f.category
        ),
    );
    let flags: Vec<&String> = f
        .flags
        .iter()
        .filter(|x| NEVER_FLAGS.contains(&x.as_str()))
        .collect();
    check(
        "flags",
        flags.is_empty(),
        if flags.is_empty() {
            "no never-auto flag".into()
        } else {
            format!("flagged {flags:?}")
        },
    );
    let never = never_listed(&f.category, &f.never, f.team_license);
    check(
        "never_list",
        never.is_none(),
        match &never {
            Some(n) => format!("{n} is never sent automatically"),
            None => format!("{} is not on the never list", f.category),
        },
    );
    check(
        "tools",
        f.approval_tools.is_empty(),
        if f.approval_tools.is_empty() {
            "no tool that needs approval".into()
        } else {
            format!("proposes {:?}", f.approval_tools)
        },
    );
    check(
        "trust",
        f.trust >= MIN_TRUST && f.effective_samples >= MIN_EFFECTIVE_SAMPLES,
        format!(
            "trust {:.3} (>= {MIN_TRUST}) over {:.1} effective samples (>= {MIN_EFFECTIVE_SAMPLES})",
            f.trust, f.effective_samples
        ),
    );
    check(
        "confidence",
        f.confidence >= MIN_CONFIDENCE,
        format!(
            "classifier confidence {:.3} (>= {MIN_CONFIDENCE})",
            f.confidence
        ),
    );
    check(
        "scorers",
        f.failed_scorers.is_empty(),
        if f.failed_scorers.is_empty() {
            "every validation scorer passed".into()
        } else {
            format!("failed: {:?}", f.failed_scorers)
        },
    );
    let (cert_ok, cert_detail) = match &f.certificate {
        None => (false, "no eval certificate".to_string()),
        Some(c) if !c.passed => (false, "the eval certificate failed".into()),
        Some(c) if c.inputs_hash != f.inputs_hash => (
            false,
            "the certificate's inputs changed (policy, model, prompts or knowledge)".into(),
        ),
        Some(_) => (true, "valid eval certificate".into()),
    };
    check("certificate", cert_ok, cert_detail);
    GateReport {
        allowed: checks.iter().all(|c| c.passed),
        checks,
    }
}

/// Signal kinds that demote an automatic category when they concern a conversation we sent
/// automatically: a rewrite of a follow-up, a reopen, a bad rating, a reversal, a dispute.
pub const DEMOTING_KINDS: &[&str] = &[
    "rewritten",
    "reopened",
    "rating_bad",
    "refund_reversed",
    "disputed",
];

/// Whether a signal of `kind` demotes the category of a conversation we sent automatically.
pub fn demotes(kind: &str) -> bool {
    DEMOTING_KINDS.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn passing() -> GateFacts {
        GateFacts {
            mode: Mode::Auto,
            switched_off: None,
            opted_in: true,
            category: "access".into(),
            never: vec!["refund".into()],
            team_license: false,
            flags: vec![],
            approval_tools: vec![],
            trust: 0.9,
            effective_samples: 55.0,
            confidence: 0.95,
            failed_scorers: vec![],
            certificate: Some(CertificateFact {
                passed: true,
                inputs_hash: "h".into(),
            }),
            inputs_hash: "h".into(),
        }
    }

    #[test]
    fn all_checks_pass_or_the_gate_holds_it_back() {
        assert!(evaluate(&passing()).allowed);
        type Tweak = Box<dyn Fn(&mut GateFacts)>;
        let cases: Vec<(&str, Tweak)> = vec![
            ("mode", Box::new(|f| f.mode = Mode::Draft)),
            ("switch", Box::new(|f| f.switched_off = Some("off".into()))),
            ("policy", Box::new(|f| f.opted_in = false)),
            ("flags", Box::new(|f| f.flags = vec!["angry".into()])),
            ("flags", Box::new(|f| f.flags = vec!["legal".into()])),
            ("flags", Box::new(|f| f.flags = vec!["injection".into()])),
            ("never_list", Box::new(|f| f.category = "unknown".into())),
            ("never_list", Box::new(|f| f.category = "refund".into())),
            ("never_list", Box::new(|f| f.team_license = true)),
            (
                "tools",
                Box::new(|f| f.approval_tools = vec!["refund".into()]),
            ),
            ("trust", Box::new(|f| f.trust = 0.84)),
            ("trust", Box::new(|f| f.effective_samples = 49.9)),
            ("confidence", Box::new(|f| f.confidence = 0.89)),
            (
                "scorers",
                Box::new(|f| f.failed_scorers = vec!["tone".into()]),
            ),
            ("certificate", Box::new(|f| f.certificate = None)),
            ("certificate", Box::new(|f| f.inputs_hash = "other".into())),
            (
                "certificate",
                Box::new(|f| {
                    f.certificate = Some(CertificateFact {
                        passed: false,
                        inputs_hash: "h".into(),
                    })
                }),
            ),
        ];
        for (name, change) in cases {
            let mut f = passing();
            change(&mut f);
            let r = evaluate(&f);
            assert!(!r.allowed, "{name}");
            assert_eq!(r.failed(), vec![name], "{r:?}");
        }
    }

    #[test]
    fn modes_round_trip_and_demoting_kinds() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("loud"), None);
        assert!(demotes("reopened") && demotes("disputed") && demotes("rating_bad"));
        assert!(!demotes("unchanged") && !demotes("edited"));
    }
}
