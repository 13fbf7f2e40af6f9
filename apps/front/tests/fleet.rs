//! A mixed fleet on one store: web-only instances record Front's webhooks and never consume
//! the events; the standalone `support-front` binary, started with its defaults, runs the
//! platform's functions (the same as `skill dev`). Killed with `kill -9` mid-way and started
//! again, it finishes every conversation with exactly one run and one draft.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use support_front::sandbox::{NewMessage, WebhookTarget};
use support_steps::RunFilter;
use support_testkit::{SkillProcess, TestApp, TestBackend};

const SUPPORT_FRONT: &str = env!("CARGO_BIN_EXE_support-front");
const CONVERSATIONS: usize = 200;

/// The settings a standalone binary needs to join the TestApp's fleet (same database, data
/// directory, master key, Front and Front signing secret).
fn fleet_env(app: &TestApp) -> Vec<(String, String)> {
    let s = &app.platform.settings;
    let master_key = std::fs::read_to_string(app.data_dir().join("master.key")).unwrap();
    vec![
        ("SUPPORT_BIND".into(), "127.0.0.1:0".into()),
        ("SUPPORT_DATABASE_URL".into(), app.database_url()),
        (
            "SUPPORT_DATA_DIR".into(),
            app.data_dir().display().to_string(),
        ),
        ("SUPPORT_MASTER_KEY".into(), master_key.trim().to_string()),
        ("SUPPORT_FRONT__API_URL".into(), s.front.api_url.clone()),
        (
            "SUPPORT_FRONT__API_TOKEN".into(),
            s.front.api_token.as_ref().unwrap().expose().to_string(),
        ),
        (
            "SUPPORT_FRONT__SIGNING_SECRETS".into(),
            format!("[\"{}\"]", app.demo.front_signing_secret),
        ),
        ("SUPPORT_RUNNER_LEASE_SECS".into(), "2".into()),
        ("SUPPORT_LOG__FILTER".into(), "error".into()),
    ]
}

fn start(app: &TestApp, extra: &[(&str, &str)]) -> SkillProcess {
    let env = fleet_env(app);
    let mut envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    envs.extend_from_slice(extra);
    SkillProcess::start(SUPPORT_FRONT, app.data_dir(), &[], &envs)
}

async fn inbound_runs(app: &TestApp) -> Vec<support_steps::RunSummary> {
    app.platform
        .engine
        .list_runs(&RunFilter {
            function_id: Some("support-inbound".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn mixed_fleet(backend: TestBackend) {
    // The TestApp is one more web-only instance: it seeds the demo, serves the demo app's SDK
    // endpoint, and lets the test read the store; it runs nothing.
    let Some(app) = TestApp::spawn_with(backend, |s| s.worker = false).await else {
        support_testkit::skip_notice("the Postgres fleet", "TEST_DATABASE_URL");
        return;
    };
    let intake = start(&app, &[("SUPPORT_WORKER", "false")]);
    assert!(
        intake.banner.iter().any(|l| l.contains("routes:")),
        "the binary lists its routes: {:?}",
        intake.banner
    );
    app.front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", intake.base_url),
        secret: app.demo.front_signing_secret.clone(),
    });
    let inbox = app.demo.apps[0].front_inbox_id.clone();
    let customers = [
        "kyle.dunmore@example.com",
        "marcus.lee@example.com",
        "j.schreiber@example.com",
        "v.santos@example.net",
    ];
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    for i in 0..CONVERSATIONS {
        let d = app
            .front
            .deliver(NewMessage {
                conversation_id: None,
                inbox_id: inbox.clone(),
                from: customers[i % customers.len()].into(),
                from_name: None,
                reply_to: None,
                subject: "Login link".into(),
                body: "Hi, my login link never arrives. Could you send me a new one?".into(),
                inbound: true,
            })
            .await
            .unwrap();
        assert_eq!(d.webhook_status, Some(200), "webhook {i} acknowledged");
        conversations.push(d.conversation_id);
    }
    // Web-only instances recorded every event and consumed none.
    let early = inbound_runs(&app).await;
    assert!(
        early.is_empty(),
        "a web-only instance started runs: {:?}",
        early
            .iter()
            .map(|r| (&r.function_id, &r.status, &r.event.name))
            .take(3)
            .collect::<Vec<_>>()
    );
    let drafted = |convs: &[String]| {
        convs
            .iter()
            .map(|c| app.front.drafts(c).len())
            .collect::<Vec<_>>()
    };
    assert!(drafted(&conversations).iter().all(|n| *n == 0));

    // A worker: the standalone binary with its defaults. Kill it once some drafts exist.
    let mut changes = app.front.subscribe();
    let worker = start(&app, &[]);
    let until = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = drafted(&conversations).iter().filter(|n| **n >= 1).count();
        if done >= CONVERSATIONS / 4 {
            break;
        }
        assert!(
            tokio::time::timeout_at(until, changes.changed())
                .await
                .is_ok(),
            "the worker drafted only {done} conversations"
        );
    }
    worker.kill_9();
    let at_kill = drafted(&conversations).iter().filter(|n| **n >= 1).count();
    eprintln!("killed the worker with {at_kill} of {CONVERSATIONS} conversations drafted");

    // Started again, it finishes the rest once the dead worker's leases lapse.
    let _worker = start(&app, &[]);
    let until = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let counts = drafted(&conversations);
        assert!(
            counts.iter().all(|n| *n <= 1),
            "a conversation got a second draft"
        );
        if counts.iter().all(|n| *n == 1) {
            break;
        }
        let done = counts.iter().filter(|n| **n == 1).count();
        assert!(
            tokio::time::timeout_at(until, changes.changed())
                .await
                .is_ok(),
            "only {done} of {CONVERSATIONS} conversations were drafted"
        );
    }
    // One run per webhook, none twice.
    let runs = inbound_runs(&app).await;
    assert_eq!(runs.len(), CONVERSATIONS, "one run per webhook");
    let mut events: Vec<String> = runs.iter().map(|r| r.event.id.clone()).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), CONVERSATIONS, "no event ran twice");
    assert!(at_kill < CONVERSATIONS, "the kill interrupted nothing");
    drop(intake);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_on_sqlite_loses_no_webhook_and_runs_none_twice() {
    mixed_fleet(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_on_postgres_loses_no_webhook_and_runs_none_twice() {
    mixed_fleet(TestBackend::Postgres).await;
}

#[test]
fn help_prints_usage_and_routes_instead_of_serving() {
    let out = std::process::Command::new(SUPPORT_FRONT)
        .arg("--help")
        .env("SUPPORT_BIND", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Usage: support-front"), "{text}");
    assert!(text.contains("POST /webhooks/front"), "{text}");
    assert!(
        !text.contains("/slack/interactions"),
        "only its own routes: {text}"
    );
    assert!(
        !text.contains("listening"),
        "it did not start a server: {text}"
    );
    let bad = std::process::Command::new(SUPPORT_FRONT)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
