//! `skill serve`, the production verb, run as a deployment would: it refuses to start without a
//! master key or real Front settings (exit 2, one line naming the setting), and with them it
//! serves the platform with no demo data (no demo lines, no demo.json).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const SKILL: &str = env!("CARGO_BIN_EXE_skill");
/// base64 of 32 bytes.
const MASTER_KEY: &str = "c2VydmUtdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=";

/// `skill serve --bind 127.0.0.1:0 --data-dir data` in `dir` with `envs` only (the caller's
/// `SUPPORT_*`/`INNGEST_*` variables are removed).
fn serve(dir: &std::path::Path, envs: &[(&str, &str)]) -> Command {
    let mut c = Command::new(SKILL);
    c.current_dir(dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", "data"])
        .env_remove("SUPPORT_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            c.env_remove(k);
        }
    }
    c.env("SUPPORT_LOG__FILTER", "warn");
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

/// Kills the child when dropped, so that a failing assertion leaves no server behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `skill serve` expecting a refusal: exit 2 and one stderr line that names `setting`.
fn refused(envs: &[(&str, &str)], setting: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = serve(dir.path(), envs).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(setting), "names {setting}: {err}");
    assert!(
        String::from_utf8(out.stdout).unwrap().trim().is_empty(),
        "nothing started"
    );
    assert!(
        !dir.path().join("data/demo.json").exists(),
        "no demo state generated"
    );
}

#[test]
fn serve_without_a_master_key_exits_2_naming_master_key() {
    refused(
        &[
            ("SUPPORT_FRONT__API_TOKEN", "front-token"),
            ("SUPPORT_FRONT__SIGNING_SECRETS", "[front-secret]"),
        ],
        "master_key",
    );
}

#[test]
fn serve_without_front_settings_exits_2_naming_the_setting() {
    refused(
        &[
            ("SUPPORT_MASTER_KEY", MASTER_KEY),
            ("SUPPORT_FRONT__SIGNING_SECRETS", "[front-secret]"),
        ],
        "front.api_token",
    );
    refused(
        &[
            ("SUPPORT_MASTER_KEY", MASTER_KEY),
            ("SUPPORT_FRONT__API_TOKEN", "front-token"),
        ],
        "front.signing_secrets",
    );
    // A blank token is no token.
    refused(
        &[
            ("SUPPORT_MASTER_KEY", MASTER_KEY),
            ("SUPPORT_FRONT__API_TOKEN", "  "),
            ("SUPPORT_FRONT__SIGNING_SECRETS", "[front-secret]"),
        ],
        "front.api_token",
    );
}

#[test]
fn serve_with_production_settings_serves_healthz_without_demo_data() {
    support_testkit::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let child = serve(
        dir.path(),
        &[
            ("SUPPORT_MASTER_KEY", MASTER_KEY),
            ("SUPPORT_FRONT__API_TOKEN", "front-token"),
            ("SUPPORT_FRONT__SIGNING_SECRETS", "[front-secret]"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base = first
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.starts_with("Support platform listening on http://127.0.0.1:"),
        "{first}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);

    // The banner is printed before the server accepts connections; stop it and read it all.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "graceful exit on SIGTERM: {exit:?}");
    assert!(
        rest.contains("health:") && rest.contains("dashboard:"),
        "the platform's banner: {rest}"
    );
    assert!(
        !rest.to_lowercase().contains("demo"),
        "no demo lines in production: {rest}"
    );
    assert!(
        !dir.path().join("data/demo.json").exists(),
        "no demo.json in production"
    );
    assert!(
        !dir.path().join("data/master.key").exists(),
        "no generated master key in production"
    );
}
