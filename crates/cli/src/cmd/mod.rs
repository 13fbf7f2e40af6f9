//! The `skill` command line: [`Cli`] (global flags and the subcommands), dispatch, and `main`.
//! One module per command (`init`, `apps`, `keys`, `doctor`, `approvals`, `actions`,
//! `dead_letters`, `users`, `audit`, `tokens`, `config`, `health`, `conversations`, `eval`,
//! `dev`, `serve`, `replay`); what they share (settings, store,
//! registry, output, [`Failure`] and exit codes) is in [`context`].

mod actions;
pub mod approvals;
mod apps;
pub mod audit;
mod autosend;
mod config;
mod context;
mod conversations;
mod dead_letters;
mod dev;
mod doctor;
mod eval;
mod health;
mod init;
mod kb;
mod keys;
mod replay;
mod serve;
mod tokens;
mod trust;
pub mod users;

pub use context::{Failure, exit};
pub(crate) use context::{
    age, audit, cli_actor, emit, event_sink, interactive, load_settings, master_key, open_db,
    open_registry, parse_slug, prompt, registry_failure, usage,
};
pub use eval::EvalSteps;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use support_core::settings::Settings;

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
    Dev(dev::DevArgs),
    /// Run every router and the runner in one process, for production: no demo data, no
    /// sandbox, no generated secrets.
    ///
    /// Refuses to start (exit 2, naming the setting) without `master_key`, `front.api_token`
    /// and at least one of `front.signing_secrets`.
    Serve(serve::ServeArgs),
    /// Settings.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// API tokens for /api/v1 (shown once, stored hashed).
    #[command(subcommand)]
    Tokens(tokens::TokensCmd),
    /// Users: who approvals count as (tokens belong to users, Slack ids are linked to them).
    #[command(subcommand)]
    Users(users::UsersCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Check settings, the database, migrations and every app's SDK endpoint.
    Health,
    /// Onboard a product: register it, generate its SDK secret (shown once), scaffold an
    /// integration. Prompts on a terminal; otherwise every value must be a flag.
    Init(init::InitArgs),
    /// Registered apps: list, show, update, remove.
    #[command(subcommand)]
    Apps(apps::AppsCmd),
    /// SDK secrets: rotate without downtime.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Call every SDK method on an app's endpoint with signed requests, print a conformance
    /// table and record the app's capabilities.
    Doctor(doctor::DoctorArgs),
    /// Approvals: list, approve, reject, edit (the same checks as the dashboard).
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// Actions: retry a dead-lettered one (the same checks as the dashboard).
    #[command(subcommand)]
    Actions(actions::ActionsCmd),
    /// Dead letters: list what failed for good (actions, runs, Stripe deliveries) and replay
    /// one (the same checks as the dashboard).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(dead_letters::DeadLettersCmd),
    /// Run scenario files through the real pipeline (Front sandbox, example app, offline
    /// agent) and report routing, drafts and latency.
    Eval(eval::EvalArgs),
    /// Automatic sending: kill switches, status, modes, promotion, the simulated month.
    #[command(subcommand)]
    Autosend(autosend::AutosendCmd),
    /// Conversations the platform has handled.
    #[command(subcommand)]
    Conversations(conversations::ConversationsCmd),
    /// Re-run past inbound decisions on their recorded inputs (tool calls answered from the
    /// recording) and print what would change: one run, or `--since 7d --app X` in bulk.
    Replay(replay::ReplayArgs),
    /// Trust per app × category from the learning loop's signals.
    #[command(subcommand)]
    Trust(trust::TrustCmd),
    /// The knowledge base: import, list, show, rm, search, reindex.
    #[command(subcommand)]
    Kb(kb::KbCmd),
}

/// Run a parsed command. Returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(&cli).await {
        Ok(()) => exit::OK,
        Err(f) => {
            // A check that printed its report (`health`, `doctor`) and found a problem: the
            // report is the JSON document; the verdict goes to stderr.
            if cli.json && !context::REPORTED.load(std::sync::atomic::Ordering::Relaxed) {
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
        Command::Dev(args) => dev::run(cli, args).await,
        Command::Serve(args) => serve::run(cli, args).await,
        Command::Config(cmd) => config::run(cli, cmd),
        Command::Tokens(cmd) => tokens::run(cli, cmd).await,
        Command::Users(cmd) => users::run(cli, cmd).await,
        Command::Audit(cmd) => audit::run(cli, cmd).await,
        Command::Health => health::run(cli).await,
        Command::Eval(args) => eval::run(cli, args).await,
        Command::Autosend(cmd) => autosend::run(cli, cmd).await,
        Command::Conversations(cmd) => conversations::run(cli, cmd).await,
        Command::Init(args) => init::run(cli, args).await,
        Command::Apps(cmd) => apps::run(cli, cmd).await,
        Command::Keys(cmd) => keys::run(cli, cmd).await,
        Command::Doctor(args) => doctor::run(cli, args).await,
        Command::Approvals(cmd) => approvals::run(cli, cmd).await,
        Command::Actions(cmd) => actions::run(cli, cmd).await,
        Command::DeadLetters(cmd) => dead_letters::run(cli, cmd).await,
        Command::Replay(args) => replay::run(cli, args).await,
        Command::Kb(cmd) => kb::run(cli, cmd).await,
        Command::Trust(cmd) => trust::run(cli, cmd).await,
    }
}

/// Parse arguments and run; the whole of `main`.
pub fn main_entry() -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // Telemetry is set up before the runtime: the OTLP exporter uses a blocking client.
    let settings = Settings::from_figment(Settings::figment(cli.config.as_deref()));
    let _telemetry = match (&cli.command, &settings) {
        (Command::Dev(_) | Command::Serve(_), Ok(s)) => match support_host::telemetry::init(s) {
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
