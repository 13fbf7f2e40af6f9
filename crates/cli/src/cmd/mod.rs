//! The `skill` command line: dispatch and `main`. The arguments clap parses ([`Cli`], every
//! subcommand) are in [`crate::args`]. One module per command (`init`, `apps`, `keys`,
//! `doctor`, `approvals`, `actions`, `dead_letters`, `users`, `audit`, `tokens`, `config`,
//! `health`, `conversations`, `eval`, `dev`, `serve`, `replay`, `autosend`, `trust`, `kb`, `sla`);
//! what they share (settings, store, registry, output, [`Failure`] and exit codes) is in
//! [`context`]. Commands import `crate::args` and `context`, never this module: dispatch →
//! commands → arguments/context, no cycle.

mod actions;
pub mod approvals;
mod apps;
pub mod audit;
mod autosend;
mod canned;
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
mod sla;
mod tokens;
mod trust;
pub mod users;

pub use context::{Failure, exit};

use crate::args::{Cli, Command};
use anyhow::Context;
use clap::Parser;
use serde_json::json;
use support_core::settings::Settings;

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
        Command::Canned(cmd) => canned::run(cli, cmd).await,
        Command::Trust(cmd) => trust::run(cli, cmd).await,
        Command::Sla(cmd) => sla::run(cli, cmd).await,
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
