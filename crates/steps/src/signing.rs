//! Inngest request signing: `X-Inngest-Signature: t=<unix s>&s=<hex HMAC-SHA256(key, body + t)>`
//! (the key is the signing key without its `signkey-<env>-` prefix, as UTF-8 text), and the API
//! bearer derived from a signing key.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far a signature's timestamp may be from now.
pub const WINDOW_SECS: i64 = 5 * 60;

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signing key is configured")]
    NoKey,
    #[error("missing X-Inngest-Signature header")]
    Missing,
    #[error("malformed X-Inngest-Signature header")]
    Malformed,
    #[error("signature timestamp is outside the 5-minute window")]
    Expired,
    #[error("signature does not match")]
    Mismatch,
}

/// Split `signkey-<env>-<rest>` into (`signkey-<env>-`, `<rest>`); keys without the prefix
/// are returned whole.
pub fn split_key(key: &str) -> (&str, &str) {
    if let Some(rest) = key.strip_prefix("signkey-")
        && let Some(dash) = rest.find('-')
    {
        let cut = "signkey-".len() + dash + 1;
        return (&key[..cut], &key[cut..]);
    }
    ("", key)
}

fn mac(key: &str, body: &[u8], t: i64) -> Vec<u8> {
    let (_, secret) = split_key(key);
    // HMAC accepts keys of any length.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(body);
    m.update(t.to_string().as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The `X-Inngest-Signature` value for `body` at unix time `t` (seconds).
pub fn sign(key: &str, body: &[u8], t: i64) -> String {
    format!("t={t}&s={}", hex::encode(mac(key, body, t)))
}

/// Verify a signature header against the signing key, then the fallback key.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    keys: &[&str],
    now_secs: i64,
) -> Result<(), SignatureError> {
    if keys.is_empty() {
        return Err(SignatureError::NoKey);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut t, mut s) = (None, None);
    for part in header.split('&') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("s", v)) => s = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(s)) = (t, s) else {
        return Err(SignatureError::Malformed);
    };
    // Checked: `t` comes from outside (`i64::MIN` would overflow the subtraction).
    let skew = now_secs.checked_sub(t).map(i64::unsigned_abs);
    if skew.is_none_or(|d| d > WINDOW_SECS.unsigned_abs()) {
        return Err(SignatureError::Expired);
    }
    for key in keys {
        if bool::from(mac(key, body, t).ct_eq(&s)) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The API bearer for a signing key: its prefix + hex(sha256(hex-decoded key)) (the raw text
/// is hashed when the key is not hex).
pub fn bearer(key: &str) -> String {
    let (prefix, secret) = split_key(key);
    let digest = match hex::decode(secret) {
        Ok(bytes) => Sha256::digest(bytes),
        Err(_) => Sha256::digest(secret.as_bytes()),
    };
    format!("{prefix}{}", hex::encode(digest))
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    crate::event::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"event":{"name":"support/inbound.received","data":{"conversation_id":"cnv_1"}},"steps":{},"ctx":{"run_id":"01H0000000000000000000000","attempt":0}}"#;

    #[test]
    fn contract_vectors() {
        assert_eq!(
            sign("signkey-test-12345678", BODY.as_bytes(), 1_700_000_000),
            "t=1700000000&s=2cfcf6047459a137e880dbf5d163b6e45868c39dd44929d24447752ade29e4cc"
        );
        assert_eq!(
            bearer("signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"),
            "signkey-test-1492131fd84363f17ec5fa7d96ca1b2d6558cb77c648920b96c99966f6ecffd9"
        );
    }

    #[test]
    fn verification_window_and_fallback() {
        let h = sign("signkey-test-12345678", BODY.as_bytes(), 1_700_000_000);
        let ok = |keys: &[&str], now| verify(Some(&h), BODY.as_bytes(), keys, now);
        assert_eq!(ok(&["signkey-test-12345678"], 1_700_000_100), Ok(()));
        assert_eq!(
            ok(&["signkey-test-12345678"], 1_700_000_301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            ok(&["signkey-test-other"], 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            ok(
                &["signkey-test-other", "signkey-test-12345678"],
                1_700_000_000
            ),
            Ok(())
        );
        assert_eq!(ok(&[], 1_700_000_000), Err(SignatureError::NoKey));
        assert_eq!(verify(None, b"", &["k"], 0), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("t=x&s=zz"), b"", &["k"], 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                Some(&h),
                b"tampered",
                &["signkey-test-12345678"],
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn extreme_or_garbage_timestamps_are_rejected_without_panicking() {
        let key = "signkey-test-12345678";
        for t in [i64::MIN, i64::MAX] {
            let h = sign(key, BODY.as_bytes(), t);
            for now in [i64::MIN, 0, 1_700_000_000, i64::MAX] {
                if now == t {
                    continue;
                }
                assert_eq!(
                    verify(Some(&h), BODY.as_bytes(), &[key], now),
                    Err(SignatureError::Expired),
                    "t={t} now={now}"
                );
            }
        }
        for h in [
            "t=99999999999999999999999&s=00",
            "t=--1&s=00",
            "t=&s=00",
            "t=1e9&s=00",
            "s=00",
        ] {
            assert_eq!(
                verify(Some(h), b"", &[key], 1_700_000_000),
                Err(SignatureError::Malformed),
                "{h}"
            );
        }
    }
}
