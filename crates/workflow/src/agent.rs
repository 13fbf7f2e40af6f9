//! The agent step, written once: run the agent (offline, or the model's tool-calling loop) →
//! validate the draft → regenerate once on a failure (the model with the findings fed back) →
//! withhold on a second failure (the draft step then escalates). The workflow and
//! `skill replay` both call [`agent`]; the workflow with the platform's tools and the run's
//! audit, a replay with the recorded tool answers and no audit.

use serde_json::json;
use support_core::llm::Llm;
use support_core::pipeline::agent::{self as offline, AgentInput, AgentOutcome};
use support_core::pipeline::model_agent::{self, ModelAgentOptions, ModelAgentResult, ModelCall};
use support_core::pipeline::profile::AppProfile;
use support_core::pipeline::tools::ToolExecutor;
use support_core::pipeline::validate::{self, ScorerResult, ValidationContext, validation_context};
use support_steps::StepError;

use crate::inbound::{Drafted, InboundDeps, RunAudit, Snapshot, failing};
use crate::models::{ModelStep, model_for};
use crate::step::StepAudit;

/// Which agent runs.
#[derive(Clone, Copy)]
pub enum AgentKind<'a> {
    /// The deterministic offline agent.
    Offline,
    /// The model agent on `llm`.
    Model {
        llm: &'a dyn Llm,
        opts: &'a ModelAgentOptions,
    },
}

/// What the agent step produced: the draft with its validation, and the model agent's final
/// result (calls, usage, stop reason) when a model ran.
pub struct AgentRun {
    pub drafted: Drafted,
    pub model: Option<ModelAgentResult>,
}

/// Audits each model call of `step` as `llm.call`.
pub(crate) async fn audit_calls<A: StepAudit>(
    audit: &A,
    step: ModelStep,
    calls: &[ModelCall],
) -> Result<(), A::Error> {
    for c in calls {
        audit
            .audit(
                "llm.call",
                json!({"step": step.as_str(), "turn": c.turn, "provider": c.provider, "model": c.model,
                       "prompt_hash": c.prompt_hash, "input_tokens": c.usage.input_tokens,
                       "output_tokens": c.usage.output_tokens, "cost_usd": c.cost_usd,
                       "latency_ms": c.latency_ms, "attempts": c.attempts, "stop_reason": c.stop_reason,
                       "tool_calls": c.tool_calls, "error": c.error}),
            )
            .await?;
    }
    Ok(())
}

fn scores(vctx: &ValidationContext, o: &AgentOutcome) -> Vec<ScorerResult> {
    o.draft
        .as_deref()
        .map(|d| validate::validate(d, vctx))
        .unwrap_or_default()
}

fn failed(scorers: &[ScorerResult]) -> bool {
    scorers.iter().any(|s| !s.passed)
}

/// "scorer: finding" lines, fed back to the model when it regenerates.
fn findings_of(scorers: &[ScorerResult]) -> Vec<String> {
    failing(scorers)
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| format!("{}: {f}", s.scorer)))
        .collect()
}

/// Runs the agent step: run, validate (against the context of the first attempt), regenerate
/// once on a failure (`validate.failed` is audited first), withhold on a second failure. Model
/// calls are audited as `llm.call`.
pub async fn agent<A: StepAudit>(
    input: AgentInput<'_>,
    tools: &dyn ToolExecutor,
    kind: AgentKind<'_>,
    profile: &AppProfile,
    audit: &A,
) -> Result<AgentRun, A::Error> {
    match kind {
        AgentKind::Offline => {
            let mut outcome = offline::run(input, tools).await;
            let vctx = validation_context(input.route, &outcome, profile);
            let mut scorers = scores(&vctx, &outcome);
            let mut withheld = false;
            if failed(&scorers) {
                audit
                    .audit(
                        "validate.failed",
                        json!({"attempt": 1, "findings": failing(&scorers)}),
                    )
                    .await?;
                outcome = offline::run(input, tools).await;
                scorers = scores(&vctx, &outcome);
                withheld = failed(&scorers);
            }
            Ok(AgentRun {
                drafted: Drafted {
                    outcome,
                    scorers,
                    withheld,
                },
                model: None,
            })
        }
        AgentKind::Model { llm, opts } => {
            let mut result = model_agent::run(input, tools, llm, opts).await;
            audit_calls(audit, ModelStep::Agent, &result.calls).await?;
            let vctx = validation_context(input.route, &result.outcome, profile);
            let mut scorers = scores(&vctx, &result.outcome);
            let mut withheld = false;
            if failed(&scorers) {
                audit
                    .audit(
                        "validate.failed",
                        json!({"attempt": 1, "findings": failing(&scorers)}),
                    )
                    .await?;
                let before = result.calls.len();
                let findings = findings_of(&scorers);
                result = model_agent::regenerate(&result, &findings, input, llm, opts).await;
                audit_calls(
                    audit,
                    ModelStep::Agent,
                    result.calls.get(before..).unwrap_or_default(),
                )
                .await?;
                scorers = scores(&vctx, &result.outcome);
                withheld = failed(&scorers);
            }
            Ok(AgentRun {
                drafted: Drafted {
                    outcome: result.outcome.clone(),
                    scorers,
                    withheld,
                },
                model: Some(result),
            })
        }
    }
}

/// The workflow's agent step: the agent model of the app (or the global one; none, or one that
/// cannot be built: the offline agent), [`agent`] with the run's audit, then `agent.completed`
/// (a model's summary) and `validate.completed`.
pub(crate) async fn agent_step(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    input: AgentInput<'_>,
    tools: &dyn ToolExecutor,
    profile: &AppProfile,
) -> Result<Drafted, StepError> {
    let audit = RunAudit::new(d, s, trace);
    let model = model_for(d, s, trace, input.policy, ModelStep::Agent).await?;
    let opts = model.as_ref().map(|(choice, _)| ModelAgentOptions {
        model: choice.model.clone(),
        ..ModelAgentOptions::default()
    });
    let kind = match (&model, &opts) {
        (Some((_, llm)), Some(opts)) => AgentKind::Model {
            llm: llm.as_ref(),
            opts,
        },
        _ => AgentKind::Offline,
    };
    let AgentRun {
        drafted,
        model: ran,
    } = agent(input, tools, kind, profile, &audit).await?;
    if let (Some(result), Some((choice, _))) = (&ran, &model) {
        let mut summary = result.audit_summary();
        summary["agent"] = json!("model");
        summary["provider"] = json!(choice.provider);
        summary["model"] = json!(choice.model);
        summary["action"] = json!(result.outcome.action);
        summary["tools"] = json!(
            result
                .outcome
                .steps
                .iter()
                .map(|st| json!({"tool": st.call.tool, "status": st.status, "gate": st.gate.as_ref().map(|g| &g.rule)}))
                .collect::<Vec<_>>()
        );
        summary["proposals"] = json!(result.outcome.proposals.len());
        summary["handover"] = json!(result.failure_reason());
        audit.audit("agent.completed", summary).await?;
    }
    audit
        .audit(
            "validate.completed",
            json!({"passed": !drafted.withheld, "scorers": drafted.scorers}),
        )
        .await?;
    Ok(drafted)
}
