//! Property tests of the Slack app's request verifier (headers as axum receives them, any
//! bytes), its interaction parser (`payload=` form bodies, `block_actions` and
//! `view_submission`, then the approval command) and its Events API parser: arbitrary input
//! never panics and never verifies; a valid signature over a body verifies, one flipped byte
//! does not.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

#[path = "../../../crates/testkit/src/prop_common.rs"]
mod prop_common;
use prop_common::*;

use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::{Value, json};
use support_core::approvals::ids;
use support_core::settings::Secret;
use support_core::signing::{SignatureError, slack_signature};
use support_slack::events::{Envelope, parse_envelope};
use support_slack::interactions::{self, ApprovalCommand, Interaction};
use support_slack::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn money_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[-$€£0-9.,_ ]{0,24}".prop_map(Value::from),
        "[0-9]{15,30}(\\.[0-9]{0,3})?".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        json_value(),
    ]
}

fn block_actions() -> impl Strategy<Value = Value> {
    let action_id = prop_oneof![
        prop::sample::select(vec![
            ids::APPROVE,
            ids::REJECT,
            ids::EDIT,
            ids::OPEN_IN_FRONT
        ])
        .prop_map(Value::from),
        text_or_any(),
    ];
    let action = (action_id, text_or_any(), text_or_any(), text_or_any()).prop_map(
        |(action_id, value, block_id, ts)| {
            json!({"action_id": action_id, "block_id": block_id, "type": "button",
                   "value": value, "action_ts": ts})
        },
    );
    (
        text_or_any(),
        text_or_any(),
        prop::collection::vec(action, 0..3),
        text_or_any(),
        text_or_any(),
        json_value(),
    )
        .prop_map(|(user, trigger, actions, channel, ts, extra)| {
            json!({"type": "block_actions", "user": {"id": user}, "trigger_id": trigger,
                   "container": {"type": "message", "message_ts": ts, "channel_id": channel},
                   "channel": {"id": channel}, "message": {"ts": ts}, "actions": actions,
                   "response_url": extra})
        })
}

fn view_submission() -> impl Strategy<Value = Value> {
    let callback = prop_oneof![
        prop::sample::select(vec![ids::REJECT_MODAL, ids::EDIT_MODAL]).prop_map(Value::from),
        text_or_any(),
    ];
    (
        text_or_any(),
        callback,
        text_or_any(),
        text_or_any(),
        text_or_any(),
        money_text(),
    )
        .prop_map(|(user, callback, metadata, reason, draft, amount)| {
            let input = |v: Value| json!({"type": "plain_text_input", "value": v});
            let mut values = serde_json::Map::new();
            values.insert(
                ids::REASON_BLOCK.into(),
                json!({ ids::REASON_INPUT: input(reason) }),
            );
            values.insert(
                ids::DRAFT_BLOCK.into(),
                json!({ ids::DRAFT_INPUT: input(draft) }),
            );
            values.insert(
                ids::AMOUNT_BLOCK.into(),
                json!({ ids::AMOUNT_INPUT: input(amount) }),
            );
            json!({"type": "view_submission", "user": {"id": user},
                   "view": {"id": "V1", "callback_id": callback, "private_metadata": metadata,
                            "state": {"values": values}}})
        })
}

/// Interaction bodies: raw bytes, form bodies with any JSON, and near-valid payloads.
fn interaction_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        body(),
        ".{0,80}".prop_map(|s| format!("payload={s}").into_bytes()),
        json_value().prop_map(|v| format!("payload={}", form_encode(&v.to_string())).into_bytes()),
        prop_oneof![block_actions(), view_submission()].prop_map(|v| {
            format!("token=x&payload={}", form_encode(&v.to_string())).into_bytes()
        }),
    ]
}

#[test]
fn slack_interaction_parser_never_panics() {
    check(
        "slack_interaction_parser",
        "arbitrary_bodies",
        interaction_body(),
        |body| {
            let Ok(interaction) = interactions::parse_body(&body) else {
                return Ok(());
            };
            match interactions::command(&interaction) {
                Ok(ApprovalCommand::EditAndApprove {
                    amount_cents: Some(a),
                    ..
                }) => prop_assert!(a > 0, "amount {a}"),
                Ok(
                    ApprovalCommand::Approve { action_id, .. }
                    | ApprovalCommand::OpenReject { action_id, .. }
                    | ApprovalCommand::OpenEdit { action_id, .. },
                ) => {
                    prop_assert!(!action_id.is_empty());
                    prop_assert!(matches!(interaction, Interaction::BlockActions(_)));
                }
                _ => {}
            }
            Ok(())
        },
    );
}

#[test]
fn slack_interaction_parser_reads_valid_payloads() {
    check(
        "slack_interaction_parser",
        "valid_payloads_parse",
        (
            prop::sample::select(vec![ids::APPROVE, ids::REJECT, ids::EDIT]),
            "[A-Za-z0-9_]{1,26}",
            "U[A-Z0-9]{1,10}",
        ),
        |(button, action, user)| {
            let payload = json!({"type": "block_actions", "user": {"id": user},
                "trigger_id": "t1", "container": {"type": "message", "message_ts": "1.2",
                "channel_id": "C1"}, "actions": [{"action_id": button, "block_id": "b",
                "type": "button", "value": action, "action_ts": "1"}]});
            let body = format!("payload={}", form_encode(&payload.to_string()));
            let interaction = interactions::parse_body(body.as_bytes());
            prop_assert!(interaction.is_ok(), "{interaction:?}");
            let cmd = interaction.and_then(|i| interactions::command(&i));
            let got = match cmd {
                Ok(ApprovalCommand::Approve { action_id, origin })
                | Ok(ApprovalCommand::OpenReject {
                    action_id, origin, ..
                })
                | Ok(ApprovalCommand::OpenEdit {
                    action_id, origin, ..
                }) => Some((action_id, origin.user)),
                _ => None,
            };
            prop_assert_eq!(got, Some((action, user)));
            Ok(())
        },
    );
}

fn events_body() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![
        prop::sample::select(vec![
            "url_verification",
            "event_callback",
            "app_rate_limited"
        ])
        .prop_map(Value::from),
        json_value(),
    ];
    let event_type = prop_oneof![
        prop::sample::select(vec!["app_uninstalled", "tokens_revoked", "message"])
            .prop_map(Value::from),
        json_value(),
    ];
    prop_oneof![
        body(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (kind, text_or_any(), text_or_any(), event_type, json_value()).prop_map(
            |(kind, challenge, event_id, event_type, team)| {
                json!({"type": kind, "challenge": challenge, "event_id": event_id,
                       "event": {"type": event_type}, "team_id": team, "token": "x"})
                .to_string()
                .into_bytes()
            }
        ),
    ]
}

#[test]
fn slack_events_parser_never_panics() {
    check(
        "slack_events_parser",
        "arbitrary_bodies",
        events_body(),
        |body| {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            match parse_envelope(&body) {
                Ok(Envelope::UrlVerification { challenge }) => {
                    prop_assert_eq!(v["challenge"].as_str(), Some(challenge.as_str()));
                }
                Ok(Envelope::EventCallback { event_id, kind, .. }) => {
                    prop_assert!(!event_id.is_empty());
                    prop_assert_eq!(v["event"]["type"].as_str().unwrap_or_default(), kind);
                }
                Ok(Envelope::Other { kind }) => {
                    prop_assert_eq!(v["type"].as_str(), kind.as_deref());
                }
                Err(_) => {}
            }
            Ok(())
        },
    );
}

fn headers(signature: Option<&[u8]>, timestamp: Option<&[u8]>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [(SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            h.insert(name, v);
        }
    }
    h
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        timestamp_text().prop_map(String::into_bytes),
        "[0-9a-f]{64}".prop_map(|h| format!("v0={h}").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..80),
    ]
}

#[test]
fn slack_request_verifier_refuses_arbitrary_headers() {
    let strategy = (
        prop::option::of(header_bytes()),
        prop::option::of(header_bytes()),
        body(),
        now_secs(),
    );
    let secrets = [Secret::new("old"), Secret::new(SECRET)];
    check(
        "slack_verifier",
        "arbitrary_headers_never_verify",
        strategy,
        |(sig, ts, body, now)| {
            let h = headers(sig.as_deref(), ts.as_deref());
            let r = verify_request(&secrets, &h, &body, now);
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn slack_request_verifier_valid_verifies_and_one_flip_does_not() {
    let strategy = signed_case(300);
    let secrets = [Secret::new("old"), Secret::new(SECRET)];
    check(
        "slack_verifier",
        "headers_valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask)| {
            let t = ts.to_string();
            let sig = slack_signature(SECRET, &t, &body);
            let h = headers(Some(sig.as_bytes()), Some(t.as_bytes()));
            let now = ts + skew;
            prop_assert_eq!(verify_request(&secrets, &h, &body, now), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(
                    verify_request(&secrets, &h, &flip(&body, at, mask), now),
                    Err(SignatureError::Mismatch)
                );
            }
            let flipped = flip_char(&sig, 3, at);
            let h2 = headers(Some(flipped.as_bytes()), Some(t.as_bytes()));
            prop_assert_eq!(
                verify_request(&secrets, &h2, &body, now),
                Err(SignatureError::Mismatch)
            );
            for now in [i64::MIN, i64::MAX] {
                prop_assert_eq!(
                    verify_request(&secrets, &h, &body, now),
                    Err(SignatureError::Expired)
                );
            }
            Ok(())
        },
    );
}
