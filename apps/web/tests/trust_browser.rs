//! The Trust page in a real browser with JavaScript off (`support_testkit::browser`): an admin
//! opens `/trust`, promotes a trusted, certified category with the page's form and sees it in
//! auto. Screenshot `trust` under `docs/screenshots/`. Skipped (with `SKIPPED:`) where Chromium
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
async fn an_admin_promotes_a_category_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let t = TestApp::spawn().await;
    let slug = t.demo.apps[0].slug.to_string();
    t.set_policy(0, |p| p.auto_send = vec!["access".into()])
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
    let form = format!("form[action='/trust/{slug}/access/promote'] button");
    b.wait_for(&form).await;
    b.screenshot("trust").await;
    b.click(&form).await;
    b.wait_for_text("body", "promoted to auto").await;
    b.wait_for(&format!("form[action='/trust/{slug}/access/demote']"))
        .await;
    assert_eq!(
        auto::mode_of(t.platform.store.as_ref(), &slug, "access")
            .await
            .unwrap(),
        Mode::Auto
    );
    b.close().await;
}
