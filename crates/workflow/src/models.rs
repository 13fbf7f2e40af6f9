//! Which model backs a step of the inbound workflow: the classifier part of `route`
//! ([`crate::route`]) and the `agent` step ([`crate::agent`]), when a model is configured for
//! the app (`policy.llm`) or globally (`settings.llm`). Nothing configured: the offline
//! implementations run, unchanged.
//!
//! Every model call is audited as `llm.call` (provider, model, prompt hash, tokens, cost,
//! latency, attempts, error code) under the run's trace id; the agent step's `agent.completed`
//! entry holds the run's totals; a classifier fallback is audited as
//! `route.classifier_fallback`, a provider that cannot be built as `llm.unavailable`.

use crate::inbound::{InboundDeps, Snapshot, audit};
use serde_json::json;
use std::sync::Arc;
use support_core::llm::Llm;
use support_core::registry::AppPolicy;
use support_core::settings::ModelChoice;
use support_steps::StepError;

/// The steps a model can back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelStep {
    Classifier,
    Agent,
}

impl ModelStep {
    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) async fn model_for(
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
