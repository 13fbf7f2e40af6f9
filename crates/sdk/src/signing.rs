//! Request signing: `X-Support-Signature: timestamp=<unix s>,v1=<hex HMAC-SHA256>`.
//!
//! The HMAC key is the shared secret and the message is `"{timestamp}.{raw body}"`, as in
//! `@skillrecordings/sdk` 0.5.0. Beyond 0.5.0, [`verify`] accepts several secrets and several
//! `v1=` parts, so a secret can be rotated without downtime: sign with the new secret (or send
//! one `v1=` per secret) while the app accepts both.
//!
//! Parsing deliberately mirrors the npm handler so both answer the same to the same header:
//! the header is split on `,` without trimming, the first `timestamp=` and the `v1=` parts are
//! taken, a value ends at the next `=`, and the timestamp is read like JavaScript's
//! `parseInt(value, 10)` (leading digits). Unlike npm, a timestamp without digits (npm's `NaN`)
//! can never verify, and a signature of the wrong length is simply a mismatch.
//!
//! ```
//! use std::time::Duration;
//! use support_sdk::signing::{sign, verify};
//!
//! let body = br#"{"action":"lookupUser","email":"jane@example.com"}"#;
//! let header = sign("sdk_test_secret_1", 1_700_000_000, body);
//! assert!(header.starts_with("timestamp=1700000000,v1=8d17ea21"));
//! let ok = verify(&header, body, &["old_secret", "sdk_test_secret_1"], 1_700_000_010, Duration::from_secs(300));
//! assert!(ok.is_ok());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// The header carrying the signature (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-support-signature";

/// How old a signature may be: 300 s, as in the npm handler.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// `Number.MAX_SAFE_INTEGER`: beyond it, JavaScript would not format the timestamp exactly.
const MAX_SAFE_INTEGER: i128 = 9_007_199_254_740_991;

/// Why a signature was rejected. The `Display` strings are the npm handler's `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Support-Signature` header.
    #[error("Missing signature header")]
    Missing,
    /// No `timestamp=` or no `v1=` part, or an empty value.
    #[error("Invalid signature format")]
    InvalidFormat,
    /// The timestamp is older than the tolerance.
    #[error("Signature expired")]
    Expired,
    /// No `v1=` value matches the HMAC of any accepted secret.
    #[error("Invalid signature")]
    Mismatch,
}

/// Current Unix time in seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn hmac_hex(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback with an
    // empty key is unreachable and only there to avoid a panic path.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` with `secret`.
pub fn signature_hex(secret: impl AsRef<[u8]>, timestamp: i64, body: &[u8]) -> String {
    hmac_hex(secret.as_ref(), &timestamp.to_string(), body)
}

/// The header value `timestamp=<timestamp>,v1=<hex>` for `body`.
pub fn sign(secret: impl AsRef<[u8]>, timestamp: i64, body: &[u8]) -> String {
    format!(
        "timestamp={timestamp},v1={}",
        signature_hex(secret, timestamp, body)
    )
}

/// [`sign`] with the current time.
pub fn sign_now(secret: impl AsRef<[u8]>, body: &[u8]) -> String {
    sign(secret, unix_now(), body)
}

/// A parsed `X-Support-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `parseInt` of the timestamp value; `None` when it has no leading digits (npm's `NaN`).
    timestamp: Option<i128>,
    /// The non-empty `v1=` values, in order.
    signatures: Vec<String>,
}

/// The value of a `key=value` part as npm reads it: `part.split("=")[1]`.
fn part_value(part: &str) -> &str {
    part.split('=').nth(1).unwrap_or("")
}

/// JavaScript's `parseInt(value, 10)`: optional whitespace and sign, then leading digits.
fn parse_int(value: &str) -> Option<i128> {
    let value = value.trim_start();
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let digits: &str = &digits[..digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len())];
    if digits.is_empty() {
        return None;
    }
    // Saturate far beyond any plausible timestamp instead of overflowing.
    let magnitude = digits.bytes().fold(0_i128, |acc, d| {
        acc.saturating_mul(10).saturating_add(i128::from(d - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

impl SignatureHeader {
    /// Parses the header; `Err(InvalidFormat)` without a `timestamp=` part, a `v1=` part, or with
    /// an empty value in the first of either.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let parts: Vec<&str> = header.split(',').collect();
        let timestamp_part = parts.iter().find(|p| p.starts_with("timestamp="));
        let first_v1 = parts.iter().find(|p| p.starts_with("v1="));
        let (Some(timestamp_part), Some(first_v1)) = (timestamp_part, first_v1) else {
            return Err(SignatureError::InvalidFormat);
        };
        let timestamp_value = part_value(timestamp_part);
        if timestamp_value.is_empty() || part_value(first_v1).is_empty() {
            return Err(SignatureError::InvalidFormat);
        }
        let signatures = parts
            .iter()
            .filter(|p| p.starts_with("v1="))
            .map(|p| part_value(p))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(SignatureHeader {
            timestamp: parse_int(timestamp_value),
            signatures,
        })
    }

    /// The timestamp, if it is a number that fits an `i64`.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp.and_then(|t| i64::try_from(t).ok())
    }

    /// The `v1=` values.
    pub fn signatures(&self) -> &[String] {
        &self.signatures
    }

    /// `Err(Expired)` when `now - timestamp > tolerance` (future timestamps pass, as in npm).
    pub fn check_age(&self, now: i64, tolerance: Duration) -> Result<(), SignatureError> {
        match self.timestamp {
            Some(timestamp)
                if i128::from(now).saturating_sub(timestamp) > i128::from(tolerance.as_secs()) =>
            {
                Err(SignatureError::Expired)
            }
            _ => Ok(()),
        }
    }

    /// Checks, in constant time, that one `v1=` value is the HMAC of `body` with one of
    /// `secrets`. Empty secrets are ignored. A value of the wrong length is a mismatch.
    pub fn verify_body<S: AsRef<[u8]>>(
        &self,
        body: &[u8],
        secrets: &[S],
    ) -> Result<(), SignatureError> {
        let Some(timestamp) = self
            .timestamp
            .filter(|t| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(t))
        else {
            return Err(SignatureError::Mismatch);
        };
        let timestamp = timestamp.to_string();
        let mut matched = Choice::from(0);
        for secret in secrets.iter().map(AsRef::as_ref) {
            if secret.is_empty() {
                continue;
            }
            let expected = hmac_hex(secret, &timestamp, body);
            for candidate in &self.signatures {
                matched |= expected.as_bytes().ct_eq(candidate.as_bytes());
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Verifies a whole header against `body`: format, then age, then HMAC.
///
/// `secrets` lists every accepted secret (key rotation); `now` is the Unix time in seconds
/// ([`unix_now`]) and `tolerance` the maximum age ([`DEFAULT_TOLERANCE`]). Never panics.
///
/// The support handler does not call this directly because the npm order checks that the body
/// is JSON between the age and the HMAC check; it uses [`SignatureHeader`] step by step.
pub fn verify<S: AsRef<[u8]>>(
    header: &str,
    body: &[u8],
    secrets: &[S],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let parsed = SignatureHeader::parse(header)?;
    parsed.check_age(now, tolerance)?;
    parsed.verify_body(body, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"action":"lookupUser","email":"jane@example.com"}"#;
    const TS: i64 = 1_700_000_000;
    const V1_SECRET_1: &str = "8d17ea2118f2900ad8ebd5294fa109c7757d7678fa735edf9e751b53be803d41";
    const V1_SECRET_2: &str = "3a13ae0ce6379a81d10aee949df7fd3b1b83c4c91e765e583a2450e3152e3cb3";

    #[test]
    fn contract_vectors() {
        assert_eq!(
            sign("sdk_test_secret_1", TS, BODY),
            format!("timestamp=1700000000,v1={V1_SECRET_1}")
        );
        assert_eq!(signature_hex("sdk_test_secret_2", TS, BODY), V1_SECRET_2);
    }

    #[test]
    fn verifies_with_any_secret_and_any_v1_part() {
        let header = format!("timestamp={TS},v1={V1_SECRET_1}");
        let tol = DEFAULT_TOLERANCE;
        assert_eq!(
            verify(&header, BODY, &["sdk_test_secret_1"], TS, tol),
            Ok(())
        );
        // rotation: the old secret is still accepted next to the new one
        assert_eq!(
            verify(
                &header,
                BODY,
                &["sdk_test_secret_2", "sdk_test_secret_1"],
                TS,
                tol
            ),
            Ok(())
        );
        assert_eq!(
            verify(&header, BODY, &["sdk_test_secret_2"], TS, tol),
            Err(SignatureError::Mismatch)
        );
        // several v1 parts: one per secret
        let both = format!("timestamp={TS},v1={V1_SECRET_2},v1={V1_SECRET_1}");
        assert_eq!(verify(&both, BODY, &["sdk_test_secret_1"], TS, tol), Ok(()));
        assert_eq!(verify(&both, BODY, &["sdk_test_secret_2"], TS, tol), Ok(()));
        // parts in another order
        let reordered = format!("v1={V1_SECRET_1},timestamp={TS}");
        assert_eq!(
            verify(&reordered, BODY, &["sdk_test_secret_1"], TS, tol),
            Ok(())
        );
    }

    #[test]
    fn rejects_tampering_wrong_length_and_case() {
        let tol = DEFAULT_TOLERANCE;
        let secrets = ["sdk_test_secret_1"];
        let header = format!("timestamp={TS},v1={V1_SECRET_1}");
        assert_eq!(
            verify(
                &header,
                br#"{"action":"lookupUser","email":"eve@example.com"}"#,
                &secrets,
                TS,
                tol
            ),
            Err(SignatureError::Mismatch)
        );
        let other_ts = format!("timestamp={},v1={V1_SECRET_1}", TS + 1);
        assert_eq!(
            verify(&other_ts, BODY, &secrets, TS, tol),
            Err(SignatureError::Mismatch)
        );
        for bad in ["abc", &V1_SECRET_1[..63], &format!("{V1_SECRET_1}00"), "é"] {
            let header = format!("timestamp={TS},v1={bad}");
            assert_eq!(
                verify(&header, BODY, &secrets, TS, tol),
                Err(SignatureError::Mismatch)
            );
        }
        let upper = format!("timestamp={TS},v1={}", V1_SECRET_1.to_uppercase());
        assert_eq!(
            verify(&upper, BODY, &secrets, TS, tol),
            Err(SignatureError::Mismatch)
        );
        // no secrets, or only empty ones, never verify
        assert_eq!(
            verify(&header, BODY, &[] as &[&str], TS, tol),
            Err(SignatureError::Mismatch)
        );
        let empty_sig = sign("", TS, BODY);
        assert_eq!(
            verify(&empty_sig, BODY, &[""], TS, tol),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn format_errors_mirror_npm() {
        let tol = DEFAULT_TOLERANCE;
        let secrets = ["s"];
        for header in [
            "",
            "garbage",
            "timestamp=1700000000",
            "v1=abc",
            "timestamp=,v1=abc",
            "timestamp=1700000000,v1=",
            // npm does not trim: " v1=" does not start with "v1="
            "timestamp=1700000000, v1=abc",
            "Timestamp=1700000000,V1=abc",
        ] {
            assert_eq!(
                verify(header, BODY, &secrets, TS, tol),
                Err(SignatureError::InvalidFormat),
                "{header:?}"
            );
        }
    }

    #[test]
    fn age_is_checked_like_npm() {
        let tol = DEFAULT_TOLERANCE;
        let secrets = ["sdk_test_secret_1"];
        let header = format!("timestamp={TS},v1={V1_SECRET_1}");
        assert_eq!(verify(&header, BODY, &secrets, TS + 300, tol), Ok(()));
        assert_eq!(
            verify(&header, BODY, &secrets, TS + 301, tol),
            Err(SignatureError::Expired)
        );
        // future timestamps are not rejected (npm only checks `now - timestamp > 300`)
        assert_eq!(verify(&header, BODY, &secrets, TS - 10_000, tol), Ok(()));
        // expiry is checked before the HMAC
        let forged = format!("timestamp={TS},v1=00");
        assert_eq!(
            verify(&forged, BODY, &secrets, TS + 301, tol),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn timestamps_are_read_like_parse_int() {
        assert_eq!(parse_int("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_int(" 17abc"), Some(17));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int(""), None);
        assert!(parse_int(&"9".repeat(100)).is_some());

        let secrets = ["sdk_test_secret_1"];
        let tol = DEFAULT_TOLERANCE;
        // trailing garbage after the digits is ignored, as by parseInt
        let header = format!("timestamp={TS}xyz,v1={V1_SECRET_1}");
        assert_eq!(verify(&header, BODY, &secrets, TS, tol), Ok(()));
        // NaN: not expired (as in npm) but never verifies
        let nan = format!("timestamp=abc,v1={V1_SECRET_1}");
        assert_eq!(
            verify(&nan, BODY, &secrets, TS, tol),
            Err(SignatureError::Mismatch)
        );
        let nan_signed = format!(
            "timestamp=NaN,v1={}",
            hmac_hex(b"sdk_test_secret_1", "NaN", BODY)
        );
        assert_eq!(
            verify(&nan_signed, BODY, &secrets, TS, tol),
            Err(SignatureError::Mismatch)
        );
        // absurd values neither panic nor verify
        let huge = format!("timestamp={},v1={V1_SECRET_1}", "9".repeat(60));
        assert_eq!(
            verify(&huge, BODY, &secrets, TS, tol),
            Err(SignatureError::Mismatch)
        );
        let very_old = format!("timestamp=-{},v1={V1_SECRET_1}", "9".repeat(60));
        assert_eq!(
            verify(&very_old, BODY, &secrets, TS, tol),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(&header, BODY, &secrets, i64::MIN, Duration::MAX),
            Ok(())
        );
        assert_eq!(
            verify(&very_old, BODY, &secrets, i64::MAX, Duration::ZERO),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn value_ends_at_the_next_equals_sign() {
        let header = format!("timestamp={TS}=junk,v1={V1_SECRET_1}=junk");
        assert_eq!(
            verify(&header, BODY, &["sdk_test_secret_1"], TS, DEFAULT_TOLERANCE),
            Ok(())
        );
    }
}
