//! The Front sidebar plugin: `GET /plugin/front` (the page Front frames in its sidebar) and
//! `/plugin/front/api/…` (its JSON).
//!
//! - The page is served only with a valid `auth_secret` ([`auth::secret_ok`]); anything else
//!   gets a plain `401` page with no data. It carries a short-lived signed session token (a
//!   `<meta>`; no cookie: the iframe is third-party) that its script sends as a bearer token.
//! - Headers: CSP with `front.plugin_frame_ancestors`, scripts and styles from us only (no
//!   inline script or style), `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
//! - Our own client of Front's plugin protocol is `assets/plugin.js` (served from
//!   `/plugin/front/assets/`); the official SDK is never shipped.
//! - Identity ([`link`]): reading and inserting drafts needs only the secret; deciding needs a
//!   platform user, which only a credential from the link flow puts into the token. The
//!   teammate id of Front's context is attribution, never proof.

pub mod actions;
pub mod api;
pub mod auth;
pub mod customer;
pub mod limit;
pub mod link;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use support_core::pipeline::text::escape_html;
use support_core::time::now_ms;
use support_host::Platform;

/// The most a plugin API request body may carry.
pub const BODY_LIMIT: usize = 16 * 1024;

const PLUGIN_JS: &str = include_str!("../../assets/plugin.js");
/// The plugin's stylesheet: the dashboard's own (the same file, so palette, light/dark,
/// buttons, badges and flash messages are one definition), then the sidebar's fitting.
const PLUGIN_CSS: &str = concat!(
    include_str!("../../../web/src/ui/style.css"),
    "\n",
    include_str!("../../assets/plugin.css")
);

/// The plugin's routes.
pub fn router(p: &Platform) -> Router<Platform> {
    let limiter = limit::TokenLimiter::new(p.settings.rate_limit.enabled, limit::PER_MINUTE);
    Router::new()
        .route("/plugin/front", get(page))
        .route("/plugin/front/assets/plugin.js", get(script))
        .route("/plugin/front/assets/plugin.css", get(style))
        .merge(link::router())
        .merge(api::router())
        .merge(actions::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::Extension(customer_cards(p)))
        .layer(axum::Extension(limiter))
}

/// The customer cards of this platform: the registry's cache (Redis across instances), each
/// app's SDK client, Stripe from the settings, the wall clock.
pub fn customer_cards(p: &Platform) -> customer::CustomerCards {
    customer::CustomerCards::new(
        p.registry.cache().clone(),
        std::sync::Arc::new(support_connectors::product::SdkProducts::new(
            p.master_key.clone(),
        )),
        support_connectors::stripe::from_settings(&p.settings.stripe),
        std::sync::Arc::new(support_core::retention::SystemClock),
        customer::CARD_TTL_MS,
    )
}

/// The security headers of every plugin page: framing only by `frame_ancestors`.
pub fn page_headers(headers: &mut HeaderMap, frame_ancestors: &str) {
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {}",
        sanitize_sources(frame_ancestors)
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// CSP sources from settings: no `;` or `,` (which would start another directive), no quotes.
fn sanitize_sources(s: &str) -> String {
    let cleaned: Vec<&str> = s
        .split_whitespace()
        .filter(|w| !w.contains([';', ',', '\'', '"']))
        .collect();
    if cleaned.is_empty() {
        "'none'".into()
    } else {
        cleaned.join(" ")
    }
}

/// A complete HTML document with our stylesheet and (when `script`) our script.
pub fn document(title: &str, head_extra: &str, body: &str, script: bool) -> String {
    let script = if script {
        r#"<script src="/plugin/front/assets/plugin.js" defer></script>"#
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/plugin/front/assets/plugin.css\">{head_extra}{script}\
         </head><body>{body}</body></html>",
        escape_html(title)
    )
}

/// An HTML response with the plugin's headers.
pub fn html(p: &Platform, status: StatusCode, doc: String) -> Response {
    let mut res = (status, doc).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page_headers(res.headers_mut(), &p.settings.front.plugin_frame_ancestors);
    res
}

/// The plain `401` page: no data, no script.
pub fn unauthorized_page(p: &Platform) -> Response {
    html(
        p,
        StatusCode::UNAUTHORIZED,
        document(
            "Unauthorized",
            "",
            "<main class=\"plugin\"><h1>Unauthorized</h1>\
             <p class=\"muted\">This plugin only opens inside Front with the configured secret.</p></main>",
            false,
        ),
    )
}

#[derive(Deserialize)]
struct PageQuery {
    auth_secret: Option<String>,
}

async fn page(State(p): State<Platform>, Query(q): Query<PageQuery>) -> Response {
    if !auth::secret_ok(
        &p.settings.front.plugin_auth_secrets,
        q.auth_secret.as_deref(),
    ) {
        tracing::debug!(code = "plugin_unauthorized", "Front plugin page refused");
        return unauthorized_page(&p);
    }
    let token = auth::session_token(&p.master_key, None, now_ms());
    let head = format!(
        "<meta name=\"plugin-token\" content=\"{}\"><meta name=\"plugin-base\" content=\"{}\">",
        escape_html(&token),
        escape_html(&p.base_url())
    );
    let body = "<main class=\"plugin\" id=\"app\" aria-live=\"polite\">\
                <p class=\"muted\" id=\"plugin-status\">Waiting for Front…</p>\
                <noscript><p>This sidebar needs JavaScript: Front talks to it through scripts.</p></noscript>\
                </main>";
    html(&p, StatusCode::OK, document("Support", &head, body, true))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", PLUGIN_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", PLUGIN_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_cannot_inject_directives() {
        let s = sanitize_sources("https://a.frontapp.com https://*.frontapp.com; script-src x");
        assert!(!s.contains(';'), "{s}");
        assert!(s.starts_with("https://a.frontapp.com "), "{s}");
        assert_eq!(sanitize_sources("'unsafe-inline'"), "'none'");
        assert_eq!(sanitize_sources("http://127.0.0.1:*"), "http://127.0.0.1:*");
    }
}
