//! The route step, written once: the offline router, then (where the classifier decides) the
//! model classifier's category: asked now (the workflow with a configured model, or a replay's
//! what-if) or taken from the recording (a replay of a run a model classified). The workflow and
//! `skill replay` both call [`route`]; only the workflow audits and records.

use serde_json::json;
use support_core::llm::Llm;
use support_core::pipeline::model_classify::{self, RecordedClassification};
use support_core::pipeline::router::{self, CannedSet, RouteDecision, RouteInput};
use support_core::store::RouteSummary;
use support_core::time::now_ms;
use support_steps::StepError;

use crate::agent::audit_calls;
use crate::inbound::{InboundDeps, RunAudit, Snapshot, store_err};
use crate::models::{ModelStep, model_for};
use crate::replay::{RecordingScorer, RouteInputs, RouteRecord};
use crate::step::StepAudit;

/// Where the classifier's category comes from.
#[derive(Clone, Copy)]
pub enum Classifier<'a> {
    /// The offline classifier alone.
    Offline,
    /// Ask `llm` (its `model`; `provider` names it in the audit).
    Model {
        llm: &'a dyn Llm,
        provider: &'a str,
        model: &'a str,
    },
    /// The answer a model gave when the run was recorded.
    Recorded(&'a RecordedClassification),
}

/// Routes `input`: the decision, and the model classifier's answer to record (when one was
/// asked). Model calls and a classifier fallback go to `audit`.
pub async fn route<A: StepAudit>(
    input: RouteInput<'_>,
    classifier: Classifier<'_>,
    audit: &A,
) -> Result<(RouteDecision, Option<RecordedClassification>), A::Error> {
    let offline = router::route(input);
    let (llm, provider, model) = match classifier {
        Classifier::Offline => return Ok((offline, None)),
        Classifier::Recorded(answer) => {
            return Ok((model_classify::apply_recorded(input, offline, answer), None));
        }
        Classifier::Model {
            llm,
            provider,
            model,
        } => (llm, provider, model),
    };
    let offline_category = offline.category;
    let (decision, verdict) = model_classify::classify(input, offline, llm, model).await;
    if let Some(call) = &verdict.call {
        audit_calls(audit, ModelStep::Classifier, std::slice::from_ref(call)).await?;
    }
    if let Some(why) = &verdict.fallback {
        audit
            .audit(
                "route.classifier_fallback",
                json!({"provider": provider, "model": model, "reason": why,
                       "error": verdict.call.as_ref().and_then(|c| c.error.clone()),
                       "category": offline_category}),
            )
            .await?;
    }
    Ok((decision, verdict.record()))
}

/// The workflow's route step: the app's canned responses from the store, the classifier model
/// of the app (or the global one), [`route`], and the `route.decided` audit. It records the
/// inputs it decided on (clock, policy, canned responses) next to the decision, so
/// `skill replay` can re-run it exactly.
pub(crate) async fn route_step(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    policy: &support_core::registry::AppPolicy,
    profile: &support_core::pipeline::profile::AppProfile,
) -> Result<RouteRecord, StepError> {
    let canned = d.store.list_canned(Some(&s.app)).await.map_err(store_err)?;
    let scorer = RecordingScorer::new(d.canned_scorer.as_ref());
    let rin = RouteInput {
        inbound: &s.inbound,
        facts: Some(&s.facts),
        policy,
        profile,
        canned: CannedSet::new(&canned, &scorer),
    };
    let audit = RunAudit::new(d, s, trace);
    let model = model_for(d, s, trace, policy, ModelStep::Classifier).await?;
    let classifier = match &model {
        Some((choice, llm)) => Classifier::Model {
            llm: llm.as_ref(),
            provider: &choice.provider,
            model: &choice.model,
        },
        None => Classifier::Offline,
    };
    let (decision, classified) = route(rin, classifier, &audit).await?;
    let inputs = RouteInputs::new(now_ms(), policy.clone(), canned)
        .with_classifier(classified)
        .with_canned_scores(scorer.into_scores());
    audit
        .audit(
            "route.decided",
            json!({"action": decision.action, "category": decision.category, "confidence": decision.confidence,
                   "rule": decision.rule, "reasons": decision.reasons, "flags": decision.flags.names(),
                   "canned": decision.canned.as_ref().map(|c| json!({"id": c.id, "score": c.score})),
                   "canned_hash": inputs.canned_hash}),
        )
        .await?;
    // The conversation list filters on the latest decision.
    d.store
        .set_conversation_route(
            &s.conversation_id,
            &RouteSummary {
                action: decision.action,
                category: decision.category.as_str().to_string(),
                flags: decision
                    .flags
                    .names()
                    .iter()
                    .map(|f| f.to_string())
                    .collect(),
            },
        )
        .await
        .map_err(store_err)?;
    Ok(RouteRecord {
        decision,
        inputs: Some(inputs),
    })
}
