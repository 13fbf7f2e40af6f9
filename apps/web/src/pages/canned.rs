//! Canned responses (issue 15): `/canned` lists them (the top bar's app filter applies; stale
//! ones marked), `/canned/{id}` shows one (its current version or `?version=N`, its variables,
//! the article versions it cites and every version), `/canned/new` and `/canned/{id}/edit`
//! (agent) write one: a plain POST form (CSRF) with Preview (the template filled with example
//! values, escaped) and Save (a new version through the API's write path, audited
//! `canned.written`; an unknown `{{variable}}` is refused with `unknown_template_variable`, a
//! form based on an older version with `409`). Works without JavaScript.

use crate::auth::{Posted, Viewer};
use crate::canned::{canned_err, write};
use crate::ui::{
    self, EmptyState, ErrorPanel, Flash, Nav, Page, PageError, RelTime, StatusBadge, Table,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use serde::Deserialize;
use support_core::auth::Role;
use support_core::corpus::{TEMPLATE_VARIABLES, template_preview, template_variables};
use support_core::store::{CannedRow, CannedSource, PutKind};
use support_core::time::now_ms;
use support_host::{ApiError, Platform};
use support_knowledge::canned::{CannedFields, input, parse_source};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/canned", get(list))
        .route("/canned/new", get(new).post(create))
        .route("/canned/{id}", get(show))
        .route("/canned/{id}/edit", get(edit).post(save))
}

fn sources_text(s: &[CannedSource]) -> String {
    s.iter()
        .map(|s| format!("{}@{}", s.article_id, s.version))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let rows = p.store.list_canned_rows(viewer.app.as_deref()).await?;
    let add = viewer
        .can(Role::Agent)
        .then(|| view! { <p><a class="button" href="/canned/new">"New canned response"</a></p> });
    let table = if rows.is_empty() {
        view! {
            <EmptyState title="No canned responses">
                "Write one here, with `skill canned add`, or POST /api/v1/canned."
            </EmptyState>
        }
        .into_any()
    } else {
        let items = rows
            .into_iter()
            .map(|c| {
                let href = format!("/canned/{}", c.id);
                let state = if c.stale { "stale" } else { "current" };
                view! {
                    <tr>
                        <td><a href=href>{c.name.clone()}</a></td>
                        <td>{c.app.clone().unwrap_or_else(|| "every app".into())}</td>
                        <td>{c.trigger.clone()}</td>
                        <td>{format!("v{}", c.current_version)}</td>
                        <td><StatusBadge status=state/></td>
                        <td><RelTime at=c.updated_at now=now/></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table head=vec!["Name", "App", "Trigger", "Version", "State", "Updated"] caption="Canned responses">
                {items}
            </Table>
        }
        .into_any()
    };
    let body = view! {
        <p><a href="/knowledge">"Articles"</a></p>
        {add}
        {table}
    };
    Ok(ui::render(
        &p,
        &viewer,
        Page::new("Canned responses", Nav::Knowledge, body),
    )
    .await)
}

async fn canned(p: &Platform, id: &str) -> Result<CannedRow, PageError> {
    p.store
        .get_canned(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("canned response {id}")))
}

#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    version: Option<String>,
}

async fn show(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let c = canned(&p, &id).await?;
    let versions = p.store.canned_versions(&id).await?;
    let shown = match q.version.as_deref().filter(|v| !v.is_empty()) {
        None => c.current_version,
        Some(v) => v
            .parse()
            .map_err(|_| PageError::bad_request(format!("version {v:?} is not a number")))?,
    };
    let v = versions
        .iter()
        .find(|v| v.version == shown)
        .cloned()
        .ok_or_else(|| PageError::not_found(format!("canned response {id} version {shown}")))?;
    let stale = c.stale.then(|| {
        view! {
            <p class="flash flash-error">
                <StatusBadge status="stale"/>
                " An article this response cites changed after it was written; the router does not answer with it until a new version is saved."
            </p>
        }
    });
    let sources = v
        .sources
        .iter()
        .map(|s| {
            let href = format!("/knowledge/{}?version={}", s.article_id, s.version);
            let label = format!("{} v{}", s.article_id, s.version);
            view! { <li><a href=href>{label}</a></li> }
        })
        .collect_view();
    let variables = template_variables(&v.body).unwrap_or_default().join(", ");
    let version_rows = versions
        .iter()
        .map(|x| {
            let href = format!("/canned/{}?version={}", id, x.version);
            let label = format!("v{}", x.version);
            let current = (x.version == c.current_version).then_some(" (current)");
            view! {
                <tr>
                    <td><a href=href>{label}</a>{current}</td>
                    <td>{x.name.clone()}</td>
                    <td>{x.author.clone()}</td>
                    <td><RelTime at=x.created_at now=now/></td>
                </tr>
            }
        })
        .collect_view();
    let edit = viewer.can(Role::Agent).then(|| {
        let href = format!("/canned/{id}/edit");
        view! { <p><a class="button" href=href>"Edit"</a></p> }
    });
    let heading = format!("{} (v{} of {})", v.name, shown, c.current_version);
    let body = view! {
        <h2>{heading}</h2>
        {stale}
        <dl class="facts">
            <dt>"App"</dt><dd>{c.app.clone().unwrap_or_else(|| "every app".into())}</dd>
            <dt>"Trigger"</dt><dd>{v.trigger.clone()}</dd>
            <dt>"Variables"</dt><dd>{variables}</dd>
        </dl>
        {edit}
        <pre class="message-body canned-body">{v.body.clone()}</pre>
        <h3>"Cites"</h3>
        <ul class="canned-sources">{sources}</ul>
        <h3>"Versions"</h3>
        <Table head=vec!["Version", "Name", "Author", "Written"] caption="Versions">
            {version_rows}
        </Table>
    };
    Ok(ui::render(
        &p,
        &viewer,
        Page::new(format!("Canned {}", c.id), Nav::Knowledge, body),
    )
    .await)
}

/// The edit form's fields.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CannedForm {
    #[serde(default)]
    app: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    body: String,
    /// `ARTICLE_ID@VERSION`, comma-separated.
    #[serde(default)]
    sources: String,
    /// The version the form was based on (0: a new response).
    #[serde(default)]
    base: i64,
    /// `preview` or `save`.
    #[serde(default)]
    op: String,
}

impl CannedForm {
    fn of(c: &CannedRow) -> Self {
        Self {
            app: c.app.clone().unwrap_or_default(),
            name: c.name.clone(),
            trigger: c.trigger.clone(),
            body: c.body.clone(),
            sources: sources_text(&c.sources),
            base: c.current_version,
            op: String::new(),
        }
    }

    fn fields(&self) -> Result<CannedFields, ApiError> {
        let sources = self
            .sources
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_source)
            .collect::<Result<Vec<_>, _>>()
            .map_err(canned_err)?;
        Ok(CannedFields {
            app: Some(self.app.trim().to_owned()).filter(|a| !a.is_empty()),
            name: self.name.clone(),
            trigger: self.trigger.clone(),
            body: self.body.clone(),
            sources,
        })
    }
}

fn form_view(viewer: &Viewer, action: String, f: &CannedForm, new: bool) -> AnyView {
    let vars = TEMPLATE_VARIABLES
        .iter()
        .map(|(k, what)| {
            let k = format!("{{{{{k}}}}}");
            view! { <li><code>{k}</code>" "{*what}</li> }
        })
        .collect_view();
    let app = new.then(|| {
        view! { <label>"App (empty: every app)"<input type="text" name="app" value=f.app.clone()/></label> }
    });
    let keep_app = (!new).then(|| view! { <input type="hidden" name="app" value=f.app.clone()/> });
    view! {
        <form method="post" action=action class="canned-edit">
            {ui::csrf_field(viewer)}
            <input type="hidden" name="base" value=f.base.to_string()/>
            {app}
            {keep_app}
            <label>"Name"<input type="text" name="name" required=true value=f.name.clone()/></label>
            <label>"Trigger (ways a customer asks, separated by |; one answers when its words are in one sentence of the message)"<input type="text" name="trigger" required=true value=f.trigger.clone()/></label>
            <label>"Template"<textarea name="body" rows="12" required=true>{f.body.clone()}</textarea></label>
            <label>"Cites (ARTICLE_ID@VERSION, comma-separated)"<input type="text" name="sources" value=f.sources.clone()/></label>
            <details><summary>"Variables"</summary><ul>{vars}</ul></details>
            <p>
                <button type="submit" name="op" value="preview">"Preview"</button>" "
                <button type="submit" name="op" value="save">"Save as a new version"</button>
            </p>
        </form>
    }
    .into_any()
}

fn preview(f: &CannedForm) -> AnyView {
    match template_preview(&f.body) {
        Ok(text) => view! {
            <section class="canned-preview">
                <h3>"Preview (example values)"</h3>
                <pre class="message-body">{text}</pre>
            </section>
        }
        .into_any(),
        Err(e) => {
            let (code, message) = (e.code(), e.to_string());
            view! { <ErrorPanel code=code message=message/> }.into_any()
        }
    }
}

/// The form page (new when `c` is `None`).
async fn form_page(
    p: &Platform,
    viewer: &Viewer,
    c: Option<&CannedRow>,
    f: &CannedForm,
    notice: Option<(&'static str, String)>,
    show_preview: bool,
    status: StatusCode,
) -> Response {
    let notice = notice.map(|(code, message)| view! { <ErrorPanel code=code message=message/> });
    let (heading, action, back, title) = match c {
        Some(c) => (
            format!("Edit {} (v{})", c.name, c.current_version),
            format!("/canned/{}/edit", c.id),
            format!("/canned/{}", c.id),
            format!("Edit canned {}", c.id),
        ),
        None => (
            "New canned response".to_string(),
            "/canned/new".to_string(),
            "/canned".to_string(),
            "New canned response".to_string(),
        ),
    };
    let preview = show_preview.then(|| preview(f));
    let body = view! {
        <h2>{heading}</h2>
        <p><a href=back>"Back"</a></p>
        {notice}
        {preview}
        {form_view(viewer, action, f, c.is_none())}
    };
    let mut res = ui::render(
        p,
        viewer,
        Page::new(title, Nav::Knowledge, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

async fn new(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Agent)?;
    let f = CannedForm {
        app: viewer.app.clone().unwrap_or_default(),
        ..CannedForm::default()
    };
    Ok(form_page(&p, &viewer, None, &f, None, false, StatusCode::OK).await)
}

async fn edit(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    viewer.require(Role::Agent)?;
    let c = canned(&p, &id).await?;
    Ok(form_page(
        &p,
        &viewer,
        Some(&c),
        &CannedForm::of(&c),
        None,
        false,
        StatusCode::OK,
    )
    .await)
}

async fn create(State(p): State<Platform>, posted: Posted<CannedForm>) -> Response {
    submit(&p, posted, None).await
}

async fn save(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<CannedForm>,
) -> Response {
    submit(&p, posted, Some(id)).await
}

/// Preview or save a form: a new response (`id` `None`) or a new version of `id`.
async fn submit(p: &Platform, posted: Posted<CannedForm>, id: Option<String>) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(e) = viewer.require(Role::Agent) {
        return e.into_response();
    }
    let current = match &id {
        Some(id) => match canned(p, id).await {
            Ok(c) => Some(c),
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let c = current.as_ref();
    let refused = |e: ApiError| {
        let e = PageError::from(e);
        (e.code, e.message, e.status)
    };
    if let Some(cur) = c
        && form.base != cur.current_version
    {
        let message = format!(
            "This canned response changed while you edited it (now v{}); your edit was not saved. This is the current version.",
            cur.current_version
        );
        return form_page(
            p,
            &viewer,
            c,
            &CannedForm::of(cur),
            Some(("conflict", message)),
            false,
            StatusCode::CONFLICT,
        )
        .await;
    }
    let checked = form.fields().and_then(|f| {
        input(
            id.clone(),
            c.map(|c| c.current_version),
            f,
            &viewer.user_id,
            now_ms(),
        )
        .map_err(canned_err)
    });
    let i = match checked {
        Ok(i) => i,
        Err(e) => {
            let (code, message, status) = refused(e);
            return form_page(p, &viewer, c, &form, Some((code, message)), false, status).await;
        }
    };
    if form.op != "save" {
        return form_page(p, &viewer, c, &form, None, true, StatusCode::OK).await;
    }
    match write(p, i, &viewer.actor(), "dashboard").await {
        Ok(out) => {
            let msg = match out.kind {
                PutKind::Unchanged => "Nothing changed; no new version.".to_string(),
                _ => format!("Saved as version {}.", out.version),
            };
            ui::redirect_with_flash(p, &format!("/canned/{}", out.id), Flash::success(msg))
        }
        Err(e) => {
            let e = PageError::from(e);
            e.log();
            form_page(
                p,
                &viewer,
                c,
                &form,
                Some((e.code, e.message)),
                false,
                e.status,
            )
            .await
        }
    }
}
