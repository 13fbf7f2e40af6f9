//! The committed canned threshold (`router::CANNED_MIN_SCORE`) is the one the dev scenarios
//! choose with the demo's canned responses (`train::choose_canned_threshold`, dev routed by a
//! model trained on train), so a change to the scorer, the canned set or the guards that moves
//! the choice fails here until the threshold and `docs/eval/canned-figures.md` are regenerated
//! (`cargo xtask train-router --report`).

use std::path::Path;

use support_core::pipeline::classify::train::{self, Set};
use support_core::pipeline::eval;
use support_core::pipeline::router::CANNED_MIN_SCORE;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scenarios");

#[tokio::test]
async fn the_dev_scenarios_choose_the_committed_canned_threshold() {
    let root = Path::new(SCENARIOS);
    if !root.join("dev").is_dir() || !root.join("train").is_dir() {
        println!("SKIPPED: scenarios ({SCENARIOS} not found)");
        return;
    }
    let dev = eval::load_dir(&root.join("dev")).expect("dev loads");
    let train_set = eval::load_dir(&root.join("train")).expect("train loads");
    let knowledge = support_knowledge::demo::scenario_index().expect("the demo index builds");
    let canned = support_knowledge::demo::canned().expect("the demo canned responses read");
    let scorer = support_knowledge::canned::CannedIndex::new();
    let outcomes = train::canned_outcomes(
        Set {
            name: "dev",
            scenarios: &dev,
        },
        Set {
            name: "train",
            scenarios: &train_set,
        },
        &knowledge,
        &canned,
        &scorer,
    )
    .await;
    assert!(
        outcomes.iter().any(|o| o.canned.is_some()),
        "some dev scenario matches a canned response"
    );
    assert_eq!(
        train::choose_canned_threshold(&outcomes),
        CANNED_MIN_SCORE,
        "router::CANNED_MIN_SCORE is not the dev choice: run `cargo xtask train-router --report`"
    );
}
