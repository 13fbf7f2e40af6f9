//! The OpenAI-compatible adapter against `FakeOpenAi`, a local server speaking OpenAI's chat
//! completions wire format (Bearer auth, strict request checks with OpenAI's error bodies,
//! scripted answers with `usage`): tool calls and multi-turn tool results with the exact wire
//! shapes, malformed arguments, refusals, empty answers, 429/5xx retries honouring
//! `Retry-After`, timeouts, context-length and auth errors, token usage and cost.
#![allow(clippy::unwrap_used)]

mod llm_common;
use llm_common as common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support_connectors::llm::openai::OpenAiChat;
use support_connectors::llm::{LlmConfig, build};
use support_core::llm::*;
use support_testkit::fakes::{FakeOpenAi, Reply};

const KEY: &str = "sk-test-3f9a0c7e1b2d4a6c";
const MODEL: &str = "gpt-4o-mini";

fn prices() -> PriceTable {
    common::prices("gpt-4o-mini", 0.15, 0.6)
}

fn config(base_url: &str, key: &str) -> LlmConfig {
    common::config(base_url, key, MODEL, prices())
}

async fn start() -> (FakeOpenAi, OpenAiChat) {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let llm = OpenAiChat::new(config(fake.base_url(), KEY)).unwrap();
    (fake, llm)
}

fn expected_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "lookupUser",
            "description": "Find a customer by email",
            "parameters": {"type": "object", "properties": {"email": {"type": "string"}},
                "required": ["email"]}}},
        {"type": "function", "function": {"name": "searchKnowledge",
            "description": "Search the knowledge base",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}},
    ])
}

#[tokio::test]
async fn tool_call_round_trip_has_the_exact_wire_shape() {
    let (fake, llm) = start().await;
    fake.push_tool_call("lookupUser", r#"{"email":"ada@example.com"}"#);
    fake.respond_with(|req| {
        req.last_tool_result()
            .map(|r| Reply::text(format!("Ada has these purchases: {r}")))
    });

    let mut messages = vec![ChatMessage::user("I bought the course but can't log in.")];
    let first = llm.chat(&common::request(messages.clone())).await.unwrap();
    assert_eq!(first.tool_calls.len(), 1);
    let call = &first.tool_calls[0];
    assert_eq!(call.name, "lookupUser");
    assert_eq!(call.arguments, json!({"email": "ada@example.com"}));
    assert_eq!(call.raw_arguments, r#"{"email":"ada@example.com"}"#);
    assert!(call.id.starts_with("call_"), "{}", call.id);
    assert!(call.arguments_error.is_none());
    assert_eq!(first.content, None);
    assert_eq!(first.stop_reason.as_deref(), Some("tool_calls"));
    assert_eq!(first.attempts, 1);
    assert_eq!(first.model, MODEL);

    messages.push(ChatMessage::assistant("", first.tool_calls.clone()));
    messages.push(ChatMessage::tool_result(
        call.id.clone(),
        r#"{"purchases":["Pro course"]}"#,
    ));
    let second = llm.chat(&common::request(messages)).await.unwrap();
    assert_eq!(
        second.content.as_deref(),
        Some(r#"Ada has these purchases: {"purchases":["Pro course"]}"#)
    );
    assert!(second.tool_calls.is_empty());
    assert_eq!(second.stop_reason.as_deref(), Some("stop"));

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.status, 200);
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        reqs[0].body,
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are the support agent of Acme."},
                {"role": "user", "content": "I bought the course but can't log in."},
            ],
            "max_tokens": 512,
            "temperature": 0.0,
            "tools": expected_tools(),
            "tool_choice": "auto",
        })
    );
    assert_eq!(
        reqs[1].body["messages"],
        json!([
            {"role": "system", "content": "You are the support agent of Acme."},
            {"role": "user", "content": "I bought the course but can't log in."},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": "lookupUser", "arguments": r#"{"email":"ada@example.com"}"#}},
            ]},
            {"role": "tool", "tool_call_id": call.id, "content": r#"{"purchases":["Pro course"]}"#},
        ])
    );
}

#[tokio::test]
async fn parallel_tool_calls_and_results() {
    let (fake, llm) = start().await;
    fake.push_tool_calls(&[
        ("lookupUser", r#"{"email":"ada@example.com"}"#),
        ("searchKnowledge", r#"{"query":"login"}"#),
    ]);
    let mut messages = vec![ChatMessage::user("help")];
    let first = llm.chat(&common::request(messages.clone())).await.unwrap();
    assert_eq!(first.tool_calls.len(), 2);
    assert_ne!(first.tool_calls[0].id, first.tool_calls[1].id);
    messages.push(ChatMessage::assistant("", first.tool_calls.clone()));
    // Only one result: the strict fake rejects the turn like OpenAI does.
    messages.push(ChatMessage::tool_result(
        first.tool_calls[0].id.clone(),
        "{}",
    ));
    messages.push(ChatMessage::user("and?"));
    let err = llm
        .chat(&common::request(messages.clone()))
        .await
        .unwrap_err();
    let LlmError::BadRequest {
        status: 400,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(message.contains(&first.tool_calls[1].id), "{message}");
    messages.insert(
        3,
        ChatMessage::tool_result(first.tool_calls[1].id.clone(), "{}"),
    );
    let ok = llm.chat(&common::request(messages)).await.unwrap();
    assert!(ok.content.is_some());
}

#[tokio::test]
async fn tool_calls_are_read_whatever_the_finish_reason() {
    let (fake, llm) = start().await;
    // Some compatible servers say "stop" beside tool calls.
    fake.push(Reply::Raw {
        status: 200,
        body: json!({"id": "x", "object": "chat.completion", "model": "llama3.1",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "call_9", "type": "function",
                    "function": {"name": "searchKnowledge", "arguments": "{\"query\":\"refund\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        headers: vec![],
    });
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("refund?")]))
        .await
        .unwrap();
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].arguments["query"], "refund");
    assert_eq!(r.content.as_deref(), Some("Let me check."));
    assert_eq!(r.stop_reason.as_deref(), Some("stop"));
    assert_eq!(r.model, "llama3.1");
}

#[tokio::test]
async fn malformed_arguments_are_surfaced_and_sent_back_verbatim() {
    let (fake, llm) = start().await;
    let raw = r#"{"email": "ada@example.com""#;
    fake.push_tool_call("lookupUser", raw);
    let mut messages = vec![ChatMessage::user("hi")];
    let r = llm.chat(&common::request(messages.clone())).await.unwrap();
    let call = &r.tool_calls[0];
    assert_eq!(call.raw_arguments, raw);
    assert!(call.arguments.is_null());
    let why = call.arguments_error.as_deref().unwrap();
    assert!(why.contains("not valid JSON"), "{why}");

    messages.push(ChatMessage::assistant("", r.tool_calls.clone()));
    messages.push(ChatMessage::tool_result(
        call.id.clone(),
        "error: the arguments were not valid JSON",
    ));
    llm.chat(&common::request(messages)).await.unwrap();
    let sent = &fake.requests()[1].body["messages"][2]["tool_calls"][0]["function"]["arguments"];
    assert_eq!(sent, raw);
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let (fake, llm) = start().await;
    fake.push_rate_limit(1);
    fake.push_text("Hello!");
    let started = Instant::now();
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.content.as_deref(), Some("Hello!"));
    // Retry-After: 1 was honoured (the backoff alone would be 20 ms).
    assert!(r.latency_ms >= 1000, "{}", r.latency_ms);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let statuses: Vec<u16> = fake.requests().iter().map(|q| q.status).collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn retry_after_ms_wins_over_seconds_and_waits_are_capped() {
    let (fake, llm) = start().await;
    fake.push(Reply::RateLimited {
        retry_after: Some("20".into()),
        retry_after_ms: Some(150),
    });
    fake.push_rate_limit(30);
    fake.push_text("ok");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.attempts, 3);
    // 150 ms, then 30 s capped at max_backoff (2 s).
    assert!(r.latency_ms >= 2150, "{}", r.latency_ms);
    assert!(r.latency_ms < 6000, "{}", r.latency_ms);
}

#[tokio::test]
async fn rate_limits_exhausting_retries() {
    let (fake, llm) = start().await;
    for _ in 0..3 {
        fake.push(Reply::RateLimited {
            retry_after: None,
            retry_after_ms: Some(10),
        });
    }
    let err = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::RateLimited {
            retry_after_ms: Some(10)
        }
    );
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn server_errors_exhaust_retries_with_backoff() {
    let (fake, llm) = start().await;
    for _ in 0..3 {
        fake.push_server_error(500);
    }
    fake.push_text("never reached");
    let started = Instant::now();
    let err = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    let LlmError::Server { status, message } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 500);
    assert!(message.contains("The server had an error"), "{message}");
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.queued(), 1);
    // Backoff 20 ms then 40 ms.
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn a_server_error_then_success() {
    let (fake, llm) = start().await;
    fake.push_server_error(503);
    fake.push_text("fine now");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.content.as_deref(), Some("fine now"));
}

#[tokio::test]
async fn context_length_is_not_retried() {
    let (fake, llm) = start().await;
    fake.push_context_length();
    let err = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    let LlmError::ContextLength(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains("maximum context length"), "{message}");
    assert_eq!(err.code(), "context_length");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn refusals_and_empty_answers() {
    let (fake, llm) = start().await;
    fake.push_refusal("I'm sorry, I can't help with that.");
    fake.push(Reply::Empty);
    let req = common::request(vec![ChatMessage::user("hi")]);
    assert_eq!(
        llm.chat(&req).await.unwrap_err(),
        LlmError::Refusal("I'm sorry, I can't help with that.".into())
    );
    assert_eq!(
        llm.chat(&req).await.unwrap_err(),
        LlmError::InvalidResponse("empty answer".into())
    );
    // Neither is retried.
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let mut cfg = config(fake.base_url(), KEY);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 1;
    let llm = OpenAiChat::new(cfg).unwrap();
    fake.push_delayed(Duration::from_secs(3), Reply::text("too late"));
    fake.push_delayed(Duration::from_secs(3), Reply::text("too late"));
    let started = Instant::now();
    let err = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Timeout(300));
    assert_eq!(fake.requests().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(3));

    // A slow first attempt, then a quick answer.
    fake.push_delayed(Duration::from_secs(3), Reply::text("too late"));
    fake.push_text("quick");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!((r.attempts, r.content.as_deref()), (2, Some("quick")));
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_without_retries() {
    let (fake, _) = start().await;
    let wrong = OpenAiChat::new(config(fake.base_url(), "sk-wrong")).unwrap();
    let err = wrong
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    let LlmError::Auth(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains("Incorrect API key"), "{message}");
    let mut none = config(fake.base_url(), "");
    none.api_key = None;
    let none = OpenAiChat::new(none).unwrap();
    let err = none
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("authorization"), None);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401]
    );
}

#[tokio::test]
async fn usage_and_cost_come_from_the_answer_and_the_price_table() {
    let (fake, llm) = start().await;
    fake.fixed_usage(Some(Usage {
        input_tokens: 1200,
        output_tokens: 300,
    }));
    fake.push_text("hello");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 1200,
            output_tokens: 300
        }
    );
    let expected = (1200.0 * 0.15 + 300.0 * 0.6) / 1_000_000.0;
    assert!((r.cost_usd - expected).abs() < 1e-12, "{}", r.cost_usd);

    // Estimated usage grows with the prompt; an unlisted model costs 0.
    fake.fixed_usage(None);
    let short = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    let long = llm
        .chat(&common::request(vec![ChatMessage::user("hi ".repeat(400))]))
        .await
        .unwrap();
    assert!(short.usage.input_tokens > 0 && short.usage.output_tokens > 0);
    assert!(long.usage.input_tokens >= short.usage.input_tokens + 250);
    let mut other = common::request(vec![ChatMessage::user("hi")]);
    other.model = "llama3.1:8b".into();
    let r = llm.chat(&other).await.unwrap();
    assert_eq!(r.model, "llama3.1:8b");
    assert_eq!(r.cost_usd, 0.0);
    assert_eq!(fake.requests()[3].body["model"], "llama3.1:8b");
}

#[tokio::test]
async fn azure_style_base_urls_use_the_api_key_header() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let base = fake.azure_base_url("support-gpt4o");
    let llm = OpenAiChat::new(config(&base, KEY)).unwrap();
    assert!(
        llm.url()
            .ends_with("/openai/deployments/support-gpt4o/chat/completions?api-version=2024-10-21")
    );
    fake.push_text("hi from azure");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.content.as_deref(), Some("hi from azure"));
    let req = &fake.requests()[0];
    assert_eq!(
        req.path,
        "/openai/deployments/support-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(req.header("api-key"), Some(KEY));
    assert_eq!(req.header("authorization"), None);
    let wrong = OpenAiChat::new(config(&base, "nope")).unwrap();
    let err = wrong
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "auth");
}

#[tokio::test]
async fn malformed_conversations_are_rejected_like_openai_does() {
    let (fake, llm) = start().await;
    // A tool result that answers no call.
    let req = common::request(vec![
        ChatMessage::user("hi"),
        ChatMessage::tool_result("call_nope", "{}"),
    ]);
    let err = llm.chat(&req).await.unwrap_err();
    let LlmError::BadRequest {
        status: 400,
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(message.contains("role 'tool'"), "{message}");
    assert_eq!(fake.requests()[0].status, 400);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn built_from_settings_and_key_never_shown() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let llm = build("local", &fake.settings(), MODEL, &prices()).unwrap();
    assert_eq!((llm.provider(), llm.model()), ("openai", MODEL));
    fake.push_text("built");
    let r = llm
        .chat(&common::request(vec![ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(r.content.as_deref(), Some("built"));
    assert!(r.cost_usd > 0.0);
    let adapter = OpenAiChat::new(config(fake.base_url(), KEY)).unwrap();
    let shown = format!("{adapter:?} {:?}", config(fake.base_url(), KEY));
    assert!(!shown.contains(KEY), "{shown}");
}
