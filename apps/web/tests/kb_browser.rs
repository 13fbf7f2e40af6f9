//! The Knowledge page in a real browser with JavaScript off (`support_testkit::browser`): an
//! agent opens an article from the list, edits it, previews the chunks, saves a new version and
//! sees both versions. Screenshots `knowledge` and `knowledge-edit` under `docs/screenshots/`.
//! Skipped (with `SKIPPED:`) where Chromium is not installed, unless `SUPPORT_REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use support_core::auth::Role;
use support_testkit::TestApp;
use support_testkit::browser::Browser;

#[tokio::test]
async fn an_agent_edits_an_article_with_preview_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let token = app.token("kb-browser", Role::Agent).await;
    let (status, v) = app
        .post_json(
            &token,
            "/api/v1/kb/articles",
            json!({"app": "ai-workshops", "title": "Office hours", "body": "Office hours are on Thursdays."}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["article_id"].as_str().unwrap().to_string();

    let (user, password) = app.user_with_password(Role::Agent).await;
    b.goto(&app.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;

    b.goto(&app.url("/knowledge")).await;
    let link = format!("a[href='/knowledge/{id}']");
    b.wait_for(&link).await;
    b.screenshot("knowledge").await;
    b.click(&link).await;
    b.wait_for_text("body", "Office hours are on Thursdays.")
        .await;
    b.click(&format!("a[href='/knowledge/{id}/edit']")).await;
    b.wait_for("textarea[name='body']").await;
    b.fill(
        "textarea[name='body']",
        "Office hours are on Fridays.\n\n## Recording\n\nEach session is recorded.",
    )
    .await;
    b.click("button[value='preview']").await;
    b.wait_for_text("body", "Preview: what the retriever will index")
        .await;
    b.wait_for_text(".article-preview", "Each session is recorded.")
        .await;
    b.screenshot("knowledge-edit").await;
    assert_eq!(
        app.platform
            .store
            .article_versions(&id)
            .await
            .unwrap()
            .len(),
        1
    );
    b.click("button[value='save']").await;
    b.wait_for_text("body", "Saved as version 2").await;
    b.wait_for_text("body", "Office hours are on Fridays.")
        .await;
    let versions = app.platform.store.article_versions(&id).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].body.contains("Each session is recorded."));
    b.close().await;
}
