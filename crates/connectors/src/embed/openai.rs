//! OpenAI-compatible embeddings: `POST {base_url}/embeddings` with `Authorization: Bearer <key>`
//! (none for a local server without one), body `{model, input:[…], encoding_format:"float",
//! dimensions?}`; answer `{object:"list", data:[{object:"embedding", index, embedding:[…]}],
//! model, usage}`. Items are put back in `index` order and normalized to unit length; a count or
//! a length that does not match is an invalid answer. Retries (429, 5xx, timeouts) and error
//! bodies (`{"error":{"message","type","param","code"}}`) are the chat adapter's
//! ([`crate::llm`]'s transport).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support_core::embed::{EmbedError, Embedder, EmbedderSettings, normalize};
use support_core::llm::LlmError;

use crate::llm::openai::OpenAiWire;
use crate::llm::{LlmConfig, Transport};

/// An OpenAI-compatible embedding model.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    transport: Transport,
    url: String,
    dimensions: Option<usize>,
    /// The length seen in the last answer (or the one asked for).
    seen_dims: AtomicUsize,
    batch_size: usize,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

fn from_llm(e: LlmError) -> EmbedError {
    match e {
        LlmError::RateLimited { .. } => EmbedError::RateLimited,
        LlmError::Server { status, message } => EmbedError::Server { status, message },
        LlmError::Timeout(ms) => EmbedError::Timeout(ms),
        LlmError::Auth(m) => EmbedError::Auth(m),
        LlmError::BadRequest { status, message } => EmbedError::BadRequest { status, message },
        LlmError::ContextLength(m) => EmbedError::BadRequest {
            status: 400,
            message: m,
        },
        LlmError::Refusal(m) | LlmError::InvalidResponse(m) => EmbedError::InvalidResponse(m),
        LlmError::Transport(m) => EmbedError::Transport(m),
    }
}

impl OpenAiEmbedder {
    /// `model` at `base_url` (e.g. `https://api.openai.com/v1`), vectors of `dimensions` when
    /// given (sent as `dimensions`), `batch_size` texts per call.
    pub fn new(
        mut cfg: LlmConfig,
        dimensions: Option<usize>,
        batch_size: usize,
    ) -> Result<Self, EmbedError> {
        if cfg.model.trim().is_empty() {
            return Err(EmbedError::Load("kb.embedder.model is empty".into()));
        }
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(EmbedError::Load(
                "kb.embedder.base_url must start with http:// or https://".into(),
            ));
        }
        let url = format!("{}/embeddings", cfg.base_url.trim_end_matches('/'));
        cfg.base_url = url.clone();
        Ok(Self {
            transport: Transport::new(cfg).map_err(from_llm)?,
            url,
            dimensions,
            seen_dims: AtomicUsize::new(dimensions.unwrap_or(0)),
            batch_size: batch_size.max(1),
        })
    }

    /// From `kb.embedder`.
    pub fn from_settings(s: &EmbedderSettings) -> Result<Self, EmbedError> {
        let mut cfg = LlmConfig::new(s.base_url.clone(), s.api_key.clone(), s.model.clone());
        cfg.timeout = Duration::from_secs(s.timeout_secs.max(1));
        Self::new(cfg, s.dimensions, s.batch_size)
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut body = json!({
            "model": self.transport.cfg.model,
            "input": texts,
            "encoding_format": "float",
        });
        if let Some(d) = self.dimensions {
            body["dimensions"] = json!(d);
        }
        let key = self.transport.key().to_string();
        let (text, _attempts) = self
            .transport
            .send::<OpenAiWire>(&self.transport.cfg.model, || {
                let req = self.transport.http.post(&self.url).json(&body);
                if key.is_empty() {
                    req
                } else {
                    req.bearer_auth(&key)
                }
            })
            .await
            .map_err(from_llm)?;
        let answer: Answer = serde_json::from_str(&text)
            .map_err(|e| EmbedError::InvalidResponse(format!("embeddings answer: {e}")))?;
        if answer.data.len() != texts.len() {
            return Err(EmbedError::InvalidResponse(format!(
                "{} embeddings for {} inputs",
                answer.data.len(),
                texts.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in answer.data {
            let slot = out.get_mut(item.index).ok_or_else(|| {
                EmbedError::InvalidResponse(format!("embedding index {} out of range", item.index))
            })?;
            *slot = Some(item.embedding);
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for v in out {
            let mut v =
                v.ok_or_else(|| EmbedError::InvalidResponse("an index was repeated".into()))?;
            let want = self.seen_dims.load(Ordering::Relaxed);
            if v.is_empty() || (want != 0 && v.len() != want) {
                return Err(EmbedError::InvalidResponse(format!(
                    "an embedding of {} floats where {want} were expected",
                    v.len()
                )));
            }
            self.seen_dims.store(v.len(), Ordering::Relaxed);
            normalize(&mut v);
            vectors.push(v);
        }
        Ok(vectors)
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.transport.cfg.model
    }

    fn dimensions(&self) -> usize {
        self.seen_dims.load(Ordering::Relaxed)
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            out.extend(self.embed_batch(batch).await?);
        }
        Ok(out)
    }
}
