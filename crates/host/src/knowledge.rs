//! The knowledge base the settings describe (`kb.backend`, `kb.embedder`):
//! - `embedded` without an embedder (`kb.embedder.kind = "none"`, or `auto` in a build without
//!   the local model or with its files missing): tantivy alone (`LexicalIndex`);
//! - `embedded` with an embedder: `HybridRetriever` (tantivy + in-process dense, RRF k = 60);
//! - `upstash`: `UpstashRetriever` (Upstash Vector's hybrid index, our dense and sparse
//!   vectors, RRF), which needs an embedder; a shared index, not rebuilt on revision changes.
//!
//! The embedded hybrid retriever keeps its chunk vectors in the store too (`chunk_vectors`,
//! keyed by model, dimensions and text hash), so a restart or another instance embeds only
//! chunks it has not seen; the Upstash retriever takes its writes' and reindexes' vectors from
//! there too.
//!
//! `skill dev`, `skill serve`, the standalone binaries, `skill kb …` and the test harness all
//! build it here, so they search the same way.

use std::sync::Arc;

use support_core::embed::{KbBackend, KbSettings};
use support_core::knowledge::Retriever;
use support_core::store::{ChunkVectorStore, Store};
use support_knowledge::{HybridRetriever, KnowledgeBase, LexicalIndex};

use crate::HostError;

/// What [`knowledge_base`] chose, for logs and `skill kb eval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// `lexical`, `hybrid` or `upstash`.
    pub retriever: &'static str,
    /// The embedding model, if any.
    pub embedder: Option<String>,
}

/// The retriever `kb` describes, and what it is; a dense one (hybrid, Upstash) looks chunk
/// vectors up in (and stores new ones in) `vectors` when given.
pub fn retriever(
    kb: &KbSettings,
    vectors: Option<Arc<dyn ChunkVectorStore>>,
) -> Result<(Arc<dyn Retriever>, Chosen), HostError> {
    let embedder = support_connectors::embed::build(&kb.embedder)
        .map_err(|e| HostError::Io(format!("kb.embedder: {e}")))?;
    let model = embedder.as_ref().map(|e| e.model().to_string());
    match (kb.backend, embedder) {
        (KbBackend::Embedded, None) => Ok((
            Arc::new(LexicalIndex::new().map_err(|e| HostError::Io(e.to_string()))?),
            Chosen {
                retriever: "lexical",
                embedder: None,
            },
        )),
        (KbBackend::Embedded, Some(e)) => Ok((
            Arc::new(
                match vectors {
                    Some(v) => HybridRetriever::with_vectors(e, v),
                    None => HybridRetriever::new(e),
                }
                .map_err(|e| HostError::Io(e.to_string()))?,
            ),
            Chosen {
                retriever: "hybrid",
                embedder: model,
            },
        )),
        (KbBackend::Upstash, None) => Err(HostError::Io(
            "kb.backend = \"upstash\" needs an embedder (kb.embedder.kind = \"local\" or \"openai\")"
                .into(),
        )),
        (KbBackend::Upstash, Some(e)) => {
            let client = support_connectors::upstash::UpstashVector::from_settings(&kb.upstash)
                .map_err(|e| HostError::Io(format!("kb.upstash: {e}")))?;
            Ok((
                Arc::new(match vectors {
                    Some(v) => {
                        support_connectors::upstash::UpstashRetriever::new(client, e).with_vectors(v)
                    }
                    None => support_connectors::upstash::UpstashRetriever::new(client, e),
                }),
                Chosen {
                    retriever: "upstash",
                    embedder: model,
                },
            ))
        }
    }
}

/// The knowledge base over `store` with the retriever `kb` describes.
pub fn knowledge_base(
    store: Arc<dyn Store>,
    kb: &KbSettings,
) -> Result<(KnowledgeBase, Chosen), HostError> {
    let vectors: Arc<dyn ChunkVectorStore> = store.clone();
    let (index, chosen) = retriever(kb, Some(vectors))?;
    let base = if kb.backend == KbBackend::Upstash {
        KnowledgeBase::shared(store, index)
    } else {
        KnowledgeBase::new(store, index)
    };
    Ok((base, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use support_core::embed::EmbedderKind;
    use support_core::settings::Secret;

    fn openai(kb: &mut KbSettings) {
        kb.embedder.kind = EmbedderKind::Openai;
        kb.embedder.base_url = "http://127.0.0.1:9/v1".into();
        kb.embedder.api_key = Some(Secret::new("sk-test".to_string()));
        kb.embedder.model = "text-embedding-3-small".into();
    }

    #[test]
    fn settings_choose_the_retriever() {
        let mut kb = KbSettings::default();
        kb.embedder.kind = EmbedderKind::None;
        assert_eq!(
            retriever(&kb, None).map(|r| r.1.retriever).ok(),
            Some("lexical")
        );

        openai(&mut kb);
        let chosen = retriever(&kb, None).map(|r| r.1).ok();
        assert_eq!(
            chosen,
            Some(Chosen {
                retriever: "hybrid",
                embedder: Some("text-embedding-3-small".into())
            })
        );

        kb.backend = KbBackend::Upstash;
        let err = retriever(&kb, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("kb.upstash"), "{err}");
        kb.upstash.url = "http://127.0.0.1:9".into();
        kb.upstash.token = Some(Secret::new("t".to_string()));
        assert_eq!(
            retriever(&kb, None).map(|r| r.1.retriever).ok(),
            Some("upstash")
        );

        kb.embedder.kind = EmbedderKind::None;
        let err = retriever(&kb, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("needs an embedder"), "{err}");
    }
}
