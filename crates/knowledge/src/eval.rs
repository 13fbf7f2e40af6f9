//! The retrieval eval behind `skill kb eval`: a knowledge base laid out as `<dir>/<app>/*.md`
//! (the demo's is `crates/knowledge/demo`, [`crate::demo::DIR`]) and labelled questions (`{app, question, expected, kind,
//! split}` per JSON line; `expected` is the article's file name without `.md`), scored per
//! retriever as recall@1, recall@5 and MRR (over the first 10 articles), by article: chunks of
//! one article count once, at their best rank. Every retriever reads the same chunks (the
//! import's parser and chunker) in the internal scope (all articles of the question's app).
//! Rows: `all`, then `split:<s>` and `kind:<k>` for each value present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use support_core::knowledge::{RetrieveError, Retriever, Visibility, chunk_markdown};
use support_core::store::ArticleChunkRow;

use crate::import::{FileError, MAX_BYTES, collect, parse};

/// One labelled question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub app: String,
    pub question: String,
    pub expected: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub split: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    File(FileError),
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Question {
        path: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Retrieve(#[from] RetrieveError),
}

/// A knowledge base and its questions.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// Every chunk; article ids are `<app>/<file stem>`.
    pub chunks: Vec<ArticleChunkRow>,
    pub articles: usize,
    pub questions: Vec<Question>,
}

/// The article id a question expects.
pub fn expected_id(q: &Question) -> String {
    format!("{}/{}", q.app, q.expected)
}

/// Reads `<kb_dir>/<app>/**/*.md|html` and the questions file.
pub fn load(kb_dir: &Path, questions: &Path) -> Result<EvalSet, EvalError> {
    let read_err = |p: &Path, e: std::io::Error| EvalError::Read {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let mut apps: Vec<PathBuf> = std::fs::read_dir(kb_dir)
        .map_err(|e| read_err(kb_dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    apps.sort();
    let mut chunks = Vec::new();
    let mut articles = 0;
    for app_dir in apps {
        let app = app_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in collect(std::slice::from_ref(&app_dir)).map_err(EvalError::File)? {
            let bytes = std::fs::read(&file).map_err(|e| read_err(&file, e))?;
            let parsed =
                parse(&file.display().to_string(), &bytes, MAX_BYTES).map_err(EvalError::File)?;
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let article_id = format!("{app}/{stem}");
            articles += 1;
            for c in chunk_markdown(&parsed.body) {
                chunks.push(ArticleChunkRow {
                    id: format!("{article_id}#{}", c.ordinal),
                    article_id: article_id.clone(),
                    version: 1,
                    app: app.clone(),
                    ordinal: c.ordinal,
                    title: parsed.title.clone(),
                    heading: c.heading,
                    text: c.text,
                    visibility: parsed.visibility,
                });
            }
        }
    }
    let text = std::fs::read_to_string(questions).map_err(|e| read_err(questions, e))?;
    let mut qs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).map_err(|e| EvalError::Question {
            path: questions.display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        qs.push(q);
    }
    Ok(EvalSet {
        chunks,
        articles,
        questions: qs,
    })
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `all`, `split:dev`, `kind:typo`, …
    pub set: String,
    pub n: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
}

/// How many articles MRR looks at.
pub const MRR_DEPTH: usize = 10;
/// Chunks asked for per question (deduplicated to articles afterwards).
const CHUNKS_ASKED: usize = 30;

/// The 1-based rank of each question's expected article among the first [`MRR_DEPTH`]
/// distinct articles `retriever` returns (`None`: not among them).
pub async fn ranks(
    retriever: &dyn Retriever,
    questions: &[Question],
) -> Result<Vec<Option<usize>>, RetrieveError> {
    let mut out = Vec::with_capacity(questions.len());
    for q in questions {
        let hits = retriever
            .search(&q.app, &q.question, CHUNKS_ASKED, Visibility::Internal)
            .await?;
        let mut seen: Vec<&str> = Vec::new();
        for h in &hits {
            if !seen.contains(&h.article_id.as_str()) {
                seen.push(&h.article_id);
            }
        }
        let want = expected_id(q);
        out.push(
            seen.iter()
                .take(MRR_DEPTH)
                .position(|a| *a == want)
                .map(|p| p + 1),
        );
    }
    Ok(out)
}

fn row(set: String, ranks: &[Option<usize>]) -> Row {
    let n = ranks.len();
    let frac = |f: &dyn Fn(usize) -> bool| {
        if n == 0 {
            0.0
        } else {
            ranks.iter().filter(|r| r.is_some_and(f)).count() as f64 / n as f64
        }
    };
    let mrr = if n == 0 {
        0.0
    } else {
        ranks
            .iter()
            .map(|r| r.map_or(0.0, |r| 1.0 / r as f64))
            .sum::<f64>()
            / n as f64
    };
    Row {
        set,
        n,
        recall_at_1: frac(&|r| r <= 1),
        recall_at_5: frac(&|r| r <= 5),
        mrr,
    }
}

/// The rows (`all`, each split, each kind) from per-question ranks.
pub fn score(questions: &[Question], ranks: &[Option<usize>]) -> Vec<Row> {
    let mut rows = vec![row("all".into(), ranks)];
    for (prefix, key) in [
        (
            "split",
            (|q: &Question| q.split.clone()) as fn(&Question) -> String,
        ),
        ("kind", |q: &Question| q.kind.clone()),
    ] {
        let mut groups: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
        for (q, r) in questions.iter().zip(ranks) {
            let k = key(q);
            if !k.is_empty() {
                groups.entry(k).or_default().push(*r);
            }
        }
        for (k, rs) in groups {
            rows.push(row(format!("{prefix}:{k}"), &rs));
        }
    }
    rows
}

/// Indexes `set` into `retriever` and scores it.
pub async fn run(retriever: &dyn Retriever, set: &EvalSet) -> Result<Vec<Row>, RetrieveError> {
    retriever.rebuild(&set.chunks).await?;
    let r = ranks(retriever, &set.questions).await?;
    Ok(score(&set.questions, &r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(split: &str, kind: &str) -> Question {
        Question {
            app: "a".into(),
            question: "?".into(),
            expected: "x".into(),
            kind: kind.into(),
            split: split.into(),
        }
    }

    #[test]
    fn scores_recall_and_mrr_by_group() {
        let qs = vec![
            q("dev", "typo"),
            q("test", "typo"),
            q("dev", "foreign"),
            q("test", "paraphrase"),
        ];
        let rows = score(&qs, &[Some(1), Some(3), None, Some(6)]);
        let all = &rows[0];
        assert_eq!((all.set.as_str(), all.n), ("all", 4));
        assert!((all.recall_at_1 - 0.25).abs() < 1e-12);
        assert!((all.recall_at_5 - 0.5).abs() < 1e-12);
        assert!((all.mrr - (1.0 + 1.0 / 3.0 + 1.0 / 6.0) / 4.0).abs() < 1e-12);
        let names: Vec<&str> = rows.iter().map(|r| r.set.as_str()).collect();
        assert_eq!(
            names,
            [
                "all",
                "split:dev",
                "split:test",
                "kind:foreign",
                "kind:paraphrase",
                "kind:typo"
            ]
        );
        let typo = rows
            .iter()
            .find(|r| r.set == "kind:typo")
            .expect("typo row");
        assert!((typo.mrr - (1.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
    }
}
