//! SDK apps are registered with one instance (`POST /fn/register`) and stored; every worker of
//! the fleet fans events out with them. Before a batch of events is fanned out, the worker
//! compares the stored apps (id and `updated_at`) with the ones it loaded and loads them again
//! when they differ, so no worker marks an event processed without the functions another
//! instance has registered since it started. The comparison is one aggregate read (count and
//! newest `updated_at`); the apps themselves are read only when it changed.

use crate::engine::Engine;
use crate::event::Millis;
use crate::server::ServerConfig;

/// What a worker needs to follow the stored SDK apps.
pub(crate) struct SdkSync {
    config: ServerConfig,
    /// `(count, newest updated_at)` of the stored apps at the last load; `None` before it.
    seen: Option<(i64, Millis)>,
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
            .map(|s| (s.config.clone(), s.seen))
        else {
            return;
        };
        let now = match self.store().apps_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registered SDK apps");
                return;
            }
        };
        if seen == Some(now) {
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
