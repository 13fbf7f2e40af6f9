//! The LLM port: one chat-with-tools call, provider-neutral. `crates/connectors::llm`
//! implements it for OpenAI-compatible servers (OpenAI, Azure-style, Ollama, llama.cpp, vLLM,
//! OpenRouter) and Anthropic Messages; the domain never sees a provider's wire types.
//!
//! Adapters own transport concerns (timeouts, retries with backoff on 429/5xx honouring
//! `Retry-After`); they return one [`LlmResponse`] with token usage, latency and a cost
//! estimate from the [`PriceTable`], or an [`LlmError`] the caller can act on safely.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    /// A tool result (`tool_call_id` names the call it answers).
    Tool,
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmToolCall {
    /// The provider's call id (`call_…`, `toolu_…`); echoed back with the result.
    pub id: String,
    pub name: String,
    /// The parsed arguments; `Value::Null` when they were not valid JSON (see
    /// `arguments_error`).
    pub arguments: Value,
    /// The arguments exactly as the model sent them.
    pub raw_arguments: String,
    /// Why `raw_arguments` could not be parsed as a JSON object, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_error: Option<String>,
}

impl LlmToolCall {
    /// Builds a call from the raw argument string, parsing it (an object is required).
    pub fn from_raw(id: impl Into<String>, name: impl Into<String>, raw: &str) -> Self {
        let (arguments, arguments_error) = match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => (v, None),
            // No arguments at all (some servers send "" for a call without parameters).
            _ if raw.trim().is_empty() => (Value::Object(Default::default()), None),
            Ok(other) => (
                Value::Null,
                Some(format!("arguments must be a JSON object, got {other}")),
            ),
            Err(e) => (
                Value::Null,
                Some(format!("arguments are not valid JSON: {e}")),
            ),
        };
        Self {
            id: id.into(),
            name: name.into(),
            arguments,
            raw_arguments: raw.to_string(),
            arguments_error,
        }
    }
}

/// One message of the conversation with the model. The system prompt is separate
/// ([`LlmRequest::system`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    /// Text content (may be empty for an assistant turn that only calls tools).
    pub content: String,
    /// Assistant turns: the calls the model made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<LlmToolCall>,
    /// Tool turns: the call this result answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(content: impl Into<String>, tool_calls: Vec<LlmToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call: a JSON-schema description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSchema {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// One call to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// Empty: the adapter's configured model.
    pub model: String,
    pub system: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub tools: Vec<ToolSchema>,
    pub max_tokens: u32,
    #[serde(default)]
    pub temperature: Option<f32>,
}

impl LlmRequest {
    /// SHA-256 (hex) of the canonical JSON of the request: what the audit records instead of
    /// the prompt itself.
    pub fn prompt_hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

/// Tokens used by one call, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// The model that answered (as the provider named it).
    pub model: String,
    /// Text content, if any.
    pub content: Option<String>,
    /// Tool calls, if any. Callers key on these being present, not on `stop_reason`.
    pub tool_calls: Vec<LlmToolCall>,
    /// `finish_reason` / `stop_reason` as sent.
    pub stop_reason: Option<String>,
    pub usage: Usage,
    /// Estimated cost in US dollars from the price table (0 when the model is not listed).
    pub cost_usd: f64,
    /// Wall time of the call, retries included.
    pub latency_ms: u64,
    /// How many attempts it took (1 = no retry).
    pub attempts: u32,
}

/// Why a call produced no usable answer. Each maps to a safe outcome in the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited by the provider (retries exhausted)")]
    RateLimited { retry_after_ms: Option<u64> },
    #[error("provider error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("the call timed out after {0} ms")]
    Timeout(u64),
    #[error("the prompt is longer than the model's context: {0}")]
    ContextLength(String),
    #[error("the model refused: {0}")]
    Refusal(String),
    #[error("the provider rejected the request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    #[error("the provider rejected the credentials: {0}")]
    Auth(String),
    #[error("the answer could not be read: {0}")]
    InvalidResponse(String),
    #[error("transport: {0}")]
    Transport(String),
}

impl LlmError {
    /// A stable machine-readable code for the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::Timeout(_) => "timeout",
            Self::ContextLength(_) => "context_length",
            Self::Refusal(_) => "refusal",
            Self::BadRequest { .. } => "bad_request",
            Self::Auth(_) => "auth",
            Self::InvalidResponse(_) => "invalid_response",
            Self::Transport(_) => "transport",
        }
    }
}

/// A chat model with tools.
#[async_trait]
pub trait Llm: Send + Sync {
    /// `openai` or `anthropic` (the wire protocol), for the audit trail.
    fn provider(&self) -> &str;
    /// The model used when a request leaves `model` empty.
    fn model(&self) -> &str;
    async fn chat(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError>;
}

/// Gives the model for a (provider, model) choice: the composition root builds adapters from
/// `settings.llm.providers`; the workflow asks for the choice of each step.
pub trait ModelDirectory: Send + Sync {
    fn model(&self, choice: &ModelChoice) -> Result<std::sync::Arc<dyn Llm>, String>;
}

/// A provider (by name, a key of `llm.providers`) and a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    pub provider: String,
    pub model: String,
}

/// US dollars per million tokens, input and output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// Prices by model name; a name matches exactly, or by its longest listed prefix
/// (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable(pub BTreeMap<String, Price>);

impl PriceTable {
    pub fn price(&self, model: &str) -> Option<Price> {
        self.0.get(model).copied().or_else(|| {
            self.0
                .iter()
                .filter(|(k, _)| model.starts_with(k.as_str()))
                .max_by_key(|(k, _)| k.len())
                .map(|(_, p)| *p)
        })
    }

    /// The estimated cost of `usage` on `model` (0 for an unlisted model).
    pub fn cost(&self, model: &str, usage: Usage) -> f64 {
        self.price(model).map_or(0.0, |p| {
            (usage.input_tokens as f64 * p.input_per_mtok
                + usage.output_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tool_call_arguments_are_parsed_or_flagged() {
        let ok = LlmToolCall::from_raw("c1", "lookupUser", r#"{"email":"a@b.c"}"#);
        assert_eq!(ok.arguments["email"], "a@b.c");
        assert!(ok.arguments_error.is_none());
        let empty = LlmToolCall::from_raw("c2", "searchKnowledge", "");
        assert!(empty.arguments.is_object());
        let bad = LlmToolCall::from_raw("c3", "lookupUser", r#"{"email": "a@b.c""#);
        assert!(bad.arguments.is_null());
        assert!(bad.arguments_error.unwrap().contains("not valid JSON"));
        let not_object = LlmToolCall::from_raw("c4", "lookupUser", "[1]");
        assert!(not_object.arguments_error.unwrap().contains("object"));
    }

    #[test]
    fn prices_match_by_longest_prefix() {
        let mut t = PriceTable::default();
        t.0.insert(
            "gpt-4o".into(),
            Price {
                input_per_mtok: 2.5,
                output_per_mtok: 10.0,
            },
        );
        t.0.insert(
            "gpt-4o-mini".into(),
            Price {
                input_per_mtok: 0.15,
                output_per_mtok: 0.6,
            },
        );
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
        };
        assert!((t.cost("gpt-4o-mini-2024-07-18", u) - 0.75).abs() < 1e-9);
        assert!((t.cost("gpt-4o", u) - 12.5).abs() < 1e-9);
        assert_eq!(t.cost("llama3", u), 0.0);
    }

    #[test]
    fn prompt_hash_changes_with_the_prompt() {
        let mut r = LlmRequest {
            model: "m".into(),
            system: "s".into(),
            messages: vec![ChatMessage::user("hi")],
            tools: vec![],
            max_tokens: 100,
            temperature: None,
        };
        let a = r.prompt_hash();
        r.messages.push(ChatMessage::user("again"));
        assert_ne!(a, r.prompt_hash());
        assert_eq!(a.len(), 64);
    }
}
