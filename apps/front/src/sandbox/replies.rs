//! Sending replies: `POST /conversations/{id}/messages` as Front answers it, and the holds a
//! test puts on it ([`Sandbox::hold_replies`]) to crash a sender at a chosen point of a send.

use super::{Sandbox, front_error, not_found};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::MutexGuard;

/// Where a held reply send waits (see [`Sandbox::hold_replies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAt {
    /// Before Front accepts it: when released, the request is answered 503 and nothing is
    /// sent, as when the sender dies before its request reaches Front.
    BeforeAccept,
    /// After Front accepted it (the message is in the conversation): the answer waits until
    /// released, as when the sender dies before Front's answer arrives.
    AfterAccept,
}

/// Held reply sends: how the next ones are held, and the state tests wait on.
pub(super) struct Holds {
    pub(super) at: Option<(HoldAt, u32)>,
    /// How many sends have been caught so far (bumped when one starts waiting).
    pub(super) caught: tokio::sync::watch::Sender<u32>,
    /// Bumped by [`Sandbox::release_replies`].
    pub(super) released: tokio::sync::watch::Sender<u64>,
}

impl Sandbox {
    fn holds(&self) -> MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hold the next `n` reply sends (`POST /conversations/{id}/messages`) at `at` until
    /// [`Sandbox::release_replies`]: a test kills the sender while one is held, to crash it
    /// at a chosen point of a send.
    pub fn hold_replies(&self, at: HoldAt, n: u32) {
        self.holds().at = (n > 0).then_some((at, n));
    }

    /// Let every held reply send go on (a `BeforeAccept` one is answered 503, unsent).
    pub fn release_replies(&self) {
        self.holds().released.send_modify(|n| *n += 1);
    }

    /// Wait until `n` reply sends have been caught by [`Sandbox::hold_replies`] in all.
    pub async fn wait_for_held_replies(
        &self,
        n: u32,
        within: std::time::Duration,
    ) -> Result<(), String> {
        let mut rx = self.holds().caught.subscribe();
        tokio::time::timeout(within, rx.wait_for(|c| *c >= n))
            .await
            .map_err(|_| format!("no {n} held reply sends within {within:?}"))?
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Take the next hold, if any: `Some` with a receiver that changes on release.
    fn take_hold(&self) -> Option<(HoldAt, tokio::sync::watch::Receiver<u64>)> {
        let mut h = self.holds();
        let (at, left) = h.at?;
        h.at = (left > 1).then_some((at, left - 1));
        let mut rx = h.released.subscribe();
        rx.mark_unchanged();
        h.caught.send_modify(|c| *c += 1);
        Some((at, rx))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ReplyBody {
    body: Option<String>,
    text: Option<String>,
    author_id: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    options: Option<ReplyBodyOptions>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReplyBodyOptions {
    archive: Option<bool>,
    #[serde(default)]
    tag_ids: Vec<String>,
}

/// `POST /conversations/{id}/messages`: the reply is sent (appended as an outbound message) and
/// answered 202 `{"status":"accepted","message_uid":…}` as Front does; `options.archive`
/// defaults to `true`.
pub(super) async fn send_reply(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<ReplyBody>>,
) -> Response {
    let Some(Json(mut r)) = body else {
        return front_error(StatusCode::BAD_REQUEST, "Bad request", "Body must be JSON");
    };
    let Some(html) = r.body.take().filter(|b| !b.is_empty()) else {
        return front_error(StatusCode::BAD_REQUEST, "Bad request", "body is required");
    };
    let hold = sb.take_hold();
    if let Some((HoldAt::BeforeAccept, mut released)) = hold {
        let _ = released.changed().await;
        return front_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "Held before the message was accepted, then dropped",
        );
    }
    // The lock is released before any wait below.
    let uid = match accept_reply(&sb, &id, html, r) {
        Ok(uid) => uid,
        Err(res) => return *res,
    };
    if let Some((HoldAt::AfterAccept, mut released)) = hold {
        let _ = released.changed().await;
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "accepted", "message_uid": uid})),
    )
        .into_response()
}

/// Store a sent reply in its conversation (under the lock): the message uid, or Front's error.
fn accept_reply(
    sb: &Sandbox,
    id: &str,
    html: String,
    r: ReplyBody,
) -> Result<String, Box<Response>> {
    let mut inner = sb.lock();
    if !inner.convs.contains_key(id) {
        return Err(Box::new(not_found("Conversation")));
    }
    let msg_id = Sandbox::next_id(&mut inner, "msg");
    let uid = Sandbox::next_id(&mut inner, "uid");
    let options = r.options.unwrap_or(ReplyBodyOptions {
        archive: None,
        tag_ids: Vec::new(),
    });
    let message = json!({
        "_links": {"self": format!("{}/messages/{msg_id}", sb.base())},
        "id": msg_id,
        "message_uid": uid,
        "type": "email",
        "is_inbound": false,
        "is_draft": false,
        "created_at": support_core::time::now_ms() as f64 / 1000.0,
        "body": html,
        "text": r.text.unwrap_or_default(),
        "author": r.author_id.map(|a| json!({"id": a})),
        "channel_id": r.channel_id,
        "recipients": [],
        "_sandbox_api_reply": true,
    });
    if let Some(c) = inner.convs.get_mut(id) {
        c.messages.push(message);
        for t in options.tag_ids {
            if !c.tags.contains(&t) {
                c.tags.push(t);
            }
        }
        if options.archive.unwrap_or(true) {
            c.status = "archived".into();
        }
    }
    if inner.faults.lose_reply_answers > 0 {
        inner.faults.lose_reply_answers -= 1;
        return Err(Box::new(front_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "Injected failure after the message was accepted",
        )));
    }
    Ok(uid)
}
