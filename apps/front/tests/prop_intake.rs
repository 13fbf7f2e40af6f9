//! Property tests of the Front intake's webhook parser ([`support_front::intake::parse_webhook`],
//! run on every verified body): arbitrary bodies never panic and are either acknowledged or a
//! 400 `bad_request`; valid events are read faithfully. The signature and timestamp check
//! (`support_core::front::verify_webhook`) is property-tested in
//! `crates/core/tests/prop_signing.rs`.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::{Value, json};
use std::cell::Cell;
use std::time::Instant;
use support_front::FrontError;
use support_front::intake::{Parsed, parse_webhook, runner_event};

/// Cases per property: `PROPTEST_CASES`, else 2,000.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(2_000)
}

/// Runs `test` on `cases()` values of `strategy` (a panic is a failure) and prints the figures
/// `cargo xtask fuzz` collects.
fn check<S: Strategy>(
    target: &str,
    property: &str,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) {
    let mut config = Config::with_cases(cases());
    config.failure_persistence = None;
    let mut runner = TestRunner::new(config);
    let ran = Cell::new(0_u64);
    let started = Instant::now();
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    println!(
        "prop-cases target={target} property={property} cases={} failed={} seconds={:.3}",
        ran.get(),
        u8::from(result.is_err()),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{target}/{property}: {e}");
    }
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

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

/// Mostly the right type (a short string), sometimes any JSON.
fn text_or_any() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => ".{0,12}".prop_map(Value::from),
        1 => json_value(),
    ]
}

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
