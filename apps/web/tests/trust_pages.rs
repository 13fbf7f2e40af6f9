//! The Trust page and the sent-vs-draft diff, server-side, on SQLite and (with
//! `TEST_DATABASE_URL`) Postgres: trust, effective samples, mode, certificate and gate per app ×
//! category (the top bar's app filter applies, category names escaped); promote / demote through
//! the same core functions as `skill autosend`, admins only (a viewer's or agent's forged POST is
//! refused 403, a POST without CSRF too), audited; a promotion the gate refuses changes nothing.
//! The conversation page diffs our draft against what was sent, escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use support_core::auth::Role;
use support_core::autosend::Mode;
use support_core::registry::{AppLlm, policy_of};
use support_core::store::{AuditFilter, CertificateRow};
use support_core::time::now_ms;
use support_core::trust::{Signal, SignalKind};
use support_testkit::TestApp;
use support_workflow::autosend as auto;

/// `n` signals of `kind` for `category` of demo app 0, one an hour up to now.
async fn signals(t: &TestApp, category: &str, kind: SignalKind, n: usize, tag: &str) {
    let slug = &t.demo.apps[0].slug;
    let now = now_ms();
    for i in 0..n {
        let s = Signal::new(
            format!("sig_{tag}_{i}"),
            kind,
            slug.as_str(),
            category,
            format!("cnv_trust_{tag}_{i}"),
            now - (n - i) as i64 * 3_600_000,
            "test",
        );
        assert!(t.platform.store.record_signal(&s).await.unwrap());
    }
}

/// A passing certificate of `category` for the app's current inputs (as `skill eval --certify`
/// stores it).
async fn certified(t: &TestApp, category: &str) {
    let slug = t.demo.apps[0].slug.to_string();
    let row = t.platform.registry.require(&slug).await.unwrap();
    let policy = policy_of(&row).unwrap();
    let defaults = AppLlm {
        classifier: t.platform.settings.llm.classifier.clone(),
        agent: t.platform.settings.llm.agent.clone(),
    };
    let hash = auto::current_inputs_hash(t.platform.store.as_ref(), &slug, &policy, &defaults)
        .await
        .unwrap();
    t.platform
        .store
        .put_certificate(&CertificateRow {
            app: slug,
            category: category.into(),
            passed: true,
            inputs_hash: hash,
            scenarios: 3,
            failures: serde_json::json!([]),
            certified_at: now_ms(),
        })
        .await
        .unwrap();
}

/// A trusted, certified `access` and an untrusted `technical` (both opted in) on demo app 0.
pub async fn trusted_app(t: &TestApp) {
    t.set_policy(0, |p| {
        p.auto_send = vec!["access".into(), "technical".into()]
    })
    .await;
    signals(t, "access", SignalKind::Unchanged, 60, "acc").await;
    signals(t, "technical", SignalKind::Edited, 3, "tec").await;
    signals(t, "<b>odd</b>", SignalKind::Unchanged, 1, "odd").await;
    certified(t, "access").await;
}

async fn audit_kinds(t: &TestApp, kind: &str) -> Vec<support_core::store::AuditRecord> {
    t.platform
        .store
        .list_audit(&AuditFilter {
            kind: Some(kind.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_the_role_matrix_promote_and_demote() {
    for t in TestApp::each_backend().await {
        trusted_app(&t).await;
        let slug = t.demo.apps[0].slug.to_string();
        let other = t.demo.apps[1].slug.to_string();
        let promote = format!("/trust/{slug}/access/promote");
        let demote = format!("/trust/{slug}/access/demote");

        let viewer = t.login_as(Role::Viewer).await;
        let page = viewer.page("/trust").await;
        assert!(
            page.contains(&format!("id=\"trust-{slug}-access\"")),
            "{page}"
        );
        assert!(page.contains(&format!("id=\"trust-{slug}-technical\"")));
        assert!(page.contains("valid"), "certificate shown");
        assert!(page.contains("missing"), "technical has none");
        assert!(page.contains("unchanged (1.0)"), "last signals");
        assert!(!page.contains("<b>odd</b>"), "escaped");
        assert!(page.contains("&lt;b&gt;odd&lt;/b&gt;"));
        assert!(!page.contains(&promote), "no forms for a viewer");
        let filtered = viewer.page(&format!("/trust?app={other}")).await;
        assert!(
            !filtered.contains(&format!("trust-{slug}-access")),
            "app filter"
        );

        // Forged POSTs: a viewer and an agent with a valid CSRF token; an admin without one.
        let res = viewer.post_form(&promote, &[]).await;
        assert_eq!(res.status().as_u16(), 403);
        let agent = t.login_as(Role::Agent).await;
        let res = agent.post_form(&promote, &[]).await;
        assert_eq!(res.status().as_u16(), 403);
        let res = agent.post_form(&demote, &[]).await;
        assert_eq!(res.status().as_u16(), 403);
        let admin = t.login_as(Role::Admin).await;
        let res = admin.post_raw(&promote, &[]).await;
        assert_eq!(res.status().as_u16(), 403, "no CSRF");
        assert_eq!(
            auto::mode_of(t.platform.store.as_ref(), &slug, "access")
                .await
                .unwrap(),
            Mode::Draft
        );
        assert!(audit_kinds(&t, "autosend.promoted").await.is_empty());

        // The admin's page has the forms; promoting access works, technical is refused.
        let page = admin.page("/trust").await;
        assert!(page.contains(&format!("action=\"{promote}\"")), "{page}");
        assert!(page.contains("name=\"_csrf\""));
        let html = admin.follow(admin.post_form(&promote, &[]).await).await;
        assert!(html.contains("promoted to auto"), "{html}");
        assert_eq!(
            auto::mode_of(t.platform.store.as_ref(), &slug, "access")
                .await
                .unwrap(),
            Mode::Auto
        );
        let promoted = audit_kinds(&t, "autosend.promoted").await;
        assert_eq!(promoted.len(), 1);
        assert!(promoted[0].actor.contains("user:"), "{}", promoted[0].actor);

        let html = admin
            .follow(
                admin
                    .post_form(&format!("/trust/{slug}/technical/promote"), &[])
                    .await,
            )
            .await;
        assert!(html.contains("was not promoted"), "{html}");
        assert!(html.contains("trust"), "the failing checks are named");
        assert_eq!(
            auto::mode_of(t.platform.store.as_ref(), &slug, "technical")
                .await
                .unwrap(),
            Mode::Draft
        );
        assert_eq!(audit_kinds(&t, "autosend.promotion_refused").await.len(), 1);

        let html = admin.follow(admin.post_form(&demote, &[]).await).await;
        assert!(html.contains("demoted to draft"), "{html}");
        assert_eq!(
            auto::mode_of(t.platform.store.as_ref(), &slug, "access")
                .await
                .unwrap(),
            Mode::Draft
        );
        assert_eq!(audit_kinds(&t, "autosend.mode_set").await.len(), 1);

        let res = admin
            .post_form("/trust/no-such-app/access/promote", &[])
            .await;
        assert_eq!(res.status().as_u16(), 404);
    }
}

#[tokio::test]
async fn the_conversation_page_diffs_the_draft_against_what_was_sent() {
    for t in TestApp::each_backend().await {
        let d = t
            .front
            .deliver(t.inbound(
                0,
                "kyle.dunmore@example.com",
                "Login link",
                "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
            ))
            .await
            .unwrap();
        let run = t.finished_run(&d.event_id, Duration::from_secs(30)).await;
        let drafts = t
            .platform
            .store
            .list_drafts(&d.conversation_id)
            .await
            .unwrap();
        let draft = drafts.first().expect("a draft");
        assert_eq!(draft.run_id, run.run.id);
        let sent = format!(
            "{}\n\nP.S. <script>alert(1)</script> zebra-word",
            draft.text.lines().skip(1).collect::<Vec<_>>().join("\n")
        );
        assert!(
            t.platform
                .store
                .set_draft_sent(&draft.run_id, &sent, now_ms())
                .await
                .unwrap()
        );
        let viewer = t.login_as(Role::Viewer).await;
        let page = viewer
            .page(&format!("/conversations/{}", d.conversation_id))
            .await;
        assert!(page.contains("edited before sending"), "{page}");
        assert!(page.contains("class=\"diff sent-diff\""), "{page}");
        assert!(page.contains("<ins>zebra-word</ins>"), "{page}");
        assert!(page.contains("<del>"), "the dropped first line");
        assert!(!page.contains("<script>alert(1)"), "escaped");
        assert!(page.contains("&lt;script&gt;"));
    }
}
