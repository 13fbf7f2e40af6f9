//! Request signatures of the vendors that call us: Slack (`X-Slack-Signature: v0=…`) and Stripe
//! (`Stripe-Signature: t=…,v1=…`). Both are hex HMAC-SHA256 over the timestamp and the raw body,
//! checked in constant time against a list of secrets (rotation) within a 5-minute window.
//!
//! These are byte-level checks: no Slack or Stripe types are involved, so the apps that receive
//! the webhooks (`apps/slack`, `apps/web`) can use them without depending on a vendor SDK.

use crate::crypto::{ct_eq, hmac_sha256};

/// Slack's and Stripe's tolerance: 5 minutes either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing signature or timestamp header")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the request is too old (or from the future)")]
    Expired,
    #[error("signature does not match any signing secret")]
    Mismatch,
}

/// Overflow-safe (see [`crate::time::within`]): any `i64` timestamp is compared without panic.
fn fresh(ts: i64, now_secs: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    if crate::time::within(now_secs, ts, tolerance_secs) {
        Ok(())
    } else {
        Err(SignatureError::Expired)
    }
}

fn parse_ts(ts: &str) -> Result<i64, SignatureError> {
    let ts = ts.trim();
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    ts.parse().map_err(|_| SignatureError::BadTimestamp)
}

/// Slack's signature of a request: `v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{body}`).
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut msg = Vec::with_capacity(4 + timestamp.len() + body.len());
    msg.extend_from_slice(b"v0:");
    msg.extend_from_slice(timestamp.as_bytes());
    msg.push(b':');
    msg.extend_from_slice(body);
    format!("v0={}", hex::encode(hmac_sha256(secret.as_bytes(), &msg)))
}

/// Check a Slack request: `X-Slack-Request-Timestamp` within `tolerance_secs` of `now_secs`,
/// and `X-Slack-Signature` matching any of `secrets` (empty secrets never match).
pub fn verify_slack(
    secrets: &[&str],
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let (Some(sig), Some(ts)) = (signature, timestamp) else {
        return Err(SignatureError::Missing);
    };
    let ts = ts.trim();
    let t = parse_ts(ts)?;
    fresh(t, now_secs, tolerance_secs)?;
    let given = sig.trim();
    if !given.starts_with("v0=") {
        return Err(SignatureError::Malformed);
    }
    let ok = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .any(|s| ct_eq(slack_signature(s, ts, body).as_bytes(), given.as_bytes()));
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Stripe's `v1` signature: hex HMAC-SHA256(secret, `{t}.{body}`).
pub fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mut msg = Vec::with_capacity(t.len() + 1 + body.len());
    msg.extend_from_slice(t.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    hex::encode(hmac_sha256(secret.as_bytes(), &msg))
}

/// A `Stripe-Signature` header value for `body` signed now with `secret` (for tests and fakes).
pub fn stripe_signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        stripe_signature(secret, timestamp, body)
    )
}

/// Check a Stripe webhook: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` (other schemes such
/// as `v0` are ignored). Accepted when ANY `v1` matches ANY of `secrets` and `t` is within
/// `tolerance_secs` of `now_secs`. Returns the signed timestamp.
pub fn verify_stripe(
    secrets: &[&str],
    header: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let Some(header) = header else {
        return Err(SignatureError::Missing);
    };
    let mut t: Option<&str> = None;
    let mut v1: Vec<&str> = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" => t = Some(v.trim()),
            "v1" => v1.push(v.trim()),
            _ => {}
        }
    }
    let Some(t) = t else {
        return Err(SignatureError::Malformed);
    };
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let ts = parse_ts(t)?;
    let expected: Vec<String> = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| stripe_signature(s, ts, body))
        .collect();
    // Check every pair so the time taken does not depend on which one matched.
    let mut ok = false;
    for e in &expected {
        for given in &v1 {
            ok |= ct_eq(e.as_bytes(), given.as_bytes());
        }
    }
    if !ok {
        return Err(SignatureError::Mismatch);
    }
    fresh(ts, now_secs, tolerance_secs)?;
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    const STRIPE_SECRET: &str = "whsec_test_secret";
    const STRIPE_BODY: &str = r#"{"id":"evt_test_1","object":"event","type":"account.application.deauthorized","account":"acct_123","data":{"object":{"id":"ca_123","object":"application"}}}"#;
    const STRIPE_HEADER: &str =
        "t=1700000000,v1=2917b407fac0cbf5479d2c36421d1804503a546b5756021e665de2c5779ce97a";

    #[test]
    fn slack_contract_vector() {
        assert_eq!(
            slack_signature(SLACK_SECRET, SLACK_TS, SLACK_BODY.as_bytes()),
            SLACK_SIG
        );
        let now = 1_531_420_618 + 10;
        assert_eq!(
            verify_slack(
                &[SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                SLACK_BODY.as_bytes(),
                now,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn slack_rules() {
        let b = SLACK_BODY.as_bytes();
        let now = 1_531_420_618;
        let v = |secrets: &[&str], sig: Option<&str>, ts: Option<&str>, body: &[u8], now: i64| {
            verify_slack(secrets, sig, ts, body, now, DEFAULT_TOLERANCE_SECS)
        };
        // Rotation: any secret.
        assert_eq!(
            v(
                &["old", SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                b,
                now
            ),
            Ok(())
        );
        assert_eq!(
            v(&["other"], Some(SLACK_SIG), Some(SLACK_TS), b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[""], Some(SLACK_SIG), Some(SLACK_TS), b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[], Some(SLACK_SIG), Some(SLACK_TS), b, now),
            Err(SignatureError::Mismatch)
        );
        // Tampered body, short or foreign signature.
        let mut tampered = b.to_vec();
        tampered[0] = b'T';
        assert_eq!(
            v(
                &[SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                &tampered,
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[SLACK_SECRET], Some("v0=abc"), Some(SLACK_TS), b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[SLACK_SECRET], Some("sha256=abc"), Some(SLACK_TS), b, now),
            Err(SignatureError::Malformed)
        );
        // The timestamp is signed: another one does not verify.
        assert_eq!(
            v(&[SLACK_SECRET], Some(SLACK_SIG), Some("1531420619"), b, now),
            Err(SignatureError::Mismatch)
        );
        // Window: 300 s either way, inclusive.
        assert_eq!(
            v(
                &[SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                b,
                now + 300
            ),
            Ok(())
        );
        assert_eq!(
            v(
                &[SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                b,
                now + 301
            ),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            v(
                &[SLACK_SECRET],
                Some(SLACK_SIG),
                Some(SLACK_TS),
                b,
                now - 301
            ),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            v(&[SLACK_SECRET], None, Some(SLACK_TS), b, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v(&[SLACK_SECRET], Some(SLACK_SIG), None, b, now),
            Err(SignatureError::Missing)
        );
        for bad in ["abc", "-5", "1.5", ""] {
            assert_eq!(
                v(&[SLACK_SECRET], Some(SLACK_SIG), Some(bad), b, now),
                Err(SignatureError::BadTimestamp),
                "{bad}"
            );
        }
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let b = SLACK_BODY.as_bytes();
        // Signed at the extremes and checked at the extremes of `now`: expired, never a panic.
        for (ts, now) in [
            (i64::MAX, 1_700_000_000),
            (i64::MAX, i64::MIN),
            (0, i64::MIN),
            (0, i64::MAX),
            (i64::MAX, -1),
        ] {
            let t = ts.to_string();
            let sig = slack_signature(SLACK_SECRET, &t, b);
            assert_eq!(
                verify_slack(&[SLACK_SECRET], Some(&sig), Some(&t), b, now, 300),
                Err(SignatureError::Expired),
                "slack {ts} at {now}"
            );
            let header = stripe_signature_header(STRIPE_SECRET, ts, b);
            assert_eq!(
                verify_stripe(&[STRIPE_SECRET], Some(&header), b, now, 300),
                Err(SignatureError::Expired),
                "stripe {ts} at {now}"
            );
        }
        // A tolerance of i64::MIN/MAX is a wide window, not an overflow.
        let header = stripe_signature_header(STRIPE_SECRET, i64::MAX, b);
        assert_eq!(
            verify_stripe(&[STRIPE_SECRET], Some(&header), b, i64::MIN, i64::MIN),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_stripe(&[STRIPE_SECRET], Some(&header), b, 0, i64::MAX),
            Ok(i64::MAX)
        );
        // Out of range or signed values are not timestamps.
        for bad in [
            i64::MIN.to_string(),
            "9223372036854775808".into(),
            "99999999999999999999999999".into(),
            "-1".into(),
            "+1".into(),
            "1e9".into(),
        ] {
            let sig = slack_signature(SLACK_SECRET, &bad, b);
            assert_eq!(
                verify_slack(&[SLACK_SECRET], Some(&sig), Some(&bad), b, 0, 300),
                Err(SignatureError::BadTimestamp),
                "slack {bad}"
            );
            assert_eq!(
                verify_stripe(&[STRIPE_SECRET], Some(&format!("t={bad},v1=00")), b, 0, 300),
                Err(SignatureError::BadTimestamp),
                "stripe {bad}"
            );
        }
    }

    #[test]
    fn stripe_contract_vector() {
        assert_eq!(
            stripe_signature_header(STRIPE_SECRET, 1_700_000_000, STRIPE_BODY.as_bytes()),
            STRIPE_HEADER
        );
        assert_eq!(
            verify_stripe(
                &[STRIPE_SECRET],
                Some(STRIPE_HEADER),
                STRIPE_BODY.as_bytes(),
                1_700_000_100,
                300
            ),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn stripe_rules() {
        let b = STRIPE_BODY.as_bytes();
        let now = 1_700_000_000;
        let good = "2917b407fac0cbf5479d2c36421d1804503a546b5756021e665de2c5779ce97a";
        let v = |secrets: &[&str], h: &str, body: &[u8], now: i64| {
            verify_stripe(secrets, Some(h), body, now, DEFAULT_TOLERANCE_SECS)
        };
        // Any v1 matches (signed with the old and the new secret during rotation).
        let two = format!("t=1700000000,v1={},v1={good}", "0".repeat(64));
        assert_eq!(v(&[STRIPE_SECRET], &two, b, now), Ok(now));
        let with_v0 = format!("t=1700000000,v0=deadbeef,v1={good}");
        assert_eq!(v(&[STRIPE_SECRET], &with_v0, b, now), Ok(now));
        assert_eq!(
            v(&["whsec_old", STRIPE_SECRET], STRIPE_HEADER, b, now),
            Ok(now)
        );
        assert_eq!(
            v(&["whsec_other"], STRIPE_HEADER, b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[""], STRIPE_HEADER, b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], STRIPE_HEADER, b"{}", now),
            Err(SignatureError::Mismatch)
        );
        // Timestamp is signed.
        let moved = format!("t=1700000001,v1={good}");
        assert_eq!(
            v(&[STRIPE_SECRET], &moved, b, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(v(&[STRIPE_SECRET], STRIPE_HEADER, b, now + 300), Ok(now));
        assert_eq!(
            v(&[STRIPE_SECRET], STRIPE_HEADER, b, now + 301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], STRIPE_HEADER, b, now - 301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], &format!("v1={good}"), b, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], "t=1700000000", b, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], "garbage", b, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v(&[STRIPE_SECRET], &format!("t=abc,v1={good}"), b, now),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify_stripe(&[STRIPE_SECRET], None, b, now, 300),
            Err(SignatureError::Missing)
        );
    }
}
