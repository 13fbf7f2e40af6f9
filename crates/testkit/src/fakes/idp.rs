//! A fake OpenID Connect provider speaking the real protocol, for the dashboard's single
//! sign-on tests: discovery (`/.well-known/openid-configuration`), the JWKS (`/jwks`), the
//! authorization endpoint (`GET /authorize`: checks the client, redirect URI, `openid` scope
//! and an S256 PKCE challenge, then auto-approves the configured user with a redirect back
//! carrying `code` and `state`) and the token endpoint (`POST /token`: client authentication
//! by HTTP Basic or `client_secret_post`, a single-use code bound to the redirect URI, the PKCE
//! verifier checked against the challenge), which issues an RS256-signed ID token. The RSA key
//! is generated when the fake starts.
//!
//! [`Tamper`] makes the next ID token wrong in one way (nonce, signature, audience, issuer,
//! expiry, another key), to prove the client refuses it.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The user the fake signs in (auto-approved at `/authorize`).
#[derive(Debug, Clone)]
pub struct IdpUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    /// More claims of the ID token (e.g. `"groups": ["support-admins"]`).
    pub claims: serde_json::Map<String, Value>,
}

impl IdpUser {
    pub fn new(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            email_verified: true,
            name: None,
            claims: serde_json::Map::new(),
        }
    }

    /// With one more claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }
}

/// One way to spoil the next ID token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// A nonce other than the one of the authorization request.
    Nonce,
    /// A flipped byte in the signature.
    Signature,
    /// The payload changed after signing (the role claim raised to admin).
    Payload,
    /// Issued for another client.
    Audience,
    /// From another issuer.
    Issuer,
    /// Expired an hour ago.
    Expired,
    /// Signed by a key that is not in the JWKS (same `kid`).
    OtherKey,
}

/// A token request as the fake saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub form: BTreeMap<String, String>,
    pub basic_auth: bool,
    /// The status the fake answered.
    pub status: u16,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    user: IdpUser,
    issued_ms: u128,
}

struct IdpState {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uris: Vec<String>,
    key: RsaPrivateKey,
    other_key: RsaPrivateKey,
    kid: String,
    user: Option<IdpUser>,
    grants: BTreeMap<String, Grant>,
    tamper: Option<Tamper>,
    authorize_requests: Vec<BTreeMap<String, String>>,
    token_requests: Vec<TokenRequest>,
    next: u64,
}

/// A running fake OpenID provider. Cheap to clone.
#[derive(Clone)]
pub struct FakeIdp(Arc<Mutex<IdpState>>);

fn lock(m: &Mutex<IdpState>) -> std::sync::MutexGuard<'_, IdpState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn new_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key")
}

impl FakeIdp {
    /// Start on a free port for client `client_id` / `client_secret`, accepting the redirect
    /// URIs `redirect_uris` (exact match). The issuer is `http://127.0.0.1:PORT`.
    pub async fn start(client_id: &str, client_secret: &str, redirect_uris: &[&str]) -> FakeIdp {
        let (key, other_key) = tokio::task::spawn_blocking(|| (new_key(), new_key()))
            .await
            .expect("key generation");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake IdP");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let kid = format!(
            "fake-{}",
            &hex_of(&Sha256::digest(key.n().to_bytes_be()))[..12]
        );
        let fake = FakeIdp(Arc::new(Mutex::new(IdpState {
            issuer,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            key,
            other_key,
            kid,
            user: None,
            grants: BTreeMap::new(),
            tamper: None,
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
            next: 0,
        })));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// The issuer URL (no trailing slash).
    pub fn issuer(&self) -> String {
        lock(&self.0).issuer.clone()
    }

    /// Accept one more redirect URI (e.g. once the platform's port is known).
    pub fn add_redirect_uri(&self, uri: &str) {
        lock(&self.0).redirect_uris.push(uri.into());
    }

    /// Who `/authorize` signs in from now on (`None`: it answers `access_denied`).
    pub fn sign_in_as(&self, user: Option<IdpUser>) {
        lock(&self.0).user = user;
    }

    /// Spoil the next ID token issued.
    pub fn tamper_next(&self, how: Tamper) {
        lock(&self.0).tamper = Some(how);
    }

    /// The query parameters of every authorization request, oldest first.
    pub fn authorize_requests(&self) -> Vec<BTreeMap<String, String>> {
        lock(&self.0).authorize_requests.clone()
    }

    /// Every token request, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.0).token_requests.clone()
    }

    /// An ID token for `user` as the fake would issue it to its client (`nonce` as given),
    /// for tests that replay or forge one.
    pub fn id_token(&self, user: &IdpUser, nonce: Option<&str>) -> String {
        let st = lock(&self.0);
        sign_id_token(&st, user, nonce, None)
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn sign_id_token(
    st: &IdpState,
    user: &IdpUser,
    nonce: Option<&str>,
    tamper: Option<Tamper>,
) -> String {
    let now = (now_ms() / 1000) as i64;
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(st.issuer));
    claims.insert("sub".into(), json!(user.sub));
    claims.insert("aud".into(), json!(st.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("email".into(), json!(user.email));
    claims.insert("email_verified".into(), json!(user.email_verified));
    if let Some(name) = &user.name {
        claims.insert("name".into(), json!(name));
    }
    if let Some(n) = nonce {
        claims.insert("nonce".into(), json!(n));
    }
    for (k, v) in &user.claims {
        claims.insert(k.clone(), v.clone());
    }
    match tamper {
        Some(Tamper::Nonce) => {
            claims.insert("nonce".into(), json!("a-nonce-from-another-login"));
        }
        Some(Tamper::Audience) => {
            claims.insert("aud".into(), json!("some-other-client"));
        }
        Some(Tamper::Issuer) => {
            claims.insert("iss".into(), json!("http://127.0.0.1:1"));
        }
        Some(Tamper::Expired) => {
            claims.insert("iat".into(), json!(now - 7200));
            claims.insert("exp".into(), json!(now - 3600));
        }
        _ => {}
    }
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": st.kid});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(Value::Object(claims.clone()).to_string().as_bytes())
    );
    let key = if tamper == Some(Tamper::OtherKey) {
        &st.other_key
    } else {
        &st.key
    };
    let mut sig = SigningKey::<Sha256>::new(key.clone())
        .sign(signing_input.as_bytes())
        .to_vec();
    match tamper {
        Some(Tamper::Signature) => {
            if let Some(b) = sig.get_mut(10) {
                *b ^= 0x01;
            }
            format!("{signing_input}.{}", b64(&sig))
        }
        Some(Tamper::Payload) => {
            // Same header and signature, a payload that says more than was signed.
            claims.insert("groups".into(), json!(["support-admins"]));
            claims.insert("email".into(), json!("mallory@example.com"));
            format!(
                "{}.{}.{}",
                b64(header.to_string().as_bytes()),
                b64(Value::Object(claims).to_string().as_bytes()),
                b64(&sig)
            )
        }
        _ => format!("{signing_input}.{}", b64(&sig)),
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn discovery(State(fake): State<FakeIdp>) -> Response {
    let iss = fake.issuer();
    json_response(
        StatusCode::OK,
        json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/authorize"),
            "token_endpoint": format!("{iss}/token"),
            "jwks_uri": format!("{iss}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
        }),
    )
}

async fn jwks(State(fake): State<FakeIdp>) -> Response {
    let st = lock(&fake.0);
    let public = st.key.to_public_key();
    json_response(
        StatusCode::OK,
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": st.kid,
            "n": b64(&public.n().to_bytes_be()),
            "e": b64(&public.e().to_bytes_be()),
        }]}),
    )
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

/// `GET /authorize`: errors about the client or the redirect URI are shown here (never
/// redirected, as the spec says); the others go back to the client with `error=`.
async fn authorize(
    State(fake): State<FakeIdp>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut st = lock(&fake.0);
    st.authorize_requests.push(q.clone());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != st.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let redirect_uri = get("redirect_uri");
    if !st.redirect_uris.contains(&redirect_uri) {
        return (StatusCode::BAD_REQUEST, "redirect_uri not registered").into_response();
    }
    let state = get("state");
    let back = |error: &str| {
        Redirect::to(&with_query(
            &redirect_uri,
            &[("error", error), ("state", &state)],
        ))
        .into_response()
    };
    if get("response_type") != "code" {
        return back("unsupported_response_type");
    }
    if !get("scope").split(' ').any(|s| s == "openid") {
        return back("invalid_scope");
    }
    let challenge = get("code_challenge");
    if challenge.len() < 43 || get("code_challenge_method") != "S256" {
        return back("invalid_request");
    }
    let Some(user) = st.user.clone() else {
        return back("access_denied");
    };
    st.next += 1;
    let code = format!("code-{}-{}", st.next, hex_of(&rand_bytes()));
    st.grants.insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.clone(),
            challenge,
            nonce: q.get("nonce").cloned(),
            user,
            issued_ms: now_ms(),
        },
    );
    Redirect::to(&with_query(
        &redirect_uri,
        &[("code", &code), ("state", &state)],
    ))
    .into_response()
}

fn rand_bytes() -> [u8; 16] {
    use rsa::rand_core::RngCore;
    let mut b = [0u8; 16];
    rsa::rand_core::OsRng.fill_bytes(&mut b);
    b
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// `POST /token` (`application/x-www-form-urlencoded`).
async fn token(
    State(fake): State<FakeIdp>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let mut st = lock(&fake.0);
    let res = token_answer(&mut st, &form, basic.as_deref());
    st.token_requests.push(TokenRequest {
        form,
        basic_auth: basic.is_some(),
        status: res.status().as_u16(),
    });
    res
}

fn form_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("x={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn token_answer(
    st: &mut IdpState,
    form: &BTreeMap<String, String>,
    basic: Option<&str>,
) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    // Client authentication: HTTP Basic (form-encoded id and secret, RFC 6749 §2.3.1) or
    // client_secret_post.
    let (id, secret) = match basic.and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (form_decode(id), form_decode(secret)),
        None => (get("client_id"), get("client_secret")),
    };
    if id != st.client_id || secret != st.client_secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if get("grant_type") != "authorization_code" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    // A code is used once, whatever happens next.
    let Some(grant) = st.grants.remove(&get("code")) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if now_ms().saturating_sub(grant.issued_ms) > 60_000 {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "code expired");
    }
    if get("redirect_uri") != grant.redirect_uri {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match",
        );
    }
    let verifier = get("code_verifier");
    if verifier.len() < 43 || b64(&Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let tamper = st.tamper.take();
    let id_token = sign_id_token(st, &grant.user, grant.nonce.as_deref(), tamper);
    st.next += 1;
    json_response(
        StatusCode::OK,
        json!({
            "access_token": format!("at-{}-{}", st.next, hex_of(&rand_bytes())),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid email profile",
            "id_token": id_token,
        }),
    )
}
