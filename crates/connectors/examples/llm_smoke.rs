//! Runs the OpenAI-compatible adapter against a real server (what `cargo xtask llm-smoke` starts:
//! llama.cpp through `llama-cpp-python[server]` with a small GGUF model) and reports what came
//! back: wire compatibility, not answer quality.
//!
//! `cargo run -p support-connectors --example llm_smoke -- --base-url http://127.0.0.1:PORT/v1
//!  [--api-key KEY] [--model NAME] [--out report.json]`
//!
//! Steps: a plain chat; a chat offering one tool; when the model called it, the tool result sent
//! back (a second turn); a wrong API key (must be an auth error). Exits non-zero when a step
//! that depends only on the wire format fails (an error where an answer was due, or the wrong
//! error code); whether the model chose to call the tool is reported, not required.

use serde_json::{Value, json};
use std::time::Duration;
use support_connectors::llm::LlmConfig;
use support_connectors::llm::openai::OpenAiChat;
use support_core::llm::{ChatMessage, Llm, LlmError, LlmRequest, LlmResponse, ToolSchema};
use support_core::settings::Secret;

struct Args {
    base_url: String,
    api_key: Option<String>,
    model: String,
    out: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        base_url: String::new(),
        api_key: None,
        model: "gemma-3-270m".into(),
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--base-url" => a.base_url = value,
            "--api-key" => a.api_key = Some(value),
            "--model" => a.model = value,
            "--out" => a.out = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.base_url.is_empty() {
        return Err("--base-url is required".into());
    }
    Ok(a)
}

fn adapter(a: &Args, key: Option<&str>) -> Result<OpenAiChat, LlmError> {
    let mut cfg = LlmConfig::new(&a.base_url, key.map(Secret::new), &a.model);
    // A 270M model on two CPU cores: generous, and one retry.
    cfg.timeout = Duration::from_secs(180);
    cfg.max_retries = 1;
    OpenAiChat::new(cfg)
}

fn outcome(step: &str, r: &Result<LlmResponse, LlmError>) -> Value {
    let v = match r {
        Ok(r) => json!({
            "step": step,
            "ok": true,
            "model": r.model,
            "content": r.content,
            "tool_calls": r.tool_calls.iter().map(|c| json!({
                "id": c.id, "name": c.name, "raw_arguments": c.raw_arguments,
                "arguments": c.arguments, "arguments_error": c.arguments_error,
            })).collect::<Vec<_>>(),
            "stop_reason": r.stop_reason,
            "input_tokens": r.usage.input_tokens,
            "output_tokens": r.usage.output_tokens,
            "latency_ms": r.latency_ms,
            "attempts": r.attempts,
        }),
        Err(e) => {
            json!({"step": step, "ok": false, "error_code": e.code(), "error": e.to_string()})
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
    );
    v
}

/// An error that says the request or the answer did not fit the wire format (as opposed to
/// the model choosing to say nothing, or to refuse).
fn is_wire_failure(e: &LlmError) -> bool {
    !matches!(e, LlmError::Refusal(_)) && *e != LlmError::InvalidResponse("empty answer".into())
}

fn lookup_tool() -> ToolSchema {
    ToolSchema {
        name: "lookupUser".into(),
        description: "Find a customer account by email address.".into(),
        parameters: json!({"type": "object",
            "properties": {"email": {"type": "string", "description": "The customer's email"}},
            "required": ["email"]}),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let llm = adapter(&a, a.api_key.as_deref())?;
    let mut steps = Vec::new();
    let mut failures = Vec::new();

    let plain = LlmRequest {
        model: String::new(),
        system: "You are a support agent. Answer in one short sentence.".into(),
        messages: vec![ChatMessage::user(
            "Hello! Can you help me reset my password?",
        )],
        tools: vec![],
        max_tokens: 48,
        temperature: Some(0.0),
    };
    let r = llm.chat(&plain).await;
    if r.as_ref().is_err_and(is_wire_failure) {
        failures.push("plain chat");
    }
    steps.push(outcome("plain_chat", &r));

    // A 270M model follows some wordings better than others; the second only runs when the
    // first brought no tool call. An empty answer or a refusal is the model's choice, not a
    // wire failure.
    let prompts = [
        "Find the customer with email ada@example.com",
        "Please look up the customer with the email ada@example.com.",
    ];
    let mut called = None;
    for (i, prompt) in prompts.iter().enumerate() {
        let req = LlmRequest {
            model: String::new(),
            system: "You look up customers with the lookupUser tool.".into(),
            messages: vec![ChatMessage::user(*prompt)],
            tools: vec![lookup_tool()],
            max_tokens: 96,
            temperature: Some(0.0),
        };
        let r = llm.chat(&req).await;
        steps.push(outcome(&format!("chat_with_tools_{}", i + 1), &r));
        if r.as_ref().is_err_and(is_wire_failure) {
            failures.push("chat with tools");
        }
        if let Ok(r) = r
            && !r.tool_calls.is_empty()
        {
            called = Some((req, r.tool_calls));
            break;
        }
    }
    let tool_called = called.is_some();
    if let Some((req, calls)) = called {
        let mut messages = req.messages.clone();
        messages.push(ChatMessage::assistant("", calls.clone()));
        for c in &calls {
            messages.push(ChatMessage::tool_result(
                c.id.clone(),
                r#"{"id":"u_1","email":"ada@example.com","name":"Ada Lovelace"}"#,
            ));
        }
        let r = llm.chat(&LlmRequest { messages, ..req }).await;
        if r.as_ref().is_err_and(is_wire_failure) {
            failures.push("tool result turn");
        }
        steps.push(outcome("tool_result_turn", &r));
    }

    let wrong = adapter(&a, Some("sk-wrong-key"))?;
    let r = wrong.chat(&plain).await;
    if a.api_key.is_some() && !matches!(r, Err(LlmError::Auth(_))) {
        failures.push("wrong key is not an auth error");
    }
    steps.push(outcome("wrong_api_key", &r));

    let report = json!({
        "base_url": a.base_url,
        "model": a.model,
        "tool_called": tool_called,
        "steps": steps,
        "wire_failures": failures,
    });
    if let Some(out) = &a.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)?;
        println!("report: {out}");
    }
    if failures.is_empty() {
        println!(
            "llm-smoke: wire compatible ({} steps)",
            report["steps"].as_array().map_or(0, Vec::len)
        );
        Ok(())
    } else {
        Err(format!("llm-smoke: failed steps: {}", failures.join(", ")).into())
    }
}
