//! Newtypes parsed at the edge: once constructed, they are valid.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "invalid app slug {0:?}: use 2-40 lowercase letters, digits or '-', starting with a letter"
    )]
    Slug(String),
    #[error("invalid email address {0:?}")]
    Email(String),
    #[error("invalid role {0:?}: expected admin, agent or viewer")]
    Role(String),
}

/// The short, URL-safe name of an onboarded product, e.g. `typescript-course`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AppSlug(String);

impl AppSlug {
    /// Parse and validate a slug.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok_len = (2..=40).contains(&s.len());
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok_len && first_ok && rest_ok && !s.ends_with('-') && !s.contains("--") {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::Slug(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AppSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AppSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically plausible, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let err = || ParseError::Email(s.to_owned());
        let (local, domain) = t.rsplit_once('@').ok_or_else(err)?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !t
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',');
        if valid {
            Ok(Self(t.to_ascii_lowercase()))
        } else {
            Err(err())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new sortable unique id with a type prefix, e.g. `act_01J…`.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(AppSlug::parse("typescript-course").is_ok());
        assert!(AppSlug::parse("ai2").is_ok());
        for bad in [
            "",
            "a",
            "Typescript",
            "1abc",
            "ab-",
            "a--b",
            "a_b",
            "a b",
            &"a".repeat(41),
        ] {
            assert!(AppSlug::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Jane@Example.com ").map(|e| e.0),
            Ok("jane@example.com".into())
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "a b@example.com",
            "jane@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn ids_are_prefixed_and_unique() {
        let a = new_id("act");
        let b = new_id("act");
        assert!(a.starts_with("act_"));
        assert_ne!(a, b);
    }
}
