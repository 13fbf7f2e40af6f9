//! Property tests of the Front intake's webhook parser ([`support_front::intake::parse_webhook`],
//! run on every verified body): arbitrary bodies never panic and are either acknowledged or a
//! 400 `bad_request`; valid events are read faithfully. The signature and timestamp check
//! (`support_core::front::verify_webhook`) is property-tested in
//! `crates/core/tests/prop_signing.rs`.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

use proptest::prelude::*;
use serde_json::{Value, json};
use support_front::FrontError;
use support_front::intake::{Parsed, parse_webhook, runner_event};
use support_testkit::prop::*;

const TYPES: &[&str] = &[
    "inbound_received",
    "outbound_sent",
    "new_comment_added",
    "conversation_snoozed",
    "conversation_snooze_expired",
    "conversation_archived",
    "tag_added",
    "sync",
];

/// `source`/`target` sides: inboxes (one or a list), a message, or anything.
fn side() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(text_or_any(), 0..4).prop_map(|ids| {
            let data: Vec<Value> = ids.into_iter().map(|id| json!({"id": id})).collect();
            json!({"_meta": {"type": "inboxes"}, "data": data})
        }),
        text_or_any().prop_map(|id| json!({"_meta": {"type": "inboxes"}, "data": {"id": id}})),
        text_or_any().prop_map(|id| json!({"_meta": {"type": "message"}, "data": {"id": id}})),
        (text_or_any(), json_value())
            .prop_map(|(kind, data)| json!({"_meta": {"type": kind}, "data": data})),
        json_value(),
    ]
}

/// Front webhook bodies: raw bytes, any JSON, and near-valid events.
fn webhook_body() -> impl Strategy<Value = Vec<u8>> {
    let kind = prop_oneof![
        prop::sample::select(TYPES.to_vec()).prop_map(Value::from),
        json_value(),
    ];
    prop_oneof![
        body(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            kind,
            text_or_any(),
            text_or_any(),
            side(),
            side(),
            json_value()
        )
            .prop_map(|(kind, id, conversation, source, target, emitted)| {
                json!({"type": kind, "payload": {"id": id, "emitted_at": emitted,
                       "conversation": {"id": conversation}, "source": source,
                       "target": target}})
                .to_string()
                .into_bytes()
            }),
    ]
}

#[test]
fn front_webhook_parser_never_panics() {
    check(
        "front_webhook_parser",
        "arbitrary_bodies",
        webhook_body(),
        |body| {
            let v: Option<Value> = serde_json::from_slice(&body).ok();
            match parse_webhook(&body) {
                Ok(Parsed::Event(event)) => {
                    let v = v.unwrap_or_default();
                    prop_assert!(!event.event_id.is_empty());
                    prop_assert_eq!(v["payload"]["id"].as_str(), Some(event.event_id.as_str()));
                    prop_assert_eq!(runner_event(&event.kind), Some(event.name));
                    prop_assert_eq!(&v["payload"]["emitted_at"], &event.emitted_at);
                }
                Ok(Parsed::Ignored { kind }) => {
                    prop_assert!(runner_event(&kind).is_none());
                }
                Err(e) => {
                    prop_assert!(matches!(e, FrontError::BadRequest(_)), "{e:?}");
                    // Refused only when not JSON, or a handled type without an event id.
                    if let Some(v) = v {
                        let handled = runner_event(v["type"].as_str().unwrap_or_default());
                        let id = v["payload"]["id"].as_str().filter(|s| !s.is_empty());
                        prop_assert!(handled.is_some() && id.is_none(), "refused {v}");
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn front_webhook_parser_reads_valid_events() {
    check(
        "front_webhook_parser",
        "valid_events_parse",
        (
            prop::sample::select(TYPES[..6].to_vec()),
            "evt_[a-z0-9]{1,20}",
            "cnv_[a-z0-9]{1,12}",
            prop::collection::vec("inb_[a-z0-9]{1,8}", 0..4),
            "msg_[a-z0-9]{1,12}",
        ),
        |(kind, id, conversation, inboxes, message)| {
            let data: Vec<Value> = inboxes.iter().map(|i| json!({"id": i})).collect();
            let body = json!({"type": kind, "payload": {"id": id, "emitted_at": 1.5,
                "conversation": {"id": conversation},
                "source": {"_meta": {"type": "inboxes"}, "data": data},
                "target": {"_meta": {"type": "message"}, "data": {"id": message}}}});
            let parsed = parse_webhook(body.to_string().as_bytes());
            let Ok(Parsed::Event(event)) = parsed else {
                return Err(TestCaseError::fail(format!("not an event: {parsed:?}")));
            };
            prop_assert_eq!(event.kind.as_str(), kind);
            prop_assert_eq!(event.event_id, id);
            prop_assert_eq!(event.conversation_id, Some(conversation));
            prop_assert_eq!(event.message_id, Some(message));
            prop_assert_eq!(event.inboxes, inboxes);
            Ok(())
        },
    );
}
