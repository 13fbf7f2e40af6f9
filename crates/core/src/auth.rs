//! Roles and API tokens for the JSON API. Tokens are shown once and stored as SHA-256 hashes.

use crate::ids::ParseError;
use serde::{Deserialize, Serialize};

/// What a token or session may do. `Admin` ⊇ `Agent` ⊇ `Viewer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Agent,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "admin" => Ok(Self::Admin),
            "agent" => Ok(Self::Agent),
            "viewer" => Ok(Self::Viewer),
            other => Err(ParseError::Role(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
        }
    }

    /// Whether this role may do what `required` may do.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

/// A freshly minted API token: the plaintext (show once) and what to store.
pub struct NewToken {
    pub plaintext: String,
    pub hash: String,
}

/// Mint a token `sup_…` with 32 random bytes.
pub fn mint_token() -> NewToken {
    let plaintext = crate::crypto::random_token("sup_", 32);
    let hash = hash_token(&plaintext);
    NewToken { plaintext, hash }
}

/// The stored form of a token (tokens are high-entropy, so a plain SHA-256 suffices).
pub fn hash_token(token: &str) -> String {
    crate::crypto::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_order() {
        assert!(Role::Admin.allows(Role::Agent));
        assert!(Role::Agent.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Agent));
        assert!(!Role::Agent.allows(Role::Admin));
        assert_eq!(Role::parse("agent"), Ok(Role::Agent));
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn tokens_hash_stably() {
        let t = mint_token();
        assert!(t.plaintext.starts_with("sup_"));
        assert_eq!(hash_token(&t.plaintext), t.hash);
        assert_ne!(t.plaintext, t.hash);
    }
}

/// Hash a password with Argon2id (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check a password against a PHC string from [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod password_tests {
    #[test]
    fn password_round_trip() {
        let h = super::hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify_password("correct horse", &h));
        assert!(!super::verify_password("wrong", &h));
        assert!(!super::verify_password("x", "not a hash"));
    }
}
