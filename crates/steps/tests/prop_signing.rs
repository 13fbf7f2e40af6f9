//! Property tests of the Inngest request verifier (`X-Inngest-Signature: t=…&s=…`): arbitrary
//! headers, timestamps (`i64::MIN`, `i64::MAX`, garbage), clocks and bodies never panic and
//! never verify; a valid signature over a body verifies, and one flipped byte does not. Also the
//! event API's body parser (`POST /e/{key}`) and the time strings remote SDK apps send.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

#[path = "../../testkit/src/prop_common.rs"]
mod prop_common;
use prop_common::*;

use proptest::prelude::*;
use serde_json::{Value, json};
use support_steps::event::Event;
use support_steps::signing::{SignatureError, WINDOW_SECS, sign, verify};
use support_steps::timestr::{parse_duration, parse_rfc3339};

const KEY: &str = "signkey-test-12345678";
const FALLBACK: &str = "signkey-test-fallback";

fn inngest_header() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,160}",
        (timestamp_text(), "[0-9a-f]{64}").prop_map(|(t, s)| format!("t={t}&s={s}")),
        (timestamp_text(), ".{0,70}", ".{0,20}")
            .prop_map(|(t, s, extra)| format!("{extra}&t={t}&s={s}&")),
        prop::collection::vec("[ts=&]{0,4}|[0-9a-f]{0,64}|-?[0-9]{1,20}", 0..8)
            .prop_map(|p| p.concat()),
    ]
}

#[test]
fn inngest_arbitrary_requests_never_verify() {
    let strategy = (
        prop::option::of(inngest_header()),
        body(),
        now_secs(),
        any::<bool>(),
        -2 * WINDOW_SECS..2 * WINDOW_SECS,
        "[0-9a-f]{64}",
        prop_oneof![
            Just(vec![KEY]),
            Just(vec![KEY, FALLBACK]),
            Just(Vec::<&str>::new()),
        ],
    );
    check(
        "inngest_verifier",
        "arbitrary_never_verifies",
        strategy,
        |(header, body, now, near, skew, hex, keys)| {
            // Half of the headers carry a timestamp near now, so the HMAC is compared.
            let header = header.map(|h| {
                if near {
                    format!("{h}&t={}&s={hex}", now.saturating_add(skew))
                } else {
                    h
                }
            });
            let r = verify(header.as_deref(), &body, &keys, now);
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn inngest_valid_verifies_and_one_flip_does_not() {
    let strategy = signed_case(WINDOW_SECS);
    check(
        "inngest_verifier",
        "valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask)| {
            let now = ts + skew;
            let header = sign(KEY, &body, ts);
            prop_assert_eq!(verify(Some(&header), &body, &[KEY], now), Ok(()));
            prop_assert_eq!(verify(Some(&header), &body, &[FALLBACK, KEY], now), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(
                    verify(Some(&header), &flip(&body, at, mask), &[KEY], now),
                    Err(SignatureError::Mismatch)
                );
            }
            let s_at = header.find("&s=").map_or(0, |i| i + 3);
            prop_assert!(verify(Some(&flip_char(&header, s_at, at)), &body, &[KEY], now).is_err());
            let (_, sig) = header.split_at(s_at);
            let moved = format!("t={}&s={sig}", ts + 1);
            prop_assert!(verify(Some(&moved), &body, &[KEY], now).is_err());
            for now in [i64::MIN, i64::MAX, ts.saturating_add(WINDOW_SECS + 1)] {
                prop_assert_eq!(
                    verify(Some(&header), &body, &[KEY], now),
                    Err(SignatureError::Expired)
                );
            }
            // Signed at the extremes of time: refused at any clock, never a panic.
            for t in [i64::MIN, i64::MAX] {
                let h = sign(KEY, &body, t);
                for now in [i64::MIN, 0, now, i64::MAX] {
                    if now.abs_diff(t) > WINDOW_SECS.unsigned_abs() {
                        prop_assert_eq!(
                            verify(Some(&h), &body, &[KEY], now),
                            Err(SignatureError::Expired)
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

/// One event as a client could send it: any name, data, timestamp and id.
fn one_event() -> impl Strategy<Value = Value> {
    (
        prop_oneof![".{0,16}".prop_map(Value::from), json_value()],
        json_value(),
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            Just(json!(i64::MIN)),
            Just(json!(u64::MAX)),
            json_value()
        ],
        json_value(),
    )
        .prop_map(|(name, data, ts, id)| json!({"name": name, "data": data, "ts": ts, "id": id}))
}

fn event_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        body(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        one_event().prop_map(|e| e.to_string().into_bytes()),
        prop::collection::vec(one_event(), 0..4)
            .prop_map(|es| Value::Array(es).to_string().into_bytes()),
    ]
}

#[test]
fn inngest_event_parser_never_panics() {
    check(
        "inngest_event_parser",
        "arbitrary_bodies",
        event_body(),
        |body| {
            if let Ok(events) = Event::parse_many(&body) {
                prop_assert!(events.iter().all(|e| !e.name.trim().is_empty()));
            }
            Ok(())
        },
    );
}

#[test]
fn inngest_time_strings_never_panic() {
    let text = prop_oneof![
        ".{0,40}",
        "[0-9.]{0,30}(ns|us|µs|ms|s|m|h|d|w){0,3}",
        "[0-9]{1,400}w",
        "[-+0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,30})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T.{0,20}",
    ];
    check("inngest_time_parser", "arbitrary_strings", text, |s| {
        let _ = parse_duration(&s);
        let _ = parse_rfc3339(&s);
        Ok(())
    });
}
