//! Canned responses as people write them (issue 15): the checks every writer runs before the
//! store's `put_canned` (the API, `skill canned`, the dashboard's Canned pages), so a template
//! with an unknown `{{variable}}` is refused everywhere with the same stable code.

use serde::{Deserialize, Serialize};
use support_core::corpus::{TemplateError, template_variables};
use support_core::store::{CannedInput, CannedSource};
use support_core::time::Millis;

/// The longest template accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// The longest name and trigger accepted, in bytes.
pub const MAX_LINE: usize = 2 * 1024;

/// A canned response that cannot be written, with a stable [`code`](CannedError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CannedError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Invalid(String),
}

impl CannedError {
    /// `unknown_template_variable`, `bad_template` or `bad_request`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Template(e) => e.code(),
            Self::Invalid(_) => "bad_request",
        }
    }
}

/// The fields of a canned response as a writer gives them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CannedFields {
    /// `None`: every app.
    #[serde(default)]
    pub app: Option<String>,
    pub name: String,
    pub trigger: String,
    pub body: String,
    /// Article versions the answer is built on (it goes stale when they change).
    #[serde(default)]
    pub sources: Vec<CannedSource>,
}

/// Checks `f` and returns the template's variables (in order of first use).
pub fn check(f: &CannedFields) -> Result<Vec<String>, CannedError> {
    if let Some(app) = &f.app {
        support_core::AppSlug::parse(app)
            .map_err(|_| CannedError::Invalid(format!("app {app:?} is not a valid slug")))?;
    }
    if f.name.trim().is_empty() || f.body.trim().is_empty() {
        return Err(CannedError::Invalid("name and body are required".into()));
    }
    if !f.trigger.split(['|', '\n']).any(|t| !t.trim().is_empty()) {
        return Err(CannedError::Invalid(
            "trigger needs at least one phrase (alternatives separated by |)".into(),
        ));
    }
    if f.body.len() > MAX_BODY || f.name.len() > MAX_LINE || f.trigger.len() > MAX_LINE {
        return Err(CannedError::Invalid(format!(
            "body is limited to {MAX_BODY} bytes, name and trigger to {MAX_LINE}"
        )));
    }
    if let Some(s) = f.sources.iter().find(|s| s.version < 1) {
        return Err(CannedError::Invalid(format!(
            "source {} cites version {}; versions start at 1",
            s.article_id, s.version
        )));
    }
    Ok(template_variables(&f.body)?)
}

/// The store's input for `f` after [`check`]: a new response (`id` `None`) or a new version of
/// `id` based on `base_version`.
pub fn input(
    id: Option<String>,
    base_version: Option<i64>,
    f: CannedFields,
    author: &str,
    at: Millis,
) -> Result<CannedInput, CannedError> {
    check(&f)?;
    Ok(CannedInput {
        id,
        app: f.app.filter(|a| !a.is_empty()),
        name: f.name.trim().to_owned(),
        trigger: f.trigger.trim().to_owned(),
        body: f.body,
        sources: f.sources,
        base_version,
        author: author.to_owned(),
        at,
    })
}

/// Parses `ARTICLE@VERSION` (`art_1@2`), how the CLI and the dashboard's form name a source.
pub fn parse_source(s: &str) -> Result<CannedSource, CannedError> {
    let bad = || CannedError::Invalid(format!("source {s:?} is not ARTICLE_ID@VERSION"));
    let (id, v) = s.trim().rsplit_once('@').ok_or_else(bad)?;
    let version: i64 = v.parse().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(CannedSource {
        article_id: id.to_owned(),
        version,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(body: &str) -> CannedFields {
        CannedFields {
            app: Some("tailwind-course".into()),
            name: "Login".into(),
            trigger: "login link".into(),
            body: body.into(),
            sources: vec![],
        }
    }

    #[test]
    fn checks_give_stable_codes() {
        assert_eq!(
            check(&fields("Hi {{first_name}} from {{app_name}}")).unwrap(),
            ["first_name", "app_name"]
        );
        assert_eq!(
            check(&fields("Hi {{nick}}")).unwrap_err().code(),
            "unknown_template_variable"
        );
        assert_eq!(
            check(&fields("Hi {{name")).unwrap_err().code(),
            "bad_template"
        );
        assert_eq!(check(&fields(" ")).unwrap_err().code(), "bad_request");
        let mut f = fields("x");
        f.trigger = " | ".into();
        assert_eq!(check(&f).unwrap_err().code(), "bad_request");
        f = fields("x");
        f.app = Some("Not A Slug".into());
        assert_eq!(check(&f).unwrap_err().code(), "bad_request");
    }

    #[test]
    fn sources_parse_as_id_at_version() {
        assert_eq!(
            parse_source("art_1@2").unwrap(),
            CannedSource {
                article_id: "art_1".into(),
                version: 2
            }
        );
        assert!(parse_source("art_1").is_err());
        assert!(parse_source("@2").is_err());
        assert!(parse_source("art_1@x").is_err());
    }
}
