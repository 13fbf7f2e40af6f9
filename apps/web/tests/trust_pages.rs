//! The Trust page and the sent-vs-draft diff, server-side, on SQLite and (with
//! `TEST_DATABASE_URL`) Postgres: trust, effective samples, mode, certificate and gate per app ×
//! category (the top bar's app filter applies, category names escaped) and the trend (the score
//! 7 and 30 days ago from the same rows); setting a mode (shadow / draft / auto) and the kill
//! switches through the same workflow functions as `skill autosend`, admins only (a viewer's or
//! agent's forged POST is refused 403, a POST without CSRF too), audited; a promotion the gate
//! refuses changes nothing; bad input is a 400/404 with nothing changed.
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

/// The HTML of the table row `id`.
fn row<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id} in {page}"));
    let end = page[start..].find("</tr>").unwrap() + start;
    &page[start..end]
}

#[tokio::test]
async fn the_page_the_role_matrix_modes_and_trend() {
    for t in TestApp::each_backend().await {
        trusted_app(&t).await;
        let slug = t.demo.apps[0].slug.to_string();
        let other = t.demo.apps[1].slug.to_string();
        let mode = format!("/trust/{slug}/access/mode");
        // billing: rewritten ten days ago, unchanged in the last hours; a rising trend.
        let now = now_ms();
        for i in 0..4_i64 {
            for (kind, at, tag) in [
                (SignalKind::Rewritten, now - 10 * 86_400_000 - i, "old"),
                (SignalKind::Unchanged, now - 3_600_000 - i, "new"),
            ] {
                let s = Signal::new(
                    format!("sig_bill_{tag}_{i}"),
                    kind,
                    slug.as_str(),
                    "billing",
                    format!("cnv_bill_{tag}_{i}"),
                    at,
                    "test",
                );
                assert!(t.platform.store.record_signal(&s).await.unwrap());
            }
        }

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
        assert!(!page.contains(&mode), "no forms for a viewer");
        assert!(
            !page.contains("action=\"/trust/switch\""),
            "no switch forms"
        );
        assert!(page.contains("id=\"switch-all\""), "the switches are shown");
        // The trend, from the same rows at those times: the score 7 days ago was 0 (only the
        // rewrites counted) and is higher now; 30 days ago nothing counted.
        let billing = row(&page, &format!("trust-{slug}-billing"));
        let signals = t
            .platform
            .store
            .signals_for(&slug, "billing")
            .await
            .unwrap();
        let score_now =
            support_core::trust::trust_at(&signals, now_ms(), support_core::trust::HALF_LIFE_DAYS)
                .score;
        assert!(score_now > 0.4 && score_now < 0.6, "{score_now}");
        assert!(
            billing.contains(&format!("7 d ago 0.000 (▲ +{score_now:.3})")),
            "{billing}"
        );
        assert!(billing.contains("30 d ago —"), "{billing}");
        let access = row(&page, &format!("trust-{slug}-access"));
        assert!(
            access.contains("7 d ago —"),
            "access's signals are all recent"
        );
        let filtered = viewer.page(&format!("/trust?app={other}")).await;
        assert!(
            !filtered.contains(&format!("trust-{slug}-access")),
            "app filter"
        );
        assert!(!filtered.contains(&format!("id=\"switch-{slug}\"")));

        // Forged POSTs: a viewer and an agent with a valid CSRF token; an admin without one.
        let res = viewer.post_form(&mode, &[("mode", "auto")]).await;
        assert_eq!(res.status().as_u16(), 403);
        let agent = t.login_as(Role::Agent).await;
        let res = agent.post_form(&mode, &[("mode", "auto")]).await;
        assert_eq!(res.status().as_u16(), 403);
        let res = agent.post_form(&mode, &[("mode", "shadow")]).await;
        assert_eq!(res.status().as_u16(), 403);
        let res = agent
            .post_form("/trust/switch", &[("scope", "*"), ("state", "off")])
            .await;
        assert_eq!(res.status().as_u16(), 403);
        let admin = t.login_as(Role::Admin).await;
        let res = admin.post_raw(&mode, &[("mode", "auto")]).await;
        assert_eq!(res.status().as_u16(), 403, "no CSRF");
        let res = admin
            .post_raw("/trust/switch", &[("scope", "*"), ("state", "off")])
            .await;
        assert_eq!(res.status().as_u16(), 403, "no CSRF");
        let store = t.platform.store.as_ref();
        assert_eq!(
            auto::mode_of(store, &slug, "access").await.unwrap(),
            Mode::Draft
        );
        assert!(
            auto::switched_off(store, &slug, &Default::default())
                .await
                .unwrap()
                .is_none()
        );
        assert!(audit_kinds(&t, "autosend.promoted").await.is_empty());
        assert!(audit_kinds(&t, "autosend.switched_off").await.is_empty());

        // The admin's page has the forms; auto for access works, technical is refused.
        let page = admin.page("/trust").await;
        assert!(page.contains(&format!("action=\"{mode}\"")), "{page}");
        assert!(page.contains("name=\"_csrf\""));
        assert!(page.contains("action=\"/trust/switch\""));
        let html = admin
            .follow(admin.post_form(&mode, &[("mode", "auto")]).await)
            .await;
        assert!(html.contains("promoted to auto"), "{html}");
        assert_eq!(
            auto::mode_of(store, &slug, "access").await.unwrap(),
            Mode::Auto
        );
        let promoted = audit_kinds(&t, "autosend.promoted").await;
        assert_eq!(promoted.len(), 1);
        assert!(promoted[0].actor.contains("user:"), "{}", promoted[0].actor);

        let html = admin
            .follow(
                admin
                    .post_form(
                        &format!("/trust/{slug}/technical/mode"),
                        &[("mode", "auto")],
                    )
                    .await,
            )
            .await;
        assert!(html.contains("was not promoted"), "{html}");
        assert!(html.contains("trust"), "the failing checks are named");
        assert!(html.contains("It stays in draft"), "{html}");
        assert_eq!(
            auto::mode_of(store, &slug, "technical").await.unwrap(),
            Mode::Draft
        );
        assert_eq!(audit_kinds(&t, "autosend.promotion_refused").await.len(), 1);

        // Shadow, then draft, by hand: audited each time.
        let html = admin
            .follow(admin.post_form(&mode, &[("mode", "shadow")]).await)
            .await;
        assert!(html.contains("set to shadow"), "{html}");
        assert_eq!(
            auto::mode_of(store, &slug, "access").await.unwrap(),
            Mode::Shadow
        );
        let html = admin
            .follow(admin.post_form(&mode, &[("mode", "draft")]).await)
            .await;
        assert!(html.contains("set to draft"), "{html}");
        assert_eq!(
            auto::mode_of(store, &slug, "access").await.unwrap(),
            Mode::Draft
        );
        let set = audit_kinds(&t, "autosend.mode_set").await;
        assert_eq!(set.len(), 2);
        assert_eq!(set[0].data["mode"], "shadow");

        // Bad input: a clear error, nothing changed.
        let res = admin.post_form(&mode, &[("mode", "turbo")]).await;
        assert_eq!(res.status().as_u16(), 400);
        let res = admin
            .post_form("/trust/no-such-app/access/mode", &[("mode", "draft")])
            .await;
        assert_eq!(res.status().as_u16(), 404);
        let res = admin
            .post_form(
                &format!("/trust/{slug}/no_such_category/mode"),
                &[("mode", "shadow")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 404);
        let res = admin
            .post_form("/trust/switch", &[("scope", "*"), ("state", "maybe")])
            .await;
        assert_eq!(res.status().as_u16(), 400);
        let res = admin
            .post_form(
                "/trust/switch",
                &[("scope", "no-such-app"), ("state", "off")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 404);
        let long = "x".repeat(501);
        let res = admin
            .post_form(
                "/trust/switch",
                &[("scope", "*"), ("state", "off"), ("reason", &long)],
            )
            .await;
        assert_eq!(res.status().as_u16(), 400);
        assert_eq!(audit_kinds(&t, "autosend.mode_set").await.len(), 2);
        assert!(
            auto::switched_off(store, &slug, &Default::default())
                .await
                .unwrap()
                .is_none()
        );

        // The kill switches: the app's, then the global one; audited with the reason.
        let html = admin
            .follow(
                admin
                    .post_form(
                        "/trust/switch",
                        &[
                            ("scope", &slug),
                            ("state", "off"),
                            ("reason", "<i>odd</i> replies"),
                        ],
                    )
                    .await,
            )
            .await;
        assert!(html.contains("Automatic sending stopped for"), "{html}");
        assert!(!html.contains("<i>odd</i>"), "the reason is escaped");
        let why = auto::switched_off(store, &slug, &Default::default())
            .await
            .unwrap()
            .unwrap();
        assert!(why.contains("for this app"), "{why}");
        assert!(
            auto::switched_off(store, &other, &Default::default())
                .await
                .unwrap()
                .is_none()
        );
        let html = admin
            .follow(
                admin
                    .post_form("/trust/switch", &[("scope", "*"), ("state", "off")])
                    .await,
            )
            .await;
        assert!(html.contains("stopped for every app"), "{html}");
        assert!(
            auto::switched_off(store, &other, &Default::default())
                .await
                .unwrap()
                .is_some()
        );
        let off = audit_kinds(&t, "autosend.switched_off").await;
        assert_eq!(off.len(), 2);
        assert_eq!(off[0].data["reason"], "<i>odd</i> replies");
        assert!(off[1].actor.contains("user:"), "{}", off[1].actor);
        admin
            .follow(
                admin
                    .post_form("/trust/switch", &[("scope", "*"), ("state", "on")])
                    .await,
            )
            .await;
        assert!(
            auto::switched_off(store, &other, &Default::default())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            auto::switched_off(store, &slug, &Default::default())
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(audit_kinds(&t, "autosend.switched_on").await.len(), 1);
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
