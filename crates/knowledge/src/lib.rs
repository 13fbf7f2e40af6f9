//! The knowledge base's adapters (issue 15): [`lexical::LexicalIndex`], core's
//! [`Retriever`](support_core::knowledge::Retriever) port on tantivy (in RAM, rebuilt from the
//! store at start-up and kept in step on writes), [`import`] (markdown with front matter and
//! HTML, parsed into article versions; one transaction per import), and [`KnowledgeBase`], the one
//! write path (store, then index) the CLI, the API, the dashboard and the demo share.
//!
//! tantivy lives here, not in `core`, so `core` stays lean.

pub mod demo;
pub mod import;
pub mod lexical;
mod service;

pub use service::{KnowledgeBase, KnowledgeError};
