//! The model directory of the composition root: builds the `connectors::llm` adapter for a
//! step's (provider, model) choice from `settings.llm.providers` and its price table, once per
//! choice (adapters hold a connection pool).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support_core::llm::{Llm, ModelDirectory};
use support_core::settings::{LlmSettings, ModelChoice};

/// Builds adapters on demand from the configured providers.
pub struct ConnectorModels {
    settings: LlmSettings,
    built: Mutex<HashMap<(String, String), Arc<dyn Llm>>>,
}

impl ConnectorModels {
    pub fn new(settings: LlmSettings) -> Self {
        Self {
            settings,
            built: Mutex::new(HashMap::new()),
        }
    }
}

impl ModelDirectory for ConnectorModels {
    fn model(&self, choice: &ModelChoice) -> Result<Arc<dyn Llm>, String> {
        let key = (choice.provider.clone(), choice.model.clone());
        if let Some(llm) = self.built.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(llm);
        }
        let provider = self
            .settings
            .providers
            .get(&choice.provider)
            .ok_or_else(|| format!("no provider {:?} in llm.providers", choice.provider))?;
        let llm = support_connectors::llm::build(
            &choice.provider,
            provider,
            &choice.model,
            &self.settings.prices,
        )
        .map_err(|e| e.to_string())?;
        if let Ok(mut m) = self.built.lock() {
            m.insert(key, llm.clone());
        }
        Ok(llm)
    }
}

/// The directory, when any provider is configured.
pub fn directory(settings: &LlmSettings) -> Option<Arc<dyn ModelDirectory>> {
    (!settings.providers.is_empty())
        .then(|| Arc::new(ConnectorModels::new(settings.clone())) as Arc<dyn ModelDirectory>)
}
