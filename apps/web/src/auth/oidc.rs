//! Single sign-on through an OpenID Connect provider (`settings.oidc`): the authorization
//! code flow with PKCE (S256), the provider's discovery document and JWKS, through the
//! `openidconnect` crate over our own HTTP client (the workspace reqwest on ring, no
//! redirects followed, bounded answers).
//!
//! - `GET /auth/oidc/login?next=/path`: a fresh `state`, `nonce` and PKCE verifier, sealed
//!   under the master key into a short-lived HttpOnly cookie ([`COOKIE`], 10 minutes), then a
//!   redirect to the provider.
//! - `GET /auth/oidc/callback?code&state`: the cookie must be there, unexpired and carry the
//!   same `state`; the code is exchanged with the verifier (client authentication by HTTP
//!   Basic); the ID token's signature (JWKS), issuer, audience, expiry and `nonce` are
//!   checked; the user's role comes from [`map_role`]. A user the mapping does not admit, an
//!   unverified email or a deactivated account is refused with a page saying so and an
//!   `oidc.refused` audit entry (sampled like every refusal); otherwise the user is created or
//!   their role brought in line with the provider (audited), a session starts
//!   ([`sessions::start_session`]) and the browser goes to `next`.
//!
//! Architecture Invariant: the identity provider decides who may sign in only through a
//! verified ID token; nothing from the callback's query string but `code` and `state` is
//! trusted, and the client secret never leaves the token request (it is a `Secret`).

use crate::auth::{safe_next, sessions};
use crate::ui::{self, PageError};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::crypto::ct_eq;
use support_core::settings::OidcSettings;
use support_core::store::UserRow;
use support_core::time::now_ms;
use support_host::Platform;

/// The cookie binding a login's `state`, `nonce` and PKCE verifier to the browser.
pub const COOKIE: &str = "support_oidc";
/// How long a provider round trip may take.
pub const LOGIN_TTL_SECS: i64 = 600;
/// The largest answer read from the provider (discovery, JWKS, token).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/auth/oidc/login", get(login))
        .route("/auth/oidc/callback", get(callback))
}

/// The claims of the ID token beyond the standard ones (the role claim lives here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims(serde_json::Map<String, Value>);
impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type OidcTokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient<A, D, I, R, T, U> = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    OidcTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    A,
    D,
    I,
    R,
    T,
    U,
>;
/// The client as discovery builds it.
type DiscoveredClient = OidcClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The sign-in link for the login page, when single sign-on is configured: its URL and label.
pub fn login_link(p: &Platform, next: &str) -> Option<(String, String)> {
    let cfg = &p.settings.oidc;
    if !cfg.enabled() {
        return None;
    }
    let label = cfg
        .display_name
        .clone()
        .unwrap_or_else(|| "Single sign-on".into());
    let url = if next.is_empty() || next == "/" {
        "/auth/oidc/login".to_string()
    } else {
        format!(
            "/auth/oidc/login?{}",
            serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
        )
    };
    Some((url, label))
}

/// The role single sign-on gives `email` with the ID token's `claims`: the highest of the role
/// claim's values (through `role_values`, or role names when that is empty) and the allow
/// list's entry for the email or its `@domain`. `None`: not admitted.
pub fn map_role(
    cfg: &OidcSettings,
    email: &str,
    claims: &serde_json::Map<String, Value>,
) -> Option<Role> {
    let mut best: Option<Role> = None;
    let mut consider = |r: Role| best = Some(best.map_or(r, |b| b.max(r)));
    if let Some(path) = cfg.role_claim.as_deref().filter(|p| !p.is_empty()) {
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or_default();
        let mut value = claims.get(first);
        for part in parts {
            value = value.and_then(|v| v.get(part));
        }
        let values: Vec<&str> = match value {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for v in values {
            let role = if cfg.role_values.is_empty() {
                Role::parse(v).ok()
            } else {
                cfg.role_values.get(v).copied()
            };
            if let Some(r) = role {
                consider(r);
            }
        }
    }
    let email = email.trim().to_ascii_lowercase();
    if let Some((_, domain)) = email.rsplit_once('@') {
        for (who, role) in &cfg.allow {
            let who = who.trim().to_ascii_lowercase();
            let hit = match who.strip_prefix('@') {
                Some(d) => d == domain,
                None => who == email,
            };
            if hit {
                consider(*role);
            }
        }
    }
    best
}

/// What the login cookie holds (sealed under the master key).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    /// Unix milliseconds.
    expires_at: i64,
}

const AAD: &[u8] = b"support-web oidc login";

fn not_configured() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "oidc_not_configured",
        "Single sign-on is not configured here; sign in with your email and password.",
    )
}

fn provider_error(cause: impl std::fmt::Display) -> PageError {
    tracing::warn!(%cause, "oidc: the identity provider failed");
    PageError::new(
        StatusCode::BAD_GATEWAY,
        "oidc_provider_error",
        "The identity provider could not be reached or gave an answer we cannot use. Try again \
         in a moment, or sign in with your email and password.",
    )
}

/// The HTTP client of the provider calls: no redirects, timeouts, bounded answers.
fn http_client() -> Result<reqwest::Client, PageError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| PageError::internal(format!("oidc http client: {e}")))
}

async fn send(
    http: reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let (parts, body) = req.into_parts();
    let mut res = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let status = res.status();
    let headers = res.headers().clone();
    let mut bytes = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(std::io::Error::other)? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(std::io::Error::other("answer too large"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut out = openidconnect::HttpResponse::new(bytes);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The redirect URL in force: configured, or `{public_url}/auth/oidc/callback` (the bound
/// address when `public_url` is unset).
fn redirect_url(p: &Platform) -> String {
    p.settings
        .oidc
        .redirect_url
        .clone()
        .unwrap_or_else(|| format!("{}/auth/oidc/callback", p.base_url()))
}

/// Discover the provider and build the client (discovery also fetches the JWKS).
async fn client(p: &Platform, http: &reqwest::Client) -> Result<DiscoveredClient, PageError> {
    let cfg = &p.settings.oidc;
    let (Some(issuer), Some(client_id)) = (cfg.issuer_url.clone(), cfg.client_id.clone()) else {
        return Err(not_configured());
    };
    let issuer = IssuerUrl::new(issuer).map_err(provider_error)?;
    let call = |req| send(http.clone(), req);
    let metadata = CoreProviderMetadata::discover_async(issuer, &call)
        .await
        .map_err(provider_error)?;
    let redirect = RedirectUrl::new(redirect_url(p)).map_err(provider_error)?;
    Ok(DiscoveredClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        cfg.client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose().to_string())),
    )
    .set_redirect_uri(redirect))
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login(
    State(p): State<Platform>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    if !p.settings.oidc.enabled() {
        return Err(not_configured());
    }
    let http = http_client()?;
    let client = client(&p, &http).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next: safe_next(q.next.as_deref()),
        expires_at: now_ms() + LOGIN_TTL_SECS * 1000,
    };
    let sealed = p.master_key.encrypt(
        serde_json::to_string(&pending)
            .map_err(|e| PageError::internal(e.to_string()))?
            .as_bytes(),
        AAD,
    );
    let mut res = ui::see_other(url.as_str());
    ui::append_cookie(
        &mut res,
        &sessions::cookie(&p, COOKIE, &sealed, Some(LOGIN_TTL_SECS)),
    );
    Ok(res)
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A refusal: audited (sampled, so a flood of bad callbacks writes bounded state) and shown.
async fn refuse(p: &Platform, reason: &str, detail: Value, err: PageError) -> Response {
    let mut data = json!({"reason": reason});
    if let (Some(obj), Value::Object(more)) = (data.as_object_mut(), detail) {
        obj.extend(more);
    }
    let ev = AuditEvent::new("oidc.refused", "anonymous", data);
    if let Err(e) =
        support_host::limits::audit_refusal(p.store.as_ref(), "oidc", "refused", &ev).await
    {
        tracing::warn!(cause = %e, "cannot audit a refused sign-on");
    }
    let mut res = axum::response::IntoResponse::into_response(err);
    ui::append_cookie(&mut res, &sessions::clear_cookie(p, COOKIE));
    res
}

fn state_invalid() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "oidc_state_invalid",
        "This sign-in could not be matched to one started in this browser (it expired, or was \
         started elsewhere). Nothing was changed. Start again from the sign-in page.",
    )
}

fn token_invalid() -> PageError {
    PageError::new(
        StatusCode::UNAUTHORIZED,
        "oidc_token_invalid",
        "The identity provider's answer did not verify, so you are not signed in. Start again \
         from the sign-in page.",
    )
}

fn forbidden(email: &str) -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "oidc_forbidden",
        format!(
            "{email} is not allowed to use this dashboard. Ask an admin to give your account a \
             role."
        ),
    )
}

async fn callback(
    State(p): State<Platform>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match finish(&p, &headers, q).await {
        Ok(res) => res,
        Err((reason, detail, err)) => refuse(&p, reason, detail, err).await,
    }
}

/// Why a callback was refused (audited), what else to record, and the page.
type Refusal = (&'static str, Value, PageError);

fn short(s: impl std::fmt::Display) -> String {
    s.to_string().chars().take(200).collect()
}

async fn finish(p: &Platform, headers: &HeaderMap, q: CallbackQuery) -> Result<Response, Refusal> {
    if !p.settings.oidc.enabled() {
        return Err(("not_configured", json!({}), not_configured()));
    }
    let pending: Option<Pending> = sessions::read_cookie(headers, COOKIE)
        .and_then(|c| p.master_key.decrypt(&c, AAD).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(pending) = pending.filter(|x| x.expires_at > now_ms()) else {
        return Err(("no_login_cookie", json!({}), state_invalid()));
    };
    let state = q.state.unwrap_or_default();
    if !ct_eq(state.as_bytes(), pending.state.as_bytes()) {
        return Err(("state_mismatch", json!({}), state_invalid()));
    }
    if let Some(error) = q.error {
        let err = PageError::new(
            StatusCode::UNAUTHORIZED,
            "oidc_denied",
            "The identity provider did not sign you in. Nothing was changed.",
        );
        let error: String = error.chars().take(64).collect();
        return Err(("provider_denied", json!({"error": error}), err));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Err(("no_code", json!({}), state_invalid()));
    };
    let http = http_client().map_err(|e| ("internal", json!({}), e))?;
    let client = client(p, &http)
        .await
        .map_err(|e| ("provider_error", json!({}), e))?;
    let call = |req| send(http.clone(), req);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| ("provider_error", json!({}), provider_error(e)))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(&call)
        .await
        .map_err(|e| {
            let cause = match &e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => short(other),
            };
            (
                "token_request_failed",
                json!({ "cause": cause }),
                provider_error(e),
            )
        })?;
    let Some(id_token) = token.extra_fields().id_token() else {
        return Err(("no_id_token", json!({}), token_invalid()));
    };
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce.clone()))
        .map_err(|e| {
            tracing::warn!(cause = %e, "oidc: ID token refused");
            (
                "id_token_invalid",
                json!({ "cause": short(&e) }),
                token_invalid(),
            )
        })?;
    let subject = claims.subject().to_string();
    let issuer = claims.issuer().to_string();
    let Some(email) = claims
        .email()
        .map(|e| e.to_string().trim().to_ascii_lowercase())
    else {
        let err = PageError::new(
            StatusCode::FORBIDDEN,
            "oidc_forbidden",
            "The identity provider did not share your email address, which the dashboard needs.",
        );
        return Err(("no_email", json!({ "sub": subject }), err));
    };
    let detail = json!({"email": email.chars().take(254).collect::<String>(), "sub": subject});
    if claims.email_verified() == Some(false) {
        return Err(("email_unverified", detail, forbidden(&email)));
    }
    let Some(role) = map_role(&p.settings.oidc, &email, &claims.additional_claims().0) else {
        return Err(("not_allowed", detail, forbidden(&email)));
    };
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string());
    let user = provision(p, &email, name, role)
        .await
        .map_err(|e| ("store", detail.clone(), e))?;
    let Some(user) = user else {
        return Err(("deactivated", detail, forbidden(&email)));
    };
    let set_cookie = sessions::start_session(p, &user.id, "oidc")
        .await
        .map_err(|e| ("store", json!({}), PageError::from(e)))?;
    let ev = AuditEvent::new(
        "login.succeeded",
        format!("user:{}", user.email),
        json!({"user_id": user.id, "method": "oidc", "issuer": issuer, "sub": subject, "role": role.as_str()}),
    );
    if let Err(e) = p.store.append_audit(&ev).await {
        tracing::warn!(cause = %e, "cannot audit a sign-on");
    }
    let mut res = ui::see_other(&pending.next);
    ui::append_cookie(&mut res, &set_cookie);
    ui::append_cookie(&mut res, &sessions::clear_cookie(p, COOKIE));
    Ok(res)
}

/// The user `email` signs in as: created with `role`, or brought to `role` (audited); `None`
/// when deactivated.
async fn provision(
    p: &Platform,
    email: &str,
    name: Option<String>,
    role: Role,
) -> Result<Option<UserRow>, PageError> {
    let actor = "oidc";
    match p.store.get_user_by_email(email).await? {
        Some(u) if !u.is_active() => Ok(None),
        Some(mut u) => {
            if u.role != role {
                p.store.set_user_role(&u.id, role).await?;
                let ev = AuditEvent::new(
                    "user.role_changed",
                    actor,
                    json!({"user_id": u.id, "email": u.email, "from": u.role.as_str(), "to": role.as_str(), "via": "oidc"}),
                );
                p.store.append_audit(&ev).await?;
                u.role = role;
            }
            Ok(Some(u))
        }
        None => {
            let u = UserRow {
                id: support_core::ids::new_id("usr"),
                email: email.to_string(),
                name,
                role,
                password_hash: None,
                slack_user_id: None,
                created_at: now_ms(),
                deactivated_at: None,
            };
            p.store.insert_user(&u).await?;
            let ev = AuditEvent::new(
                "user.created",
                actor,
                json!({"user_id": u.id, "email": u.email, "role": role.as_str(), "via": "oidc"}),
            );
            p.store.append_audit(&ev).await?;
            Ok(Some(u))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(claim: Option<&str>, values: &[(&str, Role)], allow: &[(&str, Role)]) -> OidcSettings {
        OidcSettings {
            role_claim: claim.map(str::to_string),
            role_values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            allow: allow.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..OidcSettings::default()
        }
    }

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn roles_come_from_the_claim_or_the_allow_list_and_the_highest_wins() {
        let c = cfg(
            Some("groups"),
            &[("support-admins", Role::Admin), ("support", Role::Agent)],
            &[
                ("ada@example.com", Role::Viewer),
                ("@example.org", Role::Agent),
            ],
        );
        let groups = |g: Value| claims(json!({ "groups": g }));
        let none = claims(json!({}));
        assert_eq!(
            map_role(&c, "x@corp.io", &groups(json!(["support"]))),
            Some(Role::Agent)
        );
        assert_eq!(
            map_role(
                &c,
                "x@corp.io",
                &groups(json!(["support", "support-admins"]))
            ),
            Some(Role::Admin)
        );
        assert_eq!(
            map_role(&c, "x@corp.io", &groups(json!("support-admins"))),
            Some(Role::Admin)
        );
        assert_eq!(
            map_role(&c, "x@corp.io", &groups(json!(["admin"]))),
            None,
            "values are mapped, not taken as role names"
        );
        assert_eq!(map_role(&c, "Ada@Example.com", &none), Some(Role::Viewer));
        assert_eq!(map_role(&c, "bob@example.org", &none), Some(Role::Agent));
        assert_eq!(map_role(&c, "bob@sub.example.org", &none), None);
        assert_eq!(
            map_role(&c, "ada@example.com", &groups(json!(["support-admins"]))),
            Some(Role::Admin)
        );
        assert_eq!(map_role(&c, "eve@evil.io", &groups(json!(["other"]))), None);
    }

    #[test]
    fn a_dotted_claim_path_and_role_names_without_a_mapping() {
        let c = cfg(Some("realm_access.roles"), &[], &[]);
        let cl = claims(json!({"realm_access": {"roles": ["offline", "agent"]}}));
        assert_eq!(map_role(&c, "a@b.c", &cl), Some(Role::Agent));
        assert_eq!(
            map_role(&cfg(None, &[], &[]), "a@b.c", &cl),
            None,
            "nothing configured admits no one"
        );
    }
}
