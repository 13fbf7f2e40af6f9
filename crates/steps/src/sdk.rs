//! The SDK side of the Inngest protocol: serve Rust [`Function`]s at `GET|PUT|POST
//! /api/inngest` so that any Inngest server (ours or Inngest's) can sync and call them.
//!
//! - `GET`: introspection (schema `2024-05-24`; keys' hashes only for signed requests).
//! - `PUT`: sync — registers the functions with `{base_url}/fn/register`.
//! - `POST ?fnId=&stepId=`: a call request; answers 200 (done), 206 (ops) or an error with
//!   `X-Inngest-No-Retry`.

use crate::ctx::{Ctx, Driven, EventSender, Mode, Op, OpKind, drive};
use crate::error::{EngineError, StepError};
use crate::event::Event;
use crate::function::{Compiled, Function};
use crate::signing;
use crate::timestr::format_duration;
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SDK name sent in `X-Inngest-Sdk`.
pub const SDK_NAME: &str = "support-steps";
/// The request version sent in `X-Inngest-Req-Version`.
pub const REQ_VERSION: &str = "2";
/// The serve path.
pub const SERVE_PATH: &str = "/api/inngest";

/// `X-Inngest-Sdk: support-steps:v<version>`.
pub fn sdk_header() -> String {
    format!("{SDK_NAME}:v{}", env!("CARGO_PKG_VERSION"))
}

/// Configuration with Inngest's names (`INNGEST_*`); the application maps its settings here.
#[derive(Clone, Default)]
pub struct InngestConfig {
    /// The app id (function ids become `{app_id}-{fn_id}`).
    pub app_id: String,
    /// `INNGEST_SIGNING_KEY`.
    pub signing_key: Option<String>,
    /// `INNGEST_SIGNING_KEY_FALLBACK`.
    pub signing_key_fallback: Option<String>,
    /// `INNGEST_EVENT_KEY`.
    pub event_key: Option<String>,
    /// `INNGEST_BASE_URL`: the Inngest server's origin (`/fn/register`, `/e/{key}`).
    pub base_url: String,
    /// The public URL of this serve endpoint, sent when syncing.
    pub serve_url: String,
    /// `INNGEST_DEV`: skip signature verification.
    pub dev: bool,
}

impl std::fmt::Debug for InngestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |k: &Option<String>| k.as_ref().map(|_| "[redacted]");
        f.debug_struct("InngestConfig")
            .field("app_id", &self.app_id)
            .field("signing_key", &redacted(&self.signing_key))
            .field(
                "signing_key_fallback",
                &redacted(&self.signing_key_fallback),
            )
            .field("event_key", &redacted(&self.event_key))
            .field("base_url", &self.base_url)
            .field("serve_url", &self.serve_url)
            .field("dev", &self.dev)
            .finish()
    }
}

/// How often an unsigned `PUT` (sync) may make this app call `/fn/register`; a signed one
/// (`X-Inngest-Signature` over its body) is not limited.
pub const UNSIGNED_SYNC_INTERVAL: Duration = Duration::from_secs(10);

impl InngestConfig {
    fn keys(&self) -> Vec<&str> {
        self.signing_key
            .iter()
            .chain(self.signing_key_fallback.iter())
            .map(String::as_str)
            .collect()
    }
}

struct Serve {
    config: InngestConfig,
    functions: Vec<Function>,
    compiled: HashMap<String, Arc<Compiled>>,
    http: reqwest::Client,
    /// When the last unsigned sync was let through.
    last_unsigned_sync: std::sync::Mutex<Option<Instant>>,
}

/// The serve router at [`SERVE_PATH`].
pub fn router(
    config: InngestConfig,
    functions: Vec<Function>,
) -> Result<axum::Router, EngineError> {
    let mut compiled = HashMap::new();
    for f in &functions {
        if f.handler.is_none() {
            return Err(EngineError::Definition {
                function: f.id.clone(),
                message: "no handler".into(),
            });
        }
        compiled.insert(
            format!("{}-{}", config.app_id, f.id),
            Arc::new(Compiled::new(f.clone())?),
        );
    }
    let http = http_client(Duration::from_secs(30))?;
    let st = Arc::new(Serve {
        config,
        functions,
        compiled,
        http,
        last_unsigned_sync: std::sync::Mutex::new(None),
    });
    Ok(axum::Router::new()
        .route(SERVE_PATH, get(introspect).put(sync).post(call))
        .with_state(st))
}

/// An HTTP client; installs the ring crypto provider first when none is installed (reqwest
/// is built without one, and would panic).
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, EngineError> {
    http_builder(timeout)
        .build()
        .map_err(|e| EngineError::Http(e.to_string()))
}

/// The builder behind [`http_client`]: a total `timeout`, and no redirect is followed.
pub(crate) fn http_builder(timeout: Duration) -> reqwest::ClientBuilder {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
}

fn with_headers(mut res: Response, no_retry: bool) -> Response {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&sdk_header()) {
        h.insert("x-inngest-sdk", v);
    }
    h.insert(
        "x-inngest-req-version",
        HeaderValue::from_static(REQ_VERSION),
    );
    h.insert(
        "x-inngest-no-retry",
        HeaderValue::from_static(if no_retry { "true" } else { "false" }),
    );
    res
}

fn reply(status: StatusCode, body: Value, no_retry: bool) -> Response {
    with_headers((status, axum::Json(body)).into_response(), no_retry)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn introspect(State(st): State<Arc<Serve>>, headers: HeaderMap) -> Response {
    let c = &st.config;
    let sig = headers
        .get("x-inngest-signature")
        .and_then(|v| v.to_str().ok());
    let authed = !c.dev && signing::verify(sig, b"", &c.keys(), signing::now_secs()).is_ok();
    let mut body = json!({
        "authentication_succeeded": if c.dev { Value::Null } else { Value::Bool(authed) },
        "extra": {"is_mode_explicit": true},
        "function_count": st.functions.len(),
        "has_event_key": c.event_key.is_some(),
        "has_signing_key": c.signing_key.is_some(),
        "mode": if c.dev { "dev" } else { "cloud" },
        "schema_version": "2024-05-24",
    });
    if authed {
        let hash = |k: &Option<String>| {
            k.as_deref()
                .map(|k| signing::split_key(&signing::bearer(k)).1.to_string())
        };
        body["app_id"] = json!(c.app_id);
        body["api_origin"] = json!(c.base_url);
        body["event_api_origin"] = json!(c.base_url);
        body["event_key_hash"] = json!(c.event_key.as_deref().map(sha256_hex));
        body["framework"] = json!("axum");
        body["sdk_language"] = json!("rust");
        body["sdk_version"] = json!(env!("CARGO_PKG_VERSION"));
        body["serve_origin"] = json!(c.serve_url);
        body["serve_path"] = json!(SERVE_PATH);
        body["signing_key_hash"] = json!(hash(&c.signing_key));
        body["signing_key_fallback_hash"] = json!(hash(&c.signing_key_fallback));
    }
    reply(StatusCode::OK, body, false)
}

/// The body POSTed to `/fn/register`.
pub fn register_body(config: &InngestConfig, functions: &[Function]) -> Value {
    json!({
        "url": config.serve_url,
        "deployType": "ping",
        "appName": config.app_id,
        "sdk": sdk_header(),
        "v": "0.1",
        "framework": "axum",
        "functions": functions.iter().map(|f| f.to_config(&config.app_id, &config.serve_url)).collect::<Vec<_>>(),
    })
}

fn sync_failed(status: StatusCode, code: &str, message: &str) -> Response {
    reply(
        status,
        json!({"message": message, "modified": false, "code": code}),
        false,
    )
}

/// `PUT`: sync. Anyone may ask (as with Inngest's SDKs), so an unsigned request is let
/// through at most once per [`UNSIGNED_SYNC_INTERVAL`]; a validly signed one always is.
async fn sync(State(st): State<Arc<Serve>>, headers: HeaderMap, body: Bytes) -> Response {
    let c = &st.config;
    let signed = headers
        .get("x-inngest-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| {
            signing::verify(Some(sig), &body, &c.keys(), signing::now_secs()).is_ok()
        });
    if !signed {
        let mut last = st
            .last_unsigned_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if let Some(wait) = last
            .map(|t| UNSIGNED_SYNC_INTERVAL.saturating_sub(now.duration_since(t)))
            .filter(|w| !w.is_zero())
        {
            let mut res = sync_failed(
                StatusCode::TOO_MANY_REQUESTS,
                "sync_rate_limited",
                "too many syncs; try again later, or sign the request",
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                res.headers_mut().insert("retry-after", v);
            }
            return res;
        }
        *last = Some(now);
    }
    let url = format!("{}/fn/register", c.base_url.trim_end_matches('/'));
    let mut req = st
        .http
        .post(&url)
        .header("x-inngest-sdk", sdk_header())
        .header("x-inngest-req-version", REQ_VERSION)
        .json(&register_body(c, &st.functions));
    if let Some(k) = &c.signing_key {
        req = req.bearer_auth(signing::bearer(k));
    }
    // What the Inngest server said, or why it could not be reached, is logged; the client
    // gets a fixed message.
    match req.send().await {
        Ok(res) if res.status().is_success() => {
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let modified = body
                .get("modified")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            reply(
                StatusCode::OK,
                json!({"message": "Successfully synced.", "modified": modified}),
                false,
            )
        }
        Ok(res) => {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let body: String = body.chars().take(512).collect();
            tracing::error!(%status, %url, answer = %body, "the Inngest server refused the sync");
            sync_failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sync_refused",
                "the Inngest server refused the sync; see the server logs",
            )
        }
        Err(e) => {
            tracing::error!(%url, cause = %e, "cannot reach the Inngest server to sync");
            sync_failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sync_unreachable",
                "cannot reach the Inngest server; see the server logs",
            )
        }
    }
}

#[derive(Deserialize, Default)]
struct CallCtx {
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    attempt: u32,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    disable_immediate_execution: bool,
    #[serde(default)]
    use_api: bool,
}

#[derive(Deserialize)]
struct CallBody {
    event: Value,
    #[serde(default)]
    steps: Option<HashMap<String, Value>>,
    #[serde(default)]
    ctx: Option<CallCtx>,
}

struct HttpSender {
    http: reqwest::Client,
    url: String,
}

#[async_trait]
impl EventSender for HttpSender {
    async fn send(&self, events: Vec<Event>) -> Result<Vec<String>, StepError> {
        let res = self
            .http
            .post(&self.url)
            .json(&events)
            .send()
            .await
            .map_err(|e| StepError::retriable(format!("sending events: {e}")))?;
        if !res.status().is_success() {
            return Err(StepError::retriable(format!(
                "sending events: HTTP {}",
                res.status()
            )));
        }
        let body: Value = res
            .json()
            .await
            .map_err(|e| StepError::retriable(format!("sending events: {e}")))?;
        Ok(body["ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn error_reply(message: impl Into<String>) -> Response {
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"name": "Error", "message": message.into()}),
        false,
    )
}

async fn call(
    State(st): State<Arc<Serve>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = &st.config;
    if !c.dev {
        let sig = headers
            .get("x-inngest-signature")
            .and_then(|v| v.to_str().ok());
        if let Err(e) = signing::verify(sig, &body, &c.keys(), signing::now_secs()) {
            tracing::warn!(error = %e, "rejected an unsigned or badly signed call");
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"name": "Error", "message": "request signature rejected", "code": "invalid_signature"}),
                true,
            );
        }
    }
    let Some(fn_id) = q.get("fnId") else {
        return error_reply("missing fnId");
    };
    let Some(def) = st.compiled.get(fn_id).cloned() else {
        return error_reply(format!("function {fn_id} not found"));
    };
    let req: CallBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"name": "Error", "message": format!("invalid call body: {e}")}),
                true,
            );
        }
    };
    let cctx = req.ctx.unwrap_or_default();
    if cctx.use_api {
        return error_reply("ctx.use_api is not supported by this SDK");
    }
    let event: Event = match serde_json::from_value(req.event) {
        Ok(e) => e,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"name": "Error", "message": format!("invalid event: {e}")}),
                true,
            );
        }
    };
    let step_id = q.get("stepId").map(String::as_str).unwrap_or("step");
    let mode = if step_id == "step" {
        Mode::Discover {
            immediate: !cctx.disable_immediate_execution,
        }
    } else {
        Mode::Target(step_id.to_string())
    };
    let sender: Option<Arc<dyn EventSender>> = Some(Arc::new(HttpSender {
        http: st.http.clone(),
        url: format!(
            "{}/e/{}",
            c.base_url.trim_end_matches('/'),
            c.event_key.as_deref().unwrap_or("NO_EVENT_KEY_SET")
        ),
    }));
    let ctx = Ctx::new(
        cctx.run_id.clone(),
        def.def.id.clone(),
        cctx.attempt,
        event.clone(),
        req.steps.unwrap_or_default(),
        HashSet::new(),
        mode.clone(),
        sender,
        // Behind an Inngest server the server keeps time; the SDK only reads the wall clock.
        crate::clock::system(),
    );
    let Some(handler) = def.def.handler.clone() else {
        return error_reply("function has no handler");
    };
    let span = tracing::info_span!("steps.sdk_call", function = %fn_id, run_id = %cctx.run_id, step = %step_id);
    let task = tokio::spawn(tracing::Instrument::instrument(
        drive(ctx.clone(), handler(ctx.clone(), event)),
        span,
    ));
    let driven = match task.await {
        Ok(d) => d,
        Err(e) => Driven::Done(Err(StepError::retriable(format!("handler panicked: {e}")))),
    };
    let max_attempts = cctx.max_attempts.unwrap_or_else(|| def.def.attempts());
    let target = match &mode {
        Mode::Target(t) => Some(t.as_str()),
        _ => None,
    };
    respond(driven, ctx.take_ops(), cctx.attempt, max_attempts, target)
}

fn op_base(op: &Op, code: &str) -> Value {
    json!({"id": op.hash, "op": code, "name": op.id, "displayName": op.id})
}

/// The wire op for a discovered (not executed) step.
pub(crate) fn planned_op(op: &Op) -> Value {
    match &op.kind {
        OpKind::Run | OpKind::SendEvent { .. } => op_base(op, "StepPlanned"),
        OpKind::Sleep { duration_ms, .. } => {
            let mut v = op_base(op, "Sleep");
            let duration = format_duration(Duration::from_millis((*duration_ms).max(0) as u64));
            v["name"] = json!(duration); // where the JS SDK puts it
            v["opts"] = json!({ "duration": duration });
            v
        }
        OpKind::WaitForEvent {
            event,
            if_expr,
            timeout_ms,
            ..
        } => {
            let mut v = op_base(op, "WaitForEvent");
            v["name"] = json!(event);
            let mut opts = json!({"event": event, "timeout": format_duration(Duration::from_millis((*timeout_ms).max(0) as u64))});
            if let Some(e) = if_expr {
                opts["if"] = json!(e);
            }
            v["opts"] = opts;
            v
        }
        OpKind::Invoke {
            function_id,
            payload,
            timeout_ms,
            ..
        } => {
            let mut v = op_base(op, "InvokeFunction");
            let mut opts = json!({"function_id": function_id, "payload": {"data": payload}});
            if let Some(t) = timeout_ms {
                opts["timeout"] = json!(format_duration(Duration::from_millis((*t).max(0) as u64)));
            }
            v["opts"] = opts;
            v
        }
    }
}

fn respond(
    driven: Driven,
    ops: Vec<Op>,
    attempt: u32,
    max_attempts: u32,
    target: Option<&str>,
) -> Response {
    match driven {
        Driven::Done(Ok(v)) => reply(StatusCode::OK, v, false),
        Driven::Done(Err(e)) => {
            let retriable = e.is_retriable();
            let status = if retriable {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut res = reply(status, e.to_json(), !retriable);
            if let StepError::Retriable {
                retry_after_ms: Some(ms),
                ..
            } = e
                && let Ok(v) = HeaderValue::from_str(&((ms + 999) / 1000).to_string())
            {
                res.headers_mut().insert("retry-after", v);
            }
            res
        }
        Driven::Interrupted => {
            if let Some(op) = ops.iter().find(|o| o.outcome.is_some()) {
                let body = match &op.outcome {
                    Some(Ok(data)) => {
                        let mut v = op_base(op, "StepRun");
                        v["data"] = data.clone();
                        v
                    }
                    Some(Err(e)) => {
                        let last = !e.is_retriable() || attempt + 1 >= max_attempts;
                        let mut v = op_base(op, if last { "StepFailed" } else { "StepError" });
                        v["error"] = e.to_json();
                        v
                    }
                    None => Value::Null,
                };
                return reply(StatusCode::PARTIAL_CONTENT, json!([body]), false);
            }
            if let Some(t) = target {
                return reply(
                    StatusCode::PARTIAL_CONTENT,
                    json!([{"id": t, "op": "StepNotFound"}]),
                    false,
                );
            }
            let planned: Vec<Value> = ops.iter().filter(|o| o.fresh).map(planned_op).collect();
            reply(StatusCode::PARTIAL_CONTENT, Value::Array(planned), false)
        }
    }
}
