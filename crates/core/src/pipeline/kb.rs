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

/// How many hits a `searchKnowledge` call asks for: its `limit`, 3 by default.
pub fn search_limit(call: &super::tools::ToolCall) -> usize {
    call.params
        .get("limit")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(3)
}

/// A `searchKnowledge` answer as the platform gives it: the best `limit` chunks of `app`'s
/// public articles in `kb` (a customer's scope; internal articles never reach a draft).
pub async fn search_public(
    kb: &dyn crate::knowledge::Retriever,
    app: &str,
    query: &str,
    limit: usize,
) -> Result<Vec<KbHit>, super::tools::ToolError> {
    Ok(kb
        .search(app, query, limit, crate::knowledge::Visibility::Public)
        .await
        .map_err(|e| super::tools::ToolError::Failed(e.to_string()))?
        .into_iter()
        .map(KbHit::from)
        .collect())
}
