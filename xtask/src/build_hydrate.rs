//! `cargo xtask build-hydrate [--out DIR] [--dev] [--check]`: the dashboard's hydrate bundle.
//!
//! When the `wasm32-unknown-unknown` target is installed and `wasm-bindgen --version` is
//! Cargo.lock's wasm-bindgen, builds the islands crate (`apps/web-islands`) for wasm32 with its
//! `hydrate` feature as a `cdylib` and runs `wasm-bindgen --target web` into `DIR` (default
//! `target/site/pkg` under the workspace, what `dashboard.pkg_dir` defaults to when the server
//! runs from the workspace root). The server serves the bundle under `/pkg/` and adds
//! `/pkg/boot.js` to its pages only while both files are there.
//!
//! Without the target or the CLI it says what is missing and succeeds: the dashboard is
//! server-rendered and fully usable without the bundle. `--check` only reports the tools.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET: &str = "wasm32-unknown-unknown";
const CRATE: &str = "support-web-islands";
const OUT_NAME: &str = "support_web_islands";

fn usage() -> &'static str {
    "cargo xtask build-hydrate [--out DIR] [--dev] [--check]"
}

/// wasm-bindgen's version in Cargo.lock (the CLI must be exactly this one).
pub fn lockfile_wasm_bindgen(lock: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}

/// The version a `wasm-bindgen --version` line names (`wasm-bindgen 0.2.130`).
pub fn cli_version(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .nth(1)
        .map(|v| v.trim().to_string())
        .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

/// Whether `installed` (`rustup target list --installed`) lists the wasm32 target.
pub fn target_listed(installed: &str) -> bool {
    installed.lines().any(|l| l.trim() == TARGET)
}

/// Why the bundle cannot be built here, or `None` when it can.
pub fn missing_tools(root: &Path) -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !target_listed(&installed) {
        return Some(format!(
            "the {TARGET} target is not installed (rustup target add {TARGET})"
        ));
    }
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let Some(want) = lockfile_wasm_bindgen(&lock) else {
        return Some("Cargo.lock names no wasm-bindgen".into());
    };
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| cli_version(&String::from_utf8_lossy(&o.stdout)));
    match have {
        None => Some(format!(
            "no wasm-bindgen CLI (cargo install wasm-bindgen-cli --version {want})"
        )),
        Some(have) if have != want => Some(format!(
            "wasm-bindgen {have} is installed, Cargo.lock has {want} \
             (cargo install wasm-bindgen-cli --version {want} --force)"
        )),
        Some(_) => None,
    }
}

/// `$CARGO_TARGET_DIR/hydrate` (or `target/hydrate`): where the wasm32 build goes.
pub fn hydrate_target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("hydrate")
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let (mut out, mut dev, mut check) = (root.join("target/site/pkg"), false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(it.next().context(usage())?),
            "--dev" => dev = true,
            "--check" => check = true,
            other => bail!("unknown option {other}: {}", usage()),
        }
    }
    if let Some(why) = missing_tools(root) {
        println!(
            "build-hydrate: skipped, {why}. The dashboard stays server-rendered (every page works without JavaScript)."
        );
        return Ok(());
    }
    if check {
        println!("build-hydrate: {TARGET} and a matching wasm-bindgen CLI are present");
        return Ok(());
    }
    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Its own target folder: the wasm32 build shares nothing with the server's, and never
    // waits on the lock of a server build (or of the test that builds this bundle).
    let target = hydrate_target_dir(root);
    let mut build = Command::new(cargo);
    build
        .args(["rustc", "-p", CRATE, "--lib", "--target", TARGET])
        .args(["--features", "hydrate", "--crate-type", "cdylib"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root);
    if !dev {
        build.arg("--release");
    }
    crate::run(&mut build)?;
    let profile = if dev { "debug" } else { "release" };
    let wasm = target
        .join(TARGET)
        .join(profile)
        .join(format!("{OUT_NAME}.wasm"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    crate::run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", OUT_NAME])
            .arg("--out-dir")
            .arg(&out)
            .arg(&wasm),
    )?;
    let size = |f: &str| std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
    println!(
        "build-hydrate: {} ({profile}) in {:.1} s: {OUT_NAME}_bg.wasm {} KiB, {OUT_NAME}.js {} KiB",
        out.display(),
        started.elapsed().as_secs_f64(),
        size(&format!("{OUT_NAME}_bg.wasm")) / 1024,
        size(&format!("{OUT_NAME}.js")) / 1024,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lockfile_version() {
        let lock = "[[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.1\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\nsource = \"x\"\n";
        assert_eq!(lockfile_wasm_bindgen(lock).as_deref(), Some("0.2.130"));
        assert_eq!(lockfile_wasm_bindgen("[[package]]\nname = \"x\"\n"), None);
    }

    #[test]
    fn reads_the_cli_version_and_the_target_list() {
        assert_eq!(
            cli_version("wasm-bindgen 0.2.130\n").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(cli_version("command not found"), None);
        assert!(target_listed(
            "wasm32-unknown-unknown\nx86_64-unknown-linux-gnu\n"
        ));
        assert!(!target_listed("x86_64-unknown-linux-gnu\n"));
    }

    #[test]
    fn the_workspace_lockfile_names_wasm_bindgen() {
        let lock = std::fs::read_to_string(crate::root().join("Cargo.lock")).expect("Cargo.lock");
        assert!(lockfile_wasm_bindgen(&lock).is_some());
    }
}
