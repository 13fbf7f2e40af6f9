//! `skill canned list|show|add|edit|rm`: canned responses on the platform's database, through
//! the same checks (`support_knowledge::canned`) and store write as `/api/v1/canned` and the
//! dashboard's Canned pages. Every edit is a new version; writes are audited
//! (`canned.written`, `canned.removed`). A refused template exits 2 with its stable code
//! (`unknown_template_variable`, `bad_template`) at the start of the message.

use super::context::{Failure, cli_actor, emit, exit, load_settings, open_db};
use crate::args::{CannedCmd, Cli};
use serde_json::{Value, json};
use std::sync::Arc;
use support_core::audit::AuditEvent;
use support_core::corpus::template_variables;
use support_core::store::{CannedRow, CannedSource, Store, StoreError};
use support_core::time::now_ms;
use support_knowledge::canned::{CannedError, CannedFields, input, parse_source};

fn refused(e: CannedError) -> Failure {
    Failure {
        code: exit::USAGE,
        message: format!("{}: {e}", e.code()),
    }
}

fn store_failure(e: StoreError) -> Failure {
    let code = match &e {
        StoreError::Conflict(_) => "conflict",
        StoreError::NotFound(w) if w.starts_with("article ") => "unknown_article_version",
        StoreError::NotFound(_) => "not_found",
        _ => "internal",
    };
    Failure {
        code: exit::FAILED,
        message: format!("{code}: {e}"),
    }
}

fn not_found(id: &str) -> Failure {
    Failure {
        code: exit::FAILED,
        message: format!("not_found: no canned response {id}"),
    }
}

fn view(row: &CannedRow) -> Value {
    let mut v = json!(row);
    v["variables"] = json!(template_variables(&row.body).unwrap_or_default());
    v
}

fn body_of(
    body: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<String>, Failure> {
    match (body, file) {
        (Some(b), _) => Ok(Some(b.clone())),
        (None, Some(f)) => std::fs::read_to_string(f).map(Some).map_err(|e| Failure {
            code: exit::USAGE,
            message: format!("{}: {e}", f.display()),
        }),
        (None, None) => Ok(None),
    }
}

fn sources_of(s: &[String]) -> Result<Vec<CannedSource>, Failure> {
    s.iter()
        .map(|x| parse_source(x))
        .collect::<Result<_, _>>()
        .map_err(refused)
}

async fn audited(store: &Arc<dyn Store>, kind: &str, app: Option<&str>, data: Value) {
    if data["kind"] == "unchanged" {
        return;
    }
    let mut event = AuditEvent::new(kind, cli_actor(), data);
    if let Some(app) = app {
        event = event.app(app.to_owned());
    }
    if let Err(e) = store.append_audit(&event).await {
        eprintln!("warning: audit event {kind} not recorded: {e}");
    }
}

pub(crate) async fn run(cli: &Cli, cmd: &CannedCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let store: Arc<dyn Store> = Arc::new(open_db(&settings).await?);
    match cmd {
        CannedCmd::List { app } => {
            let rows = store.list_canned_rows(app.as_deref()).await?;
            emit(
                cli,
                &json!({"items": rows.iter().map(view).collect::<Vec<_>>()}),
                || {
                    if rows.is_empty() {
                        return "no canned responses".into();
                    }
                    rows.iter()
                        .map(|r| {
                            format!(
                                "{}  {:<18} v{:<3} {:<6} {}",
                                r.id,
                                r.app.as_deref().unwrap_or("(every app)"),
                                r.current_version,
                                if r.stale { "stale" } else { "" },
                                r.name
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
            Ok(())
        }
        CannedCmd::Show { id, version } => {
            let row = store.get_canned(id).await?.ok_or_else(|| not_found(id))?;
            let versions = store.canned_versions(id).await?;
            let shown = version.unwrap_or(row.current_version);
            let v = versions
                .iter()
                .find(|v| v.version == shown)
                .ok_or_else(|| not_found(&format!("{id} version {shown}")))?;
            let value = json!({"canned": view(&row), "version": v, "versions": versions});
            emit(cli, &value, || {
                format!(
                    "{} ({}, v{} of {}{})\ntrigger: {}\nsources: {}\n\n{}\n\nversions: {}",
                    v.name,
                    row.app.as_deref().unwrap_or("every app"),
                    shown,
                    row.current_version,
                    if row.stale { ", STALE" } else { "" },
                    v.trigger,
                    v.sources
                        .iter()
                        .map(|s| format!("{}@{}", s.article_id, s.version))
                        .collect::<Vec<_>>()
                        .join(", "),
                    v.body,
                    versions
                        .iter()
                        .map(|v| format!("v{}", v.version))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            });
            Ok(())
        }
        CannedCmd::Add {
            app,
            name,
            trigger,
            body,
            body_file,
            sources,
        } => {
            let fields = CannedFields {
                app: app.clone(),
                name: name.clone(),
                trigger: trigger.clone(),
                body: body_of(body, body_file)?.unwrap_or_default(),
                sources: sources_of(sources)?,
            };
            let i = input(None, None, fields, &cli_actor(), now_ms()).map_err(refused)?;
            let out = store.put_canned(&i).await.map_err(store_failure)?;
            audited(
                &store,
                "canned.written",
                i.app.as_deref(),
                json!({"canned": out.id, "version": out.version, "kind": out.kind, "channel": "cli"}),
            )
            .await;
            emit(cli, &json!(out), || {
                format!("created {} (v{})", out.id, out.version)
            });
            Ok(())
        }
        CannedCmd::Edit {
            id,
            name,
            trigger,
            body,
            body_file,
            sources,
            no_sources,
            base_version,
        } => {
            let row = store.get_canned(id).await?.ok_or_else(|| not_found(id))?;
            let fields = CannedFields {
                app: row.app.clone(),
                name: name.clone().unwrap_or(row.name.clone()),
                trigger: trigger.clone().unwrap_or(row.trigger.clone()),
                body: body_of(body, body_file)?.unwrap_or(row.body.clone()),
                sources: if *no_sources {
                    Vec::new()
                } else if sources.is_empty() {
                    row.sources.clone()
                } else {
                    sources_of(sources)?
                },
            };
            // Without --base-version the edit is based on the version just read.
            let base = base_version.or(Some(row.current_version));
            let i =
                input(Some(id.clone()), base, fields, &cli_actor(), now_ms()).map_err(refused)?;
            let out = store.put_canned(&i).await.map_err(store_failure)?;
            audited(
                &store,
                "canned.written",
                i.app.as_deref(),
                json!({"canned": out.id, "version": out.version, "kind": out.kind, "channel": "cli"}),
            )
            .await;
            emit(cli, &json!(out), || {
                format!("{} is at v{} ({:?})", out.id, out.version, out.kind)
            });
            Ok(())
        }
        CannedCmd::Rm { id } => {
            let row = store.get_canned(id).await?.ok_or_else(|| not_found(id))?;
            store.remove_canned(id, now_ms()).await?;
            audited(
                &store,
                "canned.removed",
                row.app.as_deref(),
                json!({"canned": id, "channel": "cli"}),
            )
            .await;
            emit(cli, &json!({"removed": id}), || format!("removed {id}"));
            Ok(())
        }
    }
}
