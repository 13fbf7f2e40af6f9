//! Training the learned router from labelled scenarios, and measuring it honestly: across sets
//! (tuned on one, reported on the other) and by k-fold over both. `cargo xtask train-router`
//! drives it; the product never calls it.

use super::learned::{self, Example, RouterModel, SplitMix, Thresholds};
use crate::corpus::CannedResponse;
use crate::knowledge::{CannedScorer, Retriever};
use crate::pipeline::agent;
use crate::pipeline::eval::{self, CannedCounts, EvalReport, Scenario, ScenarioOutcome};
use crate::pipeline::fixtures::ScenarioWorld;
use crate::pipeline::profile::AppProfile;
use crate::pipeline::router::{self, CANNED_MIN_SCORE, CannedSet, RouteAction, RouteInput};
use crate::registry::AppPolicy;
use crate::time::Millis;
use std::sync::Arc;

/// The fixed clock of training and measurement (2025-06-15T12:00:00Z), as in the scenario
/// tests, so purchase ages are reproducible.
pub const NOW: Millis = 1_749_988_800_000;

/// Folds of the k-fold measurement.
pub const FOLDS: usize = 5;

/// The thresholds the committed model uses (chosen on the k-fold curve, see
/// `docs/eval/router.md`).
pub const CHOSEN: Thresholds = Thresholds {
    respond: 0.3,
    silence: 0.35,
    urgent: 0.5,
    trust_rules_at: 0.85,
};

/// A named set of scenarios.
#[derive(Debug, Clone, Copy)]
pub struct Set<'a> {
    pub name: &'a str,
    pub scenarios: &'a [Scenario],
}

/// The training example of a scenario: its features as the router sees them (the rules run
/// first, without a model) and its labelled action.
pub async fn example(s: &Scenario) -> Example {
    let inbound = s.inbound();
    let email = inbound.customer_email();
    let world = ScenarioWorld::records_only(&s.app, &email, s.customer, NOW);
    let profile = AppProfile::for_app(&s.app);
    let facts = agent::hydrate(&world, &email, NOW).await;
    let policy = AppPolicy::default();
    let input = RouteInput {
        inbound: &inbound,
        facts: Some(&facts),
        policy: &policy,
        profile: &profile,
        canned: crate::pipeline::router::CannedSet::NONE,
    };
    let d = router::route_with(input, None);
    Example {
        features: learned::features(&router::signals(input, &d.analysis, &d.rule, d.action)),
        label: RouteAction::parse(&s.expected.action).unwrap_or(RouteAction::EscalateHuman),
    }
}

async fn examples(scenarios: &[&Scenario]) -> Vec<Example> {
    let mut v = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        v.push(example(s).await);
    }
    v
}

/// Trains on every scenario of `sets`, in the given order, and returns the model with its file
/// text (what `crates/core/models/router.json` holds).
pub async fn train(sets: &[Set<'_>], thresholds: Thresholds) -> (RouterModel, String) {
    let all: Vec<&Scenario> = sets.iter().flat_map(|s| s.scenarios.iter()).collect();
    let sources: Vec<String> = sets
        .iter()
        .flat_map(|set| {
            set.scenarios.iter().map(move |s| {
                format!(
                    "{}/{}:{}",
                    set.name,
                    s.id,
                    serde_json::to_string(s).unwrap_or_default()
                )
            })
        })
        .collect();
    let model = RouterModel::train(&examples(&all).await, thresholds);
    let file = learned::file_text(&model.to_file(
        learned::inputs_hash(sources.iter().map(String::as_str)),
        all.len(),
    ));
    (model, file)
}

/// The pipeline's outcomes on `scenarios` with `model` (`None`: the rules alone), searching
/// `knowledge`.
pub async fn outcomes(
    scenarios: &[&Scenario],
    model: Option<&RouterModel>,
    knowledge: &Arc<dyn Retriever>,
) -> Vec<ScenarioOutcome> {
    let policy = AppPolicy::default();
    let mut v = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        v.push(eval::run_scenario_with(s, &policy, NOW, model, knowledge, CannedSet::NONE).await);
    }
    v
}

/// Deterministic k-fold assignment of `n` items: fold of each index.
pub fn folds(n: usize, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix::new(learned::SEED).shuffle(&mut order);
    let mut fold = vec![0; n];
    for (pos, i) in order.into_iter().enumerate() {
        fold[i] = pos % k;
    }
    fold
}

/// One line of the figures table.
pub fn row(name: &str, r: &EvalReport) -> String {
    format!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
        r.total,
        r.action_accuracy,
        r.category_accuracy,
        r.respond_precision,
        r.respond_recall,
        r.respond_fp_rate,
        r.respond_fn_rate,
        r.urgent_recall,
        r.must_mention_rate,
    )
}

/// The header of the figures table.
pub const TABLE_HEAD: &str = "| measured on | n | action acc | category acc | respond P | respond R | FP rate | FN rate | urgent R | must_mention |\n|---|---|---|---|---|---|---|---|---|---|";

fn with_thresholds(m: &RouterModel, t: Thresholds) -> RouterModel {
    let mut m = m.clone();
    m.thresholds = t;
    m
}

/// The cross-set figures as Markdown: the rules alone, dev → train, train → dev, k-fold over
/// both, and the k-fold curve around the chosen respond threshold (drafts search `knowledge`).
pub async fn report(
    dev: Set<'_>,
    train_set: Set<'_>,
    chosen: Thresholds,
    knowledge: &Arc<dyn Retriever>,
) -> String {
    let dev_refs: Vec<&Scenario> = dev.scenarios.iter().collect();
    let train_refs: Vec<&Scenario> = train_set.scenarios.iter().collect();
    let mut out = String::new();
    out.push_str(TABLE_HEAD);
    out.push('\n');
    let rules_dev = EvalReport::compute(&outcomes(&dev_refs, None, knowledge).await);
    let rules_train = EvalReport::compute(&outcomes(&train_refs, None, knowledge).await);
    out.push_str(&row("rules alone, dev", &rules_dev));
    out.push('\n');
    out.push_str(&row("rules alone, train", &rules_train));
    out.push('\n');

    let (on_dev, _) = train(&[dev], chosen).await;
    let (on_train, _) = train(&[train_set], chosen).await;
    let dev_to_train = EvalReport::compute(&outcomes(&train_refs, Some(&on_dev), knowledge).await);
    let train_to_dev = EvalReport::compute(&outcomes(&dev_refs, Some(&on_train), knowledge).await);
    out.push_str(&row("rules + model trained on dev → train", &dev_to_train));
    out.push('\n');
    out.push_str(&row("rules + model trained on train → dev", &train_to_dev));
    out.push('\n');

    // k-fold over both sets: each scenario is measured by a model that never saw it.
    let all: Vec<&Scenario> = dev_refs.iter().chain(&train_refs).copied().collect();
    let fold = folds(all.len(), FOLDS);
    let mut fold_models = Vec::new();
    for k in 0..FOLDS {
        let train_part: Vec<&Scenario> = all
            .iter()
            .zip(&fold)
            .filter(|(_, f)| **f != k)
            .map(|(s, _)| *s)
            .collect();
        fold_models.push(RouterModel::train(&examples(&train_part).await, chosen));
    }
    let kfold = |t: Thresholds| {
        let models: Vec<RouterModel> = fold_models.iter().map(|m| with_thresholds(m, t)).collect();
        let all = all.clone();
        let fold = fold.clone();
        let knowledge = Arc::clone(knowledge);
        async move {
            let policy = AppPolicy::default();
            let mut v = Vec::with_capacity(all.len());
            for (s, k) in all.iter().zip(&fold) {
                v.push(
                    eval::run_scenario_with(
                        s,
                        &policy,
                        NOW,
                        Some(&models[*k]),
                        &knowledge,
                        CannedSet::NONE,
                    )
                    .await,
                );
            }
            EvalReport::compute(&v)
        }
    };
    out.push_str(&row(
        &format!("rules + model, {FOLDS}-fold over dev+train"),
        &kfold(chosen).await,
    ));
    out.push_str("\n\nThe respond threshold (k-fold over dev+train; silence threshold ");
    out.push_str(&format!(
        "{:.2}, urgent threshold {:.2}):\n\n",
        chosen.silence, chosen.urgent
    ));
    out.push_str(&TABLE_HEAD.replace("measured on", "p(respond) threshold"));
    out.push('\n');
    for r in [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6] {
        let t = Thresholds {
            respond: r,
            ..chosen
        };
        let mark = if (r - chosen.respond).abs() < 1e-6 {
            " (chosen)"
        } else {
            ""
        };
        out.push_str(&row(&format!("{r:.2}{mark}"), &kfold(t).await));
        out.push('\n');
    }
    out.push_str("\nThe same respond thresholds across sets (model trained on one set, measured on the other):\n\n");
    out.push_str(&TABLE_HEAD.replace("measured on", "p(respond) threshold, direction"));
    out.push('\n');
    for r in [0.1, 0.2, 0.3, 0.4, 0.5] {
        let t = Thresholds {
            respond: r,
            ..chosen
        };
        for (name, model, refs) in [
            ("dev → train", &on_dev, &train_refs),
            ("train → dev", &on_train, &dev_refs),
        ] {
            let m = with_thresholds(model, t);
            let r2 = EvalReport::compute(&outcomes(refs, Some(&m), knowledge).await);
            out.push_str(&row(&format!("{r:.2}, {name}"), &r2));
            out.push('\n');
        }
    }
    out.push_str("\nTrusting confident rules (k-fold; a rules' `respond` at or above this confidence is kept):\n\n");
    out.push_str(&TABLE_HEAD.replace("measured on", "trust rules at"));
    out.push('\n');
    for c in [0.7, 0.8, 0.85, 0.9, 1.01] {
        let t = Thresholds {
            trust_rules_at: c,
            ..chosen
        };
        out.push_str(&row(&format!("{c:.2}"), &kfold(t).await));
        out.push('\n');
    }
    out.push_str("\nThe urgent threshold (k-fold):\n\n");
    out.push_str(&TABLE_HEAD.replace("measured on", "p(urgent) threshold"));
    out.push('\n');
    for u in [0.3, 0.5, 1.1] {
        let t = Thresholds {
            urgent: u,
            ..chosen
        };
        out.push_str(&row(&format!("{u:.2}"), &kfold(t).await));
        out.push('\n');
    }
    out
}

/// The canned-response thresholds the sweep tries.
pub const CANNED_SWEEP: [f32; 10] = [0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// When a threshold is chosen, one wrong canned reply weighs as much as this many right ones
/// (a wrong canned reply replaces the agent's draft with a wrong answer; a missed one leaves
/// the agent's draft).
pub const CANNED_WRONG_COST: i64 = 3;

/// The canned threshold `outcomes` (run with every match allowed) choose: the most right
/// replies less [`CANNED_WRONG_COST`] per wrong one; when several thresholds tie, the middle
/// one (the upper of two), so a small shift in scores does not leave the best range.
pub fn choose_canned_threshold(outcomes: &[ScenarioOutcome]) -> f32 {
    let values: Vec<(f32, i64)> = CANNED_SWEEP
        .into_iter()
        .map(|t| {
            let c = CannedCounts::at(outcomes, t);
            (t, c.right as i64 - CANNED_WRONG_COST * c.wrong.len() as i64)
        })
        .collect();
    let best = values.iter().map(|(_, v)| *v).max().unwrap_or(0);
    let tied: Vec<f32> = values
        .into_iter()
        .filter(|(_, v)| *v == best)
        .map(|(t, _)| t)
        .collect();
    tied.get(tied.len() / 2)
        .copied()
        .unwrap_or(CANNED_MIN_SCORE)
}

/// The outcomes of `set` with every canned match allowed (`CannedSet::with_min_score(0.0)`),
/// routed by a model trained on `other` (so routing is out-of-sample too): what
/// [`CannedCounts::at`] and [`choose_canned_threshold`] read.
pub async fn canned_outcomes(
    set: Set<'_>,
    other: Set<'_>,
    knowledge: &Arc<dyn Retriever>,
    canned: &[CannedResponse],
    scorer: &dyn CannedScorer,
) -> Vec<ScenarioOutcome> {
    let (model, _) = train(&[other], CHOSEN).await;
    let every_match = CannedSet::new(canned, scorer).with_min_score(0.0);
    let policy = AppPolicy::default();
    let mut v = Vec::with_capacity(set.scenarios.len());
    for s in set.scenarios {
        v.push(
            eval::run_scenario_with(s, &policy, NOW, Some(&model), knowledge, every_match).await,
        );
    }
    v
}

/// Canned responses measured across sets: each set is routed by a model trained on the other
/// (so routing is out-of-sample too), with every canned match allowed; the threshold chosen on
/// one set is reported on the other. Markdown.
pub async fn canned_report(
    dev: Set<'_>,
    train_set: Set<'_>,
    knowledge: &Arc<dyn Retriever>,
    canned: &[CannedResponse],
    scorer: &dyn CannedScorer,
) -> String {
    let runs = [
        canned_outcomes(dev, train_set, knowledge, canned, scorer).await,
        canned_outcomes(train_set, dev, knowledge, canned, scorer).await,
    ];
    let respond = |v: &[ScenarioOutcome]| {
        v.iter()
            .filter(|o| o.expected.action == RouteAction::Respond.as_str())
            .count()
            .max(1)
    };
    let cell = |v: &[ScenarioOutcome], t: f32| {
        let c = CannedCounts::at(v, t);
        format!(
            "{} | {} | {} | {:.3}",
            c.drafts,
            c.right,
            c.wrong.len(),
            c.right as f64 / respond(v) as f64
        )
    };
    let (dev_out, train_out) = (&runs[0], &runs[1]);
    let mut out = String::from(
        "| threshold | dev drafts | dev right | dev wrong | dev coverage | train drafts | train right | train wrong | train coverage |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for t in CANNED_SWEEP {
        out.push_str(&format!(
            "| {t:.2} | {} | {} |\n",
            cell(dev_out, t),
            cell(train_out, t)
        ));
    }
    for (chosen_on, from, to, to_name) in [
        ("dev", dev_out, train_out, "train"),
        ("train", train_out, dev_out, "dev"),
    ] {
        let t = choose_canned_threshold(from);
        let c = CannedCounts::at(to, t);
        out.push_str(&format!(
            "\nChosen on {chosen_on}: {t:.2}. On {to_name}: {} canned drafts, {} right, precision {:.3}, coverage {:.3} of {} replies; wrong: {:?}.\n",
            c.drafts,
            c.right,
            if c.drafts == 0 { 1.0 } else { c.right as f64 / c.drafts as f64 },
            c.right as f64 / respond(to) as f64,
            respond(to),
            c.wrong
        ));
    }
    out.push_str(&format!(
        "\nCommitted threshold (`router::CANNED_MIN_SCORE`): {CANNED_MIN_SCORE:.2}.\n"
    ));
    out
}
