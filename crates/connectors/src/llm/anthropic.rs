//! Anthropic Messages: `POST {base_url}/v1/messages` with `x-api-key`,
//! `anthropic-version: 2023-06-01` and `content-type: application/json`.
//!
//! Request: `{model, max_tokens, system?, messages, tools?:[{name, description, input_schema}],
//! temperature?}`. Assistant turns that called tools become content blocks
//! `[{type:"text"}, {type:"tool_use", id, name, input}]`; tool results become one user message of
//! `[{type:"tool_result", tool_use_id, content}]` blocks (consecutive results merged, and a user
//! text that follows them joins the same message, so roles alternate). The answer's `content`
//! blocks give the text and the tool calls; `stop_reason: "refusal"` is a refusal. Errors are
//! `{"type":"error","error":{"type","message"}}`: `rate_limit_error` (429) and
//! `overloaded_error` (529) are retried, `invalid_request_error` "prompt is too long" is a
//! context-length error.

use super::{LlmConfig, Parsed, Transport, Wire, truncate};
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use std::time::Instant;
use support_core::llm::{
    ChatMessage, Llm, LlmError, LlmRequest, LlmResponse, LlmToolCall, Role, Usage,
};

/// Anthropic's API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version sent with every request.
pub const API_VERSION: &str = "2023-06-01";

/// An Anthropic chat model.
#[derive(Debug)]
pub struct AnthropicChat {
    transport: Transport,
    url: String,
}

impl AnthropicChat {
    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        let base = cfg.base_url.trim_end_matches('/');
        // Tolerate a base URL that already ends in the version segment.
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        Ok(Self {
            transport: Transport::new(cfg)?,
            url,
        })
    }

    /// The request URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The JSON body of a Messages request.
pub fn request_body(req: &LlmRequest, model: &str) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        match m.role {
            Role::Tool => {
                let block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                });
                push_user_block(&mut messages, block);
            }
            Role::User => {
                let merges = messages.last().is_some_and(|last| {
                    last["role"] == "user" && last["content"].as_array().is_some()
                });
                if merges {
                    push_user_block(&mut messages, json!({"type": "text", "text": m.content}));
                } else {
                    messages.push(json!({"role": "user", "content": m.content}));
                }
            }
            Role::Assistant => messages.push(assistant(m)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(req.max_tokens));
    if !req.system.is_empty() {
        body.insert("system".into(), json!(req.system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                    "input_schema": t.parameters})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    Value::Object(body)
}

/// Appends a block to the last message if it is a user message of blocks, else starts one.
fn push_user_block(messages: &mut Vec<Value>, block: Value) {
    if let Some(last) = messages.last_mut()
        && last["role"] == "user"
    {
        match &mut last["content"] {
            Value::Array(blocks) => {
                blocks.push(block);
                return;
            }
            Value::String(text) => {
                let text = std::mem::take(text);
                last["content"] = json!([{"type": "text", "text": text}, block]);
                return;
            }
            _ => {}
        }
    }
    messages.push(json!({"role": "user", "content": [block]}));
}

fn assistant(m: &ChatMessage) -> Value {
    if m.tool_calls.is_empty() {
        return json!({"role": "assistant", "content": m.content});
    }
    let mut blocks = Vec::new();
    if !m.content.is_empty() {
        blocks.push(json!({"type": "text", "text": m.content}));
    }
    for c in &m.tool_calls {
        // `input` must be an object: arguments that were not one are sent as `{}`.
        let input = if c.arguments.is_object() {
            c.arguments.clone()
        } else {
            json!({})
        };
        blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
    }
    json!({"role": "assistant", "content": blocks})
}

/// Reads a Messages body.
pub(crate) fn parse_response(body: &str) -> Result<Parsed, LlmError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| LlmError::InvalidResponse(format!("not JSON: {e}")))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(AnthropicWire::classify(500, body));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::InvalidResponse("no content".into()))?;
    let stop_reason = v
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                text.push_str(b.get("text").and_then(Value::as_str).unwrap_or_default())
            }
            Some("tool_use") => {
                let id = b
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let name = b
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let (Some(id), Some(name)) = (id, name) else {
                    return Err(LlmError::InvalidResponse(format!(
                        "content[{i}]: tool_use without id or name"
                    )));
                };
                let raw = b.get("input").map_or_else(String::new, Value::to_string);
                tool_calls.push(LlmToolCall::from_raw(id, name, &raw));
            }
            // thinking, redacted_thinking, server tool blocks: not part of the answer.
            _ => {}
        }
    }
    if stop_reason.as_deref() == Some("refusal") {
        let why = if text.trim().is_empty() {
            "stop_reason: refusal".to_string()
        } else {
            truncate(&text, 500)
        };
        return Err(LlmError::Refusal(why));
    }
    let content = Some(text).filter(|t| !t.trim().is_empty());
    if tool_calls.is_empty() && content.is_none() {
        return Err(LlmError::InvalidResponse("empty answer".into()));
    }
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(Parsed {
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        content,
        tool_calls,
        stop_reason,
        usage: Usage {
            // Cached prompt tokens are prompt tokens too.
            input_tokens: n("/usage/input_tokens")
                + n("/usage/cache_creation_input_tokens")
                + n("/usage/cache_read_input_tokens"),
            output_tokens: n("/usage/output_tokens"),
        },
    })
}

pub(crate) struct AnthropicWire;

impl AnthropicWire {
    fn error(body: &str) -> (Option<String>, String) {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let kind = v
            .pointer("/error/type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| truncate(body.trim(), 300), str::to_string);
        (kind, truncate(&message, 500))
    }
}

impl Wire for AnthropicWire {
    const PROVIDER: &'static str = "anthropic";

    fn error_message(body: &str) -> String {
        Self::error(body).1
    }

    fn classify(status: u16, body: &str) -> LlmError {
        let (kind, message) = Self::error(body);
        let lower = message.to_lowercase();
        let context = lower.contains("prompt is too long") || lower.contains("context window");
        match (status, kind.as_deref()) {
            (_, Some("authentication_error" | "permission_error")) | (401 | 403, _) => {
                LlmError::Auth(message)
            }
            (400 | 413, _) if context => LlmError::ContextLength(message),
            (_, Some("rate_limit_error")) | (429, _) => LlmError::RateLimited {
                retry_after_ms: None,
            },
            (_, Some("overloaded_error")) => LlmError::Server {
                status: 529,
                message,
            },
            (s, _) if s >= 500 => LlmError::Server { status: s, message },
            (s, _) => LlmError::BadRequest { status: s, message },
        }
    }
}

#[async_trait]
impl Llm for AnthropicChat {
    fn provider(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.transport.cfg.model
    }

    async fn chat(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let model = self.transport.model_for(req);
        let body = serde_json::to_vec(&request_body(req, model))
            .map_err(|e| LlmError::InvalidResponse(format!("cannot encode the request: {e}")))?;
        let key = self.transport.key();
        let (text, attempts) = self
            .transport
            .send::<AnthropicWire>(model, || {
                self.transport
                    .http
                    .post(&self.url)
                    .header("x-api-key", key)
                    .header("anthropic-version", API_VERSION)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        let parsed = parse_response(&text)?;
        Ok(self
            .transport
            .finish::<AnthropicWire>(model, parsed, attempts, started))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tool_results_merge_and_roles_alternate() {
        let call = |id: &str| LlmToolCall::from_raw(id, "lookupUser", r#"{"email":"a@b.c"}"#);
        let req = LlmRequest {
            model: String::new(),
            system: String::new(),
            messages: vec![
                ChatMessage::user("hi"),
                ChatMessage::assistant("", vec![call("toolu_1"), call("toolu_2")]),
                ChatMessage::tool_result("toolu_1", "r1"),
                ChatMessage::tool_result("toolu_2", "r2"),
                ChatMessage::user("and?"),
            ],
            tools: vec![],
            max_tokens: 10,
            temperature: None,
        };
        let body = request_body(&req, "claude");
        assert!(body.get("system").is_none());
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
        assert_eq!(msgs[1]["content"].as_array().unwrap().len(), 2);
        assert_eq!(
            msgs[2],
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "r1"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "r2"},
                {"type": "text", "text": "and?"},
            ]})
        );
    }

    #[test]
    fn errors_are_classified() {
        let e = |t: &str, m: &str| {
            json!({"type": "error", "error": {"type": t, "message": m}}).to_string()
        };
        assert!(matches!(
            AnthropicWire::classify(
                400,
                &e(
                    "invalid_request_error",
                    "prompt is too long: 210000 tokens > 200000 maximum"
                )
            ),
            LlmError::ContextLength(_)
        ));
        assert!(matches!(
            AnthropicWire::classify(401, &e("authentication_error", "invalid x-api-key")),
            LlmError::Auth(_)
        ));
        assert!(matches!(
            AnthropicWire::classify(
                400,
                &e("invalid_request_error", "max_tokens: Field required")
            ),
            LlmError::BadRequest { status: 400, .. }
        ));
        assert!(matches!(
            AnthropicWire::classify(529, &e("overloaded_error", "Overloaded")),
            LlmError::Server { status: 529, .. }
        ));
    }
}
