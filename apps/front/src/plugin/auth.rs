//! Who is calling the plugin: the `auth_secret` Front appends to the page URL (compared in
//! constant time against `front.plugin_auth_secrets`), the short-lived signed session token the
//! page then uses for its API calls, and the long-lived credential a linked teammate's iframe
//! keeps (it names the platform user; the teammate id of Front's context never does).
//!
//! Both tokens are `v1.<base64url JSON>.<base64url HMAC-SHA256>` under keys derived from the
//! master key, one purpose each, so neither can stand in for the other.

use crate::plugin::limit::TokenLimiter;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use support_core::auth::Role;
use support_core::crypto::{MasterKey, ct_eq, sha256_hex};
use support_core::settings::Secret;
use support_core::time::{Millis, now_ms};
use support_host::{ApiError, Platform};

/// How long a session token lives (the page refreshes it before).
pub const SESSION_MS: Millis = 15 * 60 * 1000;
/// How long a linked teammate's credential lives.
pub const CREDENTIAL_MS: Millis = 30 * 24 * 60 * 60 * 1000;

const SESSION_PURPOSE: &str = "front-plugin-session-v1";
const CREDENTIAL_PURPOSE: &str = "front-plugin-credential-v1";

/// Whether `given` is one of the configured secrets: every secret is compared (SHA-256 of
/// both, so lengths do not show), with no early exit.
pub fn secret_ok(secrets: &[Secret], given: Option<&str>) -> bool {
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return false;
    };
    let g = sha256_hex(given.as_bytes());
    let mut ok = false;
    for s in secrets {
        ok |= ct_eq(g.as_bytes(), sha256_hex(s.expose().as_bytes()).as_bytes());
    }
    ok
}

/// The claims of the page's session token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub exp: Millis,
    /// The platform user, only when the page presented a valid credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The teammate the credential was linked for (attribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tea: Option<String>,
    /// A random id (the rate limiter's key).
    pub jti: String,
}

/// The claims of a linked teammate's credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialClaims {
    pub exp: Millis,
    pub uid: String,
    pub tea: String,
}

fn seal<T: Serialize>(key: &MasterKey, purpose: &str, claims: &T) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let sig = URL_SAFE_NO_PAD.encode(key.sign(purpose, body.as_bytes()));
    format!("v1.{body}.{sig}")
}

fn open<T: for<'de> Deserialize<'de>>(key: &MasterKey, purpose: &str, token: &str) -> Option<T> {
    let rest = token.strip_prefix("v1.")?;
    let (body, sig) = rest.split_once('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    if !ct_eq(&sig, &key.sign(purpose, body.as_bytes())) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

/// A new session token: anonymous, or for `user` (with the teammate it was linked for).
pub fn session_token(key: &MasterKey, user: Option<(&str, &str)>, now: Millis) -> String {
    seal(
        key,
        SESSION_PURPOSE,
        &SessionClaims {
            exp: now + SESSION_MS,
            uid: user.map(|u| u.0.to_string()),
            tea: user.map(|u| u.1.to_string()),
            jti: support_core::crypto::random_hex(8),
        },
    )
}

/// The claims of a session token that is genuine and not expired at `now`.
pub fn open_session(key: &MasterKey, token: &str, now: Millis) -> Option<SessionClaims> {
    open::<SessionClaims>(key, SESSION_PURPOSE, token).filter(|c| c.exp > now)
}

/// A credential for `user_id`, linked for `teammate_id`.
pub fn credential(key: &MasterKey, user_id: &str, teammate_id: &str, now: Millis) -> String {
    seal(
        key,
        CREDENTIAL_PURPOSE,
        &CredentialClaims {
            exp: now + CREDENTIAL_MS,
            uid: user_id.into(),
            tea: teammate_id.into(),
        },
    )
}

/// The claims of a credential that is genuine and not expired at `now`.
pub fn open_credential(key: &MasterKey, token: &str, now: Millis) -> Option<CredentialClaims> {
    open::<CredentialClaims>(key, CREDENTIAL_PURPOSE, token).filter(|c| c.exp > now)
}

/// The platform user behind a linked plugin: read from the store on every request, so a
/// deactivated user or a changed role takes effect at once.
#[derive(Debug, Clone)]
pub struct PluginUser {
    pub id: String,
    pub email: String,
    pub role: Role,
}

/// The caller of a plugin API route: a valid session token (`Authorization: Bearer …`), and
/// the platform user when the token carries one that is still active.
#[derive(Debug, Clone)]
pub struct PluginCaller {
    pub claims: SessionClaims,
    pub user: Option<PluginUser>,
}

impl PluginCaller {
    /// The actor of audit entries: `user:<email>` when linked, else `front_plugin`.
    pub fn actor(&self) -> String {
        match &self.user {
            Some(u) => format!("user:{}", u.email),
            None => "front_plugin".into(),
        }
    }

    /// The linked user with at least `role`: `403 plugin_not_linked` without a user,
    /// `403 forbidden` when the role is too low.
    pub fn require(&self, role: Role) -> Result<&PluginUser, ApiError> {
        let Some(u) = &self.user else {
            return Err(ApiError::Refused {
                code: "plugin_not_linked",
                status: StatusCode::FORBIDDEN,
                message: "link your Front teammate to your platform account first".into(),
            });
        };
        if !u.role.allows(role) {
            return Err(ApiError::Refused {
                code: "forbidden",
                status: StatusCode::FORBIDDEN,
                message: format!("needs the {} role", role.as_str()),
            });
        }
        Ok(u)
    }
}

pub fn unauthorized() -> ApiError {
    ApiError::Refused {
        code: "plugin_unauthorized",
        status: StatusCode::UNAUTHORIZED,
        message: "missing or expired plugin session".into(),
    }
}

impl FromRequestParts<Platform> for PluginCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &Platform) -> Result<Self, Response> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized().into_response())?;
        let claims = open_session(&p.master_key, token.trim(), now_ms())
            .ok_or_else(|| unauthorized().into_response())?;
        if let Some(limiter) = parts.extensions.get::<TokenLimiter>()
            && let Err(wait) = limiter.check(&claims.jti)
        {
            return Err(crate::plugin::limit::refused(wait));
        }
        let user = match &claims.uid {
            Some(uid) => match p.store.get_user(uid).await {
                Ok(Some(u)) if u.is_active() => Some(PluginUser {
                    id: u.id,
                    email: u.email,
                    role: u.role,
                }),
                Ok(_) => None,
                Err(e) => return Err(ApiError::from(e).into_response()),
            },
            None => None,
        };
        Ok(PluginCaller { claims, user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_rotate_and_compare_whole() {
        let s = vec![Secret::new("old-secret"), Secret::new("new-secret")];
        assert!(secret_ok(&s, Some("old-secret")));
        assert!(secret_ok(&s, Some("new-secret")));
        assert!(!secret_ok(&s, Some("new-secre")));
        assert!(!secret_ok(&s, Some("")));
        assert!(!secret_ok(&s, None));
        assert!(!secret_ok(&[], Some("anything")));
    }

    #[test]
    fn tokens_are_signed_expire_and_do_not_stand_in_for_each_other() {
        let (key, _) = MasterKey::generate();
        let t = session_token(&key, Some(("usr_1", "tea_1")), 1_000);
        let c = open_session(&key, &t, 2_000).expect("valid");
        assert_eq!(c.uid.as_deref(), Some("usr_1"));
        assert!(
            open_session(&key, &t, 1_000 + SESSION_MS).is_none(),
            "expired"
        );
        let (other, _) = MasterKey::generate();
        assert!(open_session(&other, &t, 2_000).is_none(), "another key");
        // A forged body with the old signature.
        let (_, sig) = t.rsplit_once('.').expect("sig");
        let forged = format!(
            "v1.{}.{sig}",
            URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999999,"uid":"usr_admin","jti":"x"}"#)
        );
        assert!(open_session(&key, &forged, 2_000).is_none());
        let cred = credential(&key, "usr_1", "tea_1", 1_000);
        assert!(open_credential(&key, &cred, 2_000).is_some());
        assert!(
            open_session(&key, &cred, 2_000).is_none(),
            "a credential is no session"
        );
        assert!(
            open_credential(&key, &t, 2_000).is_none(),
            "a session is no credential"
        );
    }
}
