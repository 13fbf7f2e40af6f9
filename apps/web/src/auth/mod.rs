//! Who is looking at the dashboard: [`Viewer`], the signed-in user from the session cookie,
//! with their role and the CSRF token of the session. See `sessions` (the cookie and the
//! stored session, [`sessions::start_session`]) and `csrf` (the one check of every form).
//!
//! Architecture Invariant: every dashboard POST verifies CSRF ([`csrf::Posted`] or
//! [`csrf::verify`]) and the role ([`Viewer::require`]) on the server; the UI only hides what the
//! server would refuse.

pub mod csrf;
pub mod oidc;
pub mod sessions;

pub use csrf::Posted;

use crate::ui::{Flash, PageError};
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use support_core::auth::Role;
use support_core::time::now_ms;
use support_host::Platform;

/// The signed-in user of a dashboard request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// This session's CSRF token; every form repeats it ([`crate::ui::csrf_field`]).
    pub csrf: String,
    /// The message the previous POST left for this page (shown once).
    pub flash: Option<Flash>,
    /// The request's path and query (`/conversations?app=x`), for links back.
    pub path: String,
    /// The app filter of the top bar (`?app=`), when set.
    pub app: Option<String>,
    /// The stored hash of the session (logout ends it).
    pub session_hash: String,
}

impl Viewer {
    /// `403 forbidden` unless the viewer's role allows what `role` may do (the same order as
    /// `/api/v1`: admin ⊇ agent ⊇ viewer).
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.role.allows(role) {
            Ok(())
        } else {
            Err(PageError::forbidden(role))
        }
    }

    /// Whether the viewer may do what `role` may do (to hide buttons; the server still checks).
    pub fn can(&self, role: Role) -> bool {
        self.role.allows(role)
    }

    /// The actor label of audit entries: `user:<email>`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.email)
    }
}

/// Why there is no viewer: a GET goes to the login page, anything else is refused.
pub enum NoViewer {
    /// `303` to `/login?next=<path>`.
    Login(String),
    Refused(PageError),
}

impl IntoResponse for NoViewer {
    fn into_response(self) -> Response {
        match self {
            NoViewer::Login(next) => Redirect::to(&login_url(&next)).into_response(),
            NoViewer::Refused(e) => e.into_response(),
        }
    }
}

impl From<NoViewer> for PageError {
    fn from(n: NoViewer) -> Self {
        match n {
            NoViewer::Login(_) => PageError::unauthorized(),
            NoViewer::Refused(e) => e,
        }
    }
}

/// `/login?next=<path>` (the path percent-encoded).
pub fn login_url(next: &str) -> String {
    if next.is_empty() || next == "/" {
        return "/login".into();
    }
    let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("/login?{q}")
}

/// Where a login may send the user back to: a local path only (`/x`, not `//host` or `/\host`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control())
                && n.len() <= 2048 =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

impl FromRequestParts<Platform> for Viewer {
    type Rejection = NoViewer;

    async fn from_request_parts(parts: &mut Parts, p: &Platform) -> Result<Self, Self::Rejection> {
        let path = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                NoViewer::Login(path.clone())
            } else {
                NoViewer::Refused(PageError::unauthorized())
            }
        };
        let Some(token) = sessions::read_cookie(&parts.headers, sessions::COOKIE) else {
            return Err(refuse(parts));
        };
        let session_hash = sessions::hash(&token);
        let now = now_ms();
        let used = match p.store.session_use(&session_hash, now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(refuse(parts)),
            Err(e) => return Err(NoViewer::Refused(PageError::from(e))),
        };
        if !sessions::alive(&used, now) {
            if let Err(e) = p.store.delete_session(&session_hash).await {
                tracing::warn!(cause = %e, "cannot delete an expired session");
            }
            return Err(refuse(parts));
        }
        if sessions::needs_touch(&used, now)
            && let Err(e) = p.store.touch_session(&session_hash, now).await
        {
            tracing::warn!(cause = %e, "cannot record a session's use");
        }
        let session = used.session;
        let user = match p.store.get_user(&session.user_id).await {
            Ok(Some(u)) if u.is_active() => u,
            Ok(_) => return Err(refuse(parts)),
            Err(e) => return Err(NoViewer::Refused(PageError::from(e))),
        };
        let app = parts.uri.query().and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, v)| k == "app" && !v.is_empty())
                .map(|(_, v)| v)
        });
        Ok(Viewer {
            user_id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            csrf: csrf::token_for(&p.master_key, &session_hash),
            flash: Flash::from_headers(&parts.headers),
            path,
            app,
            session_hash,
        })
    }
}
