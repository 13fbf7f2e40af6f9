//! Foundation end-to-end tests: health, readiness, metrics, errors, auth, audit, demo seeding.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use serde_json::Value;
use std::net::SocketAddr;
use support_core::registry;
use support_core::settings::{Secret, Settings};
use support_host::host::{self, BuildOptions};
use support_testkit::{TestApp, init_crypto};

async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

#[tokio::test]
async fn health_ready_and_metrics() {
    for app in TestApp::each_backend().await {
        let (status, body) = json(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["migrations"]["pending"], serde_json::json!([]));
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("http_requests_total"), "{metrics}");
        assert!(metrics.contains("route=\"/healthz\""), "{metrics}");
        app.shutdown().await.expect("graceful shutdown");
    }
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let app = TestApp::spawn().await;
    let (status, body) = json(
        app.client
            .get(app.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = json(app.client.post(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn api_requires_a_token_with_the_right_role() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1/apps"))
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let res = app
        .client
        .get(app.url("/api/v1/apps"))
        .bearer_auth("sup_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The demo admin token works and lists the three demo apps, without secrets.
    let (status, body) = json(app.api_get("/api/v1/apps").await).await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["ai-workshops", "tailwind-course", "typescript-course"]
    );
    assert!(
        !body.to_string().contains("secret"),
        "no secrets in the API: {body}"
    );

    // An admin mints a viewer token; the viewer can read but not mint.
    let res = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&app.demo.api_token)
        .json(&serde_json::json!({"name": "dash", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let (status, created) = json(res).await;
    assert_eq!(status, 200, "{created}");
    let viewer = created["token"].as_str().unwrap().to_string();
    let res = app
        .client
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await.1["role"], "viewer");
    let res = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let res = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&app.demo.api_token)
        .json(&serde_json::json!({"name": "x", "role": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await.0, 400);

    // The token list never shows values or hashes.
    let (_, list) = json(app.api_get("/api/v1/tokens").await).await;
    assert!(!list.to_string().contains(&viewer));
    assert!(!list.to_string().contains("hash"));
}

#[tokio::test]
async fn audit_api_lists_and_verifies_the_chain() {
    for app in TestApp::each_backend().await {
        let (status, body) = json(app.api_get("/api/v1/audit?kind=app.registered").await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["items"].as_array().unwrap().len(), 3);
        let (_, page) = json(
            app.api_get("/api/v1/audit?kind=app.registered&limit=2")
                .await,
        )
        .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let cursor = page["next_cursor"].as_i64().unwrap();
        let (_, rest) = json(
            app.api_get(&format!(
                "/api/v1/audit?kind=app.registered&cursor={cursor}"
            ))
            .await,
        )
        .await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            json(app.api_get("/api/v1/audit?limit=0").await).await.0,
            400
        );
        let (_, verify) = json(app.api_get("/api/v1/audit/verify").await).await;
        assert_eq!(verify["ok"], true, "{verify}");
        assert!(verify["rows"].as_i64().unwrap() >= 3);
    }
}

#[tokio::test]
async fn demo_secrets_are_sealed_at_rest() {
    let app = TestApp::spawn().await;
    assert_eq!(app.demo.base_url, app.base_url);
    assert_eq!(app.demo.apps.len(), 3);
    for demo_app in &app.demo.apps {
        let row = app
            .platform
            .store
            .get_app(&demo_app.slug)
            .await
            .unwrap()
            .expect("registered");
        assert!(!row.secrets_enc.contains(&demo_app.sdk_secret));
        let opened =
            registry::open_secrets(&app.platform.master_key, &row.slug, &row.secrets_enc).unwrap();
        assert_eq!(opened[0].secret, demo_app.sdk_secret);
        assert_eq!(row.front_inbox_ids, vec![demo_app.front_inbox_id.clone()]);
        assert!(row.sdk_base_url.ends_with("/demo-app/support"));
    }
    // Rotating the master key re-seals every app's secrets.
    let (new_key, _) = support_core::crypto::MasterKey::generate();
    let n = app
        .platform
        .registry
        .rotate_master_key(&app.platform.master_key, &new_key)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let row = app
        .platform
        .store
        .get_app("typescript-course")
        .await
        .unwrap()
        .unwrap();
    assert!(registry::open_secrets(&app.platform.master_key, &row.slug, &row.secrets_enc).is_err());
    assert!(registry::open_secrets(&new_key, &row.slug, &row.secrets_enc).is_ok());
}

#[tokio::test]
async fn unreachable_postgres_is_not_ready_with_a_503() {
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.data_dir = dir.path().to_path_buf();
    // Port 1 on loopback: nothing listens there, so connections are refused at once.
    settings.database_url = Some(Secret::new("postgres://postgres@127.0.0.1:1/test"));
    settings.master_key = Some(Secret::new(support_core::crypto::MasterKey::generate().1));
    // Nothing can drain against a database that is down; do not wait long for it.
    settings.shutdown_grace_secs = 1;
    // `/fn/register` needs a signing key (without one it refuses every registration).
    let signing_key =
        "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f";
    settings.inngest.signing_key = Some(Secret::new(signing_key));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (notify, rx) = tokio::sync::watch::channel(false);
    let platform = host::build(settings, addr, rx, BuildOptions::default())
        .await
        .expect("starts without a database");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(host::serve(
        platform,
        listener,
        support_cli::ALL_SERVICES,
        async move {
            let _ = stopped.await;
        },
        notify,
    ));
    let client = reqwest::Client::new();
    let res = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(
        !body.to_string().contains("127.0.0.1:1"),
        "causes are logged, not sent: {body}"
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // SDK apps can reach `/fn/register` (mounted without the database): told to sync again
    // later, with no database detail.
    let res = client
        .post(format!("http://{addr}/fn/register"))
        .bearer_auth(support_steps::signing::bearer(signing_key))
        .json(
            &serde_json::json!({"appName": "billing", "url": "http://127.0.0.1:9/api/inngest",
                                  "functions": []}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(body.contains("sync again later"), "{body}");
    assert!(!body.contains("127.0.0.1:1"), "{body}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn outside_demo_a_master_key_is_required() {
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.data_dir = dir.path().to_path_buf();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = host::build(
        settings,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        rx,
        BuildOptions::default(),
    )
    .await
    .err()
    .expect("no master key");
    assert!(err.to_string().contains("master_key"), "{err}");
}
