//! The knowledge base in the JSON API: viewers read, agents and admins write (admins reindex).
//!
//! - `GET /api/v1/kb/articles[?app=]`, `POST` (a new article; `{app, title, body, tags,
//!   visibility, url}`), `GET|PUT|DELETE /api/v1/kb/articles/{id}` (a `PUT` is a new version),
//!   `GET /api/v1/kb/articles/{id}/versions/{version}`;
//! - `POST /api/v1/kb/import` (`{app, files: [{name, content}]}`: the import path of `skill kb
//!   import`, one transaction, a bad file is a 400 naming the file and line);
//! - `GET /api/v1/kb/search?app=&q=[&limit=&internal=true]`; `POST /api/v1/kb/reindex`;
//!   `GET /api/v1/kb/status` (`ok`, or `lexical_fallback` and why after the embedder failed).
//!
//! A body or query string that does not parse is `400 bad_request` in the JSON error envelope
//! (never axum's plain-text rejection); the role is checked before the body is read.

use crate::api::Caller;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::knowledge::{Visibility, chunk_markdown, content_hash};
use support_core::store::{ArticleInput, StoreError};
use support_core::time::now_ms;
use support_host::ApiError;
use support_host::Platform;
use support_knowledge::KnowledgeError;
use support_knowledge::import::{MAX_BYTES, parse, write};

/// A JSON body whose rejection is the API's `400 bad_request`.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "the body is not valid: {}",
                e.body_text()
            ))),
        }
    }
}

/// A query string whose rejection is the API's `400 bad_request`.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "the query string is not valid: {}",
                e.body_text()
            ))),
        }
    }
}

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/api/v1/kb/articles", get(list).post(create))
        .route(
            "/api/v1/kb/articles/{id}",
            get(show).put(update).delete(remove),
        )
        .route("/api/v1/kb/articles/{id}/versions/{version}", get(version))
        .route("/api/v1/kb/import", post(import))
        .route("/api/v1/kb/search", get(search))
        .route("/api/v1/kb/reindex", post(reindex))
        .route("/api/v1/kb/status", get(status))
}

pub(crate) fn kb_err(e: KnowledgeError) -> ApiError {
    match e {
        KnowledgeError::Store(StoreError::NotFound(what)) => ApiError::NotFound(what),
        KnowledgeError::Store(e) => e.into(),
        KnowledgeError::Index(e) => ApiError::Internal(e.to_string()),
    }
}

/// An app slug from a request, or `400 bad_request` (the knowledge and canned APIs).
pub(crate) fn slug(app: &str) -> Result<(), ApiError> {
    support_core::AppSlug::parse(app)
        .map(|_| ())
        .map_err(|_| ApiError::BadRequest(format!("app {app:?} is not a valid slug")))
}

/// `?app=` of a listing.
#[derive(Debug, Deserialize)]
pub(crate) struct AppQuery {
    pub(crate) app: Option<String>,
}

async fn list(
    caller: Caller,
    State(p): State<Platform>,
    Params(q): Params<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    if let Some(app) = &q.app {
        slug(app)?;
    }
    let items = p.store.list_articles(q.app.as_deref()).await?;
    Ok(Json(json!({"items": items})))
}

/// An article as a client writes it.
#[derive(Debug, Deserialize)]
pub struct ArticleBody {
    pub app: Option<String>,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
    pub url: Option<String>,
}

/// The article version `b` describes (`id`: an edit of that article).
pub fn input_of(
    id: Option<String>,
    app: &str,
    b: ArticleBody,
    author: &str,
) -> Result<ArticleInput, ApiError> {
    let title = b.title.trim().to_string();
    if title.is_empty() || b.body.trim().is_empty() {
        return Err(ApiError::BadRequest("title and body are required".into()));
    }
    if b.body.len() > MAX_BYTES {
        return Err(ApiError::BadRequest(format!(
            "body is over the limit of {MAX_BYTES} bytes"
        )));
    }
    let url = b.url.filter(|u| !u.trim().is_empty());
    let tags: Vec<String> = b
        .tags
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(ArticleInput {
        id,
        app: app.to_string(),
        source: None,
        content_hash: content_hash(&title, &b.body, &tags, b.visibility, url.as_deref()),
        chunks: chunk_markdown(&b.body),
        title,
        body: b.body,
        tags,
        visibility: b.visibility,
        url,
        author: author.to_string(),
        at: now_ms(),
    })
}

async fn audited(p: &Platform, kind: &str, actor: &str, app: &str, data: Value) {
    let event = AuditEvent::new(kind, actor, data).app(app.to_owned());
    if let Err(e) = p.store.append_audit(&event).await {
        tracing::warn!(kind, cause = %e, "audit entry not recorded");
    }
}

async fn create(
    caller: Caller,
    State(p): State<Platform>,
    body: Result<Body<ArticleBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Agent)?;
    let Body(b) = body?;
    let app = b
        .app
        .clone()
        .ok_or_else(|| ApiError::BadRequest("app is required".into()))?;
    slug(&app)?;
    let input = input_of(None, &app, b, &caller.user_id)?;
    let out = p.knowledge.put(&[input]).await.map_err(kb_err)?;
    let o = &out[0];
    audited(
        &p,
        "kb.article_written",
        &caller.actor,
        &app,
        json!({"article": o.article_id, "version": o.version}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(o))))
}

async fn update(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
    body: Result<Body<ArticleBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Agent)?;
    let Body(b) = body?;
    let current = p
        .store
        .get_article(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("article {id}")))?;
    if b.app.as_deref().is_some_and(|a| a != current.app) {
        return Err(ApiError::BadRequest(
            "an article cannot move to another app".into(),
        ));
    }
    let app = current.app.clone();
    let input = input_of(Some(id), &app, b, &caller.user_id)?;
    let out = p.knowledge.put(&[input]).await.map_err(kb_err)?;
    let o = &out[0];
    audited(&p, "kb.article_written", &caller.actor, &app,
        json!({"article": o.article_id, "version": o.version, "kind": o.kind, "stale_drafts": o.stale_drafts})).await;
    Ok(Json(json!(o)))
}

async fn show(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let article = p
        .store
        .get_article(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("article {id}")))?;
    let versions = p.store.article_versions(&id).await?;
    let used_by = p.store.article_uses(&id).await?;
    Ok(Json(
        json!({"article": article, "current": versions.first(), "versions": versions
        .iter()
        .map(|v| json!({"version": v.version, "author": v.author, "created_at": v.created_at, "content_hash": v.content_hash}))
        .collect::<Vec<_>>(), "used_by": used_by}),
    ))
}

async fn version(
    caller: Caller,
    State(p): State<Platform>,
    Path((id, v)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let v: i64 = v
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("version {v:?} is not a number")))?;
    let row = p
        .store
        .article_version(&id, v)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("article {id} version {v}")))?;
    Ok(Json(json!(row)))
}

async fn remove(
    caller: Caller,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Agent)?;
    let article = p
        .store
        .get_article(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("article {id}")))?;
    p.knowledge.remove(&id, now_ms()).await.map_err(kb_err)?;
    audited(
        &p,
        "kb.article_removed",
        &caller.actor,
        &article.app,
        json!({"article": id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ImportFile {
    name: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct ImportBody {
    app: String,
    files: Vec<ImportFile>,
}

async fn import(
    caller: Caller,
    State(p): State<Platform>,
    body: Result<Body<ImportBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Agent)?;
    let Body(b) = body?;
    slug(&b.app)?;
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for f in &b.files {
        match parse(&format!("api:{}", f.name), f.content.as_bytes(), MAX_BYTES) {
            Ok(a) => parsed.push(a),
            Err(e) => errors.push(e),
        }
    }
    let report = write(
        &p.knowledge,
        &b.app,
        parsed,
        errors,
        &caller.user_id,
        now_ms(),
    )
    .await
    .map_err(kb_err)?;
    if let Some(first) = report.errors.first() {
        return Err(ApiError::BadRequest(format!(
            "nothing imported: {first} ({} bad file(s))",
            report.errors.len()
        )));
    }
    audited(&p, "kb.imported", &caller.actor, &b.app,
        json!({"created": report.created, "updated": report.updated, "unchanged": report.unchanged})).await;
    Ok(Json(json!(report)))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    app: String,
    q: String,
    limit: Option<usize>,
    #[serde(default)]
    internal: bool,
}

async fn search(
    caller: Caller,
    State(p): State<Platform>,
    Params(q): Params<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    slug(&q.app)?;
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 50".into(),
        ));
    }
    let scope = if q.internal {
        Visibility::Internal
    } else {
        Visibility::Public
    };
    let hits = p
        .knowledge
        .search(&q.app, &q.q, limit, scope)
        .await
        .map_err(kb_err)?;
    Ok(Json(json!({"items": hits})))
}

async fn reindex(caller: Caller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let n = p.knowledge.reindex().await.map_err(kb_err)?;
    let status = p.knowledge.status();
    Ok(Json(
        json!({"chunks": n, "mode": status.mode(), "reason": status.lexical_fallback}),
    ))
}

/// `GET /api/v1/kb/status`: what the index answers with now (`ok`, or `lexical_fallback` with
/// the reason after a rebuild the embedder failed).
async fn status(caller: Caller, State(p): State<Platform>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let status = p.knowledge.status();
    Ok(Json(
        json!({"mode": status.mode(), "reason": status.lexical_fallback}),
    ))
}
