//! Conversations: the list (`/conversations`, filters in the query string, keyset pages by
//! "Newer"/"Older" cursors), the detail (`/conversations/{front_id}`, in [`detail`]) and its
//! actions (agent and admin; POST with CSRF, then back to the detail with a flash):
//! - `POST /conversations/{id}/rerun`: a new run of the inbound workflow through the platform's
//!   event path (`support/inbound.received` with a fresh event id), audited
//!   (`conversation.rerun_requested`);
//! - `POST /conversations/{id}/escalate`: hand over: a Front tag (and assignee, when given)
//!   through the Front port, the platform's copy marked escalated, audited
//!   (`conversation.handed_over`);
//! - `POST /conversations/{id}/note`: an internal note, a Front comment through the Front port,
//!   audited (`conversation.note_added`).

mod detail;

use crate::auth::{Posted, Viewer};
use crate::ui::{
    self, DateField, EmptyState, ErrorPanel, FilterBar, Flash, Nav, Page, PageError, Pager,
    RelTime, SelectField, StatusBadge, Table, TextField,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::front::{FrontApi, FrontError};
use support_core::pipeline::router::RouteAction;
use support_core::store::{
    CONVERSATION_STATUSES, ConversationFilter, ConversationPage, ConversationSummary, PageCursor,
};
use support_core::time::{Millis, now_ms};
use support_host::Platform;
use support_web_islands::LiveFilter;
use support_workflow::conversation_actions::{self, Assignee, ConversationActionError, Requester};

/// Rows per page.
const PAGE: i64 = 50;
/// The longest internal note or hand-over reason.
const MAX_NOTE_CHARS: usize = 10_000;
/// The escalation tags a person may hand over with (the workflow's own).
pub const HANDOVER_TAGS: &[&str] = conversation_actions::HANDOVER_TAGS;
const FLAGS: &[&str] = &["angry", "legal", "injection"];

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/conversations", get(list))
        .route("/conversations/{id}", get(detail::page))
        .route("/conversations/{id}/rerun", post(rerun))
        .route("/conversations/{id}/escalate", post(escalate))
        .route("/conversations/{id}/note", post(note))
}

/// `1733480000000.conv_x` ↔ `(updated_at, id)`.
fn parse_cursor(s: &str) -> Option<(Millis, String)> {
    let (at, id) = s.split_once('.')?;
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    Some((at.parse().ok()?, ok.then(|| id.to_string())?))
}

fn cursor_text(c: &PageCursor) -> (&'static str, String) {
    match c {
        PageCursor::Older { updated_at, id } => ("older", format!("{updated_at}.{id}")),
        PageCursor::Newer { updated_at, id } => ("newer", format!("{updated_at}.{id}")),
    }
}

/// `YYYY-MM-DD` → the UTC midnight starting it.
fn day_start(s: &str) -> Option<Millis> {
    let date: jiff::civil::Date = s.parse().ok()?;
    let ts = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_millisecond())
}

/// The filter of a query string, or what is wrong with it.
fn filter_of(q: &[(String, String)]) -> Result<ConversationFilter, String> {
    let get = |k: &str| {
        q.iter()
            .find(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    };
    let one_of = |k: &str, allowed: &[&str]| -> Result<Option<String>, String> {
        match get(k) {
            Some(v) if !allowed.contains(&v.as_str()) => Err(format!("unknown {k} {v:?}")),
            other => Ok(other),
        }
    };
    let actions: Vec<&str> = RouteAction::ALL.iter().map(|a| a.as_str()).collect();
    let mut escalations = vec!["any", "none"];
    escalations.extend_from_slice(HANDOVER_TAGS);
    let date = |k: &str| -> Result<Option<Millis>, String> {
        get(k)
            .map(|v| day_start(&v).ok_or_else(|| format!("{k} is not a date (YYYY-MM-DD): {v:?}")))
            .transpose()
    };
    let cursor = match (get("older"), get("newer")) {
        (Some(c), _) => {
            let (updated_at, id) = parse_cursor(&c).ok_or("the page cursor is invalid")?;
            Some(PageCursor::Older { updated_at, id })
        }
        (None, Some(c)) => {
            let (updated_at, id) = parse_cursor(&c).ok_or("the page cursor is invalid")?;
            Some(PageCursor::Newer { updated_at, id })
        }
        _ => None,
    };
    let q_text = get("q");
    if q_text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err("the search is longer than 200 characters".into());
    }
    let app = get("app");
    if app.as_ref().is_some_and(|a| a.len() > 100) {
        return Err("the app is invalid".into());
    }
    let category = get("category");
    if category.as_ref().is_some_and(|a| a.len() > 100) {
        return Err("the category is invalid".into());
    }
    Ok(ConversationFilter {
        app,
        status: one_of("status", CONVERSATION_STATUSES)?,
        route_action: one_of("action", &actions)?,
        category,
        escalation: one_of("escalation", &escalations)?,
        flag: one_of("flag", FLAGS)?,
        from: date("from")?,
        // The end date is included: up to the next midnight.
        to: date("to")?.map(|t| t + 86_400_000),
        q: q_text,
        cursor,
        limit: PAGE,
    })
}

fn options(values: &[&str]) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), "Any".to_string())];
    v.extend(
        values
            .iter()
            .map(|s| (s.to_string(), s.replace('_', " ").to_string())),
    );
    v
}

/// GET `/conversations`.
async fn list(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let now = now_ms();
    let get = |k: &str| {
        q.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // The filters without the cursor: what the pager links keep.
    let kept: Vec<(String, String)> = q
        .iter()
        .filter(|(k, v)| k != "older" && k != "newer" && !v.is_empty())
        .cloned()
        .collect();
    let apps: Vec<String> = match p.store.list_apps().await {
        Ok(a) => a.into_iter().map(|a| a.slug).collect(),
        Err(e) => {
            tracing::warn!(cause = %e, "conversation filters: cannot list apps");
            Vec::new()
        }
    };
    let app_refs: Vec<&str> = apps.iter().map(String::as_str).collect();
    let actions: Vec<&str> = RouteAction::ALL.iter().map(|a| a.as_str()).collect();
    let categories: Vec<&str> = support_core::pipeline::classify::Category::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let mut escalations = vec!["any", "none"];
    escalations.extend_from_slice(HANDOVER_TAGS);
    let (o_app, o_status, o_action, o_category, o_escalation, o_flag) = (
        options(&app_refs),
        options(CONVERSATION_STATUSES),
        options(&actions),
        options(&categories),
        options(&escalations),
        options(FLAGS),
    );
    let (s_app, s_status, s_action, s_category, s_escalation, s_flag) = (
        get("app"),
        get("status"),
        get("action"),
        get("category"),
        get("escalation"),
        get("flag"),
    );
    let (v_from, v_to, v_q) = (get("from"), get("to"), get("q"));
    let filters = view! {
        <FilterBar action="/conversations">
            <SelectField name="app" label="App" options=o_app selected=s_app/>
            <SelectField name="status" label="Status" options=o_status selected=s_status/>
            <SelectField name="action" label="Route" options=o_action selected=s_action/>
            <SelectField name="category" label="Category" options=o_category selected=s_category/>
            <SelectField name="escalation" label="Escalation" options=o_escalation selected=s_escalation/>
            <SelectField name="flag" label="Flag" options=o_flag selected=s_flag/>
            <DateField name="from" label="From" value=v_from/>
            <DateField name="to" label="To" value=v_to/>
            <TextField name="q" label="Customer email or subject" value=v_q placeholder="jane@example.com or refund"/>
        </FilterBar>
    };
    let (content, status) = match filter_of(&q) {
        Err(why) => {
            let e = PageError::bad_request(format!("These filters cannot be used: {why}."));
            (
                view! { <ErrorPanel code=e.code message=e.message/> }.into_any(),
                StatusCode::BAD_REQUEST,
            )
        }
        Ok(f) => match p.store.conversation_page(&f).await {
            Err(e) => {
                let err = PageError::from(e);
                err.log();
                let status = err.status;
                (
                    view! { <ErrorPanel code=err.code message=err.message/> }.into_any(),
                    status,
                )
            }
            Ok(page) => (
                results(page, &kept, f.cursor.is_some(), now),
                StatusCode::OK,
            ),
        },
    };
    let body = view! {
        <h1>"Conversations"</h1>
        {filters}
        {content}
    };
    let mut res = ui::render(
        &p,
        &viewer,
        Page::new("Conversations", Nav::Conversations, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

fn results(page: ConversationPage, kept: &[(String, String)], paged: bool, now: Millis) -> AnyView {
    if page.items.is_empty() && !paged {
        return view! {
            <EmptyState title="No conversations match">
                "Conversations appear here when Front sends a message to an inbox of a registered app. "
                "Clear the filters to see every conversation."
            </EmptyState>
        }
        .into_any();
    }
    let link = |c: &Option<PageCursor>| {
        c.as_ref().map(|c| {
            let (key, value) = cursor_text(c);
            ui::with_query("/conversations", kept, key, Some(&value))
        })
    };
    let newer = link(&page.newer);
    let older = link(&page.older);
    let rows = page.items.into_iter().map(|i| row(i, now)).collect_view();
    view! {
        // Hydrated (when the bundle was built): narrows this page's rows as you type and
        // refreshes them in place; without JavaScript it stays hidden.
        <LiveFilter target="conversation-rows".to_string() label="Filter this page".to_string()/>
        <div id="conversation-rows">
            <Table head=vec!["Updated", "Subject", "Customer", "App", "Status", "Route", "Escalation", "Flags"] caption="Conversations">
                {rows}
            </Table>
        </div>
        <Pager newer=newer older=older/>
    }
    .into_any()
}

fn row(i: ConversationSummary, now: Millis) -> impl IntoView + use<> {
    let c = i.conversation;
    let href = format!("/conversations/{}", c.front_id);
    let subject = c
        .subject
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(no subject)".into());
    let status = c.status.to_string();
    let (action, category, flags) = match i.route {
        Some(r) => (Some(r.action.to_string()), r.category, r.flags.join(", ")),
        None => (None, String::new(), String::new()),
    };
    let action = action.map(|a| view! { <StatusBadge status=a/> });
    let escalation = c
        .escalation
        .clone()
        .map(|e| view! { <StatusBadge status=e/> });
    view! {
        <tr>
            <td><RelTime at=c.updated_at now=now/></td>
            <td><a href=href>{subject}</a></td>
            <td>{c.customer_email.clone().unwrap_or_default()}</td>
            <td>{c.app.clone().unwrap_or_default()}</td>
            <td><StatusBadge status=status/></td>
            <td>{action}" "<span class="muted">{category}</span></td>
            <td>{escalation}</td>
            <td>{flags}</td>
        </tr>
    }
}

// ---- actions ----

fn back(id: &str) -> String {
    format!("/conversations/{}", urlencode(id))
}

pub(super) fn urlencode(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
                c.to_string()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

/// The Front port, built from the settings (as the workflow's is).
fn front(p: &Platform) -> Result<Arc<dyn FrontApi>, PageError> {
    let token = p.settings.front.api_token.clone().ok_or_else(|| {
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "front_not_configured",
            "Front is not configured (front.api_token), so nothing can be sent to Front.",
        )
    })?;
    let cfg = support_connectors::front::FrontConfig {
        base_url: p.settings.front.api_url.clone(),
        ..support_connectors::front::FrontConfig::default()
    };
    support_connectors::front::FrontClient::new(token, cfg)
        .map(|c| Arc::new(c) as Arc<dyn FrontApi>)
        .map_err(|e| PageError::internal(e.to_string()))
}

fn front_error(e: FrontError) -> PageError {
    let (status, code) = match &e {
        FrontError::NotFound(_) => (StatusCode::NOT_FOUND, "front_not_found"),
        FrontError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "front_rate_limited"),
        FrontError::Rejected { .. } => (StatusCode::BAD_GATEWAY, "front_rejected"),
        _ => (StatusCode::BAD_GATEWAY, "front_unavailable"),
    };
    tracing::warn!(cause = %e, "dashboard: Front refused or failed");
    PageError::new(
        status,
        code,
        format!("Front did not accept it, so nothing changed there: {e}"),
    )
}

/// A shared conversation action's error as the page shows it.
fn action_error(e: ConversationActionError) -> PageError {
    match e {
        ConversationActionError::Invalid(m) => PageError::bad_request(m),
        ConversationActionError::Events(m) => PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "runner_unavailable",
            format!("The run could not be queued: {m}"),
        ),
        ConversationActionError::Front(e) => front_error(e),
        ConversationActionError::Store(e) => e.into(),
    }
}

/// The conversation of an action, and the acting viewer checked for the agent role.
async fn acting_on(
    p: &Platform,
    viewer: &Viewer,
    id: &str,
) -> Result<support_core::store::ConversationRow, PageError> {
    viewer.require(Role::Agent)?;
    p.store
        .get_conversation(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("conversation {id}")))
}

/// An action that failed: back to the detail with the error as a flash (the page shows the
/// current state), or the error page when there is no conversation to go back to.
fn failed(p: &Platform, id: &str, e: PageError) -> Response {
    if matches!(e.code, "forbidden" | "not_found" | "unauthorized") {
        return e.into_response();
    }
    e.log();
    ui::redirect_with_flash(
        p,
        &back(id),
        Flash::error(format!("{} (code {})", e.message, e.code)),
    )
}

async fn audit(p: &Platform, ev: AuditEvent) -> Result<(), PageError> {
    p.store.append_audit(&ev).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// POST `/conversations/{id}/rerun`.
async fn rerun(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<NoFields>,
) -> Response {
    let result = async {
        let c = acting_on(&p, &viewer, &id).await?;
        let actor = viewer.actor();
        let by = Requester {
            actor: &actor,
            source: "dashboard",
            attribution: serde_json::Value::Null,
        };
        let event_id =
            conversation_actions::request_rerun(p.store.as_ref(), p.events.as_ref(), &c, &by)
                .await
                .map_err(action_error)?;
        Ok::<_, PageError>(event_id)
    }
    .await;
    match result {
        Ok(event_id) => ui::redirect_with_flash(
            &p,
            &back(&id),
            Flash::success(format!(
                "The agent runs again (event {event_id}); its draft and decisions appear here when it finishes."
            )),
        ),
        Err(e) => failed(&p, &id, e),
    }
}

#[derive(Debug, Deserialize)]
struct HandOver {
    tag: String,
    #[serde(default)]
    reason: String,
    /// A Front teammate id to assign, when given.
    #[serde(default)]
    assignee: String,
}

/// POST `/conversations/{id}/escalate`.
async fn escalate(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<HandOver>,
) -> Response {
    let result = async {
        let c = acting_on(&p, &viewer, &id).await?;
        let assignee = form.assignee.trim();
        let h = conversation_actions::HandOver {
            tag: form.tag.trim().to_string(),
            reason: form.reason,
            assignee: if assignee.is_empty() {
                Assignee::Keep
            } else {
                Assignee::To(assignee.to_string())
            },
        };
        conversation_actions::validate_hand_over(&h).map_err(action_error)?;
        let front = front(&p)?;
        let actor = viewer.actor();
        let by = Requester {
            actor: &actor,
            source: "dashboard",
            attribution: serde_json::Value::Null,
        };
        conversation_actions::hand_over(
            p.store.as_ref(),
            front.as_ref(),
            c,
            &h,
            &viewer.email,
            &by,
        )
        .await
        .map_err(action_error)?;
        let tag = h.tag;
        Ok(tag)
    }
    .await;
    match result {
        Ok(tag) => ui::redirect_with_flash(
            &p,
            &back(&id),
            Flash::success(format!("Handed over: tagged {tag} in Front.")),
        ),
        Err(e) => failed(&p, &id, e),
    }
}

#[derive(Debug, Deserialize)]
struct Note {
    body: String,
}

/// POST `/conversations/{id}/note`.
async fn note(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<Note>,
) -> Response {
    let result = async {
        let c = acting_on(&p, &viewer, &id).await?;
        let body = form.body.trim();
        if body.is_empty() {
            return Err(PageError::bad_request("the note is empty"));
        }
        if body.chars().count() > MAX_NOTE_CHARS {
            return Err(PageError::bad_request(format!(
                "the note is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
        let front = front(&p)?;
        front
            .add_comment(
                &c.front_id,
                &format!("{body}\n— {} (support dashboard)", viewer.email),
            )
            .await
            .map_err(front_error)?;
        let mut ev = AuditEvent::new(
            "conversation.note_added",
            viewer.actor(),
            json!({"chars": body.chars().count()}),
        )
        .conversation(&c.front_id);
        if let Some(app) = &c.app {
            ev = ev.app(app);
        }
        audit(&p, ev).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => ui::redirect_with_flash(
            &p,
            &back(&id),
            Flash::success("The note was added to the conversation in Front."),
        ),
        Err(e) => failed(&p, &id, e),
    }
}
