//! Property tests of the vendor signature verifiers in `support-core` (Slack `v0`, Stripe
//! `Stripe-Signature`, Front application webhooks) and of the Stripe event parser: arbitrary
//! headers, timestamps (`i64::MIN`, `i64::MAX`, garbage), clocks and bodies never panic and
//! never verify; a valid signature over a body verifies, and one flipped byte does not. Also the
//! Stripe Connect OAuth `state` (signed by us, returned by anyone to the public callback).
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

#[path = "../../testkit/src/prop_common.rs"]
mod prop_common;
use prop_common::*;

use proptest::prelude::*;
use serde_json::{Value, json};
use support_core::crypto::MasterKey;
use support_core::front::{WebhookAuthError, verify_webhook, webhook_signature};
use support_core::signing::{
    SignatureError, slack_signature, stripe_signature, stripe_signature_header, verify_slack,
    verify_stripe,
};
use support_core::stripe_connect::{
    MAX_EVENT_ID_LEN, STATE_TTL_MS, StateError, mint_state, parse_event, verify_state,
};

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const STRIPE_SECRET: &str = "whsec_test_secret";
const FRONT_SECRET: &str = "front_test_secret";
const WINDOW_SECS: i64 = 300;
const WINDOW_MS: i64 = 300_000;

/// A timestamp near `now` (so the signature check is reached) or any timestamp text.
fn timestamp_for(now: i64, near: bool, skew: i64, other: String) -> String {
    if near {
        now.saturating_add(skew).to_string()
    } else {
        other
    }
}

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

#[test]
fn slack_arbitrary_requests_never_verify() {
    let strategy = (
        prop::option::of(prop_oneof![
            hex64().prop_map(|h| format!("v0={h}")),
            "v0=.{0,80}",
            ".{0,80}",
        ]),
        prop::option::of(timestamp_text()),
        body(),
        now_secs(),
        any::<bool>(),
        -2 * WINDOW_SECS..2 * WINDOW_SECS,
        prop_oneof![Just(WINDOW_SECS), any::<i64>()],
    );
    check(
        "slack_verifier",
        "arbitrary_never_verifies",
        strategy,
        |(sig, ts, body, now, near, skew, tolerance)| {
            let ts = ts.map(|t| timestamp_for(now, near, skew, t));
            let r = verify_slack(
                &[SLACK_SECRET],
                sig.as_deref(),
                ts.as_deref(),
                &body,
                now,
                tolerance,
            );
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn slack_valid_verifies_and_one_flip_does_not() {
    let strategy = signed_case(WINDOW_SECS);
    check(
        "slack_verifier",
        "valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask)| {
            let t = ts.to_string();
            let sig = slack_signature(SLACK_SECRET, &t, &body);
            let now = ts + skew;
            let v = |sig: &str, t: &str, body: &[u8]| {
                verify_slack(&[SLACK_SECRET], Some(sig), Some(t), body, now, WINDOW_SECS)
            };
            prop_assert_eq!(v(&sig, &t, &body), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(
                    v(&sig, &t, &flip(&body, at, mask)),
                    Err(SignatureError::Mismatch)
                );
            }
            prop_assert!(v(&flip_char(&sig, 3, at), &t, &body).is_err());
            prop_assert!(v(&sig, &(ts + 1).to_string(), &body).is_err());
            // The same request far outside the window, at any clock: refused, no overflow.
            for now in [i64::MIN, i64::MAX, ts.saturating_add(WINDOW_SECS + 1)] {
                prop_assert_eq!(
                    verify_slack(
                        &[SLACK_SECRET],
                        Some(&sig),
                        Some(&t),
                        &body,
                        now,
                        WINDOW_SECS
                    ),
                    Err(SignatureError::Expired)
                );
            }
            Ok(())
        },
    );
}

fn stripe_header() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,160}",
        (timestamp_text(), hex64()).prop_map(|(t, h)| format!("t={t},v1={h}")),
        (timestamp_text(), ".{0,70}", ".{0,20}")
            .prop_map(|(t, v, extra)| format!("{extra},t={t}, v1={v},v0={v}")),
        prop::collection::vec("[tv01 =,]{0,6}|[0-9a-f]{0,64}", 0..8).prop_map(|p| p.concat()),
    ]
}

#[test]
fn stripe_arbitrary_requests_never_verify() {
    let strategy = (
        prop::option::of(stripe_header()),
        body(),
        now_secs(),
        any::<bool>(),
        -2 * WINDOW_SECS..2 * WINDOW_SECS,
        hex64(),
        prop_oneof![Just(WINDOW_SECS), any::<i64>()],
    );
    check(
        "stripe_verifier",
        "arbitrary_never_verifies",
        strategy,
        |(header, body, now, near, skew, hex, tolerance)| {
            // Half of the headers carry a timestamp near now, so the HMAC is compared.
            let header = header.map(|h| {
                if near {
                    format!("t={},v1={hex},{h}", now.saturating_add(skew))
                } else {
                    h
                }
            });
            let r = verify_stripe(&[STRIPE_SECRET], header.as_deref(), &body, now, tolerance);
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn stripe_valid_verifies_and_one_flip_does_not() {
    let strategy = (
        body(),
        0_i64..4_000_000_000,
        -WINDOW_SECS..=WINDOW_SECS,
        any::<usize>(),
        1_u8..=255,
        prop::collection::vec(hex64(), 0..3),
    );
    check(
        "stripe_verifier",
        "valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask, others)| {
            let now = ts + skew;
            let v = |h: &str, body: &[u8]| {
                verify_stripe(&[STRIPE_SECRET], Some(h), body, now, WINDOW_SECS)
            };
            let header = stripe_signature_header(STRIPE_SECRET, ts, &body);
            prop_assert_eq!(v(&header, &body), Ok(ts));
            // Among other `v1`s (rotation), it still verifies.
            let sig = stripe_signature(STRIPE_SECRET, ts, &body);
            let mut parts = vec![format!("t={ts}")];
            parts.extend(others.iter().map(|o| format!("v1={o}")));
            parts.push(format!("v1={sig}"));
            prop_assert_eq!(v(&parts.join(","), &body), Ok(ts));
            if !body.is_empty() {
                prop_assert_eq!(
                    v(&header, &flip(&body, at, mask)),
                    Err(SignatureError::Mismatch)
                );
            }
            let flipped = format!("t={ts},v1={}", flip_char(&sig, 0, at));
            prop_assert_eq!(v(&flipped, &body), Err(SignatureError::Mismatch));
            let moved = format!("t={},v1={sig}", ts + 1);
            prop_assert_eq!(v(&moved, &body), Err(SignatureError::Mismatch));
            for now in [i64::MIN, i64::MAX, ts.saturating_add(WINDOW_SECS + 1)] {
                prop_assert_eq!(
                    verify_stripe(&[STRIPE_SECRET], Some(&header), &body, now, WINDOW_SECS),
                    Err(SignatureError::Expired)
                );
            }
            Ok(())
        },
    );
}

fn now_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
        1_500_000_000_000_i64..2_000_000_000_000,
    ]
}

#[test]
fn front_arbitrary_requests_never_verify() {
    let strategy = (
        prop::option::of(prop_oneof![
            "[A-Za-z0-9+/]{43}=",
            ".{0,60}",
            prop::collection::vec(any::<u8>(), 32).prop_map(|b| base64_standard(&b)),
        ]),
        prop::option::of(timestamp_text()),
        body(),
        now_ms(),
        any::<bool>(),
        -2 * WINDOW_MS..2 * WINDOW_MS,
        prop_oneof![Just(WINDOW_MS), any::<i64>()],
    );
    check(
        "front_verifier",
        "arbitrary_never_verifies",
        strategy,
        |(sig, ts, body, now, near, skew, window)| {
            let ts = ts.map(|t| timestamp_for(now, near, skew, t));
            let r = verify_webhook(
                &[FRONT_SECRET],
                sig.as_deref(),
                ts.as_deref(),
                &body,
                now,
                window,
            );
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn front_valid_verifies_and_one_flip_does_not() {
    let strategy = (
        body(),
        0_i64..4_000_000_000_000,
        -WINDOW_MS..=WINDOW_MS,
        any::<usize>(),
        1_u8..=255,
    );
    check(
        "front_verifier",
        "valid_verifies_flip_does_not",
        strategy,
        |(body, ts, skew, at, mask)| {
            let t = ts.to_string();
            let sig = webhook_signature(FRONT_SECRET, &t, &body);
            let now = ts + skew;
            let v = |sig: &str, t: &str, body: &[u8]| {
                verify_webhook(&[FRONT_SECRET], Some(sig), Some(t), body, now, WINDOW_MS)
            };
            prop_assert_eq!(v(&sig, &t, &body), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(
                    v(&sig, &t, &flip(&body, at, mask)),
                    Err(WebhookAuthError::Mismatch)
                );
            }
            let flipped = flip_char(&sig, 0, at);
            prop_assert_eq!(v(&flipped, &t, &body), Err(WebhookAuthError::Mismatch));
            prop_assert!(v(&sig, &(ts + 1).to_string(), &body).is_err());
            for now in [i64::MIN, i64::MAX, ts.saturating_add(WINDOW_MS + 1)] {
                prop_assert_eq!(
                    verify_webhook(&[FRONT_SECRET], Some(&sig), Some(&t), &body, now, WINDOW_MS),
                    Err(WebhookAuthError::Expired)
                );
            }
            Ok(())
        },
    );
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bodies shaped like Stripe events, with arbitrary values where it matters.
fn stripe_event_body() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        "evt_[A-Za-z0-9]{0,24}".prop_map(Value::from),
        ".{0,300}".prop_map(Value::from),
        "x{250,260}".prop_map(Value::from),
        json_value(),
    ];
    let kind = prop_oneof![
        prop::sample::select(vec![
            "account.application.deauthorized",
            "charge.dispute.created",
            "charge.refunded",
            "customer.created",
        ])
        .prop_map(Value::from),
        json_value(),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (id, kind, json_value(), json_value()).prop_map(|(id, kind, account, object)| {
            json!({"id": id, "object": "event", "type": kind, "account": account,
                   "data": {"object": object}})
            .to_string()
            .into_bytes()
        }),
    ]
}

#[test]
fn stripe_event_parser_never_panics() {
    check(
        "stripe_event_parser",
        "arbitrary_bodies",
        stripe_event_body(),
        |body| {
            if let Ok(event) = parse_event(&body) {
                prop_assert!(!event.id.is_empty() && event.id.len() <= MAX_EVENT_ID_LEN);
                prop_assert_eq!(event.raw["id"].as_str(), Some(event.id.as_str()));
                prop_assert_eq!(event.raw["type"].as_str().unwrap_or_default(), event.kind);
            } else {
                let v: Option<Value> = serde_json::from_slice(&body).ok();
                let id_ok = v
                    .as_ref()
                    .and_then(|v| v["id"].as_str())
                    .is_some_and(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN);
                prop_assert!(!id_ok, "a body with a valid id was refused");
            }
            Ok(())
        },
    );
}

fn master_key() -> MasterKey {
    MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("a 32-byte key")
}

/// OAuth states as a caller could return them: well-formed but unsigned, near misses, garbage.
fn state_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,120}",
        ("[A-Za-z0-9_-]{0,200}", "[A-Za-z0-9_-]{0,60}").prop_map(|(p, m)| format!("sst1.{p}.{m}")),
        json_value().prop_map(|v| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "sst1.{}.{}",
                b64.encode(v.to_string()),
                b64.encode([0_u8; 32])
            )
        }),
        "x{2040,2060}",
    ]
}

#[test]
fn stripe_oauth_state_arbitrary_never_verifies() {
    let key = master_key();
    check(
        "stripe_oauth_state",
        "arbitrary_never_verifies",
        (state_text(), now_ms()),
        |(state, now)| {
            let r = verify_state(&key, &state, now);
            prop_assert!(r.is_err(), "verified: {r:?}");
            Ok(())
        },
    );
}

#[test]
fn stripe_oauth_state_valid_verifies_and_one_flip_does_not() {
    let key = master_key();
    check(
        "stripe_oauth_state",
        "valid_verifies_flip_does_not",
        ("[a-z0-9-]{1,30}", now_ms(), 0..STATE_TTL_MS, any::<usize>()),
        |(app, now, age, at)| {
            let state = mint_state(&key, &app, now, STATE_TTL_MS);
            let later = now.saturating_add(age);
            let claims = verify_state(&key, &state, later);
            prop_assert_eq!(claims.map(|c| c.app), Ok(app));
            prop_assert_eq!(
                verify_state(&key, &flip_char(&state, 5, at), later),
                Err(StateError::Forged)
            );
            if now < i64::MAX - STATE_TTL_MS {
                prop_assert_eq!(
                    verify_state(&key, &state, now + STATE_TTL_MS + 1),
                    Err(StateError::Expired)
                );
            }
            Ok(())
        },
    );
}
