//! Single sign-on against a local OpenID provider that signs real RS256 ID tokens
//! (`support_testkit::fakes::FakeIdp`): the whole authorization-code + PKCE round trip through
//! the platform's `/auth/oidc/login` and `/auth/oidc/callback`, role mapping from a claim and
//! an allow list, and every way the answer can be wrong.

use serde_json::json;
use support_core::auth::Role;
use support_testkit::fakes::{FakeIdp, IdpUser, Tamper};
use support_testkit::web::{set_cookie, web_client};
use support_testkit::{TestApp, TestBackend};

const CLIENT_ID: &str = "support-dashboard";
const CLIENT_SECRET: &str = "idp-client-secret-value";

async fn setup(client_secret: &str) -> (TestApp, FakeIdp) {
    let idp = FakeIdp::start(CLIENT_ID, CLIENT_SECRET, &[]).await;
    let issuer = idp.issuer();
    let secret = client_secret.to_string();
    let app = TestApp::spawn_with(TestBackend::Sqlite, move |s| {
        s.oidc.issuer_url = Some(issuer);
        s.oidc.client_id = Some(CLIENT_ID.into());
        s.oidc.client_secret = Some(support_core::settings::Secret::new(secret));
        s.oidc.role_claim = Some("groups".into());
        s.oidc.role_values = [
            ("support-admins".to_string(), Role::Admin),
            ("support-agents".to_string(), Role::Agent),
        ]
        .into_iter()
        .collect();
        s.oidc.allow = [
            ("viewer@example.org".to_string(), Role::Viewer),
            ("@partner.example".to_string(), Role::Agent),
        ]
        .into_iter()
        .collect();
    })
    .await
    .expect("SQLite");
    idp.add_redirect_uri(&app.url("/auth/oidc/callback"));
    (app, idp)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The browser's side of one sign-on: start at the platform, follow the provider's redirect
/// (it auto-approves), and return the callback URL and the login cookie.
async fn to_callback(app: &TestApp, next: &str) -> (String, String) {
    let client = web_client();
    let start = client
        .get(app.url(&format!("/auth/oidc/login?next={next}")))
        .send()
        .await
        .expect("login");
    assert_eq!(start.status().as_u16(), 303);
    let cookie = set_cookie(&start, "support_oidc").expect("login cookie");
    let authorize = location(&start);
    let at_idp = client.get(&authorize).send().await.expect("authorize");
    assert!(at_idp.status().is_redirection(), "{}", at_idp.status());
    let callback = location(&at_idp);
    assert!(
        callback.starts_with(&app.url("/auth/oidc/callback?")),
        "{callback}"
    );
    (callback, cookie)
}

/// The callback's answer for `callback` with `cookie`.
async fn callback(callback: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = web_client().get(callback);
    if let Some(c) = cookie {
        req = req.header(reqwest::header::COOKIE, c);
    }
    req.send().await.expect("callback")
}

/// A full sign-on; the callback's answer.
async fn sign_on(app: &TestApp) -> reqwest::Response {
    let (url, cookie) = to_callback(app, "/approvals").await;
    callback(&url, Some(&cookie)).await
}

async fn refused(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status().as_u16(), status);
    assert!(set_cookie(&res, "support_session").is_none(), "no session");
    let body = res.text().await.expect("body");
    assert!(body.contains(code), "{code} in {body}");
    body
}

#[tokio::test]
async fn sign_on_through_the_provider_starts_a_session_with_the_mapped_role() {
    let (app, idp) = setup(CLIENT_SECRET).await;
    // The login page offers single sign-on.
    let login = web_client()
        .get(app.url("/login?next=/approvals"))
        .send()
        .await
        .expect("login page");
    let html = login.text().await.expect("html");
    assert!(
        html.contains("href=\"/auth/oidc/login?next=%2Fapprovals\""),
        "{html}"
    );
    idp.sign_in_as(Some(
        IdpUser::new("sub-ada", "Ada@Example.com")
            .claim("groups", json!(["staff", "support-admins"])),
    ));
    let res = sign_on(&app).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), "/approvals", "back to next");
    let session = set_cookie(&res, "support_session").expect("a session");
    let page = web_client()
        .get(app.url("/"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .expect("home");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("ada@example.com"), "{html}");
    let store = &app.platform.store;
    let ada = store
        .get_user_by_email("ada@example.com")
        .await
        .expect("store")
        .expect("created on first sign-on");
    assert_eq!(ada.role, Role::Admin);
    assert!(ada.password_hash.is_none());

    // The request was a real authorization-code + PKCE flow with client authentication.
    let auth = &idp.authorize_requests()[0];
    assert_eq!(auth["response_type"], "code");
    assert_eq!(auth["code_challenge_method"], "S256");
    assert!(auth["scope"].split(' ').any(|s| s == "openid"));
    assert!(auth.contains_key("nonce") && auth.contains_key("state"));
    let token = &idp.token_requests()[0];
    assert_eq!(token.status, 200);
    assert!(token.basic_auth, "client_secret_basic");
    assert!(token.form["code_verifier"].len() >= 43);
    let ok = app.audit_of("login.succeeded").await;
    assert!(
        ok.iter()
            .any(|e| e["data"]["method"] == "oidc" && e["data"]["sub"] == "sub-ada"),
        "{ok:?}"
    );

    // The allow list: an exact email, and a domain.
    idp.sign_in_as(Some(IdpUser::new("sub-vic", "viewer@example.org")));
    assert_eq!(sign_on(&app).await.status().as_u16(), 303);
    idp.sign_in_as(Some(IdpUser::new("sub-pat", "pat@partner.example")));
    assert_eq!(sign_on(&app).await.status().as_u16(), 303);
    for (email, role) in [
        ("viewer@example.org", Role::Viewer),
        ("pat@partner.example", Role::Agent),
    ] {
        let u = store.get_user_by_email(email).await.expect("store");
        assert_eq!(u.map(|u| u.role), Some(role), "{email}");
    }

    // An existing user is brought to the provider's role, audited.
    let bob = app.add_user("bob@example.com", Role::Viewer, None).await;
    idp.sign_in_as(Some(
        IdpUser::new("sub-bob", "bob@example.com").claim("groups", json!("support-agents")),
    ));
    assert_eq!(sign_on(&app).await.status().as_u16(), 303);
    let bob = store.get_user(&bob.id).await.expect("store").expect("bob");
    assert_eq!(bob.role, Role::Agent);
    let changed = app.audit_of("user.role_changed").await;
    assert!(
        changed
            .iter()
            .any(|e| e["data"]["email"] == "bob@example.com" && e["data"]["to"] == "agent"),
        "{changed:?}"
    );
}

#[tokio::test]
async fn a_user_the_mapping_does_not_admit_is_refused_with_a_page_and_an_audit_entry() {
    let (app, idp) = setup(CLIENT_SECRET).await;
    idp.sign_in_as(Some(
        IdpUser::new("sub-eve", "eve@elsewhere.io").claim("groups", json!(["staff", "admin"])),
    ));
    let body = refused(sign_on(&app).await, 403, "oidc_forbidden").await;
    assert!(body.contains("eve@elsewhere.io is not allowed"), "{body}");
    assert!(
        app.platform
            .store
            .get_user_by_email("eve@elsewhere.io")
            .await
            .expect("store")
            .is_none(),
        "no user created"
    );
    // An unverified email is not trusted, even on the allow list.
    let mut unverified = IdpUser::new("sub-v2", "viewer@example.org");
    unverified.email_verified = false;
    idp.sign_in_as(Some(unverified));
    refused(sign_on(&app).await, 403, "oidc_forbidden").await;
    // A deactivated user stays out.
    let gone = app.add_user("gone@example.org", Role::Admin, None).await;
    app.platform
        .store
        .deactivate_user(&gone.id, 1)
        .await
        .expect("deactivate");
    idp.sign_in_as(Some(
        IdpUser::new("sub-gone", "gone@example.org").claim("groups", json!(["support-admins"])),
    ));
    refused(sign_on(&app).await, 403, "oidc_forbidden").await;
    // The provider saying no.
    idp.sign_in_as(None);
    refused(sign_on(&app).await, 401, "oidc_denied").await;

    let audit = app.audit_of("oidc.refused").await;
    let reasons: Vec<&str> = audit
        .iter()
        .filter_map(|e| e["data"]["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "not_allowed",
            "email_unverified",
            "deactivated",
            "provider_denied"
        ],
        "{audit:?}"
    );
    assert_eq!(audit[0]["data"]["email"], "eve@elsewhere.io");
}

#[tokio::test]
async fn tampered_or_misdirected_id_tokens_are_refused() {
    let (app, idp) = setup(CLIENT_SECRET).await;
    idp.sign_in_as(Some(
        IdpUser::new("sub-ada", "ada@example.com").claim("groups", json!(["support-agents"])),
    ));
    for how in [
        Tamper::Nonce,
        Tamper::Signature,
        Tamper::Payload,
        Tamper::Audience,
        Tamper::Issuer,
        Tamper::Expired,
        Tamper::OtherKey,
    ] {
        idp.tamper_next(how);
        let res = sign_on(&app).await;
        assert_eq!(res.status().as_u16(), 401, "{how:?}");
        refused(res, 401, "oidc_token_invalid").await;
    }
    assert!(
        app.platform
            .store
            .get_user_by_email("mallory@example.com")
            .await
            .expect("store")
            .is_none()
    );
    let audit = app.audit_of("oidc.refused").await;
    assert_eq!(audit.len(), 7, "{audit:?}");
    assert!(
        audit
            .iter()
            .all(|e| e["data"]["reason"] == "id_token_invalid")
    );
    // And the same provider, untampered, signs in.
    assert_eq!(sign_on(&app).await.status().as_u16(), 303);
}

#[tokio::test]
async fn the_state_must_match_the_login_this_browser_started() {
    let (app, idp) = setup(CLIENT_SECRET).await;
    idp.sign_in_as(Some(
        IdpUser::new("sub-ada", "ada@example.com").claim("groups", json!(["support-agents"])),
    ));
    // A callback with another state than this browser's.
    let (url, cookie) = to_callback(&app, "/").await;
    let forged = url.replace("state=", "state=x");
    refused(
        callback(&forged, Some(&cookie)).await,
        400,
        "oidc_state_invalid",
    )
    .await;
    // A callback without the login cookie (another browser, a link sent by an attacker).
    let (url, _) = to_callback(&app, "/").await;
    refused(callback(&url, None).await, 400, "oidc_state_invalid").await;
    // Another login's cookie.
    let (url_a, _) = to_callback(&app, "/").await;
    let (_, cookie_b) = to_callback(&app, "/").await;
    refused(
        callback(&url_a, Some(&cookie_b)).await,
        400,
        "oidc_state_invalid",
    )
    .await;
    // A code is used once: the first callback signs in, a replay is refused.
    let (url, cookie) = to_callback(&app, "/").await;
    assert_eq!(callback(&url, Some(&cookie)).await.status().as_u16(), 303);
    refused(
        callback(&url, Some(&cookie)).await,
        502,
        "oidc_provider_error",
    )
    .await;
    assert_eq!(
        idp.token_requests().last().map(|t| t.status),
        Some(400),
        "the provider refused the replayed code"
    );
    let reasons: Vec<String> = app
        .audit_of("oidc.refused")
        .await
        .iter()
        .filter_map(|e| e["data"]["reason"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        reasons,
        [
            "state_mismatch",
            "no_login_cookie",
            "state_mismatch",
            "token_request_failed"
        ]
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_provider_and_never_shown() {
    let (app, idp) = setup("not-the-client-secret").await;
    idp.sign_in_as(Some(
        IdpUser::new("sub-ada", "ada@example.com").claim("groups", json!(["support-admins"])),
    ));
    let body = refused(sign_on(&app).await, 502, "oidc_provider_error").await;
    assert!(!body.contains("not-the-client-secret"));
    assert_eq!(idp.token_requests()[0].status, 401);
    let shown = format!("{:?}", app.platform.settings);
    assert!(!shown.contains("not-the-client-secret"));
    // Not configured at all: a clear 404.
    let plain = TestApp::spawn().await;
    let res = web_client()
        .get(plain.url("/auth/oidc/login"))
        .send()
        .await
        .expect("login");
    refused(res, 404, "oidc_not_configured").await;
}
