//! The dashboard's pages (one module each), all behind a session ([`crate::auth::Viewer`]).
//! Every route of the dashboard is listed in [`router`], so `/` and each page are wired in
//! one place.

pub mod approvals;
pub mod apps;
pub mod audit;
pub mod dead_letters;
pub mod login;
pub mod users;

use crate::auth::Viewer;
use crate::ui::{self, EmptyState, Nav, Page, PageError, Table};
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use leptos::prelude::*;
use support_host::Platform;

/// Every dashboard page. (The security headers and the stylesheet are added by
/// [`crate::dashboard_router`].)
pub fn router() -> Router<Platform> {
    Router::new()
        // Overview (H13b replaces `home` with `overview::page`).
        .route("/", get(home))
        .merge(login::router())
        .merge(approvals::router())
        .merge(audit::router())
        .merge(dead_letters::router())
        .merge(apps::router())
        .merge(users::router())
}

/// A placeholder Overview until the real one lands: the apps and the database state.
async fn home(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    let apps = p.store.list_apps().await?;
    let ready = p
        .store
        .migration_status()
        .await
        .map(|s| s.up_to_date())
        .unwrap_or(false);
    let status = format!(
        "Database: {} · {}",
        p.store.backend(),
        if ready { "ready" } else { "not ready" }
    );
    let empty = apps.is_empty();
    let rows = apps
        .into_iter()
        .map(|a| {
            view! {
                <tr>
                    <td>{a.slug}</td>
                    <td>{a.name}</td>
                    <td>{a.front_inbox_ids.join(", ")}</td>
                </tr>
            }
        })
        .collect_view();
    let body = view! {
        <p class="muted">{status}</p>
        <h2>"Apps"</h2>
        {if empty {
            view! {
                <EmptyState title="No apps yet">
                    "Register one with "<code>"skill init"</code>"."
                </EmptyState>
            }
            .into_any()
        } else {
            view! {
                <Table head=vec!["Slug", "Name", "Front inboxes"] caption="Apps">
                    {rows}
                </Table>
            }
            .into_any()
        }}
    };
    Ok(ui::render(&p, &viewer, Page::new("Overview", Nav::Overview, body)).await)
}
