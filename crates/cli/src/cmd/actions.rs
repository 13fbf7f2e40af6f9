//! `skill actions retry`: retry a dead-lettered action.

use super::context::{Failure, cli_actor, emit, event_sink, exit, load_settings, open_db};
use crate::args::{ActionsCmd, Cli};
use serde_json::json;

pub(crate) async fn run(cli: &Cli, cmd: &ActionsCmd) -> Result<(), Failure> {
    let ActionsCmd::Retry { id } = cmd;
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let events = event_sink(&settings, &db)?;
    let r = support_workflow::request_retry(&db, events.as_ref(), id, &cli_actor())
        .await
        .map_err(|e| Failure {
            code: exit::FAILED,
            message: e.to_string(),
        })?;
    let v = json!({"action_id": r.action_id, "attempt": r.attempt, "event_id": r.event_id,
                   "status": "retry_requested"});
    emit(cli, &v, || {
        format!(
            "retry {} of action {} requested ({})",
            r.attempt, r.action_id, r.event_id
        )
    });
    Ok(())
}
