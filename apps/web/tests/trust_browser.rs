//! The Trust page in a real browser with JavaScript off (`support_testkit::browser`): an admin
//! opens `/trust`, sets a trusted, certified category to auto with the page's mode form and sees
//! it in auto, is refused auto for an untrusted one (the failing checks named), puts a category
//! in shadow, and stops and restarts automatic sending everywhere with the kill switch.
//! Screenshot `trust` under `docs/screenshots/`. Skipped (with `SKIPPED:`) where Chromium
//! is not installed, unless `SUPPORT_REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use support_core::auth::Role;
use support_core::autosend::Mode;
use support_core::registry::{AppLlm, policy_of};
use support_core::store::CertificateRow;
use support_core::time::now_ms;
use support_core::trust::{Signal, SignalKind};
use support_testkit::TestApp;
use support_testkit::browser::Browser;
use support_workflow::autosend as auto;

#[tokio::test]
async fn an_admin_sets_modes_and_the_kill_switch_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let t = TestApp::spawn().await;
    let slug = t.demo.apps[0].slug.to_string();
    t.set_policy(0, |p| {
        p.auto_send = vec!["access".into(), "technical".into()]
    })
    .await;
    let now = now_ms();
    for i in 0..60 {
        let s = Signal::new(
            format!("sig_b_{i}"),
            SignalKind::Unchanged,
            slug.as_str(),
            "access",
            format!("cnv_b_{i}"),
            now - (60 - i) as i64 * 3_600_000,
            "test",
        );
        assert!(t.platform.store.record_signal(&s).await.unwrap());
    }
    let row = t.platform.registry.require(&slug).await.unwrap();
    let defaults = AppLlm {
        classifier: t.platform.settings.llm.classifier.clone(),
        agent: t.platform.settings.llm.agent.clone(),
    };
    let hash = auto::current_inputs_hash(
        t.platform.store.as_ref(),
        &slug,
        &policy_of(&row).unwrap(),
        &defaults,
    )
    .await
    .unwrap();
    t.platform
        .store
        .put_certificate(&CertificateRow {
            app: slug.clone(),
            category: "access".into(),
            passed: true,
            inputs_hash: hash,
            scenarios: 3,
            failures: serde_json::json!([]),
            certified_at: now,
        })
        .await
        .unwrap();

    let (user, password) = t.user_with_password(Role::Admin).await;
    b.goto(&t.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;

    b.goto(&t.url("/trust")).await;
    let store = t.platform.store.as_ref();
    let button = |category: &str, mode: &str| {
        format!("form[action='/trust/{slug}/{category}/mode'] button[value='{mode}']")
    };
    b.wait_for(&button("access", "auto")).await;
    b.wait_for_text(&format!("#trust-{slug}-access .trend"), "7 d ago")
        .await;
    b.screenshot("trust").await;

    // Auto where the gate holds.
    b.click(&button("access", "auto")).await;
    b.wait_for_text("body", "promoted to auto").await;
    assert_eq!(
        auto::mode_of(store, &slug, "access").await.unwrap(),
        Mode::Auto
    );
    // Refused where it does not: nothing changes, the failing check is named.
    b.click(&button("technical", "auto")).await;
    let flash = b.wait_for_text("body", "was not promoted").await;
    assert!(flash.contains("trust"), "{flash}");
    assert_eq!(
        auto::mode_of(store, &slug, "technical").await.unwrap(),
        Mode::Draft
    );
    // Shadow by hand.
    b.click(&button("access", "shadow")).await;
    b.wait_for_text("body", "set to shadow").await;
    assert_eq!(
        auto::mode_of(store, &slug, "access").await.unwrap(),
        Mode::Shadow
    );

    // The global kill switch, with a reason, and back on.
    b.fill("#switch-reason-all", "incident 42").await;
    b.click("#switch-all button.switch-off").await;
    b.wait_for_text("body", "stopped for every app").await;
    b.wait_for_text("#switch-all", "incident 42").await;
    assert!(
        auto::switched_off(store, &slug, &Default::default())
            .await
            .unwrap()
            .unwrap()
            .contains("incident 42")
    );
    b.click("#switch-all button.switch-on").await;
    b.wait_for_text("body", "allowed again for every app").await;
    assert!(
        auto::switched_off(store, &slug, &Default::default())
            .await
            .unwrap()
            .is_none()
    );
    b.close().await;
}
