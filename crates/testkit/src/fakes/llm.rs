//! Local fakes of OpenAI's chat completions and Anthropic's Messages API, for the adapters'
//! tests and the agent's end-to-end tests. Each is an HTTP server on `127.0.0.1:0` that checks
//! the credentials and the request shape as strictly as the real API (answering malformed
//! requests with the provider's own error body), records every request, and answers from a
//! script:
//!
//! 1. the queue of scripted [`Reply`]s ([`FakeLlm::push`], [`FakeLlm::push_text`],
//!    [`FakeLlm::push_tool_call`], [`FakeLlm::push_error`], …), one per request;
//! 2. when the queue is empty, the responder closure ([`FakeLlm::respond_with`]), which sees
//!    the request and may decide;
//! 3. otherwise the default reply ([`FakeLlm::set_default`]; a short text at first).
//!
//! Answers carry realistic `usage` (about four characters per token of the request and of the
//! answer, or fixed with [`FakeLlm::fixed_usage`]).
//!
//! - [`FakeOpenAi`]: `POST /v1/chat/completions` with `Authorization: Bearer <key>`, and the
//!   Azure-style `POST /openai/deployments/{deployment}/chat/completions?api-version=…` with
//!   `api-key: <key>`. Errors are `{"error":{"message","type","param","code"}}`.
//! - [`FakeAnthropic`]: `POST /v1/messages` with `x-api-key`, `anthropic-version: 2023-06-01`.
//!   Errors are `{"type":"error","error":{"type","message"}}`.

use super::{lock, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support_core::llm::Usage;
use support_core::settings::{LlmKind, LlmProviderSettings, Secret};

/// Which API a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeWire {
    OpenAi,
    Anthropic,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A plain text answer.
    Text(String),
    /// Tool calls `(name, raw arguments)`, with optional text beside them. The arguments are
    /// sent exactly as given (OpenAI: the `arguments` string; Anthropic: the parsed `input`, or
    /// the raw text as a JSON string when it is not JSON, which the adapter flags as not an
    /// object).
    ToolCalls {
        text: String,
        calls: Vec<(String, String)>,
    },
    /// OpenAI: `message.refusal`; Anthropic: `stop_reason: "refusal"`.
    Refusal(String),
    /// A 200 answer with neither text nor tool calls.
    Empty,
    /// The provider's context-length error (HTTP 400).
    ContextLength,
    /// HTTP 429 with the provider's rate-limit body and the given `retry-after` (seconds) and
    /// `retry-after-ms` headers.
    RateLimited {
        retry_after: Option<String>,
        retry_after_ms: Option<u64>,
    },
    /// A server error in the provider's format: 500, 502, 503, or Anthropic's 529 overloaded.
    ServerError(u16),
    /// Any status and body, with extra headers.
    Raw {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    /// The reply, after a delay (for timeouts).
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// One tool call with the raw arguments `args` (malformed JSON allowed).
    pub fn tool_call(name: impl Into<String>, args: impl Into<String>) -> Self {
        Self::ToolCalls {
            text: String::new(),
            calls: vec![(name.into(), args.into())],
        }
    }

    /// A 429 with `Retry-After: <secs>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::RateLimited {
            retry_after: Some(retry_after_secs.to_string()),
            retry_after_ms: None,
        }
    }

    /// This reply after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self::Delayed(delay, Box::new(self))
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct FakeLlmRequest {
    pub wire: FakeWire,
    /// Path and query.
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The status the fake answered with.
    pub status: u16,
}

impl FakeLlmRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_lowercase()).map(String::as_str)
    }

    /// The `messages` array as sent.
    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The system prompt (OpenAI: the first `system` message; Anthropic: `system`).
    pub fn system(&self) -> Option<String> {
        match self.wire {
            FakeWire::OpenAi => self
                .messages()
                .iter()
                .find(|m| m["role"] == "system")
                .and_then(|m| m["content"].as_str().map(str::to_string)),
            FakeWire::Anthropic => match &self.body["system"] {
                Value::String(s) => Some(s.clone()),
                Value::Array(blocks) => Some(
                    blocks
                        .iter()
                        .filter_map(|b| b["text"].as_str())
                        .collect::<String>(),
                ),
                _ => None,
            },
        }
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        let tools = self.body["tools"].as_array().cloned().unwrap_or_default();
        tools
            .iter()
            .filter_map(|t| match self.wire {
                FakeWire::OpenAi => t.pointer("/function/name").and_then(Value::as_str),
                FakeWire::Anthropic => t["name"].as_str(),
            })
            .map(str::to_string)
            .collect()
    }

    /// Every tool result sent, in order: `(call id, content)`.
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for m in self.messages() {
            match self.wire {
                FakeWire::OpenAi if m["role"] == "tool" => out.push((
                    m["tool_call_id"].as_str().unwrap_or_default().to_string(),
                    content_text(&m["content"]),
                )),
                FakeWire::Anthropic if m["role"] == "user" => {
                    for b in m["content"].as_array().into_iter().flatten() {
                        if b["type"] == "tool_result" {
                            out.push((
                                b["tool_use_id"].as_str().unwrap_or_default().to_string(),
                                content_text(&b["content"]),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The content of the last tool result, if the request carries any.
    pub fn last_tool_result(&self) -> Option<String> {
        self.tool_results().pop().map(|(_, c)| c)
    }

    /// The text of the last user message (without tool results).
    pub fn last_user_text(&self) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .filter(|m| m["role"] == "user")
            .map(|m| match &m["content"] {
                Value::Array(blocks) => blocks
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .filter_map(|b| b["text"].as_str())
                    .collect::<String>(),
                other => content_text(other),
            })
            .find(|t| !t.is_empty())
    }
}

/// Text of a string content or of an array of text blocks.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

type Responder = Arc<dyn Fn(&FakeLlmRequest) -> Option<Reply> + Send + Sync>;

struct LlmState {
    wire: FakeWire,
    api_key: String,
    queue: VecDeque<Reply>,
    default: Reply,
    responder: Option<Responder>,
    requests: Vec<FakeLlmRequest>,
    fixed_usage: Option<Usage>,
    next_id: u64,
}

/// A scripted model server; see the module docs. Cloning shares the server.
#[derive(Clone)]
pub struct FakeLlm {
    state: Arc<Mutex<LlmState>>,
    base_url: String,
}

impl std::fmt::Debug for FakeLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLlm")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl FakeLlm {
    async fn start(wire: FakeWire, api_key: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(LlmState {
            wire,
            api_key: api_key.to_string(),
            queue: VecDeque::new(),
            default: Reply::text("Thanks for your message. We are looking into it."),
            responder: None,
            requests: Vec::new(),
            fixed_usage: None,
            next_id: 0,
        }));
        let router = match wire {
            FakeWire::OpenAi => Router::new()
                .route("/v1/chat/completions", post(handle))
                .route(
                    "/openai/deployments/{deployment}/chat/completions",
                    post(handle),
                ),
            FakeWire::Anthropic => Router::new().route("/v1/messages", post(handle)),
        };
        let router = router.fallback(not_found).with_state(state.clone());
        let url = serve(router).await?;
        let base_url = match wire {
            FakeWire::OpenAi => format!("{url}/v1"),
            FakeWire::Anthropic => url,
        };
        Ok(Self { state, base_url })
    }

    /// The base URL to configure (`http://127.0.0.1:PORT/v1` for OpenAI,
    /// `http://127.0.0.1:PORT` for Anthropic).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// An `llm.providers` entry for this fake (5 s per attempt, 2 retries).
    pub fn settings(&self) -> LlmProviderSettings {
        let st = lock(&self.state);
        LlmProviderSettings {
            kind: match st.wire {
                FakeWire::OpenAi => LlmKind::Openai,
                FakeWire::Anthropic => LlmKind::Anthropic,
            },
            base_url: self.base_url.clone(),
            api_key: Some(Secret::new(st.api_key.clone())),
            timeout_secs: 5,
            max_retries: 2,
        }
    }

    /// Queues a reply.
    pub fn push(&self, reply: Reply) {
        lock(&self.state).queue.push_back(reply);
    }

    pub fn push_text(&self, text: impl Into<String>) {
        self.push(Reply::text(text));
    }

    /// Queues one tool call with raw arguments (malformed JSON allowed).
    pub fn push_tool_call(&self, name: impl Into<String>, args_json: impl Into<String>) {
        self.push(Reply::tool_call(name, args_json));
    }

    /// Queues several tool calls in one answer.
    pub fn push_tool_calls(&self, calls: &[(&str, &str)]) {
        self.push(Reply::ToolCalls {
            text: String::new(),
            calls: calls
                .iter()
                .map(|(n, a)| (n.to_string(), a.to_string()))
                .collect(),
        });
    }

    pub fn push_refusal(&self, text: impl Into<String>) {
        self.push(Reply::Refusal(text.into()));
    }

    pub fn push_context_length(&self) {
        self.push(Reply::ContextLength);
    }

    /// Queues a 429 with `Retry-After: <secs>`.
    pub fn push_rate_limit(&self, retry_after_secs: u64) {
        self.push(Reply::rate_limited(retry_after_secs));
    }

    /// Queues a server error in the provider's format (500, 502, 503, 529).
    pub fn push_server_error(&self, status: u16) {
        self.push(Reply::ServerError(status));
    }

    /// Queues any status and JSON body.
    pub fn push_error(&self, status: u16, body: Value) {
        self.push(Reply::Raw {
            status,
            body,
            headers: Vec::new(),
        });
    }

    /// Queues `reply` after `delay`.
    pub fn push_delayed(&self, delay: Duration, reply: Reply) {
        self.push(reply.delayed(delay));
    }

    /// The reply when the queue is empty and the responder (if any) declines.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.state).default = reply;
    }

    /// Decides the reply from the request when the queue is empty (`None`: the default).
    pub fn respond_with(
        &self,
        f: impl Fn(&FakeLlmRequest) -> Option<Reply> + Send + Sync + 'static,
    ) {
        lock(&self.state).responder = Some(Arc::new(f));
    }

    /// Report these token counts instead of the estimate.
    pub fn fixed_usage(&self, usage: Option<Usage>) {
        lock(&self.state).fixed_usage = usage;
    }

    /// Every request so far, rejected ones included.
    pub fn requests(&self) -> Vec<FakeLlmRequest> {
        lock(&self.state).requests.clone()
    }

    /// How many scripted replies are still queued.
    pub fn queued(&self) -> usize {
        lock(&self.state).queue.len()
    }
}

/// A fake of OpenAI's chat completions (and Azure-style deployments). Derefs to [`FakeLlm`].
#[derive(Clone, Debug)]
pub struct FakeOpenAi(FakeLlm);

impl FakeOpenAi {
    /// Start on a free port; only `api_key` is accepted.
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        FakeLlm::start(FakeWire::OpenAi, api_key).await.map(Self)
    }

    /// An Azure-style base URL for `deployment` (`…/openai/deployments/D?api-version=…`).
    pub fn azure_base_url(&self, deployment: &str) -> String {
        let root = self.0.base_url.trim_end_matches("/v1");
        format!("{root}/openai/deployments/{deployment}?api-version=2024-10-21")
    }
}

impl std::ops::Deref for FakeOpenAi {
    type Target = FakeLlm;
    fn deref(&self) -> &FakeLlm {
        &self.0
    }
}

/// A fake of Anthropic's Messages API. Derefs to [`FakeLlm`].
#[derive(Clone, Debug)]
pub struct FakeAnthropic(FakeLlm);

impl FakeAnthropic {
    /// Start on a free port; only `api_key` is accepted.
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        FakeLlm::start(FakeWire::Anthropic, api_key).await.map(Self)
    }
}

impl std::ops::Deref for FakeAnthropic {
    type Target = FakeLlm;
    fn deref(&self) -> &FakeLlm {
        &self.0
    }
}

// ------------------------------------------------------------------ serving

fn respond(status: u16, body: &Value, headers: &[(String, String)]) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            header::HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn openai_error(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

async fn not_found(State(state): State<Arc<Mutex<LlmState>>>, uri: Uri) -> Response {
    let wire = lock(&state).wire;
    let body = match wire {
        FakeWire::OpenAi => openai_error(
            &format!("Invalid URL (POST {})", uri.path()),
            "invalid_request_error",
            None,
            None,
        ),
        FakeWire::Anthropic => anthropic_error("not_found_error", "Not Found"),
    };
    respond(404, &body, &[])
}

/// A rejection: status and body.
type Rejection = (u16, Value);

async fn handle(
    State(state): State<Arc<Mutex<LlmState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (wire, api_key) = {
        let st = lock(&state);
        (st.wire, st.api_key.clone())
    };
    let mut request = FakeLlmRequest {
        wire,
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body: parsed.clone().unwrap_or(Value::Null),
        status: 0,
    };
    let checked = match wire {
        FakeWire::OpenAi => openai_check(&request, &uri, &api_key, parsed.as_ref()),
        FakeWire::Anthropic => anthropic_check(&request, &api_key, parsed.as_ref()),
    };
    if let Err((status, body)) = checked {
        request.status = status;
        lock(&state).requests.push(request);
        return respond(status, &body, &[]);
    }
    // Choose the reply: the queue, the responder, the default.
    let (reply, responder) = {
        let mut st = lock(&state);
        match st.queue.pop_front() {
            Some(r) => (Some(r), None),
            None => (None, st.responder.clone()),
        }
    };
    let reply = match reply {
        Some(r) => r,
        None => match responder.and_then(|f| f(&request)) {
            Some(r) => r,
            None => lock(&state).default.clone(),
        },
    };
    let (delay, reply) = match reply {
        Reply::Delayed(d, inner) => (Some(d), *inner),
        other => (None, other),
    };
    let (status, body, extra) = {
        let mut st = lock(&state);
        let answer = answer(&mut st, &request, reply);
        request.status = answer.0;
        st.requests.push(request);
        answer
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    respond(status, &body, &extra)
}

// ------------------------------------------------------------------ answers

fn tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX).max(1)
}

fn prompt_chars(req: &FakeLlmRequest) -> usize {
    let b = &req.body;
    b["messages"].to_string().len() + b["system"].to_string().len() + b["tools"].to_string().len()
}

fn answer(
    st: &mut LlmState,
    req: &FakeLlmRequest,
    reply: Reply,
) -> (u16, Value, Vec<(String, String)>) {
    st.next_id += 1;
    let id = st.next_id;
    let model = req.body["model"].as_str().unwrap_or_default().to_string();
    let fixed = st.fixed_usage;
    let usage = |out_chars: usize| {
        fixed.unwrap_or(Usage {
            input_tokens: tokens(prompt_chars(req)),
            output_tokens: tokens(out_chars),
        })
    };
    let wire = st.wire;
    match (wire, reply) {
        (_, Reply::Delayed(_, inner)) => answer(st, req, *inner),
        (
            _,
            Reply::Raw {
                status,
                body,
                headers,
            },
        ) => (status, body, headers),
        (
            _,
            Reply::RateLimited {
                retry_after,
                retry_after_ms,
            },
        ) => {
            let mut headers = Vec::new();
            if let Some(s) = retry_after {
                headers.push(("retry-after".to_string(), s));
            }
            if let Some(ms) = retry_after_ms {
                headers.push(("retry-after-ms".to_string(), ms.to_string()));
            }
            let body = match wire {
                FakeWire::OpenAi => openai_error(
                    &format!(
                        "Rate limit reached for {model} on tokens per min (TPM): Limit 200000, Used 199500, Requested 1200. Please try again in 1s."
                    ),
                    "tokens",
                    None,
                    Some("rate_limit_exceeded"),
                ),
                FakeWire::Anthropic => anthropic_error(
                    "rate_limit_error",
                    "This request would exceed the rate limit for your organization of 50,000 input tokens per minute.",
                ),
            };
            (429, body, headers)
        }
        (FakeWire::OpenAi, Reply::ServerError(status)) => (
            status,
            openai_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
            Vec::new(),
        ),
        (FakeWire::Anthropic, Reply::ServerError(status)) => {
            let body = if status == 529 {
                anthropic_error("overloaded_error", "Overloaded")
            } else {
                anthropic_error("api_error", "Internal server error")
            };
            (status, body, Vec::new())
        }
        (FakeWire::OpenAi, Reply::ContextLength) => {
            let used = tokens(prompt_chars(req)) + 128_000;
            (
                400,
                openai_error(
                    &format!(
                        "This model's maximum context length is 128000 tokens. However, your messages resulted in {used} tokens. Please reduce the length of the messages."
                    ),
                    "invalid_request_error",
                    Some("messages"),
                    Some("context_length_exceeded"),
                ),
                Vec::new(),
            )
        }
        (FakeWire::Anthropic, Reply::ContextLength) => {
            let used = tokens(prompt_chars(req)) + 200_000;
            (
                400,
                anthropic_error(
                    "invalid_request_error",
                    &format!("prompt is too long: {used} tokens > 200000 maximum"),
                ),
                Vec::new(),
            )
        }
        (FakeWire::OpenAi, reply) => {
            let (message, finish, out_chars) = match reply {
                Reply::Text(t) => (
                    json!({"role": "assistant", "content": t, "refusal": null, "annotations": []}),
                    "stop",
                    t.len(),
                ),
                Reply::Refusal(r) => (
                    json!({"role": "assistant", "content": null, "refusal": r, "annotations": []}),
                    "stop",
                    r.len(),
                ),
                Reply::Empty => (
                    json!({"role": "assistant", "content": "", "refusal": null, "annotations": []}),
                    "stop",
                    0,
                ),
                Reply::ToolCalls { text, calls } => {
                    let mut chars = text.len();
                    let calls: Vec<Value> = calls
                        .into_iter()
                        .enumerate()
                        .map(|(i, (name, args))| {
                            chars += name.len() + args.len();
                            json!({"id": format!("call_fake{id:04}{i:02}"), "type": "function",
                                "function": {"name": name, "arguments": args}})
                        })
                        .collect();
                    let content = if text.is_empty() {
                        Value::Null
                    } else {
                        json!(text)
                    };
                    (
                        json!({"role": "assistant", "content": content, "tool_calls": calls,
                            "refusal": null, "annotations": []}),
                        "tool_calls",
                        chars,
                    )
                }
                // Handled above.
                _ => (Value::Null, "stop", 0),
            };
            let u = usage(out_chars);
            let body = json!({
                "id": format!("chatcmpl-fake{id:06}"),
                "object": "chat.completion",
                "created": 1_760_000_000 + id,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": u.input_tokens,
                    "completion_tokens": u.output_tokens,
                    "total_tokens": u.input_tokens + u.output_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                        "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
                },
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            });
            (200, body, Vec::new())
        }
        (FakeWire::Anthropic, reply) => {
            let (content, stop, out_chars) = match reply {
                Reply::Text(t) => {
                    let n = t.len();
                    (vec![json!({"type": "text", "text": t})], "end_turn", n)
                }
                Reply::Refusal(r) => {
                    let n = r.len();
                    (vec![json!({"type": "text", "text": r})], "refusal", n)
                }
                Reply::Empty => (Vec::new(), "end_turn", 0),
                Reply::ToolCalls { text, calls } => {
                    let mut chars = text.len();
                    let mut blocks = Vec::new();
                    if !text.is_empty() {
                        blocks.push(json!({"type": "text", "text": text}));
                    }
                    for (i, (name, args)) in calls.into_iter().enumerate() {
                        chars += name.len() + args.len();
                        let input =
                            serde_json::from_str::<Value>(&args).unwrap_or(Value::String(args));
                        blocks.push(
                            json!({"type": "tool_use", "id": format!("toolu_fake{id:04}{i:02}"),
                            "name": name, "input": input}),
                        );
                    }
                    (blocks, "tool_use", chars)
                }
                _ => (Vec::new(), "end_turn", 0),
            };
            let u = usage(out_chars);
            let body = json!({
                "id": format!("msg_fake{id:06}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": u.input_tokens,
                    "output_tokens": u.output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "service_tier": "standard",
                },
            });
            (
                200,
                body,
                vec![("request-id".to_string(), format!("req_fake{id:06}"))],
            )
        }
    }
}

// ------------------------------------------------------------------ OpenAI checks

const OPENAI_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "metadata",
    "store",
    "stream",
];

fn oa_invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Rejection {
    (
        400,
        openai_error(message, "invalid_request_error", param, code),
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn oa_type(param: &str, expected: &str, got: &Value) -> Rejection {
    oa_invalid(
        &format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            json_type(got)
        ),
        Some(param),
        Some("invalid_type"),
    )
}

fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn openai_check(
    req: &FakeLlmRequest,
    uri: &Uri,
    api_key: &str,
    body: Option<&Value>,
) -> Result<(), Rejection> {
    let azure = uri.path().starts_with("/openai/deployments/");
    if azure {
        if req.header("api-key") != Some(api_key) {
            return Err((
                401,
                json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}),
            ));
        }
        let has_version = uri.query().is_some_and(|q| {
            q.split('&')
                .any(|kv| kv.starts_with("api-version=") && kv.len() > 12)
        });
        if !has_version {
            return Err((
                404,
                json!({"error": {"code": "404", "message": "Resource not found"}}),
            ));
        }
    } else {
        let expected = format!("Bearer {api_key}");
        match req.header("authorization") {
            Some(a) if a == expected => {}
            Some(_) => {
                return Err((
                    401,
                    openai_error(
                        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                        "invalid_request_error",
                        None,
                        Some("invalid_api_key"),
                    ),
                ));
            }
            None => {
                return Err((
                    401,
                    openai_error(
                        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                        "invalid_request_error",
                        None,
                        None,
                    ),
                ));
            }
        }
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(oa_invalid(
            "Invalid Content-Type header, expected application/json.",
            None,
            None,
        ));
    }
    let Some(Value::Object(b)) = body else {
        return Err(oa_invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            None,
            None,
        ));
    };
    for k in b.keys() {
        if !OPENAI_FIELDS.contains(&k.as_str()) {
            return Err(oa_invalid(
                &format!("Unrecognized request argument supplied: {k}"),
                None,
                None,
            ));
        }
    }
    if b.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(oa_invalid(
            "This fake does not stream.",
            Some("stream"),
            None,
        ));
    }
    if !azure {
        match b.get("model") {
            Some(Value::String(m)) if !m.is_empty() => {}
            _ => return Err(oa_invalid("you must provide a model parameter", None, None)),
        }
    }
    for field in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = b.get(field)
            && v.as_u64().is_none_or(|n| n < 1)
        {
            return Err(oa_invalid(
                &format!("Invalid '{field}': integer below minimum value. Expected a value >= 1."),
                Some(field),
                Some("integer_below_min_value"),
            ));
        }
    }
    let tools_present = match b.get("tools") {
        None => false,
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                if t["type"] != "function" {
                    return Err(oa_invalid(
                        &format!("Missing required parameter: 'tools[{i}].type'."),
                        Some(&format!("tools[{i}].type")),
                        Some("missing_required_parameter"),
                    ));
                }
                let name = t.pointer("/function/name").and_then(Value::as_str);
                if !name.is_some_and(valid_tool_name) {
                    return Err(oa_invalid(
                        &format!(
                            "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                        ),
                        Some(&format!("tools[{i}].function.name")),
                        Some("invalid_value"),
                    ));
                }
                if let Some(p) = t.pointer("/function/parameters")
                    && !p.is_object()
                {
                    return Err(oa_type(
                        &format!("tools[{i}].function.parameters"),
                        "an object",
                        p,
                    ));
                }
            }
            !tools.is_empty()
        }
        Some(other) => return Err(oa_type("tools", "an array", other)),
    };
    if b.contains_key("tool_choice") && !tools_present {
        return Err(oa_invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            Some("tool_choice"),
            None,
        ));
    }
    let messages = match b.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(oa_invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        _ => {
            return Err(oa_invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ));
        }
    };
    // Tool calls of the last assistant turn still waiting for their results.
    let mut pending: Vec<String> = Vec::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role != "tool" && !pending.is_empty() {
            let missing: Vec<&str> = pending
                .iter()
                .filter(|p| !answered.contains(*p))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(oa_invalid(
                    &format!(
                        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                        missing.join(", ")
                    ),
                    Some(&format!("messages.[{i}].role")),
                    None,
                ));
            }
            pending.clear();
            answered.clear();
        }
        let content = &m["content"];
        match role {
            "system" | "developer" | "user" => {
                if !(content.is_string() || content.is_array()) {
                    return Err(oa_type(
                        &format!("messages[{i}].content"),
                        "one of a string or array of objects",
                        content,
                    ));
                }
            }
            "assistant" => {
                let calls = m.get("tool_calls");
                if content.is_null() && calls.is_none() {
                    return Err(oa_invalid(
                        &format!(
                            "Invalid value for 'messages[{i}].content': expected a string, got null."
                        ),
                        Some(&format!("messages.[{i}].content")),
                        None,
                    ));
                }
                if !(content.is_null() || content.is_string() || content.is_array()) {
                    return Err(oa_type(
                        &format!("messages[{i}].content"),
                        "one of a string or array of objects",
                        content,
                    ));
                }
                if let Some(calls) = calls {
                    let Some(calls) = calls.as_array() else {
                        return Err(oa_type(
                            &format!("messages[{i}].tool_calls"),
                            "an array",
                            calls,
                        ));
                    };
                    for (j, c) in calls.iter().enumerate() {
                        let at = format!("messages[{i}].tool_calls[{j}]");
                        if c["id"].as_str().is_none_or(str::is_empty) {
                            return Err(oa_invalid(
                                &format!("Missing required parameter: '{at}.id'."),
                                Some(&format!("{at}.id")),
                                Some("missing_required_parameter"),
                            ));
                        }
                        if c["type"] != "function" {
                            return Err(oa_invalid(
                                &format!("Missing required parameter: '{at}.type'."),
                                Some(&format!("{at}.type")),
                                Some("missing_required_parameter"),
                            ));
                        }
                        if !c
                            .pointer("/function/name")
                            .and_then(Value::as_str)
                            .is_some_and(valid_tool_name)
                        {
                            return Err(oa_invalid(
                                &format!("Missing required parameter: '{at}.function.name'."),
                                Some(&format!("{at}.function.name")),
                                Some("missing_required_parameter"),
                            ));
                        }
                        let args = c.pointer("/function/arguments").unwrap_or(&Value::Null);
                        if !args.is_string() {
                            return Err(oa_type(
                                &format!("{at}.function.arguments"),
                                "a string",
                                args,
                            ));
                        }
                        pending.push(c["id"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                if id.is_empty() {
                    return Err(oa_invalid(
                        "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
                        Some(&format!("messages.[{i}].tool_call_id")),
                        None,
                    ));
                }
                if !pending.iter().any(|p| p == id) {
                    return Err(oa_invalid(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        Some(&format!("messages.[{i}].role")),
                        None,
                    ));
                }
                if !(content.is_string() || content.is_array()) {
                    return Err(oa_type(
                        &format!("messages[{i}].content"),
                        "one of a string or array of objects",
                        content,
                    ));
                }
                answered.insert(id.to_string());
            }
            other => {
                return Err(oa_invalid(
                    &format!(
                        "Invalid value: '{other}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                    ),
                    Some(&format!("messages[{i}].role")),
                    Some("invalid_value"),
                ));
            }
        }
    }
    let unanswered: Vec<&str> = pending
        .iter()
        .filter(|p| !answered.contains(*p))
        .map(String::as_str)
        .collect();
    if !unanswered.is_empty() {
        return Err(oa_invalid(
            &format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                unanswered.join(", ")
            ),
            Some("messages"),
            None,
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ Anthropic checks

const ANTHROPIC_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "stream",
    "thinking",
    "service_tier",
];

fn an_invalid(message: &str) -> Rejection {
    (400, anthropic_error("invalid_request_error", message))
}

fn anthropic_check(
    req: &FakeLlmRequest,
    api_key: &str,
    body: Option<&Value>,
) -> Result<(), Rejection> {
    if req.header("x-api-key") != Some(api_key) {
        return Err((
            401,
            anthropic_error("authentication_error", "invalid x-api-key"),
        ));
    }
    match req.header("anthropic-version") {
        None => return Err(an_invalid("anthropic-version: header is required")),
        Some("2023-06-01" | "2023-01-01") => {}
        Some(v) => {
            return Err(an_invalid(&format!(
                "anthropic-version: invalid version '{v}'"
            )));
        }
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(an_invalid("content-type: must be application/json"));
    }
    let Some(Value::Object(b)) = body else {
        return Err(an_invalid(
            "There was an issue with your request body: it is not valid JSON.",
        ));
    };
    for k in b.keys() {
        if !ANTHROPIC_FIELDS.contains(&k.as_str()) {
            return Err(an_invalid(&format!("{k}: Extra inputs are not permitted")));
        }
    }
    if b.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(an_invalid("stream: this fake does not stream"));
    }
    if b.get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(an_invalid("model: Field required"));
    }
    match b.get("max_tokens") {
        None => return Err(an_invalid("max_tokens: Field required")),
        Some(v) if v.as_u64().is_none_or(|n| n < 1) => {
            return Err(an_invalid(
                "max_tokens: Input should be greater than or equal to 1",
            ));
        }
        Some(_) => {}
    }
    match b.get("system") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(blocks))
            if blocks
                .iter()
                .all(|x| x["type"] == "text" && x["text"].is_string()) => {}
        Some(_) => {
            return Err(an_invalid(
                "system: Input should be a valid string or a list of text blocks",
            ));
        }
    }
    if let Some(tools) = b.get("tools") {
        let Some(tools) = tools.as_array() else {
            return Err(an_invalid("tools: Input should be a valid list"));
        };
        let mut names = BTreeSet::new();
        for (i, t) in tools.iter().enumerate() {
            let Some(name) = t["name"].as_str().filter(|n| valid_tool_name(n)) else {
                return Err(an_invalid(&format!(
                    "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )));
            };
            if !names.insert(name.to_string()) {
                return Err(an_invalid("tools: Tool names must be unique."));
            }
            match t.get("input_schema") {
                None => {
                    return Err(an_invalid(&format!(
                        "tools.{i}.custom.input_schema: Field required"
                    )));
                }
                Some(s) if s["type"] != "object" => {
                    return Err(an_invalid(&format!(
                        "tools.{i}.custom.input_schema.type: Input should be 'object'"
                    )));
                }
                Some(_) => {}
            }
            for k in t.as_object().into_iter().flat_map(|o| o.keys()) {
                if ![
                    "name",
                    "description",
                    "input_schema",
                    "type",
                    "cache_control",
                ]
                .contains(&k.as_str())
                {
                    return Err(an_invalid(&format!(
                        "tools.{i}.custom.{k}: Extra inputs are not permitted"
                    )));
                }
            }
        }
    }
    let messages = match b.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(an_invalid("messages: at least one message is required"));
        }
        Some(_) => return Err(an_invalid("messages: Input should be a valid list")),
        None => return Err(an_invalid("messages: Field required")),
    };
    let mut prev_role = "";
    // tool_use ids of the previous assistant turn.
    let mut open_calls: Vec<String> = Vec::new();
    let last = messages.len() - 1;
    for (i, m) in messages.iter().enumerate() {
        let role = match m["role"].as_str() {
            Some(r @ ("user" | "assistant")) => r,
            _ => {
                return Err(an_invalid(&format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )));
            }
        };
        if i == 0 && role != "user" {
            return Err(an_invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        if role == prev_role {
            return Err(an_invalid(&format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            )));
        }
        prev_role = role;
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => {
                if s.is_empty() && !(role == "assistant" && i == last) {
                    return Err(an_invalid(&format!(
                        "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                    )));
                }
                Vec::new()
            }
            Value::Array(blocks) => {
                if blocks.is_empty() && !(role == "assistant" && i == last) {
                    return Err(an_invalid(&format!(
                        "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                    )));
                }
                blocks.clone()
            }
            _ => {
                return Err(an_invalid(&format!(
                    "messages.{i}.content: Input should be a valid list"
                )));
            }
        };
        let mut results: Vec<String> = Vec::new();
        let mut uses: Vec<String> = Vec::new();
        for (j, blk) in blocks.iter().enumerate() {
            match (role, blk["type"].as_str()) {
                (_, Some("text")) => {
                    if blk["text"].as_str().is_none_or(str::is_empty) {
                        return Err(an_invalid(
                            "messages: text content blocks must be non-empty",
                        ));
                    }
                }
                ("assistant", Some("tool_use")) => {
                    let id = blk["id"].as_str().unwrap_or_default();
                    if id.is_empty() || !blk["name"].as_str().is_some_and(valid_tool_name) {
                        return Err(an_invalid(&format!(
                            "messages.{i}.content.{j}.tool_use.id: Field required"
                        )));
                    }
                    if !blk["input"].is_object() {
                        return Err(an_invalid(&format!(
                            "messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary"
                        )));
                    }
                    uses.push(id.to_string());
                }
                ("user", Some("tool_result")) => {
                    let id = blk["tool_use_id"].as_str().unwrap_or_default();
                    if !open_calls.iter().any(|c| c == id) {
                        return Err(an_invalid(&format!(
                            "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        )));
                    }
                    match &blk["content"] {
                        Value::String(_) | Value::Null => {}
                        Value::Array(parts) if parts.iter().all(|p| p["type"] == "text") => {}
                        _ => {
                            return Err(an_invalid(&format!(
                                "messages.{i}.content.{j}.tool_result.content: Input should be a valid string or list of content blocks"
                            )));
                        }
                    }
                    results.push(id.to_string());
                }
                (_, t) => {
                    return Err(an_invalid(&format!(
                        "messages.{i}.content.{j}: Input tag '{}' found using 'type' does not match any of the expected tags for a {role} message",
                        t.unwrap_or("none")
                    )));
                }
            }
        }
        if role == "user" {
            let missing: Vec<&str> = open_calls
                .iter()
                .filter(|c| !results.contains(c))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(an_invalid(&format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    missing.join(", ")
                )));
            }
            open_calls.clear();
        } else {
            open_calls = uses;
        }
    }
    if prev_role == "assistant" && !open_calls.is_empty() {
        return Err(an_invalid(&format!(
            "messages.{last}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
            open_calls.join(", ")
        )));
    }
    Ok(())
}
