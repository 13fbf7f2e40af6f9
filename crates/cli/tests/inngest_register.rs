//! `POST /fn/register` (SDK apps on the embedded runner) cannot be used to take over the
//! platform: it needs the signing key, a remote function can never take a local function's id,
//! runtime URLs on private addresses are refused outside dev mode, and the calls to an SDK app
//! follow no redirect and cap its reply.
#![allow(clippy::unwrap_used)]

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support_core::settings::{Secret, Settings};
use support_host::host::{self, BuildOptions};
use support_steps::server::ServerConfig;
use support_steps::store::AppRecord;
use support_steps::{Event, RunStatus};
use support_testkit::{TestApp, TestBackend, init_crypto};

const WAIT: Duration = Duration::from_secs(30);
/// The cap the reply tests run with.
const CAP: usize = 64 * 1024;

/// A fake SDK app: counts the calls per `fnId` (and to `/target`), and answers per function:
/// `*-ok` a small result, `*-big` a reply over [`CAP`] with a content length, `*-stream` one
/// without (chunked), `*-redirect` a 302 to `/target`, anything else `{"hijacked": true}`.
#[derive(Clone, Default)]
struct FakeSdk {
    calls: Arc<Mutex<HashMap<String, usize>>>,
    base: String,
}

impl FakeSdk {
    async fn start() -> FakeSdk {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeSdk {
            calls: Arc::default(),
            base: format!("http://{}", listener.local_addr().unwrap()),
        };
        let router = axum::Router::new()
            .route("/api/inngest", axum::routing::post(sdk_call))
            .route("/target", axum::routing::any(target))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        fake
    }

    fn calls(&self, key: &str) -> usize {
        self.calls.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    /// A `/fn/register` body for app `app` with `(fn id, event)` functions, all served here.
    fn registration(&self, app: &str, functions: &[(&str, &str)]) -> Value {
        registration(app, &self.base, functions)
    }
}

fn registration(app: &str, base: &str, functions: &[(&str, &str)]) -> Value {
    json!({
        "url": format!("{base}/api/inngest"),
        "appName": app,
        "deployType": "ping",
        "sdk": "js:v3.54.2",
        "v": "0.1",
        "framework": "express",
        "functions": functions.iter().map(|(id, event)| {
            let full = if id.starts_with(&format!("{app}-")) { id.to_string() } else { format!("{app}-{id}") };
            json!({
                "id": id,
                "name": id,
                "triggers": [{"event": event}],
                "steps": {"step": {
                    "id": "step",
                    "name": "step",
                    "runtime": {"type": "http", "url": format!("{base}/api/inngest?fnId={full}&stepId=step")},
                    "retries": {"attempts": 0},
                }},
            })
        }).collect::<Vec<_>>(),
    })
}

async fn sdk_call(State(f): State<FakeSdk>, Query(q): Query<HashMap<String, String>>) -> Response {
    let id = q.get("fnId").cloned().unwrap_or_default();
    *f.calls.lock().unwrap().entry(id.clone()).or_default() += 1;
    if id.ends_with("-ok") {
        axum::Json(json!({"ok": true})).into_response()
    } else if id.ends_with("-big") {
        let big = "x".repeat(CAP * 4);
        axum::Json(json!({ "big": big })).into_response()
    } else if id.ends_with("-stream") {
        let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096]));
        (
            [("content-type", "application/json")],
            axum::body::Body::from_stream(futures::stream::iter(chunks)),
        )
            .into_response()
    } else if id.ends_with("-redirect") {
        (
            axum::http::StatusCode::FOUND,
            [("location", format!("{}/target", f.base))],
        )
            .into_response()
    } else {
        axum::Json(json!({"hijacked": true})).into_response()
    }
}

async fn target(State(f): State<FakeSdk>) -> Response {
    *f.calls.lock().unwrap().entry("/target".into()).or_default() += 1;
    axum::Json(json!({"redirected": true})).into_response()
}

/// POST `/fn/register` with `bearer` (if any); returns the status and the JSON body.
async fn register(app: &TestApp, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.client.post(app.url("/fn/register")).json(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The bearer of the demo's generated signing key.
fn bearer_of(app: &TestApp) -> String {
    support_steps::signing::bearer(&app.demo.inngest_signing_key)
}

fn trusting_loopback(s: &mut Settings) {
    s.inngest.allowed_hosts = vec!["127.0.0.1".into()];
    s.inngest.max_reply_bytes = CAP as u64;
}

#[tokio::test]
async fn the_demo_generates_a_signing_key_and_registration_needs_it() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, trusting_loopback)
        .await
        .unwrap();
    let key = &app.demo.inngest_signing_key;
    let hex = key
        .strip_prefix("signkey-demo-")
        .expect("Inngest's key format");
    assert_eq!(hex.len(), 64, "{key}");
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    let fake = FakeSdk::start().await;
    let body = fake.registration("billing", &[("sync", "billing/sync")]);
    for bearer in [
        None,
        Some("signkey-demo-00"),
        Some(key.as_str()), // the key itself is not its bearer
        Some(""),
    ] {
        let (status, out) = register(&app, bearer, &body).await;
        assert_eq!(status, 401, "{bearer:?}: {out}");
        assert_eq!(out["code"], "invalid_signing_key", "{out}");
    }
    assert!(
        app.platform
            .engine
            .store()
            .list_apps()
            .await
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    assert!(
        !app.platform
            .engine
            .functions()
            .iter()
            .any(|f| f.id == "billing-sync")
    );
    // With the bearer: accepted, under the app's namespace.
    let (status, out) = register(&app, Some(&bearer_of(&app)), &body).await;
    assert_eq!(status, 200, "{out}");
    assert!(
        app.platform
            .engine
            .functions()
            .iter()
            .any(|f| f.id == "billing-sync")
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_signing_key_registration_is_disabled() {
    init_crypto();
    let db = support_testkit::TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(Secret::new(db.url.clone())),
        master_key: Some(Secret::new(support_core::crypto::MasterKey::generate().1)),
        shutdown_grace_secs: 1,
        ..Settings::default()
    };
    assert!(settings.inngest.signing_key.is_none());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (notify, rx) = tokio::sync::watch::channel(false);
    let platform = host::build(settings, addr, rx, BuildOptions::default())
        .await
        .unwrap();
    let engine = platform.engine.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(host::serve(
        platform,
        listener,
        &[],
        async move {
            let _ = stopped.await;
        },
        notify,
    ));
    let body = registration(
        "support",
        "http://127.0.0.1:9",
        &[("inbound", "support/inbound.received")],
    );
    let client = reqwest::Client::new();
    for bearer in [None, Some("anything")] {
        let mut req = client
            .post(format!("http://{addr}/fn/register"))
            .json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 503);
        let out: Value = res.json().await.unwrap();
        assert_eq!(out["code"], "registration_disabled", "{out}");
        assert!(
            out["error"].as_str().unwrap().contains("signing key"),
            "{out}"
        );
    }
    assert!(engine.store().list_apps().await.unwrap().is_empty());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Deliver an inbound email and check that the local workflow handled it: its run of
/// `support-inbound` completed and left one draft.
async fn inbound_runs_locally(app: &TestApp) {
    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Login link",
            "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
        ))
        .await
        .unwrap();
    let run = app
        .settled_run(
            &d.event_id,
            &[RunStatus::Completed, RunStatus::Failed],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(run.run.function_id, "support-inbound");
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(app.front.drafts(&d.conversation_id).len(), 1);
}

#[tokio::test]
async fn a_remote_app_cannot_shadow_the_inbound_workflow() {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, trusting_loopback).await else {
            support_testkit::skip_notice("Postgres", "TEST_DATABASE_URL");
            continue;
        };
        let fake = FakeSdk::start().await;
        let bearer = bearer_of(&app);
        // `support` + `inbound`, or the full id: both would be `support-inbound`.
        for id in ["inbound", "support-inbound"] {
            let body = fake.registration("support", &[(id, "support/inbound.received")]);
            let (status, out) = register(&app, Some(&bearer), &body).await;
            assert_eq!(status, 400, "{id}: {out}");
            assert_eq!(out["code"], "function_id_conflict", "{out}");
        }
        // A legitimate function beside it does not smuggle the other in.
        let body = fake.registration(
            "support",
            &[
                ("nightly", "support/nightly"),
                ("inbound", "support/inbound.received"),
            ],
        );
        let (status, out) = register(&app, Some(&bearer), &body).await;
        assert_eq!(
            (status, &out["code"]),
            (400, &json!("function_id_conflict"))
        );
        let store = app.platform.engine.store();
        assert!(store.list_apps().await.unwrap().is_empty());
        // Another app cannot take an id that an app already has either (`billing` +
        // `sync-x` and `billing-sync` + `x` are both `billing-sync-x`).
        let (status, out) = register(
            &app,
            Some(&bearer),
            &fake.registration("billing", &[("sync-x", "billing/sync")]),
        )
        .await;
        assert_eq!(status, 200, "{out}");
        let (status, out) = register(
            &app,
            Some(&bearer),
            &fake.registration("billing-sync", &[("x", "x/y")]),
        )
        .await;
        assert_eq!(
            (status, &out["code"]),
            (400, &json!("function_id_conflict"))
        );

        inbound_runs_locally(&app).await;
        assert_eq!(fake.total(), 0, "the fake SDK app was never called");

        // An app stored earlier (before this check existed) is skipped when loaded.
        store
            .upsert_app(&AppRecord {
                id: "support".into(),
                url: format!("{}/api/inngest", fake.base),
                sdk: None,
                framework: None,
                functions: fake.registration("support", &[("inbound", "support/inbound.received")])
                    ["functions"]
                    .clone(),
                updated_at: 0,
            })
            .await
            .unwrap();
        app.platform
            .engine
            .load_sdk_apps(&ServerConfig {
                signing_key: Some(app.demo.inngest_signing_key.clone()),
                allowed_hosts: vec!["127.0.0.1".into()],
                ..Default::default()
            })
            .await
            .unwrap();
        inbound_runs_locally(&app).await;
        assert_eq!(fake.total(), 0, "the stored app did not take over");
        app.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn private_runtime_urls_are_refused_outside_dev_mode() {
    let app = TestApp::spawn().await;
    let bearer = bearer_of(&app);
    for base in [
        "http://127.0.0.1:3000",
        "http://localhost:3000",
        "http://app.localhost",
        "http://[::1]:3000",
        "http://[::ffff:127.0.0.1]",
        "http://169.254.169.254",
        "http://10.0.0.7",
        "http://172.16.0.1",
        "http://192.168.1.1",
        "http://100.64.0.1",
        "http://0.0.0.0",
        "http://[fd00::1]",
        "http://[fe80::1]",
    ] {
        let body = registration("ext", base, &[("job", "ext/job")]);
        let (status, out) = register(&app, Some(&bearer), &body).await;
        assert_eq!(status, 400, "{base}: {out}");
        assert_eq!(out["code"], "runtime_url_not_allowed", "{base}: {out}");
    }
    // A public app URL whose function points at a private address.
    let mut body = registration("ext", "http://8.8.8.8", &[("job", "ext/job")]);
    body["functions"][0]["steps"]["step"]["runtime"]["url"] =
        json!("http://169.254.169.254/latest/meta-data?fnId=ext-job&stepId=step");
    let (status, out) = register(&app, Some(&bearer), &body).await;
    assert_eq!(
        (status, &out["code"]),
        (400, &json!("runtime_url_not_allowed"))
    );
    let (status, out) = register(
        &app,
        Some(&bearer),
        &registration("ext", "file:///etc", &[("job", "ext/job")]),
    )
    .await;
    assert_eq!((status, &out["code"]), (400, &json!("invalid_runtime_url")));
    assert!(
        app.platform
            .engine
            .store()
            .list_apps()
            .await
            .unwrap()
            .is_empty()
    );
    // A public address is accepted (registration calls nothing).
    let (status, out) = register(
        &app,
        Some(&bearer),
        &registration("ext", "http://8.8.8.8", &[("job", "ext/job")]),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    app.shutdown().await.unwrap();

    // In dev mode, loopback is fine (still with the key).
    let app = TestApp::spawn_with(TestBackend::Sqlite, |s| s.inngest.dev = Some("1".into()))
        .await
        .unwrap();
    let body = registration("ext", "http://127.0.0.1:3000", &[("job", "ext/job")]);
    let (status, out) = register(&app, None, &body).await;
    assert_eq!((status, &out["code"]), (401, &json!("invalid_signing_key")));
    let (status, out) = register(&app, Some(&bearer_of(&app)), &body).await;
    assert_eq!(status, 200, "{out}");
    app.shutdown().await.unwrap();
}

/// Send `name` and wait for the one run it starts to end.
async fn run_of(app: &TestApp, name: &str) -> support_steps::RunDetail {
    let engine = &app.platform.engine;
    let id = engine.send_one(Event::new(name, json!({}))).await.unwrap();
    let runs = engine.wait_for_runs_of(&id, 1, WAIT).await.unwrap();
    engine.wait_for_run(&runs[0].id, WAIT).await.unwrap()
}

#[tokio::test]
async fn remote_steps_cap_the_reply_and_follow_no_redirect() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, trusting_loopback)
        .await
        .unwrap();
    let fake = FakeSdk::start().await;
    let body = fake.registration(
        "ext",
        &[
            ("ok", "ext/ok"),
            ("big", "ext/big"),
            ("stream", "ext/stream"),
            ("redirect", "ext/redirect"),
        ],
    );
    let (status, out) = register(&app, Some(&bearer_of(&app)), &body).await;
    assert_eq!(status, 200, "{out}");

    let d = run_of(&app, "ext/ok").await;
    assert_eq!(d.run.status, RunStatus::Completed, "{:?}", d.run.error);
    assert_eq!(d.run.output, Some(json!({"ok": true})));

    for (name, fn_id) in [("ext/big", "ext-big"), ("ext/stream", "ext-stream")] {
        let d = run_of(&app, name).await;
        assert_eq!(d.run.status, RunStatus::Failed, "{name}");
        let error = d.run.error.as_ref().unwrap().to_string();
        assert!(error.contains("limit"), "{name}: {error}");
        assert_eq!(fake.calls(fn_id), 1, "{name}: not retried");
    }

    let d = run_of(&app, "ext/redirect").await;
    assert_eq!(d.run.status, RunStatus::Failed);
    let error = d.run.error.as_ref().unwrap().to_string();
    assert!(error.contains("redirect"), "{error}");
    assert_eq!(fake.calls("ext-redirect"), 1);
    assert_eq!(fake.calls("/target"), 0, "the redirect was not followed");
    app.shutdown().await.unwrap();
}
