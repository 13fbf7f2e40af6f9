//! The dashboard in a real browser: Debian's headless Chromium driven by `fantoccini`
//! (`support_testkit::browser`). Sign-in (a wrong password refused), approving the demo's
//! 36-day refund from the queue (the fake Stripe gets exactly one refund, the Front sandbox has
//! the draft), a viewer without the approve button whose forged POST is refused, a form
//! without its CSRF token refused, and the same approval with JavaScript off. Pages are saved
//! under `docs/screenshots/` (1280×800, light theme, demo data). The conversation pages are in
//! `dashboard_browser_conversations.rs`.
//!
//! Skipped (with `SKIPPED:`) where Chromium is not installed, unless
//! `SUPPORT_REQUIRE_BROWSER=1` (CI), where that fails.

mod browser_common;

use browser_common::*;
use support_core::auth::Role;
use support_testkit::browser::Browser;

#[tokio::test]
async fn an_admin_signs_in_and_approves_the_demo_refund_from_the_queue() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let demo = demo().await;
    let app = &demo.app;
    let (_, _, approval) = &demo.refund;

    // A wrong password is refused, on the login page.
    let (admin, password) = app.user_with_password(Role::Admin).await;
    b.goto(&app.url("/login")).await;
    b.fill("#email", &admin.email).await;
    b.fill("#password", "not-the-password").await;
    b.screenshot("login").await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_text("body", "Email or password is incorrect")
        .await;
    assert!(b.current_url().await.contains("/login"));
    // The right one signs in.
    b.fill("#email", &admin.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the overview", |u| !u.contains("/login"))
        .await;
    b.wait_for_text("body", "admin").await;
    b.screenshot("overview").await;

    // The queue, the approval, and the click.
    b.goto(&app.url("/approvals")).await;
    let link = format!("a[href='/approvals/{}']", approval.id);
    b.wait_for(&link).await;
    b.screenshot("approvals").await;
    b.click(&link).await;
    let button = format!("{} button[type='submit']", approve_form(approval));
    b.wait_for(&button).await;
    b.screenshot("approval").await;
    b.click(&button).await;
    b.wait_for_url("back from the POST", |u| !u.ends_with("/approve"))
        .await;
    assert_refunded_once(&demo).await;

    // The other pages, for the README.
    for (path, name) in [
        ("/audit", "audit"),
        ("/dead-letters", "dead-letters"),
        ("/apps", "apps"),
    ] {
        b.goto(&app.url(path)).await;
        b.wait_for("main h1").await;
        b.screenshot(name).await;
    }
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_approve_button_and_forged_or_tokenless_posts_are_refused() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let demo = demo().await;
    let app = &demo.app;
    let (_, _, approval) = &demo.refund;
    let detail = app.url(&format!("/approvals/{}", approval.id));

    sign_in(&b, app, Role::Viewer).await;
    b.goto(&detail).await;
    b.wait_for("main h1").await;
    assert!(
        b.find_all(&approve_form(approval)).await.is_empty(),
        "a viewer sees no approve form"
    );
    // The viewer forges the POST with their own session and CSRF token: refused on the server.
    b.client
        .execute(
            "const t = document.querySelector(\"input[name='_csrf']\");
             const f = document.createElement('form');
             f.method = 'post'; f.action = arguments[0];
             const i = document.createElement('input');
             i.type = 'hidden'; i.name = '_csrf'; i.value = t ? t.value : '';
             f.appendChild(i); document.body.appendChild(f); f.submit();",
            vec![serde_json::json!(format!(
                "/approvals/{}/approve",
                approval.id
            ))],
        )
        .await
        .expect("forge a form");
    b.wait_for_text("body", "forbidden").await;

    // An admin's form without its CSRF token: refused too, nothing moves.
    let b2 = Browser::start().await.expect("a second browser");
    sign_in(&b2, app, Role::Admin).await;
    b2.goto(&detail).await;
    let form = approve_form(approval);
    b2.wait_for(&form).await;
    b2.client
        .execute(
            "document.querySelector(arguments[0] + \" input[name='_csrf']\").remove();",
            vec![serde_json::json!(form)],
        )
        .await
        .expect("drop the token");
    b2.click(&format!("{form} button[type='submit']")).await;
    b2.wait_for_text("body", "csrf_invalid").await;
    let stripe = app.stripe.as_ref().expect("fake Stripe");
    assert!(stripe.refunds().is_empty(), "no refund from refused POSTs");
    assert_eq!(
        app.platform
            .store
            .get_approval(&approval.id)
            .await
            .expect("store")
            .expect("approval")
            .status,
        "pending"
    );

    b.close().await;
    b2.close().await;
}

#[tokio::test]
async fn the_approval_works_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let demo = demo().await;
    let app = &demo.app;
    let (_, _, approval) = &demo.refund;
    sign_in(&b, app, Role::Agent).await;
    b.goto(&app.url("/approvals")).await;
    let link = format!("a[href='/approvals/{}']", approval.id);
    b.click(&link).await;
    let button = format!("{} button[type='submit']", approve_form(approval));
    b.click(&button).await;
    b.wait_for_url("back from the POST", |u| !u.ends_with("/approve"))
        .await;
    assert_refunded_once(&demo).await;
    b.close().await;
}
