//! The texts replies are built from, as the pipeline reads them: knowledge chunks ([`KbChunk`])
//! and canned responses ([`CannedResponse`]).
//!
//! A neutral module: the store persists these types ([`crate::store::KnowledgeStore`]) and the
//! pipeline reads them, and it imports neither, so `pipeline` never depends on `store`.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One chunk of the knowledge base, as retrieval and the agent read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbChunk {
    pub id: String,
    pub document_id: String,
    pub app: String,
    pub ordinal: i64,
    pub text: String,
}

/// A canned response: a trigger the router matches and the template it answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: String,
    pub app: Option<String>,
    pub name: String,
    /// A pattern the router matches the inbound message against.
    pub trigger: String,
    /// A `{{var}}` template.
    pub body: String,
    pub updated_at: Millis,
    /// The article versions its current version cites: a draft answered from it records them,
    /// so it goes stale when they change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<CannedSource>,
}

/// An article version a canned response cites (its answer is built on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedSource {
    pub article_id: String,
    pub version: i64,
}

/// The variables a canned template may use (`{{name}}`), each filled from the customer's or
/// the app's facts when a reply is drafted (`pipeline::reply`). Any other name is refused when
/// the template is written ([`template_variables`]), and a variable without a value at drafting
/// time means the template does not answer (no half-filled reply is ever drafted).
pub const TEMPLATE_VARIABLES: &[(&str, &str)] = &[
    ("first_name", "the customer's first name"),
    ("name", "the customer's name"),
    ("email", "the customer's email address"),
    ("product", "the app's product name"),
    ("app_name", "the app's product name"),
    ("instructor", "the app's instructor"),
];

/// A canned template that cannot be used, with a stable [`code`](TemplateError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown variable `{{{{{0}}}}}`; known: first_name, name, email, product, app_name, instructor"
    )]
    UnknownVariable(String),
    #[error("`{{{{` at byte {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("empty variable `{{{{}}}}` at byte {0}")]
    Empty(usize),
}

impl TemplateError {
    /// The stable code the API, the CLI and the dashboard answer with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownVariable(_) => "unknown_template_variable",
            Self::Unclosed(_) | Self::Empty(_) => "bad_template",
        }
    }
}

/// The variables `template` uses, in order of first use, each once; an unknown variable, an
/// empty `{{}}` or an unclosed `{{` is an error.
pub fn template_variables(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut out: Vec<String> = Vec::new();
    let mut offset = 0;
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let at = offset + start;
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed(at))?;
        let key = after[..end].trim();
        if key.is_empty() {
            return Err(TemplateError::Empty(at));
        }
        if !TEMPLATE_VARIABLES.iter().any(|(k, _)| *k == key) {
            return Err(TemplateError::UnknownVariable(key.to_owned()));
        }
        if !out.iter().any(|k| k == key) {
            out.push(key.to_owned());
        }
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    Ok(out)
}

/// `template` filled with the example values the dashboard's preview shows (every known
/// variable has one), or the template's error.
pub fn template_preview(template: &str) -> Result<String, TemplateError> {
    template_variables(template)?;
    let mut out = template.to_owned();
    for (k, v) in [
        ("first_name", "Ada"),
        ("name", "Ada Lovelace"),
        ("email", "ada@example.com"),
        ("product", "Example Course"),
        ("app_name", "Example Course"),
        ("instructor", "Grace"),
    ] {
        for pat in [format!("{{{{{k}}}}}"), format!("{{{{ {k} }}}}")] {
            out = out.replace(&pat, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_variables_are_declared_once_and_unknown_ones_refused() {
        assert_eq!(
            template_variables("Hi {{first_name}}, {{ product }} … {{first_name}}").unwrap(),
            vec!["first_name".to_string(), "product".to_string()]
        );
        assert_eq!(
            template_variables("no variables").unwrap(),
            Vec::<String>::new()
        );
        let e = template_variables("Hi {{nickname}}").unwrap_err();
        assert_eq!(e, TemplateError::UnknownVariable("nickname".into()));
        assert_eq!(e.code(), "unknown_template_variable");
        assert_eq!(
            template_variables("a {{name").unwrap_err(),
            TemplateError::Unclosed(2)
        );
        assert_eq!(
            template_variables("{{ }}").unwrap_err().code(),
            "bad_template"
        );
    }

    #[test]
    fn the_preview_fills_every_known_variable() {
        let all: String = TEMPLATE_VARIABLES
            .iter()
            .map(|(k, _)| format!("{{{{{k}}}}} "))
            .collect();
        let p = template_preview(&all).unwrap();
        assert!(!p.contains("{{"), "{p}");
        assert_eq!(template_preview("Hi {{ first_name }}").unwrap(), "Hi Ada");
        assert!(template_preview("{{x}}").is_err());
    }
}
