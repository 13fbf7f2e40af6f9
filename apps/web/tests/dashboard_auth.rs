//! The dashboard's foundation, server-side: sign-in, sessions, CSRF, roles, security headers
//! and escaping, on SQLite and (with `TEST_DATABASE_URL`) Postgres.

use support_core::auth::Role;
use support_testkit::{TestApp, web_client};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn login_with_the_right_password_opens_the_dashboard() {
    for app in TestApp::each_backend().await {
        let s = app.login_as(Role::Agent).await;
        let html = s.page("/").await;
        assert!(html.contains("Overview"), "{html}");
        assert!(
            html.contains(&s.user.email) || html.contains("Test agent"),
            "{html}"
        );
        assert!(html.contains(">agent<"), "the role is shown: {html}");
        let audit = app.audit_of("login.succeeded").await;
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0]["data"]["user_id"], s.user.id.as_str());
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    for app in TestApp::each_backend().await {
        let (user, _) = app.user_with_password(Role::Admin).await;
        assert_eq!(
            app.login(&user.email, "not-the-password").await.err(),
            Some(401)
        );
        assert_eq!(app.login("nobody@example.com", "x").await.err(), Some(401));
        assert_eq!(app.audit_of("login.failed").await.len(), 2);
        assert!(app.audit_of("login.succeeded").await.is_empty());
    }
}

#[tokio::test]
async fn without_a_session_get_goes_to_login_and_post_is_refused() {
    let app = TestApp::spawn().await;
    let client = web_client();
    let res = client.get(app.url("/?app=x")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(header(&res, "location"), "/login?next=%2F%3Fapp%3Dx");
    let res = client
        .post(app.url("/logout"))
        .form(&[("_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let html = res.text().await.unwrap();
    assert!(html.contains("unauthorized"), "{html}");
    // A forged session cookie is no session.
    let res = client
        .get(app.url("/"))
        .header("cookie", "support_session=ses_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
}

#[tokio::test]
async fn a_post_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let s = app.login_as(Role::Admin).await;
    for fields in [vec![], vec![("_csrf", "nope")]] {
        let res = s.post_raw("/logout", &fields).await;
        assert_eq!(res.status().as_u16(), 403);
        let html = res.text().await.unwrap();
        assert!(html.contains("csrf_invalid"), "{html}");
        assert!(html.contains("Nothing was changed"), "{html}");
    }
    // Still signed in.
    s.page("/").await;
    // Another session's token is not this one's.
    let other = app.login_as(Role::Admin).await;
    let res = s.post_raw("/logout", &[("_csrf", &other.csrf)]).await;
    assert_eq!(res.status().as_u16(), 403);
    // With the token, logout works and the session is gone.
    let res = s.post_form("/logout", &[]).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(s.get("/").await.status().as_u16(), 303);
    other.page("/").await;
}

#[tokio::test]
async fn the_login_form_needs_its_token() {
    let app = TestApp::spawn().await;
    let (user, password) = app.user_with_password(Role::Viewer).await;
    let res = web_client()
        .post(app.url("/login"))
        .form(&[
            ("email", user.email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("set-cookie").is_none_or(|c| {
        !c.to_str()
            .unwrap_or_default()
            .starts_with("support_session=ses_")
    }));
}

#[tokio::test]
async fn dashboard_responses_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let s = app.login_as(Role::Viewer).await;
    for res in [
        s.get("/").await,
        web_client().get(app.url("/login")).send().await.unwrap(),
    ] {
        let csp = header(&res, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(header(&res, "referrer-policy"), "same-origin");
        assert_eq!(header(&res, "x-frame-options"), "DENY");
        // Plain http here: no HSTS.
        assert!(header(&res, "strict-transport-security").is_empty());
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script"), "no inline script: {html}");
        assert!(!html.contains("style=\""), "no inline style: {html}");
    }
    // No hydrate bundle was built here: no script, and /pkg/ serves nothing.
    assert_eq!(s.get("/pkg/boot.js").await.status().as_u16(), 404);
    let css = s.get("/ui/style.css").await;
    assert_eq!(css.status().as_u16(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert!(
        css.text()
            .await
            .unwrap()
            .contains("prefers-color-scheme: dark")
    );
}

#[tokio::test]
async fn customer_text_is_escaped_in_the_shell() {
    let app = TestApp::spawn().await;
    let s = app.login_as(Role::Admin).await;
    // A name and an app filter value carrying markup render as text.
    app.platform
        .store
        .set_user_role(&s.user.id, Role::Admin)
        .await
        .unwrap();
    let res = s.get("/?app=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(
        html.contains("/?app=%3Cscript%3E")
            || html.contains("&lt;script&gt;")
            || !html.contains("alert(1)"),
        "{html}"
    );
}

#[tokio::test]
async fn an_account_locks_after_repeated_failures() {
    for app in TestApp::each_backend().await {
        let (user, password) = app.user_with_password(Role::Agent).await;
        for _ in 0..4 {
            assert_eq!(app.login(&user.email, "wrong").await.err(), Some(401));
        }
        // The fifth failure locks the account; the right password is refused meanwhile.
        assert_eq!(app.login(&user.email, "wrong").await.err(), Some(423));
        assert_eq!(app.login(&user.email, &password).await.err(), Some(423));
        let locked = app.audit_of("login.locked").await;
        assert_eq!(locked.len(), 1, "{locked:?}");
        assert_eq!(locked[0]["data"]["user_id"], user.id.as_str());
        assert!(app.audit_of("login.succeeded").await.is_empty());
        // Another account is not affected; an admin's password reset unlocks.
        let admin = app.login_as(Role::Admin).await;
        let res = admin
            .post_form(&format!("/users/{}/password", user.id), &[])
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        let new_password = html
            .split("<pre><code>")
            .nth(1)
            .and_then(|s| s.split("</code>").next())
            .expect("the new password")
            .to_string();
        assert!(app.login(&user.email, &new_password).await.is_ok());
    }
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_user() {
    for app in TestApp::each_backend().await {
        let a = app.login_as(Role::Viewer).await;
        let b = app
            .login(&a.user.email, &a.password)
            .await
            .expect("second session");
        let other = app.login_as(Role::Viewer).await;
        b.page("/").await;
        let res = a.post_form("/logout/everywhere", &[]).await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(a.get("/").await.status().as_u16(), 303);
        assert_eq!(b.get("/").await.status().as_u16(), 303);
        other.page("/").await;
        assert_eq!(app.audit_of("session.ended_everywhere").await.len(), 1);
    }
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_end() {
    use support_core::store::SessionRow;
    use support_core::time::now_ms;
    use support_web::auth::sessions::{ABSOLUTE_MS, COOKIE, IDLE_MS, hash};
    for app in TestApp::each_backend().await {
        let (user, _) = app.user_with_password(Role::Viewer).await;
        let now = now_ms();
        let client = web_client();
        // (started, last used, alive now?)
        let cases = [
            (now - 1000, 0, true),
            (now - IDLE_MS - 1000, 0, false),
            (now - IDLE_MS - 1000, now - 5000, true),
            (now - ABSOLUTE_MS + 60_000, now - 1000, true),
            (now - ABSOLUTE_MS - 1000, now - 1000, false),
        ];
        for (i, (created_at, last_seen, alive)) in cases.into_iter().enumerate() {
            let token = format!("ses_test_{i}_{}", user.id);
            app.platform
                .store
                .insert_session(&SessionRow {
                    token_hash: hash(&token),
                    user_id: user.id.clone(),
                    created_at,
                    expires_at: created_at + ABSOLUTE_MS,
                })
                .await
                .unwrap();
            if last_seen > 0 {
                app.platform
                    .store
                    .touch_session(&hash(&token), last_seen)
                    .await
                    .unwrap();
            }
            let res = client
                .get(app.url("/"))
                .header("cookie", format!("{COOKIE}={token}"))
                .send()
                .await
                .unwrap();
            let expected = if alive { 200 } else { 303 };
            assert_eq!(res.status().as_u16(), expected, "case {i}");
        }
    }
}

#[tokio::test]
async fn viewers_and_agents_cannot_manage_users_even_by_forging_the_post() {
    for app in TestApp::each_backend().await {
        for role in [Role::Viewer, Role::Agent] {
            let s = app.login_as(role).await;
            assert_eq!(s.get("/users").await.status().as_u16(), 403);
            let email = format!("forged-{}@example.com", role.as_str());
            let res = s
                .post_form("/users", &[("email", &email), ("role", "admin")])
                .await;
            assert_eq!(res.status().as_u16(), 403);
            assert!(res.text().await.unwrap().contains("forbidden"));
            let res = s
                .post_form(&format!("/users/{}/role", s.user.id), &[("role", "admin")])
                .await;
            assert_eq!(res.status().as_u16(), 403);
            assert!(
                app.platform
                    .store
                    .get_user_by_email(&email)
                    .await
                    .unwrap()
                    .is_none()
            );
            let me = app
                .platform
                .store
                .get_user(&s.user.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(me.role, role);
            // The navigation does not offer Users to them.
            assert!(!s.page("/").await.contains("href=\"/users\""));
        }
        assert!(app.audit_of("user.created").await.is_empty());
    }
}

#[tokio::test]
async fn admins_manage_users_and_tokens() {
    for app in TestApp::each_backend().await {
        let admin = app.login_as(Role::Admin).await;
        // Create: the first password is shown once, and works.
        let res = admin
            .post_form(
                "/users",
                &[
                    ("email", "new@example.com"),
                    ("name", "<script>alert(1)</script>"),
                    ("role", "agent"),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        let password = html
            .split("<pre><code>")
            .nth(1)
            .and_then(|s| s.split("</code>").next())
            .expect("password")
            .to_string();
        let new = app
            .login("new@example.com", &password)
            .await
            .expect("login");
        let list = admin.page("/users").await;
        assert!(list.contains("new@example.com"), "{list}");
        assert!(!list.contains("<script>alert(1)"), "escaped: {list}");
        assert!(
            list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{list}"
        );
        // Role, Slack link.
        let id = new.user.id.clone();
        let res = admin
            .post_form(&format!("/users/{id}/role"), &[("role", "viewer")])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        let res = admin
            .post_form(
                &format!("/users/{id}/slack"),
                &[("slack_user_id", "U0NEW1")],
            )
            .await;
        // The flash of the redirect is shown once.
        let page = admin.follow(res).await;
        assert!(
            page.contains("Linked Slack user U0NEW1 to new@example.com."),
            "{page}"
        );
        let u = app.platform.store.get_user(&id).await.unwrap().unwrap();
        assert_eq!(
            (u.role, u.slack_user_id.as_deref()),
            (Role::Viewer, Some("U0NEW1"))
        );
        let res = admin
            .post_form(
                &format!("/users/{id}/slack"),
                &[("slack_user_id", "not slack")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 422);
        // The demo admin can be demoted (another admin is left), then the last admin cannot
        // demote themselves.
        let demo = app
            .platform
            .store
            .get_user_by_email("admin@demo.test")
            .await
            .unwrap()
            .unwrap();
        let res = admin
            .post_form(&format!("/users/{}/role", demo.id), &[("role", "agent")])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        let res = admin
            .post_form(
                &format!("/users/{}/role", admin.user.id),
                &[("role", "viewer")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 409);
        assert!(res.text().await.unwrap().contains("last_admin"));
        // Deactivate: their session ends.
        new.page("/").await;
        let res = admin
            .post_form(&format!("/users/{id}/deactivate"), &[])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(new.get("/").await.status().as_u16(), 303);
        // Tokens: created once, then revoked.
        let res = admin
            .post_form(
                "/tokens",
                &[("name", "ci"), ("role", "viewer"), ("user", "")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        let token = html
            .split("<pre><code>")
            .nth(1)
            .and_then(|s| s.split("</code>").next())
            .expect("token")
            .to_string();
        assert!(token.starts_with("sup_"), "{token}");
        let who = app
            .client
            .get(app.url("/api/v1/whoami"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status().as_u16(), 200);
        let row = app
            .platform
            .store
            .list_api_tokens()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name == "ci")
            .unwrap();
        let res = admin
            .post_form(&format!("/tokens/{}/revoke", row.id), &[])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        let who = app
            .client
            .get(app.url("/api/v1/whoami"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status().as_u16(), 401);
        assert!(admin.page("/tokens").await.contains("revoked"));
        for kind in [
            "user.created",
            "user.role_changed",
            "user.slack_linked",
            "user.deactivated",
            "token.created",
            "token.revoked",
        ] {
            assert!(!app.audit_of(kind).await.is_empty(), "{kind}");
        }
    }
}

#[tokio::test]
async fn the_login_form_has_its_own_rate_limit_per_source() {
    use support_core::settings::RouteQuota;
    let app = TestApp::spawn_with(support_testkit::TestBackend::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.login = RouteQuota::new(60, 3);
    })
    .await
    .expect("sqlite");
    let client = web_client();
    let post = || {
        client
            .post(app.url("/login"))
            .form(&[("email", "a@example.com"), ("password", "x")])
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post().await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![403, 403, 403, 429],
        "three tries, then refused"
    );
    // Other routes keep their own quota.
    let res = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}
