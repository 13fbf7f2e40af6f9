//! The Front sidebar plugin's server side, on SQLite and (with `TEST_DATABASE_URL`) Postgres:
//! the `auth_secret` gate and its headers, the signed session token, the conversation view,
//! ratings, the link flow (one-time ticket, credential) and approvals through the shared
//! decision function, refused without a linked user.

use serde_json::json;
use support_core::auth::{Role, hash_password, hash_token};
use support_core::store::{SessionRow, UserRow};
use support_core::time::now_ms;
use support_testkit::{TestApp, TestBackend};

mod common;
use common::{call, page_token, tweak};

async fn apps() -> Vec<TestApp> {
    let mut v = vec![
        TestApp::spawn_with(TestBackend::Sqlite, tweak)
            .await
            .expect("sqlite"),
    ];
    match TestApp::spawn_with(TestBackend::Postgres, tweak).await {
        Some(pg) => v.push(pg),
        None => println!("SKIPPED: Postgres variant (TEST_DATABASE_URL is not set)"),
    }
    v
}

/// A user of `role` with a dashboard session (as `/login` would start it): the cookie.
async fn signed_in(app: &TestApp, role: Role) -> (UserRow, String) {
    let id = support_core::ids::new_id("usr");
    let u = UserRow {
        email: format!("{}-{}@example.com", role.as_str(), id.to_ascii_lowercase()),
        id,
        name: None,
        role,
        password_hash: Some(hash_password("pw-plugin-test").expect("hash")),
        slack_user_id: None,
        created_at: now_ms(),
        deactivated_at: None,
    };
    app.platform.store.insert_user(&u).await.expect("user");
    let token = support_core::crypto::random_token("ses_", 32);
    app.platform
        .store
        .insert_session(&SessionRow {
            token_hash: hash_token(&token),
            user_id: u.id.clone(),
            created_at: now_ms(),
            expires_at: now_ms() + 3_600_000,
        })
        .await
        .expect("session");
    (u, format!("support_session={token}"))
}

/// Link teammate `tea` to a new user of `role` through the link page, redeem the ticket and
/// open a session with the credential: the linked token.
async fn linked_token(app: &TestApp, role: Role, tea: &str) -> (UserRow, String) {
    let (user, cookie) = signed_in(app, role).await;
    let state = support_core::crypto::random_hex(24);
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Without a session the link page sends the user to the dashboard's login.
    let res = web
        .get(app.url(&format!("/plugin/front/link?state={state}&teammate={tea}")))
        .send()
        .await
        .expect("GET link");
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(
        to.starts_with("/login?next=%2Fplugin%2Ffront%2Flink"),
        "{to}"
    );
    let html = web
        .get(app.url(&format!("/plugin/front/link?state={state}&teammate={tea}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET link")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&user.email), "{html}");
    let at = html.find("name=\"_csrf\" value=\"").expect("csrf") + 20;
    let csrf = &html[at..at + html[at..].find('"').expect("end")];
    let anon = page_token(app).await;
    // Before the confirmation there is nothing to redeem.
    let (s, b) = call(
        app,
        &anon,
        "POST",
        "/plugin/front/api/link/redeem",
        Some(json!({"state": state})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("link_pending"))
    );
    // A forged form (wrong CSRF) links nothing.
    let res = web
        .post(app.url("/plugin/front/link"))
        .header("cookie", &cookie)
        .form(&[
            ("state", state.as_str()),
            ("teammate", tea),
            ("_csrf", "forged"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 403);
    let res = web
        .post(app.url("/plugin/front/link"))
        .header("cookie", &cookie)
        .form(&[
            ("state", state.as_str()),
            ("teammate", tea),
            ("_csrf", csrf),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 200);
    let (s, b) = call(
        app,
        &anon,
        "POST",
        "/plugin/front/api/link/redeem",
        Some(json!({"state": state})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let cred = b["credential"].as_str().expect("credential").to_string();
    // Redeemed once only.
    let (s, _) = call(
        app,
        &anon,
        "POST",
        "/plugin/front/api/link/redeem",
        Some(json!({"state": state})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, b) = call(
        app,
        &anon,
        "POST",
        "/plugin/front/api/session",
        Some(json!({"credential": cred})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["me"]["linked"], true);
    assert_eq!(b["me"]["email"], user.email.as_str());
    (user, b["token"].as_str().expect("token").to_string())
}

#[tokio::test]
async fn the_secret_gates_the_page_and_the_headers_allow_only_the_configured_framing() {
    for app in apps().await {
        for bad in ["", "?auth_secret=wrong", "?auth_secret="] {
            let res = app
                .client
                .get(app.url(&format!("/plugin/front{bad}")))
                .send()
                .await
                .expect("GET");
            assert_eq!(res.status(), 401, "{bad}");
            let csp = res.headers()["content-security-policy"]
                .to_str()
                .expect("csp")
                .to_string();
            assert!(csp.contains("frame-ancestors http://127.0.0.1:*"), "{csp}");
            let html = res.text().await.expect("body");
            assert!(
                !html.contains("plugin-token") && !html.contains("<script"),
                "{html}"
            );
        }
        let res = app
            .client
            .get(app.url(&format!(
                "/plugin/front?auth_secret={}",
                app.demo.front_plugin_auth_secret
            )))
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h.get("x-frame-options").is_none());
        assert!(
            h.get("set-cookie").is_none(),
            "no cookie for a third-party iframe"
        );
        let html = res.text().await.expect("body");
        assert!(html.contains("/plugin/front/assets/plugin.js"));
        assert!(
            !html.contains(&app.demo.front_plugin_auth_secret),
            "the secret is not echoed"
        );
        let js = app
            .client
            .get(app.url("/plugin/front/assets/plugin.js"))
            .send()
            .await
            .expect("js");
        assert_eq!(js.status(), 200);
        assert!(
            js.text()
                .await
                .expect("js")
                .contains("@frontapp/ui-sdk#WebViewBridge.handshake")
        );
        // The API needs the page's token: none, or a forged one, is a 401.
        let (s, b) = call(&app, "", "GET", "/plugin/front/api/inbox", None).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (401, Some("plugin_unauthorized"))
        );
        let (s, _) = call(
            &app,
            "v1.eyJleHAiOjk5OTk5OTk5OTk5OTl9.AAAA",
            "GET",
            "/plugin/front/api/inbox",
            None,
        )
        .await;
        assert_eq!(s, 401);
        let token = page_token(&app).await;
        let (s, b) = call(&app, &token, "GET", "/plugin/front/api/inbox", None).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["me"]["linked"], false);
        // Body limits and bad ids.
        let (s, _) = call(
            &app,
            &token,
            "GET",
            "/plugin/front/api/conversations/not-a-cnv",
            None,
        )
        .await;
        assert_eq!(s, 400);
        let big = "x".repeat(super_limit());
        let (s, _) = call(
            &app,
            &token,
            "POST",
            "/plugin/front/api/conversations/cnv_1/rate",
            Some(json!({"rating": "good", "note": big})),
        )
        .await;
        assert_eq!(s, 413);
    }
}

fn super_limit() -> usize {
    support_front::plugin::BODY_LIMIT + 1
}

#[tokio::test]
async fn a_conversation_shows_our_suggestion_and_only_a_linked_agent_decides() {
    for app in apps().await {
        let (d, action, approval) = app.pending_refund(0).await;
        let token = page_token(&app).await;
        let (s, v) = call(
            &app,
            &token,
            "GET",
            &format!("/plugin/front/api/conversations/{}", d.conversation_id),
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["found"], true, "{v}");
        let route = &v["suggestion"]["route"];
        assert!(
            route["action"].is_string() && route["category"].is_string(),
            "{v}"
        );
        assert!(
            route["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{v}"
        );
        let pending = v["approvals"].as_array().expect("approvals");
        assert_eq!(pending.len(), 1, "{v}");
        assert_eq!(pending[0]["id"], approval.id.as_str());
        assert_eq!(pending[0]["action"]["id"], action.id.as_str());
        assert!(v["trail"].as_array().is_some_and(|t| !t.is_empty()));
        let trail_at: Vec<i64> = v["trail"]
            .as_array()
            .expect("trail")
            .iter()
            .filter_map(|t| t["at"].as_i64())
            .collect();
        assert!(trail_at.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert!(v["reply_to_message_id"].is_string(), "{v}");
        assert_eq!(v["me"]["can_decide"], false);

        // Rate the draft: a signal row, audited with the teammate.
        let (s, b) = call(
            &app,
            &token,
            "POST",
            &format!("/plugin/front/api/conversations/{}/rate", d.conversation_id),
            Some(json!({"rating": "bad", "note": "too long", "teammate_id": "tea_anon"})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let ratings = app
            .platform
            .store
            .list_draft_ratings(&d.conversation_id)
            .await
            .expect("ratings");
        assert_eq!(ratings.len(), 1);
        assert_eq!(
            (ratings[0].rating.as_str(), ratings[0].note.as_deref()),
            ("bad", Some("too long"))
        );
        assert!(
            app.audit_of("front_plugin.draft_rated")
                .await
                .iter()
                .any(|a| a["data"]["teammate_id"] == "tea_anon")
        );
        // ... and a trust signal for the conversation's app and routed category.
        let signals = app
            .platform
            .store
            .signals_for_conversation(&d.conversation_id)
            .await
            .expect("signals");
        let rating: Vec<_> = signals.iter().filter(|s| s.source == "plugin").collect();
        assert_eq!(rating.len(), 1, "{signals:?}");
        assert_eq!(rating[0].kind, support_core::trust::SignalKind::RatingBad);
        assert_eq!(rating[0].value, 0.0);
        assert_eq!(rating[0].id, format!("sig_{}", ratings[0].id));
        let conv = app.conversation(&d.conversation_id).await;
        assert_eq!(Some(rating[0].app.as_str()), conv.app.as_deref());
        assert_eq!(
            Some(rating[0].category.as_str()),
            v["suggestion"]["route"]["category"].as_str()
        );
        assert_eq!(rating[0].note.as_deref(), Some("too long"));
        assert_eq!(rating[0].actor.as_deref(), Some("tea_anon"));

        // Unlinked: a forged approve (the teammate id of an admin, any body) is refused.
        let (s, b) = call(
            &app,
            &token,
            "POST",
            &format!("/plugin/front/api/approvals/{}/approve", approval.id),
            Some(json!({"teammate_id": "tea_admin"})),
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (403, Some("plugin_not_linked")),
            "{b}"
        );
        assert!(!app.audit_of("approval.refused").await.is_empty());
        // A viewer, linked, is refused too.
        let (_, viewer) = linked_token(&app, Role::Viewer, "tea_viewer").await;
        let (s, b) = call(
            &app,
            &viewer,
            "POST",
            &format!("/plugin/front/api/approvals/{}/approve", approval.id),
            Some(json!({})),
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{b}"
        );
        // A linked agent rejects without a reason: the decision function's own refusal.
        let (agent, agent_token) = linked_token(&app, Role::Agent, "tea_agent").await;
        let (s, b) = call(
            &app,
            &agent_token,
            "POST",
            &format!("/plugin/front/api/approvals/{}/reject", approval.id),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 422, "{b}");
        let (s, b) = call(
            &app,
            &agent_token,
            "POST",
            &format!("/plugin/front/api/approvals/{}/approve", approval.id),
            Some(json!({"teammate_id": "tea_agent"})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["decision"], "approved", "{b}");
        let decided = app
            .platform
            .store
            .get_approval(&approval.id)
            .await
            .expect("store")
            .expect("approval");
        assert_eq!(
            decided.decided_by.as_deref(),
            Some(format!("user:{}", agent.email).as_str())
        );
        let (s, b) = call(
            &app,
            &agent_token,
            "POST",
            &format!("/plugin/front/api/approvals/{}/approve", approval.id),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 409, "decided once: {b}");
    }
}

/// A bad rating from the plugin after an automatic answer in the conversation demotes the
/// category to drafts at once (as the other bad outcomes do), audited; a good one does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rating_after_an_automatic_answer_demotes_the_category() {
    use support_core::autosend::Mode;
    use support_core::trust::{Signal, SignalKind};
    use support_workflow::autosend as auto;
    let app = TestApp::spawn_with(TestBackend::Sqlite, tweak)
        .await
        .expect("sqlite");
    let slug = app.demo.apps[0].slug.to_string();
    app.set_policy(0, |p| p.auto_send = vec!["access".into()])
        .await;
    let store = app.platform.store.as_ref();
    let now = now_ms();
    for i in 0..60_i64 {
        let s = Signal::new(
            format!("sig_pl_{i}"),
            SignalKind::Unchanged,
            slug.as_str(),
            "access",
            format!("cnv_pl_{i}"),
            now - (60 - i) * 3_600_000,
            "test",
        );
        assert!(store.record_signal(&s).await.expect("signal"));
    }
    let policy = support_core::registry::policy_of(
        &app.platform.registry.require(&slug).await.expect("app"),
    )
    .expect("policy");
    let defaults = support_core::registry::AppLlm {
        classifier: app.platform.settings.llm.classifier.clone(),
        agent: app.platform.settings.llm.agent.clone(),
    };
    let hash = auto::current_inputs_hash(store, &slug, &policy, &defaults)
        .await
        .expect("hash");
    store
        .put_certificate(&support_core::store::CertificateRow {
            app: slug.clone(),
            category: "access".into(),
            passed: true,
            inputs_hash: hash,
            scenarios: 3,
            failures: json!([]),
            certified_at: now,
        })
        .await
        .expect("certificate");
    let report = auto::promote(
        store,
        &slug,
        "access",
        &policy,
        &defaults,
        &Default::default(),
        "test",
    )
    .await
    .expect("promote");
    assert!(report.allowed, "{report:?}");

    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Login link",
            "Hi, I can't log in: the magic link in the login email never arrives, so I'm \
             locked out and cannot access my dashboard. Could you send me a new login link?",
        ))
        .await
        .expect("deliver");
    app.finished_run(&d.event_id, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(app.front.sent_replies(&d.conversation_id).len(), 1);

    let token = page_token(&app).await;
    let rate = format!("/plugin/front/api/conversations/{}/rate", d.conversation_id);
    let (s, b) = call(&app, &token, "POST", &rate, Some(json!({"rating": "good"}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        auto::mode_of(store, &slug, "access").await.unwrap(),
        Mode::Auto
    );
    let (s, b) = call(
        &app,
        &token,
        "POST",
        &rate,
        Some(json!({"rating": "bad", "note": "wrong link"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let mode = store.get_mode(&slug, "access").await.unwrap().unwrap();
    assert_eq!(mode.mode, Mode::Draft);
    assert!(
        mode.demotion_reason
            .as_deref()
            .unwrap_or_default()
            .contains("rating_bad"),
        "{mode:?}"
    );
    let demoted = app.audit_of("autosend.demoted").await;
    assert_eq!(demoted.len(), 1, "{demoted:?}");
    assert_eq!(demoted[0]["data"]["signal"], "rating_bad");
    let recorded = app.audit_of("signal.recorded").await;
    assert!(
        recorded.iter().any(|r| r["data"]["source"] == "plugin"),
        "the rating's signal is audited: {recorded:?}"
    );
}
