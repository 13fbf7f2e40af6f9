//! Property-test helpers shared by the `prop_*` suites: the case count (`PROPTEST_CASES`,
//! default 2,000), the runner that prints the `prop-cases …` lines `cargo xtask fuzz` reads,
//! and the strategies every verifier/parser suite uses (bodies, clocks, header timestamps,
//! byte flips, arbitrary JSON).
//!
//! This file depends only on `proptest`, `serde_json` and `std`, so it is exposed as
//! `support_testkit::prop` and ALSO included by path (`#[path = …] mod prop_common;`) in the
//! suites of crates that must not build the whole platform for their tests (`support-sdk`,
//! `support-steps`) or that the test kit itself depends on (`support-core`, `support-slack`).
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::{Value, json};
use std::cell::Cell;
use std::time::Instant;

/// Cases per property: `PROPTEST_CASES`, else 2,000.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(2_000)
}

/// Runs `test` on `cases()` values of `strategy` (a panic is a failure) and prints the figures
/// `cargo xtask fuzz` collects.
pub fn check<S: Strategy>(
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

pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// Clocks: anything, the extremes, and plausible present times (seconds).
pub fn now_secs() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
        1_500_000_000_i64..2_000_000_000,
    ]
}

/// Timestamps as a header carries them: numbers of any size and sign, the extremes, garbage.
pub fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|t| t.to_string()),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX])
            .prop_map(|t| t.to_string()),
        "[0-9]{0,40}",
        "[-+ ]?[0-9]{1,22}[a-z.e ]{0,3}",
        ".{0,24}",
    ]
}

/// A signed request: (body, timestamp in seconds, clock skew within `±window_secs`, where to
/// flip a byte, a non-zero flip mask).
pub fn signed_case(window_secs: i64) -> impl Strategy<Value = (Vec<u8>, i64, i64, usize, u8)> {
    (
        body(),
        0_i64..4_000_000_000,
        -window_secs..=window_secs,
        any::<usize>(),
        1_u8..=255,
    )
}

/// Flip one byte of `bytes` (non-empty) at `at` with a non-zero `mask`.
pub fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = at % out.len();
    out[i] ^= mask;
    out
}

/// Replace one ASCII character of `s` (from `from` on) with another one.
pub fn flip_char(s: &str, from: usize, at: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = from + at % (b.len() - from);
    b[i] = if b[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap_or_default()
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> impl Strategy<Value = Value> {
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

/// Mostly the right type (a short string), sometimes any JSON.
pub fn text_or_any() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => ".{0,12}".prop_map(Value::from),
        1 => json_value(),
    ]
}
