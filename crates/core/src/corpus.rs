//! The texts replies are built from, as the pipeline reads them: knowledge chunks ([`KbChunk`])
//! and canned responses ([`CannedResponse`]).
//!
//! A neutral module: the store persists these types ([`crate::store::KnowledgeStore`]) and the
//! pipeline reads them, and it imports neither, so `pipeline` never depends on `store`.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One chunk of the knowledge base, as retrieval and the agent read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbChunk {
    pub id: String,
    pub document_id: String,
    pub app: String,
    pub ordinal: i64,
    pub text: String,
}

/// A canned response: a trigger the router matches and the template it answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedResponse {
    pub id: String,
    pub app: Option<String>,
    pub name: String,
    /// A pattern the router matches the inbound message against.
    pub trigger: String,
    /// A `{{var}}` template.
    pub body: String,
    pub updated_at: Millis,
}
