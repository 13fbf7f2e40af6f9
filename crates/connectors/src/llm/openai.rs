//! OpenAI-compatible chat completions: `POST {base_url}/chat/completions` with
//! `Authorization: Bearer <key>` (or, for an Azure-style base URL carrying `?api-version=`, the
//! `api-key` header and the query kept on the path).
//!
//! Request: `{model, messages, max_tokens, temperature?, tools?, tool_choice:"auto"?}` with the
//! system prompt as the first message, assistant tool calls as
//! `tool_calls:[{id, type:"function", function:{name, arguments:"<JSON string>"}}]` and tool
//! results as `{role:"tool", tool_call_id, content}`. The answer is `choices[0].message`:
//! tool calls when `tool_calls` is present (whatever `finish_reason` says), `refusal` → a
//! refusal, and neither text nor calls → an empty answer.

use super::{Parsed, Transport, Wire, truncate};
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use std::time::Instant;
use support_core::llm::{
    ChatMessage, Llm, LlmError, LlmRequest, LlmResponse, LlmToolCall, Role, Usage,
};

use super::LlmConfig;

/// An OpenAI-compatible chat model.
#[derive(Debug)]
pub struct OpenAiChat {
    transport: Transport,
    /// `{base}/chat/completions[?query]`.
    url: String,
    /// Azure-style: `api-key` header instead of a bearer token.
    azure: bool,
    /// OpenAI's own API wants `max_completion_tokens`; compatible servers read `max_tokens`.
    completion_tokens_field: bool,
}

/// `{base}/chat/completions`, keeping a query (`?api-version=…`) at the end.
fn endpoint(base_url: &str) -> (String, bool) {
    let (path, query) = match base_url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (base_url, None),
    };
    let path = path.trim_end_matches('/');
    let azure = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("api-version=")))
        || path.contains(".openai.azure.com");
    let url = match query {
        Some(q) if !q.is_empty() => format!("{path}/chat/completions?{q}"),
        _ => format!("{path}/chat/completions"),
    };
    (url, azure)
}

impl OpenAiChat {
    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        let (url, azure) = endpoint(&cfg.base_url);
        let completion_tokens_field = url.starts_with("https://api.openai.com/");
        Ok(Self {
            transport: Transport::new(cfg)?,
            url,
            azure,
            completion_tokens_field,
        })
    }

    /// The request URL (for diagnostics; carries no secret).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The JSON body of a chat completion request.
pub fn request_body(req: &LlmRequest, model: &str, completion_tokens_field: bool) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    messages.extend(req.messages.iter().map(message));
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    let tokens_field = if completion_tokens_field {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body.insert(tokens_field.into(), json!(req.max_tokens));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        body.insert("tool_choice".into(), json!("auto"));
    }
    Value::Object(body)
}

fn message(m: &ChatMessage) -> Value {
    match m.role {
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.content,
        }),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    // The arguments exactly as the model sent them; "{}" for none.
                    let args = if c.raw_arguments.trim().is_empty() {
                        "{}".to_string()
                    } else {
                        c.raw_arguments.clone()
                    };
                    json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": args}})
                })
                .collect();
            // A string even when empty: OpenAI allows `null` beside tool calls, but
            // llama-cpp-python's server rejects it (found by `cargo xtask llm-smoke`).
            json!({"role": "assistant", "content": m.content, "tool_calls": calls})
        }
    }
}

/// Text of a `content` that is a string or an array of `{type:"text", text}` parts.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let s: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Some(s)
        }
        _ => None,
    }
}

/// Reads a chat completion body.
pub(crate) fn parse_response(body: &str) -> Result<Parsed, LlmError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| LlmError::InvalidResponse(format!("not JSON: {e}")))?;
    if v.get("choices").is_none() && v.get("error").is_some() {
        // Some proxies answer 200 with an error object.
        return Err(OpenAiWire::classify(
            v.pointer("/error/code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500),
            body,
        ));
    }
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| LlmError::InvalidResponse("no choices".into()))?;
    let msg = choice
        .get("message")
        .ok_or_else(|| LlmError::InvalidResponse("no message in choices[0]".into()))?;
    let stop_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(refusal) = msg
        .get("refusal")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
    {
        return Err(LlmError::Refusal(truncate(refusal, 500)));
    }
    let mut tool_calls = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let f = call.get("function").ok_or_else(|| {
                LlmError::InvalidResponse(format!("tool_calls[{i}] has no function"))
            })?;
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| LlmError::InvalidResponse(format!("tool_calls[{i}] has no name")))?;
            let raw = match f.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                // Some servers send the object itself.
                Some(other) => other.to_string(),
            };
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map_or_else(|| format!("call_{i}"), str::to_string);
            tool_calls.push(LlmToolCall::from_raw(id, name, &raw));
        }
    }
    let content = msg
        .get("content")
        .and_then(text_of)
        .filter(|s| !s.trim().is_empty());
    if tool_calls.is_empty() && content.is_none() {
        if stop_reason.as_deref() == Some("content_filter") {
            return Err(LlmError::Refusal(
                "the answer was withheld by the content filter".into(),
            ));
        }
        return Err(LlmError::InvalidResponse("empty answer".into()));
    }
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(Parsed {
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        content,
        tool_calls,
        stop_reason,
        usage: Usage {
            input_tokens: n("/usage/prompt_tokens"),
            output_tokens: n("/usage/completion_tokens"),
        },
    })
}

pub(crate) struct OpenAiWire;

impl OpenAiWire {
    fn error(body: &str) -> (Option<String>, Option<String>, String) {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let e = v.get("error").unwrap_or(&Value::Null);
        let code = e.get("code").and_then(Value::as_str).map(str::to_string);
        let kind = e.get("type").and_then(Value::as_str).map(str::to_string);
        let message = match e {
            Value::String(s) => s.clone(),
            _ => e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| truncate(body.trim(), 300), str::to_string),
        };
        (code, kind, truncate(&message, 500))
    }
}

impl Wire for OpenAiWire {
    const PROVIDER: &'static str = "openai";

    fn error_message(body: &str) -> String {
        Self::error(body).2
    }

    fn retryable(status: u16, body: &str) -> bool {
        // An exhausted quota is not going to clear by retrying.
        (status == 429 && Self::error(body).0.as_deref() != Some("insufficient_quota"))
            || status >= 500
    }

    fn classify(status: u16, body: &str) -> LlmError {
        let (code, kind, message) = Self::error(body);
        let lower = message.to_lowercase();
        let context = code.as_deref() == Some("context_length_exceeded")
            || kind.as_deref() == Some("exceed_context_size_error")
            || lower.contains("maximum context length")
            || lower.contains("context window")
            || lower.contains("exceeds the available context size");
        match status {
            400 | 413 | 422 if context => LlmError::ContextLength(message),
            401 | 403 => LlmError::Auth(message),
            429 => LlmError::RateLimited {
                retry_after_ms: None,
            },
            s if s >= 500 => LlmError::Server { status: s, message },
            s => LlmError::BadRequest { status: s, message },
        }
    }
}

#[async_trait]
impl Llm for OpenAiChat {
    fn provider(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.transport.cfg.model
    }

    async fn chat(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let model = self.transport.model_for(req);
        let body = serde_json::to_vec(&request_body(req, model, self.completion_tokens_field))
            .map_err(|e| LlmError::InvalidResponse(format!("cannot encode the request: {e}")))?;
        let key = Some(self.transport.key()).filter(|k| !k.is_empty());
        let (text, attempts) = self
            .transport
            .send::<OpenAiWire>(model, || {
                let mut rb = self
                    .transport
                    .http
                    .post(&self.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                if let Some(key) = key {
                    rb = if self.azure {
                        rb.header("api-key", key)
                    } else {
                        rb.bearer_auth(key)
                    };
                }
                rb
            })
            .await?;
        let parsed = parse_response(&text)?;
        Ok(self
            .transport
            .finish::<OpenAiWire>(model, parsed, attempts, started))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoints_keep_azure_queries() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/"),
            ("https://api.openai.com/v1/chat/completions".into(), false)
        );
        assert_eq!(
            endpoint("http://localhost:11434/v1"),
            ("http://localhost:11434/v1/chat/completions".into(), false)
        );
        assert_eq!(
            endpoint("https://x.openai.azure.com/openai/deployments/d1?api-version=2024-10-21"),
            ("https://x.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2024-10-21".into(), true)
        );
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens() {
        let req = LlmRequest {
            model: String::new(),
            system: String::new(),
            messages: vec![ChatMessage::user("hi")],
            tools: vec![],
            max_tokens: 64,
            temperature: None,
        };
        let cfg = |url: &str| LlmConfig::new(url, None, "gpt-4o-mini");
        let openai = OpenAiChat::new(cfg("https://api.openai.com/v1")).unwrap();
        let local = OpenAiChat::new(cfg("http://localhost:11434/v1")).unwrap();
        let body = request_body(&req, "m", openai.completion_tokens_field);
        assert_eq!(body["max_completion_tokens"], 64);
        assert!(body.get("max_tokens").is_none());
        // No system prompt, no tools: neither a system message nor tool_choice.
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
        assert!(body.get("tool_choice").is_none());
        let body = request_body(&req, "m", local.completion_tokens_field);
        assert_eq!(body["max_tokens"], 64);
    }

    #[test]
    fn errors_are_classified() {
        let ctx = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert!(matches!(
            OpenAiWire::classify(400, ctx),
            LlmError::ContextLength(_)
        ));
        let llama = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#;
        assert!(matches!(
            OpenAiWire::classify(400, llama),
            LlmError::ContextLength(_)
        ));
        assert!(matches!(OpenAiWire::classify(401, "{}"), LlmError::Auth(_)));
        assert!(matches!(
            OpenAiWire::classify(404, "not json"),
            LlmError::BadRequest { status: 404, .. }
        ));
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert!(!OpenAiWire::retryable(429, quota));
        assert!(OpenAiWire::retryable(429, "{}"));
    }

    #[test]
    fn arguments_given_as_objects_are_accepted() {
        let body = r#"{"model":"m","choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"t","arguments":{"a":1}}}]},"finish_reason":"stop"}]}"#;
        let p = parse_response(body).unwrap();
        assert_eq!(p.tool_calls[0].arguments["a"], 1);
        assert_eq!(p.usage, Usage::default());
    }
}
