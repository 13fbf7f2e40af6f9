//! The knowledge base's adapters (issue 15): [`lexical::LexicalIndex`], core's
//! [`Retriever`](support_core::knowledge::Retriever) port on tantivy (in RAM, rebuilt from the
//! store at start-up and kept in step on writes), [`import`] (markdown with front matter and
//! HTML, parsed into article versions; one transaction per import), and [`KnowledgeBase`], the one
//! write path (store, then index) the CLI, the API, the dashboard and the demo share.
//! [`DenseRetriever`] (an embedder + core's `DenseIndex`) and [`HybridRetriever`] (tantivy +
//! dense, fused by RRF k = 60) sit behind the same port; [`eval`] scores them (`skill kb eval`).
//!
//! tantivy lives here, not in `core`, so `core` stays lean.

pub mod canned;
pub mod demo;
pub mod dense;
pub mod eval;
pub mod hybrid;
pub mod import;
pub mod lexical;
mod service;

pub use dense::DenseRetriever;
pub use hybrid::HybridRetriever;
pub use lexical::LexicalIndex;

pub use service::{KnowledgeBase, KnowledgeError};
