//! Slack interactivity payloads: `POST /slack/interactions` is
//! `application/x-www-form-urlencoded` with one field, `payload`, holding JSON. We parse the two
//! kinds approvals use, `block_actions` (a button click) and `view_submission` (a modal sent),
//! into typed structs, then into an [`ApprovalCommand`].
//!
//! The raw body must be signature-checked first ([`support_core::signing::verify_slack`]); this
//! module only parses.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use support_core::approvals::{ids, parse_money};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body has no `payload` field")]
    MissingPayload,
    #[error("the payload is not valid JSON for its type: {0}")]
    BadPayload(String),
    #[error("the {0} input is missing")]
    MissingInput(&'static str),
    #[error("the amount {0:?} is not a valid amount")]
    BadAmount(String),
}

/// A Slack user as interaction payloads carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Team {
    pub id: String,
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Container {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub is_ephemeral: Option<bool>,
    #[serde(default)]
    pub view_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    pub ts: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub blocks: Value,
}

/// One clicked element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Action {
    pub action_id: String,
    pub block_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<String>,
    pub action_ts: String,
}

/// `type: "block_actions"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockActions {
    pub user: User,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub api_app_id: Option<String>,
    pub trigger_id: String,
    pub container: Container,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub response_url: Option<String>,
    pub actions: Vec<Action>,
}

/// A value in a view's state (`view.state.values[block_id][action_id]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StateValue {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ViewState {
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, StateValue>>,
}

impl ViewState {
    /// The text of input `action_id` in block `block_id`, if any was typed.
    pub fn text(&self, block_id: &str, action_id: &str) -> Option<&str> {
        self.values.get(block_id)?.get(action_id)?.value.as_deref()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct View {
    pub id: String,
    #[serde(default)]
    pub callback_id: String,
    #[serde(default)]
    pub private_metadata: String,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub state: ViewState,
}

/// `type: "view_submission"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ViewSubmission {
    pub user: User,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub trigger_id: Option<String>,
    pub view: View,
}

/// An interaction payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Interaction {
    BlockActions(BlockActions),
    ViewSubmission(ViewSubmission),
    /// Another type (`view_closed`, `shortcut`, …): acknowledged and ignored.
    Other(String),
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_val(*bytes.get(i + 1)?)?;
                let lo = hex_val(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The decoded value of form field `name` in a urlencoded body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k)? == name).then(|| form_decode(v)).flatten()
    })
}

/// Parse the JSON of a `payload` field.
pub fn parse_payload(json: &str) -> Result<Interaction, InteractionError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| InteractionError::BadPayload(e.to_string()))?;
    let kind = v["type"].as_str().unwrap_or_default().to_string();
    let bad = |e: serde_json::Error| InteractionError::BadPayload(format!("{kind}: {e}"));
    Ok(match kind.as_str() {
        "block_actions" => Interaction::BlockActions(serde_json::from_value(v).map_err(bad)?),
        "view_submission" => Interaction::ViewSubmission(serde_json::from_value(v).map_err(bad)?),
        _ => Interaction::Other(kind),
    })
}

/// Parse a raw interactivity request body (after its signature was checked).
pub fn parse_body(body: &[u8]) -> Result<Interaction, InteractionError> {
    let payload = form_field(body, "payload").ok_or(InteractionError::MissingPayload)?;
    parse_payload(&payload)
}

/// Where a click came from, to update the message or answer ephemerally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub user: String,
    pub channel: Option<String>,
    pub message_ts: Option<String>,
    pub response_url: Option<String>,
}

/// What a human asked for, in approval terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    Approve {
        action_id: String,
        origin: Origin,
    },
    /// Open the reject modal (with the click's `trigger_id`).
    OpenReject {
        action_id: String,
        trigger_id: String,
        origin: Origin,
    },
    /// Open the edit modal.
    OpenEdit {
        action_id: String,
        trigger_id: String,
        origin: Origin,
    },
    Reject {
        action_id: String,
        user: String,
        reason: String,
    },
    /// Approve with an edited draft and/or amount (minor units).
    EditAndApprove {
        action_id: String,
        user: String,
        draft: Option<String>,
        amount_cents: Option<i64>,
    },
    /// Rate our draft on this approval's post (a trust signal).
    Rate {
        action_id: String,
        good: bool,
        origin: Origin,
    },
    /// Nothing to do (a link button, another app's modal, another payload type).
    Ignore,
}

/// Turn an interaction into an approval command.
pub fn command(interaction: &Interaction) -> Result<ApprovalCommand, InteractionError> {
    match interaction {
        Interaction::BlockActions(b) => {
            let Some(a) = b.actions.first() else {
                return Ok(ApprovalCommand::Ignore);
            };
            let Some(action_id) = a.value.clone().filter(|v| !v.is_empty()) else {
                return Ok(ApprovalCommand::Ignore);
            };
            let origin = Origin {
                user: b.user.id.clone(),
                channel: b
                    .container
                    .channel_id
                    .clone()
                    .or_else(|| b.channel.as_ref().map(|c| c.id.clone())),
                message_ts: b
                    .container
                    .message_ts
                    .clone()
                    .or_else(|| b.message.as_ref().map(|m| m.ts.clone())),
                response_url: b.response_url.clone(),
            };
            let trigger_id = b.trigger_id.clone();
            Ok(match a.action_id.as_str() {
                ids::APPROVE => ApprovalCommand::Approve { action_id, origin },
                ids::RATE_GOOD | ids::RATE_BAD => ApprovalCommand::Rate {
                    good: a.action_id == ids::RATE_GOOD,
                    action_id,
                    origin,
                },
                ids::REJECT => ApprovalCommand::OpenReject {
                    action_id,
                    trigger_id,
                    origin,
                },
                ids::EDIT => ApprovalCommand::OpenEdit {
                    action_id,
                    trigger_id,
                    origin,
                },
                _ => ApprovalCommand::Ignore,
            })
        }
        Interaction::ViewSubmission(v) => {
            let action_id = v.view.private_metadata.clone();
            let user = v.user.id.clone();
            let state = &v.view.state;
            match v.view.callback_id.as_str() {
                ids::REJECT_MODAL => {
                    let reason = state
                        .text(ids::REASON_BLOCK, ids::REASON_INPUT)
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .ok_or(InteractionError::MissingInput("reason"))?;
                    Ok(ApprovalCommand::Reject {
                        action_id,
                        user,
                        reason: reason.to_string(),
                    })
                }
                ids::EDIT_MODAL => {
                    let draft = state
                        .text(ids::DRAFT_BLOCK, ids::DRAFT_INPUT)
                        .map(str::to_string);
                    let amount_cents = match state.text(ids::AMOUNT_BLOCK, ids::AMOUNT_INPUT) {
                        None => None,
                        Some(raw) => Some(
                            parse_money(raw)
                                .filter(|a| *a > 0)
                                .ok_or_else(|| InteractionError::BadAmount(raw.to_string()))?,
                        ),
                    };
                    Ok(ApprovalCommand::EditAndApprove {
                        action_id,
                        user,
                        draft,
                        amount_cents,
                    })
                }
                _ => Ok(ApprovalCommand::Ignore),
            }
        }
        Interaction::Other(_) => Ok(ApprovalCommand::Ignore),
    }
}

/// Slack's answer to a `view_submission` whose input is invalid: keep the modal open and show
/// `message` under `block_id`.
pub fn view_errors(block_id: &str, message: &str) -> Value {
    serde_json::json!({"response_action": "errors", "errors": {block_id: message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `block_actions` payload as Slack sends it (shape from Slack's reference, our ids).
    const BLOCK_ACTIONS: &str = r#"{
      "type": "block_actions",
      "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0TEAM"},
      "api_app_id": "A0APP",
      "token": "verification-token-unused",
      "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0APPROVALS", "is_ephemeral": false},
      "trigger_id": "12345.98765.abcd2358fdea",
      "team": {"id": "T0TEAM", "domain": "acme"},
      "enterprise": null,
      "is_enterprise_install": false,
      "channel": {"id": "C0APPROVALS", "name": "approvals"},
      "message": {"type": "message", "subtype": "bot_message", "text": "Approval needed", "ts": "1700000000.000100", "bot_id": "B0BOT", "blocks": []},
      "state": {"values": {}},
      "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
      "actions": [{
        "action_id": "approval_approve",
        "block_id": "approval:act_1",
        "text": {"type": "plain_text", "text": "Approve", "emoji": true},
        "value": "act_1",
        "style": "primary",
        "type": "button",
        "action_ts": "1700000001.000200"
      }]
    }"#;

    fn view_submission(callback: &str, values: Value) -> String {
        serde_json::json!({
            "type": "view_submission",
            "team": {"id": "T0TEAM", "domain": "acme"},
            "user": {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0TEAM"},
            "api_app_id": "A0APP",
            "token": "unused",
            "trigger_id": "12345.98765.ffff",
            "view": {
                "id": "V0VIEW",
                "team_id": "T0TEAM",
                "type": "modal",
                "blocks": [],
                "private_metadata": "act_1",
                "callback_id": callback,
                "state": {"values": values},
                "hash": "156772938.1827394",
                "title": {"type": "plain_text", "text": "Reject action"},
                "clear_on_close": false,
                "notify_on_close": false,
                "close": null,
                "submit": null,
                "previous_view_id": null,
                "root_view_id": "V0VIEW",
                "app_id": "A0APP",
                "external_id": "",
                "app_installed_team_id": "T0TEAM",
                "bot_id": "B0BOT"
            },
            "response_urls": [],
            "is_enterprise_install": false,
            "enterprise": null
        })
        .to_string()
    }

    fn encode(payload: &str) -> Vec<u8> {
        let mut out = String::from("payload=");
        for b in payload.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out.into_bytes()
    }

    #[test]
    fn block_actions_from_a_form_body() {
        let i = parse_body(&encode(BLOCK_ACTIONS)).unwrap();
        let Interaction::BlockActions(b) = &i else {
            panic!("{i:?}")
        };
        assert_eq!(b.user.id, "U0ALICE");
        assert_eq!(b.user.username.as_deref(), Some("alice"));
        assert_eq!(b.container.message_ts.as_deref(), Some("1700000000.000100"));
        assert_eq!(
            b.channel.as_ref().map(|c| c.id.as_str()),
            Some("C0APPROVALS")
        );
        assert_eq!(b.actions[0].action_id, ids::APPROVE);
        assert_eq!(b.actions[0].value.as_deref(), Some("act_1"));
        assert_eq!(
            command(&i).unwrap(),
            ApprovalCommand::Approve {
                action_id: "act_1".into(),
                origin: Origin {
                    user: "U0ALICE".into(),
                    channel: Some("C0APPROVALS".into()),
                    message_ts: Some("1700000000.000100".into()),
                    response_url: Some("https://hooks.slack.com/actions/T0TEAM/1/abc".into()),
                },
            }
        );
    }

    #[test]
    fn reject_and_edit_clicks_open_modals() {
        for (aid, want_reject) in [(ids::REJECT, true), (ids::EDIT, false)] {
            let json = BLOCK_ACTIONS.replace("approval_approve", aid);
            let cmd = command(&parse_payload(&json).unwrap()).unwrap();
            match (cmd, want_reject) {
                (ApprovalCommand::OpenReject { trigger_id, .. }, true)
                | (ApprovalCommand::OpenEdit { trigger_id, .. }, false) => {
                    assert_eq!(trigger_id, "12345.98765.abcd2358fdea")
                }
                (other, _) => panic!("{other:?}"),
            }
        }
        let link = BLOCK_ACTIONS.replace("approval_approve", ids::OPEN_IN_FRONT);
        assert_eq!(
            command(&parse_payload(&link).unwrap()).unwrap(),
            ApprovalCommand::Ignore
        );
    }

    #[test]
    fn reject_submission_carries_the_reason() {
        let body = view_submission(
            ids::REJECT_MODAL,
            serde_json::json!({ids::REASON_BLOCK: {ids::REASON_INPUT: {"type": "plain_text_input", "value": " Outside the window "}}}),
        );
        let i = parse_body(&encode(&body)).unwrap();
        assert_eq!(
            command(&i).unwrap(),
            ApprovalCommand::Reject {
                action_id: "act_1".into(),
                user: "U0BOB".into(),
                reason: "Outside the window".into(),
            }
        );
        let empty = view_submission(
            ids::REJECT_MODAL,
            serde_json::json!({ids::REASON_BLOCK: {ids::REASON_INPUT: {"type": "plain_text_input", "value": null}}}),
        );
        assert_eq!(
            command(&parse_payload(&empty).unwrap()),
            Err(InteractionError::MissingInput("reason"))
        );
    }

    #[test]
    fn edit_submission_carries_draft_and_amount() {
        let body = view_submission(
            ids::EDIT_MODAL,
            serde_json::json!({
                ids::DRAFT_BLOCK: {ids::DRAFT_INPUT: {"type": "plain_text_input", "value": "Hi Jane, refunded."}},
                ids::AMOUNT_BLOCK: {ids::AMOUNT_INPUT: {"type": "number_input", "value": "12.5"}},
            }),
        );
        assert_eq!(
            command(&parse_payload(&body).unwrap()).unwrap(),
            ApprovalCommand::EditAndApprove {
                action_id: "act_1".into(),
                user: "U0BOB".into(),
                draft: Some("Hi Jane, refunded.".into()),
                amount_cents: Some(1250),
            }
        );
        for bad in ["-3", "0", "abc", "1.999"] {
            let body = view_submission(
                ids::EDIT_MODAL,
                serde_json::json!({ids::AMOUNT_BLOCK: {ids::AMOUNT_INPUT: {"type": "number_input", "value": bad}}}),
            );
            assert_eq!(
                command(&parse_payload(&body).unwrap()),
                Err(InteractionError::BadAmount(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            view_errors(ids::AMOUNT_BLOCK, "Not an amount"),
            serde_json::json!({"response_action": "errors", "errors": {"amount": "Not an amount"}})
        );
    }

    #[test]
    fn other_payloads_and_bad_bodies() {
        let closed = r#"{"type":"view_closed","user":{"id":"U1"},"view":{"id":"V1"}}"#;
        assert_eq!(
            parse_payload(closed).unwrap(),
            Interaction::Other("view_closed".into())
        );
        let foreign = view_submission("someone_elses_modal", serde_json::json!({}));
        assert_eq!(
            command(&parse_payload(&foreign).unwrap()).unwrap(),
            ApprovalCommand::Ignore
        );
        assert_eq!(
            parse_body(b"token=x&text=y"),
            Err(InteractionError::MissingPayload)
        );
        assert!(matches!(
            parse_body(b"payload=%7Bnot+json"),
            Err(InteractionError::BadPayload(_))
        ));
        assert!(matches!(
            parse_payload(r#"{"type":"block_actions","user":{"id":"U1"}}"#),
            Err(InteractionError::BadPayload(_))
        ));
        assert_eq!(
            form_field(b"a=1&payload=x%2By+z&b=2", "payload").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_field(b"payload=%zz", "payload"), None);
        assert_eq!(
            form_field(b"payload=%e2%82%ac", "payload").as_deref(),
            Some("€")
        );
    }
}
