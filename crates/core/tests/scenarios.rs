//! Runs the offline pipeline over every development scenario and enforces the release gate.

use std::path::Path;

use support_core::pipeline::eval::{self, EvalReport, ScenarioOutcome};
use support_core::registry::AppPolicy;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scenarios/dev");

/// A fixed clock (2025-06-15T12:00:00Z) so ages and dates are reproducible.
const NOW: i64 = 1_749_988_800_000;

fn describe(o: &ScenarioOutcome) -> String {
    format!(
        "{}: expected {}/{} got {}/{} via {} ({})",
        o.id,
        o.expected.action,
        o.expected.category,
        o.action,
        o.category,
        o.rule,
        o.reasons.join("; ")
    )
}

#[tokio::test]
async fn dev_scenarios_pass_the_release_gate() {
    let dir = Path::new(SCENARIOS);
    if !dir.is_dir() {
        println!("SKIPPED: scenarios");
        return;
    }
    let scenarios = eval::load_dir(dir).expect("scenarios load");
    assert!(!scenarios.is_empty(), "no scenarios in {SCENARIOS}");
    let policy = AppPolicy::default();
    let knowledge = support_knowledge::demo::scenario_index().expect("demo articles index");
    let mut outcomes = Vec::new();
    for s in &scenarios {
        outcomes.push(eval::run_scenario(s, &policy, NOW, &knowledge).await);
    }
    let report = EvalReport::compute(&outcomes);

    let show_drafts = std::env::var_os("SCENARIO_DRAFTS").is_some();
    for o in &outcomes {
        if show_drafts {
            println!(
                "── {} [{} / {} / flags {:?} / tools {:?}]\n{}\n",
                o.id,
                o.action,
                o.category,
                o.flags,
                o.tools,
                o.draft.as_deref().unwrap_or("(no draft)")
            );
        }
        if o.flags != o.expected.flags {
            println!(
                "  {}: flags {:?}, labelled {:?}",
                o.id, o.flags, o.expected.flags
            );
        }
        let mut problems = Vec::new();
        if !o.action_ok() || !o.category_ok() {
            problems.push(describe(o));
        }
        if !o.missing_mentions.is_empty() {
            problems.push(format!("{}: missing {:?}", o.id, o.missing_mentions));
        }
        if !o.forbidden_found.is_empty() {
            problems.push(format!("{}: contains {:?}", o.id, o.forbidden_found));
        }
        for s in o.scorers.iter().filter(|s| !s.passed) {
            problems.push(format!("{}: scorer {} {:?}", o.id, s.scorer, s.findings));
        }
        for p in problems {
            println!("  {p}");
        }
    }
    println!("{report}");

    let failures = report.gate_failures();
    assert!(failures.is_empty(), "release gate failed: {failures:?}");
    assert!(
        report.injection_violations.is_empty(),
        "injection led to an executed approval-required tool"
    );
}
