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

/// Where the hydrate bundle is looked for: `$LEPTOS_SITE_ROOT/pkg` (default `target/site/pkg`,
/// Leptos' convention), holding `support_web.js` and `support_web_bg.wasm` from
/// `wasm-bindgen` (see docs/dashboard.md).
pub fn bundle_dir() -> std::path::PathBuf {
    let root = std::env::var_os("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into());
    std::path::PathBuf::from(root).join("pkg")
}

/// The bundle's files the server serves under `/pkg/`.
const BUNDLE_FILES: [&str; 2] = ["support_web.js", "support_web_bg.wasm"];

/// Whether the hydrate bundle exists (checked once per process).
pub fn bundle_present() -> bool {
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PRESENT.get_or_init(|| {
        let dir = bundle_dir();
        BUNDLE_FILES.iter().all(|f| dir.join(f).is_file())
    })
}

/// The hydration `<script>` tag, only when the wasm bundle was built; `None` for the
/// server-rendered build (the default). The loader is a file we serve (`/pkg/boot.js`), so the
/// CSP needs no inline script.
pub fn hydrate_scripts() -> Option<String> {
    bundle_present().then(|| "<script type=\"module\" src=\"/pkg/boot.js\"></script>".to_string())
}

/// The loader: fetch the wasm module and hydrate the page.
const BOOT_JS: &str = "import init, { hydrate } from './support_web.js';\nawait init('/pkg/support_web_bg.wasm');\nhydrate();\n";

/// `GET /pkg/{file}`: the hydrate bundle (404 when it was not built).
pub async fn bundle_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    use axum::http::StatusCode;
    if !bundle_present() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (body, kind) = match file.as_str() {
        "boot.js" => (BOOT_JS.as_bytes().to_vec(), "text/javascript"),
        "support_web.js" | "support_web_bg.wasm" => match std::fs::read(bundle_dir().join(&file)) {
            Ok(bytes) if file.ends_with(".js") => (bytes, "text/javascript"),
            Ok(bytes) => (bytes, "application/wasm"),
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=3600"),
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
