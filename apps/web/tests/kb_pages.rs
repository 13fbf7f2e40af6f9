//! The Knowledge pages, server-side, on SQLite and (with `TEST_DATABASE_URL`) Postgres: the list
//! (with the top bar's app filter), an article with its versions, the edit form (agent) with
//! Preview (nothing saved) and Save (a new version, audited), a form based on an old version
//! refused with the current state, CSRF and the role checked on the server, article text escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use support_core::auth::Role;
use support_testkit::TestApp;

const APP: &str = "ai-workshops";

async fn new_article(app: &TestApp, title: &str, body: &str) -> String {
    let agent = app.token("kb-pages-agent", Role::Agent).await;
    let (status, v) = app
        .post_json(
            &agent,
            "/api/v1/kb/articles",
            json!({"app": APP, "title": title, "body": body, "tags": ["a", "b"]}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["article_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn list_show_preview_save_and_the_rules() {
    for app in TestApp::each_backend().await {
        let id = new_article(
            &app,
            "Workshop <script>alert(1)</script> recordings",
            "Recordings are posted within 48 hours.\n\n## Where\n\nOn the workshop page.",
        )
        .await;

        let viewer = app.login_as(Role::Viewer).await;
        let list = viewer.page("/knowledge").await;
        assert!(list.contains(&format!("/knowledge/{id}")), "listed");
        assert!(!list.contains("<script>alert(1)</script>"), "escaped");
        assert!(list.contains("&lt;script&gt;"));
        let other = viewer.page("/knowledge?app=typescript-course").await;
        assert!(!other.contains(&format!("/knowledge/{id}")), "app filter");

        let page = viewer.page(&format!("/knowledge/{id}")).await;
        assert!(page.contains("Recordings are posted within 48 hours."));
        assert!(page.contains("No draft has cited this article yet."));
        assert!(!page.contains("/edit\""), "no edit link for a viewer");
        let res = viewer.get(&format!("/knowledge/{id}/edit")).await;
        assert_eq!(res.status().as_u16(), 403);
        let res = viewer
            .post_form(
                &format!("/knowledge/{id}/edit"),
                &[
                    ("title", "x"),
                    ("body", "y"),
                    ("visibility", "public"),
                    ("base", "1"),
                    ("op", "save"),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 403, "a viewer may not save");

        let agent = app.login_as(Role::Agent).await;
        let form = agent.page(&format!("/knowledge/{id}/edit")).await;
        assert!(form.contains("name=\"_csrf\""));
        assert!(form.contains("Recordings are posted within 48 hours."));
        let path = format!("/knowledge/{id}/edit");
        let fields = |body: &'static str, base: &'static str, op: &'static str| {
            vec![
                ("title", "Workshop recordings"),
                ("body", body),
                ("tags", "video, recordings"),
                ("visibility", "public"),
                ("url", ""),
                ("base", base),
                ("op", op),
            ]
        };

        // Preview: the chunks the retriever will index; nothing saved.
        let res = agent
            .post_form(
                &path,
                &fields(
                    "Recordings take 72 hours.\n\n## Captions\n\nAdded later.",
                    "1",
                    "preview",
                ),
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("Preview: what the retriever will index"));
        assert!(html.contains("Captions") && html.contains("Recordings take 72 hours."));
        assert_eq!(
            app.platform
                .store
                .article_versions(&id)
                .await
                .unwrap()
                .len(),
            1
        );

        // No CSRF token: refused, nothing saved.
        let res = agent.post_raw(&path, &fields("x", "1", "save")).await;
        assert_eq!(res.status().as_u16(), 403);
        assert_eq!(
            app.platform
                .store
                .article_versions(&id)
                .await
                .unwrap()
                .len(),
            1
        );

        // Save: a new version, audited, shown with a flash.
        let res = agent
            .post_form(&path, &fields("Recordings take 72 hours.", "1", "save"))
            .await;
        let shown = agent.follow(res).await;
        assert!(shown.contains("Saved as version 2"), "{shown}");
        assert!(shown.contains("Recordings take 72 hours."));
        let versions = app.platform.store.article_versions(&id).await.unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].tags, ["video", "recordings"]);
        assert!(
            app.audit_of("kb.article_written")
                .await
                .iter()
                .any(|e| e["data"]["channel"] == "dashboard")
        );
        // The old version stays readable.
        let v1 = viewer.page(&format!("/knowledge/{id}?version=1")).await;
        assert!(v1.contains("Recordings are posted within 48 hours."));
        let res = viewer.get(&format!("/knowledge/{id}?version=nine")).await;
        assert_eq!(res.status().as_u16(), 400);

        // A form based on version 1 after version 2 was saved: refused, the current one shown.
        let res = agent
            .post_form(&path, &fields("Something else.", "1", "save"))
            .await;
        assert_eq!(res.status().as_u16(), 409);
        let html = res.text().await.unwrap();
        assert!(html.contains("changed while you edited it"));
        assert!(html.contains("Recordings take 72 hours."));
        assert_eq!(
            app.platform
                .store
                .article_versions(&id)
                .await
                .unwrap()
                .len(),
            2
        );

        // Bad input is a 400 with the form kept.
        let res = agent
            .post_form(
                &path,
                &[
                    ("title", " "),
                    ("body", "b"),
                    ("visibility", "public"),
                    ("base", "2"),
                    ("op", "save"),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 400);
        let res = agent.get("/knowledge/art_missing").await;
        assert_eq!(res.status().as_u16(), 404);
    }
}
