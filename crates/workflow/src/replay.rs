//! Replayable decisions: re-run a past inbound run's `route` and `agent` (+ validation) on the
//! exact inputs it recorded, and diff the result against what it decided then.
//!
//! What a run records (see [`crate::inbound`] and the step names in [`crate::step`]):
//! - `hydrate` memoizes the [`Snapshot`] (inbound message, thread, customer facts);
//! - `route` memoizes a [`RouteRecord`]: the [`RouteDecision`] plus the [`RouteInputs`] it was
//!   made from (the clock, the app's policy, the canned responses and their hash);
//! - `agent` memoizes [`Drafted`]: every tool call with its parameters and result, the
//!   knowledge passages and the draft; every tool call is also audited (`tool.called`), so the
//!   hydrate lookups and a first attempt before a regeneration are recorded too.
//!
//! A replay answers every tool call from that recording ([`RecordedTools`], matching tool and
//! canonical parameters). A call the recording does not hold is answered with a
//! `not recorded` error and listed in the diff; nothing runs against the real systems. The
//! replay runs the workflow's own route and agent steps ([`crate::route::route`],
//! [`crate::agent::agent`]) with those answers and no audit ([`crate::step::NoAudit`]).

use crate::agent::AgentKind;
use crate::inbound::{Drafted, INBOUND_FN, Snapshot};
use crate::route::Classifier;
use crate::step::{self, NoAudit, infallible};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use support_core::audit::{AuditRecord, canonical_json};
use support_core::knowledge::{CannedScore, CannedScorer, Retriever};
use support_core::llm::Llm;
use support_core::pipeline::agent::{AgentInput, StepStatus, ToolStep};
use support_core::pipeline::kb::{search_limit, search_public};
use support_core::pipeline::model_agent::ModelAgentOptions;
use support_core::pipeline::model_classify::RecordedClassification;
use support_core::pipeline::profile::AppProfile;
use support_core::pipeline::router::{CannedSet, RouteAction, RouteDecision, RouteInput};
use support_core::pipeline::tools::{ToolCall, ToolError, ToolExecutor, ToolName};
use support_core::registry::AppPolicy;
use support_core::store::{AuditFilter, CannedResponse, Store};
use support_core::time::Millis;
use support_steps::hash::hash_step_id;
use support_steps::store::{RunDetail, RunStore, StepStatus as StoredStepStatus};

pub mod diff;
pub use diff::{CallChange, ChangeKind, DiffLine, FieldChange, ReplayDiff, diff, line_diff};

/// What the `route` step memoizes: the decision (flattened, so a stored `RouteDecision` from
/// before inputs were recorded still reads) and the inputs it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    #[serde(flatten)]
    pub decision: RouteDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<RouteInputs>,
}

/// The inputs of a routing decision that do not come from the conversation snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteInputs {
    /// The clock of the decision; the agent step uses the same one.
    pub now: Millis,
    /// The app's policy as it was.
    pub policy: AppPolicy,
    /// The app's canned responses as the router saw them.
    pub canned: Vec<CannedResponse>,
    /// SHA-256 of the canonical JSON of `canned` (also in the `route.decided` audit entry).
    pub canned_hash: String,
    /// The model classifier's answer, when one was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<RecordedClassification>,
    /// How the canned responses scored against the message (what the retrieval answered),
    /// so a replay on the recorded inputs decides the same without an index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canned_scores: Vec<RecordedCannedScore>,
}

/// One canned response's score as the route step's retrieval gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCannedScore {
    pub id: String,
    pub phrase: String,
    pub score: f32,
}

/// A [`CannedScorer`] that keeps what `inner` answered (the route step's).
pub struct RecordingScorer<'a> {
    inner: &'a dyn CannedScorer,
    seen: std::sync::Mutex<Vec<RecordedCannedScore>>,
}

impl<'a> RecordingScorer<'a> {
    pub fn new(inner: &'a dyn CannedScorer) -> Self {
        Self {
            inner,
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What the last scoring answered.
    pub fn into_scores(self) -> Vec<RecordedCannedScore> {
        self.seen.into_inner().unwrap_or_default()
    }
}

impl CannedScorer for RecordingScorer<'_> {
    fn score(&self, text: &str, canned: &[&CannedResponse]) -> Vec<CannedScore> {
        let scores = self.inner.score(text, canned);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = scores
                .iter()
                .filter_map(|s| {
                    Some(RecordedCannedScore {
                        id: canned.get(s.index)?.id.clone(),
                        phrase: s.phrase.clone(),
                        score: s.score,
                    })
                })
                .collect();
        }
        scores
    }
}

/// A [`CannedScorer`] answering with recorded scores (by response id).
struct RecordedScorer<'a>(&'a [RecordedCannedScore]);

impl CannedScorer for RecordedScorer<'_> {
    fn score(&self, _text: &str, canned: &[&CannedResponse]) -> Vec<CannedScore> {
        self.0
            .iter()
            .filter_map(|r| {
                Some(CannedScore {
                    index: canned.iter().position(|c| c.id == r.id)?,
                    phrase: r.phrase.clone(),
                    score: r.score,
                })
            })
            .collect()
    }
}

impl RouteInputs {
    pub fn new(now: Millis, policy: AppPolicy, canned: Vec<CannedResponse>) -> Self {
        let canned_hash = canned_hash(&canned);
        Self {
            now,
            policy,
            canned,
            canned_hash,
            classifier: None,
            canned_scores: Vec::new(),
        }
    }

    /// The same inputs, with the canned responses' scores.
    pub fn with_canned_scores(mut self, scores: Vec<RecordedCannedScore>) -> Self {
        self.canned_scores = scores;
        self
    }

    /// The same inputs, with the model classifier's answer.
    pub fn with_classifier(mut self, classifier: Option<RecordedClassification>) -> Self {
        self.classifier = classifier;
        self
    }
}

/// SHA-256 (hex) of the canonical JSON of a list of canned responses.
pub fn canned_hash(canned: &[CannedResponse]) -> String {
    let v = serde_json::to_value(canned).unwrap_or(Value::Null);
    support_core::crypto::sha256_hex(canonical_json(&v).as_bytes())
}

/// Why a run cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no run {0}")]
    NoRun(String),
    #[error("run {run} is a {function} run, not an inbound run")]
    NotInbound { run: String, function: String },
    #[error("run {run} has no completed `{step}` step yet")]
    MissingStep { run: String, step: String },
    #[error("run {run}: the stored `{step}` step does not read: {error}")]
    Corrupt {
        run: String,
        step: String,
        error: String,
    },
    #[error("store: {0}")]
    Store(String),
}

/// One recorded tool answer (from the agent step or the `tool.called` audit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    pub call: ToolCall,
    /// `Ok(result)` or `Err(the error as it was displayed)`.
    pub result: Result<Value, String>,
}

/// Everything an inbound run recorded, read back from its memoized steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recording {
    pub run_id: String,
    pub created_at: Millis,
    pub snapshot: Snapshot,
    pub route: RouteDecision,
    /// `None` for runs from before the route inputs were recorded.
    pub inputs: Option<RouteInputs>,
    /// `None` when the run was routed to silence (there is no agent step).
    pub drafted: Option<Drafted>,
    /// When the agent step started (the clock for runs without recorded inputs).
    pub agent_started_at: Option<Millis>,
    /// Tool answers beyond the agent step's own (the `tool.called` audit of the run).
    pub audited_calls: Vec<RecordedCall>,
    /// The model agent's summary (`agent.completed`: provider, model, turns, tokens, cost,
    /// stop) when a model made the original decision; `None` for the offline agent.
    pub original_model: Option<Value>,
}

fn step_data(detail: &RunDetail, name: &str) -> Option<(Value, Millis)> {
    let hash = hash_step_id(name);
    let step = detail
        .steps
        .iter()
        .find(|s| s.hash == hash && s.status == StoredStepStatus::Completed)?;
    let data = match &step.result {
        Value::Object(m) if m.contains_key("data") => m.get("data").cloned().unwrap_or_default(),
        other => other.clone(),
    };
    Some((data, step.started_at))
}

impl Recording {
    /// Reads the recording out of a run's memoized steps.
    pub fn from_run(detail: &RunDetail) -> Result<Self, ReplayError> {
        let run = detail.run.id.clone();
        if detail.run.function_id != INBOUND_FN {
            return Err(ReplayError::NotInbound {
                run,
                function: detail.run.function_id.clone(),
            });
        }
        fn read<T: serde::de::DeserializeOwned>(
            detail: &RunDetail,
            name: &str,
        ) -> Result<Option<(T, Millis)>, ReplayError> {
            let Some((v, at)) = step_data(detail, name) else {
                return Ok(None);
            };
            serde_json::from_value(v)
                .map(|t| Some((t, at)))
                .map_err(|e| ReplayError::Corrupt {
                    run: detail.run.id.clone(),
                    step: name.into(),
                    error: e.to_string(),
                })
        }
        let missing = |step: &str| ReplayError::MissingStep {
            run: run.clone(),
            step: step.into(),
        };
        let (snapshot, _) =
            read::<Snapshot>(detail, step::HYDRATE)?.ok_or_else(|| missing(step::HYDRATE))?;
        let (routed, _) =
            read::<RouteRecord>(detail, step::ROUTE)?.ok_or_else(|| missing(step::ROUTE))?;
        let agent = read::<Drafted>(detail, step::AGENT)?;
        if agent.is_none() && routed.decision.action != RouteAction::Silence {
            return Err(missing(step::AGENT));
        }
        let (drafted, agent_started_at) = match agent {
            Some((d, at)) => (Some(d), Some(at)),
            None => (None, None),
        };
        Ok(Self {
            run_id: run,
            created_at: detail.run.created_at,
            snapshot,
            route: routed.decision,
            inputs: routed.inputs,
            drafted,
            agent_started_at,
            audited_calls: Vec::new(),
            original_model: None,
        })
    }

    /// Adds what the run's audit recorded: its `tool.called` entries and the model agent's
    /// `agent.completed` summary (rows of other runs are ignored).
    pub fn with_audit(mut self, rows: &[AuditRecord]) -> Self {
        for r in rows {
            if r.trace_id.as_deref() != Some(self.run_id.as_str()) {
                continue;
            }
            if r.kind == "agent.completed" && r.data["agent"] == "model" {
                self.original_model = Some(r.data.clone());
                continue;
            }
            if r.kind != "tool.called" {
                continue;
            }
            let Some(tool) = r.data["tool"].as_str().and_then(ToolName::parse) else {
                continue;
            };
            let call = ToolCall::new(tool, r.data["args"].clone());
            let result = if r.data["ok"] == Value::Bool(true) {
                Ok(r.data["result"].clone())
            } else {
                Err(r.data["error"].as_str().unwrap_or_default().to_string())
            };
            self.audited_calls.push(RecordedCall { call, result });
        }
        self
    }

    /// The clock the run decided on.
    pub fn now(&self) -> Millis {
        self.inputs
            .as_ref()
            .map(|i| i.now)
            .or(self.agent_started_at)
            .unwrap_or(self.created_at)
    }

    /// Reads run `run_id` from the run store, with its audit from `store`.
    pub async fn load(
        runs: &dyn RunStore,
        store: &dyn Store,
        run_id: &str,
    ) -> Result<Self, ReplayError> {
        let detail = runs
            .get_run(run_id)
            .await
            .map_err(|e| ReplayError::Store(e.to_string()))?
            .ok_or_else(|| ReplayError::NoRun(run_id.into()))?;
        let rec = Self::from_run(&detail)?;
        let mut rows = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .list_audit(&AuditFilter {
                    conversation_id: Some(rec.snapshot.conversation_id.clone()),
                    after_seq: after,
                    limit: 500,
                    ..Default::default()
                })
                .await
                .map_err(|e| ReplayError::Store(e.to_string()))?;
            let n = page.len();
            after = page.iter().map(|r| r.seq).max().unwrap_or(after);
            rows.extend(page);
            if n < 500 {
                break;
            }
        }
        Ok(rec.with_audit(&rows))
    }
}

/// A [`ToolExecutor`] that answers from a recording and never reaches a real system.
pub struct RecordedTools<'a> {
    answers: Mutex<HashMap<String, Answers>>,
    unrecorded: Mutex<Vec<ToolCall>>,
    /// Answers `searchKnowledge` calls the recording does not hold, when set.
    kb: Option<&'a dyn Retriever>,
    /// The recorded app (whose knowledge `kb` searches).
    app: String,
    from_kb: Mutex<Vec<ToolCall>>,
}

struct Answers {
    list: Vec<Result<Value, String>>,
    next: usize,
}

fn key(call: &ToolCall) -> String {
    format!("{}:{}", call.tool.as_str(), canonical_json(&call.params))
}

/// Rebuilds the error a recorded message came from (its `Display` is the message).
fn tool_error(message: &str) -> ToolError {
    let strip = |p: &str| message.strip_prefix(p).map(str::to_string);
    if let Some(m) = strip("invalid parameters: ") {
        ToolError::InvalidParams(m)
    } else if let Some(m) = strip("not found: ") {
        ToolError::NotFound(m)
    } else if let Some(m) = strip("tool not available: ") {
        ToolError::NotImplemented(m)
    } else if let Some(m) = strip("tool failed: ") {
        ToolError::Failed(m)
    } else {
        ToolError::Failed(message.to_string())
    }
}

/// The message of the error an unrecorded call gets.
pub const NOT_RECORDED: &str = "not recorded";

impl<'a> RecordedTools<'a> {
    /// Answers from `rec`: the agent step's calls first (in order; a call made again gets the
    /// next recorded answer, then the last one), then the run's audited calls.
    pub fn new(rec: &Recording) -> Self {
        let mut answers: HashMap<String, Answers> = HashMap::new();
        fn add(
            answers: &mut HashMap<String, Answers>,
            call: &ToolCall,
            result: Result<Value, String>,
        ) {
            answers
                .entry(key(call))
                .or_insert_with(|| Answers {
                    list: Vec::new(),
                    next: 0,
                })
                .list
                .push(result);
        }
        let steps: &[ToolStep] = rec
            .drafted
            .as_ref()
            .map(|d| d.outcome.steps.as_slice())
            .unwrap_or_default();
        for s in steps {
            match (s.status, &s.result, &s.error) {
                (StepStatus::Executed, Some(v), _) => add(&mut answers, &s.call, Ok(v.clone())),
                (StepStatus::Failed, _, Some(e)) => add(&mut answers, &s.call, Err(e.clone())),
                _ => {}
            }
        }
        let from_steps: std::collections::HashSet<String> = answers.keys().cloned().collect();
        for c in &rec.audited_calls {
            if !from_steps.contains(&key(&c.call)) {
                add(&mut answers, &c.call, c.result.clone());
            }
        }
        Self {
            answers: Mutex::new(answers),
            unrecorded: Mutex::new(Vec::new()),
            kb: None,
            app: rec.snapshot.app.clone(),
            from_kb: Mutex::new(Vec::new()),
        }
    }

    /// Also answer `searchKnowledge` calls the recording does not hold from `kb` (the app's
    /// knowledge base as it is now; a read of our own index, never a product system).
    pub fn with_kb(mut self, kb: Option<&'a dyn Retriever>) -> Self {
        self.kb = kb;
        self
    }

    /// The `searchKnowledge` calls answered from the current knowledge base, in order.
    pub fn from_current_kb(&self) -> Vec<ToolCall> {
        self.from_kb.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// The calls the recording could not answer, in order.
    pub fn unrecorded(&self) -> Vec<ToolCall> {
        self.unrecorded
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl ToolExecutor for RecordedTools<'_> {
    async fn execute(&self, call: &ToolCall) -> Result<Value, ToolError> {
        call.validate()?;
        let answer = self.answers.lock().ok().and_then(|mut map| {
            let a = map.get_mut(&key(call))?;
            let i = a.next.min(a.list.len().saturating_sub(1));
            a.next += 1;
            a.list.get(i).cloned()
        });
        match answer {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(tool_error(&e)),
            None if call.tool == ToolName::SearchKnowledge && self.kb.is_some() => {
                if let Ok(mut u) = self.from_kb.lock() {
                    u.push(call.clone());
                }
                // As the platform answers it: the app's public articles, `limit` 3 by default.
                let Some(kb) = self.kb else {
                    return Ok(Value::Array(Vec::new()));
                };
                let query = call.param("query").unwrap_or_default();
                let hits = search_public(kb, &self.app, query, search_limit(call)).await?;
                Ok(serde_json::to_value(hits).unwrap_or(Value::Null))
            }
            None => {
                if let Ok(mut u) = self.unrecorded.lock() {
                    u.push(call.clone());
                }
                Err(ToolError::Failed(NOT_RECORDED.into()))
            }
        }
    }
}

/// Which agent a replay runs.
#[derive(Clone, Default)]
pub enum ReplayAgent<'a> {
    /// The deterministic offline agent.
    #[default]
    Offline,
    /// The model agent on `llm` (regenerating once with the scorer's findings, as the
    /// workflow does).
    Model {
        llm: &'a dyn Llm,
        /// The provider's name (a key of `llm.providers`), for the report.
        provider: String,
        opts: ModelAgentOptions,
    },
}

/// How to replay.
#[derive(Clone, Default)]
pub struct ReplayOptions<'a> {
    pub agent: ReplayAgent<'a>,
    /// Replace the recorded policy (a what-if); `None` replays with the recorded one.
    pub policy: Option<AppPolicy>,
    /// Replace the recorded canned responses.
    pub canned: Option<Vec<CannedResponse>>,
    /// Re-classify with this model (and model name) where the classifier decides the route,
    /// as the route step does when a classifier model is configured.
    pub classifier: Option<(&'a dyn Llm, String)>,
    /// Answer `searchKnowledge` calls the recording does not hold from this index (the app's
    /// current knowledge base) instead of with a `not recorded` error.
    pub current_kb: Option<&'a dyn Retriever>,
    /// Scores the canned responses as the route step does (`None`: the recorded scores, or no
    /// canned match when the canned responses are replaced or were not recorded).
    pub canned_scorer: Option<&'a dyn support_core::knowledge::CannedScorer>,
}

/// What a replay decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replayed {
    pub route: RouteDecision,
    pub drafted: Option<Drafted>,
    /// Calls the recording could not answer (answered with a `not recorded` error).
    pub unrecorded: Vec<ToolCall>,
    /// `searchKnowledge` calls answered from the current knowledge base.
    pub from_current_kb: Vec<ToolCall>,
    /// Whether the replay ran on recorded route inputs (`false`: an old run, or overridden).
    pub recorded_inputs: bool,
    /// The model agent's summary (turns, tokens, cost, stop reason), when a model replayed.
    pub model: Option<Value>,
}

/// Re-runs `route` and `agent` (+ validation, with one regeneration) as the workflow does,
/// with every tool call answered from the recording.
pub async fn replay(rec: &Recording, opts: &ReplayOptions<'_>) -> Replayed {
    let recorded = rec.inputs.as_ref();
    let policy = opts
        .policy
        .clone()
        .or_else(|| recorded.map(|i| i.policy.clone()))
        .unwrap_or_default();
    let canned = opts
        .canned
        .clone()
        .or_else(|| recorded.map(|i| i.canned.clone()))
        .unwrap_or_default();
    let recorded_inputs = recorded.is_some() && opts.policy.is_none() && opts.canned.is_none();
    let snap = &rec.snapshot;
    let profile = AppProfile::for_app(&snap.app);
    let mut recorded_scores = None;
    let route_input = RouteInput {
        inbound: &snap.inbound,
        facts: Some(&snap.facts),
        policy: &policy,
        profile: &profile,
        canned: match (
            opts.canned_scorer,
            recorded.filter(|_| opts.canned.is_none()),
        ) {
            (Some(scorer), _) => CannedSet::new(&canned, scorer),
            (None, Some(r)) => CannedSet::new(
                &canned,
                recorded_scores.insert(RecordedScorer(&r.canned_scores)),
            ),
            (None, None) => CannedSet::NONE,
        },
    };
    let classifier = match (
        &opts.classifier,
        recorded.and_then(|i| i.classifier.as_ref()),
    ) {
        (Some((llm, model)), _) => Classifier::Model {
            llm: *llm,
            provider: "",
            model,
        },
        // The model classified the original: its answer comes from the recording.
        (None, Some(answer)) => Classifier::Recorded(answer),
        (None, None) => Classifier::Offline,
    };
    let (route, _) = infallible(crate::route::route(route_input, classifier, &NoAudit).await);
    let tools = RecordedTools::new(rec).with_kb(opts.current_kb);
    let (drafted, model) = if route.action == RouteAction::Silence {
        (None, None)
    } else {
        let input = AgentInput {
            inbound: &snap.inbound,
            route: &route,
            policy: &policy,
            profile: &profile,
            facts: Some(&snap.facts),
            now: rec.now(),
        };
        let (d, m) = draft(input, &tools, &opts.agent, &profile).await;
        (Some(d), m)
    };
    Replayed {
        route,
        drafted,
        unrecorded: tools.unrecorded(),
        from_current_kb: tools.from_current_kb(),
        recorded_inputs,
        model,
    }
}

/// The agent step as the workflow runs it ([`crate::agent::agent`]), on the recorded tools and
/// without an audit; a model's summary for the report.
async fn draft(
    input: AgentInput<'_>,
    tools: &dyn ToolExecutor,
    which: &ReplayAgent<'_>,
    profile: &AppProfile,
) -> (Drafted, Option<Value>) {
    let kind = match which {
        ReplayAgent::Offline => AgentKind::Offline,
        ReplayAgent::Model { llm, opts, .. } => AgentKind::Model { llm: *llm, opts },
    };
    let run = infallible(crate::agent::agent(input, tools, kind, profile, &NoAudit).await);
    let summary = match (which, &run.model) {
        (
            ReplayAgent::Model {
                llm,
                provider,
                opts,
            },
            Some(result),
        ) => {
            let mut summary = result.audit_summary();
            summary["agent"] = Value::from("model");
            summary["provider"] = Value::from(provider.as_str());
            summary["model"] = Value::from(if opts.model.is_empty() {
                llm.model()
            } else {
                opts.model.as_str()
            });
            Some(summary)
        }
        _ => None,
    };
    (run.drafted, summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use support_core::knowledge::Visibility;
    use support_core::pipeline::router;

    #[tokio::test]
    async fn recorded_tools_answer_in_order_and_refuse_the_unrecorded() {
        let call = ToolCall::new(ToolName::LookupUser, json!({"email": "a@x.test"}));
        let other = ToolCall::new(ToolName::LookupUser, json!({"email": "b@x.test"}));
        let failing = ToolCall::new(ToolName::GetPurchases, json!({"userId": "u1"}));
        let mut answers = HashMap::new();
        answers.insert(
            key(&call),
            Answers {
                list: vec![Ok(json!({"id": "u1"})), Ok(json!({"id": "u1b"}))],
                next: 0,
            },
        );
        answers.insert(
            key(&failing),
            Answers {
                list: vec![Err("not found: user u1".into())],
                next: 0,
            },
        );
        let tools = RecordedTools {
            answers: Mutex::new(answers),
            unrecorded: Mutex::new(Vec::new()),
            kb: None,
            app: "typewise".into(),
            from_kb: Mutex::new(Vec::new()),
        };
        assert_eq!(tools.execute(&call).await.unwrap()["id"], "u1");
        assert_eq!(tools.execute(&call).await.unwrap()["id"], "u1b");
        assert_eq!(
            tools.execute(&call).await.unwrap()["id"],
            "u1b",
            "the last answer repeats"
        );
        let e = tools.execute(&failing).await.unwrap_err();
        assert_eq!(e, ToolError::NotFound("user u1".into()));
        assert_eq!(e.to_string(), "not found: user u1");
        let e = tools.execute(&other).await.unwrap_err();
        assert_eq!(e, ToolError::Failed(NOT_RECORDED.into()));
        assert_eq!(tools.unrecorded(), vec![other]);
    }

    #[tokio::test]
    async fn unrecorded_searches_use_the_current_kb_only_when_given() {
        let kb = support_knowledge::LexicalIndex::new().unwrap();
        let chunk = |id: &str, app: &str, visibility| support_core::knowledge::ArticleChunkRow {
            id: id.into(),
            article_id: format!("a-{id}"),
            version: 1,
            app: app.into(),
            ordinal: 0,
            title: "Login links".into(),
            heading: String::new(),
            text: "Login links expire after an hour; check the spam folder.".into(),
            visibility,
        };
        // Only the recorded app's public articles answer, as the platform's search does.
        kb.rebuild_now(&[
            chunk("c1", "typewise", Visibility::Public),
            chunk("c2", "typewise", Visibility::Internal),
            chunk("c3", "other-app", Visibility::Public),
        ])
        .unwrap();
        let search = ToolCall::new(
            ToolName::SearchKnowledge,
            json!({"query": "spam folder login"}),
        );
        let strict = RecordedTools {
            answers: Mutex::new(HashMap::new()),
            unrecorded: Mutex::new(Vec::new()),
            kb: None,
            app: "typewise".into(),
            from_kb: Mutex::new(Vec::new()),
        };
        assert!(strict.execute(&search).await.is_err());
        assert_eq!(strict.unrecorded(), vec![search.clone()]);
        let live = RecordedTools {
            answers: Mutex::new(HashMap::new()),
            unrecorded: Mutex::new(Vec::new()),
            kb: None,
            app: "typewise".into(),
            from_kb: Mutex::new(Vec::new()),
        }
        .with_kb(Some(&kb));
        let hits = live.execute(&search).await.unwrap();
        assert_eq!(hits[0]["id"], "c1", "{hits}");
        assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
        assert!(live.unrecorded().is_empty());
        assert_eq!(live.from_current_kb(), vec![search]);
        // Other tools are never answered from anywhere but the recording.
        let lookup = ToolCall::new(ToolName::LookupUser, json!({"email": "a@x.test"}));
        assert!(live.execute(&lookup).await.is_err());
        assert_eq!(live.unrecorded(), vec![lookup]);
    }

    #[test]
    fn a_route_decision_stored_before_inputs_were_recorded_still_reads() {
        let inbound = support_core::pipeline::inbound::Inbound {
            app: "typewise".into(),
            from: "a@x.test".into(),
            reply_to: None,
            subject: "Login".into(),
            body: "The login link never arrives, please send a new one.".into(),
            thread: Vec::new(),
            conversation_status: None,
            teammate_replying: false,
        };
        let policy = AppPolicy::default();
        let profile = AppProfile::for_app("typewise");
        let decision = router::route(RouteInput {
            inbound: &inbound,
            facts: None,
            policy: &policy,
            profile: &profile,
            canned: CannedSet::NONE,
        });
        let old = serde_json::to_value(&decision).unwrap();
        let read: RouteRecord = serde_json::from_value(old).unwrap();
        assert_eq!(read.decision, decision);
        assert!(read.inputs.is_none());
        let rec = RouteRecord {
            decision: decision.clone(),
            inputs: Some(RouteInputs::new(7, policy, Vec::new())),
        };
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(
            serde_json::from_value::<RouteDecision>(v.clone()).unwrap(),
            decision
        );
        assert_eq!(serde_json::from_value::<RouteRecord>(v).unwrap(), rec);
    }
}
