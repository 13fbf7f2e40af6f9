//! The dense and hybrid retrievers behind core's `Retriever` port, and the retrieval eval, with a
//! deterministic in-test embedder (hashed bag of words: texts sharing words are close).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use support_core::embed::{EmbedError, Embedder, normalize};
use support_core::knowledge::{Retriever, Visibility};
use support_core::store::ArticleChunkRow;
use support_knowledge::eval;
use support_knowledge::{DenseRetriever, HybridRetriever, LexicalIndex};

const DIMS: usize = 256;

/// Hashed words; `fail` makes every call an error.
#[derive(Default)]
struct BagOfWords {
    fail: AtomicBool,
}

fn bag(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMS];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let mut h: u32 = 0x811c_9dc5;
        for b in w.to_lowercase().bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        v[h as usize % DIMS] += 1.0;
    }
    normalize(&mut v);
    v
}

#[async_trait]
impl Embedder for BagOfWords {
    fn model(&self) -> &str {
        "bag-of-words"
    }
    fn dimensions(&self) -> usize {
        DIMS
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(EmbedError::Server {
                status: 503,
                message: "down".into(),
            });
        }
        Ok(texts.iter().map(|t| bag(t)).collect())
    }
}

fn chunk(id: &str, article: &str, app: &str, text: &str, vis: Visibility) -> ArticleChunkRow {
    ArticleChunkRow {
        id: id.into(),
        article_id: article.into(),
        version: 1,
        app: app.into(),
        ordinal: 0,
        title: article.into(),
        heading: String::new(),
        text: text.into(),
        visibility: vis,
    }
}

fn corpus() -> Vec<ArticleChunkRow> {
    vec![
        chunk(
            "1",
            "refunds",
            "x",
            "Refunds are available within 30 days of purchase.",
            Visibility::Public,
        ),
        chunk(
            "2",
            "offline",
            "x",
            "Videos can be downloaded for offline viewing from the lesson page.",
            Visibility::Public,
        ),
        chunk(
            "3",
            "login",
            "x",
            "Login links expire after 24 hours and can be used once.",
            Visibility::Public,
        ),
        chunk(
            "4",
            "approvals",
            "x",
            "Internal: refunds over 500 dollars need two approvers.",
            Visibility::Internal,
        ),
        chunk(
            "5",
            "offline-y",
            "y",
            "Videos downloaded offline viewing lesson page in app y.",
            Visibility::Public,
        ),
    ]
}

fn ids(hits: &[support_core::knowledge::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.chunk_id.as_str()).collect()
}

#[tokio::test]
async fn dense_filters_by_app_and_visibility_and_keeps_current_versions() {
    let dense = DenseRetriever::new(Arc::new(BagOfWords::default()));
    dense.rebuild(&corpus()).await.expect("rebuild");
    assert_eq!(dense.len(), 5);
    let hits = dense
        .search("x", "videos offline lesson", 5, Visibility::Public)
        .await
        .expect("search");
    assert_eq!(hits[0].chunk_id, "2");
    assert_eq!(hits[0].title, "offline");
    assert!(!ids(&hits).contains(&"5"), "another app's chunk");
    assert!(
        !ids(&hits).contains(&"4"),
        "an internal chunk for a customer"
    );
    let internal = dense
        .search("x", "refunds over 500 dollars", 5, Visibility::Internal)
        .await
        .expect("search");
    assert_eq!(internal[0].chunk_id, "4");

    // A new version replaces every chunk of its article; a removal drops them.
    let mut v2 = chunk(
        "6",
        "offline",
        "x",
        "Offline viewing is no longer offered.",
        Visibility::Public,
    );
    v2.version = 2;
    dense.index_article("offline", &[v2]).await.expect("index");
    let hits = dense
        .search("x", "videos offline lesson", 5, Visibility::Public)
        .await
        .expect("search");
    assert!(!ids(&hits).contains(&"2"));
    assert_eq!(
        hits.iter()
            .find(|h| h.article_id == "offline")
            .map(|h| (h.chunk_id.as_str(), h.version)),
        Some(("6", 2))
    );
    dense.index_article("offline", &[]).await.expect("remove");
    let hits = dense
        .search("x", "offline", 5, Visibility::Internal)
        .await
        .expect("search");
    assert!(hits.iter().all(|h| h.article_id != "offline"));
    assert_eq!(dense.len(), 4);
}

#[tokio::test]
async fn hybrid_fuses_by_rrf_and_reads_around_a_failing_embedder() {
    let embedder = Arc::new(BagOfWords::default());
    let hybrid = HybridRetriever::new(embedder.clone()).expect("hybrid");
    hybrid.rebuild(&corpus()).await.expect("rebuild");
    let hits = hybrid
        .search("x", "can I download the videos?", 3, Visibility::Public)
        .await
        .expect("search");
    assert_eq!(hits[0].chunk_id, "2");
    assert!(hits.iter().all(|h| h.chunk_id != "5" && h.chunk_id != "4"));
    // The score is the fused one: found first by both sides, 2 / 61.
    assert!(
        (hits[0].score - 2.0 / 61.0).abs() < 1e-9,
        "{}",
        hits[0].score
    );

    // The fusion itself: an id ranked by both beats ids ranked by one.
    let h = |id: &str| support_core::knowledge::Hit {
        chunk_id: id.into(),
        article_id: id.into(),
        version: 1,
        title: String::new(),
        heading: String::new(),
        text: String::new(),
        score: 0.0,
    };
    let fused = HybridRetriever::fuse(vec![h("a"), h("b")], vec![h("c"), h("b")], 3);
    assert_eq!(ids(&fused), ["b", "a", "c"]);

    // The embedder fails: queries are answered lexically; a write (already in the store)
    // reaches tantivy and the index falls back to it until a rebuild embeds again.
    embedder.fail.store(true, Ordering::SeqCst);
    let hits = hybrid
        .search("x", "login link expired", 2, Visibility::Public)
        .await
        .expect("lexical answers");
    assert_eq!(hits[0].chunk_id, "3");
    hybrid
        .index_article(
            "login",
            &[chunk(
                "7",
                "login",
                "x",
                "Sign in with a code.",
                Visibility::Public,
            )],
        )
        .await
        .expect("the write falls back to tantivy");
    assert_eq!(hybrid.status().mode(), "lexical_fallback");
    assert!(hybrid.dense().is_empty(), "no outdated vectors kept");
    let hits = hybrid
        .search("x", "code", 5, Visibility::Public)
        .await
        .expect("search");
    assert_eq!(ids(&hits), ["7"]);
    embedder.fail.store(false, Ordering::SeqCst);
    hybrid.rebuild(&corpus()).await.expect("rebuild");
    assert_eq!(hybrid.status().mode(), "ok");
    let hits = hybrid
        .search("x", "login link expired", 2, Visibility::Public)
        .await
        .expect("search");
    assert_eq!(hits[0].chunk_id, "3");
}

#[tokio::test]
async fn a_rebuild_the_embedder_fails_falls_back_to_tantivy_until_one_embeds_again() {
    let embedder = Arc::new(BagOfWords::default());
    let hybrid = HybridRetriever::new(embedder.clone()).expect("hybrid");
    hybrid.rebuild(&corpus()).await.expect("rebuild");
    assert_eq!(hybrid.status().mode(), "ok");
    assert_eq!(hybrid.dense().len(), corpus().len());

    // The embedder is down during a rebuild: no error, tantivy alone, the status says why.
    embedder.fail.store(true, Ordering::SeqCst);
    hybrid
        .rebuild(&corpus())
        .await
        .expect("a failing embedder does not fail the rebuild");
    let status = hybrid.status();
    assert_eq!(status.mode(), "lexical_fallback");
    assert!(
        status
            .lexical_fallback
            .as_deref()
            .unwrap_or_default()
            .contains("down"),
        "{status:?}"
    );
    assert!(hybrid.is_lexical_fallback());
    assert!(hybrid.dense().is_empty(), "no outdated vectors kept");
    let lexical = hybrid
        .lexical()
        .search_now("x", "login link expired", 2, Visibility::Public)
        .expect("lexical");
    let hits = hybrid
        .search("x", "login link expired", 2, Visibility::Public)
        .await
        .expect("lexical answers");
    assert_eq!(ids(&hits), ids(&lexical), "the lexical ranking, as is");
    // A write meanwhile is indexed lexically (the embedder is not asked).
    hybrid
        .index_article(
            "login",
            &[chunk(
                "7",
                "login",
                "x",
                "Sign in with a code.",
                Visibility::Public,
            )],
        )
        .await
        .expect("lexical write");
    let hits = hybrid
        .search("x", "code", 5, Visibility::Public)
        .await
        .expect("search");
    assert_eq!(ids(&hits), ["7"]);

    // The embedder is back: the next rebuild is hybrid again.
    embedder.fail.store(false, Ordering::SeqCst);
    hybrid.rebuild(&corpus()).await.expect("rebuild");
    assert_eq!(hybrid.status().mode(), "ok");
    assert_eq!(hybrid.dense().len(), corpus().len());
}

fn demo_set() -> eval::EvalSet {
    eval::load(
        Path::new(support_knowledge::demo::DIR),
        Path::new(support_knowledge::demo::QUESTIONS),
    )
    .expect("demo eval set")
}

#[tokio::test]
async fn eval_scores_every_retriever_on_the_demo_set() {
    let set = demo_set();
    assert_eq!(set.articles, 300);
    assert!(set.questions.len() >= 150, "{}", set.questions.len());
    for q in &set.questions {
        let want = eval::expected_id(q);
        assert!(
            set.chunks.iter().any(|c| c.article_id == want),
            "{}: no article {want}",
            q.question
        );
    }
    let lexical = Arc::new(LexicalIndex::new().expect("index"));
    let rows = eval::run(lexical.as_ref(), &set).await.expect("lexical");
    let all = &rows[0];
    assert_eq!((all.set.as_str(), all.n), ("all", set.questions.len()));
    assert!(all.recall_at_1 <= all.recall_at_5 && all.recall_at_5 <= 1.0);
    assert!(all.mrr >= all.recall_at_1 && all.mrr <= all.recall_at_5);
    // tantivy on this set (docs/eval/kb.md): well above chance (1 in 100 articles).
    assert!(
        all.recall_at_5 > 0.7,
        "lexical recall@5 {}",
        all.recall_at_5
    );
    assert!(rows.iter().any(|r| r.set == "split:test"));
    assert!(rows.iter().any(|r| r.set == "kind:foreign"));

    // Dense and hybrid run through the same scoring (the toy embedder's figures mean nothing).
    let dense = Arc::new(DenseRetriever::new(Arc::new(BagOfWords::default())));
    let dense_rows = eval::run(dense.as_ref(), &set).await.expect("dense");
    assert_eq!(dense_rows[0].n, set.questions.len());
    let hybrid = HybridRetriever::from_parts(lexical, dense);
    let ranks = eval::ranks(&hybrid, &set.questions).await.expect("hybrid");
    let hybrid_rows = eval::score(&set.questions, &ranks);
    assert_eq!(hybrid_rows[0].n, set.questions.len());
    assert!(hybrid_rows[0].recall_at_5 > 0.5);
}
