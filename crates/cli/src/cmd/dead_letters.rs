//! `skill dead-letters list|replay`: what failed for good, and replaying one.

use super::context::{Failure, cli_actor, emit, event_sink, exit, load_settings, open_db};
use crate::args::{Cli, DeadLettersCmd};
use serde_json::{Value, json};
use std::sync::Arc;
use support_core::store::prelude::*;

pub(crate) async fn run(cli: &Cli, cmd: &DeadLettersCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    match cmd {
        DeadLettersCmd::List { all } => {
            let mut letters = db.list_dead_letters(*all).await?;
            letters.reverse();
            let items: Vec<Value> = letters
                .iter()
                .map(support_web::dead_letters::letter_json)
                .collect();
            emit(cli, &json!({"items": items}), || {
                if letters.is_empty() {
                    return "no dead letters".into();
                }
                letters
                    .iter()
                    .map(|l| {
                        let state = if l.resolved_at.is_some() {
                            "resolved"
                        } else {
                            "open"
                        };
                        format!(
                            "{}  {:<7} {:<8} {}  {}",
                            l.id, l.kind, state, l.ref_id, l.error
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        DeadLettersCmd::Replay { id } => {
            let store: Arc<dyn Store> = Arc::new(db.clone());
            let registry = support_host::host::shared_registry(&settings, store.clone()).await;
            let events = event_sink(&settings, &db)?;
            let payments = support_connectors::stripe::from_settings(&settings.stripe);
            let alerts = support_connectors::slack::from_settings(&settings.slack);
            // Re-queued here, the run is resumed by the serving process's runner.
            let engine = support_host::runner::is_embedded(&settings)
                .then(|| support_steps::Engine::builder(Arc::new(db.clone())).build())
                .transpose()
                .map_err(|e| Failure::from(e.to_string()))?;
            let deps = support_workflow::dead_letters::ReplayDeps {
                webhook: support_core::stripe_connect::WebhookDeps {
                    store: store.as_ref(),
                    registry: &registry,
                    events: events.as_ref(),
                    payments: payments.as_deref(),
                },
                runs: engine.as_ref().map(|e| e as _),
                alerts: alerts.as_deref().map(|c| c as _),
            };
            let done = support_workflow::dead_letters::replay_dead_letter(&deps, id, &cli_actor())
                .await
                .map_err(|e| Failure {
                    code: exit::FAILED,
                    message: e.to_string(),
                })?;
            emit(cli, &done, || {
                format!(
                    "dead letter {id}: {}",
                    done["status"].as_str().unwrap_or("replayed")
                )
            });
            Ok(())
        }
    }
}
