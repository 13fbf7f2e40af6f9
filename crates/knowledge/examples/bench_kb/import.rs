//! `bench_kb --import [--files N] [--db URL]`: the import end to end, the path `skill kb import
//! <dir> --app APP` takes (`support_knowledge::import::import_paths`: walk, read, parse the
//! front matter, chunk, one store transaction with the article versions, then the index), with
//! tantivy as the only index (no embedder), on a real `support_store::Db`: the URL given, or a
//! fresh SQLite file in a temporary directory.
//!
//! Writes N markdown files (1,000 by default, about 11 chunks and 8 KB each: front matter, a
//! title, an intro, 5-10 `##` sections of which some have a `###` part and some are long enough
//! to be split) into a temporary directory, deterministically, then times three imports, each
//! through a new `KnowledgeBase` as each `skill kb import` is a new process: (a) the first, (b)
//! the unchanged tree again (asserted to change nothing: every file unchanged, no chunk written,
//! the store's knowledge revision the same), (c) after changing every tenth file (asserted: those
//! updated, the rest unchanged). Also times reading, parsing and chunking the tree alone (no
//! store, no index), the floor of any import. Prints one JSON document.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use support_core::knowledge::chunk_markdown;
use support_core::store::Store;
use support_core::time::now_ms;
use support_knowledge::KnowledgeBase;
use support_knowledge::import::{ImportReport, MAX_BYTES, collect, import_paths, parse};

use crate::{Rng, TOPICS};

type Error = Box<dyn std::error::Error>;

const APP: &str = "bench";
/// Every how many files the third pass changes one.
const CHANGE_EVERY: usize = 10;

/// A sentence of 6-18 words, capitalized, ending with a full stop.
fn sentence(rng: &mut Rng, vocab: &[String]) -> String {
    let len = 6 + rng.below(13);
    let mut words: Vec<&str> = (0..len)
        .map(|_| {
            if rng.below(8) == 0 {
                TOPICS[rng.below(TOPICS.len())]
            } else {
                vocab[rng.skewed(vocab.len())].as_str()
            }
        })
        .collect();
    let first = words.remove(0);
    let mut s = first[..1].to_ascii_uppercase() + &first[1..];
    for w in words {
        s.push(' ');
        s.push_str(w);
    }
    s.push('.');
    s
}

/// A paragraph of at least `words` words.
fn paragraph(rng: &mut Rng, vocab: &[String], words: usize) -> String {
    let mut p = String::new();
    while p.split_whitespace().count() < words {
        if !p.is_empty() {
            p.push(' ');
        }
        p.push_str(&sentence(rng, vocab));
    }
    p
}

/// File `i`'s markdown; `changed` adds a sentence to its first section (a typical edit).
fn article(i: usize, vocab: &[String], changed: bool) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x0100_0000_01b3));
    let topic = TOPICS[rng.below(TOPICS.len())];
    let other = TOPICS[rng.below(TOPICS.len())];
    let title = format!(
        "{}{} {} {} ({i})",
        &topic[..1].to_ascii_uppercase(),
        &topic[1..],
        vocab[rng.skewed(vocab.len())],
        vocab[rng.skewed(vocab.len())],
    );
    let visibility = if i % 10 == 3 { "internal" } else { "public" };
    let intro = 30 + rng.below(50);
    let mut md = format!(
        "---\ntitle: \"{title}\"\ntags: [{topic}, {other}]\nurl: https://help.example.com/articles/{i}\nvisibility: {visibility}\n---\n\n# {title}\n\n{}\n",
        paragraph(&mut rng, vocab, intro),
    );
    let sections = 5 + rng.below(6);
    for s in 0..sections {
        md.push_str(&format!(
            "\n## {} {}\n\n",
            TOPICS[rng.below(TOPICS.len())],
            vocab[rng.skewed(vocab.len())]
        ));
        // One section in eight is long (250-400 words): split into overlapping chunks.
        let words = if rng.below(8) == 0 {
            250 + rng.below(150)
        } else {
            40 + rng.below(80)
        };
        for _ in 0..1 + rng.below(3) {
            md.push_str(&paragraph(&mut rng, vocab, words / 2));
            md.push_str("\n\n");
        }
        if changed && s == 0 {
            md.push_str("Updated: this section now says what changed this week.\n\n");
        }
        if rng.below(4) == 0 {
            md.push_str(&format!("### {}\n\n", vocab[rng.skewed(vocab.len())]));
            let words = 30 + rng.below(60);
            md.push_str(&paragraph(&mut rng, vocab, words));
            md.push('\n');
        }
    }
    md
}

fn path_of(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("section-{:02}", i % 20))
        .join(format!("article-{i:05}.md"))
}

fn write_tree(dir: &Path, files: usize, vocab: &[String], changed: bool) -> Result<u64, Error> {
    let mut bytes = 0;
    for i in 0..files {
        if changed && i % CHANGE_EVERY != 0 {
            continue;
        }
        let path = path_of(dir, i);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let md = article(i, vocab, changed);
        bytes += md.len() as u64;
        std::fs::write(path, md)?;
    }
    Ok(bytes)
}

/// Read, parse and chunk the tree as the import does, without the store or the index.
fn parse_only(dir: &Path) -> Result<(usize, f64), Error> {
    let started = Instant::now();
    let mut chunks = 0;
    for path in collect(&[dir.to_path_buf()]).map_err(|e| e.to_string())? {
        let bytes = std::fs::read(&path)?;
        let parsed =
            parse(&path.display().to_string(), &bytes, MAX_BYTES).map_err(|e| e.to_string())?;
        chunks += chunk_markdown(&parsed.body).len();
    }
    Ok((chunks, started.elapsed().as_secs_f64()))
}

struct Pass {
    report: ImportReport,
    wall_s: f64,
    revision_before: String,
    revision_after: String,
    tree_chunks: usize,
}

/// One `skill kb import <dir> --app bench`: a new knowledge base (empty index) over the store.
async fn import(store: &Arc<dyn Store>, dir: &Path) -> Result<Pass, Error> {
    let kb = KnowledgeBase::lexical(store.clone())?;
    let revision_before = store.knowledge_revision().await?;
    let started = Instant::now();
    let report = import_paths(
        &kb,
        APP,
        &[dir.to_path_buf()],
        MAX_BYTES,
        now_ms(),
        &mut |_, _| {},
    )
    .await?;
    let wall_s = started.elapsed().as_secs_f64();
    if !report.errors.is_empty() {
        return Err(format!("import refused files: {:?}", report.errors).into());
    }
    Ok(Pass {
        report,
        wall_s,
        revision_before,
        revision_after: store.knowledge_revision().await?,
        tree_chunks: store.current_chunks(Some(APP)).await?.len(),
    })
}

fn figures(p: &Pass) -> serde_json::Value {
    let r = &p.report;
    let s = p.wall_s.max(1e-9);
    serde_json::json!({
        "files": r.files,
        "created": r.created,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "chunks_in_tree": p.tree_chunks,
        "chunks_written": r.chunks,
        "wall_s": p.wall_s,
        "chunks_per_s": p.tree_chunks as f64 / s,
        "chunks_written_per_s": r.chunks as f64 / s,
        "files_per_s": r.files as f64 / s,
    })
}

fn check(what: &str, ok: bool, p: &Pass) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: {:?} (knowledge revision {} -> {})",
            p.report, p.revision_before, p.revision_after
        )
        .into())
    }
}

pub async fn run(
    files: usize,
    db_url: Option<&str>,
    vocab: &[String],
) -> Result<serde_json::Value, Error> {
    let tmp = tempfile::tempdir()?;
    let tree = tmp.path().join("kb");
    let url = match db_url {
        Some(u) => u.to_string(),
        None => format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("bench-kb.db").display()
        ),
    };
    let db = support_store::Db::connect(&url).await?;
    let backend = db.kind().name();
    let store: Arc<dyn Store> = Arc::new(db);

    let bytes = write_tree(&tree, files, vocab, false)?;
    let (parsed_chunks, parse_s) = parse_only(&tree)?;

    let first = import(&store, &tree).await?;
    check(
        "the first import creates every file",
        first.report.created == files && first.report.chunks == first.tree_chunks,
        &first,
    )?;
    let again = import(&store, &tree).await?;
    check(
        "the unchanged tree changes nothing",
        again.report.unchanged == files
            && again.report.created + again.report.updated == 0
            && again.report.chunks == 0
            && again.revision_after == again.revision_before,
        &again,
    )?;
    write_tree(&tree, files, vocab, true)?;
    let changed = files.div_ceil(CHANGE_EVERY);
    let edit = import(&store, &tree).await?;
    check(
        "the changed files, and only they, are updated",
        edit.report.updated == changed
            && edit.report.unchanged == files - changed
            && edit.report.created == 0,
        &edit,
    )?;

    Ok(serde_json::json!({
        "backend": backend,
        "files": files,
        "bytes": bytes,
        "chunks": first.tree_chunks,
        "changed_files": changed,
        "index": "tantivy only (no embedder)",
        "parse_and_chunk_only": {
            "chunks": parsed_chunks,
            "wall_s": parse_s,
            "chunks_per_s": parsed_chunks as f64 / parse_s.max(1e-9),
        },
        "first_import": figures(&first),
        "reimport_unchanged": figures(&again),
        "reimport_10pct_changed": figures(&edit),
    }))
}
