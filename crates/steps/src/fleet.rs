//! SDK apps are registered with one instance (`POST /fn/register`) and stored; every worker of
//! the fleet fans events out with them. Before a batch of events is fanned out, the worker
//! compares the stored apps (id and `updated_at`) with the ones it loaded and loads them again
//! when they differ, so no worker marks an event processed without the functions another
//! instance has registered since it started.

use crate::engine::Engine;
use crate::event::Millis;
use crate::server::ServerConfig;

/// What a worker needs to follow the stored SDK apps.
pub(crate) struct SdkSync {
    config: ServerConfig,
    /// `(app id, updated_at)` of the apps loaded last, sorted; `None` before the first load.
    seen: Option<Vec<(String, Millis)>>,
}

impl Engine {
    /// Follow the stored SDK apps from now on (set when the SDK apps' server is mounted).
    pub(crate) fn follow_sdk_apps(&self, config: ServerConfig) {
        *self.lock_sdk_sync() = Some(SdkSync { config, seen: None });
    }

    /// Load the stored SDK apps again if they changed since the last load. A store error is
    /// logged; the batch is fanned out with what is loaded (as before the apps changed).
    pub(crate) async fn sync_sdk_apps(&self) {
        let Some((config, seen)) = self
            .lock_sdk_sync()
            .as_ref()
            .map(|s| (s.config.clone(), s.seen.clone()))
        else {
            return;
        };
        let apps = match self.store().list_apps().await {
            Ok(apps) => apps,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registered SDK apps");
                return;
            }
        };
        let mut now: Vec<(String, Millis)> =
            apps.into_iter().map(|a| (a.id, a.updated_at)).collect();
        now.sort();
        if seen.as_ref() == Some(&now) {
            return;
        }
        match self.load_sdk_apps(&config).await {
            Ok(n) => {
                tracing::info!(apps = n, "registered SDK apps (re)loaded");
                if let Some(s) = self.lock_sdk_sync().as_mut() {
                    s.seen = Some(now);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot load the registered SDK apps"),
        }
    }
}
