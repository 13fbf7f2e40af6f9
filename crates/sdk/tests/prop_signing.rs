//! Property tests of the SDK request signature (`X-Support-Signature: timestamp=…,v1=…`):
//! arbitrary headers, timestamps (`i64::MIN`, `i64::MAX`, garbage), clocks, tolerances and
//! bodies never panic and never verify; a valid signature over a body verifies, and one flipped
//! byte does not.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use std::cell::Cell;
use std::time::{Duration, Instant};
use support_sdk::signing::{DEFAULT_TOLERANCE, SignatureError, SignatureHeader, sign, verify};

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

const SECRET: &str = "sdk_test_secret_1";

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

/// Headers as a client could send them: structured, near-miss and garbage.
pub fn sdk_header() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,160}",
        (timestamp_text(), "[0-9a-f]{64}").prop_map(|(t, s)| format!("timestamp={t},v1={s}")),
        (timestamp_text(), ".{0,70}", ".{0,20}")
            .prop_map(|(t, s, extra)| format!("{extra},timestamp={t},v1={s},v1=")),
        prop::collection::vec("timestamp=|v1=|[,= ]|[0-9a-f]{0,64}|-?[0-9]{1,40}", 0..8)
            .prop_map(|p| p.concat()),
    ]
}

fn tolerance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(DEFAULT_TOLERANCE),
        Just(Duration::ZERO),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

#[test]
fn sdk_arbitrary_requests_never_verify() {
    let strategy = (
        sdk_header(),
        body(),
        now_secs(),
        tolerance(),
        any::<bool>(),
        -600_i64..600,
        "[0-9a-f]{64}",
    );
    check(
        "sdk_verifier",
        "arbitrary_never_verifies",
        strategy,
        |(header, body, now, tolerance, near, skew, hex)| {
            // Half of the headers carry a timestamp near now, so the HMAC is compared.
            let header = if near {
                format!("timestamp={},v1={hex},{header}", now.saturating_add(skew))
            } else {
                header
            };
            let r = verify(&header, &body, &[SECRET], now, tolerance);
            prop_assert!(r.is_err(), "verified: {r:?}");
            if let Ok(parsed) = SignatureHeader::parse(&header) {
                let _ = parsed.timestamp();
                let _ = parsed.check_age(now, tolerance);
                prop_assert!(parsed.verify_body(&body, &[SECRET]).is_err());
            }
            Ok(())
        },
    );
}

#[test]
fn sdk_valid_verifies_and_one_flip_does_not() {
    let strategy = (
        body(),
        0_i64..4_000_000_000,
        -300_i64..=300,
        any::<usize>(),
        1_u8..=255,
    );
    check(
        "sdk_verifier",
        "valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask)| {
            let now = ts + skew;
            let header = sign(SECRET, ts, &body);
            let v = |h: &str, body: &[u8]| verify(h, body, &[SECRET], now, DEFAULT_TOLERANCE);
            prop_assert_eq!(v(&header, &body), Ok(()));
            prop_assert_eq!(
                verify(&header, &body, &["old", SECRET], now, DEFAULT_TOLERANCE),
                Ok(())
            );
            if !body.is_empty() {
                prop_assert_eq!(
                    v(&header, &flip(&body, at, mask)),
                    Err(SignatureError::Mismatch)
                );
            }
            let v1_at = header.find(",v1=").map_or(0, |i| i + 4);
            prop_assert_eq!(
                v(&flip_char(&header, v1_at, at), &body),
                Err(SignatureError::Mismatch)
            );
            let (_, sig) = header.split_at(v1_at);
            let moved = format!("timestamp={},v1={sig}", ts + 1);
            prop_assert!(v(&moved, &body).is_err());
            // Far in the past at any clock: expired, no overflow.
            prop_assert_eq!(
                verify(&header, &body, &[SECRET], i64::MAX, DEFAULT_TOLERANCE),
                Err(SignatureError::Expired)
            );
            prop_assert_eq!(
                verify(
                    &header,
                    &body,
                    &[SECRET],
                    ts.saturating_add(301),
                    DEFAULT_TOLERANCE
                ),
                Err(SignatureError::Expired)
            );
            Ok(())
        },
    );
}
