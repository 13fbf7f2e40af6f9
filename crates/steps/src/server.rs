//! The server side of the Inngest protocol in the embedded executor: SDK apps sync with
//! `POST /fn/register`, and their functions' runs are executed by calling the app with signed
//! `POST`s and acting on the ops it returns (StepRun, StepError, StepFailed, StepPlanned,
//! Sleep, WaitForEvent, InvokeFunction).

use crate::ctx::{Decision, Driven, Op, OpKind};
use crate::engine::{Engine, RemoteInvoker};
use crate::error::{EngineError, StepError};
use crate::event::now_ms;
use crate::function::{Backoff, Compiled, Function};
use crate::sdk::{REQ_VERSION, sdk_header};
use crate::signing;
use crate::store::{AppRecord, ClaimedRun};
use crate::timestr::{parse_duration, parse_rfc3339};
use async_trait::async_trait;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How the executor authenticates SDK apps and signs its calls (Inngest's names).
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// `INNGEST_SIGNING_KEY`: signs calls; `/fn/register` must present its bearer.
    pub signing_key: Option<String>,
    /// `INNGEST_SIGNING_KEY_FALLBACK`: also accepted at `/fn/register`.
    pub signing_key_fallback: Option<String>,
    /// `INNGEST_DEV`: accept any registration.
    pub dev: bool,
    /// Backoff between retries of SDK functions (the SDK only sends the retry count).
    pub backoff: Backoff,
    /// Timeout of one call to an SDK.
    pub call_timeout: Duration,
}

struct HttpInvoker {
    http: reqwest::Client,
    config: ServerConfig,
}

impl Engine {
    /// Accept SDK apps: load the ones registered earlier and execute their functions over
    /// HTTP. Returns the `/fn/register` router to mount next to the event API.
    pub async fn serve_sdk_apps(&self, config: ServerConfig) -> Result<axum::Router, EngineError> {
        let router = self.sdk_apps_router(config.clone())?;
        self.load_sdk_apps(&config).await?;
        Ok(router)
    }

    /// Execute SDK apps' functions over HTTP, and the `/fn/register` router that accepts them.
    /// Needs no database: it can be mounted while the store is down (registration answers 503
    /// until it is back); [`load_sdk_apps`](Self::load_sdk_apps) loads the apps stored earlier.
    pub fn sdk_apps_router(&self, config: ServerConfig) -> Result<axum::Router, EngineError> {
        let timeout = if config.call_timeout.is_zero() {
            Duration::from_secs(300)
        } else {
            config.call_timeout
        };
        let http = crate::sdk::http_client(timeout)?;
        self.set_remote(Arc::new(HttpInvoker {
            http,
            config: config.clone(),
        }));
        Ok(axum::Router::new()
            .route("/fn/register", post(register))
            .with_state(Arc::new((self.clone(), config))))
    }

    /// Register the functions of the SDK apps stored earlier; returns how many apps.
    pub async fn load_sdk_apps(&self, config: &ServerConfig) -> Result<usize, EngineError> {
        let apps = self.store().list_apps().await?;
        for app in &apps {
            if let Err(e) = self.register_functions(&app.functions, config) {
                tracing::warn!(app = %app.id, error = %e, "stored app has invalid functions");
            }
        }
        Ok(apps.len())
    }

    fn register_functions(
        &self,
        functions: &Value,
        config: &ServerConfig,
    ) -> Result<usize, EngineError> {
        let list = functions.as_array().cloned().unwrap_or_default();
        let mut compiled = Vec::with_capacity(list.len());
        for cfg in &list {
            compiled.push(compile_remote(cfg, config.backoff)?);
        }
        let n = compiled.len();
        for c in compiled {
            self.add_function(c);
        }
        Ok(n)
    }
}

fn bad(function: &str, message: impl Into<String>) -> EngineError {
    EngineError::Definition {
        function: function.to_string(),
        message: message.into(),
    }
}

/// Turn a function config from `/fn/register` into a definition without a local handler.
fn compile_remote(cfg: &Value, backoff: Backoff) -> Result<Compiled, EngineError> {
    let id = cfg["id"]
        .as_str()
        .ok_or_else(|| bad("?", "function without id"))?;
    let mut f = Function::new(id).name(cfg["name"].as_str().unwrap_or(id));
    for t in cfg["triggers"].as_array().cloned().unwrap_or_default() {
        if let Some(ev) = t["event"].as_str() {
            f = match t["expression"].as_str() {
                Some(e) if !e.is_empty() => f.on_event_if(ev, e),
                _ => f.on_event(ev),
            };
        } else if let Some(c) = t["cron"].as_str() {
            f = f.on_cron(c);
        }
    }
    let step = cfg["steps"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let url = step["runtime"]["url"]
        .as_str()
        .ok_or_else(|| bad(id, "no runtime url"))?
        .to_string();
    f.retries = step["retries"]["attempts"].as_u64().map_or(3, |n| n as u32);
    f.backoff = backoff;
    match &cfg["concurrency"] {
        Value::Number(n) => f = f.concurrency(n.as_u64().unwrap_or(1) as u32, None),
        Value::Array(items) if !items.is_empty() => {
            let c = &items[0];
            f = f.concurrency(c["limit"].as_u64().unwrap_or(1) as u32, c["key"].as_str());
        }
        _ => {}
    }
    if let Some(k) = cfg["idempotency"].as_str() {
        f = f.idempotency(k);
    }
    for c in cfg["cancel"].as_array().cloned().unwrap_or_default() {
        if let Some(ev) = c["event"].as_str() {
            f = f.cancel_on(ev, c["if"].as_str());
            if let (Some(last), Some(t)) = (f.cancel_on.last_mut(), c["timeout"].as_str()) {
                last.timeout = parse_duration(t);
            }
        }
    }
    if let Some(period) = cfg["debounce"]["period"].as_str().and_then(parse_duration) {
        f = f.debounce(period, cfg["debounce"]["key"].as_str());
    }
    let mut c = Compiled::new(f)?;
    c.remote = Some(url);
    Ok(c)
}

async fn register(
    State(st): State<Arc<(Engine, ServerConfig)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (engine, config) = (&st.0, &st.1);
    if !config.dev && config.signing_key.is_some() {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let ok = config
            .signing_key
            .iter()
            .chain(config.signing_key_fallback.iter())
            .any(|k| bool::from(signing::bearer(k).as_bytes().ct_eq(given.as_bytes())));
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid signing key"})),
            )
                .into_response();
        }
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("invalid JSON: {e}")})),
            )
                .into_response();
        }
    };
    let app_id = req["appName"].as_str().unwrap_or_default().to_string();
    let url = req["url"].as_str().unwrap_or_default().to_string();
    if app_id.is_empty() || url.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "appName and url are required"})),
        )
            .into_response();
    }
    let functions = req["functions"].clone();
    let unavailable = |cause: EngineError| {
        // The cause (it may name the database) is logged, not sent.
        tracing::error!(app = %app_id, cause = %cause, "cannot store the SDK app");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the store is unavailable; sync again later"})),
        )
            .into_response()
    };
    let previous = match engine.store().list_apps().await {
        Ok(apps) => apps.into_iter().find(|a| a.id == app_id),
        Err(e) => return unavailable(e.into()),
    };
    let n = match engine.register_functions(&functions, config) {
        Ok(n) => n,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.to_string()})),
            )
                .into_response();
        }
    };
    let modified = previous.is_none_or(|p| p.functions != functions || p.url != url);
    let record = AppRecord {
        id: app_id.clone(),
        url,
        sdk: req["sdk"].as_str().map(str::to_string),
        framework: req["framework"].as_str().map(str::to_string),
        functions,
        updated_at: now_ms(),
    };
    if let Err(e) = engine.store().upsert_app(&record).await {
        return unavailable(e.into());
    }
    tracing::info!(app = %app_id, functions = n, modified, "SDK app synced");
    (
        StatusCode::OK,
        Json(json!({"ok": true, "modified": modified})),
    )
        .into_response()
}

enum Reply {
    Done(Value),
    Failed(StepError),
    Ops(Vec<Value>),
}

fn with_step(url: &str, step: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "stepId")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(pairs)
                .append_pair("stepId", step);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn message_of(v: &Value) -> String {
    v.get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

impl HttpInvoker {
    async fn post(&self, url: &str, step: &str, body: &[u8]) -> Result<Reply, StepError> {
        let mut req = self
            .http
            .post(with_step(url, step))
            .header("content-type", "application/json")
            .header("x-inngest-sdk", sdk_header())
            .header("x-inngest-req-version", REQ_VERSION)
            .header(
                "x-inngest-server-kind",
                if self.config.dev { "dev" } else { "cloud" },
            )
            .body(body.to_vec());
        if let Some(k) = &self.config.signing_key {
            req = req.header(
                "x-inngest-signature",
                signing::sign(k, body, signing::now_secs()),
            );
        }
        let res = req
            .send()
            .await
            .map_err(|e| StepError::retriable(format!("calling the SDK: {e}")))?;
        let status = res.status();
        let no_retry = res
            .headers()
            .get("x-inngest-no-retry")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "true");
        let text = res
            .text()
            .await
            .map_err(|e| StepError::retriable(format!("reading the SDK's answer: {e}")))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        match status.as_u16() {
            200 => Ok(Reply::Done(json)),
            206 => Ok(Reply::Ops(json.as_array().cloned().unwrap_or_default())),
            _ if no_retry => Ok(Reply::Failed(StepError::non_retriable(message_of(&json)))),
            code => Ok(Reply::Failed(StepError::retriable(format!(
                "SDK answered {code}: {}",
                message_of(&json)
            )))),
        }
    }
}

fn op(hash: &str, name: &str, kind: OpKind, outcome: Option<Result<Value, StepError>>) -> Op {
    let now = now_ms();
    Op {
        hash: hash.to_string(),
        id: name.to_string(),
        kind,
        fresh: true,
        outcome,
        started_at: now,
        ended_at: now,
        decision: Decision::Execute,
        abandoned: false,
    }
}

fn until_of(s: Option<&str>, now: i64) -> (i64, i64) {
    match s {
        Some(s) => match parse_duration(s) {
            Some(d) => (now + d.as_millis() as i64, d.as_millis() as i64),
            None => match parse_rfc3339(s) {
                Some(at) => (at, (at - now).max(0)),
                None => (now, 0),
            },
        },
        None => (now, 0),
    }
}

/// Convert one wire op into a step op; `None` for ops that need no action.
fn convert(v: &Value) -> Result<Option<Op>, StepError> {
    let code = v["op"].as_str().unwrap_or_default();
    let hash = v["id"].as_str().unwrap_or_default();
    let name = v["displayName"]
        .as_str()
        .or_else(|| v["name"].as_str())
        .unwrap_or(hash);
    let now = now_ms();
    let o = &v["opts"];
    Ok(Some(match code {
        "StepRun" | "Step" => op(
            hash,
            name,
            OpKind::Run,
            Some(Ok(v.get("data").cloned().unwrap_or(Value::Null))),
        ),
        "StepError" => op(
            hash,
            name,
            OpKind::Run,
            Some(Err(StepError::retriable(message_of(&v["error"])))),
        ),
        "StepFailed" => op(
            hash,
            name,
            OpKind::Run,
            Some(Err(StepError::from_step_json(name, &v["error"]))),
        ),
        "Sleep" => {
            // The JS SDK puts the duration (or ISO date) in `name`; the spec in `opts.duration`.
            let (until, duration_ms) =
                until_of(o["duration"].as_str().or_else(|| v["name"].as_str()), now);
            op(hash, name, OpKind::Sleep { until, duration_ms }, None)
        }
        "WaitForEvent" => {
            let (until, timeout_ms) = until_of(o["timeout"].as_str(), now);
            let event = o["event"]
                .as_str()
                .or_else(|| v["name"].as_str())
                .unwrap_or_default()
                .to_string();
            let if_expr = o["if"].as_str().map(str::to_string);
            op(
                hash,
                name,
                OpKind::WaitForEvent {
                    event,
                    if_expr,
                    until,
                    timeout_ms,
                },
                None,
            )
        }
        "InvokeFunction" => {
            let timeout = o["timeout"]
                .as_str()
                .and_then(parse_duration)
                .map(|d| d.as_millis() as i64);
            op(
                hash,
                name,
                OpKind::Invoke {
                    function_id: o["function_id"].as_str().unwrap_or_default().to_string(),
                    payload: o["payload"]["data"].clone(),
                    until: timeout.map(|t| now + t),
                    timeout_ms: timeout,
                },
                None,
            )
        }
        "StepNotFound" => return Ok(None),
        other => {
            return Err(StepError::non_retriable(format!(
                "unsupported op `{other}` from the SDK"
            )));
        }
    }))
}

fn call_body(run: &ClaimedRun, def: &Compiled, disable_immediate: bool) -> Vec<u8> {
    let body = json!({
        "event": run.run.event,
        "events": [run.run.event],
        "steps": run.memo,
        "ctx": {
            "run_id": run.run.id,
            "attempt": run.run.attempt,
            "max_attempts": def.def.attempts(),
            "disable_immediate_execution": disable_immediate,
            "use_api": false,
            "stack": {"stack": run.stack, "current": run.stack.len()},
        },
        "version": 1,
        "use_api": false,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[async_trait]
impl RemoteInvoker for HttpInvoker {
    async fn invoke(&self, run: &ClaimedRun, def: &Compiled) -> (Driven, Vec<Op>) {
        let Some(url) = def.remote.as_deref() else {
            return (
                Driven::Done(Err(StepError::retriable("function has no URL"))),
                vec![],
            );
        };
        let first = match self.post(url, "step", &call_body(run, def, false)).await {
            Err(e) | Ok(Reply::Failed(e)) => return (Driven::Done(Err(e)), vec![]),
            Ok(Reply::Done(v)) => return (Driven::Done(Ok(v)), vec![]),
            Ok(Reply::Ops(ops)) => ops,
        };
        let mut out = Vec::new();
        let mut planned = Vec::new();
        for v in &first {
            if v["op"] == "StepPlanned" {
                planned.push(v.clone());
                continue;
            }
            match convert(v) {
                Ok(Some(o)) => out.push(o),
                Ok(None) => {}
                Err(e) => return (Driven::Done(Err(e)), vec![]),
            }
        }
        if !planned.is_empty() {
            // Run each planned step in its own call, concurrently.
            let body = call_body(run, def, true);
            let calls = planned.iter().map(|p| {
                let hash = p["id"].as_str().unwrap_or_default().to_string();
                let body = &body;
                async move { (hash.clone(), self.post(url, &hash, body).await) }
            });
            for (p, (hash, res)) in planned.iter().zip(futures::future::join_all(calls).await) {
                let name = p["displayName"]
                    .as_str()
                    .or_else(|| p["name"].as_str())
                    .unwrap_or(&hash)
                    .to_string();
                match res {
                    Ok(Reply::Ops(ops)) => {
                        for v in &ops {
                            if let Ok(Some(o)) = convert(v) {
                                out.push(o);
                            }
                        }
                    }
                    Ok(Reply::Failed(e)) | Err(e) => {
                        out.push(op(&hash, &name, OpKind::Run, Some(Err(e))))
                    }
                    Ok(Reply::Done(_)) => {}
                }
            }
        }
        (Driven::Interrupted, out)
    }
}
