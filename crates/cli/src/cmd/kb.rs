//! `skill kb import|list|show|rm|search|reindex`: the knowledge base (the same store and import
//! path as `/api/v1/kb` and the dashboard's Knowledge page). A server that is running notices
//! the writes (the store's knowledge revision) and rebuilds its index at its next search.

use super::context::{Failure, audit, cli_actor, emit, exit, load_settings, open_db, parse_slug};
use crate::args::{Cli, KbCmd};
use serde_json::json;
use std::sync::Arc;
use support_core::knowledge::Retriever;
use support_core::knowledge::Visibility;
use support_core::store::Store;
use support_core::time::now_ms;
use support_knowledge::eval;
use support_knowledge::import::import_paths;

/// The demo's retrieval eval set, in the source tree.
const DEMO_KB: &str = support_knowledge::demo::DIR;
const DEMO_QUESTIONS: &str = support_knowledge::demo::QUESTIONS;

pub(crate) async fn run(cli: &Cli, cmd: &KbCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    if let KbCmd::Eval {
        kb,
        questions,
        detail,
    } = cmd
    {
        return eval(cli, &settings, kb.as_deref(), questions.as_deref(), *detail).await;
    }
    let db = open_db(&settings).await?;
    let store: Arc<dyn Store> = Arc::new(db);
    let (kb, _) =
        support_host::knowledge::knowledge_base(store.clone(), &settings.kb).map_err(|e| {
            Failure {
                code: exit::USAGE,
                message: e.to_string(),
            }
        })?;
    match cmd {
        KbCmd::Import {
            paths,
            app,
            max_bytes,
        } => {
            let app = parse_slug(app)?;
            let files = support_knowledge::import::collect(paths)
                .map(|f| f.len())
                .unwrap_or(0);
            let bar = if cli.json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(files as u64)
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let mut progress = |i: usize, p: &std::path::Path| {
                bar.set_position(i as u64 + 1);
                bar.set_message(p.display().to_string());
            };
            let report = import_paths(
                &kb,
                app.as_str(),
                paths,
                *max_bytes,
                now_ms(),
                &mut progress,
            )
            .await?;
            bar.finish_and_clear();
            if report.errors.is_empty() {
                audit(
                    &store,
                    "kb.imported",
                    app.as_str(),
                    json!({"actor": cli_actor(), "created": report.created, "updated": report.updated,
                           "unchanged": report.unchanged, "stale_drafts": report.stale_drafts}),
                )
                .await;
            }
            let value = serde_json::to_value(&report)?;
            emit(cli, &value, || {
                let mut lines: Vec<String> = report
                    .errors
                    .iter()
                    .map(|e| format!("error: {e}"))
                    .collect();
                if report.errors.is_empty() {
                    lines.push(format!(
                        "{} files: {} created, {} updated, {} unchanged ({} chunks; {} drafts now stale)",
                        report.files,
                        report.created,
                        report.updated,
                        report.unchanged,
                        report.chunks,
                        report.stale_drafts
                    ));
                } else {
                    lines.push(format!(
                        "nothing imported: {} of {} files refused",
                        report.errors.len(),
                        report.files
                    ));
                }
                lines.join("\n")
            });
            if report.errors.is_empty() {
                Ok(())
            } else {
                Err(Failure {
                    code: exit::FAILED,
                    message: format!("{} bad file(s); nothing imported", report.errors.len()),
                })
            }
        }
        KbCmd::List { app } => {
            let arts = store.list_articles(app.as_deref()).await?;
            emit(cli, &json!({"items": arts}), || {
                if arts.is_empty() {
                    return "no articles".into();
                }
                arts.iter()
                    .map(|a| {
                        format!(
                            "{}  {:<18} v{:<3} {:<8} {}",
                            a.id, a.app, a.current_version, a.visibility, a.title
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KbCmd::Show { id, version } => {
            let article = store.get_article(id).await?.ok_or_else(|| not_found(id))?;
            let versions = store.article_versions(id).await?;
            let shown = version.unwrap_or(article.current_version);
            let body = versions
                .iter()
                .find(|v| v.version == shown)
                .ok_or_else(|| not_found(&format!("{id} version {shown}")))?;
            let uses = store.article_uses(id).await?;
            let value = json!({"article": article, "version": body,
                "versions": versions.iter().map(|v| json!({"version": v.version, "author": v.author, "created_at": v.created_at, "content_hash": v.content_hash})).collect::<Vec<_>>(),
                "used_by": uses});
            emit(cli, &value, || {
                format!(
                    "{} ({}, v{} of {}, {}, tags: {})\nsource: {}\n\n{}\n\nversions: {}\nused by {} draft(s), {} stale",
                    body.title,
                    article.app,
                    shown,
                    article.current_version,
                    body.visibility,
                    body.tags.join(", "),
                    article.source.as_deref().unwrap_or("-"),
                    body.body,
                    versions
                        .iter()
                        .map(|v| format!("v{}", v.version))
                        .collect::<Vec<_>>()
                        .join(" "),
                    uses.len(),
                    uses.iter().filter(|u| u.stale).count()
                )
            });
            Ok(())
        }
        KbCmd::Rm { id } => {
            let article = store.get_article(id).await?.ok_or_else(|| not_found(id))?;
            kb.remove(id, now_ms()).await?;
            audit(
                &store,
                "kb.removed",
                &article.app,
                json!({"article": id, "actor": cli_actor()}),
            )
            .await;
            emit(cli, &json!({"removed": id}), || format!("removed {id}"));
            Ok(())
        }
        KbCmd::Search {
            query,
            app,
            limit,
            internal,
        } => {
            let scope = if *internal {
                Visibility::Internal
            } else {
                Visibility::Public
            };
            let hits = kb.search(app, query, *limit, scope).await?;
            emit(cli, &json!({"items": hits}), || {
                if hits.is_empty() {
                    return "no match".into();
                }
                hits.iter()
                    .map(|h| {
                        format!(
                            "{:>6.2}  {} v{}  {}{}\n        {}",
                            h.score,
                            h.article_id,
                            h.version,
                            h.title,
                            if h.heading.is_empty() {
                                String::new()
                            } else {
                                format!(" › {}", h.heading)
                            },
                            h.text.chars().take(160).collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KbCmd::Reindex => {
            let started = std::time::Instant::now();
            let n = kb.reindex().await?;
            let ms = started.elapsed().as_millis();
            let status = kb.status();
            let mut out = json!({"chunks": n, "ms": ms, "mode": status.mode()});
            if let Some(why) = &status.lexical_fallback {
                out["reason"] = json!(why);
            }
            emit(cli, &out, || {
                let fallback = status.lexical_fallback.as_ref().map_or_else(String::new, |why| {
                    format!("\nlexical only: the embedder failed ({why}); tantivy answers until a reindex embeds again")
                });
                format!(
                    "indexed {n} chunks in {ms} ms (a running server rebuilds its own index from the store){fallback}"
                )
            });
            Ok(())
        }
        KbCmd::Eval { .. } => Ok(()),
    }
}

/// One retriever's figures.
#[derive(Debug, serde::Serialize)]
struct Method {
    method: &'static str,
    /// Why it did not run (no embedder).
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    rows: Vec<eval::Row>,
    /// Indexing (embedding included) and answering every question.
    index_ms: u128,
    query_ms: u128,
}

async fn eval(
    cli: &Cli,
    settings: &support_core::settings::Settings,
    kb_dir: Option<&std::path::Path>,
    questions: Option<&std::path::Path>,
    detail: bool,
) -> Result<(), Failure> {
    use std::time::Instant;
    let kb_dir = kb_dir.unwrap_or(std::path::Path::new(DEMO_KB));
    let questions = questions.unwrap_or(std::path::Path::new(DEMO_QUESTIONS));
    let fail = |e: &dyn std::fmt::Display| Failure {
        code: exit::FAILED,
        message: e.to_string(),
    };
    let set = eval::load(kb_dir, questions).map_err(|e| fail(&e))?;
    let embedder =
        support_connectors::embed::build(&settings.kb.embedder).map_err(|e| Failure {
            code: exit::USAGE,
            message: format!("kb.embedder: {e}"),
        })?;
    let keep = |rows: Vec<eval::Row>| -> Vec<eval::Row> {
        rows.into_iter()
            .filter(|r| detail || r.set == "all")
            .collect()
    };
    let mut methods = Vec::new();
    let lexical = Arc::new(support_knowledge::LexicalIndex::new().map_err(|e| fail(&e))?);
    let t = Instant::now();
    lexical.rebuild(&set.chunks).await.map_err(|e| fail(&e))?;
    let index_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let ranks = eval::ranks(lexical.as_ref(), &set.questions)
        .await
        .map_err(|e| fail(&e))?;
    methods.push(Method {
        method: "lexical",
        skipped: None,
        rows: keep(eval::score(&set.questions, &ranks)),
        index_ms,
        query_ms: t.elapsed().as_millis(),
    });
    let model = embedder.as_ref().map(|e| e.model().to_string());
    match embedder {
        None => {
            let why = format!(
                "no embedder: kb.embedder.kind = {:?}{}",
                settings.kb.embedder.kind,
                if support_connectors::embed::LOCAL_EMBED {
                    " and no model files (cargo xtask fetch-embed-model)"
                } else {
                    " in a build without the feature local-embed"
                }
            )
            .to_lowercase();
            for method in ["dense", "hybrid"] {
                methods.push(Method {
                    method,
                    skipped: Some(why.clone()),
                    rows: Vec::new(),
                    index_ms: 0,
                    query_ms: 0,
                });
            }
        }
        Some(e) => {
            let dense = Arc::new(support_knowledge::DenseRetriever::new(e));
            let t = Instant::now();
            dense.rebuild(&set.chunks).await.map_err(|e| fail(&e))?;
            let index_ms = t.elapsed().as_millis();
            let t = Instant::now();
            let ranks = eval::ranks(dense.as_ref(), &set.questions)
                .await
                .map_err(|e| fail(&e))?;
            methods.push(Method {
                method: "dense",
                skipped: None,
                rows: keep(eval::score(&set.questions, &ranks)),
                index_ms,
                query_ms: t.elapsed().as_millis(),
            });
            // The same two indexes, fused: nothing is indexed again.
            let hybrid = support_knowledge::HybridRetriever::from_parts(lexical, dense);
            let t = Instant::now();
            let ranks = eval::ranks(&hybrid, &set.questions)
                .await
                .map_err(|e| fail(&e))?;
            methods.push(Method {
                method: "hybrid",
                skipped: None,
                rows: keep(eval::score(&set.questions, &ranks)),
                index_ms: 0,
                query_ms: t.elapsed().as_millis(),
            });
        }
    }
    let value = json!({
        "kb": kb_dir.display().to_string(),
        "questions_file": questions.display().to_string(),
        "articles": set.articles,
        "chunks": set.chunks.len(),
        "questions": set.questions.len(),
        "embedder": model,
        "methods": methods,
    });
    emit(cli, &value, || {
        let mut out = vec![
            format!(
                "{} questions over {} articles ({} chunks); embedder: {}",
                set.questions.len(),
                set.articles,
                set.chunks.len(),
                model.as_deref().unwrap_or("none")
            ),
            format!(
                "{:<8} {:<16} {:>4} {:>9} {:>9} {:>6}",
                "method", "set", "n", "recall@1", "recall@5", "MRR"
            ),
        ];
        for m in &methods {
            if let Some(why) = &m.skipped {
                out.push(format!("{:<8} not run: {why}", m.method));
            }
            for r in &m.rows {
                out.push(format!(
                    "{:<8} {:<16} {:>4} {:>9.3} {:>9.3} {:>6.3}",
                    m.method, r.set, r.n, r.recall_at_1, r.recall_at_5, r.mrr
                ));
            }
        }
        out.join("\n")
    });
    Ok(())
}

fn not_found(what: &str) -> Failure {
    Failure {
        code: exit::FAILED,
        message: format!("no article {what}"),
    }
}
