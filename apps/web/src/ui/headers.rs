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

/// The bundle's files in `dashboard.pkg_dir`, as `wasm-bindgen --target web` names them for
/// the islands crate (`cargo xtask build-hydrate`).
pub const BUNDLE_JS: &str = "support_web_islands.js";
pub const BUNDLE_WASM: &str = "support_web_islands_bg.wasm";

/// Where the hydrate bundle is looked for (`dashboard.pkg_dir`, default `target/site/pkg`).
pub fn bundle_dir(p: &Platform) -> &std::path::Path {
    p.settings
        .dashboard
        .pkg_dir
        .as_deref()
        .unwrap_or(std::path::Path::new("target/site/pkg"))
}

/// Whether the hydrate bundle exists (two `stat`s per page: a bundle built while the server
/// runs is picked up, one removed is no longer announced).
pub fn bundle_present(p: &Platform) -> bool {
    let dir = bundle_dir(p);
    [BUNDLE_JS, BUNDLE_WASM]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// The hydration `<script>` tag, only when the wasm bundle was built; `None` for the
/// server-rendered build (the default). The loader is a file we serve (`/pkg/boot.js`), so the
/// CSP needs no inline script.
pub fn hydrate_scripts(p: &Platform) -> Option<String> {
    bundle_present(p).then(|| "<script type=\"module\" src=\"/pkg/boot.js\"></script>".to_string())
}

/// The loader: fetch the wasm module, start the islands' runtime and hydrate each
/// `<leptos-island>` (what Leptos' inline island script does, as a file).
const BOOT_JS: &str = include_str!("boot.js");

/// `GET /pkg/{file}`: the hydrate bundle (404 when it was not built).
pub async fn bundle_file(
    State(p): State<Platform>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    use axum::http::StatusCode;
    if !bundle_present(&p) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (body, kind) = match file.as_str() {
        "boot.js" => (BOOT_JS.as_bytes().to_vec(), "text/javascript"),
        BUNDLE_JS | BUNDLE_WASM => match std::fs::read(bundle_dir(&p).join(&file)) {
            Ok(bytes) if file.ends_with(".js") => (bytes, "text/javascript"),
            Ok(bytes) => (bytes, "application/wasm"),
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (CONTENT_TYPE, kind),
            // Rebuilt bundles keep their names: revalidate rather than cache for long.
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
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
        &content_security_policy(bundle_present(&p)),
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
