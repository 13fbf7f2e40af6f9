//! The Canned pages, server-side, on SQLite and (with `TEST_DATABASE_URL`) Postgres: the list
//! (the top bar's app filter; stale ones marked), one response with its variables, citations and
//! versions, the new and edit forms (agent) with Preview (example values, nothing saved) and
//! Save (a new version, audited), an unknown variable refused with its code, a form based on an
//! old version refused with the current state, CSRF and the role checked on the server, text
//! escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use support_core::auth::Role;
use support_testkit::TestApp;

const APP: &str = "ai-workshops";

#[tokio::test]
async fn list_show_preview_save_and_the_rules() {
    for app in TestApp::each_backend().await {
        let token = app.token("canned-pages", Role::Agent).await;
        let (s, a) = app
            .post_json(
                &token,
                "/api/v1/kb/articles",
                json!({"app": APP, "title": "Recordings", "body": "Recordings are up in 48 hours."}),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        let art = a["article_id"].as_str().unwrap().to_string();
        let (s, c) = app
            .post_json(
                &token,
                "/api/v1/canned",
                json!({"app": APP, "name": "Recordings <script>alert(1)</script>",
                       "trigger": "recording", "body": "Hi {{first_name}}, within 48 hours.",
                       "sources": [{"article_id": art, "version": 1}]}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let id = c["id"].as_str().unwrap().to_string();

        let viewer = app.login_as(Role::Viewer).await;
        let list = viewer.page("/canned").await;
        assert!(list.contains(&format!("/canned/{id}")), "listed");
        assert!(!list.contains("<script>alert(1)</script>"), "escaped");
        assert!(list.contains("&lt;script&gt;"));
        assert!(!list.contains("/canned/new"), "no new button for a viewer");
        let other = viewer.page("/canned?app=typescript-course").await;
        assert!(!other.contains(&format!("/canned/{id}")), "app filter");
        let page = viewer.page(&format!("/canned/{id}")).await;
        assert!(page.contains("Hi {{first_name}}, within 48 hours."));
        assert!(
            page.contains(&format!("/knowledge/{art}?version=1")),
            "cites"
        );
        assert!(page.contains("first_name"));
        assert!(!page.contains("/edit\""), "no edit link for a viewer");
        assert_eq!(
            viewer
                .get(&format!("/canned/{id}/edit"))
                .await
                .status()
                .as_u16(),
            403
        );
        assert_eq!(viewer.get("/canned/new").await.status().as_u16(), 403);
        let path = format!("/canned/{id}/edit");
        let fields = |body: &'static str, base: &'static str, op: &'static str| {
            vec![
                ("app", APP),
                ("name", "Recordings"),
                ("trigger", "recording|replay"),
                ("body", body),
                ("sources", ""),
                ("base", base),
                ("op", op),
            ]
        };
        let res = viewer.post_form(&path, &fields("x", "1", "save")).await;
        assert_eq!(res.status().as_u16(), 403, "a viewer may not save");

        let agent = app.login_as(Role::Agent).await;
        let form = agent.page(&path).await;
        assert!(form.contains("name=\"_csrf\""));
        // Preview: example values filled in, escaped; nothing saved.
        let res = agent
            .post_form(
                &path,
                &fields(
                    "Hi {{first_name}} <b>x</b> from {{product}}.",
                    "1",
                    "preview",
                ),
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Hi Ada &lt;b&gt;x&lt;/b&gt; from Example Course."),
            "{html}"
        );
        assert_eq!(
            app.platform.store.canned_versions(&id).await.unwrap().len(),
            1
        );
        // An unknown variable: refused with its code, the form kept.
        let res = agent
            .post_form(&path, &fields("Hi {{nickname}}", "1", "save"))
            .await;
        assert_eq!(res.status().as_u16(), 400);
        let html = res.text().await.unwrap();
        assert!(html.contains("unknown_template_variable") && html.contains("nickname"));
        // No CSRF token: refused.
        let res = agent.post_raw(&path, &fields("Hi", "1", "save")).await;
        assert_eq!(res.status().as_u16(), 403);
        assert_eq!(
            app.platform.store.canned_versions(&id).await.unwrap().len(),
            1
        );

        // Save: a new version (citing nothing now), audited, shown with a flash.
        let res = agent
            .post_form(
                &path,
                &fields("Hi {{first_name}}, within two days.", "1", "save"),
            )
            .await;
        let shown = agent.follow(res).await;
        assert!(shown.contains("Saved as version 2"), "{shown}");
        assert!(shown.contains("within two days."));
        let versions = app.platform.store.canned_versions(&id).await.unwrap();
        assert_eq!(versions.len(), 2);
        assert!(versions[0].sources.is_empty() && versions[1].sources.len() == 1);
        assert!(
            app.audit_of("canned.written")
                .await
                .iter()
                .any(|e| e["data"]["channel"] == "dashboard")
        );
        let v1 = viewer.page(&format!("/canned/{id}?version=1")).await;
        assert!(v1.contains("within 48 hours."));
        assert_eq!(
            viewer
                .get(&format!("/canned/{id}?version=x"))
                .await
                .status()
                .as_u16(),
            400
        );

        // Based on version 1 after version 2: refused with the current version.
        let res = agent.post_form(&path, &fields("Lost.", "1", "save")).await;
        assert_eq!(res.status().as_u16(), 409);
        let html = res.text().await.unwrap();
        assert!(html.contains("changed while you edited it") && html.contains("within two days."));

        // A new one through the form; then its article changes and it shows as stale.
        let res = agent
            .post_form(
                "/canned/new",
                &[
                    ("app", APP),
                    ("name", "Replay"),
                    ("trigger", "replay"),
                    ("body", "The replay is up within 48 hours."),
                    ("sources", &format!("{art}@1")),
                    ("base", "0"),
                    ("op", "save"),
                ],
            )
            .await;
        let shown = agent.follow(res).await;
        assert!(shown.contains("Saved as version 1"), "{shown}");
        let res = app
            .client
            .put(app.url(&format!("/api/v1/kb/articles/{art}")))
            .bearer_auth(&token)
            .json(&json!({"title": "Recordings", "body": "Recordings are up in 72 hours."}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let list = viewer.page("/canned").await;
        assert!(list.contains("stale"), "{list}");
        let replay = app
            .platform
            .store
            .list_canned_rows(Some(APP))
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name == "Replay")
            .unwrap();
        assert!(replay.stale);
        let page = viewer.page(&format!("/canned/{}", replay.id)).await;
        assert!(page.contains("An article this response cites changed"));
        assert_eq!(
            agent.get("/canned/can_missing").await.status().as_u16(),
            404
        );
    }
}
