//! Canned responses (issue 15): the checks every writer runs before the store's `put_canned`
//! (the API, `skill canned`, the dashboard's Canned pages), so a template with an unknown
//! `{{variable}}` is refused everywhere with the same stable code; and [`CannedIndex`], the
//! retrieval the router matches them with.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use support_core::corpus::{CannedResponse, TemplateError, template_variables};
use support_core::knowledge::{CannedScore, CannedScorer, Visibility};
// Each sentence is matched on its own: an alternative's words must be said together, not
// scattered over a long message.
use support_core::pipeline::text::sentences;
use support_core::store::ArticleChunkRow;
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
    if alternatives(&f.trigger).next().is_none() {
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

/// Core's [`CannedScorer`] on the knowledge base's lexical retrieval: every trigger
/// alternative of an app's canned responses is a chunk of a [`LexicalIndex`] (the same
/// tantivy analyzer, lenient query parsing and BM25 as articles), the message is the query,
/// and an alternative's score is its BM25 score for the message divided by its score for its
/// own words, in the best sentence of the message. So 1 means every word of the alternative is
/// in one sentence, and rarer words weigh more. Indexes are built once per distinct set of
/// responses and kept (a few sets).
///
/// [`LexicalIndex`]: crate::LexicalIndex
#[derive(Default)]
pub struct CannedIndex {
    built: Mutex<Vec<Arc<Built>>>,
}

/// How many distinct sets of canned responses stay indexed (one per app in practice).
const KEEP: usize = 16;
const APP: &str = "canned";

struct Built {
    /// The trigger of each response, in order: what the index was built from.
    key: Vec<String>,
    index: crate::LexicalIndex,
    /// Per chunk (its id is the position here): the response, the alternative, and the
    /// alternative's score for its own words.
    alternatives: Vec<(usize, String, f64)>,
}

/// The alternatives of a trigger, as people write them (`*` stems are the analyzer's job now).
pub fn alternatives(trigger: &str) -> impl Iterator<Item = String> + '_ {
    trigger
        .split(['|', '\n'])
        .map(|a| a.replace('*', " ").trim().to_owned())
        .filter(|a| !a.is_empty())
}

/// The distinct words of `text`, lowercased, in order: a query repeats no word, so a message
/// that says "invoice" five times scores as one that says it once.
fn distinct_words(text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| seen.insert(w.clone()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CannedIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn built(&self, canned: &[&CannedResponse]) -> Option<Arc<Built>> {
        let key: Vec<String> = canned.iter().map(|c| c.trigger.clone()).collect();
        let mut cache = self.built.lock().ok()?;
        if let Some(b) = cache.iter().find(|b| b.key == key) {
            return Some(Arc::clone(b));
        }
        let built = Arc::new(build(key)?);
        if cache.len() >= KEEP {
            cache.remove(0);
        }
        cache.push(Arc::clone(&built));
        Some(built)
    }
}

fn build(key: Vec<String>) -> Option<Built> {
    let mut chunks = Vec::new();
    let mut alternatives = Vec::new();
    for (i, trigger) in key.iter().enumerate() {
        for (j, alt) in self::alternatives(trigger).enumerate() {
            chunks.push(ArticleChunkRow {
                id: alternatives.len().to_string(),
                article_id: i.to_string(),
                version: 1,
                app: APP.into(),
                ordinal: j as i64,
                title: String::new(),
                heading: String::new(),
                text: alt.clone(),
                visibility: Visibility::Public,
            });
            alternatives.push((i, alt, 0.0));
        }
    }
    let index = crate::LexicalIndex::new()
        .and_then(|ix| ix.rebuild_now(&chunks).map(|()| ix))
        .map_err(|e| tracing::warn!(error = %e, "canned responses could not be indexed"))
        .ok()?;
    for (n, (_, alt, own)) in alternatives.iter_mut().enumerate() {
        let id = &chunks[n].id;
        *own = index
            .search_now(
                APP,
                &distinct_words(alt),
                chunks.len(),
                Visibility::Internal,
            )
            .ok()?
            .into_iter()
            .find(|h| &h.chunk_id == id)
            .map_or(0.0, |h| h.score);
    }
    Some(Built {
        key,
        index,
        alternatives,
    })
}

impl CannedScorer for CannedIndex {
    fn score(&self, text: &str, canned: &[&CannedResponse]) -> Vec<CannedScore> {
        if canned.is_empty() || text.trim().is_empty() {
            return Vec::new();
        }
        let Some(built) = self.built(canned) else {
            return Vec::new();
        };
        let mut hits = Vec::new();
        for sentence in sentences(text) {
            match built.index.search_now(
                APP,
                &distinct_words(&sentence),
                built.alternatives.len(),
                Visibility::Internal,
            ) {
                Ok(h) => hits.extend(h),
                Err(e) => {
                    tracing::warn!(error = %e, "canned responses could not be searched");
                    return Vec::new();
                }
            }
        }
        let mut best: Vec<Option<CannedScore>> = vec![None; canned.len()];
        for h in hits {
            let Some((i, alt, own)) = h
                .chunk_id
                .parse::<usize>()
                .ok()
                .and_then(|n| built.alternatives.get(n))
            else {
                continue;
            };
            if *own <= 0.0 {
                continue;
            }
            let score = (h.score / own).min(1.0) as f32;
            if best[*i].as_ref().is_none_or(|b| score > b.score) {
                best[*i] = Some(CannedScore {
                    index: *i,
                    phrase: alt.clone(),
                    score,
                });
            }
        }
        best.into_iter()
            .flatten()
            .filter(|s| s.score > 0.0)
            .collect()
    }
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

    fn response(id: &str, app: Option<&str>, trigger: &str) -> CannedResponse {
        CannedResponse {
            id: id.into(),
            app: app.map(str::to_owned),
            name: id.into(),
            trigger: trigger.into(),
            body: "body".into(),
            updated_at: 0,
            sources: vec![],
        }
    }

    fn scores(
        ix: &CannedIndex,
        text: &str,
        canned: &[CannedResponse],
    ) -> Vec<(usize, String, f32)> {
        let refs: Vec<&CannedResponse> = canned.iter().collect();
        let mut v: Vec<(usize, String, f32)> = ix
            .score(text, &refs)
            .into_iter()
            .map(|s| (s.index, s.phrase, s.score))
            .collect();
        v.sort_by_key(|s| s.0);
        v
    }

    #[test]
    fn an_alternative_scores_the_share_of_its_words_found() {
        let canned = vec![
            response("inv", None, "download my invoice | VAT receipt"),
            response("dl", None, "download the videos | watch offline"),
            response("stem", None, "refund*"),
        ];
        let ix = CannedIndex::new();
        // Every word of an alternative (stemmed, any order, any case): 1.
        let v = scores(&ix, "Can I watch the lessons OFFLINE?", &canned);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].0, v[0].1.as_str()), (1, "watch offline"));
        assert!((v[0].2 - 1.0).abs() < 1e-6, "{v:?}");
        // Part of one: between 0 and 1, and the best alternative of each response is kept.
        let v = scores(&ix, "where do I download things", &canned);
        assert_eq!(v.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1]);
        assert!(v.iter().all(|s| s.2 > 0.0 && s.2 < 1.0), "{v:?}");
        // Stems match through the analyzer (`*` is only a reminder now); repeats count once.
        let v = scores(&ix, "refunded refunds refunding", &canned);
        assert_eq!(v.len(), 1);
        assert!((v[0].2 - 1.0).abs() < 1e-6, "{v:?}");
        // Words of one alternative in different sentences do not add up.
        let v = scores(&ix, "I watch at home. Offline is fine too.", &canned);
        assert!(v.iter().all(|s| s.2 < 1.0), "{v:?}");
        assert_eq!(
            sentences("Node.js v18.19.0 fails. Why?\nThanks!"),
            ["Node.js v18.19.0 fails.", "Why?", "Thanks!"]
        );
        // Nothing in common, or nothing to match: nothing.
        assert!(scores(&ix, "hello there", &canned).is_empty());
        assert!(scores(&ix, "invoice", &[]).is_empty());
        // The same responses are indexed once.
        assert_eq!(ix.built.lock().unwrap().len(), 1);
        let other = vec![response("x", Some("a"), "certificate")];
        assert_eq!(scores(&ix, "my certificate", &other)[0].2, 1.0);
        assert_eq!(ix.built.lock().unwrap().len(), 2);
    }
}
