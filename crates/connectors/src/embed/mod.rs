//! Embedders behind core's [`Embedder`] port: [`openai::OpenAiEmbedder`] (an OpenAI-compatible
//! `POST {base_url}/embeddings`: OpenAI, Ollama, llama.cpp) and, with the cargo feature
//! `local-embed`, [`local::LocalEmbedder`] (all-MiniLM-L6-v2 run in-process with candle),
//! and [`build`], the factory from `kb.embedder`.

#[cfg(feature = "local-embed")]
pub mod local;
pub mod openai;

use std::path::PathBuf;
use std::sync::Arc;
use support_core::embed::{EmbedError, Embedder, EmbedderKind, EmbedderSettings};

/// Where `cargo xtask fetch-embed-model` unpacks the local model when `kb.embedder.model_dir`
/// is not set: `$XDG_CACHE_HOME/support/all-minilm-l6-v2` (else `$HOME/.cache/…`).
pub fn default_model_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("support").join("all-minilm-l6-v2")
}

/// Whether this build can run the local model (`local-embed`).
pub const LOCAL_EMBED: bool = cfg!(feature = "local-embed");

/// The embedder `settings` describe; `None` for `kind = "none"` (lexical only).
pub fn build(settings: &EmbedderSettings) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    match settings.kind {
        EmbedderKind::None => Ok(None),
        EmbedderKind::Auto => {
            let dir = settings.model_dir.clone().unwrap_or_else(default_model_dir);
            if LOCAL_EMBED && dir.join("model.safetensors").exists() {
                local_embedder(settings)
            } else {
                tracing::info!(
                    local_embed = LOCAL_EMBED,
                    "kb.embedder: no local model in this build or on disk; lexical retrieval only"
                );
                Ok(None)
            }
        }
        EmbedderKind::Openai => Ok(Some(Arc::new(openai::OpenAiEmbedder::from_settings(
            settings,
        )?))),
        EmbedderKind::Local => local_embedder(settings),
    }
}

#[cfg(feature = "local-embed")]
fn local_embedder(settings: &EmbedderSettings) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    let dir = settings.model_dir.clone().unwrap_or_else(default_model_dir);
    Ok(Some(Arc::new(local::LocalEmbedder::load(&dir)?)))
}

#[cfg(not(feature = "local-embed"))]
fn local_embedder(_: &EmbedderSettings) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    Err(EmbedError::Load(
        "kb.embedder.kind = \"local\" needs a build with the cargo feature `local-embed`".into(),
    ))
}
