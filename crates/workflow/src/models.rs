//! The model-backed steps of the inbound workflow: the classifier part of `route` and the
//! `agent` step, when a model is configured for the app (`policy.llm`) or globally
//! (`settings.llm`). Nothing configured: the offline implementations run, unchanged.
//!
//! Every model call is audited as `llm.call` (provider, model, prompt hash, tokens, cost,
//! latency, attempts, error code) under the run's trace id; the agent step's `agent.completed`
//! entry holds the run's totals; a classifier fallback is audited as
//! `route.classifier_fallback`, a provider that cannot be built as `llm.unavailable`.

use crate::inbound::{Drafted, InboundDeps, Snapshot, audit, failing};
use support_core::llm::Llm;
use support_core::pipeline::agent::AgentInput;
use support_core::pipeline::model_agent::{self, ModelAgentOptions, ModelCall};
use support_core::pipeline::model_classify::{self, RecordedClassification};
use support_core::pipeline::profile::AppProfile;
use support_core::pipeline::router::{RouteDecision, RouteInput};
use support_core::pipeline::tools::ToolExecutor;
use support_core::pipeline::validate::{self, ScorerResult};
use support_core::registry::AppPolicy;
use support_core::settings::ModelChoice;
use serde_json::json;
use std::sync::Arc;
use support_steps::StepError;

/// The steps a model can back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelStep {
    Classifier,
    Agent,
}

impl ModelStep {
    fn as_str(self) -> &'static str {
        match self {
            ModelStep::Classifier => "classifier",
            ModelStep::Agent => "agent",
        }
    }
}

/// The model choice of `step` for an app: its policy's, else the global one.
pub fn choice_for(deps: &InboundDeps, policy: &AppPolicy, step: ModelStep) -> Option<ModelChoice> {
    let (own, global) = match step {
        ModelStep::Classifier => (&policy.llm.classifier, &deps.llm_defaults.classifier),
        ModelStep::Agent => (&policy.llm.agent, &deps.llm_defaults.agent),
    };
    own.clone().or_else(|| global.clone())
}

/// The model of `step`, when one is configured and can be built (a failure is audited and the
/// offline implementation runs).
async fn model_for(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    policy: &AppPolicy,
    step: ModelStep,
) -> Result<Option<(ModelChoice, Arc<dyn Llm>)>, StepError> {
    let Some(choice) = choice_for(d, policy, step) else {
        return Ok(None);
    };
    let built = match &d.models {
        Some(dir) => dir.model(&choice),
        None => Err("no model directory is configured".to_owned()),
    };
    match built {
        Ok(llm) => Ok(Some((choice, llm))),
        Err(error) => {
            audit(
                d.store.as_ref(),
                trace,
                &s.app,
                &s.conversation_id,
                "llm.unavailable",
                json!({"step": step.as_str(), "provider": choice.provider, "model": choice.model,
                       "error": error, "fallback": "offline"}),
            )
            .await?;
            Ok(None)
        }
    }
}

async fn audit_calls(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    step: ModelStep,
    calls: &[ModelCall],
) -> Result<(), StepError> {
    for c in calls {
        audit(
            d.store.as_ref(),
            trace,
            &s.app,
            &s.conversation_id,
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

/// The route, with the model classifier's category when one is configured.
pub async fn route(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    input: RouteInput<'_>,
    offline: RouteDecision,
) -> Result<(RouteDecision, Option<RecordedClassification>), StepError> {
    let Some((choice, llm)) = model_for(d, s, trace, input.policy, ModelStep::Classifier).await?
    else {
        return Ok((offline, None));
    };
    let offline_category = offline.category;
    let (decision, verdict) =
        model_classify::classify(input, offline, llm.as_ref(), &choice.model).await;
    if let Some(call) = &verdict.call {
        audit_calls(
            d,
            s,
            trace,
            ModelStep::Classifier,
            std::slice::from_ref(call),
        )
        .await?;
    }
    if let Some(why) = &verdict.fallback {
        audit(
            d.store.as_ref(),
            trace,
            &s.app,
            &s.conversation_id,
            "route.classifier_fallback",
            json!({"provider": choice.provider, "model": choice.model, "reason": why,
                   "error": verdict.call.as_ref().and_then(|c| c.error.clone()),
                   "category": offline_category}),
        )
        .await?;
    }
    Ok((decision, verdict.record()))
}

fn findings_of(scorers: &[ScorerResult]) -> Vec<String> {
    failing(scorers)
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| format!("{}: {f}", s.scorer)))
        .collect()
}

/// The agent step through the model, when one is configured (`None`: run the offline agent).
/// Validation failures get one regeneration with the findings fed back; a second failure
/// withholds the draft (the draft step then escalates).
pub async fn agent(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    input: AgentInput<'_>,
    tools: &dyn ToolExecutor,
    profile: &AppProfile,
) -> Result<Option<Drafted>, StepError> {
    let Some((choice, llm)) = model_for(d, s, trace, input.policy, ModelStep::Agent).await? else {
        return Ok(None);
    };
    let opts = ModelAgentOptions {
        model: choice.model.clone(),
        ..ModelAgentOptions::default()
    };
    let mut result = model_agent::run(input, tools, llm.as_ref(), &opts).await;
    audit_calls(d, s, trace, ModelStep::Agent, &result.calls).await?;
    let vctx = support_core::pipeline::eval::validation_context(input.route, &result.outcome, profile);
    let score = |draft: Option<&str>| {
        draft
            .map(|dr| validate::validate(dr, &vctx))
            .unwrap_or_default()
    };
    let mut scorers = score(result.outcome.draft.as_deref());
    let mut withheld = false;
    if scorers.iter().any(|sc| !sc.passed) {
        audit(
            d.store.as_ref(),
            trace,
            &s.app,
            &s.conversation_id,
            "validate.failed",
            json!({"attempt": 1, "findings": failing(&scorers)}),
        )
        .await?;
        let before = result.calls.len();
        let findings = findings_of(&scorers);
        result = model_agent::regenerate(&result, &findings, input, llm.as_ref(), &opts).await;
        audit_calls(
            d,
            s,
            trace,
            ModelStep::Agent,
            result.calls.get(before..).unwrap_or_default(),
        )
        .await?;
        scorers = score(result.outcome.draft.as_deref());
        withheld = scorers.iter().any(|sc| !sc.passed);
    }
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
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "agent.completed",
        summary,
    )
    .await?;
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "validate.completed",
        json!({"passed": !withheld, "scorers": scorers}),
    )
    .await?;
    Ok(Some(Drafted {
        outcome: result.outcome,
        scorers,
        withheld,
    }))
}
