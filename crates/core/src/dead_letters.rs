//! Runs that failed for good become dead letters the team can see and replay.
//!
//! The runner announces every final failure with an `inngest/function.failed` event, stored in
//! the same transaction as the failure (the embedded executor; a real Inngest server sends the
//! same event). This function records it in the platform's `dead_letters` table, with the
//! cause, and audits it against the conversation the run was about.

use serde_json::{Value, json};
use std::sync::Arc;
use support_steps::{Ctx, Event, FAILED_EVENT, Function, StepError};

use crate::audit::AuditEvent;
use crate::store::{DeadLetter, Store, StoreError};
use crate::time::now_ms;

/// The id of the dead-letter function.
pub const DEAD_LETTER_FN: &str = "support-dead-letters";

/// The human-readable cause of a failure event's `error` (`{name, message}`).
pub fn cause(error: &Value) -> String {
    match (error["name"].as_str(), error["message"].as_str()) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message.to_string(),
        _ => error.to_string(),
    }
}

/// Records `inngest/function.failed` events as dead letters (kind `run`).
pub fn dead_letter_function(store: Arc<dyn Store>) -> Function {
    Function::new(DEAD_LETTER_FN)
        .name("Dead letters")
        .on_event(FAILED_EVENT)
        .retries(10)
        .handler(move |ctx: Ctx, ev: Event| {
            let store = store.clone();
            async move { record(&ctx, &ev, store).await }
        })
}

async fn record(ctx: &Ctx, ev: &Event, store: Arc<dyn Store>) -> Result<Value, StepError> {
    let run_id = ev.data["run_id"].as_str().unwrap_or_default().to_string();
    let function = ev.data["function_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let error = cause(&ev.data["error"]);
    let original = &ev.data["event"]["data"];
    let app = original["app_id"].as_str().map(str::to_string);
    let conversation = original["conversation_id"].as_str().map(str::to_string);
    let id = format!("dl_{}", ev.id);
    let (data, s) = (ev.data.clone(), store.clone());
    let (i, r, e, f) = (id.clone(), run_id.clone(), error.clone(), function.clone());
    ctx.run("record", move || async move {
        let letter = DeadLetter {
            id: i.clone(),
            kind: "run".into(),
            ref_id: r.clone(),
            error: e.clone(),
            payload: data,
            created_at: now_ms(),
            resolved_at: None,
        };
        match s.insert_dead_letter(&letter).await {
            // Recorded by an earlier attempt that crashed before its step was memoized.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(StepError::retriable(format!("store: {other}"))),
        }
        let mut audit = AuditEvent::new(
            "run.dead_lettered",
            "runner",
            json!({"dead_letter": i, "run_id": r, "function": f, "error": e}),
        )
        .trace(r.clone());
        if let Some(app) = &app {
            audit = audit.app(app.clone());
        }
        if let Some(conversation) = &conversation {
            audit = audit.conversation(conversation.clone());
        }
        s.append_audit(&audit)
            .await
            .map_err(|e| StepError::retriable(format!("store: {e}")))?;
        Ok(json!({"dead_letter": i}))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_like_sentences() {
        assert_eq!(
            cause(&json!({"name": "Error", "message": "Front answered 503"})),
            "Error: Front answered 503"
        );
        assert_eq!(cause(&json!({"message": "boom"})), "boom");
        assert_eq!(cause(&json!("odd")), "\"odd\"");
    }
}
