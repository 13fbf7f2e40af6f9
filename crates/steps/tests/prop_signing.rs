//! Property tests of the Inngest request verifier (`X-Inngest-Signature: t=…&s=…`): arbitrary
//! headers, timestamps (`i64::MIN`, `i64::MAX`, garbage), clocks and bodies never panic and
//! never verify; a valid signature over a body verifies, and one flipped byte does not. Also the
//! event API's body parser (`POST /e/{key}`) and the time strings remote SDK apps send.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::{Value, json};
use std::cell::Cell;
use std::time::Instant;
use support_steps::event::Event;
use support_steps::signing::{SignatureError, WINDOW_SECS, sign, verify};
use support_steps::timestr::{parse_duration, parse_rfc3339};

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

const KEY: &str = "signkey-test-12345678";
const FALLBACK: &str = "signkey-test-fallback";

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// Clocks: anything, the extremes, and plausible present times (seconds).
fn now_secs() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
        1_500_000_000_i64..2_000_000_000,
    ]
}

/// Timestamps as a header carries them: numbers of any size and sign, the extremes, garbage.
fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|t| t.to_string()),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX])
            .prop_map(|t| t.to_string()),
        "[0-9]{0,40}",
        "[-+ ]?[0-9]{1,22}[a-z.e ]{0,3}",
        ".{0,24}",
    ]
}

/// Flip one byte of `bytes` (non-empty) at `at` with a non-zero `mask`.
fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = at % out.len();
    out[i] ^= mask;
    out
}

/// Replace one ASCII character of `s` (from `from` on) with another one.
fn flip_char(s: &str, from: usize, at: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = from + at % (b.len() - from);
    b[i] = if b[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap_or_default()
}

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
    let strategy = (
        body(),
        0_i64..4_000_000_000,
        -WINDOW_SECS..=WINDOW_SECS,
        any::<usize>(),
        1_u8..=255,
    );
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
