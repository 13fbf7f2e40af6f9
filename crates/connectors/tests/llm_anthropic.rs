//! The Anthropic adapter against `FakeAnthropic`, a local server speaking Anthropic's Messages
//! wire format (`x-api-key`, `anthropic-version: 2023-06-01`, strict request checks with
//! Anthropic's `{"type":"error","error":{…}}` bodies, scripted answers with `usage`):
//! `tool_use`/`tool_result` round trips with the exact wire shapes, malformed inputs,
//! refusals, empty answers, 429/529 retries, timeouts, context-length and auth errors, usage
//! and cost.
#![allow(clippy::unwrap_used)]

mod llm_common;
use llm_common as common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support_connectors::llm::anthropic::AnthropicChat;
use support_connectors::llm::{LlmConfig, build};
use support_core::llm::*;
use support_testkit::fakes::{FakeAnthropic, Reply};

const KEY: &str = "sk-ant-api03-test-5e1c2b";
const MODEL: &str = "claude-sonnet-4-5";

fn prices() -> PriceTable {
    common::prices("claude-sonnet-4", 3.0, 15.0)
}

fn config(base_url: &str, key: &str) -> LlmConfig {
    common::config(base_url, key, MODEL, prices())
}

/// Anthropic requires `max_tokens`; these tests leave the temperature to the model.
fn request(messages: Vec<ChatMessage>) -> LlmRequest {
    LlmRequest {
        max_tokens: 1024,
        temperature: None,
        ..common::request(messages)
    }
}

async fn start() -> (FakeAnthropic, AnthropicChat) {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    let llm = AnthropicChat::new(config(fake.base_url(), KEY)).unwrap();
    (fake, llm)
}

#[tokio::test]
async fn tool_use_round_trip_has_the_exact_wire_shape() {
    let (fake, llm) = start().await;
    fake.push(Reply::ToolCalls {
        text: "Let me look that up.".into(),
        calls: vec![
            ("lookupUser".into(), r#"{"email":"ada@example.com"}"#.into()),
            ("searchKnowledge".into(), r#"{"query":"login"}"#.into()),
        ],
    });
    fake.respond_with(|req| {
        let results = req.tool_results();
        (results.len() == 2)
            .then(|| Reply::text(format!("Seen {} and {}", results[0].1, results[1].1)))
    });

    let mut messages = vec![ChatMessage::user("I can't log in.")];
    let first = llm.chat(&request(messages.clone())).await.unwrap();
    assert_eq!(first.content.as_deref(), Some("Let me look that up."));
    assert_eq!(first.stop_reason.as_deref(), Some("tool_use"));
    let calls = first.tool_calls.clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].name, "lookupUser");
    assert_eq!(calls[0].arguments, json!({"email": "ada@example.com"}));
    assert_eq!(calls[1].arguments, json!({"query": "login"}));
    assert!(calls.iter().all(|c| c.id.starts_with("toolu_")));
    assert_eq!(first.model, MODEL);

    messages.push(ChatMessage::assistant(
        "Let me look that up.",
        calls.clone(),
    ));
    messages.push(ChatMessage::tool_result(
        calls[0].id.clone(),
        r#"{"name":"Ada"}"#,
    ));
    messages.push(ChatMessage::tool_result(
        calls[1].id.clone(),
        "Reset your password at /reset.",
    ));
    let second = llm.chat(&request(messages)).await.unwrap();
    assert_eq!(
        second.content.as_deref(),
        Some(r#"Seen {"name":"Ada"} and Reset your password at /reset."#)
    );
    assert_eq!(second.stop_reason.as_deref(), Some("end_turn"));

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.status, 200);
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.header("x-api-key"), Some(KEY));
        assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), None);
    }
    assert_eq!(
        reqs[0].body,
        json!({
            "model": MODEL,
            "max_tokens": 1024,
            "system": "You are the support agent of Acme.",
            "messages": [{"role": "user", "content": "I can't log in."}],
            "tools": [
                {"name": "lookupUser", "description": "Find a customer by email",
                 "input_schema": {"type": "object", "properties": {"email": {"type": "string"}},
                    "required": ["email"]}},
                {"name": "searchKnowledge", "description": "Search the knowledge base",
                 "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
            ],
        })
    );
    assert_eq!(
        reqs[1].body["messages"],
        json!([
            {"role": "user", "content": "I can't log in."},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look that up."},
                {"type": "tool_use", "id": calls[0].id, "name": "lookupUser",
                 "input": {"email": "ada@example.com"}},
                {"type": "tool_use", "id": calls[1].id, "name": "searchKnowledge",
                 "input": {"query": "login"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": calls[0].id, "content": r#"{"name":"Ada"}"#},
                {"type": "tool_result", "tool_use_id": calls[1].id,
                 "content": "Reset your password at /reset."},
            ]},
        ])
    );
}

#[tokio::test]
async fn a_missing_tool_result_is_rejected_like_anthropic_does() {
    let (fake, llm) = start().await;
    fake.push_tool_calls(&[
        ("lookupUser", r#"{"email":"a@b.c"}"#),
        ("searchKnowledge", "{}"),
    ]);
    let mut messages = vec![ChatMessage::user("hi")];
    let first = llm.chat(&request(messages.clone())).await.unwrap();
    messages.push(ChatMessage::assistant("", first.tool_calls.clone()));
    messages.push(ChatMessage::tool_result(
        first.tool_calls[0].id.clone(),
        "{}",
    ));
    let err = llm.chat(&request(messages)).await.unwrap_err();
    let LlmError::BadRequest {
        status: 400,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("without `tool_result` blocks"),
        "{message}"
    );
    assert!(message.contains(&first.tool_calls[1].id), "{message}");
}

#[tokio::test]
async fn non_object_inputs_are_flagged_and_sent_back_as_empty_objects() {
    let (fake, llm) = start().await;
    // Not JSON at all: the fake sends it as a JSON string, which is not an object.
    fake.push_tool_call("lookupUser", r#"{"email": "ada@"#);
    let mut messages = vec![ChatMessage::user("hi")];
    let r = llm.chat(&request(messages.clone())).await.unwrap();
    let call = &r.tool_calls[0];
    assert!(call.arguments.is_null());
    let why = call.arguments_error.as_deref().unwrap();
    assert!(why.contains("object"), "{why}");
    assert_eq!(call.raw_arguments, json!(r#"{"email": "ada@"#).to_string());

    messages.push(ChatMessage::assistant("", r.tool_calls.clone()));
    messages.push(ChatMessage::tool_result(
        call.id.clone(),
        "error: invalid arguments",
    ));
    llm.chat(&request(messages)).await.unwrap();
    let sent = &fake.requests()[1].body["messages"][1]["content"][0];
    assert_eq!(sent["input"], json!({}));
    assert_eq!(sent["type"], "tool_use");
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let (fake, llm) = start().await;
    fake.push_rate_limit(1);
    fake.push_text("Hello!");
    let r = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.content.as_deref(), Some("Hello!"));
    assert!(r.latency_ms >= 1000, "{}", r.latency_ms);
    let statuses: Vec<u16> = fake.requests().iter().map(|q| q.status).collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn overloaded_exhausts_retries() {
    let (fake, llm) = start().await;
    for _ in 0..3 {
        fake.push_server_error(529);
    }
    fake.push_text("never reached");
    let err = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::Server {
            status: 529,
            message: "Overloaded".into()
        }
    );
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.queued(), 1);

    let r = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(
        (r.attempts, r.content.as_deref()),
        (1, Some("never reached"))
    );

    fake.push_server_error(500);
    fake.push_text("recovered");
    let r = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!((r.attempts, r.content.as_deref()), (2, Some("recovered")));
}

#[tokio::test]
async fn context_length_refusal_and_empty_answers() {
    let (fake, llm) = start().await;
    fake.push_context_length();
    fake.push_refusal("I can't help with that request.");
    fake.push(Reply::Empty);
    let req = request(vec![ChatMessage::user("hi")]);
    let err = llm.chat(&req).await.unwrap_err();
    let LlmError::ContextLength(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.starts_with("prompt is too long"), "{message}");
    assert_eq!(
        llm.chat(&req).await.unwrap_err(),
        LlmError::Refusal("I can't help with that request.".into())
    );
    assert_eq!(
        llm.chat(&req).await.unwrap_err(),
        LlmError::InvalidResponse("empty answer".into())
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    let mut cfg = config(fake.base_url(), KEY);
    cfg.timeout = Duration::from_millis(250);
    cfg.max_retries = 1;
    let llm = AnthropicChat::new(cfg).unwrap();
    fake.push_delayed(Duration::from_secs(3), Reply::text("late"));
    fake.push_delayed(Duration::from_secs(3), Reply::text("late"));
    let started = Instant::now();
    let err = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Timeout(250));
    assert_eq!(err.code(), "timeout");
    assert_eq!(fake.requests().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error() {
    let (fake, _) = start().await;
    let wrong = AnthropicChat::new(config(fake.base_url(), "sk-ant-wrong")).unwrap();
    let err = wrong
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Auth("invalid x-api-key".into()));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn usage_and_cost() {
    let (fake, llm) = start().await;
    fake.fixed_usage(Some(Usage {
        input_tokens: 2000,
        output_tokens: 150,
    }));
    fake.push_text("hello");
    let r = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.usage.input_tokens, 2000);
    assert_eq!(r.usage.output_tokens, 150);
    let expected = (2000.0 * 3.0 + 150.0 * 15.0) / 1_000_000.0;
    assert!((r.cost_usd - expected).abs() < 1e-12, "{}", r.cost_usd);
    assert_eq!(r.cost_usd, prices().cost(MODEL, r.usage));
}

#[tokio::test]
async fn built_from_settings() {
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    let llm = build("claude", &fake.settings(), MODEL, &prices()).unwrap();
    assert_eq!((llm.provider(), llm.model()), ("anthropic", MODEL));
    let r = llm
        .chat(&request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    // The default reply when nothing is scripted.
    assert!(r.content.is_some());
    assert!(r.usage.input_tokens > 0);
    let shown = format!(
        "{:?}",
        AnthropicChat::new(config(fake.base_url(), KEY)).unwrap()
    );
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn the_fake_rejects_requests_anthropic_would_reject() {
    support_connectors::ensure_crypto_provider();
    let fake = FakeAnthropic::start(KEY).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/messages", fake.base_url());
    let post = |body: Value, version: Option<&str>| {
        let mut rb = http
            .post(&url)
            .header("x-api-key", KEY)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(v) = version {
            rb = rb.header("anthropic-version", v);
        }
        rb
    };
    let ok =
        json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        (
            post(ok.clone(), None),
            "anthropic-version: header is required",
        ),
        (
            post(
                json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
                Some("2023-06-01"),
            ),
            "max_tokens: Field required",
        ),
        (
            post(
                json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "system", "content": "hi"}]}),
                Some("2023-06-01"),
            ),
            "messages.0.role",
        ),
        (
            post(
                json!({"model": MODEL, "max_tokens": 10, "messages": [
                    {"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
                Some("2023-06-01"),
            ),
            "roles must alternate",
        ),
    ];
    for (rb, expected) in cases {
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message} / {expected}");
    }
    let resp = post(ok, Some("2023-06-01")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().contains_key("request-id"));
}
