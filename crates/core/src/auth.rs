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

/// Who decides, as the channel authenticated them. Approvals are counted per platform user:
/// a token counts as its user, a Slack click as the user its Slack id is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bearer of an API token (`/api/v1`), acting for the token's user.
    Token { user_id: String, token_id: String },
    /// A Slack user from a signature-checked interaction. It counts only through the user it
    /// is linked to (`skill users link-slack`); an unlinked Slack user decides nothing.
    Slack { slack_user_id: String },
    /// The command line, as the operating-system user: database access is the authority.
    /// With `skill approvals … --as <email>` it counts as that user; otherwise it has no
    /// platform user and counts as itself (`cli:<os user>`).
    Cli {
        os_user: String,
        user_id: Option<String>,
    },
    /// A signed-in dashboard user (session cookie, CSRF-checked form).
    Session { user_id: String },
}

impl Principal {
    /// The channel kind the audit names: `token`, `slack`, `cli` or `session`.
    pub fn via(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::Slack { .. } => "slack",
            Self::Cli { .. } => "cli",
            Self::Session { .. } => "session",
        }
    }
}

/// Whether `s` has the shape of a Slack user id (`U…` or `W…`, upper-case letters and digits).
pub fn is_slack_user_id(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && (s.starts_with('U') || s.starts_with('W'))
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The email of the user of its own that a token gets when it is created for no user (and
/// that the 20261205000100 migration gave every earlier token): it cannot log in.
pub fn token_user_email(token_id: &str) -> String {
    format!("{token_id}@tokens.invalid")
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
    fn slack_user_ids() {
        for ok in ["U0ALICE", "W012A3CDE", "U123"] {
            assert!(is_slack_user_id(ok), "{ok}");
        }
        for bad in [
            "", "alice", "u0alice", "T0TEAM", "U", "U0 ALICE", "slack:U1",
        ] {
            assert!(!is_slack_user_id(bad), "{bad}");
        }
        assert_eq!(
            Principal::Slack {
                slack_user_id: "U1".into()
            }
            .via(),
            "slack"
        );
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
