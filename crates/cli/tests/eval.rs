//! `skill eval` through the real pipeline on the development scenarios: the gate must hold.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[tokio::test]
async fn dev_scenarios_pass_the_gate_through_the_real_pipeline() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if !dir.is_dir() {
        eprintln!("SKIPPED: scenarios ({} not found)", dir.display());
        return;
    }
    support_testkit::init_crypto();
    let run = support_cli::eval::run(&dir, false).await.unwrap();
    eprintln!("{}", run.report);
    assert!(run.report.total >= 50, "{} scenarios", run.report.total);
    assert!(run.gate_failures().is_empty(), "{:?}", run.gate_failures());
    let json = run.to_json();
    for key in [
        "scenarios",
        "respond",
        "action_accuracy",
        "category_accuracy",
        "per_action",
        "scorers",
        "latency_ms",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from --json");
    }
    assert!(json["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
}
