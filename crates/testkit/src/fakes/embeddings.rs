//! A fake of OpenAI's embeddings API (`POST /v1/embeddings`), for the OpenAI-compatible
//! embedder's tests. `Authorization: Bearer <key>`; body `{model, input: string | [string],
//! encoding_format?: "float", dimensions?}`; answer `{object:"list", data:[{object:"embedding",
//! index, embedding}], model, usage:{prompt_tokens, total_tokens}}`. Errors are OpenAI's
//! `{"error":{"message","type","param","code"}}`: 401 `invalid_api_key`, 400
//! `invalid_request_error` for a missing model or input, an empty string or `encoding_format`
//! other than `float`, 404 `model_not_found` for a model other than the configured one.
//!
//! The vectors are deterministic bags of hashed words (so texts sharing words are close), not
//! unit length (the client normalizes). [`FakeEmbeddings::fail_next`] scripts error answers.

use super::{lock, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Value>,
    failures: VecDeque<(u16, Value)>,
}

/// The fake server.
#[derive(Clone, Debug)]
pub struct FakeEmbeddings {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct Ctx {
    key: String,
    model: String,
    dims: usize,
    inner: Arc<Mutex<Inner>>,
}

/// The fake's vector of `text`: each lowercase word adds 1 at two hashed positions (FNV-1a).
pub fn fake_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u32 = 0x811c_9dc5;
        for b in word.to_lowercase().bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        v[h as usize % dims] += 1.0;
        v[(h >> 16) as usize % dims] += 0.5;
    }
    v
}

fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

fn reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn embeddings(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&ctx.inner).requests.push(parsed.clone());
    if auth != format!("Bearer {}", ctx.key) {
        let (s, b) = error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        );
        return reply(s, b);
    }
    if let Some((s, b)) = lock(&ctx.inner).failures.pop_front() {
        return reply(s, b);
    }
    let Some(model) = parsed.get("model").and_then(Value::as_str) else {
        let (s, b) = error(
            400,
            "invalid_request_error",
            None,
            "you must provide a model parameter",
        );
        return reply(s, b);
    };
    if model != ctx.model {
        let (s, b) = error(
            404,
            "invalid_request_error",
            Some("model_not_found"),
            &format!("The model `{model}` does not exist or you do not have access to it."),
        );
        return reply(s, b);
    }
    if let Some(f) = parsed.get("encoding_format")
        && f != "float"
    {
        let (s, b) = error(
            400,
            "invalid_request_error",
            None,
            "unsupported encoding_format",
        );
        return reply(s, b);
    }
    let inputs: Vec<String> = match parsed.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => {
            let (s, b) = error(
                400,
                "invalid_request_error",
                None,
                "'input' must be a string or a non-empty array of strings",
            );
            return reply(s, b);
        }
    };
    if inputs.iter().any(String::is_empty) {
        let (s, b) = error(
            400,
            "invalid_request_error",
            None,
            "'input' cannot contain an empty string",
        );
        return reply(s, b);
    }
    let dims = parsed
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(ctx.dims, |d| d as usize);
    let tokens: usize = inputs.iter().map(|t| t.len().div_ceil(4)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}))
        .collect();
    reply(
        200,
        json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

impl FakeEmbeddings {
    /// Starts on a free port; accepts only `api_key` and `model`, answers vectors of `dims`.
    pub async fn start(api_key: &str, model: &str, dims: usize) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let ctx = Ctx {
            key: api_key.to_string(),
            model: model.to_string(),
            dims,
            inner: inner.clone(),
        };
        let app = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(ctx);
        let url = serve(app).await?;
        Ok(Self {
            base_url: format!("{url}/v1"),
            inner,
        })
    }

    /// Every request body seen, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.inner).requests.clone()
    }

    /// The next authorized request is answered with `status` and OpenAI's error body.
    pub fn fail_next(&self, status: u16, kind: &str, message: &str) {
        lock(&self.inner)
            .failures
            .push_back(error(status, kind, None, message));
    }

    /// The next authorized request is answered with `status` and exactly `body`.
    pub fn answer_next(&self, status: u16, body: Value) {
        lock(&self.inner).failures.push_back((status, body));
    }
}
