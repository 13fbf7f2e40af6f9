//! `/api/v1/canned…` on SQLite and (with `TEST_DATABASE_URL`) Postgres: viewers read, agents and
//! admins write (the kb API's role matrix, the role checked before the body), every edit is a
//! new version (old versions readable), `base_version` refuses a lost update with `409`, an
//! unknown `{{variable}}` is `400 unknown_template_variable`, a source that is no article
//! version is `400 unknown_article_version`, and a response citing an article goes stale when
//! the article changes.
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

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

fn canned(name: &str, body: &str) -> Value {
    json!({"app": APP, "name": name, "trigger": "login link|magic link", "body": body})
}

#[tokio::test]
async fn roles_versions_templates_and_staleness() {
    for app in TestApp::each_backend().await {
        let viewer = app.token("canned-viewer", Role::Viewer).await;
        let agent = app.token("canned-agent", Role::Agent).await;
        let admin = app.token("canned-admin", Role::Admin).await;
        use reqwest::Method as M;

        // No token, a bad token.
        let (s, v) = send(&app, M::GET, None, "/api/v1/canned", None).await;
        assert_eq!((s, code(&v)), (401, "unauthorized"), "{:?}", app.backend);
        let (s, v) = send(&app, M::GET, Some("nope"), "/api/v1/canned", None).await;
        assert_eq!((s, code(&v)), (401, "unauthorized"));

        // Viewers read, never write; the role is checked before the body.
        let (s, _) = send(&app, M::GET, Some(&viewer), "/api/v1/canned", None).await;
        assert_eq!(s, 200);
        let body = canned("Login", "Hi {{first_name}}, here is a new link.").to_string();
        let (s, v) = send(&app, M::POST, Some(&viewer), "/api/v1/canned", Some(&body)).await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, v) = send(
            &app,
            M::POST,
            Some(&viewer),
            "/api/v1/canned",
            Some("{nope"),
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));

        // Bad input, with stable codes; nothing written.
        let (s, v) = send(&app, M::POST, Some(&agent), "/api/v1/canned", Some("{nope")).await;
        assert_eq!((s, code(&v)), (400, "bad_request"));
        let bad = canned("Login", "Hi {{nickname}}").to_string();
        let (s, v) = send(&app, M::POST, Some(&agent), "/api/v1/canned", Some(&bad)).await;
        assert_eq!((s, code(&v)), (400, "unknown_template_variable"), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("nickname"));
        let bad = canned("Login", "Hi {{first_name").to_string();
        let (s, v) = send(&app, M::POST, Some(&agent), "/api/v1/canned", Some(&bad)).await;
        assert_eq!((s, code(&v)), (400, "bad_template"));
        let bad =
            json!({"app": "Not A Slug", "name": "n", "trigger": "t", "body": "b"}).to_string();
        let (s, v) = send(&app, M::POST, Some(&agent), "/api/v1/canned", Some(&bad)).await;
        assert_eq!((s, code(&v)), (400, "bad_request"));
        let bad = json!({"app": APP, "name": "n", "trigger": "t", "body": "b",
                         "sources": [{"article_id": "art_missing", "version": 1}]})
        .to_string();
        let (s, v) = send(&app, M::POST, Some(&agent), "/api/v1/canned", Some(&bad)).await;
        assert_eq!((s, code(&v)), (400, "unknown_article_version"), "{v}");
        let (_, list) = send(&app, M::GET, Some(&viewer), "/api/v1/canned", None).await;
        assert_eq!(support_testkit::own_canned(&list).len(), 0, "{list}");

        // An article to cite.
        let (s, a) = send(
            &app,
            M::POST,
            Some(&agent),
            "/api/v1/kb/articles",
            Some(
                &json!({"app": APP, "title": "Login links", "body": "Links last 24 hours."})
                    .to_string(),
            ),
        )
        .await;
        assert_eq!(s, 201, "{a}");
        let art = a["article_id"].as_str().unwrap().to_string();

        // Agents write; the response cites the article's version 1.
        let mut first = canned("Login", "Hi {{first_name}}, links last 24 hours.");
        first["sources"] = json!([{"article_id": art, "version": 1}]);
        let (s, c) = send(
            &app,
            M::POST,
            Some(&agent),
            "/api/v1/canned",
            Some(&first.to_string()),
        )
        .await;
        assert_eq!((s, c["version"].as_i64()), (201, Some(1)), "{c}");
        let id = c["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/canned/{id}");

        // Admins write too: a new version; the old one stays readable.
        let mut second = canned("Login", "Hi {{first_name}}, {{product}} links last a day.");
        second["sources"] = json!([{"article_id": art, "version": 1}]);
        second["base_version"] = json!(1);
        let (s, c) = send(&app, M::PUT, Some(&admin), &path, Some(&second.to_string())).await;
        assert_eq!(
            (s, c["version"].as_i64(), c["kind"].as_str()),
            (200, Some(2), Some("updated")),
            "{c}"
        );
        // The same again: nothing new.
        second["base_version"] = json!(2);
        let (s, c) = send(&app, M::PUT, Some(&agent), &path, Some(&second.to_string())).await;
        assert_eq!((s, c["kind"].as_str()), (200, Some("unchanged")));
        // Based on version 1: a conflict.
        let mut stale_edit = canned("Login", "lost");
        stale_edit["base_version"] = json!(1);
        let (s, v) = send(
            &app,
            M::PUT,
            Some(&agent),
            &path,
            Some(&stale_edit.to_string()),
        )
        .await;
        assert_eq!((s, code(&v)), (409, "conflict"));
        let (s, v) = send(
            &app,
            M::PUT,
            Some(&viewer),
            &path,
            Some(&stale_edit.to_string()),
        )
        .await;
        assert_eq!((s, code(&v)), (403, "forbidden"));

        let (s, shown) = send(&app, M::GET, Some(&viewer), &path, None).await;
        assert_eq!(s, 200);
        assert_eq!(shown["canned"]["current_version"], 2);
        assert_eq!(shown["canned"]["stale"], false);
        assert_eq!(
            shown["canned"]["variables"],
            json!(["first_name", "product"])
        );
        assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
        let (s, v1) = send(
            &app,
            M::GET,
            Some(&viewer),
            &format!("{path}/versions/1"),
            None,
        )
        .await;
        assert_eq!(
            (s, v1["body"].as_str()),
            (200, Some("Hi {{first_name}}, links last 24 hours."))
        );
        let (s, v) = send(
            &app,
            M::GET,
            Some(&viewer),
            &format!("{path}/versions/x"),
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "bad_request"));
        let (s, v) = send(
            &app,
            M::GET,
            Some(&viewer),
            &format!("{path}/versions/9"),
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (404, "not_found"));
        let (s, list) = send(
            &app,
            M::GET,
            Some(&viewer),
            &format!("/api/v1/canned?app={APP}"),
            None,
        )
        .await;
        assert_eq!((s, support_testkit::own_canned(&list).len()), (200, 1));
        let (_, list) = send(
            &app,
            M::GET,
            Some(&viewer),
            "/api/v1/canned?app=ai-workshops",
            None,
        )
        .await;
        assert_eq!(
            support_testkit::own_canned(&list).len(),
            0,
            "another app's list"
        );
        let (s, v) = send(
            &app,
            M::GET,
            Some(&viewer),
            "/api/v1/canned?app=Bad%20Slug",
            None,
        )
        .await;
        assert_eq!((s, code(&v)), (400, "bad_request"));

        // The article changes: the response is stale, and the router no longer reads it.
        let (s, _) = send(
            &app,
            M::PUT,
            Some(&agent),
            &format!("/api/v1/kb/articles/{art}"),
            Some(&json!({"title": "Login links", "body": "Links last 1 hour."}).to_string()),
        )
        .await;
        assert_eq!(s, 200);
        let (_, shown) = send(&app, M::GET, Some(&viewer), &path, None).await;
        assert_eq!(shown["canned"]["stale"], true, "{shown}");
        assert!(
            app.platform
                .store
                .list_canned(Some(APP))
                .await
                .unwrap()
                .iter()
                .all(|c| c.id != id)
        );

        // Audited writes; removal hides it, its versions stay.
        let written = app.audit_of("canned.written").await;
        assert_eq!(written.len(), 2, "{written:?}");
        let (s, v) = send(&app, M::DELETE, Some(&viewer), &path, None).await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, _) = send(&app, M::DELETE, Some(&agent), &path, None).await;
        assert_eq!(s, 204);
        let (s, v) = send(&app, M::GET, Some(&viewer), &path, None).await;
        assert_eq!((s, code(&v)), (404, "not_found"));
        let (s, v) = send(&app, M::DELETE, Some(&agent), &path, None).await;
        assert_eq!((s, code(&v)), (404, "not_found"));
        assert_eq!(
            app.platform.store.canned_versions(&id).await.unwrap().len(),
            2
        );
        assert_eq!(app.audit_of("canned.removed").await.len(), 1);
    }
}
