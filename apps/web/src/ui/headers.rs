//! What every dashboard response carries: the security headers ([`security_headers`]), and the
//! stylesheet served by us ([`STYLE_PATH`]; no CDN, font or inline style, so the
//! Content-Security-Policy needs no `unsafe-inline`).

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use support_host::Platform;

/// The stylesheet's URL (versioned by the crate version, cached for a day).
pub const STYLE_PATH: &str = concat!("/ui/style.css?v=", env!("CARGO_PKG_VERSION"));

/// The stylesheet.
pub const STYLE: &str = include_str!("style.css");

/// `GET /ui/style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLE,
    )
        .into_response()
}

/// The Content-Security-Policy of dashboard pages: everything from us, no inline script or
/// style, no framing, forms only to us.
pub fn content_security_policy(hydrate: bool) -> String {
    let script = if hydrate {
        "script-src 'self' 'wasm-unsafe-eval'"
    } else {
        "script-src 'self'"
    };
    format!(
        "default-src 'none'; {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The hydration `<script>` tags, only when the wasm bundle was built (see docs/dashboard.md);
/// `None` for the server-rendered build.
pub fn hydrate_scripts() -> Option<String> {
    None
}

/// Middleware on dashboard routes: CSP, `X-Frame-Options`, `Referrer-Policy`,
/// `X-Content-Type-Options`, and HSTS when `public_url` is https. Pages are never cached.
pub async fn security_headers(State(p): State<Platform>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let cached = h.contains_key(CACHE_CONTROL);
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set(
        "content-security-policy",
        &content_security_policy(hydrate_scripts().is_some()),
    );
    set("x-frame-options", "DENY");
    set("referrer-policy", "same-origin");
    set("x-content-type-options", "nosniff");
    set("cross-origin-opener-policy", "same-origin");
    if crate::auth::sessions::secure(&p) {
        set(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if !cached {
        set("cache-control", "no-store");
    }
    res
}
