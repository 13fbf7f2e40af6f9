//! `skill replay`: re-run past inbound decisions on their recorded inputs and print what would
//! change (`support_workflow::replay`). One run by id, or every inbound run of an app in
//! a time window (`--since 7d --app X`) with a progress bar and counts.

use super::context::{Failure, emit, exit, load_settings, open_db, usage};
use crate::args::{Cli, ReplayArgs};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::sync::Arc;
use support_core::llm::Llm;
use support_core::pipeline::model_agent::ModelAgentOptions;
use support_core::registry::AppPolicy;
use support_core::settings::{ModelChoice, Settings};
use support_core::store::AuditFilter;
use support_core::store::prelude::*;
use support_core::time::now_ms;
use support_steps::{RunFilter, RunStatus, RunStore};
use support_store::Db;
use support_workflow::INBOUND_FN;
use support_workflow::replay::{
    self, Recording, ReplayAgent, ReplayDiff, ReplayError, ReplayOptions,
};

/// How many runs a bulk replay reads at most (newest first).
pub const BULK_LIMIT: u32 = 100_000;

/// The app's current policy and canned responses, as the workflow reads them.
async fn current_config(
    db: &Db,
    app: &str,
) -> Result<(AppPolicy, Vec<support_core::store::CannedResponse>), Failure> {
    let row = db
        .get_app(app)
        .await?
        .ok_or_else(|| Failure::from(format!("app {app} is not registered")))?;
    let policy: AppPolicy = serde_json::from_value(row.policy).unwrap_or_default();
    let canned = db.list_canned(Some(app)).await?;
    Ok((policy, canned))
}

/// The model `--provider`/`--model` name, built from `llm.providers`.
fn model(settings: &Settings, args: &ReplayArgs) -> Result<Option<Arc<dyn Llm>>, Failure> {
    let (Some(provider), Some(model)) = (&args.provider, &args.model) else {
        return Ok(None);
    };
    let directory = support_host::models::directory(&settings.llm)
        .ok_or_else(|| usage("--provider needs a provider configured in llm.providers"))?;
    directory
        .model(&ModelChoice {
            provider: provider.clone(),
            model: model.clone(),
        })
        .map(Some)
        .map_err(usage)
}

/// The canned-response retrieval replays score with, as the route step does.
fn canned_scorer() -> &'static support_knowledge::canned::CannedIndex {
    static SCORER: std::sync::LazyLock<support_knowledge::canned::CannedIndex> =
        std::sync::LazyLock::new(support_knowledge::canned::CannedIndex::new);
    &SCORER
}

/// Replay options: the offline agent, or the model agent on `llm`.
fn options<'a>(args: &ReplayArgs, llm: Option<&'a dyn Llm>) -> ReplayOptions<'a> {
    let model = args.model.clone().unwrap_or_default();
    let canned_scorer = Some(canned_scorer() as &dyn support_core::knowledge::CannedScorer);
    match llm {
        None => ReplayOptions {
            canned_scorer,
            ..Default::default()
        },
        Some(llm) => ReplayOptions {
            agent: ReplayAgent::Model {
                llm,
                provider: args.provider.clone().unwrap_or_default(),
                opts: ModelAgentOptions {
                    model: model.clone(),
                    ..Default::default()
                },
            },
            classifier: args.classifier.then_some((llm, model)),
            canned_scorer,
            ..Default::default()
        },
    }
}

/// What a replay takes from the app as it is now instead of from the recording.
#[derive(Debug, Clone, Copy, Default)]
pub struct Current {
    /// The policy and canned responses (always, for runs from before they were recorded).
    /// (The knowledge base, for `searchKnowledge` calls the recording does not hold, is
    /// [`ReplayOptions::current_kb`].)
    pub config: bool,
}

/// Replays one run. Old runs without recorded route inputs use the app's current
/// configuration (the diff says so).
pub async fn replay_one(
    db: &Db,
    run_id: &str,
    base: &ReplayOptions<'_>,
    current: Current,
) -> Result<ReplayDiff, Failure> {
    let rec = Recording::load(db, db, run_id).await.map_err(|e| match e {
        ReplayError::NoRun(_) => Failure {
            code: exit::FAILED,
            message: e.to_string(),
        },
        other => Failure::from(other),
    })?;
    let mut opts = base.clone();
    if current.config || rec.inputs.is_none() {
        let (policy, canned) = current_config(db, &rec.snapshot.app).await?;
        opts.policy = Some(policy);
        opts.canned = Some(canned);
    }
    let replayed = replay::replay(&rec, &opts).await;
    Ok(replay::diff(&rec, &replayed))
}

/// `id` when it names a run; otherwise the newest run that routed conversation `id`.
async fn resolve_run(db: &Db, id: &str) -> Result<String, Failure> {
    if db.get_run(id).await?.is_some() {
        return Ok(id.to_string());
    }
    let routed = db
        .list_audit(&AuditFilter {
            conversation_id: Some(id.to_string()),
            kind: Some("route.decided".into()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    routed
        .iter()
        .max_by_key(|r| r.seq)
        .and_then(|r| r.trace_id.clone())
        .ok_or_else(|| Failure::from(format!("no run {id} (and no conversation with that id)")))
}

/// The result of a bulk replay.
#[derive(Debug, Default)]
pub struct BulkReport {
    pub app: String,
    pub since_ms: i64,
    pub replayed: usize,
    pub route_changed: usize,
    pub tools_changed: usize,
    pub draft_changed: usize,
    /// The diffs of the runs that changed.
    pub changed: Vec<ReplayDiff>,
    /// Runs that could not be replayed (still running, failed early), with the reason.
    pub skipped: Vec<(String, String)>,
    /// More runs than [`BULK_LIMIT`] exist; the oldest were not read.
    pub truncated: bool,
}

impl BulkReport {
    pub fn to_json(&self) -> Value {
        json!({
            "app": self.app,
            "since_ms": self.since_ms,
            "replayed": self.replayed,
            "changed": self.changed.len(),
            "route_changed": self.route_changed,
            "tools_changed": self.tools_changed,
            "draft_changed": self.draft_changed,
            "changed_runs": self.changed.iter().map(|d| &d.run_id).collect::<Vec<_>>(),
            "diffs": self.changed,
            "skipped": self.skipped.iter().map(|(id, why)| json!({"run_id": id, "reason": why})).collect::<Vec<_>>(),
            "truncated": self.truncated,
        })
    }

    pub fn render(&self) -> String {
        let mut out = vec![format!(
            "replayed {} inbound runs of {}: {} would change (route {}, tools {}, draft {})",
            self.replayed,
            self.app,
            self.changed.len(),
            self.route_changed,
            self.tools_changed,
            self.draft_changed
        )];
        for d in &self.changed {
            out.push(String::new());
            out.push(d.render());
        }
        if !self.skipped.is_empty() {
            out.push(format!("\nskipped {} runs:", self.skipped.len()));
            for (id, why) in &self.skipped {
                out.push(format!("  {id}: {why}"));
            }
        }
        if self.truncated {
            out.push(format!(
                "note: only the newest {BULK_LIMIT} runs were read; narrow --since"
            ));
        }
        out.join("\n")
    }
}

/// Replays every inbound run of `app` created at or after `since_ms`, oldest first.
pub async fn replay_since(
    db: &Db,
    app: &str,
    since_ms: i64,
    opts: &ReplayOptions<'_>,
    current: Current,
    bar: &indicatif::ProgressBar,
) -> Result<BulkReport, Failure> {
    let runs = db
        .list_runs(&RunFilter {
            function_id: Some(INBOUND_FN.into()),
            limit: BULK_LIMIT,
            ..Default::default()
        })
        .await?;
    let truncated =
        runs.len() >= BULK_LIMIT as usize && runs.last().is_some_and(|r| r.created_at >= since_ms);
    let mut ids: Vec<(i64, String, RunStatus)> = runs
        .into_iter()
        .filter(|r| r.created_at >= since_ms && r.event.data["app_id"].as_str() == Some(app))
        .map(|r| (r.created_at, r.id, r.status))
        .collect();
    ids.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    bar.set_length(ids.len() as u64);
    let mut report = BulkReport {
        app: app.into(),
        since_ms,
        truncated,
        ..Default::default()
    };
    for (_, id, status) in ids {
        bar.set_message(id.clone());
        match replay_one(db, &id, opts, current).await {
            Ok(d) => {
                report.replayed += 1;
                report.route_changed += usize::from(d.route_changed());
                report.tools_changed += usize::from(d.tools_changed());
                report.draft_changed += usize::from(d.draft_changed());
                if !d.is_empty() {
                    report.changed.push(d);
                }
            }
            Err(f) => report
                .skipped
                .push((id, format!("{} ({})", f.message, status.as_str()))),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Colours a rendered diff for a terminal: `+` green, `-` red, `~` yellow, `!` magenta.
fn colour(text: &str) -> String {
    text.lines()
        .map(|l| {
            let code = match l.trim_start().chars().next() {
                Some('+') => "32",
                Some('-') => "31",
                Some('~') => "33",
                Some('!') => "35",
                _ => return l.to_string(),
            };
            format!("\x1b[{code}m{l}\x1b[0m")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `skill replay`.
pub async fn run(cli: &Cli, args: &ReplayArgs) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let llm = model(&settings, args)?;
    let mut opts = options(args, llm.as_deref());
    let current = Current {
        config: args.current_config,
    };
    let db = open_db(&settings).await?;
    // `--current-kb`: the app's knowledge as it is now, searched as the platform searches it
    // (the configured index over the current article versions; the replay asks for public ones).
    let knowledge = if args.current_kb {
        let store: Arc<dyn support_core::store::Store> = Arc::new(db.clone());
        let (kb, _) =
            support_host::knowledge::knowledge_base(store, &settings.kb).map_err(|e| Failure {
                code: exit::USAGE,
                message: e.to_string(),
            })?;
        Some(kb)
    } else {
        None
    };
    opts.current_kb = knowledge
        .as_ref()
        .map(|k| k as &dyn support_core::knowledge::Retriever);
    let tty = !cli.json && std::io::stdout().is_terminal();
    let paint = |s: String| if tty { colour(&s) } else { s };
    match (&args.run_id, &args.since, &args.app) {
        (Some(run_id), _, _) => {
            let run_id = resolve_run(&db, run_id).await?;
            let d = replay_one(&db, &run_id, &opts, current).await?;
            let v = json!({"changed": !d.is_empty(), "route_changed": d.route_changed(),
                           "tools_changed": d.tools_changed(), "draft_changed": d.draft_changed(),
                           "diff": d});
            emit(cli, &v, || paint(d.render()));
            Ok(())
        }
        (None, Some(since), Some(app)) => {
            let window = support_steps::timestr::parse_duration(since)
                .ok_or_else(|| usage(format!("--since {since}: expected e.g. 7d, 12h or 30m")))?;
            let since_ms = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
            let bar = if !cli.json && std::io::stderr().is_terminal() {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} replay [{bar:30}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            } else {
                indicatif::ProgressBar::hidden()
            };
            let report = replay_since(&db, app, since_ms, &opts, current, &bar).await?;
            emit(cli, &report.to_json(), || paint(report.render()));
            Ok(())
        }
        _ => Err(usage("give a run id, or --since with --app")),
    }
}
