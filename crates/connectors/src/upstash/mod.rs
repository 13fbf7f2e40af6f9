//! Upstash Vector's REST API for a hybrid index (dense + sparse), the `kb.backend = "upstash"`
//! retrieval backend. `POST {url}/{op}/{namespace}` with `Authorization: Bearer <token>`; a
//! success is `{"result": …}`, an error `{"error": "…", "status": 4xx}`.
//!
//! - `/upsert/{ns}` `[{id, vector, sparseVector:{indices, values}, metadata, data}]` (a hybrid
//!   index needs both vectors) → `"Success"`;
//! - `/query/{ns}` `{vector, sparseVector, topK, includeMetadata, includeData, filter,
//!   queryMode:"HYBRID"|"DENSE"|"SPARSE", fusionAlgorithm:"RRF"|"DBSF"}` → `[{id, score,
//!   metadata?, data?}]`;
//! - `/delete/{ns}` `{"prefix": …}` or `[ids]` → `{"deleted": n}`; `/reset/{ns}` → `"Success"`;
//!   `/info` → the index's dimension, counts and namespaces.
//!
//! The token never appears in logs or `Debug`.

mod retriever;
pub use retriever::{UpstashRetriever, vector_id};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use support_core::settings::Secret;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstashError {
    /// The API answered with its error body.
    #[error("upstash vector {status}: {message}")]
    Api { status: u16, message: String },
    #[error("upstash vector transport: {0}")]
    Transport(String),
    #[error("upstash vector answer could not be read: {0}")]
    InvalidResponse(String),
    #[error("upstash vector: {0}")]
    Config(String),
}

/// A sparse vector: sorted, distinct indices and their weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// One vector to upsert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertVector {
    pub id: String,
    pub vector: Vec<f32>,
    pub sparse_vector: SparseVector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// How a hybrid index is queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QueryMode {
    Hybrid,
    Dense,
    Sparse,
}

/// A query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse_vector: Option<SparseVector>,
    pub top_k: usize,
    pub include_metadata: bool,
    pub include_data: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter: String,
    pub query_mode: QueryMode,
    /// `RRF` (reciprocal rank fusion, k = 60) for hybrid queries.
    pub fusion_algorithm: &'static str,
}

/// One match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Match {
    pub id: String,
    pub score: f64,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub data: Option<String>,
}

/// The client of one index.
pub struct UpstashVector {
    http: reqwest::Client,
    url: String,
    token: Secret,
}

impl std::fmt::Debug for UpstashVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstashVector")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl UpstashVector {
    pub fn new(url: &str, token: Secret, timeout: Duration) -> Result<Self, UpstashError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(UpstashError::Config(
                "kb.upstash.url must start with https://".into(),
            ));
        }
        crate::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstashError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            http,
            url: url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// From `kb.upstash`.
    pub fn from_settings(s: &support_core::embed::UpstashSettings) -> Result<Self, UpstashError> {
        let token = s
            .token
            .clone()
            .ok_or_else(|| UpstashError::Config("kb.upstash.token is not set".into()))?;
        Self::new(&s.url, token, Duration::from_secs(s.timeout_secs.max(1)))
    }

    fn path(op: &str, namespace: &str) -> String {
        if namespace.is_empty() {
            format!("/{op}")
        } else {
            format!("/{op}/{namespace}")
        }
    }

    /// POSTs `body` to `path` and returns `result`.
    pub async fn call(&self, path: &str, body: &Value) -> Result<Value, UpstashError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| UpstashError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| UpstashError::Transport(e.without_url().to_string()))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) || v.get("error").is_some() {
            let message = v
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| text.chars().take(300).collect(), str::to_string);
            let status = v
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(status);
            tracing::warn!(path, status, "upstash vector call failed");
            return Err(UpstashError::Api { status, message });
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| UpstashError::InvalidResponse("no `result`".into()))
    }

    /// Upserts `vectors` into `namespace` (batches of 100).
    pub async fn upsert(
        &self,
        namespace: &str,
        vectors: &[UpsertVector],
    ) -> Result<(), UpstashError> {
        for batch in vectors.chunks(100) {
            let body = serde_json::to_value(batch)
                .map_err(|e| UpstashError::InvalidResponse(e.to_string()))?;
            self.call(&Self::path("upsert", namespace), &body).await?;
        }
        Ok(())
    }

    /// Runs `query` in `namespace`.
    pub async fn query(&self, namespace: &str, query: &Query) -> Result<Vec<Match>, UpstashError> {
        let body = serde_json::to_value(query)
            .map_err(|e| UpstashError::InvalidResponse(e.to_string()))?;
        let result = self.call(&Self::path("query", namespace), &body).await?;
        serde_json::from_value(result).map_err(|e| UpstashError::InvalidResponse(e.to_string()))
    }

    /// Deletes the vectors whose id starts with `prefix`; how many went.
    pub async fn delete_prefix(&self, namespace: &str, prefix: &str) -> Result<u64, UpstashError> {
        let result = self
            .call(
                &Self::path("delete", namespace),
                &json!({ "prefix": prefix }),
            )
            .await?;
        Ok(result.get("deleted").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Deletes everything in `namespace`.
    pub async fn reset(&self, namespace: &str) -> Result<(), UpstashError> {
        self.call(&Self::path("reset", namespace), &Value::Null)
            .await
            .map(|_| ())
    }

    /// The index's dimension and the vector count of each namespace.
    pub async fn info(&self) -> Result<(usize, HashMap<String, u64>), UpstashError> {
        let r = self.call("/info", &Value::Null).await?;
        let dims = r.get("dimension").and_then(Value::as_u64).unwrap_or(0) as usize;
        let namespaces = r
            .get("namespaces")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.get("vectorCount").and_then(Value::as_u64).unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((dims, namespaces))
    }
}
