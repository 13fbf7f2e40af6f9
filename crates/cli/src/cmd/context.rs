//! What every command shares: settings loading, opening the store and the registry, the master
//! key, output (human text or `--json`), prompts, and [`Failure`] with its exit code.

use crate::args::Cli;
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use support_core::AppSlug;
use support_core::audit::AuditEvent;
use support_core::crypto::MasterKey;
use support_core::events::EventSink;
use support_core::registry::{Registry, RegistryError};
use support_core::settings::Settings;
use support_core::store::{Store, StoreError};
use support_core::time::now_ms;
use support_store::Db;

/// Exit codes (documented in the crate docs and `skill --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CHECK_FAILED: i32 = 3;
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: exit::FAILED,
            message: e.to_string(),
        }
    }
}

/// The simulated product's help centre the offline scenarios search: the demo articles in
/// tantivy (`support_knowledge::demo::scenario_index`).
pub(crate) fn scenario_knowledge()
-> Result<std::sync::Arc<dyn support_core::knowledge::Retriever>, Failure> {
    support_knowledge::demo::scenario_index().map_err(|e| Failure {
        code: exit::FAILED,
        message: format!("the demo articles could not be indexed: {e}"),
    })
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: exit::USAGE,
        message: message.into(),
    }
}

pub(crate) fn load_settings(cli: &Cli) -> Result<Settings, Failure> {
    let fig = Settings::figment(cli.config.as_deref());
    Settings::from_figment(fig).map_err(|e| usage(e.to_string()))
}

/// Print `value` as JSON, or `text` for people.
/// Set once a command printed its report, so that with `--json` stdout holds one document.
pub(super) static REPORTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub(crate) fn emit(cli: &Cli, value: &Value, text: impl FnOnce() -> String) {
    REPORTED.store(true, std::sync::atomic::Ordering::Relaxed);
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

pub(crate) async fn open_db(settings: &Settings) -> Result<Db, Failure> {
    let url = settings.effective_database_url();
    Db::connect(url.expose()).await.map_err(|e| Failure {
        code: exit::FAILED,
        message: format!("database {}: {e}", support_store::redact_url(url.expose())),
    })
}

/// The master key for sealing SDK secrets: settings, else `DIR/master.key` of a demo data dir.
pub fn master_key(settings: &Settings) -> Result<MasterKey, Failure> {
    if let Some(k) = &settings.master_key {
        return MasterKey::from_base64(k.expose()).map_err(|e| usage(format!("master_key: {e}")));
    }
    let path = settings.data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| Failure {
            code: exit::FAILED,
            message: format!("{}: {e}", path.display()),
        }),
        Err(_) => Err(usage(format!(
            "master_key is not set: set SUPPORT_MASTER_KEY to the server's key (base64 of 32 bytes); \
             for a demo data dir, point SUPPORT_DATA_DIR at it ({} not found)",
            path.display()
        ))),
    }
}

pub(crate) fn parse_slug(slug: &str) -> Result<AppSlug, Failure> {
    AppSlug::parse(slug.trim()).map_err(|e| usage(e.to_string()))
}

pub(crate) fn registry_failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Invalid(message) => usage(message),
        RegistryError::Store(StoreError::Conflict(message)) => Failure {
            code: exit::FAILED,
            message,
        },
        other => Failure::from(other),
    }
}

pub(crate) async fn open_registry(
    settings: &Settings,
) -> Result<(Arc<dyn Store>, Registry), Failure> {
    let db = open_db(settings).await?;
    let store: Arc<dyn Store> = Arc::new(db);
    // With Redis, the running instances see what this command changes at once.
    let registry = support_host::host::shared_registry(settings, store.clone()).await;
    Ok((store, registry))
}

pub(crate) async fn audit(store: &Arc<dyn Store>, kind: &str, slug: &str, data: Value) {
    let event = AuditEvent::new(kind, "cli", data).app(slug.to_owned());
    if let Err(e) = store.append_audit(&event).await {
        eprintln!("warning: audit event {kind} not recorded: {e}");
    }
}

pub(crate) fn interactive(cli: &Cli) -> bool {
    !cli.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on stderr until `check` accepts the answer (an empty answer takes `default`).
pub(crate) fn prompt<T>(
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Failure> {
    let stdin = std::io::stdin();
    loop {
        match default {
            Some(d) => eprint!("{question} [{d}]: "),
            None => eprint!("{question}: "),
        }
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Err(usage("input ended before every value was given"));
        }
        let answer = match line.trim() {
            "" => default.unwrap_or(""),
            other => other,
        };
        match check(answer) {
            Ok(v) => return Ok(v),
            Err(e) => eprintln!("  {e}"),
        }
    }
}

pub(crate) fn age(ms: i64) -> String {
    let secs = (now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// Where the CLI's events go: the embedded executor's event table, or Inngest's event API.
pub(crate) fn event_sink(
    settings: &support_core::Settings,
    db: &support_store::Db,
) -> Result<Arc<dyn EventSink>, Failure> {
    if support_host::runner::is_embedded(settings) {
        let engine = support_steps::Engine::builder(Arc::new(db.clone()))
            .build()
            .map_err(|e| Failure::from(e.to_string()))?;
        return Ok(Arc::new(support_host::runner::EmbeddedSink(engine)));
    }
    let (Some(base), Some(k)) = (&settings.inngest.base_url, &settings.inngest.event_key) else {
        return Err(usage(
            "runner = \"inngest\" needs INNGEST_BASE_URL and INNGEST_EVENT_KEY",
        ));
    };
    Ok(Arc::new(
        support_host::runner::InngestSink::new(base, k.expose())
            .map_err(|e| Failure::from(e.to_string()))?,
    ))
}

/// Who decides from the CLI: the operating-system user (database access is the authority).
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
