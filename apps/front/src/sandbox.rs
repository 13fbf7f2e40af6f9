//! The Front sandbox: a Front-compatible local inbox, shipped in the product.
//!
//! It serves the Core API paths the platform uses (conversations, paginated messages, drafts,
//! comments, tags, assignee) with Front's shapes, rate-limit headers and error bodies, keeps
//! state in memory, and emits signed application webhooks to the platform's intake exactly as
//! Front does. It can inject 429s, 5xx and preview-only webhook payloads. `skill dev --demo` uses
//! it when no Front token is configured; the tests use it as the fake Front.
//!
//! Control endpoints (not Front's) live under `/_sandbox` and need the sandbox's API token like
//! every other route (401 without). The request log is a ring of the last [`LOG_CAP`] requests,
//! and every id (conversation, message, event, draft) is random, so a restarted sandbox never
//! reuses an event id the intake has already recorded.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use support_core::pipeline::text::escape_html;

/// A conversation as the sandbox keeps it.
#[derive(Debug, Clone)]
struct Conv {
    id: String,
    inbox_id: String,
    subject: String,
    status: String,
    tags: Vec<String>,
    assignee: Option<String>,
    /// Oldest first.
    messages: Vec<Value>,
    comments: Vec<Value>,
}

#[derive(Debug, Default, Clone, Deserialize, serde::Serialize)]
pub struct Faults {
    /// Answer the next N API requests with 429.
    #[serde(default)]
    pub rate_limit_next: u32,
    /// The `retry-after` seconds of injected 429s.
    #[serde(default)]
    pub retry_after: u64,
    /// Answer the next N API requests with 503.
    #[serde(default)]
    pub server_error_next: u32,
    /// Send webhooks with ids and `_links` only, as Front's previews.
    #[serde(default)]
    pub preview_only: bool,
    /// Accept the next N replies (`POST /conversations/{id}/messages`: the message is sent) but
    /// answer 503, as when the connection drops after Front accepted: a retry must find the
    /// message rather than send it again.
    #[serde(default)]
    pub lose_reply_answers: u32,
}

#[derive(Default)]
struct Inner {
    convs: HashMap<String, Conv>,
    /// draft id → (conversation id, version)
    drafts: HashMap<String, (String, String)>,
    faults: Faults,
    /// The last [`LOG_CAP`] API requests as `METHOD path`, for tests and the demo UI.
    log: VecDeque<String>,
}

mod replies;
pub use replies::HoldAt;
use replies::{Holds, send_reply};

/// How many requests the sandbox's request log keeps (the oldest go first).
pub const LOG_CAP: usize = 1000;

/// Where the sandbox sends webhooks.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

/// The sandbox's state; clone to share.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    token: Arc<String>,
    /// The URL the API is reached at (for `_pagination.next` and `_links`).
    base_url: Arc<Mutex<String>>,
    webhook: Arc<Mutex<Option<WebhookTarget>>>,
    http: reqwest::Client,
    /// Bumped after every API request, so tests can wait for a change instead of polling.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    holds: Arc<Mutex<Holds>>,
}

fn front_error(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"_error": {"status": status.as_u16(), "title": title, "message": message}})),
    )
        .into_response()
}

impl Sandbox {
    /// A sandbox accepting `token` as its API token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            token: Arc::new(token.into()),
            base_url: Arc::new(Mutex::new(String::new())),
            webhook: Arc::new(Mutex::new(None)),
            http: {
                // reqwest is built without a default rustls provider: install ours first.
                support_connectors::ensure_crypto_provider();
                reqwest::Client::new()
            },
            changes: Arc::new(tokio::sync::watch::channel(0).0),
            holds: Arc::new(Mutex::new(Holds {
                at: None,
                caught: tokio::sync::watch::channel(0).0,
                released: tokio::sync::watch::channel(0).0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_base_url(&self, url: impl Into<String>) {
        *self.base_url.lock().unwrap_or_else(|p| p.into_inner()) = url.into();
    }

    /// The URL the sandbox's API is reached at.
    pub fn base_url(&self) -> String {
        self.base()
    }

    fn base(&self) -> String {
        self.base_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A receiver that changes after every API request the sandbox answers.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn set_webhook(&self, target: WebhookTarget) {
        *self.webhook.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// The last [`LOG_CAP`] API requests, oldest first, as `METHOD path`.
    pub fn request_log(&self) -> Vec<String> {
        self.lock().log.iter().cloned().collect()
    }

    /// Drafts currently in `conversation_id`.
    pub fn drafts(&self, conversation_id: &str) -> Vec<Value> {
        self.lock()
            .convs
            .get(conversation_id)
            .map(|c| {
                c.messages
                    .iter()
                    .filter(|m| m["is_draft"] == true)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replies sent through the API (`POST /conversations/{id}/messages`) in `conversation_id`,
    /// oldest first.
    pub fn sent_replies(&self, conversation_id: &str) -> Vec<Value> {
        self.lock()
            .convs
            .get(conversation_id)
            .map(|c| {
                c.messages
                    .iter()
                    .filter(|m| m["_sandbox_api_reply"] == true)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn comments(&self, conversation_id: &str) -> Vec<Value> {
        self.lock()
            .convs
            .get(conversation_id)
            .map(|c| c.comments.clone())
            .unwrap_or_default()
    }

    pub fn tags(&self, conversation_id: &str) -> Vec<String> {
        self.lock()
            .convs
            .get(conversation_id)
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }

    pub fn assignee(&self, conversation_id: &str) -> Option<String> {
        self.lock()
            .convs
            .get(conversation_id)
            .and_then(|c| c.assignee.clone())
    }

    /// A random id (a ULID): unique across restarts, unlike a counter.
    fn next_id(_: &mut Inner, prefix: &str) -> String {
        support_core::ids::new_id(&format!("{prefix}_sbx"))
    }

    fn links(&self, kind: &str, id: &str) -> Value {
        json!({"self": format!("{}/{kind}/{id}", self.base())})
    }

    fn conversation_json(&self, c: &Conv) -> Value {
        json!({
            "_links": {"self": format!("{}/conversations/{}", self.base(), c.id),
                       "related": {"inboxes": format!("{}/conversations/{}/inboxes", self.base(), c.id)}},
            "id": c.id,
            "subject": c.subject,
            "status": c.status,
            "assignee": c.assignee.as_ref().map(|a| json!({"id": a})),
            "tags": c.tags.iter().map(|t| json!({"id": t, "name": t})).collect::<Vec<_>>(),
            "created_at": c.messages.first().and_then(|m| m["created_at"].as_f64()),
        })
    }

    /// Add a message to a conversation (creating it when new) and, for inbound messages, emit
    /// the `inbound_received` webhook. Returns the event id.
    pub async fn deliver(&self, msg: NewMessage) -> Result<Delivered, String> {
        let (event, conv_id, msg_id) = self.record(msg);
        let event_id = event["payload"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = self.emit(&event).await?;
        Ok(Delivered {
            conversation_id: conv_id,
            message_id: msg_id,
            event_id,
            webhook_status: status,
            event,
        })
    }

    /// Add a message to a conversation without emitting a webhook (earlier history).
    /// Returns the conversation id.
    pub fn add_history(&self, msg: NewMessage) -> String {
        self.record(msg).1
    }

    /// Store a message; returns the webhook envelope Front would send, and the ids.
    fn record(&self, msg: NewMessage) -> (Value, String, String) {
        {
            let mut inner = self.lock();
            let conv_id = match &msg.conversation_id {
                Some(id) => id.clone(),
                None => Self::next_id(&mut inner, "cnv"),
            };
            let msg_id = Self::next_id(&mut inner, "msg");
            let event_id = Self::next_id(&mut inner, "evt");
            let now = support_core::time::now_ms() as f64 / 1000.0;
            let base = self.base();
            let mut recipients =
                vec![json!({"handle": msg.from, "role": "from", "name": msg.from_name})];
            if let Some(rt) = &msg.reply_to {
                recipients.push(json!({"handle": rt, "role": "reply-to"}));
            }
            recipients.push(
                json!({"handle": format!("support+{}@sandbox.test", msg.inbox_id), "role": "to"}),
            );
            let message = json!({
                "_links": {"self": format!("{base}/messages/{msg_id}")},
                "id": msg_id,
                "type": "email",
                "is_inbound": msg.inbound,
                "is_draft": false,
                "created_at": now,
                "subject": msg.subject,
                "blurb": msg.body.chars().take(120).collect::<String>(),
                "body": format!("<div>{}</div>", escape_html(&msg.body).replace('\n', "<br>")),
                "text": msg.body,
                "author": if msg.inbound { Value::Null } else { json!({"id": "tea_sandbox", "email": msg.from}) },
                "recipients": recipients,
            });
            let conv = inner.convs.entry(conv_id.clone()).or_insert_with(|| Conv {
                id: conv_id.clone(),
                inbox_id: msg.inbox_id.clone(),
                subject: msg.subject.clone(),
                status: "unassigned".into(),
                tags: Vec::new(),
                assignee: None,
                messages: Vec::new(),
                comments: Vec::new(),
            });
            if msg.inbound && conv.status == "archived" {
                conv.status = "unassigned".into();
            }
            conv.messages.push(message.clone());
            let conv_json = self.conversation_json(conv);
            let preview = inner.faults.preview_only;
            let (conversation, target) = if preview {
                (
                    json!({"_links": {"self": format!("{base}/conversations/{conv_id}")}, "id": conv_id}),
                    json!({"_links": {"self": format!("{base}/messages/{msg_id}")}, "id": msg_id}),
                )
            } else {
                (conv_json, message)
            };
            let kind = if msg.inbound { "inbound" } else { "outbound" };
            let event = json!({
                "type": if msg.inbound { "inbound_received" } else { "outbound_sent" },
                "authorization": {"id": "cmp_sandbox"},
                "payload": {
                    "_links": {"self": format!("{base}/events/{event_id}")},
                    "id": event_id,
                    "type": kind,
                    "emitted_at": now,
                    "conversation": conversation,
                    "source": {"_meta": {"type": "inboxes"}, "data": [{"id": msg.inbox_id}]},
                    "target": {"_meta": {"type": "message"}, "data": target},
                }
            });
            (event, conv_id, msg_id)
        }
    }

    /// Sign and POST an envelope to the webhook target, as Front does. Returns the HTTP status.
    pub async fn emit(&self, envelope: &Value) -> Result<Option<u16>, String> {
        let Some(target) = self
            .webhook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return Ok(None);
        };
        let body = serde_json::to_vec(envelope).map_err(|e| e.to_string())?;
        let ts = support_core::time::now_ms().to_string();
        let sig = support_core::front::webhook_signature(&target.secret, &ts, &body);
        let res = self
            .http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("x-front-signature", sig)
            .header("x-front-request-timestamp", ts)
            .body(body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        Ok(Some(res.status().as_u16()))
    }

    /// A teammate writes a draft in `conversation_id` in Front (not through the API). Returns its
    /// id, `None` when the conversation is unknown.
    pub fn add_draft(&self, conversation_id: &str, html: &str) -> Option<String> {
        let mut inner = self.lock();
        inner.convs.get(conversation_id)?;
        let draft_id = Self::next_id(&mut inner, "msg");
        let version = Self::next_id(&mut inner, "ver");
        let draft = json!({
            "_links": {"self": format!("{}/messages/{draft_id}", self.base())},
            "id": draft_id,
            "type": "email",
            "is_inbound": false,
            "is_draft": true,
            "draft_mode": "shared",
            "version": version,
            "created_at": support_core::time::now_ms() as f64 / 1000.0,
            "body": html,
            "text": html,
            "author": {"id": "tea_sandbox"},
            "recipients": [],
        });
        inner
            .drafts
            .insert(draft_id.clone(), (conversation_id.to_string(), version));
        inner.convs.get_mut(conversation_id)?.messages.push(draft);
        Some(draft_id)
    }

    /// A teammate sends draft `draft_id` from Front (as it is, or with `body` instead): the draft
    /// becomes an outbound message and Front's `outbound_sent` webhook is emitted, so the
    /// learning loop sees what was sent. `Err` when the draft is unknown or the webhook fails.
    pub async fn send_draft(
        &self,
        draft_id: &str,
        body: Option<String>,
    ) -> Result<Delivered, String> {
        let event = {
            let mut inner = self.lock();
            let Some((conv_id, _)) = inner.drafts.remove(draft_id) else {
                return Err(format!("no draft {draft_id}"));
            };
            let event_id = Self::next_id(&mut inner, "evt");
            let preview = inner.faults.preview_only;
            let base = self.base();
            let now = support_core::time::now_ms() as f64 / 1000.0;
            let Some(conv) = inner.convs.get_mut(&conv_id) else {
                return Err(format!("no conversation {conv_id}"));
            };
            let Some(m) = conv.messages.iter_mut().find(|m| m["id"] == draft_id) else {
                return Err(format!("no draft {draft_id}"));
            };
            m["is_draft"] = json!(false);
            m["draft_mode"] = Value::Null;
            m["created_at"] = json!(now);
            if let Some(b) = body {
                m["text"] = json!(b);
                m["body"] = json!(format!(
                    "<div>{}</div>",
                    escape_html(&b).replace('\n', "<br>")
                ));
            }
            let message = m.clone();
            let inbox_id = conv.inbox_id.clone();
            let conv_json = self.conversation_json(conv);
            let (conversation, target) = if preview {
                (
                    json!({"_links": {"self": format!("{base}/conversations/{conv_id}")}, "id": conv_id}),
                    json!({"_links": {"self": format!("{base}/messages/{draft_id}")}, "id": draft_id}),
                )
            } else {
                (conv_json, message)
            };
            let event = json!({
                "type": "outbound_sent",
                "authorization": {"id": "cmp_sandbox"},
                "payload": {
                    "_links": {"self": format!("{base}/events/{event_id}")},
                    "id": event_id,
                    "type": "outbound",
                    "emitted_at": now,
                    "conversation": conversation,
                    "source": {"_meta": {"type": "inboxes"}, "data": [{"id": inbox_id}]},
                    "target": {"_meta": {"type": "message"}, "data": target},
                }
            });
            (event, conv_id)
        };
        let (event, conversation_id) = event;
        let status = self.emit(&event).await?;
        Ok(Delivered {
            conversation_id,
            message_id: draft_id.to_string(),
            event_id: event["payload"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            webhook_status: status,
            event,
        })
    }

    /// Set a conversation's Front status (e.g. `archived` for a resolved thread).
    pub fn set_status(&self, conversation_id: &str, status: &str) {
        if let Some(c) = self.lock().convs.get_mut(conversation_id) {
            c.status = status.to_string();
        }
    }

    /// The Front API (and `/_sandbox` control) router.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/conversations/{id}", get(get_conversation))
            .route(
                "/conversations/{id}/messages",
                get(list_messages).post(send_reply),
            )
            .route("/conversations/{id}/drafts", post(create_draft))
            .route("/conversations/{id}/comments", post(add_comment))
            .route(
                "/conversations/{id}/tags",
                post(add_tags).delete(remove_tags),
            )
            .route("/conversations/{id}/assignee", put(set_assignee))
            .route("/conversations/{id}/inboxes", get(list_inboxes))
            .route("/messages/{id}", get(get_message))
            .route("/drafts/{id}", delete(delete_draft))
            .layer(middleware::from_fn_with_state(self.clone(), api_gate));
        let control = Router::new()
            .route("/_sandbox/messages", post(control_deliver))
            .route("/_sandbox/faults", put(control_faults))
            .route("/_sandbox/drafts/{id}/send", post(control_send_draft))
            .route("/_sandbox/log", get(control_log))
            .layer(middleware::from_fn_with_state(self.clone(), control_gate));
        api.merge(control).with_state(self.clone())
    }
}

/// A message to put into the sandbox.
#[derive(Debug, Clone, Deserialize)]
pub struct NewMessage {
    /// Continue this conversation; a new one is created when absent.
    #[serde(default)]
    pub conversation_id: Option<String>,
    pub inbox_id: String,
    pub from: String,
    #[serde(default)]
    pub from_name: Option<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub subject: String,
    pub body: String,
    /// `false` for a teammate's outbound reply.
    #[serde(default = "yes")]
    pub inbound: bool,
}

fn yes() -> bool {
    true
}

/// What [`Sandbox::deliver`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivered {
    pub conversation_id: String,
    pub message_id: String,
    pub event_id: String,
    /// The intake's HTTP status, when a webhook target is set.
    pub webhook_status: Option<u16>,
    /// The envelope that was sent.
    pub event: Value,
}

fn authorized(sb: &Sandbox, req: &Request) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| support_core::crypto::ct_eq(t.as_bytes(), sb.token.as_bytes()))
}

fn unauthenticated() -> Response {
    front_error(
        StatusCode::UNAUTHORIZED,
        "Unauthenticated",
        "Invalid or missing API token",
    )
}

/// The control routes (`/_sandbox/*`) need the sandbox's API token too.
async fn control_gate(State(sb): State<Sandbox>, req: Request, next: Next) -> Response {
    if !authorized(&sb, &req) {
        return unauthenticated();
    }
    next.run(req).await
}

/// Auth, fault injection, rate-limit headers and the request log for every API call.
async fn api_gate(State(sb): State<Sandbox>, req: Request, next: Next) -> Response {
    let authorized = authorized(&sb, &req);
    let line = format!("{} {}", req.method(), req.uri().path());
    let injected = {
        let mut inner = sb.lock();
        if inner.log.len() >= LOG_CAP {
            inner.log.pop_front();
        }
        inner.log.push_back(line);
        if !authorized {
            Some(unauthenticated())
        } else if inner.faults.rate_limit_next > 0 {
            inner.faults.rate_limit_next -= 1;
            let mut res = front_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Rate limit exceeded",
            );
            if let Ok(v) = HeaderValue::from_str(&inner.faults.retry_after.to_string()) {
                res.headers_mut().insert("retry-after", v);
            }
            Some(res)
        } else if inner.faults.server_error_next > 0 {
            inner.faults.server_error_next -= 1;
            Some(front_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "Injected failure",
            ))
        } else {
            None
        }
    };
    let mut res = match injected {
        Some(r) => r,
        None => next.run(req).await,
    };
    sb.changes.send_modify(|v| *v = v.wrapping_add(1));
    let reset = (support_core::time::now_ms() / 1000 + 60).to_string();
    let h: &mut HeaderMap = res.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("99"));
    if let Ok(v) = HeaderValue::from_str(&reset) {
        h.insert("x-ratelimit-reset", v);
    }
    res
}

fn not_found(what: &str) -> Response {
    front_error(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("{what} not found"),
    )
}

async fn get_conversation(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let inner = sb.lock();
    match inner.convs.get(&id) {
        Some(c) => Json(sb.conversation_json(c)).into_response(),
        None => not_found("Conversation"),
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    page_token: Option<usize>,
}

async fn list_messages(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let inner = sb.lock();
    let Some(c) = inner.convs.get(&id) else {
        return not_found("Conversation");
    };
    let limit = q.limit.unwrap_or(25).clamp(1, 100);
    let offset = q.page_token.unwrap_or(0);
    let newest_first: Vec<&Value> = c.messages.iter().rev().collect();
    let page: Vec<Value> = newest_first
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let next = (offset + limit < newest_first.len()).then(|| {
        format!(
            "{}/conversations/{id}/messages?limit={limit}&page_token={}",
            sb.base(),
            offset + limit
        )
    });
    Json(json!({"_pagination": {"next": next}, "_links": sb.links("conversations", &id), "_results": page})).into_response()
}

async fn list_inboxes(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let inner = sb.lock();
    match inner.convs.get(&id) {
        Some(c) => {
            Json(json!({"_results": [{"id": c.inbox_id, "name": c.inbox_id}]})).into_response()
        }
        None => not_found("Conversation"),
    }
}

async fn get_message(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let inner = sb.lock();
    inner
        .convs
        .values()
        .flat_map(|c| c.messages.iter())
        .find(|m| m["id"] == id.as_str())
        .map(|m| Json(m.clone()).into_response())
        .unwrap_or_else(|| not_found("Message"))
}

#[derive(Debug, Deserialize)]
struct DraftBody {
    body: Option<String>,
    channel_id: Option<String>,
    mode: Option<String>,
    author_id: Option<String>,
}

async fn create_draft(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<DraftBody>>,
) -> Response {
    let Some(Json(d)) = body else {
        return front_error(StatusCode::BAD_REQUEST, "Bad request", "Body must be JSON");
    };
    let (Some(text), Some(channel)) = (d.body, d.channel_id) else {
        return front_error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "body and channel_id are required",
        );
    };
    let mut inner = sb.lock();
    if !inner.convs.contains_key(&id) {
        return not_found("Conversation");
    }
    let draft_id = Sandbox::next_id(&mut inner, "msg");
    let version = Sandbox::next_id(&mut inner, "ver");
    let draft = json!({
        "_links": {"self": format!("{}/messages/{draft_id}", sb.base())},
        "id": draft_id,
        "type": "email",
        "is_inbound": false,
        "is_draft": true,
        "draft_mode": d.mode.unwrap_or_else(|| "shared".into()),
        "version": version,
        "created_at": support_core::time::now_ms() as f64 / 1000.0,
        "body": text,
        "text": text,
        "author": d.author_id.map(|a| json!({"id": a})),
        "channel_id": channel,
        "recipients": [],
    });
    inner.drafts.insert(draft_id, (id.clone(), version));
    if let Some(c) = inner.convs.get_mut(&id) {
        c.messages.push(draft.clone());
    }
    Json(draft).into_response()
}

/// Front's `OutboundReplyMessage` (the fields the sandbox reads).
#[derive(Debug, Deserialize)]
struct VersionBody {
    version: Option<String>,
}

async fn delete_draft(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<VersionBody>>,
) -> Response {
    let version = body.and_then(|Json(b)| b.version);
    let mut inner = sb.lock();
    let Some((conv, current)) = inner.drafts.get(&id).cloned() else {
        return not_found("Draft");
    };
    if version.as_deref() != Some(current.as_str()) {
        return front_error(
            StatusCode::CONFLICT,
            "Conflict",
            "The draft version does not match",
        );
    }
    inner.drafts.remove(&id);
    if let Some(c) = inner.convs.get_mut(&conv) {
        c.messages.retain(|m| m["id"] != id.as_str());
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct CommentBody {
    body: Option<String>,
}

async fn add_comment(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<CommentBody>>,
) -> Response {
    let Some(text) = body.and_then(|Json(b)| b.body) else {
        return front_error(StatusCode::BAD_REQUEST, "Bad request", "body is required");
    };
    let mut inner = sb.lock();
    let cid = Sandbox::next_id(&mut inner, "com");
    let Some(c) = inner.convs.get_mut(&id) else {
        return not_found("Conversation");
    };
    let comment =
        json!({"id": cid, "body": text, "posted_at": support_core::time::now_ms() as f64 / 1000.0});
    c.comments.push(comment.clone());
    (StatusCode::CREATED, Json(comment)).into_response()
}

#[derive(Debug, Deserialize)]
struct TagsBody {
    tag_ids: Option<Vec<String>>,
}

/// Apply `change` to a conversation's tags (Front answers 204, or 400/404).
fn change_tags(
    sb: &Sandbox,
    id: &str,
    body: Option<Json<TagsBody>>,
    change: impl FnOnce(&mut Vec<String>, Vec<String>),
) -> Response {
    let Some(tags) = body.and_then(|Json(b)| b.tag_ids) else {
        return front_error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "tag_ids is required",
        );
    };
    let mut inner = sb.lock();
    let Some(c) = inner.convs.get_mut(id) else {
        return not_found("Conversation");
    };
    change(&mut c.tags, tags);
    StatusCode::NO_CONTENT.into_response()
}

async fn add_tags(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<TagsBody>>,
) -> Response {
    change_tags(&sb, &id, body, |current, tags| {
        for t in tags {
            if !current.contains(&t) {
                current.push(t);
            }
        }
    })
}

async fn remove_tags(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<TagsBody>>,
) -> Response {
    change_tags(&sb, &id, body, |current, tags| {
        current.retain(|t| !tags.contains(t))
    })
}

#[derive(Debug, Deserialize)]
struct AssigneeBody {
    assignee_id: Option<String>,
}

async fn set_assignee(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<AssigneeBody>>,
) -> Response {
    let Some(Json(b)) = body else {
        return front_error(StatusCode::BAD_REQUEST, "Bad request", "Body must be JSON");
    };
    let mut inner = sb.lock();
    let Some(c) = inner.convs.get_mut(&id) else {
        return not_found("Conversation");
    };
    c.status = if b.assignee_id.is_some() {
        "assigned".into()
    } else {
        "unassigned".into()
    };
    c.assignee = b.assignee_id;
    StatusCode::NO_CONTENT.into_response()
}

async fn control_deliver(State(sb): State<Sandbox>, Json(msg): Json<NewMessage>) -> Response {
    match sb.deliver(msg).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => front_error(StatusCode::BAD_GATEWAY, "Webhook delivery failed", &e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SendDraftBody {
    #[serde(default)]
    body: Option<String>,
}

/// `POST /_sandbox/drafts/{id}/send` (`{"body"?}`): a teammate sends the draft from Front.
async fn control_send_draft(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Option<Json<SendDraftBody>>,
) -> Response {
    let text = body.and_then(|Json(b)| b.body);
    match sb.send_draft(&id, text).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => front_error(StatusCode::NOT_FOUND, "Not found", &e),
    }
}

async fn control_faults(State(sb): State<Sandbox>, Json(f): Json<Faults>) -> Response {
    sb.set_faults(f.clone());
    Json(f).into_response()
}

async fn control_log(State(sb): State<Sandbox>) -> Response {
    Json(json!({"requests": sb.request_log()})).into_response()
}

/// Serve a sandbox on its own listener (tests, or a separate port).
pub async fn serve(sandbox: Sandbox, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        sandbox.set_base_url(format!("http://{addr}"));
    }
    axum::serve(listener, sandbox.router()).await
}
