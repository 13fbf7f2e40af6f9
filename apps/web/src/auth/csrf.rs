//! CSRF protection of every dashboard form.
//!
//! A signed-in form carries `_csrf` = HMAC(master key, "dashboard-csrf", session hash): bound to
//! the session, nothing to store, invalid once the session ends. [`verify`] is the one check
//! (missing or wrong: `403 csrf_invalid`); [`Posted`] extracts a form and checks it.
//!
//! The login form has no session yet: it uses a double-submit cookie ([`LOGIN_COOKIE`]), whose
//! value the form repeats.

use crate::auth::Viewer;
use crate::ui::PageError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use support_core::crypto::{MasterKey, ct_eq};
use support_host::Platform;

/// The form field every dashboard form carries.
pub const FIELD: &str = "_csrf";

/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "support_login_csrf";

/// The CSRF token of the session whose stored hash is `session_hash`.
pub fn token_for(key: &MasterKey, session_hash: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.sign("dashboard-csrf", session_hash.as_bytes()))
}

/// Check a submitted token against the viewer's session: `403 csrf_invalid` when missing or
/// wrong.
pub fn verify(viewer: &Viewer, submitted: Option<&str>) -> Result<(), PageError> {
    match submitted {
        Some(t) if !t.is_empty() && ct_eq(t.as_bytes(), viewer.csrf.as_bytes()) => Ok(()),
        _ => Err(PageError::csrf_invalid()),
    }
}

/// A POSTed form (`application/x-www-form-urlencoded`) from a signed-in user whose `_csrf`
/// field was verified. Without a session: `401 unauthorized`; bad token: `403 csrf_invalid`.
/// `T` receives the other fields (unknown ones, `_csrf` among them, are ignored unless `T`
/// denies them).
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

/// Form bodies are small: 64 KiB at most.
const MAX_FORM_BYTES: usize = 64 * 1024;

impl<T: DeserializeOwned + Send> FromRequest<Platform> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, p: &Platform) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, p).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| PageError::bad_request("the form is too large or was cut off"))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| PageError::bad_request("the form could not be read"))?;
        let token = fields
            .iter()
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.as_str());
        verify(&viewer, token)?;
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::bad_request(format!("the form is invalid: {e}")))?;
        Ok(Posted { viewer, form })
    }
}
