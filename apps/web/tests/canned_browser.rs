//! The Canned pages in a real browser with JavaScript off (`support_testkit::browser`): an agent
//! opens a canned response from the list, edits it, previews it with example values, saves a
//! new version and sees both versions. Screenshot `canned-edit` under `docs/screenshots/`.
//! Skipped (with `SKIPPED:`) where Chromium is not installed, unless `SUPPORT_REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use support_core::auth::Role;
use support_testkit::TestApp;
use support_testkit::browser::Browser;

#[tokio::test]
async fn an_agent_edits_a_canned_response_with_preview_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let token = app.token("canned-browser", Role::Agent).await;
    let (status, v) = app
        .post_json(
            &token,
            "/api/v1/canned",
            json!({"app": "ai-workshops", "name": "Office hours", "trigger": "office hours",
                   "body": "Hi {{first_name}}, office hours are on Thursdays."}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    let (user, password) = app.user_with_password(Role::Agent).await;
    b.goto(&app.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;

    b.goto(&app.url("/knowledge")).await;
    b.click("a[href='/canned']").await;
    let link = format!("a[href='/canned/{id}']");
    b.wait_for(&link).await;
    b.click(&link).await;
    b.wait_for_text("body", "office hours are on Thursdays.")
        .await;
    b.click(&format!("a[href='/canned/{id}/edit']")).await;
    b.wait_for("textarea[name='body']").await;
    b.fill(
        "textarea[name='body']",
        "Hi {{first_name}}, {{product}} office hours move to Fridays.",
    )
    .await;
    b.click("button[value='preview']").await;
    b.wait_for_text(
        ".canned-preview",
        "Hi Ada, Example Course office hours move to Fridays.",
    )
    .await;
    b.screenshot("canned-edit").await;
    assert_eq!(
        app.platform.store.canned_versions(&id).await.unwrap().len(),
        1
    );
    b.click("button[value='save']").await;
    b.wait_for_text("body", "Saved as version 2").await;
    b.wait_for_text("body", "office hours move to Fridays.")
        .await;
    let versions = app.platform.store.canned_versions(&id).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].body.contains("{{product}}"));
    b.close().await;
}
