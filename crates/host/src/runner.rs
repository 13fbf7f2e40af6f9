//! The durable runner inside the host: the embedded executor (default), or an external Inngest
//! server (`runner = "inngest"`). Either way the domain sends events through one
//! [`EventSink`], with the same event shapes.

use async_trait::async_trait;
use std::time::Duration;
use support_core::events::{EventSink, EventSinkError, OutEvent};
use support_core::settings::{RunnerKind, Settings};
use support_steps::{Engine, Event};

/// Sends events to the embedded executor.
pub struct EmbeddedSink(pub Engine);

fn to_event(e: OutEvent) -> Event {
    let ev = Event::new(e.name, e.data);
    match e.id {
        Some(id) => ev.with_id(id),
        None => ev,
    }
}

#[async_trait]
impl EventSink for EmbeddedSink {
    async fn send(&self, events: Vec<OutEvent>) -> Result<Vec<String>, EventSinkError> {
        self.0
            .send(events.into_iter().map(to_event).collect())
            .await
            .map_err(|e| EventSinkError(e.to_string()))
    }
}

/// Sends events to an Inngest server's event API (`POST {base}/e/{event_key}`).
pub struct InngestSink {
    http: reqwest::Client,
    url: String,
}

impl InngestSink {
    pub fn new(base_url: &str, event_key: &str) -> Result<Self, EventSinkError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EventSinkError(e.to_string()))?;
        Ok(Self {
            http,
            url: format!("{}/e/{event_key}", base_url.trim_end_matches('/')),
        })
    }
}

#[async_trait]
impl EventSink for InngestSink {
    async fn send(&self, events: Vec<OutEvent>) -> Result<Vec<String>, EventSinkError> {
        let body: Vec<serde_json::Value> =
            events.into_iter().map(|e| to_event(e).to_value()).collect();
        let res = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| EventSinkError(e.without_url().to_string()))?;
        let status = res.status();
        let v: serde_json::Value = res
            .json()
            .await
            .map_err(|e| EventSinkError(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(EventSinkError(format!(
                "Inngest event API answered {status}: {v}"
            )));
        }
        Ok(v["ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The event keys `/e/{key}` accepts: the configured one (and the demo's).
pub fn event_keys(settings: &Settings, demo_key: Option<&str>) -> Vec<String> {
    settings
        .inngest
        .event_key
        .iter()
        .map(|k| k.expose().to_string())
        .chain(demo_key.map(str::to_string))
        .collect()
}

/// Whether this process executes runs itself.
pub fn is_embedded(settings: &Settings) -> bool {
    settings.runner == RunnerKind::Embedded
}
