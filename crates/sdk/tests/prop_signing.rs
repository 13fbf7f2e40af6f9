//! Property tests of the SDK request signature (`X-Support-Signature: timestamp=…,v1=…`):
//! arbitrary headers, timestamps (`i64::MIN`, `i64::MAX`, garbage), clocks, tolerances and
//! bodies never panic and never verify; a valid signature over a body verifies, and one flipped
//! byte does not.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

#[path = "../../testkit/src/prop_common.rs"]
mod prop_common;
use prop_common::*;

use proptest::prelude::*;
use std::time::Duration;
use support_sdk::signing::{DEFAULT_TOLERANCE, SignatureError, SignatureHeader, sign, verify};

const SECRET: &str = "sdk_test_secret_1";

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
    let strategy = signed_case(300);
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
