//! The dashboard at `/`: a server-rendered status page. (Richer views arrive with the
//! dashboard issue; they build on the same JSON API.)
//!
//! Until sessions exist it takes the same bearer token as `/api/v1` (any role): without one it
//! answers 401 with the JSON error `unauthorized` and shows nothing.

use crate::api::Caller;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new().route("/", get(index))
}

use support_core::pipeline::text::escape_html as esc;

async fn index(_caller: Caller, State(p): State<Platform>) -> Html<String> {
    let apps = p.store.list_apps().await.unwrap_or_default();
    let ready = p
        .store
        .migration_status()
        .await
        .map(|s| s.up_to_date())
        .unwrap_or(false);
    let rows: String = apps
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.slug),
                esc(&a.name),
                esc(&a.front_inbox_ids.join(", "))
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Support platform</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}</style></head><body>\
         <h1>Support platform</h1><p>Database: <b>{}</b> &middot; {}</p>\
         <h2>Apps</h2><table><tr><th>Slug</th><th>Name</th><th>Front inboxes</th></tr>{}</table>\
         <p>JSON API: <code>/api/v1</code> (bearer token) &middot; <a href=\"/healthz\">healthz</a> &middot; \
         <a href=\"/readyz\">readyz</a> &middot; <a href=\"/metrics\">metrics</a></p></body></html>",
        p.store.backend(),
        if ready { "ready" } else { "not ready" },
        rows
    ))
}
