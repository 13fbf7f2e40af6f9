//! What a person asks of a conversation, from the dashboard or the Front sidebar plugin: run
//! the agent again, or hand the conversation over to a human. One implementation for both,
//! each audited with who asked ([`Requester`]).
//!
//! - [`request_rerun`]: a new run of the inbound workflow through the event path
//!   (`support/inbound.received` with a fresh event id), audited `conversation.rerun_requested`;
//! - [`hand_over`]: an escalation tag (and an assignee change, when asked) through the Front
//!   port, the platform's copy marked escalated, audited `conversation.handed_over`.

use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::events::{self, EventSink, OutEvent};
use support_core::front::{FrontApi, FrontError};
use support_core::store::{ConversationRow, Store, StoreError};
use support_core::time::now_ms;

/// The escalation tags a person may hand over with (the workflow's own).
pub const HANDOVER_TAGS: &[&str] = &["needs-human", "urgent", "instructor"];
/// The longest hand-over reason.
pub const MAX_REASON_CHARS: usize = 10_000;

/// Why a conversation action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ConversationActionError {
    /// The request itself is wrong (unknown tag, bad teammate id, no app).
    #[error("{0}")]
    Invalid(String),
    /// The runner did not take the event: nothing was queued.
    #[error("The run could not be queued: {0}")]
    Events(String),
    /// Front refused or failed: nothing changed there.
    #[error("Front did not accept it, so nothing changed there: {0}")]
    Front(#[from] FrontError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who asks, for the audit entry: the actor (`user:…`), where from (`dashboard`,
/// `front_plugin`: it prefixes the event id) and extra fields for the entry's data (the
/// plugin's user id and Front teammate id), an object or `null`.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    pub actor: &'a str,
    pub source: &'a str,
    pub attribution: Value,
}

impl Requester<'_> {
    fn data(&self, mut data: Value) -> Value {
        if let (Some(d), Some(extra)) = (data.as_object_mut(), self.attribution.as_object()) {
            for (k, v) in extra {
                d.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        data
    }
}

fn audit_event(kind: &str, c: &ConversationRow, by: &Requester<'_>, data: Value) -> AuditEvent {
    let mut ev = AuditEvent::new(kind, by.actor, by.data(data)).conversation(&c.front_id);
    if let Some(app) = &c.app {
        ev = ev.app(app);
    }
    ev
}

/// Queue a new run of the agent on `c`; returns the event id.
pub async fn request_rerun(
    store: &dyn Store,
    sink: &dyn EventSink,
    c: &ConversationRow,
    by: &Requester<'_>,
) -> Result<String, ConversationActionError> {
    let app = c.app.clone().ok_or_else(|| {
        ConversationActionError::Invalid(
            "this conversation belongs to no app, so no agent can run".into(),
        )
    })?;
    let event_id = support_core::ids::new_id("rerun");
    sink.send(vec![OutEvent {
        name: events::INBOUND_RECEIVED.to_string(),
        data: json!({
            "event_id": event_id,
            "app_id": app,
            "conversation_id": c.front_id,
            "message_id": null,
            "front_type": format!("{}_rerun", by.source),
            "emitted_at": now_ms() / 1000,
        }),
        id: Some(format!("{}:{event_id}", by.source)),
    }])
    .await
    .map_err(|e| ConversationActionError::Events(e.to_string()))?;
    store
        .append_audit(&audit_event(
            "conversation.rerun_requested",
            c,
            by,
            json!({"event_id": event_id}),
        ))
        .await?;
    Ok(event_id)
}

/// What happens to the assignee when handing over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// Leave it as it is.
    Keep,
    /// Unassign (back to the inbox, for whoever takes it).
    Unassign,
    /// Assign to this Front teammate (`tea_…`).
    To(String),
}

/// A hand-over request.
#[derive(Debug, Clone)]
pub struct HandOver {
    /// One of [`HANDOVER_TAGS`].
    pub tag: String,
    /// Why; empty means "handed over by `who`".
    pub reason: String,
    pub assignee: Assignee,
}

/// Check a hand-over request before anything is sent.
pub fn validate_hand_over(h: &HandOver) -> Result<(), ConversationActionError> {
    let tag = h.tag.trim();
    if !HANDOVER_TAGS.contains(&tag) {
        return Err(ConversationActionError::Invalid(format!(
            "unknown escalation {tag:?}; one of {}",
            HANDOVER_TAGS.join(", ")
        )));
    }
    if h.reason.trim().chars().count() > MAX_REASON_CHARS {
        return Err(ConversationActionError::Invalid(
            "the reason is too long".into(),
        ));
    }
    if let Assignee::To(a) = &h.assignee {
        let ok = !a.is_empty()
            && a.len() <= 100
            && a.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !ok {
            return Err(ConversationActionError::Invalid(
                "the assignee is not a Front teammate id".into(),
            ));
        }
    }
    Ok(())
}

/// Hand `c` over to a human: tag it in Front, change the assignee when asked, mark the
/// platform's copy escalated and audit it. `who` names the person in the default reason.
/// Returns the updated conversation.
pub async fn hand_over(
    store: &dyn Store,
    front: &dyn FrontApi,
    mut c: ConversationRow,
    h: &HandOver,
    who: &str,
    by: &Requester<'_>,
) -> Result<ConversationRow, ConversationActionError> {
    validate_hand_over(h)?;
    let tag = h.tag.trim();
    front.add_tags(&c.front_id, &[tag.to_string()]).await?;
    match &h.assignee {
        Assignee::Keep => {}
        Assignee::Unassign => front.set_assignee(&c.front_id, None).await?,
        Assignee::To(a) => front.set_assignee(&c.front_id, Some(a)).await?,
    }
    let reason = h.reason.trim();
    let why = if reason.is_empty() {
        format!("handed over by {who}")
    } else {
        reason.to_string()
    };
    c.escalation = Some(tag.to_string());
    c.escalation_reason = Some(why.clone());
    match &h.assignee {
        Assignee::Keep => {}
        Assignee::Unassign => c.assignee = None,
        Assignee::To(a) => c.assignee = Some(a.clone()),
    }
    c.updated_at = now_ms();
    store.upsert_conversation(&c).await?;
    let assignee = match &h.assignee {
        Assignee::To(a) => Some(a.as_str()),
        _ => None,
    };
    let mut data = json!({"tag": tag, "reason": why, "assignee": assignee});
    if h.assignee == Assignee::Unassign {
        data["unassigned"] = json!(true);
    }
    store
        .append_audit(&audit_event("conversation.handed_over", &c, by, data))
        .await?;
    // Analytics: a person took over (one event per request).
    crate::analytics::escalated(
        store,
        c.app.as_deref().unwrap_or_default(),
        &c.front_id,
        &format!("handover:{}:{}", c.front_id, c.updated_at),
        "handed_over",
    )
    .await;
    Ok(c)
}
