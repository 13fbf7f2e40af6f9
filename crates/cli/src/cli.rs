//! Command-line parsing and the commands themselves.

use crate::ALL_SERVICES;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use support_core::audit;
use support_core::auth::Role;
use support_core::settings::Settings;
use support_core::store::Store;
use support_core::time::now_ms;
use support_store::Db;

/// Exit codes (documented in the crate docs and `skill --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CHECK_FAILED: i32 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "skill",
    version,
    about = "Agent-first customer support platform",
    after_help = "Exit codes: 0 ok, 1 failed, 2 bad usage or settings, 3 a check found a problem."
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Settings file (default: ./support.toml, or $SUPPORT_CONFIG).
    #[arg(long, global = true, env = "SUPPORT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every router and the runner in one process, on the embedded defaults.
    Dev(DevArgs),
    /// Settings.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// API tokens for /api/v1 (shown once, stored hashed).
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Users: who approvals count as (tokens belong to users, Slack ids are linked to them).
    #[command(subcommand)]
    Users(crate::users_cmd::UsersCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Check settings, the database, migrations and every app's SDK endpoint.
    Health,
    /// Onboard a product: register it, generate its SDK secret (shown once), scaffold an
    /// integration. Prompts on a terminal; otherwise every value must be a flag.
    Init(crate::onboard::InitArgs),
    /// Registered apps: list, show, update, remove.
    #[command(subcommand)]
    Apps(crate::onboard::AppsCmd),
    /// SDK secrets: rotate without downtime.
    #[command(subcommand)]
    Keys(crate::onboard::KeysCmd),
    /// Call every SDK method on an app's endpoint with signed requests, print a conformance
    /// table and record the app's capabilities.
    Doctor(crate::onboard::DoctorArgs),
    /// Approvals: list, approve, reject, edit (the same checks as the dashboard).
    #[command(subcommand)]
    Approvals(crate::approvals_cmd::ApprovalsCmd),
    /// Actions: retry a dead-lettered one (the same checks as the dashboard).
    #[command(subcommand)]
    Actions(crate::approvals_cmd::ActionsCmd),
    /// Dead letters: list what failed for good (actions, runs, Stripe deliveries) and replay
    /// one (the same checks as the dashboard).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(crate::approvals_cmd::DeadLettersCmd),
    /// Run scenario files through the real pipeline (Front sandbox, example app, offline
    /// agent) and report routing, drafts and latency.
    Eval(EvalArgs),
    /// Conversations the platform has handled.
    #[command(subcommand)]
    Conversations(ConversationsCmd),
    /// Re-run past inbound decisions on their recorded inputs (tool calls answered from the
    /// recording) and print what would change: one run, or `--since 7d --app X` in bulk.
    Replay(crate::replay::ReplayArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConversationsCmd {
    /// The newest conversations.
    List {
        #[arg(long)]
        app: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One conversation: messages, actions and its audit trail.
    Show { front_id: String },
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Generate secrets, seed the demo apps, an admin and a token; write DIR/demo.json.
    #[arg(long)]
    pub demo: bool,
    /// Where the SQLite database and demo files live (default .support).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:4100).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// With --demo, allow a non-loopback --bind (the demo's generated secrets, admin token
    /// and Front sandbox then face the network).
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A folder of scenario files (see shared/scenarios/README.md).
    pub dir: PathBuf,
    /// Exit 3 below the thresholds: respond precision 0.92, recall 0.95, FP rate 0.03,
    /// FN rate 0.02, escalate_urgent recall 1.0.
    #[arg(long)]
    pub gate: bool,
    /// Run the agent step through a model: a provider named in `llm.providers`.
    #[arg(long, requires = "model")]
    pub provider: Option<String>,
    /// The model for `--provider`.
    #[arg(long, requires = "provider")]
    pub model: Option<String>,
    /// Which steps run on the model: the agent (default), the route step's classifier, or
    /// both.
    #[arg(long, value_enum, default_value = "agent", requires = "provider")]
    pub steps: EvalSteps,
}

/// The steps `skill eval --provider` runs on the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSteps {
    Agent,
    Classifier,
    Both,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective settings, secrets redacted.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, agent or viewer.
        #[arg(long)]
        role: String,
        /// The email of the user the token acts for (its approvals count as that user's);
        /// without it the token gets a user of its own.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain (from the last archive's genesis) and report the first broken link.
    Verify,
    /// Export the rows written before a date (JSON lines with the range's head hash) to a new
    /// file, delete them and record the new genesis; audited. The only way rows leave the log.
    Archive(crate::audit_cmd::ArchiveArgs),
    /// Check an archive file on its own (every row's hash and link, up to its head hash).
    #[command(name = "verify-archive")]
    VerifyArchive(crate::audit_cmd::VerifyArchiveArgs),
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
static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub(crate) async fn open_db(settings: &Settings) -> Result<Db, Failure> {
    let url = settings.effective_database_url();
    Db::connect(url.expose()).await.map_err(|e| Failure {
        code: exit::FAILED,
        message: format!("database {}: {e}", support_store::redact_url(url.expose())),
    })
}

/// Run a parsed command. Returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(&cli).await {
        Ok(()) => exit::OK,
        Err(f) => {
            // A check that printed its report (`health`, `doctor`) and found a problem: the
            // report is the JSON document; the verdict goes to stderr.
            if cli.json && !REPORTED.load(std::sync::atomic::Ordering::Relaxed) {
                println!(
                    "{}",
                    json!({"error": {"code": f.code, "message": f.message}})
                );
            } else {
                eprintln!("error: {}", f.message);
            }
            f.code
        }
    }
}

async fn dispatch(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Dev(args) => dev(cli, args).await,
        Command::Config(ConfigCmd::Show) => {
            let s = load_settings(cli)?;
            let v = s.redacted_json();
            emit(cli, &v, || {
                // TOML has no null: unset settings are left out of the human view.
                let shown = strip_nulls(v.clone());
                toml::to_string_pretty(&shown).unwrap_or_else(|_| shown.to_string())
            });
            Ok(())
        }
        Command::Tokens(cmd) => tokens(cli, cmd).await,
        Command::Users(cmd) => crate::users_cmd::run(cli, cmd).await,
        Command::Audit(AuditCmd::Verify) => {
            let s = load_settings(cli)?;
            let db = open_db(&s).await?;
            match audit::verify(&db).await {
                Ok(r) => {
                    emit(
                        cli,
                        &json!({"ok": true, "rows": r.rows, "head_hash": r.head_hash,
                                "genesis_seq": r.genesis_seq, "genesis_hash": r.genesis_hash}),
                        || match r.genesis_seq {
                            0 => {
                                format!("audit chain intact: {} rows, head {}", r.rows, r.head_hash)
                            }
                            g => format!(
                                "audit chain intact: {} rows after archived seq {g} (genesis {}), head {}",
                                r.rows, r.genesis_hash, r.head_hash
                            ),
                        },
                    );
                    Ok(())
                }
                Err(e) => Err(Failure {
                    code: exit::CHECK_FAILED,
                    message: e.to_string(),
                }),
            }
        }
        Command::Audit(AuditCmd::Archive(args)) => crate::audit_cmd::archive(cli, args).await,
        Command::Audit(AuditCmd::VerifyArchive(args)) => {
            crate::audit_cmd::verify_archive(cli, args)
        }
        Command::Health => health(cli).await,
        Command::Eval(args) => eval_cmd(cli, args).await,
        Command::Conversations(cmd) => conversations(cli, cmd).await,
        Command::Init(args) => crate::onboard::init(cli, args).await,
        Command::Apps(cmd) => crate::onboard::apps(cli, cmd).await,
        Command::Keys(cmd) => crate::onboard::keys(cli, cmd).await,
        Command::Doctor(args) => crate::onboard::doctor(cli, args).await,
        Command::Approvals(cmd) => crate::approvals_cmd::run(cli, cmd).await,
        Command::Actions(cmd) => crate::approvals_cmd::actions(cli, cmd).await,
        Command::DeadLetters(cmd) => crate::approvals_cmd::dead_letters(cli, cmd).await,
        Command::Replay(args) => crate::replay::run(cli, args).await,
    }
}

async fn dev(cli: &Cli, args: &DevArgs) -> Result<(), Failure> {
    let mut settings = load_settings(cli)?;
    if let Some(dir) = &args.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(bind) = args.bind {
        settings.bind = bind;
    }
    if args.demo && !settings.bind.ip().is_loopback() && !args.allow_remote {
        return Err(usage(format!(
            "--demo refuses to listen on {}: the demo generates an admin API token and signing secrets (written to demo.json), seeds sample customers and runs a Front sandbox, so it is meant for this machine only. Bind a loopback address (e.g. --bind 127.0.0.1:4100), or pass --allow-remote to expose it anyway",
            settings.bind
        )));
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| {
            usage(format!(
                "cannot bind {}: {e} (choose another with --bind)",
                settings.bind
            ))
        })?;
    let opts = support_web::BuildOptions {
        demo: args.demo,
        functions: Some(support_web::functions::platform_functions()),
        runner: None,
    };
    let base_url = settings.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    // In --demo without a Front token, the Front sandbox stands in for Front.
    let sandbox = if args.demo {
        crate::demo_front::prepare(&mut settings, base_url.trim_end_matches('/'))
    } else {
        None
    };
    let host_failure = |e: support_web::host::HostError| match e {
        support_web::host::HostError::Settings(s) => usage(s.to_string()),
        other => Failure::from(other),
    };
    let addr = listener.local_addr()?;
    let (notify, rx) = tokio::sync::watch::channel(false);
    let platform = support_web::host::build(settings, addr, rx, opts)
        .await
        .map_err(host_failure)?;
    // The example product answers the demo apps' SDK calls, in --demo only.
    let mut extra = if args.demo {
        vec![
            crate::demo_app::router(&platform)
                .await
                .map_err(host_failure)?,
        ]
    } else {
        Vec::new()
    };
    if args.demo {
        let n = crate::demo_front::import_kb(&platform).await?;
        tracing::info!(chunks = n, "demo knowledge base imported");
    }
    if let Some(sb) = &sandbox {
        extra.push(crate::demo_front::router(sb));
        let (p, sb) = (platform.clone(), sb.clone());
        // Delivered once the server accepts connections (the listener is already bound).
        tokio::spawn(async move { crate::demo_front::replay_samples(&p, &sb).await });
    }
    support_web::host::announce(&platform, ALL_SERVICES);
    if args.demo {
        println!(
            "  demo app:  {}{}",
            platform.base_url(),
            crate::demo_app::PATH
        );
    }
    support_web::host::serve_with(
        platform,
        listener,
        ALL_SERVICES,
        extra,
        support_web::host::shutdown_signal(),
        notify,
    )
    .await
    .map_err(host_failure)
}

async fn conversations(cli: &Cli, cmd: &ConversationsCmd) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    let db = open_db(&s).await?;
    match cmd {
        ConversationsCmd::List { app, limit } => {
            let items = db
                .list_conversations(app.as_deref(), (*limit).clamp(1, 1000))
                .await?;
            emit(cli, &json!({"items": items}), || {
                if items.is_empty() {
                    return "no conversations yet".to_string();
                }
                items
                    .iter()
                    .map(|c| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            c.front_id,
                            c.app.as_deref().unwrap_or("-"),
                            c.status,
                            c.escalation.as_deref().unwrap_or("-"),
                            c.subject.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        ConversationsCmd::Show { front_id } => {
            let Some(c) = db.get_conversation(front_id).await? else {
                return Err(Failure {
                    code: exit::FAILED,
                    message: format!("no conversation {front_id}"),
                });
            };
            let messages = db.list_messages(front_id).await?;
            let actions = db.list_actions(front_id).await?;
            let audit = db
                .list_audit(&support_core::store::AuditFilter {
                    conversation_id: Some(front_id.clone()),
                    limit: 1000,
                    ..Default::default()
                })
                .await?;
            let v = json!({"conversation": c, "messages": messages, "actions": actions, "audit": audit});
            emit(cli, &v, || {
                let mut out = vec![format!(
                    "{} [{}] {} — {}{}",
                    c.front_id,
                    c.app.as_deref().unwrap_or("-"),
                    c.status,
                    c.subject.as_deref().unwrap_or(""),
                    c.escalation
                        .as_ref()
                        .map(|e| format!(" (escalated: {e})"))
                        .unwrap_or_default()
                )];
                for m in &messages {
                    out.push(format!(
                        "  {} {}: {}",
                        m.direction,
                        m.author.as_deref().unwrap_or("?"),
                        m.body
                            .as_deref()
                            .unwrap_or("[purged]")
                            .lines()
                            .next()
                            .unwrap_or("")
                    ));
                }
                for a in &actions {
                    out.push(format!("  action {} {} [{}]", a.id, a.kind, a.status));
                }
                for r in &audit {
                    out.push(format!("  #{} {} {}", r.seq, r.kind, r.data));
                }
                out.join("\n")
            });
            Ok(())
        }
    }
}

async fn eval_cmd(cli: &Cli, args: &EvalArgs) -> Result<(), Failure> {
    if !args.dir.is_dir() {
        return Err(usage(format!(
            "{} is not a folder of scenario files",
            args.dir.display()
        )));
    }
    let progress = !cli.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let model = match (&args.provider, &args.model) {
        (Some(provider), Some(model)) => {
            let llm = load_settings(cli)?.llm;
            if !llm.providers.contains_key(provider) {
                return Err(usage(format!(
                    "no provider {provider:?} in llm.providers (configured: {})",
                    llm.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            let choice = support_core::settings::ModelChoice {
                provider: provider.clone(),
                model: model.clone(),
            };
            let (agent, classifier) = match args.steps {
                EvalSteps::Agent => (Some(choice), None),
                EvalSteps::Classifier => (None, Some(choice)),
                EvalSteps::Both => (Some(choice.clone()), Some(choice)),
            };
            Some(crate::eval::EvalModel {
                llm,
                agent,
                classifier,
            })
        }
        _ => None,
    };
    let run = crate::eval::run_with(&args.dir, progress, model)
        .await
        .map_err(|e| Failure {
            code: exit::FAILED,
            message: e,
        })?;
    let failures = run.gate_failures();
    emit(cli, &run.to_json(), || {
        format!(
            "{}\nlatency (webhook to settled run): p50 {:.1} ms, p99 {:.1} ms\n{}{}",
            run.report,
            run.percentile(50.0),
            run.percentile(99.0),
            run.model_json()
                .map(|m| format!("model: {m}\n"))
                .unwrap_or_default(),
            if failures.is_empty() {
                "gate: pass".to_string()
            } else {
                format!("gate: FAIL\n  {}", failures.join("\n  "))
            }
        )
    });
    if args.gate && !failures.is_empty() {
        return Err(Failure {
            code: exit::CHECK_FAILED,
            message: format!("eval below the gate: {}", failures.join("; ")),
        });
    }
    Ok(())
}

async fn tokens(cli: &Cli, cmd: &TokensCmd) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    match cmd {
        TokensCmd::Create { name, role, user } => {
            let role = Role::parse(role).map_err(|e| usage(e.to_string()))?;
            let name = name.trim();
            if name.is_empty() || name.len() > 64 {
                return Err(usage("--name must be 1-64 characters"));
            }
            let db = open_db(&s).await?;
            let (minted, mut row) = support_web::api::new_token_row(name, role, String::new());
            let owner = match user {
                Some(email) => {
                    let email =
                        support_core::ids::Email::parse(email).map_err(|e| usage(e.to_string()))?;
                    let u = db
                        .get_user_by_email(email.as_str())
                        .await?
                        .filter(|u| u.is_active())
                        .ok_or_else(|| usage(format!("no active user {}", email.as_str())))?;
                    if !u.role.allows(role) {
                        return Err(usage(format!(
                            "a {} token cannot belong to {}, whose role is {}",
                            role.as_str(),
                            u.email,
                            u.role.as_str()
                        )));
                    }
                    u
                }
                None => {
                    let u = support_web::api::own_token_user(&row);
                    db.insert_user(&u).await?;
                    u
                }
            };
            row.user_id = owner.id.clone();
            let id = row.id.clone();
            db.insert_api_token(&row).await?;
            db.append_audit(&support_core::audit::AuditEvent::new(
                "token.created",
                "cli",
                json!({"id": id, "name": name, "role": role, "user_id": owner.id}),
            ))
            .await?;
            emit(
                cli,
                &json!({"id": id, "name": name, "role": role, "user_id": owner.id, "user": owner.email, "token": minted.plaintext}),
                || {
                    format!(
                        "Created {role:?} token {name} ({id}) for {}. Store it now; it is not shown again:\n{}",
                        owner.email, minted.plaintext
                    )
                },
            );
            Ok(())
        }
        TokensCmd::List => {
            let db = open_db(&s).await?;
            let items = db.list_api_tokens().await?;
            let v = json!({"items": items.iter().map(|t| json!({"id": t.id, "name": t.name, "role": t.role, "user_id": t.user_id, "created_at": t.created_at, "revoked_at": t.revoked_at})).collect::<Vec<_>>()});
            emit(cli, &v, || {
                items
                    .iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\t{}{}",
                            t.id,
                            t.name,
                            t.role.as_str(),
                            t.user_id,
                            if t.revoked_at.is_some() {
                                "\trevoked"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        TokensCmd::Revoke { id } => {
            let db = open_db(&s).await?;
            if !db.revoke_api_token(id, now_ms()).await? {
                return Err(Failure {
                    code: exit::FAILED,
                    message: format!("no active token {id}"),
                });
            }
            db.append_audit(&support_core::audit::AuditEvent::new(
                "token.revoked",
                "cli",
                json!({"id": id}),
            ))
            .await?;
            emit(cli, &json!({"revoked": id}), || format!("revoked {id}"));
            Ok(())
        }
    }
}

async fn health(cli: &Cli) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    let url = s.effective_database_url();
    let db = Db::connect_lazy(url.expose()).map_err(|e| usage(e.to_string()))?;
    let store: Arc<dyn Store> = Arc::new(db);
    let ping = store.ping().await;
    let migrations = store.migration_status().await;
    // Every registered app's SDK endpoint must answer like an SDK handler.
    let integrations: Vec<Value> = match (&ping, &migrations) {
        (Ok(()), Ok(m)) if m.up_to_date() => {
            let http = reqwest::Client::new();
            let apps = store.list_apps().await.unwrap_or_default();
            futures::future::join_all(
                apps.iter()
                    .map(|app| crate::onboard::check_integration(&http, app)),
            )
            .await
        }
        _ => Vec::new(),
    };
    let integrations_ok = integrations.iter().all(|i| i["ok"] == true);
    let ok = ping.is_ok()
        && migrations.as_ref().map(|m| m.up_to_date()).unwrap_or(false)
        && integrations_ok;
    let v = json!({
        "ok": ok,
        "settings": "valid",
        "database": {"backend": store.backend(), "url": support_store::redact_url(url.expose()), "reachable": ping.is_ok(),
                     "error": ping.as_ref().err().map(|e| e.to_string())},
        "migrations": migrations.as_ref().ok(),
        "integrations": integrations,
    });
    emit(cli, &v, || {
        let mut out = vec!["settings     ok".to_string()];
        out.push(match &ping {
            Ok(()) => format!(
                "database     ok ({}, {})",
                store.backend(),
                support_store::redact_url(url.expose())
            ),
            Err(e) => format!("database     FAIL: {e}"),
        });
        out.push(match &migrations {
            Ok(m) if m.up_to_date() => format!("migrations   ok ({} applied)", m.applied),
            Ok(m) => format!(
                "migrations   PENDING: {} (run `skill dev` to apply)",
                m.pending.join(", ")
            ),
            Err(e) => format!("migrations   FAIL: {e}"),
        });
        for i in &integrations {
            out.push(format!(
                "integration  {} {} ({}, {} ms): {}",
                i["slug"].as_str().unwrap_or_default(),
                if i["ok"] == true { "ok" } else { "FAIL" },
                i["url"].as_str().unwrap_or_default(),
                i["latency_ms"],
                i["detail"].as_str().unwrap_or_default()
            ));
        }
        out.join("\n")
    });
    if ok {
        Ok(())
    } else {
        Err(Failure {
            code: exit::CHECK_FAILED,
            message: "not healthy".into(),
        })
    }
}

/// Parse arguments and run; the whole of `main`.
pub fn main_entry() -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // Telemetry is set up before the runtime: the OTLP exporter uses a blocking client.
    let settings = Settings::from_figment(Settings::figment(cli.config.as_deref()));
    let _telemetry = match (&cli.command, &settings) {
        (Command::Dev(_), Ok(s)) => match support_web::telemetry::init(s) {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit::FAILED;
        }
    };
    runtime.block_on(run(cli))
}
