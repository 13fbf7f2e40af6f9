//! Eval certificates: `skill eval --certify` runs the labelled scenarios of each category
//! through the pipeline under the app's current policy and stores, per app and category,
//! pass/fail with the hash of the inputs ([`inputs_hash`]). A change to any input (policy,
//! model choices, prompts, knowledge) changes the hash, and the gate refuses the old
//! certificate until the suite runs again.

use super::thresholds::{CERTIFICATE_MIN_PASS_RATE, CERTIFICATE_MIN_SCENARIOS};
use crate::pipeline::eval::{Scenario, ScenarioOutcome, run_scenario};
use crate::registry::AppPolicy;
use crate::settings::ModelChoice;
use crate::store::KbChunk;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// The prompts: the model agent's prompt module and the offline agent's replies, as compiled
/// into this build (a change to either is a new certificate).
const PROMPTS: [&str; 2] = [
    include_str!("../pipeline/model_agent/prompt.rs"),
    include_str!("../pipeline/agent.rs"),
];

/// The certificate inputs of an app: its policy, the models of its classifier and agent steps
/// (`None`: the offline implementation), the prompts of this build and its knowledge snapshot.
pub fn inputs_hash(
    policy: &AppPolicy,
    classifier: Option<&ModelChoice>,
    agent: Option<&ModelChoice>,
    knowledge: &[KbChunk],
) -> String {
    let prompts: Vec<String> = PROMPTS
        .iter()
        .map(|p| crate::crypto::sha256_hex(p.as_bytes()))
        .collect();
    let mut chunks: Vec<(&str, String)> = knowledge
        .iter()
        .map(|c| (c.id.as_str(), crate::crypto::sha256_hex(c.text.as_bytes())))
        .collect();
    chunks.sort();
    let model = |m: Option<&ModelChoice>| m.map(|m| format!("{}/{}", m.provider, m.model));
    // serde_json's maps are sorted, so the policy serializes the same way each time.
    let doc = json!({
        "policy": serde_json::to_value(policy).unwrap_or_default(),
        "classifier": model(classifier),
        "agent": model(agent),
        "prompts": prompts,
        "knowledge": chunks,
    });
    crate::crypto::sha256_hex(doc.to_string().as_bytes())
}

/// One category's certification run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryResult {
    pub category: String,
    pub scenarios: usize,
    pub passed: usize,
    /// Ids of the scenarios that failed, with why.
    pub failures: Vec<String>,
    pub certified: bool,
}

/// Why a scenario's outcome fails certification (`None`: it passes): wrong category or action,
/// a failing scorer, a missing or forbidden phrase, or a tool that needed approval executed.
pub fn scenario_failure(o: &ScenarioOutcome) -> Option<String> {
    let mut why = Vec::new();
    if !o.category_ok() {
        why.push(format!("category {}", o.category.as_str()));
    }
    if !o.action_ok() {
        why.push(format!("action {}", o.action.as_str()));
    }
    let failed: Vec<&str> = o
        .scorers
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.scorer.as_str())
        .collect();
    if !failed.is_empty() {
        why.push(format!("scorers {failed:?}"));
    }
    if !o.missing_mentions.is_empty() {
        why.push(format!("missing {:?}", o.missing_mentions));
    }
    if !o.forbidden_found.is_empty() {
        why.push(format!("forbidden {:?}", o.forbidden_found));
    }
    if o.executed_approval_required {
        why.push("executed an approval-required tool".into());
    }
    (!why.is_empty()).then(|| format!("{}: {}", o.id, why.join(", ")))
}

/// Runs `app`'s scenarios (by their labelled category) through the offline pipeline under
/// `policy` at `now`, searching `knowledge`; one result per category that has scenarios.
pub async fn certify_app(
    app: &str,
    scenarios: &[Scenario],
    policy: &AppPolicy,
    now: Millis,
    knowledge: &std::sync::Arc<dyn crate::knowledge::Retriever>,
) -> Vec<CategoryResult> {
    let mut by_category: BTreeMap<String, CategoryResult> = BTreeMap::new();
    for s in scenarios.iter().filter(|s| s.app == app) {
        let outcome = run_scenario(s, policy, now, knowledge).await;
        let r = by_category
            .entry(s.expected.category.clone())
            .or_insert_with(|| CategoryResult {
                category: s.expected.category.clone(),
                scenarios: 0,
                passed: 0,
                failures: Vec::new(),
                certified: false,
            });
        r.scenarios += 1;
        match scenario_failure(&outcome) {
            None => r.passed += 1,
            Some(why) => r.failures.push(why),
        }
    }
    by_category
        .into_values()
        .map(|mut r| {
            r.certified = r.scenarios >= CERTIFICATE_MIN_SCENARIOS
                && r.passed as f64 >= CERTIFICATE_MIN_PASS_RATE * r.scenarios as f64;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, text: &str) -> KbChunk {
        KbChunk {
            id: id.into(),
            document_id: "doc".into(),
            app: "a".into(),
            ordinal: 0,
            text: text.into(),
        }
    }

    #[test]
    fn any_input_changes_the_hash() {
        let p = AppPolicy::default();
        let k = vec![chunk("c1", "Login links expire after 24 hours.")];
        let m = ModelChoice {
            provider: "openai".into(),
            model: "gpt-x".into(),
        };
        let base = inputs_hash(&p, None, None, &k);
        assert_eq!(base, inputs_hash(&p, None, None, &k), "deterministic");
        let mut p2 = p.clone();
        p2.refund_auto_days = 10;
        assert_ne!(base, inputs_hash(&p2, None, None, &k), "policy");
        assert_ne!(
            base,
            inputs_hash(&p, Some(&m), None, &k),
            "classifier model"
        );
        assert_ne!(base, inputs_hash(&p, None, Some(&m), &k), "agent model");
        let k2 = vec![chunk("c1", "Login links expire after 12 hours.")];
        assert_ne!(base, inputs_hash(&p, None, None, &k2), "knowledge");
    }
}
