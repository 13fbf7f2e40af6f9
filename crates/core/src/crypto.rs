//! Secrets at rest (AES-256-GCM under the master key), HMAC helpers and token generation.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was sealed under another master key (key id {0})")]
    WrongKey(String),
    #[error("ciphertext failed authentication")]
    Tampered,
}

/// The 32-byte master key. Never printed.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={}, [redacted])", self.key_id())
    }
}

impl MasterKey {
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self(arr))
    }

    /// A fresh random key and its base64 form.
    pub fn generate() -> (Self, String) {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        let b64 = STANDARD.encode(k);
        (Self(k), b64)
    }

    /// A short public fingerprint: the first 8 hex chars of sha256(key).
    pub fn key_id(&self) -> String {
        sha256_hex(&self.0)[..8].to_string()
    }

    /// Seal `plaintext`, binding it to `aad` (e.g. the app slug and field name).
    /// Format: `enc:v1:<key id>:<base64(nonce ‖ ciphertext)>`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let cipher = Aes256Gcm::new((&self.0).into());
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("enc:v1:{}:{}", self.key_id(), STANDARD.encode(blob))
    }

    pub fn decrypt(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(4, ':');
        let (Some("enc"), Some("v1"), Some(kid), Some(b64)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        if kid != self.key_id() {
            return Err(CryptoError::WrongKey(kid.to_string()));
        }
        let blob = STANDARD.decode(b64).map_err(|_| CryptoError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = blob.split_at(12);
        let cipher = Aes256Gcm::new((&self.0).into());
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Tampered)
    }

    /// HMAC-SHA256 under a key derived from the master key for `purpose`.
    pub fn sign(&self, purpose: &str, msg: &[u8]) -> [u8; 32] {
        let derived = hmac_sha256(&self.0, purpose.as_bytes());
        hmac_sha256(&derived, msg)
    }
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time equality of two byte strings (different lengths are simply unequal).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `n` random bytes, URL-safe base64 without padding, behind `prefix`.
pub fn random_token(prefix: &str, n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let (k, b64) = MasterKey::generate();
        assert_eq!(
            MasterKey::from_base64(&b64).map(|k| k.key_id()),
            Ok(k.key_id())
        );
        let sealed = k.encrypt(b"sdk secret", b"app:demo");
        assert!(!sealed.contains("sdk secret"));
        assert_eq!(k.decrypt(&sealed, b"app:demo"), Ok(b"sdk secret".to_vec()));
        assert_eq!(k.decrypt(&sealed, b"app:other"), Err(CryptoError::Tampered));
        let (other, _) = MasterKey::generate();
        assert!(matches!(
            other.decrypt(&sealed, b"app:demo"),
            Err(CryptoError::WrongKey(_))
        ));
        let mut flipped = sealed.clone();
        flipped.pop();
        flipped.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(k.decrypt(&flipped, b"app:demo").is_err());
        assert_eq!(k.decrypt("garbage", b""), Err(CryptoError::Malformed));
    }

    #[test]
    fn bad_keys() {
        assert_eq!(
            MasterKey::from_base64("abc").map(|_| ()),
            Err(CryptoError::BadKey)
        );
        assert_eq!(
            MasterKey::from_base64(&STANDARD.encode([0u8; 31])).map(|_| ()),
            Err(CryptoError::BadKey)
        );
        let (k, _) = MasterKey::generate();
        assert!(!format!("{k:?}").contains(&STANDARD.encode(k.0)));
    }

    #[test]
    fn hmac_vector() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
