//! The conversation pages in a real browser (`support_testkit::browser`): the list shows the
//! demo conversations, the detail our draft text and the route's reasons, and a customer's
//! `<script>` is shown as text and never runs. Screenshots under `docs/screenshots/`.
//!
//! Skipped (with `SKIPPED:`) where Chromium is not installed, unless
//! `SUPPORT_REQUIRE_BROWSER=1` (CI), where that fails.

mod browser_common;

use browser_common::*;
use support_core::auth::Role;
use support_testkit::browser::Browser;

#[tokio::test]
async fn the_conversations_show_the_demo_the_draft_the_reasons_and_scripts_as_text() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let demo = demo().await;
    let app = &demo.app;
    let (d, _, approval) = &demo.refund;
    sign_in(&b, app, Role::Admin).await;

    // The list shows the demo conversations.
    b.goto(&app.url("/conversations")).await;
    b.wait_for_text("main", "Login link never arrives").await;
    let list = b.body_text().await;
    assert!(list.contains("Refund"), "{list}");
    b.screenshot("conversations").await;

    // The detail shows our draft and the route's reasons.
    b.goto(&app.url(&format!("/conversations/{}", d.conversation_id)))
        .await;
    let first_words = draft_phrase(approval);
    b.wait_for_text(".draft-text", &first_words).await;
    let reasons = b
        .wait_for("ul.reasons li")
        .await
        .text()
        .await
        .expect("reason");
    assert!(!reasons.trim().is_empty());
    let decided = app.audit_of("route.decided").await;
    assert!(
        decided
            .iter()
            .any(|e| e.to_string().contains(reasons.trim())),
        "{reasons:?} is a recorded reason: {decided:?}"
    );
    b.screenshot("conversation").await;

    // A customer's <script> is text: shown literally, never run.
    b.goto(&app.url("/conversations")).await;
    b.wait_for_text("main", "<script>document.title='pwned'</script>")
        .await;
    b.goto(&app.url(&format!("/conversations/{}", demo.script.conversation_id)))
        .await;
    b.wait_for_text("main", "<script>document.body.setAttribute")
        .await;
    assert!(b.find_all("body[data-xss]").await.is_empty());
    assert!(!b.client.title().await.expect("title").contains("pwned"));
    b.close().await;
}
