//! [`Platform`], what every request handler and background job gets, and [`Service`], how an
//! app contributes its routes to it.

use crate::services::Services;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use support_core::events::EventSink;
use support_steps::{Engine, Function};
use tokio::sync::watch;

/// Everything a request handler or background job needs. Cheap to clone; derefs to
/// [`Services`].
#[derive(Clone)]
pub struct Platform {
    pub services: Services,
    /// The embedded executor (it also serves `/e/{key}` and the Inngest protocol).
    pub engine: Engine,
    /// Where the domain sends events: the embedded executor or an Inngest server.
    pub events: Arc<dyn EventSink>,
    /// The functions this platform serves (also to an external Inngest at `/api/inngest`).
    pub functions: Arc<Vec<Function>>,
    pub metrics: PrometheusHandle,
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// Flips to `true` when shutdown starts; background work watches it.
    pub shutdown: watch::Receiver<bool>,
    /// `Some` in `--demo`: the demo state (secrets, tokens) written to `demo.json`.
    pub demo: Option<Arc<crate::demo::DemoState>>,
}

impl std::ops::Deref for Platform {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Platform {
    /// Decide an approval through the shared decision function
    /// ([`support_core::decision::decide`]) with this platform's store, events and key: the
    /// JSON API, Slack and the CLI all decide through it.
    pub async fn decide(
        &self,
        d: &support_core::decision::Decision,
    ) -> Result<support_core::decision::Outcome, support_core::decision::DecisionError> {
        support_core::decision::decide(
            support_core::decision::DecisionDeps {
                store: self.store.as_ref(),
                events: self.events.as_ref(),
                key: &self.master_key,
            },
            d,
            support_core::time::now_ms(),
        )
        .await
    }

    /// The URL this platform is reached at (settings, or the bound address).
    pub fn base_url(&self) -> String {
        match &self.settings.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.local_addr),
        }
    }
}

/// A function that adds an app's routes (e.g. `support_slack::mount`).
pub type Mount = fn(&Platform) -> Router<Platform>;

/// One app's routes and what the start-up banner and `--help` say about them.
#[derive(Clone, Copy)]
pub struct Service {
    /// Short name (`web`, `slack`, `front`).
    pub name: &'static str,
    /// The routes it adds, one line each (`POST /webhooks/front  Front's application webhook`).
    pub routes: &'static [&'static str],
    pub mount: Mount,
}
