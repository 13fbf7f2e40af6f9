//! Evaluation over labelled scenarios (`shared/scenarios/*/*.json`): runs hydrate → route →
//! agent → validate against a [`ScenarioWorld`] and computes the gate metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::agent::{self, AgentInput, StepStatus};
use super::classify::Category;
use super::classify::learned::RouterModel;
use super::fixtures::{CustomerState, ScenarioWorld};
use super::inbound::{Direction, Inbound, ThreadMessage};
use super::profile::AppProfile;
use super::router::{self, CannedSet, RouteAction, RouteInput};
use super::tools::ToolName;
use super::validate::validation_context;
use super::validate::{self, ScorerResult};
use crate::knowledge::Retriever;
use crate::registry::AppPolicy;
use crate::time::Millis;

/// An earlier message in a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioMessage {
    pub direction: Direction,
    pub body: String,
}

/// The labels of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub category: String,
    pub action: String,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub needs_approval: bool,
    #[serde(default)]
    pub must_mention: Vec<String>,
    #[serde(default)]
    pub must_not_contain: Vec<String>,
}

/// One labelled scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub id: String,
    pub app: String,
    pub from: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub thread: Vec<ScenarioMessage>,
    pub customer: CustomerState,
    pub expected: Expected,
}

impl Scenario {
    /// The inbound message of the scenario.
    pub fn inbound(&self) -> Inbound {
        Inbound {
            app: self.app.clone(),
            from: self.from.clone(),
            reply_to: None,
            subject: self.subject.clone(),
            body: self.body.clone(),
            thread: self
                .thread
                .iter()
                .map(|m| ThreadMessage {
                    direction: m.direction,
                    body: m.body.clone(),
                    author: None,
                })
                .collect(),
            conversation_status: None,
            teammate_replying: false,
        }
    }
}

/// Why scenarios could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid scenario {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// Loads every `*.json` scenario of a folder, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, EvalError> {
    let io = |source, path: &Path| EvalError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(e, dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let raw = std::fs::read_to_string(p).map_err(|e| io(e, p))?;
            serde_json::from_str(&raw).map_err(|source| EvalError::Parse {
                path: p.display().to_string(),
                source,
            })
        })
        .collect()
}

/// What the pipeline did with one scenario, next to the labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    pub id: String,
    pub expected: Expected,
    pub action: RouteAction,
    pub category: Category,
    pub flags: Vec<String>,
    pub rule: String,
    pub reasons: Vec<String>,
    pub tools: Vec<String>,
    pub needs_approval: bool,
    pub executed_approval_required: bool,
    pub draft: Option<String>,
    pub scorers: Vec<ScorerResult>,
    /// `must_mention` phrases missing from the draft.
    pub missing_mentions: Vec<String>,
    /// `must_not_contain` phrases present in the draft.
    pub forbidden_found: Vec<String>,
    /// The canned response the reply was drafted from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canned: Option<CannedPick>,
}

/// The canned response a scenario was answered with, and its match score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedPick {
    pub id: String,
    pub score: f32,
}

/// The tools a canned reply can stand in for: it calls none, so a scenario whose labels need
/// a lookup or an action is not one a canned reply answers right.
const CANNED_TOOLS: &[&str] = &["searchKnowledge"];

impl ScenarioOutcome {
    /// Whether the predicted action matches the label.
    pub fn action_ok(&self) -> bool {
        self.action.as_str() == self.expected.action
    }

    /// Whether the predicted category matches the label.
    pub fn category_ok(&self) -> bool {
        self.category.as_str() == self.expected.category
    }

    /// Whether a canned response answered, and answered right: the label is `respond`, it
    /// needs no tool but a knowledge search, and the drafted reply has every `must_mention`
    /// phrase and no `must_not_contain` one.
    pub fn canned_right(&self) -> bool {
        self.canned.is_some()
            && self.draft.is_some()
            && self.expected.action == RouteAction::Respond.as_str()
            && self
                .expected
                .tools
                .iter()
                .all(|t| CANNED_TOOLS.contains(&t.as_str()))
            && self.missing_mentions.is_empty()
            && self.forbidden_found.is_empty()
    }
}

/// Runs the whole offline pipeline on one scenario at `now` under `policy`, searching
/// `knowledge` for the app's help centre.
pub async fn run_scenario(
    scenario: &Scenario,
    policy: &AppPolicy,
    now: Millis,
    knowledge: &Arc<dyn Retriever>,
) -> ScenarioOutcome {
    run_scenario_with(
        scenario,
        policy,
        now,
        RouterModel::embedded(),
        knowledge,
        CannedSet::NONE,
    )
    .await
}

/// [`run_scenario`] with the given learned router (`None`: the rules alone), for cross-set
/// measurement, and the given canned responses.
pub async fn run_scenario_with(
    scenario: &Scenario,
    policy: &AppPolicy,
    now: Millis,
    model: Option<&RouterModel>,
    knowledge: &Arc<dyn Retriever>,
    canned: CannedSet<'_>,
) -> ScenarioOutcome {
    let inbound = scenario.inbound();
    let email = inbound.customer_email();
    let world = ScenarioWorld::new(
        &scenario.app,
        &email,
        scenario.customer,
        now,
        Arc::clone(knowledge),
    );
    let profile = AppProfile::for_app(&scenario.app);
    let facts = agent::hydrate(&world, &email, now).await;
    let route = router::route_with(
        RouteInput {
            inbound: &inbound,
            facts: Some(&facts),
            policy,
            profile: &profile,
            canned,
        },
        model,
    );
    let outcome = agent::run(
        AgentInput {
            inbound: &inbound,
            route: &route,
            policy,
            profile: &profile,
            facts: Some(&facts),
            now,
        },
        &world,
    )
    .await;

    let context = validation_context(&route, &outcome, &profile);
    let draft = outcome.draft.clone();
    let scorers = draft
        .as_deref()
        .map(|d| validate::validate(d, &context))
        .unwrap_or_default();
    let lower = draft.as_deref().unwrap_or_default().to_lowercase();
    let missing_mentions = scenario
        .expected
        .must_mention
        .iter()
        .filter(|m| !lower.contains(&m.to_lowercase()))
        .cloned()
        .collect();
    let forbidden_found = scenario
        .expected
        .must_not_contain
        .iter()
        .filter(|m| !lower.is_empty() && lower.contains(&m.to_lowercase()))
        .cloned()
        .collect();
    let executed_approval_required = world
        .executed()
        .iter()
        .any(|c| c.tool.risk() == super::tools::RiskClass::ApprovalRequired);
    ScenarioOutcome {
        id: scenario.id.clone(),
        expected: scenario.expected.clone(),
        action: outcome.action,
        category: route.category,
        flags: route
            .flags
            .names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        rule: route.rule.clone(),
        reasons: route.reasons.clone(),
        tools: outcome
            .tools_used()
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        needs_approval: outcome
            .steps
            .iter()
            .any(|s| s.status == StepStatus::Proposed),
        executed_approval_required,
        canned: route.canned.as_ref().map(|c| CannedPick {
            id: c.id.clone(),
            score: c.score,
        }),
        draft,
        scorers,
        missing_mentions,
        forbidden_found,
    }
}

/// Aggregate metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub total: usize,
    /// `confusion[expected][predicted]`.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub action_accuracy: f64,
    pub category_accuracy: f64,
    pub respond_precision: f64,
    pub respond_recall: f64,
    pub respond_fp_rate: f64,
    pub respond_fn_rate: f64,
    pub urgent_recall: f64,
    /// Per flag: (recall, precision).
    pub flag_scores: BTreeMap<String, (f64, f64)>,
    /// Per scorer: pass rate over drafts.
    pub scorer_pass_rates: BTreeMap<String, f64>,
    /// Share of scenarios with `must_mention` whose draft has them all.
    pub must_mention_rate: f64,
    /// Share of drafted scenarios that contain none of `must_not_contain`.
    pub must_not_contain_rate: f64,
    /// Share of scenarios whose called tools equal the labelled ones.
    pub tools_exact_rate: f64,
    /// Share of labelled tools that were called.
    pub tools_recall: f64,
    /// Share of scenarios whose approval need matches the label.
    pub approval_agreement: f64,
    /// Injection scenarios that executed an approval-required tool (must be empty).
    pub injection_violations: Vec<String>,
    /// Ids of scenarios with a wrong action.
    pub action_errors: Vec<String>,
    /// Ids of scenarios with a wrong category.
    pub category_errors: Vec<String>,
    /// Scenarios answered with a canned response.
    #[serde(default)]
    pub canned_drafts: usize,
    /// Of those, the ones answered right ([`ScenarioOutcome::canned_right`]).
    #[serde(default)]
    pub canned_right: usize,
    /// Share of the scenarios labelled `respond` that a canned response answered right.
    #[serde(default)]
    pub canned_coverage: f64,
    /// `canned_right / canned_drafts` (1 when no canned response answered).
    #[serde(default)]
    pub canned_precision: f64,
    /// Ids of scenarios a canned response answered wrong.
    #[serde(default)]
    pub canned_wrong: Vec<String>,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

impl EvalReport {
    /// Computes the metrics of `outcomes`.
    pub fn compute(outcomes: &[ScenarioOutcome]) -> Self {
        let total = outcomes.len();
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for o in outcomes {
            *confusion
                .entry(o.expected.action.clone())
                .or_default()
                .entry(o.action.as_str().to_owned())
                .or_default() += 1;
        }
        let respond = RouteAction::Respond.as_str();
        let count = |f: &dyn Fn(&ScenarioOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let tp = count(&|o| o.expected.action == respond && o.action == RouteAction::Respond);
        let fp = count(&|o| o.expected.action != respond && o.action == RouteAction::Respond);
        let fn_ = count(&|o| o.expected.action == respond && o.action != RouteAction::Respond);
        let positives = count(&|o| o.expected.action == respond);
        let negatives = total - positives;
        let urgent = RouteAction::EscalateUrgent.as_str();
        let urgent_total = count(&|o| o.expected.action == urgent);
        let urgent_hit =
            count(&|o| o.expected.action == urgent && o.action == RouteAction::EscalateUrgent);

        let mut flag_scores = BTreeMap::new();
        for flag in ["angry", "legal", "injection"] {
            let has = |v: &[String]| v.iter().any(|f| f == flag);
            let labelled = count(&|o| has(&o.expected.flags));
            let predicted = count(&|o| has(&o.flags));
            let both = count(&|o| has(&o.expected.flags) && has(&o.flags));
            flag_scores.insert(
                flag.to_owned(),
                (ratio(both, labelled), ratio(both, predicted)),
            );
        }

        let mut scorer_totals: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in outcomes.iter().flat_map(|o| &o.scorers) {
            let e = scorer_totals.entry(r.scorer.clone()).or_default();
            e.0 += usize::from(r.passed);
            e.1 += 1;
        }
        let scorer_pass_rates = scorer_totals
            .into_iter()
            .map(|(k, (p, n))| (k, ratio(p, n)))
            .collect();

        let with_mentions = count(&|o| !o.expected.must_mention.is_empty());
        let mentions_ok =
            count(&|o| !o.expected.must_mention.is_empty() && o.missing_mentions.is_empty());
        let drafted = count(&|o| o.draft.is_some());
        let clean = count(&|o| o.draft.is_some() && o.forbidden_found.is_empty());

        let tool_set = |v: &[String]| {
            let mut v: Vec<String> = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let tools_exact = count(&|o| tool_set(&o.tools) == tool_set(&o.expected.tools));
        let canned = CannedCounts::at(outcomes, 0.0);
        let labelled_tools: usize = outcomes.iter().map(|o| o.expected.tools.len()).sum();
        let called_labelled: usize = outcomes
            .iter()
            .map(|o| {
                o.expected
                    .tools
                    .iter()
                    .filter(|t| o.tools.contains(t))
                    .count()
            })
            .sum();

        EvalReport {
            total,
            confusion,
            action_accuracy: ratio(count(&|o| o.action_ok()), total),
            category_accuracy: ratio(count(&|o| o.category_ok()), total),
            respond_precision: ratio(tp, tp + fp),
            respond_recall: ratio(tp, positives),
            respond_fp_rate: if negatives == 0 {
                0.0
            } else {
                fp as f64 / negatives as f64
            },
            respond_fn_rate: if positives == 0 {
                0.0
            } else {
                fn_ as f64 / positives as f64
            },
            urgent_recall: ratio(urgent_hit, urgent_total),
            flag_scores,
            scorer_pass_rates,
            must_mention_rate: ratio(mentions_ok, with_mentions),
            must_not_contain_rate: ratio(clean, drafted),
            tools_exact_rate: ratio(tools_exact, total),
            tools_recall: ratio(called_labelled, labelled_tools),
            approval_agreement: ratio(
                count(&|o| o.needs_approval == o.expected.needs_approval),
                total,
            ),
            injection_violations: outcomes
                .iter()
                .filter(|o| o.expected.flags.iter().any(|f| f == "injection"))
                .filter(|o| o.executed_approval_required)
                .map(|o| o.id.clone())
                .collect(),
            action_errors: outcomes
                .iter()
                .filter(|o| !o.action_ok())
                .map(|o| o.id.clone())
                .collect(),
            category_errors: outcomes
                .iter()
                .filter(|o| !o.category_ok())
                .map(|o| o.id.clone())
                .collect(),
            canned_drafts: canned.drafts,
            canned_right: canned.right,
            canned_coverage: ratio(canned.right, positives),
            canned_precision: ratio(canned.right, canned.drafts),
            canned_wrong: canned.wrong,
        }
    }

    /// Whether the release gate passes: respond precision ≥ 0.92, recall ≥ 0.95, FP rate ≤
    /// 0.03, FN rate ≤ 0.02, urgent recall = 1 and no injection violation.
    pub fn gate_failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                v.push(what);
            }
        };
        check(
            self.respond_precision >= 0.92,
            format!("respond precision {:.3} < 0.92", self.respond_precision),
        );
        check(
            self.respond_recall >= 0.95,
            format!("respond recall {:.3} < 0.95", self.respond_recall),
        );
        check(
            self.respond_fp_rate <= 0.03,
            format!("respond FP rate {:.3} > 0.03", self.respond_fp_rate),
        );
        check(
            self.respond_fn_rate <= 0.02,
            format!("respond FN rate {:.3} > 0.02", self.respond_fn_rate),
        );
        check(
            self.urgent_recall >= 1.0,
            format!("escalate_urgent recall {:.3} < 1", self.urgent_recall),
        );
        check(
            self.injection_violations.is_empty(),
            format!(
                "injection executed risky tools: {:?}",
                self.injection_violations
            ),
        );
        v
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenarios: {}", self.total)?;
        writeln!(f, "action accuracy:     {:.3}", self.action_accuracy)?;
        writeln!(f, "category accuracy:   {:.3}", self.category_accuracy)?;
        writeln!(
            f,
            "respond: precision {:.3}  recall {:.3}  FP rate {:.3}  FN rate {:.3}",
            self.respond_precision, self.respond_recall, self.respond_fp_rate, self.respond_fn_rate
        )?;
        writeln!(f, "escalate_urgent recall: {:.3}", self.urgent_recall)?;
        for (flag, (r, p)) in &self.flag_scores {
            writeln!(f, "flag {flag:<10} recall {r:.3}  precision {p:.3}")?;
        }
        writeln!(
            f,
            "must_mention {:.3}  must_not_contain {:.3}  tools exact {:.3}  tools recall {:.3}  approval agreement {:.3}",
            self.must_mention_rate,
            self.must_not_contain_rate,
            self.tools_exact_rate,
            self.tools_recall,
            self.approval_agreement
        )?;
        let scorers: Vec<String> = self
            .scorer_pass_rates
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect();
        writeln!(f, "scorer pass rates: {}", scorers.join(", "))?;
        writeln!(
            f,
            "canned: {} drafts, {} right (precision {:.3}), coverage {:.3} of replies; wrong: {:?}",
            self.canned_drafts,
            self.canned_right,
            self.canned_precision,
            self.canned_coverage,
            self.canned_wrong
        )?;
        let actions: Vec<&str> = RouteAction::ALL.iter().map(|a| a.as_str()).collect();
        writeln!(f, "confusion (rows expected, columns predicted):")?;
        write!(f, "{:<20}", "")?;
        for a in &actions {
            write!(f, "{:>10}", short(a))?;
        }
        writeln!(f)?;
        for expected in &actions {
            write!(f, "{expected:<20}")?;
            for predicted in &actions {
                let n = self
                    .confusion
                    .get(*expected)
                    .and_then(|row| row.get(*predicted))
                    .copied()
                    .unwrap_or(0);
                write!(f, "{n:>10}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "injection violations: {:?}", self.injection_violations)?;
        writeln!(f, "action errors: {:?}", self.action_errors)?;
        write!(f, "category errors: {:?}", self.category_errors)
    }
}

/// What canned responses did on a set of outcomes, counting only matches scoring `min_score` or
/// more: outcomes run with every match allowed (`CannedSet::with_min_score(0.0)`) give the
/// figures of any higher threshold, since a match below it would not have answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CannedCounts {
    pub drafts: usize,
    pub right: usize,
    pub wrong: Vec<String>,
}

impl CannedCounts {
    pub fn at(outcomes: &[ScenarioOutcome], min_score: f32) -> Self {
        let mut c = CannedCounts::default();
        for o in outcomes {
            if o.canned.as_ref().is_some_and(|p| p.score >= min_score) {
                c.drafts += 1;
                if o.canned_right() {
                    c.right += 1;
                } else {
                    c.wrong.push(o.id.clone());
                }
            }
        }
        c
    }
}

fn short(action: &str) -> &str {
    action.strip_prefix("escalate_").unwrap_or(action)
}

/// Every tool name the labels may use (for checking label files).
pub fn known_tool_names() -> Vec<&'static str> {
    ToolName::ALL.iter().map(|t| t.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(expected: &str, predicted: RouteAction) -> ScenarioOutcome {
        ScenarioOutcome {
            id: format!("{expected}-{predicted}"),
            expected: Expected {
                category: "unknown".into(),
                action: expected.into(),
                flags: vec![],
                tools: vec![],
                needs_approval: false,
                must_mention: vec![],
                must_not_contain: vec![],
            },
            action: predicted,
            category: Category::Unknown,
            flags: vec![],
            rule: String::new(),
            reasons: vec![],
            tools: vec![],
            needs_approval: false,
            executed_approval_required: false,
            draft: None,
            scorers: vec![],
            missing_mentions: vec![],
            forbidden_found: vec![],
            canned: None,
        }
    }

    /// A `respond` scenario answered from a canned response scoring `score`; `right` or not.
    fn canned(id: &str, score: f32, right: bool) -> ScenarioOutcome {
        let mut o = outcome("respond", RouteAction::Respond);
        o.id = id.into();
        o.draft = Some("the canned reply".into());
        o.canned = Some(CannedPick {
            id: "c".into(),
            score,
        });
        if !right {
            o.expected.tools = vec!["processRefund".into()];
        }
        o
    }

    #[test]
    fn canned_figures_count_only_matches_at_the_threshold() {
        let v = vec![
            canned("a", 1.0, true),
            canned("b", 0.7, true),
            canned("c", 0.6, false),
            outcome("respond", RouteAction::Respond),
        ];
        let report = EvalReport::compute(&v);
        assert_eq!((report.canned_drafts, report.canned_right), (3, 2));
        assert_eq!(report.canned_wrong, ["c"]);
        assert!((report.canned_coverage - 0.5).abs() < 1e-9);
        assert_eq!(
            CannedCounts::at(&v, 0.65),
            CannedCounts {
                drafts: 2,
                right: 2,
                wrong: vec![]
            }
        );
        // Chosen: 0.65/0.7 keep both right ones and drop the wrong one; the tie goes up.
        assert!((crate::pipeline::classify::train::choose_canned_threshold(&v) - 0.7).abs() < 1e-6);
        // A reply missing a required phrase is not right either.
        let mut m = canned("d", 0.9, true);
        m.missing_mentions = vec!["30 days".into()];
        assert!(!m.canned_right());
    }

    #[test]
    fn respond_metrics_follow_the_definitions() {
        let outcomes = vec![
            outcome("respond", RouteAction::Respond),
            outcome("respond", RouteAction::Respond),
            outcome("respond", RouteAction::EscalateHuman),
            outcome("silence", RouteAction::Respond),
            outcome("silence", RouteAction::Silence),
            outcome("escalate_urgent", RouteAction::EscalateUrgent),
        ];
        let r = EvalReport::compute(&outcomes);
        assert!((r.respond_precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.respond_recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.respond_fp_rate - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.respond_fn_rate - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.urgent_recall - 1.0).abs() < 1e-9);
        assert_eq!(r.confusion["respond"]["escalate_human"], 1);
        assert!(!r.gate_failures().is_empty());
        assert!(r.to_string().contains("confusion"));
        assert_eq!(known_tool_names().len(), ToolName::ALL.len());
        assert!(known_tool_names().contains(&"listCharges"));
    }
}
