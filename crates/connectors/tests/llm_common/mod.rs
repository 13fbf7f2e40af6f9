//! What the OpenAI and Anthropic adapter tests share: the adapter settings (fast retries), a
//! price table, the two tools and the request they send.
#![allow(dead_code)]

use serde_json::json;
use std::time::Duration;
use support_connectors::llm::LlmConfig;
use support_core::llm::*;
use support_core::settings::Secret;

/// `model` (a prefix) at these US dollar prices per million tokens.
pub fn prices(model: &str, input_per_mtok: f64, output_per_mtok: f64) -> PriceTable {
    let mut t = PriceTable::default();
    t.0.insert(
        model.into(),
        Price {
            input_per_mtok,
            output_per_mtok,
        },
    );
    t
}

/// An adapter config with short timeouts and backoffs, so retry tests are quick.
pub fn config(base_url: &str, key: &str, model: &str, prices: PriceTable) -> LlmConfig {
    let mut c = LlmConfig::new(base_url, Some(Secret::new(key)), model);
    c.timeout = Duration::from_secs(5);
    c.max_retries = 2;
    c.backoff_base = Duration::from_millis(20);
    c.max_backoff = Duration::from_secs(2);
    c.prices = prices;
    c
}

pub fn tools() -> Vec<ToolSchema> {
    vec![
        ToolSchema {
            name: "lookupUser".into(),
            description: "Find a customer by email".into(),
            parameters: json!({"type": "object", "properties": {"email": {"type": "string"}},
                "required": ["email"]}),
        },
        ToolSchema {
            name: "searchKnowledge".into(),
            description: "Search the knowledge base".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}}),
        },
    ]
}

pub fn request(messages: Vec<ChatMessage>) -> LlmRequest {
    LlmRequest {
        model: String::new(),
        system: "You are the support agent of Acme.".into(),
        messages,
        tools: tools(),
        max_tokens: 512,
        temperature: Some(0.0),
    }
}
