//! The platform's durable functions, wired to the real adapters: Front's Core API (or the
//! sandbox), each app's SDK endpoint, the store and the registry.

use crate::services::{FunctionsFn, Services};
use std::sync::Arc;
use support_connectors::front::{FrontClient, FrontConfig};
use support_connectors::product::SdkProducts;
use support_workflow::dead_letters::dead_letter_function;
use support_workflow::{InboundDeps, action_retry_function, inbound_function};

/// The functions every binary (`skill dev`, `support-web`, `support-slack`, `support-front`)
/// and the tests run by default: the dead-letter recorder, and the inbound
/// workflow. Without a Front API token there is nothing to hydrate from, so the inbound
/// workflow is left out (and a warning says so).
pub fn platform_functions() -> FunctionsFn {
    Arc::new(|s: &Services| {
        let mut fns = vec![dead_letter_function(s.store.clone())];
        fns.push(support_workflow::retention::retention_function(
            s.store.clone(),
            s.settings.retention.clone(),
            Arc::new(support_workflow::retention::SystemClock),
        ));
        fns.extend(support_workflow::analytics::functions(s.store.clone()));
        if let Some(deps) = inbound_deps(s) {
            fns.push(action_retry_function(deps.clone()));
            fns.push(support_workflow::sla::sla_function(
                support_workflow::sla::SlaDeps::from_inbound(&deps),
            ));
            fns.extend(support_workflow::outcome::functions(
                &deps,
                &s.settings.trust,
            ));
            fns.push(inbound_function(deps));
        }
        fns
    })
}

/// The inbound workflow's adapters built from the settings (also what tests use to drive
/// `PlatformTools` directly); `None`, with the reason logged, without a Front client.
pub fn inbound_deps(s: &Services) -> Option<InboundDeps> {
    let Some(token) = s.settings.front.api_token.clone() else {
        tracing::warn!("front.api_token is not set: the inbound workflow is disabled");
        return None;
    };
    let cfg = FrontConfig {
        base_url: s.settings.front.api_url.clone(),
        ..FrontConfig::default()
    };
    let front = match FrontClient::new(token, cfg) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(cause = %e, "cannot build the Front client: the inbound workflow is disabled");
            return None;
        }
    };
    Some(InboundDeps {
        store: s.store.clone(),
        registry: s.registry.clone(),
        front,
        products: Arc::new(SdkProducts::new(s.master_key.clone())),
        master_key: s.master_key.clone(),
        payments: support_connectors::stripe::from_settings(&s.settings.stripe),
        knowledge: Arc::new(s.knowledge.clone()),
        canned_scorer: Arc::new(support_knowledge::canned::CannedIndex::new()),
        approvals: support_connectors::slack::from_settings(&s.settings.slack),
        models: crate::models::directory(&s.settings.llm),
        llm_defaults: support_core::registry::AppLlm {
            classifier: s.settings.llm.classifier.clone(),
            agent: s.settings.llm.agent.clone(),
        },
        autosend: s.settings.autosend.clone(),
        context: support_core::context_cache::ContextCache::new(s.registry.cache().clone()),
    })
}

/// After a human's rating (a Slack button, the Front plugin): a bad one in a conversation we
/// answered automatically drops the category to drafts at once, with the Slack alert
/// (`support_workflow::autosend::on_signal`, as for the other bad outcomes).
pub async fn after_rating(
    s: &Services,
    signal: &support_core::trust::Signal,
) -> Result<support_workflow::autosend::Demotion, support_core::store::StoreError> {
    let approvals = support_connectors::slack::from_settings(&s.settings.slack);
    support_workflow::autosend::on_signal(
        s.store.as_ref(),
        approvals.as_deref(),
        &s.registry,
        signal,
    )
    .await
}

/// Front's Core API client from the settings (`front.api_token`, `front.api_url`): `Ok(None)`
/// without a token (the Front plugin's hand-over uses it).
pub fn front_api(
    settings: &support_core::settings::Settings,
) -> Result<Option<Arc<FrontClient>>, String> {
    let Some(token) = settings.front.api_token.clone() else {
        return Ok(None);
    };
    let cfg = FrontConfig {
        base_url: settings.front.api_url.clone(),
        ..FrontConfig::default()
    };
    FrontClient::new(token, cfg)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| e.to_string())
}
