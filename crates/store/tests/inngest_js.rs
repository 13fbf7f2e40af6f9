//! Conformance against the official npm `inngest` SDK: the app in
//! `crates/steps/tests/inngest-js` syncs with our executor (`/fn/register`), is called with
//! signed requests, sends events to our Event API, and each scenario's outcome is checked.
//! Skipped (with a notice) when its node_modules are missing, unless SUPPORT_REQUIRE_NPM=1.
#![allow(clippy::unwrap_used)]

mod steps_common;

use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use steps_common::*;
use support_steps::event_api::{self, EventApiConfig};
use support_steps::server::ServerConfig;
use support_steps::store::RunStatus;
use support_steps::{Backoff, Engine, Event};
use tokio::io::{AsyncBufReadExt, BufReader};

const SIGNING_KEY: &str =
    "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
const EVENT_KEY: &str = "js-event-key";

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../steps/tests/inngest-js")
}

fn available() -> bool {
    let has_modules = app_dir().join("node_modules/inngest/package.json").exists();
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_modules && has_node {
        return true;
    }
    if std::env::var("SUPPORT_REQUIRE_NPM").as_deref() == Ok("1") {
        panic!(
            "inngest-js conformance required but node or node_modules is missing (run: npm ci --prefix crates/steps/tests/inngest-js)"
        );
    }
    eprintln!(
        "SKIPPED: inngest-js conformance (run: npm ci --prefix crates/steps/tests/inngest-js)"
    );
    false
}

async fn run_of(engine: &Engine, name: &str, data: serde_json::Value) -> String {
    let id = engine.send_one(Event::new(name, data)).await.unwrap();
    engine.wait_for_runs_of(&id, 1, T).await.unwrap()[0]
        .id
        .clone()
}

async fn wait_status(engine: &Engine, run_id: &str, status: RunStatus) {
    engine
        .wait_until(&format!("run {run_id} {status:?}"), T, || async {
            Ok(engine
                .get_run(run_id)
                .await?
                .filter(|d| d.run.status == status)
                .map(|_| ()))
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn inngest_js_sdk_conformance() {
    if !available() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    each_backend(|db| async move { conformance(db).await }).await;
}

async fn conformance(db: support_store::Db) {
    let engine = engine(&db, vec![]);
    let register = engine
        .serve_sdk_apps(ServerConfig {
            signing_key: Some(SIGNING_KEY.into()),
            // The node app listens on loopback; outside dev mode that must be allowed.
            allowed_hosts: vec!["127.0.0.1".into()],
            backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let app = register.merge(event_api::router(
        engine.clone(),
        EventApiConfig {
            event_keys: vec![EVENT_KEY.into()],
            dev: false,
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let runner = engine.start();

    let mut child = tokio::process::Command::new("node")
        .arg("app.js")
        .current_dir(app_dir())
        .env("INNGEST_BASE_URL", &base)
        .env("INNGEST_SIGNING_KEY", SIGNING_KEY)
        .env("INNGEST_EVENT_KEY", EVENT_KEY)
        .env("INNGEST_DEV", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(T, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(p) = line.strip_prefix("PORT=") {
                return p.trim().to_string();
            }
        }
        panic!("node exited before listening");
    })
    .await
    .expect("node app did not start");

    // Sync: PUT makes the SDK register with our /fn/register.
    let http = reqwest::Client::new();
    let res = http
        .put(format!("http://127.0.0.1:{port}/api/inngest"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "sync failed: {body}");
    let ids: Vec<String> = engine.functions().into_iter().map(|f| f.id).collect();
    assert!(ids.contains(&"conformance-serial".to_string()), "{ids:?}");

    // Serial steps.
    let run = run_of(&engine, "js/serial", json!({"n": 100})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.status, RunStatus::Completed, "{d:#?}");
    assert_eq!(d.run.output, Some(json!({"sum": 103})));
    assert_eq!(d.steps.len(), 2);
    assert_eq!(d.steps[0].hash, support_steps::hash::hash_step_id("a"));

    // Retry then success.
    let run = run_of(&engine, "js/flaky", json!({})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(
        d.run.output,
        Some(json!({"ok": true, "attempts": 3})),
        "{d:#?}"
    );

    // Non-retriable.
    let run = run_of(&engine, "js/strict", json!({})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.status, RunStatus::Failed, "{d:#?}");
    assert!(
        d.run
            .error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("bad input"),
        "{d:#?}"
    );

    // Sleep.
    let run = run_of(&engine, "js/sleep", json!({})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.status, RunStatus::Completed, "{d:#?}");
    assert!(
        d.run.output.as_ref().unwrap()["slept"].as_i64().unwrap() >= 1000,
        "{d:#?}"
    );

    // waitForEvent: an earlier event does not match; a later matching one does.
    engine
        .send_one(Event::new(
            "js/approval.decided",
            json!({"action_id": "a1", "decision": "early"}),
        ))
        .await
        .unwrap();
    let run = run_of(&engine, "js/approval.requested", json!({"action_id": "a1"})).await;
    wait_status(&engine, &run, RunStatus::Waiting).await;
    engine
        .send(vec![
            Event::new(
                "js/approval.decided",
                json!({"action_id": "a2", "decision": "rejected"}),
            ),
            Event::new(
                "js/approval.decided",
                json!({"action_id": "a1", "decision": "approved"}),
            ),
        ])
        .await
        .unwrap();
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(
        d.run.output,
        Some(json!({"decision": "approved"})),
        "{d:#?}"
    );

    // waitForEvent timing out.
    let run = run_of(
        &engine,
        "js/approval.requested",
        json!({"action_id": "a9", "timeout": "1s"}),
    )
    .await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.output, Some(json!({"decision": "expired"})), "{d:#?}");

    // sendEvent through our Event API triggers another function.
    let run = run_of(&engine, "js/start", json!({"n": 2})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.status, RunStatus::Completed, "{d:#?}");
    let ping = d.run.output.as_ref().unwrap()["ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let child_run = engine.wait_for_runs_of(&ping, 1, T).await.unwrap();
    let cd = engine.wait_for_run(&child_run[0].id, T).await.unwrap();
    assert_eq!(cd.run.output, Some(json!({"got": 2})));

    // Parallel steps.
    let run = run_of(&engine, "js/parallel", json!({})).await;
    let d = engine.wait_for_run(&run, T).await.unwrap();
    assert_eq!(d.run.output, Some(json!(6)), "{d:#?}");
    assert_eq!(d.steps.len(), 4);

    // cancelOn.
    let a = run_of(&engine, "js/job", json!({"id": "x"})).await;
    let b = run_of(&engine, "js/job", json!({"id": "z"})).await;
    wait_status(&engine, &a, RunStatus::Waiting).await;
    wait_status(&engine, &b, RunStatus::Waiting).await;
    engine
        .send_one(Event::new("js/cancel", json!({"id": "x"})))
        .await
        .unwrap();
    let d = engine.wait_for_run(&a, T).await.unwrap();
    assert_eq!(d.run.status, RunStatus::Cancelled);
    assert_eq!(
        engine.get_run(&b).await.unwrap().unwrap().run.status,
        RunStatus::Waiting
    );

    runner.shutdown().await;
    let _ = child.kill().await;
    server.abort();
}
