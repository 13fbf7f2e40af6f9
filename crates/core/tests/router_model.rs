//! The committed learned-router model is reproducible: retraining on the same scenarios with
//! the same seed and order gives the same file, byte for byte.

use std::path::Path;

use support_core::pipeline::classify::learned::{EMBEDDED, RouterModel};
use support_core::pipeline::classify::train::{self, CHOSEN, Set};
use support_core::pipeline::eval;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/scenarios");

#[tokio::test]
async fn retraining_gives_the_committed_model() {
    let model = RouterModel::embedded().expect("the committed model reads");
    assert_eq!(
        model.thresholds, CHOSEN,
        "the committed thresholds are the chosen ones"
    );
    let root = Path::new(SCENARIOS);
    if !root.join("dev").is_dir() || !root.join("train").is_dir() {
        println!("SKIPPED: scenarios ({SCENARIOS} not found)");
        return;
    }
    let dev = eval::load_dir(&root.join("dev")).expect("dev loads");
    let train_set = eval::load_dir(&root.join("train")).expect("train loads");
    let sets = [
        Set {
            name: "dev",
            scenarios: &dev,
        },
        Set {
            name: "train",
            scenarios: &train_set,
        },
    ];
    let (_, file) = train::train(&sets, CHOSEN).await;
    assert!(
        file == EMBEDDED,
        "crates/core/models/router.json is stale: run `cargo xtask train-router`"
    );
}
