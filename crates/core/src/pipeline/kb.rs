//! A knowledge search hit as the agent's `searchKnowledge` tool returns it. The search itself
//! is behind core's [`crate::knowledge::Retriever`] port (tantivy, dense, hybrid or Upstash
//! Vector, in `support-knowledge` and the connectors); core ranks nothing itself.

use serde::{Deserialize, Serialize};

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbHit {
    pub id: String,
    pub document_id: String,
    pub text: String,
    pub score: f64,
    /// The article and version the chunk belongs to (absent for hits from before articles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl From<crate::knowledge::Hit> for KbHit {
    fn from(h: crate::knowledge::Hit) -> Self {
        KbHit {
            id: h.chunk_id,
            document_id: h.article_id.clone(),
            text: h.text,
            score: h.score,
            article_id: Some(h.article_id),
            version: Some(h.version),
        }
    }
}
