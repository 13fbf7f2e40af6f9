//! The `skill` binary, run as a user would: `dev --demo` start and SIGTERM, settings errors,
//! `config show` redaction, token creation against a running server.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use std::process::Command;
use std::time::Duration;
use support_testkit::SkillProcess;

const SKILL: &str = env!("CARGO_BIN_EXE_skill");

fn skill(dir: &std::path::Path) -> Command {
    let mut c = Command::new(SKILL);
    c.current_dir(dir).env_remove("SUPPORT_CONFIG");
    // Keep the test independent of the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            c.env_remove(k);
        }
    }
    c
}

/// Start `skill dev --demo` on port 0 (the shared launcher), checking its banner.
fn start_dev(dir: &std::path::Path) -> (SkillProcess, String) {
    let proc = SkillProcess::start_demo(SKILL, dir, "data", &[]);
    assert!(
        proc.banner.iter().any(|l| l.contains("dashboard:")),
        "the dashboard URL is printed: {:?}",
        proc.banner
    );
    let base = proc.base_url.clone();
    (proc, base)
}

fn get(url: &str) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let res = reqwest::get(url).await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    })
}

#[test]
fn dev_demo_serves_then_drains_on_sigterm() {
    support_testkit::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (mut running, base) = start_dev(dir.path());
    assert_eq!(get(&format!("{base}/healthz")).0, 200);
    assert_eq!(get(&format!("{base}/readyz")).0, 200);
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/demo.json")).unwrap()).unwrap();
    assert_eq!(demo["base_url"], base.as_str());
    for key in [
        "front_signing_secret",
        "slack_signing_secret",
        "stripe_webhook_secret",
        "api_token",
    ] {
        assert!(demo[key].as_str().is_some_and(|s| s.len() >= 16), "{key}");
    }
    assert_eq!(demo["apps"].as_array().unwrap().len(), 3);
    assert!(demo["admin"]["password"].as_str().is_some());

    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = running.child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");

    // A restart reuses the same demo state (secrets stay valid) and the same database.
    let (_again, base2) = start_dev(dir.path());
    let demo2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/demo.json")).unwrap()).unwrap();
    assert_eq!(demo2["api_token"], demo["api_token"]);
    assert_eq!(demo2["base_url"], base2.as_str());
    assert_eq!(get(&format!("{base2}/readyz")).0, 200);
}

#[test]
fn bad_settings_fail_with_one_line_naming_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = skill(dir.path())
        .args(["config", "show"])
        .env("SUPPORT_LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("log.format") && err.contains("SUPPORT_LOG__FORMAT"),
        "{err}"
    );

    std::fs::write(dir.path().join("support.toml"), "bind = 42\n").unwrap();
    let out = skill(dir.path()).args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("`bind`") && err.contains("support.toml"),
        "{err}"
    );

    let out = skill(dir.path())
        .args(["dev", "--bind", "127.0.0.1:0"])
        .env_remove("SUPPORT_MASTER_KEY")
        .output()
        .unwrap();
    // support.toml is still invalid: settings fail before anything starts.
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(dir.path().join("support.toml")).unwrap();
    let out = skill(dir.path())
        .args(["dev", "--bind", "127.0.0.1:0", "--data-dir", "d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no master key outside --demo");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("master_key")
    );
}

#[test]
fn config_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = skill(dir.path())
        .args(["config", "show", "--json"])
        .env(
            "SUPPORT_DATABASE_URL",
            "postgres://app:hunter2@db.internal/support",
        )
        .env("SUPPORT_SLACK__BOT_TOKEN", "xoxb-very-secret")
        .env("INNGEST_SIGNING_KEY", "signkey-prod-abcdef")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for secret in ["hunter2", "xoxb-very-secret", "signkey-prod-abcdef"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["database_backend"], "postgres");
    assert_eq!(v["slack"]["bot_token"], "[redacted]");
    assert_eq!(v["bind"], "127.0.0.1:4100");
    // Human output is TOML.
    let out = skill(dir.path()).args(["config", "show"]).output().unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("bind = \"127.0.0.1:4100\"")
    );
}

#[test]
fn tokens_create_works_against_the_running_server() {
    support_testkit::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (_running, base) = start_dev(dir.path());
    let out = skill(dir.path())
        .args([
            "tokens", "create", "--name", "ops", "--role", "agent", "--json",
        ])
        .env("SUPPORT_DATA_DIR", "data")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let who: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/api/v1/whoami"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(who["role"], "agent");
    let bad = skill(dir.path())
        .args(["tokens", "create", "--name", "x", "--role", "root"])
        .env("SUPPORT_DATA_DIR", "data")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let verify = skill(dir.path())
        .args(["audit", "verify", "--json"])
        .env("SUPPORT_DATA_DIR", "data")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let health = skill(dir.path())
        .args(["health"])
        .env("SUPPORT_DATA_DIR", "data")
        .output()
        .unwrap();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stdout)
    );
}
