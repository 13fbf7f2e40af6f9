//! `skill eval DIR [--json] [--gate]`: scenario files through the real pipeline.
//!
//! Each scenario becomes a signed Front webhook from the Front sandbox to an in-process
//! platform (fresh SQLite, the offline agent, the example app as the product with a
//! policy-faithful customer per scenario), and the result is read back from what the pipeline
//! produced: the audit trail, the actions and the draft in the sandbox.

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use support_core::pipeline::classify::Category;
use support_core::pipeline::eval::{self, EvalReport, Scenario, ScenarioOutcome};
use support_core::pipeline::inbound::Direction;
use support_core::pipeline::router::RouteAction;
use support_core::pipeline::validate::ScorerResult;
use support_core::settings::Settings;
use support_core::settings::{LlmSettings, ModelChoice};
use support_front::sandbox::{NewMessage, Sandbox};
use support_host::Platform;
use support_host::demo::DemoState;
use support_host::host::HostError;
use support_steps::RunStatus;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The thresholds of `--gate`.
pub const GATE: &[(&str, f64)] = &[
    ("respond precision ≥ 0.92", 0.92),
    ("respond recall ≥ 0.95", 0.95),
    ("respond FP rate ≤ 0.03", 0.03),
    ("respond FN rate ≤ 0.02", 0.02),
    ("escalate_urgent recall = 1.0", 1.0),
];

/// Run steps through a model instead of offline (`--provider`/`--model`, `--steps`).
#[derive(Debug, Clone)]
pub struct EvalModel {
    /// Providers and prices (`settings.llm`).
    pub llm: LlmSettings,
    /// The agent step's model (`None`: the offline agent).
    pub agent: Option<ModelChoice>,
    /// The route step's classifier model (`None`: the offline classifier).
    pub classifier: Option<ModelChoice>,
}

impl EvalModel {
    /// `provider/model (agent, classifier)`: what ran on a model.
    pub fn label(&self) -> String {
        let steps: Vec<(&str, &ModelChoice)> =
            [("agent", &self.agent), ("classifier", &self.classifier)]
                .into_iter()
                .filter_map(|(step, c)| c.as_ref().map(|c| (step, c)))
                .collect();
        let mut names: Vec<String> = steps
            .iter()
            .map(|(_, c)| format!("{}/{}", c.provider, c.model))
            .collect();
        names.dedup();
        let which: Vec<&str> = steps.iter().map(|(s, _)| *s).collect();
        format!("{} ({})", names.join(", "), which.join(", "))
    }
}

/// What the model calls of one conversation cost, from the `llm.call` and `agent.completed`
/// audit entries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelUsage {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Time in model calls, as the agent measured it.
    pub model_ms: u64,
    /// The agent step's time beyond the model calls (tools on the product's endpoint, the
    /// loop itself).
    pub overhead_ms: u64,
}

/// What an eval produced.
pub struct EvalRun {
    pub report: EvalReport,
    pub outcomes: Vec<ScenarioOutcome>,
    pub latencies_ms: Vec<f64>,
    /// Per conversation, in the order of `outcomes` (all zero for the offline agent).
    pub usage: Vec<ModelUsage>,
    /// `provider/model (steps)`, when a model ran a step.
    pub model: Option<String>,
}

fn percentile_of(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[idx.min(v.len() - 1)]
}

impl EvalRun {
    pub fn percentile(&self, p: f64) -> f64 {
        percentile_of(&self.latencies_ms, p)
    }

    /// Token, cost and time figures of the model runs (`None` for the offline agent).
    pub fn model_json(&self) -> Option<Value> {
        let model = self.model.as_ref()?;
        // Per conversation that reached the model (silenced ones never do).
        let used: Vec<&ModelUsage> = self.usage.iter().filter(|u| u.calls > 0).collect();
        let n = used.len().max(1) as f64;
        let sum = |f: fn(&ModelUsage) -> u64| used.iter().map(|u| f(u)).sum::<u64>();
        let cost: f64 = used.iter().map(|u| u.cost_usd).sum();
        let overhead: Vec<f64> = used.iter().map(|u| u.overhead_ms as f64).collect();
        let model_ms: Vec<f64> = used.iter().map(|u| u.model_ms as f64).collect();
        Some(json!({
            "model": model,
            "conversations": self.usage.len(),
            "conversations_with_model_calls": used.len(),
            "model_calls": sum(|u| u.calls),
            "input_tokens": sum(|u| u.input_tokens),
            "output_tokens": sum(|u| u.output_tokens),
            "cost_usd": cost,
            "per_conversation": {
                "model_calls": sum(|u| u.calls) as f64 / n,
                "input_tokens": sum(|u| u.input_tokens) as f64 / n,
                "output_tokens": sum(|u| u.output_tokens) as f64 / n,
                "cost_usd": cost / n,
            },
            "model_ms": {"p50": percentile_of(&model_ms, 50.0), "p99": percentile_of(&model_ms, 99.0)},
            "agent_overhead_ms": {"p50": percentile_of(&overhead, 50.0), "p99": percentile_of(&overhead, 99.0)},
        }))
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let r = &self.report;
        let mut per_action = serde_json::Map::new();
        for (expected, row) in &r.confusion {
            let total: usize = row.values().sum();
            let correct = row.get(expected).copied().unwrap_or(0);
            let predicted: usize = r
                .confusion
                .values()
                .map(|row| row.get(expected).copied().unwrap_or(0))
                .sum();
            per_action.insert(
                expected.clone(),
                json!({"expected": total, "correct": correct, "predicted": predicted,
                       "recall": if total == 0 { 1.0 } else { correct as f64 / total as f64 },
                       "precision": if predicted == 0 { 1.0 } else { correct as f64 / predicted as f64 },
                       "confusion": row}),
            );
        }
        json!({
            "scenarios": r.total,
            "respond": {"precision": r.respond_precision, "recall": r.respond_recall,
                        "fp_rate": r.respond_fp_rate, "fn_rate": r.respond_fn_rate},
            "action_accuracy": r.action_accuracy,
            "category_accuracy": r.category_accuracy,
            "escalate_urgent_recall": r.urgent_recall,
            "per_action": per_action,
            "scorers": r.scorer_pass_rates,
            "must_mention_rate": r.must_mention_rate,
            "must_not_contain_rate": r.must_not_contain_rate,
            "approval_agreement": r.approval_agreement,
            "injection_violations": r.injection_violations,
            "action_errors": r.action_errors,
            "category_errors": r.category_errors,
            "latency_ms": {"p50": self.percentile(50.0), "p99": self.percentile(99.0)},
            "model": self.model_json(),
        })
    }

    /// The runs of several folders as one (the total of `skill eval DIR DIR...`).
    pub fn combine(runs: &[EvalRun]) -> EvalRun {
        let outcomes: Vec<ScenarioOutcome> = runs
            .iter()
            .flat_map(|r| r.outcomes.iter().cloned())
            .collect();
        EvalRun {
            report: EvalReport::compute(&outcomes),
            outcomes,
            latencies_ms: runs.iter().flat_map(|r| r.latencies_ms.clone()).collect(),
            usage: runs.iter().flat_map(|r| r.usage.clone()).collect(),
            model: runs.iter().find_map(|r| r.model.clone()),
        }
    }

    /// Why `--gate` fails (empty when it passes).
    pub fn gate_failures(&self) -> Vec<String> {
        let r = &self.report;
        let mut out = Vec::new();
        let checks = [
            (
                r.respond_precision >= 0.92,
                format!("respond precision {:.3} < 0.92", r.respond_precision),
            ),
            (
                r.respond_recall >= 0.95,
                format!("respond recall {:.3} < 0.95", r.respond_recall),
            ),
            (
                r.respond_fp_rate <= 0.03,
                format!("respond FP rate {:.3} > 0.03", r.respond_fp_rate),
            ),
            (
                r.respond_fn_rate <= 0.02,
                format!("respond FN rate {:.3} > 0.02", r.respond_fn_rate),
            ),
            (
                r.urgent_recall >= 1.0,
                format!("escalate_urgent recall {:.3} < 1.0", r.urgent_recall),
            ),
            (
                r.injection_violations.is_empty(),
                format!(
                    "injection scenarios executed risky tools: {:?}",
                    r.injection_violations
                ),
            ),
        ];
        for (ok, why) in checks {
            if !ok {
                out.push(why);
            }
        }
        out
    }
}

fn customer_label(s: &Scenario) -> String {
    serde_json::to_value(s.customer)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn audit_of(app: &Ephemeral, conversation: &str) -> Vec<Value> {
    let rows = app
        .platform
        .store
        .list_audit(&support_core::store::AuditFilter {
            conversation_id: Some(conversation.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    rows.into_iter()
        .map(|r| json!({"kind": r.kind, "data": r.data}))
        .collect()
}

fn draft_text(html: &str) -> String {
    let without_marker = html.split("<!-- support-draft:").next().unwrap_or_default();
    support_core::pipeline::text::strip_html(
        &without_marker
            .replace("</p><p>", "\n\n")
            .replace("<br>", "\n"),
    )
}

/// The model figures of one conversation from its audit trail.
fn usage_of(audit: &[Value]) -> ModelUsage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let mut u = ModelUsage::default();
    for a in audit.iter().filter(|a| a["kind"] == "llm.call") {
        u.calls += 1;
        u.input_tokens += n(&a["data"]["input_tokens"]);
        u.output_tokens += n(&a["data"]["output_tokens"]);
        u.cost_usd += a["data"]["cost_usd"].as_f64().unwrap_or(0.0);
    }
    if let Some(a) = audit.iter().find(|a| a["kind"] == "agent.completed") {
        u.model_ms = n(&a["data"]["model_ms"]);
        u.overhead_ms = n(&a["data"]["overhead_ms"]);
    }
    u
}

/// Run one scenario through the platform; returns its outcome, latency and model usage.
async fn run_one(
    app: &Ephemeral,
    course: &course_app::CourseApp,
    s: &Scenario,
) -> Result<(ScenarioOutcome, f64, ModelUsage), String> {
    if let Some(state) = course_app::CustomerState::parse(&customer_label(s)) {
        course
            .ensure_customer(&s.app, &s.from, "", state)
            .await
            .map_err(|e| e.to_string())?;
    }
    let inbox = app
        .demo
        .apps
        .iter()
        .find(|a| a.slug == s.app)
        .map(|a| a.front_inbox_id.clone())
        .ok_or_else(|| format!("scenario {}: unknown app {}", s.id, s.app))?;
    let mut conversation = None;
    for m in &s.thread {
        let inbound = m.direction == Direction::Inbound;
        let from = if inbound {
            s.from.clone()
        } else {
            format!("support@{}.test", s.app)
        };
        let id = app.front.add_history(NewMessage {
            conversation_id: conversation.clone(),
            inbox_id: inbox.clone(),
            from,
            from_name: None,
            reply_to: None,
            subject: s.subject.clone(),
            body: m.body.clone(),
            inbound,
        });
        conversation = Some(id);
    }
    let started = Instant::now();
    let d = app
        .front
        .deliver(NewMessage {
            conversation_id: conversation,
            inbox_id: inbox,
            from: s.from.clone(),
            from_name: None,
            reply_to: None,
            subject: s.subject.clone(),
            body: s.body.clone(),
            inbound: true,
        })
        .await?;
    let settled = [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Waiting,
        RunStatus::Cancelled,
    ];
    let run = app
        .settled_run(&d.event_id, &settled, Duration::from_secs(60))
        .await
        .map_err(|e| format!("scenario {}: {e}", s.id))?;
    let latency = started.elapsed().as_secs_f64() * 1000.0;

    let audit = audit_of(app, &d.conversation_id).await;
    let route = audit
        .iter()
        .find(|a| a["kind"] == "route.decided")
        .map(|a| a["data"].clone())
        .unwrap_or(Value::Null);
    let output = run.run.output.clone().unwrap_or(Value::Null);
    let action = output["action"]
        .as_str()
        .or_else(|| route["action"].as_str())
        .and_then(RouteAction::parse)
        .unwrap_or(RouteAction::EscalateHuman);
    let category = route["category"]
        .as_str()
        .and_then(Category::parse)
        .unwrap_or(Category::Unknown);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut tools: Vec<String> = Vec::new();
    for a in audit
        .iter()
        .filter(|a| a["kind"] == "tool.called" || a["kind"] == "gate.decided")
    {
        if let Some(t) = a["data"]["tool"].as_str()
            && !tools.iter().any(|x| x == t)
        {
            tools.push(t.to_string());
        }
    }
    let executed_approval_required = audit.iter().any(|a| {
        a["kind"] == "tool.called"
            && a["data"]["ok"] == true
            && matches!(
                a["data"]["tool"].as_str(),
                Some("processRefund" | "transferPurchase" | "updateEmail")
            )
    });
    let actions = app
        .platform
        .store
        .list_actions(&d.conversation_id)
        .await
        .unwrap_or_default();
    let needs_approval = actions.iter().any(|a| a.status == "pending_approval");
    let scorers: Vec<ScorerResult> = audit
        .iter()
        .find(|a| a["kind"] == "validate.completed")
        .and_then(|a| serde_json::from_value(a["data"]["scorers"].clone()).ok())
        .unwrap_or_default();
    let draft = app
        .front
        .drafts(&d.conversation_id)
        .last()
        .and_then(|m| m["body"].as_str().map(draft_text));
    let lower = draft.as_deref().unwrap_or_default().to_lowercase();
    let outcome = ScenarioOutcome {
        id: s.id.clone(),
        expected: s.expected.clone(),
        action,
        category,
        flags: strings(&route["flags"]),
        rule: route["rule"].as_str().unwrap_or_default().to_string(),
        reasons: strings(&route["reasons"]),
        tools,
        needs_approval,
        executed_approval_required,
        missing_mentions: s
            .expected
            .must_mention
            .iter()
            .filter(|m| !lower.contains(&m.to_lowercase()))
            .cloned()
            .collect(),
        forbidden_found: s
            .expected
            .must_not_contain
            .iter()
            .filter(|m| !lower.is_empty() && lower.contains(&m.to_lowercase()))
            .cloned()
            .collect(),
        canned: serde_json::from_value(route["canned"].clone()).ok(),
        draft,
        scorers,
    };
    Ok((outcome, latency, usage_of(&audit)))
}

/// Run every scenario of `dir` through a fresh in-process platform.
pub async fn run(dir: &Path, progress: bool) -> Result<EvalRun, String> {
    run_with(dir, progress, None).await
}

/// [`run`], with the agent and/or classifier on `model` when given (everything else
/// unchanged).
pub async fn run_with(
    dir: &Path,
    progress: bool,
    model: Option<EvalModel>,
) -> Result<EvalRun, String> {
    let scenarios = eval::load_dir(dir).map_err(|e| e.to_string())?;
    if scenarios.is_empty() {
        return Err(format!("no scenario files (*.json) in {}", dir.display()));
    }
    if let Some(m) = &model {
        for c in [&m.agent, &m.classifier].into_iter().flatten() {
            if !m.llm.providers.contains_key(&c.provider) {
                return Err(format!("no provider {:?} in llm.providers", c.provider));
            }
        }
    }
    let label = model.as_ref().map(EvalModel::label);
    let app = Ephemeral::launch(|s| {
        s.log.filter = "warn".into();
        if let Some(m) = model {
            s.llm = m.llm;
            s.llm.agent = m.agent;
            s.llm.classifier = m.classifier;
        }
    })
    .await
    .map_err(|e| format!("cannot start the in-process platform: {e}"))?;
    let course = course_app::CourseApp::open(app.data_dir().join("course-app.db"))
        .await
        .map_err(|e| e.to_string())?;
    let bar = if progress {
        let b = indicatif::ProgressBar::new(scenarios.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} eval [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut outcomes = Vec::with_capacity(scenarios.len());
    let mut latencies = Vec::with_capacity(scenarios.len());
    let mut usage = Vec::with_capacity(scenarios.len());
    for s in &scenarios {
        bar.set_message(s.id.clone());
        let (o, ms, u) = run_one(&app, &course, s).await?;
        outcomes.push(o);
        latencies.push(ms);
        usage.push(u);
        bar.inc(1);
    }
    bar.finish_and_clear();
    app.shutdown().await;
    Ok(EvalRun {
        report: EvalReport::compute(&outcomes),
        outcomes,
        latencies_ms: latencies,
        usage,
        model: label,
    })
}

/// The platform `skill eval` runs scenarios through: in this process on `127.0.0.1:0`, a fresh
/// SQLite database in a temporary directory, demo data, the Front sandbox on its own port
/// (Front API and webhooks) and the example product at `POST /demo-app/support`, as in
/// `skill dev --demo`. Every step that can fail returns an error. Dropping it stops the server.
struct Ephemeral {
    platform: Platform,
    demo: DemoState,
    front: Sandbox,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), HostError>>>,
    _dir: tempfile::TempDir,
}

impl Ephemeral {
    /// Start it after `tweak` adjusted the settings.
    async fn launch(tweak: impl FnOnce(&mut Settings)) -> Result<Ephemeral, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("eval.db").display());
        let token = support_core::crypto::random_hex(16);
        let l = crate::launch::sandboxed(dir.path(), url, &token, tweak).await?;
        Ok(Ephemeral {
            platform: l.platform,
            demo: l.demo,
            front: l.front,
            stop: Some(l.stop),
            server: Some(l.server),
            _dir: dir,
        })
    }

    /// The data directory (`demo.json`, `master.key`, `course-app.db`).
    fn data_dir(&self) -> &Path {
        &self.platform.settings.data_dir
    }

    /// Wait for the run started by Front event `front_event_id` to reach one of `statuses`.
    async fn settled_run(
        &self,
        front_event_id: &str,
        statuses: &[RunStatus],
        timeout: Duration,
    ) -> Result<support_steps::RunDetail, support_steps::EngineError> {
        let engine = &self.platform.engine;
        let runs = engine
            .wait_for_runs_of(&format!("front:{front_event_id}"), 1, timeout)
            .await?;
        let Some(first) = runs.first() else {
            return Err(support_steps::EngineError::NotFound(format!(
                "no run for front:{front_event_id}"
            )));
        };
        let id = first.id.clone();
        engine
            .wait_until("run to settle", timeout, || async {
                Ok(engine
                    .get_run(&id)
                    .await?
                    .filter(|r| statuses.contains(&r.run.status)))
            })
            .await
    }

    /// Stop the server gracefully and wait for it (errors while draining are logged).
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.server.take() {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "eval platform shutdown"),
                Err(e) => tracing::warn!(error = %e, "eval platform task"),
            }
        }
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
