//! `/api/v1/kb/…` on SQLite and (with `TEST_DATABASE_URL`) Postgres: viewers read, agents and
//! admins write, admins reindex; bad input is `400 bad_request` in the JSON envelope (a body or
//! query that does not parse too); an import is one transaction (a bad file: nothing written)
//! and idempotent (an unchanged file changes nothing, a changed one is a new version).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use support_core::auth::Role;
use support_testkit::TestApp;

const APP: &str = "typescript-course";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    send(app, reqwest::Method::GET, Some(token), path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    send(
        app,
        reqwest::Method::POST,
        Some(token),
        path,
        Some(&body.to_string()),
    )
    .await
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

fn article(title: &str, body: &str) -> Value {
    json!({"app": APP, "title": title, "body": body, "tags": ["t"], "visibility": "public"})
}

#[tokio::test]
async fn roles_decide_who_reads_writes_and_reindexes() {
    for app in TestApp::each_backend().await {
        let viewer = app.token("kb-viewer", Role::Viewer).await;
        let agent = app.token("kb-agent", Role::Agent).await;
        let admin = app.token("kb-admin", Role::Admin).await;

        // No token, a bad token.
        let (s, v) = send(
            &app,
            reqwest::Method::GET,
            None,
            "/api/v1/kb/articles",
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (401, "unauthorized"), "{:?}", app.backend);
        let (s, v) = get(&app, "nope", "/api/v1/kb/articles").await;
        assert_eq!((s, code(&v)), (401, "unauthorized"));

        // Viewers read, never write; the role is checked before the body.
        let (s, _) = get(&app, &viewer, &format!("/api/v1/kb/articles?app={APP}")).await;
        assert_eq!(s, 200);
        let (s, v) = post(&app, &viewer, "/api/v1/kb/articles", article("V", "v")).await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, v) = send(
            &app,
            reqwest::Method::POST,
            Some(&viewer),
            "/api/v1/kb/articles",
            Some("{not json"),
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, v) = post(
            &app,
            &viewer,
            "/api/v1/kb/import",
            json!({"app": APP, "files": []}),
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));

        // Agents and admins write.
        let (s, a) = post(
            &app,
            &agent,
            "/api/v1/kb/articles",
            article("Gift cards", "Gift cards never expire."),
        )
        .await;
        assert_eq!(s, 201, "{a}");
        let id = a["article_id"].as_str().unwrap().to_string();
        assert_eq!(a["version"], 1);
        let (s, b) = send(
            &app,
            reqwest::Method::PUT,
            Some(&admin),
            &format!("/api/v1/kb/articles/{id}"),
            Some(&article("Gift cards", "Gift cards expire after 5 years.").to_string()),
        )
        .await;
        assert_eq!((s, b["version"].as_i64()), (200, Some(2)), "{b}");
        let (s, v) = send(
            &app,
            reqwest::Method::PUT,
            Some(&viewer),
            &format!("/api/v1/kb/articles/{id}"),
            Some(&article("Gift cards", "x").to_string()),
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));

        // Viewers read versions and search.
        let (s, shown) = get(&app, &viewer, &format!("/api/v1/kb/articles/{id}")).await;
        assert_eq!(s, 200);
        assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
        let (s, v1) = get(
            &app,
            &viewer,
            &format!("/api/v1/kb/articles/{id}/versions/1"),
        )
        .await;
        assert_eq!(
            (s, v1["body"].as_str()),
            (200, Some("Gift cards never expire."))
        );
        let (s, hits) = get(
            &app,
            &viewer,
            &format!("/api/v1/kb/search?app={APP}&q=do+gift+cards+expire"),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(hits["items"][0]["article_id"], id.as_str());
        assert_eq!(hits["items"][0]["version"], 2, "only the current version");

        // Only admins reindex.
        for t in [&viewer, &agent] {
            let (s, v) = post(&app, t, "/api/v1/kb/reindex", json!({})).await;
            assert_eq!((s, code(&v)), (403, "forbidden"));
        }
        let (s, v) = post(&app, &admin, "/api/v1/kb/reindex", json!({})).await;
        assert_eq!(s, 200);
        assert!(v["chunks"].as_u64().unwrap() > 0);
        assert_eq!(v["mode"], "ok", "{v}");
        let (s, v) = get(&app, &viewer, "/api/v1/kb/status").await;
        assert_eq!((s, v["mode"].as_str()), (200, Some("ok")), "{v}");

        // Removal: viewers may not; an agent may; then it is gone from search.
        let (s, v) = send(
            &app,
            reqwest::Method::DELETE,
            Some(&viewer),
            &format!("/api/v1/kb/articles/{id}"),
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, _) = send(
            &app,
            reqwest::Method::DELETE,
            Some(&agent),
            &format!("/api/v1/kb/articles/{id}"),
            None,
        )
        .await;
        assert_eq!(s, 204);
        let (_, hits) = get(
            &app,
            &viewer,
            &format!("/api/v1/kb/search?app={APP}&q=gift+cards"),
        )
        .await;
        assert!(
            hits["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["article_id"] != id.as_str())
        );
        let kinds: Vec<String> = ["kb.article_written", "kb.article_removed"]
            .iter()
            .map(|k| k.to_string())
            .collect();
        for k in kinds {
            assert!(!app.audit_of(&k).await.is_empty(), "audited {k}");
        }
    }
}

#[tokio::test]
async fn bad_input_has_a_stable_code() {
    for app in TestApp::each_backend().await {
        let agent = app.token("kb-agent", Role::Agent).await;
        let cases: Vec<(reqwest::Method, String, Option<String>, u16, &str)> = vec![
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some("{not json".into()),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some(json!({"app": APP, "body": "b"}).to_string()),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some(json!({"app": APP, "title": " ", "body": "b"}).to_string()),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some(json!({"title": "t", "body": "b"}).to_string()),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some(json!({"app": "Not A Slug", "title": "t", "body": "b"}).to_string()),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/articles".into(),
                Some(
                    json!({"app": APP, "title": "t", "body": "b", "visibility": "secret"})
                        .to_string(),
                ),
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/kb/articles?app=Not%20A%20Slug".into(),
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                format!("/api/v1/kb/search?app={APP}"),
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                format!("/api/v1/kb/search?app={APP}&q=x&limit=0"),
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                format!("/api/v1/kb/search?app={APP}&q=x&limit=many"),
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/kb/articles/art_missing".into(),
                None,
                404,
                "not_found",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/kb/articles/art_missing/versions/abc".into(),
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/kb/articles/art_missing/versions/1".into(),
                None,
                404,
                "not_found",
            ),
            (
                reqwest::Method::PUT,
                "/api/v1/kb/articles/art_missing".into(),
                Some(article("t", "b").to_string()),
                404,
                "not_found",
            ),
            (
                reqwest::Method::DELETE,
                "/api/v1/kb/articles/art_missing".into(),
                None,
                404,
                "not_found",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/kb/import".into(),
                Some(json!({"app": APP}).to_string()),
                400,
                "bad_request",
            ),
        ];
        for (method, path, body, status, want) in cases {
            let (s, v) = send(&app, method.clone(), Some(&agent), &path, body.as_deref()).await;
            assert_eq!(
                (s, code(&v)),
                (status, want),
                "{method} {path} {body:?} on {:?}: {v}",
                app.backend
            );
            assert!(v["error"]["message"].is_string());
        }
    }
}

#[tokio::test]
async fn an_import_is_one_transaction_and_idempotent() {
    for app in TestApp::each_backend().await {
        let agent = app.token("kb-agent", Role::Agent).await;
        let count = |v: &Value| v["items"].as_array().map_or(0, Vec::len);
        let (_, before) = get(&app, &agent, &format!("/api/v1/kb/articles?app={APP}")).await;
        let good_a = json!({"name": "a.md", "content": "---\ntitle: Shipping\ntags: [ship]\n---\nWe ship worldwide within 3 days.\n"});
        let good_b = json!({"name": "b.html", "content": "<h1>Returns</h1><p>Returns are free for 60 days.</p>"});
        let bad = json!({"name": "bad.md", "content": "---\ntitle: [unclosed\n---\nbody\n"});

        // One bad file: nothing imported, the file named with its line.
        let (s, v) = post(
            &app,
            &agent,
            "/api/v1/kb/import",
            json!({"app": APP, "files": [good_a, bad, good_b]}),
        )
        .await;
        assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("api:bad.md:"), "{msg}");
        let (_, after) = get(&app, &agent, &format!("/api/v1/kb/articles?app={APP}")).await;
        assert_eq!(count(&after), count(&before), "nothing half-imported");

        // Good files: created; again: unchanged; one changed: a new version of that one.
        let files = json!({"app": APP, "files": [good_a, good_b]});
        let (s, r) = post(&app, &agent, "/api/v1/kb/import", files.clone()).await;
        assert_eq!(
            (s, &r["created"], &r["unchanged"]),
            (200, &json!(2), &json!(0)),
            "{r}"
        );
        let (s, r) = post(&app, &agent, "/api/v1/kb/import", files).await;
        assert_eq!(
            (s, &r["created"], &r["updated"], &r["unchanged"]),
            (200, &json!(0), &json!(0), &json!(2)),
            "{r}"
        );
        let changed = json!({"name": "a.md", "content": "---\ntitle: Shipping\ntags: [ship]\n---\nWe ship worldwide within 5 days.\n"});
        let (s, r) = post(
            &app,
            &agent,
            "/api/v1/kb/import",
            json!({"app": APP, "files": [changed, good_b]}),
        )
        .await;
        assert_eq!(
            (s, &r["updated"], &r["unchanged"]),
            (200, &json!(1), &json!(1)),
            "{r}"
        );
        let (_, list) = get(&app, &agent, &format!("/api/v1/kb/articles?app={APP}")).await;
        assert_eq!(count(&list), count(&before) + 2);
        let shipping = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"] == "Shipping")
            .unwrap();
        assert_eq!(shipping["current_version"], 2);
        let (_, hits) = get(
            &app,
            &agent,
            &format!("/api/v1/kb/search?app={APP}&q=how+many+days+to+ship+worldwide"),
        )
        .await;
        assert!(
            hits["items"][0]["text"]
                .as_str()
                .unwrap()
                .contains("5 days"),
            "{hits}"
        );
    }
}

/// An embedder that fails while the index is rebuilt: the platform answers from tantivy, and the
/// status (API) and the Knowledge page say so.
#[tokio::test]
async fn a_failing_embedder_at_rebuild_is_lexical_only_and_shown() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/v1", l.local_addr().unwrap().port())
    };
    let app = TestApp::spawn_with(support_testkit::TestBackend::Sqlite, move |s| {
        s.kb.embedder.kind = support_core::embed::EmbedderKind::Openai;
        s.kb.embedder.base_url = closed;
        s.kb.embedder.api_key = Some(support_core::settings::Secret::new("sk-x".to_string()));
        s.kb.embedder.model = "text-embedding-3-small".into();
    })
    .await
    .unwrap();
    let viewer = app.token("kb-viewer", Role::Viewer).await;
    // The first search rebuilds the index from the store: the embedder fails, tantivy answers.
    let (s, hits) = get(
        &app,
        &viewer,
        &format!("/api/v1/kb/search?app={APP}&q=refund"),
    )
    .await;
    assert_eq!(s, 200, "{hits}");
    assert!(!hits["items"].as_array().unwrap().is_empty(), "{hits}");
    let (s, v) = get(&app, &viewer, "/api/v1/kb/status").await;
    assert_eq!(
        (s, v["mode"].as_str()),
        (200, Some("lexical_fallback")),
        "{v}"
    );
    assert!(v["reason"].is_string(), "{v}");
    assert!(!app.audit_of("kb.lexical_fallback").await.is_empty());
    let page = app.login_as(Role::Viewer).await.page("/knowledge").await;
    assert!(page.contains("Lexical search only"), "{page}");
}
