//! The product port over HTTP: each app's SDK endpoint, called with `support-sdk`'s signed
//! `IntegrationClient` (timeouts, read-only retries, 501 → unsupported).

use std::sync::Arc;
use std::time::Duration;
use support_core::crypto::MasterKey;
use support_core::registry::ProductDirectory;
use support_core::registry::Registry;
use support_core::store::AppRow;
use support_sdk::{IntegrationClient, SupportIntegration};

/// Builds an app's client from the registry row: its endpoint and its newest live secret,
/// opened with the master key.
pub struct SdkProducts {
    master_key: MasterKey,
    timeout: Duration,
}

impl SdkProducts {
    pub fn new(master_key: MasterKey) -> Self {
        Self {
            master_key,
            timeout: Duration::from_secs(10),
        }
    }
}

impl ProductDirectory for SdkProducts {
    fn client(&self, app: &AppRow) -> Result<Arc<dyn SupportIntegration>, String> {
        crate::ensure_crypto_provider();
        let secrets = Registry::secrets_of(&self.master_key, app).map_err(|e| e.to_string())?;
        let newest = secrets
            .last()
            .ok_or_else(|| format!("app {} has no SDK secret", app.slug))?;
        let client = IntegrationClient::builder(&app.sdk_base_url, newest.secret.clone())
            .timeout(self.timeout)
            .build()
            .map_err(|e| format!("SDK client for {}: {e}", app.slug))?;
        Ok(Arc::new(client))
    }
}
