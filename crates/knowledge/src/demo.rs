//! The demo's knowledge base: markdown files in `crates/knowledge/demo/<app>/` (about a hundred
//! articles per demo app, public and internal), embedded in the binary by `build.rs` and imported
//! through the same path as `skill kb import` at `skill dev --demo` start-up (idempotent: an
//! unchanged file changes nothing). The same files are the knowledge base of the retrieval eval
//! (`skill kb eval`, questions in [`QUESTIONS`]) and, through [`scenario_index`], the help centre
//! of the offline scenarios' simulated product. The demo's canned responses
//! (`demo-canned/canned.json`, written from the same articles) are seeded at the same start-up
//! ([`seed_canned`]) and are the canned responses of the scenario eval ([`canned`]).

use std::sync::Arc;

use support_core::corpus::CannedResponse;
use support_core::knowledge::{ArticleChunkRow, Retriever, chunk_markdown};
use support_core::store::{KnowledgeStore, StoreError};
use support_core::time::Millis;

use crate::canned::CannedFields;

use crate::import::{ImportReport, MAX_BYTES, Parsed, parse, write};
use crate::{KnowledgeBase, KnowledgeError, LexicalIndex};

include!(concat!(env!("OUT_DIR"), "/demo_files.rs"));

/// The demo apps that have articles (the folders of `crates/knowledge/demo`).
pub const APPS: &[&str] = &["typescript-course", "tailwind-course", "ai-workshops"];

/// The demo articles in the source tree, `<app>/*.md` (what `skill kb eval` reads by default).
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo");

/// The retrieval eval's labelled questions about the demo articles (written separately from
/// them): one JSON object per line, see [`crate::eval`].
pub const QUESTIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo-eval/questions.jsonl");

/// The demo articles of `app`, parsed (the files are ours: a parse error is a bug, reported);
/// none for an app that is not a demo app.
pub fn articles(app: &str) -> Result<Vec<Parsed>, crate::import::FileError> {
    DEMO_FILES
        .iter()
        .filter(|(a, _, _)| *a == app)
        .map(|(a, name, text)| parse(&format!("demo:{a}/{name}"), text.as_bytes(), MAX_BYTES))
        .collect()
}

/// Import the demo articles of `app` (one transaction).
pub async fn import(
    kb: &KnowledgeBase,
    app: &str,
    at: Millis,
) -> Result<ImportReport, KnowledgeError> {
    match articles(app) {
        Ok(parsed) => write(kb, app, parsed, Vec::new(), "demo", at).await,
        Err(e) => write(kb, app, Vec::new(), vec![e], "demo", at).await,
    }
}

/// The demo's canned responses (`demo-canned/canned.json`), in file order.
const CANNED: &str = include_str!("../demo-canned/canned.json");

/// A demo canned response as the file holds it: the fields, and the demo article files it is
/// written from (`cites`, file names in each of its apps' folders).
#[derive(serde::Deserialize)]
struct DemoCanned {
    #[serde(flatten)]
    fields: CannedFields,
    #[serde(default)]
    cites: Vec<String>,
}

/// The demo's canned responses, each with its stable id (`demo_<the name's words>`); the file is
/// ours, so a bad entry is a bug, reported.
fn demo_canned() -> Result<Vec<(String, DemoCanned)>, String> {
    let all: Vec<DemoCanned> =
        serde_json::from_str(CANNED).map_err(|e| format!("demo-canned/canned.json: {e}"))?;
    all.into_iter()
        .map(|d| {
            let f = &d.fields;
            crate::canned::check(f).map_err(|e| format!("demo canned {:?}: {e}", f.name))?;
            let id = format!(
                "demo_{}",
                support_core::pipeline::text::tokens(&f.name).join("_")
            );
            Ok((id, d))
        })
        .collect()
}

/// The demo's canned responses as the router reads them (the scenario eval's set).
pub fn canned() -> Result<Vec<CannedResponse>, String> {
    Ok(demo_canned()?
        .into_iter()
        .map(|(id, DemoCanned { fields: f, .. })| CannedResponse {
            id,
            app: f.app,
            name: f.name,
            trigger: f.trigger,
            body: f.body,
            updated_at: 0,
            sources: f.sources,
        })
        .collect())
}

/// Write each demo canned response that has never existed (an edited or removed one is left as
/// the team left it), citing the current versions of the demo articles it is written from
/// (imported first, [`import`]); returns how many were written.
pub async fn seed_canned(store: &dyn KnowledgeStore, at: Millis) -> Result<usize, StoreError> {
    let mut n = 0;
    for (id, d) in demo_canned().map_err(StoreError::Corrupt)? {
        if !store.canned_versions(&id).await?.is_empty() {
            continue;
        }
        let mut f = d.fields;
        let apps: Vec<&str> = match &f.app {
            Some(a) => vec![a.as_str()],
            None => APPS.to_vec(),
        };
        for app in apps {
            let articles = store.list_articles(Some(app)).await?;
            for file in &d.cites {
                let source = format!("demo:{app}/{file}");
                let a = articles
                    .iter()
                    .find(|a| a.source.as_deref() == Some(source.as_str()))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "demo canned {id} cites {source}, not imported"
                        ))
                    })?;
                f.sources.push(support_core::store::CannedSource {
                    article_id: a.id.clone(),
                    version: a.current_version,
                });
            }
        }
        let input = crate::canned::input(Some(id), None, f, "demo", at)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        store.put_canned(&input).await?;
        n += 1;
    }
    Ok(n)
}

/// Why the demo articles could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum DemoIndexError {
    #[error("{0}")]
    File(crate::import::FileError),
    #[error(transparent)]
    Index(#[from] support_core::knowledge::RetrieveError),
}

/// The demo articles of every [`APPS`] app as current chunks (version 1, chunked as an import
/// chunks them; article ids are their sources).
pub fn chunks() -> Result<Vec<ArticleChunkRow>, crate::import::FileError> {
    let mut out = Vec::new();
    for app in APPS {
        for a in articles(app)? {
            for c in chunk_markdown(&a.body) {
                out.push(ArticleChunkRow {
                    id: format!("{}#{}", a.source, c.ordinal),
                    article_id: a.source.clone(),
                    version: 1,
                    app: (*app).to_string(),
                    ordinal: c.ordinal,
                    title: a.title.clone(),
                    heading: c.heading,
                    text: c.text,
                    visibility: a.visibility,
                });
            }
        }
    }
    Ok(out)
}

/// The demo articles in an in-RAM tantivy index, without a store: the help centre of the
/// simulated product the offline scenario eval, the router's figures and the auto-send
/// certificate run against (`support_core::pipeline::fixtures::ScenarioWorld`). The same
/// files, parser and chunker as the import `skill dev --demo` runs.
pub fn scenario_index() -> Result<Arc<dyn Retriever>, DemoIndexError> {
    let index = LexicalIndex::new()?;
    index.rebuild_now(&chunks().map_err(DemoIndexError::File)?)?;
    Ok(Arc::new(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use support_core::knowledge::Visibility;

    #[test]
    fn every_demo_app_has_a_hundred_articles_that_parse() {
        for app in APPS {
            let arts = articles(app).unwrap();
            assert!(arts.len() >= 100, "{app}: {}", arts.len());
            assert!(
                arts.iter()
                    .all(|a| !a.title.is_empty() && !a.body.is_empty())
            );
            assert!(
                arts.iter().any(|a| a.visibility == Visibility::Internal),
                "{app} has internal articles too"
            );
        }
        assert!(articles("other").unwrap().is_empty());
        // Every embedded folder is a demo app.
        assert!(DEMO_FILES.iter().all(|(a, _, _)| APPS.contains(a)));
    }

    #[test]
    fn demo_canned_responses_parse_with_distinct_ids_for_demo_apps() {
        let all = canned().unwrap();
        assert!(all.len() >= 10);
        let mut ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert!(
            all.iter()
                .all(|c| c.app.as_deref().is_none_or(|a| APPS.contains(&a)))
        );
    }
}
