//! Knowledge (issue 15): `/knowledge` lists the articles (the top bar's app filter applies),
//! `/knowledge/{id}` shows one (its current version or `?version=N`, every version, and where it
//! was used: the drafts that cite it, stale when they cite an older version and are not sent),
//! `/knowledge/{id}/edit` (agent) edits it: a plain POST form (CSRF) with two buttons, Preview
//! (the page again with the chunks the retriever will index, escaped text) and Save (a new
//! version through the knowledge base's one write path, the same as `PUT /api/v1/kb/articles/{id}`
//! and `skill kb import`; audited). A form based on an older version than the current one is
//! refused and shown again with the current state. Works without JavaScript.

use crate::auth::{Posted, Viewer};
use crate::kb::{ArticleBody, input_of};
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
use serde_json::json;
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::knowledge::{Visibility, chunk_markdown};
use support_core::store::{ArticleRow, ArticleVersionRow, PutKind};
use support_core::time::now_ms;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/knowledge", get(list))
        .route("/knowledge/{id}", get(show))
        .route("/knowledge/{id}/edit", get(edit).post(save))
}

async fn list(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let rows = p.store.list_articles(viewer.app.as_deref()).await?;
    let body = if rows.is_empty() {
        view! {
            <EmptyState title="No articles">
                "Import markdown or HTML with `skill kb import <dir> --app APP`, or POST /api/v1/kb/articles."
            </EmptyState>
        }
        .into_any()
    } else {
        let items = rows
            .into_iter()
            .map(|a| {
                let href = format!("/knowledge/{}", a.id);
                view! {
                    <tr>
                        <td><a href=href>{a.title.clone()}</a></td>
                        <td>{a.app.clone()}</td>
                        <td><StatusBadge status=a.visibility.as_str()/></td>
                        <td>{format!("v{}", a.current_version)}</td>
                        <td>{a.tags.join(", ")}</td>
                        <td><RelTime at=a.updated_at now=now/></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table head=vec!["Title", "App", "Visibility", "Version", "Tags", "Updated"] caption="Articles">
                {items}
            </Table>
        }
        .into_any()
    };
    let fallback = p.knowledge.status().lexical_fallback.map(|why| {
        view! {
            <ErrorPanel
                code="lexical_fallback"
                message=format!("Lexical search only: the embedder failed during the last index rebuild ({why}); answers are retrieved by tantivy alone until `skill kb reindex` embeds again.")
            />
        }
    });
    let body = view! {
        {fallback}
        <p><a href="/canned">"Canned responses"</a></p>
        {body}
    };
    Ok(ui::render(&p, &viewer, Page::new("Knowledge", Nav::Knowledge, body)).await)
}

#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    version: Option<String>,
}

async fn article(p: &Platform, id: &str) -> Result<ArticleRow, PageError> {
    p.store
        .get_article(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("article {id}")))
}

async fn show(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let a = article(&p, &id).await?;
    let versions = p.store.article_versions(&id).await?;
    let shown = match q.version.as_deref().filter(|v| !v.is_empty()) {
        None => a.current_version,
        Some(v) => v
            .parse()
            .map_err(|_| PageError::bad_request(format!("version {v:?} is not a number")))?,
    };
    let v = versions
        .iter()
        .find(|v| v.version == shown)
        .cloned()
        .ok_or_else(|| PageError::not_found(format!("article {id} version {shown}")))?;
    let uses = match p.store.article_uses(&id).await {
        Ok(uses) if uses.is_empty() => view! {
            <p class="muted">"No draft has cited this article yet."</p>
        }
        .into_any(),
        Ok(uses) => {
            let items = uses
                .into_iter()
                .map(|u| {
                    let href = format!("/conversations/{}", u.conversation_id);
                    let state = if u.sent {
                        "sent"
                    } else if u.stale {
                        "stale"
                    } else {
                        "current"
                    };
                    view! {
                        <tr>
                            <td><a href=href>{u.conversation_id.clone()}</a></td>
                            <td>{format!("v{}", u.version)}</td>
                            <td><StatusBadge status=state/></td>
                            <td><RelTime at=u.created_at now=now/></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <Table head=vec!["Conversation", "Cited version", "Draft", "Drafted"] caption="Used by">
                    {items}
                </Table>
            }
            .into_any()
        }
        Err(e) => {
            let e = PageError::from(e);
            e.log();
            let (code, message) = (e.code, e.message);
            view! { <ErrorPanel code=code message=message/> }.into_any()
        }
    };
    let version_rows = versions
        .iter()
        .map(|x| {
            let href = format!("/knowledge/{}?version={}", id, x.version);
            let label = format!("v{}", x.version);
            let current = (x.version == a.current_version).then_some(" (current)");
            view! {
                <tr>
                    <td><a href=href>{label}</a>{current}</td>
                    <td>{x.author.clone()}</td>
                    <td><RelTime at=x.created_at now=now/></td>
                    <td><code>{x.content_hash.chars().take(12).collect::<String>()}</code></td>
                </tr>
            }
        })
        .collect_view();
    let edit = viewer.can(Role::Agent).then(|| {
        let href = format!("/knowledge/{id}/edit");
        view! { <p><a class="button" href=href>"Edit"</a></p> }
    });
    let heading = format!("{} (v{} of {})", v.title, shown, a.current_version);
    let body = view! {
        <h2>{heading}</h2>
        <dl class="facts">
            <dt>"App"</dt><dd>{a.app.clone()}</dd>
            <dt>"Visibility"</dt><dd><StatusBadge status=v.visibility.as_str()/></dd>
            <dt>"Tags"</dt><dd>{v.tags.join(", ")}</dd>
            <dt>"Source"</dt><dd>{a.source.clone().unwrap_or_default()}</dd>
            <dt>"URL"</dt><dd>{v.url.clone().unwrap_or_default()}</dd>
        </dl>
        {edit}
        <pre class="message-body article-body">{v.body.clone()}</pre>
        <h3>"Versions"</h3>
        <Table head=vec!["Version", "Author", "Written", "Hash"] caption="Versions">
            {version_rows}
        </Table>
        <h3>"Where it was used"</h3>
        {uses}
    };
    let title = format!("Article {}", a.id);
    Ok(ui::render(&p, &viewer, Page::new(title, Nav::Knowledge, body)).await)
}

/// The edit form's fields.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// Comma-separated.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    url: String,
    /// The version the form was based on.
    #[serde(default)]
    base: i64,
    /// `preview` or `save`.
    #[serde(default)]
    op: String,
}

impl EditForm {
    fn of(v: &ArticleVersionRow) -> Self {
        Self {
            title: v.title.clone(),
            body: v.body.clone(),
            tags: v.tags.join(", "),
            visibility: v.visibility.as_str().to_string(),
            url: v.url.clone().unwrap_or_default(),
            base: v.version,
            op: String::new(),
        }
    }
}

fn form_view(viewer: &Viewer, id: &str, f: &EditForm) -> AnyView {
    let action = format!("/knowledge/{id}/edit");
    let public = f.visibility != "internal";
    view! {
        <form method="post" action=action class="article-edit">
            {ui::csrf_field(viewer)}
            <input type="hidden" name="base" value=f.base.to_string()/>
            <label>"Title"<input type="text" name="title" required=true value=f.title.clone()/></label>
            <label>"Body (markdown)"<textarea name="body" rows="18" required=true>{f.body.clone()}</textarea></label>
            <label>"Tags (comma-separated)"<input type="text" name="tags" value=f.tags.clone()/></label>
            <label>"Visibility"
                <select name="visibility">
                    <option value="public" selected=public>"public"</option>
                    <option value="internal" selected=!public>"internal"</option>
                </select>
            </label>
            <label>"URL"<input type="text" name="url" value=f.url.clone()/></label>
            <p>
                <button type="submit" name="op" value="preview">"Preview"</button>" "
                <button type="submit" name="op" value="save">"Save as a new version"</button>
            </p>
        </form>
    }
    .into_any()
}

fn preview(f: &EditForm) -> AnyView {
    let chunks = chunk_markdown(&f.body)
        .into_iter()
        .map(|c| {
            let heading = if c.heading.is_empty() {
                f.title.clone()
            } else {
                c.heading
            };
            view! {
                <section class="preview-chunk">
                    <h4>{heading}</h4>
                    <pre class="message-body">{c.text}</pre>
                </section>
            }
        })
        .collect_view();
    view! {
        <section class="article-preview">
            <h3>"Preview: what the retriever will index"</h3>
            {chunks}
        </section>
    }
    .into_any()
}

async fn edit_page(
    p: &Platform,
    viewer: &Viewer,
    a: &ArticleRow,
    f: &EditForm,
    notice: Option<(&'static str, String)>,
    show_preview: bool,
    status: StatusCode,
) -> Response {
    let notice = notice.map(|(code, message)| view! { <ErrorPanel code=code message=message/> });
    let back = format!("/knowledge/{}", a.id);
    let heading = format!("Edit {} (v{})", a.title, a.current_version);
    let preview = show_preview.then(|| preview(f));
    let body = view! {
        <h2>{heading}</h2>
        <p><a href=back>"Back to the article"</a></p>
        {notice}
        {preview}
        {form_view(viewer, &a.id, f)}
    };
    let mut res = ui::render(
        p,
        viewer,
        Page::new(format!("Edit article {}", a.id), Nav::Knowledge, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

async fn edit(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    viewer.require(Role::Agent)?;
    let a = article(&p, &id).await?;
    let v = p
        .store
        .article_version(&id, a.current_version)
        .await?
        .ok_or_else(|| PageError::not_found(format!("article {id}")))?;
    Ok(edit_page(
        &p,
        &viewer,
        &a,
        &EditForm::of(&v),
        None,
        false,
        StatusCode::OK,
    )
    .await)
}

async fn save(
    State(p): State<Platform>,
    Path(id): Path<String>,
    posted: Posted<EditForm>,
) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(e) = viewer.require(Role::Agent) {
        return e.into_response();
    }
    let a = match article(&p, &id).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let visibility = match form.visibility.parse::<Visibility>() {
        Ok(v) => v,
        Err(_) => {
            return edit_page(
                &p,
                &viewer,
                &a,
                &form,
                Some((
                    "bad_request",
                    "visibility must be public or internal".into(),
                )),
                false,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if form.base != a.current_version {
        // Someone saved meanwhile: show their version, keep nothing of this form silently.
        let current = p.store.article_version(&id, a.current_version).await;
        let f = match current {
            Ok(Some(v)) => EditForm::of(&v),
            _ => form.clone(),
        };
        return edit_page(
            &p,
            &viewer,
            &a,
            &f,
            Some((
                "conflict",
                format!(
                    "This article changed while you edited it (now v{}); your edit was not saved. This is the current version.",
                    a.current_version
                ),
            )),
            false,
            StatusCode::CONFLICT,
        )
        .await;
    }
    let body = ArticleBody {
        app: Some(a.app.clone()),
        title: form.title.clone(),
        body: form.body.clone(),
        tags: form
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        visibility,
        url: Some(form.url.clone()),
    };
    let input = match input_of(Some(id.clone()), &a.app, body, &viewer.user_id) {
        Ok(i) => i,
        Err(e) => {
            return edit_page(
                &p,
                &viewer,
                &a,
                &form,
                Some(("bad_request", e.to_string())),
                false,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if form.op != "save" {
        return edit_page(&p, &viewer, &a, &form, None, true, StatusCode::OK).await;
    }
    match p.knowledge.put(&[input]).await {
        Ok(out) => {
            let Some(o) = out.first() else {
                return PageError::internal("no outcome").into_response();
            };
            let event = AuditEvent::new(
                "kb.article_written",
                viewer.actor(),
                json!({"article": o.article_id, "version": o.version, "kind": o.kind,
                       "stale_drafts": o.stale_drafts, "channel": "dashboard"}),
            )
            .app(a.app.clone());
            if let Err(e) = p.store.append_audit(&event).await {
                tracing::warn!(cause = %e, "audit entry not recorded");
            }
            let msg = match o.kind {
                PutKind::Unchanged => "Nothing changed; no new version.".to_string(),
                _ => format!(
                    "Saved as version {}; {} unsent draft(s) citing an older version are now stale.",
                    o.version, o.stale_drafts
                ),
            };
            ui::redirect_with_flash(&p, &format!("/knowledge/{id}"), Flash::success(msg))
        }
        Err(e) => {
            let e = PageError::from(crate::kb::kb_err(e));
            e.log();
            edit_page(
                &p,
                &viewer,
                &a,
                &form,
                Some((e.code, e.message)),
                false,
                e.status,
            )
            .await
        }
    }
}
