//! Dead letters (admin): `/dead-letters` lists what failed for good (actions, runs, Stripe
//! deliveries), newest first, open ones by default (`?status=all` for resolved ones too), with
//! the cause and the payload; `POST /dead-letters/{id}/replay` (CSRF) replays one through
//! [`crate::dead_letters::replay_letter`], the same replay as `POST
//! /api/v1/dead-letters/{id}/replay` and `skill dead-letters replay`.

use crate::auth::{Viewer, csrf};
use crate::dead_letters::{replay_error, replay_letter};
use crate::ui::{
    self, EmptyState, ErrorPanel, Flash, JsonView, Nav, Page, PageAt, PageError, PageKeys, Pager,
    RelTime, StatusBadge, Table,
};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use std::collections::HashMap;
use support_core::auth::Role;
use support_core::store::DeadLetter;
use support_core::time::{Millis, now_ms};
use support_host::Platform;

const PAGE: i64 = 50;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/dead-letters", get(list))
        .route("/dead-letters/{id}/replay", post(replay))
}

async fn list(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    page(&p, &viewer, &q, None, StatusCode::OK).await
}

/// The list, with `notice` (what a refused replay says) on top.
async fn page(
    p: &Platform,
    viewer: &Viewer,
    q: &HashMap<String, String>,
    notice: Option<(&'static str, String)>,
    status: StatusCode,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let now = now_ms();
    let all = q.get("status").map(String::as_str) == Some("all");
    let query: Vec<(String, String)> = if all {
        vec![("status".to_string(), "all".to_string())]
    } else {
        Vec::new()
    };
    let keys = PageKeys::NEWEST_FIRST;
    let at = keys.page_at(
        &q.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>(),
    );
    let content = match p
        .store
        .dead_letters_list(all, &ui::list_page(&at), PAGE + 1)
        .await
    {
        Err(e) => super::approvals::section_error(e),
        Ok(rows) if rows.is_empty() && at == PageAt::First => view! {
            <EmptyState title="No dead letters">
                "An action, run or Stripe delivery that fails for good lands here with its cause, to be replayed once the cause is fixed."
            </EmptyState>
        }
        .into_any(),
        Ok(rows) => {
            let (rows, more) = ui::take_page(rows, PAGE as usize, &at);
            let key = |l: &DeadLetter| ui::time_cursor_text(l.created_at, &l.id);
            let (newer, older) = ui::pager_links(
                "/dead-letters",
                &query,
                keys,
                &at,
                rows.first().map(key),
                rows.last().map(key),
                more,
            );
            let items = rows
                .into_iter()
                .map(|l| row(l, viewer, now))
                .collect_view();
            view! {
                <Table head=vec!["Failed", "Kind", "About", "Cause", "Payload", "Status", ""] caption="Dead letters">
                    {items}
                </Table>
                <Pager newer=newer older=older/>
            }
            .into_any()
        }
    };
    let toggle = if all {
        view! { <p><a href="/dead-letters">"Show open letters only"</a></p> }.into_any()
    } else {
        view! { <p><a href="/dead-letters?status=all">"Show resolved letters too"</a></p> }
            .into_any()
    };
    let notice = notice.map(|(code, message)| view! { <ErrorPanel code=code message=message/> });
    let body = view! {
        {notice}
        {toggle}
        {content}
    };
    let mut res = ui::render(
        p,
        viewer,
        Page::new("Dead letters", Nav::DeadLetters, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

fn row(l: DeadLetter, viewer: &Viewer, now: Millis) -> impl IntoView + use<> {
    let open = l.resolved_at.is_none();
    let status = if open { "open" } else { "resolved" };
    let action = format!("/dead-letters/{}/replay", l.id);
    let label = format!("Replay {} {}", l.kind, l.ref_id);
    let button = open.then(|| {
        view! {
            <form method="post" action=action>
                {ui::csrf_field(viewer)}
                <button type="submit">{label}</button>
            </form>
        }
    });
    let created: Millis = l.created_at;
    view! {
        <tr id=l.id.clone()>
            <td><RelTime at=created now=now/></td>
            <td>{l.kind.to_string()}</td>
            <td><code>{l.ref_id.clone()}</code></td>
            <td>{l.error.clone()}</td>
            <td><JsonView value=l.payload.clone()/></td>
            <td><StatusBadge status=status/></td>
            <td>{button}</td>
        </tr>
    }
}

#[derive(Debug, Default, Deserialize)]
struct ReplayForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn replay(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
    form: Result<Form<ReplayForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let empty = HashMap::new();
    let token = form.ok().and_then(|Form(f)| f.csrf);
    if let Err(e) = csrf::verify(&viewer, token.as_deref()) {
        if !viewer.can(Role::Admin) {
            return e.into_response();
        }
        return page(&p, &viewer, &empty, Some((e.code, e.message)), e.status).await;
    }
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    match replay_letter(&p, &id, &viewer.actor()).await {
        Ok(done) => {
            let what = done["status"].as_str().unwrap_or("replayed").to_string();
            ui::redirect_with_flash(
                &p,
                "/dead-letters",
                Flash::success(format!("Dead letter {id}: {what}.")),
            )
        }
        Err(e) => {
            let err = PageError::from(replay_error(e));
            err.log();
            page(
                &p,
                &viewer,
                &empty,
                Some((err.code, err.message)),
                err.status,
            )
            .await
        }
    }
}
