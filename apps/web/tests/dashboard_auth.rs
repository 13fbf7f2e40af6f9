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
