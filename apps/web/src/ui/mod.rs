//! The dashboard's shared UI (Leptos 0.8, rendered to HTML on the server): the page shell
//! (left navigation, top bar, flash message), the components of every page
//! ([`components`]), the error page ([`PageError`]), the stylesheet and the security headers
//! ([`headers`]). See `ui/README.md` for how a page uses them.

pub mod chart;
pub mod components;
mod error;
pub mod headers;
pub mod health;
pub mod nav;
mod shell;

pub use shell::flash_view;

pub use components::*;
pub use error::PageError;
pub use nav::Nav;

use crate::auth::Viewer;
use crate::auth::sessions;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use leptos::prelude::*;
use support_core::pipeline::text::escape_html;
use support_host::Platform;

/// Render a Leptos view to an HTML string.
pub fn to_html(view: impl IntoView + 'static) -> String {
    let owner = Owner::new();
    owner.with(|| view.into_view().to_html())
}

/// A whole HTML document around `body` (our stylesheet; the hydration scripts only when the
/// bundle exists, see [`headers::hydrate_scripts`]).
pub fn document(title: &str, body: AnyView, scripts: Option<String>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{} · Support</title><link rel=\"stylesheet\" href=\"{}\">{}</head><body>{}</body></html>",
        escape_html(title),
        headers::STYLE_PATH,
        scripts.unwrap_or_default(),
        to_html(body)
    ))
}

/// One page of the dashboard: its title, its place in the navigation and its content.
pub struct Page {
    pub title: String,
    pub nav: Nav,
    pub body: AnyView,
    pub status: StatusCode,
}

impl Page {
    pub fn new(title: impl Into<String>, nav: Nav, body: impl IntoView + 'static) -> Self {
        Self {
            title: title.into(),
            nav,
            body: body.into_view().into_any(),
            status: StatusCode::OK,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// The full page as a response: the shell (navigation, top bar with the viewer and the app
/// filter, the flash message) around the page's content. The flash cookie is cleared once shown.
pub async fn render(p: &Platform, viewer: &Viewer, page: Page) -> Response {
    // The app filter lists every app; a store failure only leaves the filter empty.
    let apps: Vec<String> = match p.store.list_apps().await {
        Ok(apps) => apps.into_iter().map(|a| a.slug).collect(),
        Err(e) => {
            tracing::warn!(cause = %e, "app filter: cannot list apps");
            Vec::new()
        }
    };
    let title = page.title.clone();
    let body = shell::shell(viewer, &apps, page);
    let mut res = document(&title, body, headers::hydrate_scripts(p)).into_response();
    if viewer.flash.is_some() {
        append_cookie(&mut res, &sessions::clear_cookie(p, FLASH_COOKIE));
    }
    res
}

/// The hidden CSRF field every dashboard form must contain.
pub fn csrf_field(viewer: &Viewer) -> impl IntoView + use<> {
    let token = viewer.csrf.clone();
    view! { <input type="hidden" name="_csrf" value=token/> }
}

/// `path` with query parameter `key` set to `value` (or removed when `None`), keeping the
/// others: for pager and filter links. `query` is the current query (`a=1&b=2`, no `?`).
pub fn with_query(
    path: &str,
    query: &[(String, String)],
    key: &str,
    value: Option<&str>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(v) = value {
        pairs.push((key, v));
    }
    if pairs.is_empty() {
        return path.to_string();
    }
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// The cookie carrying the flash message across the redirect after a POST.
pub const FLASH_COOKIE: &str = "support_flash";

/// A message shown once on the next page (after a POST and its redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `info` or `error`.
    pub kind: &'static str,
    pub message: String,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            kind: "success",
            message: message.into(),
        }
    }

    pub fn info(message: impl Into<String>) -> Self {
        Self {
            kind: "info",
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            kind: "error",
            message: message.into(),
        }
    }

    fn encode(&self) -> String {
        serde_urlencoded::to_string([("k", self.kind), ("m", self.message.as_str())])
            .unwrap_or_default()
            .replace('&', "|")
    }

    /// The flash in the request's cookie, if any.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<Self> {
        let raw = sessions::read_cookie(headers, FLASH_COOKIE)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&raw.replace('|', "&")).ok()?;
        let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let kind = match get("k")?.as_str() {
            "success" => "success",
            "error" => "error",
            _ => "info",
        };
        let message: String = get("m")?.chars().take(500).collect();
        Some(Self { kind, message })
    }
}

/// `303 See Other` to `to` (after a POST), leaving `flash` for the next page.
pub fn redirect_with_flash(p: &Platform, to: &str, flash: Flash) -> Response {
    let mut res = see_other(to);
    append_cookie(
        &mut res,
        &sessions::cookie(p, FLASH_COOKIE, &flash.encode(), Some(60)),
    );
    res
}

/// `303 See Other` to `to`.
pub fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// Add a `Set-Cookie` header.
pub fn append_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
}
