//! `UpstashRetriever` (core's retrieval port on Upstash Vector) against the test kit's fake,
//! which speaks Upstash's wire format and error bodies: a namespace per app, our dense and
//! sparse vectors, hybrid queries fused by RRF, the visibility filter, current versions only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use support_connectors::upstash::{UpstashRetriever, UpstashVector, vector_id};
use support_core::embed::{EmbedError, Embedder, normalize};
use support_core::knowledge::{RetrieveError, Retriever, Visibility};
use support_core::settings::Secret;
use support_core::store::ArticleChunkRow;
use support_testkit::fakes::FakeUpstashVector;

const DIMS: usize = 32;
const TOKEN: &str = "upstash-test-token";

/// Hashed words, so texts sharing words are close.
struct Bag(usize);

#[async_trait]
impl Embedder for Bag {
    fn model(&self) -> &str {
        "bag"
    }
    fn dimensions(&self) -> usize {
        self.0
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.0];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 2)
                {
                    let h = w.to_lowercase().bytes().fold(0x811c_9dc5u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
                    });
                    v[h as usize % self.0] += 1.0;
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}

fn chunk(id: &str, article: &str, app: &str, text: &str, vis: Visibility) -> ArticleChunkRow {
    ArticleChunkRow {
        id: id.into(),
        article_id: article.into(),
        version: 1,
        app: app.into(),
        ordinal: 0,
        title: format!("About {article}"),
        heading: String::new(),
        text: text.into(),
        visibility: vis,
    }
}

fn client(url: &str, token: &str) -> UpstashVector {
    UpstashVector::new(url, Secret::new(token.to_string()), Duration::from_secs(5)).unwrap()
}

fn retriever(url: &str, token: &str, dims: usize) -> UpstashRetriever {
    UpstashRetriever::new(client(url, token), Arc::new(Bag(dims)))
}

fn corpus() -> Vec<ArticleChunkRow> {
    vec![
        chunk(
            "c1",
            "refunds",
            "x",
            "Refunds are available within 30 days of purchase.",
            Visibility::Public,
        ),
        chunk(
            "c2",
            "offline",
            "x",
            "Videos can be downloaded for offline viewing.",
            Visibility::Public,
        ),
        chunk(
            "c3",
            "approvals",
            "x",
            "Internal: refunds over 500 dollars need two approvers.",
            Visibility::Internal,
        ),
        chunk(
            "c4",
            "refunds-y",
            "y",
            "Refunds in app y take 14 days.",
            Visibility::Public,
        ),
    ]
}

#[tokio::test]
async fn indexes_per_app_and_queries_hybrid_with_rrf_and_the_visibility_filter() {
    let fake = FakeUpstashVector::start(TOKEN, DIMS).await.unwrap();
    let r = retriever(&fake.url, TOKEN, DIMS);
    r.rebuild(&corpus()).await.unwrap();
    assert_eq!(
        fake.ids("x"),
        ["approvals#c3", "offline#c2", "refunds#c1"],
        "one namespace per app, ids by article"
    );
    assert_eq!(fake.ids("y"), [vector_id("refunds-y", "c4")]);
    assert_eq!(
        fake.metadata("x", "refunds#c1").unwrap(),
        json!({"article_id": "refunds", "chunk_id": "c1", "version": 1, "app": "x",
               "visibility": "public", "title": "About refunds", "heading": ""})
    );
    let upsert = fake
        .requests()
        .into_iter()
        .find(|(p, _)| p == "/upsert/x")
        .unwrap()
        .1;
    let first = &upsert[0];
    assert_eq!(first["vector"].as_array().unwrap().len(), DIMS);
    assert!(
        !first["sparseVector"]["indices"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(first["data"].is_string());

    let hits = r
        .search(
            "x",
            "how do I get a refund for my purchase?",
            5,
            Visibility::Public,
        )
        .await
        .unwrap();
    assert_eq!(hits[0].article_id, "refunds");
    assert_eq!(hits[0].chunk_id, "c1");
    assert_eq!(hits[0].version, 1);
    assert_eq!(hits[0].title, "About refunds");
    assert!(hits[0].text.starts_with("Refunds are available"));
    assert!(
        hits.iter()
            .all(|h| h.article_id != "approvals" && h.article_id != "refunds-y")
    );
    let (path, body) = fake.requests().pop().unwrap();
    assert_eq!(path, "/query/x");
    assert_eq!(body["queryMode"], "HYBRID");
    assert_eq!(body["fusionAlgorithm"], "RRF");
    assert_eq!(body["filter"], "visibility = 'public'");
    assert_eq!(body["topK"], 5);
    assert_eq!(body["includeMetadata"], true);
    assert_eq!(body["includeData"], true);
    assert!(body["sparseVector"]["indices"].is_array());
    // RRF: the best fused score is at most 2 / 61.
    assert!(hits[0].score <= 2.0 / 61.0 + 1e-9 && hits[0].score > 0.0);

    let internal = r
        .search(
            "x",
            "refunds over 500 dollars approvers",
            5,
            Visibility::Internal,
        )
        .await
        .unwrap();
    assert_eq!(internal[0].article_id, "approvals");
    assert!(fake.requests().pop().unwrap().1.get("filter").is_none());

    // Nothing left after stop words: a dense query, no sparse vector.
    r.search("x", "how do I", 3, Visibility::Public)
        .await
        .unwrap();
    let body = fake.requests().pop().unwrap().1;
    assert_eq!(body["queryMode"], "DENSE");
    assert!(body.get("sparseVector").is_none());
}

#[tokio::test]
async fn a_new_version_replaces_the_articles_vectors_and_a_removal_drops_them() {
    let fake = FakeUpstashVector::start(TOKEN, DIMS).await.unwrap();
    let r = retriever(&fake.url, TOKEN, DIMS);
    r.rebuild(&corpus()).await.unwrap();
    let mut v2a = chunk(
        "c5",
        "offline",
        "x",
        "Offline viewing is no longer offered.",
        Visibility::Public,
    );
    v2a.version = 2;
    let mut v2b = v2a.clone();
    v2b.id = "c6".into();
    v2b.ordinal = 1;
    v2b.text = "Stream the lessons instead.".into();
    r.index_article("offline", &[v2a, v2b]).await.unwrap();
    assert_eq!(
        fake.ids("x"),
        ["approvals#c3", "offline#c5", "offline#c6", "refunds#c1"]
    );
    let hits = r
        .search("x", "offline viewing", 5, Visibility::Public)
        .await
        .unwrap();
    assert!(
        hits.iter()
            .filter(|h| h.article_id == "offline")
            .all(|h| h.version == 2)
    );

    // Another process (no memory of the article's app) removes it: every namespace is tried.
    let other = retriever(&fake.url, TOKEN, DIMS);
    other.index_article("offline", &[]).await.unwrap();
    assert_eq!(fake.ids("x"), ["approvals#c3", "refunds#c1"]);
    assert_eq!(fake.ids("y"), ["refunds-y#c4"]);
    assert!(fake.requests().iter().any(|(p, _)| p == "/info"));

    // A rebuild resets every namespace, also one no chunk is in any more.
    r.rebuild(&corpus()[..1]).await.unwrap();
    assert_eq!(fake.ids("x"), ["refunds#c1"]);
    assert!(fake.ids("y").is_empty());
}

#[tokio::test]
async fn upstash_error_bodies_become_retrieval_errors_without_the_token() {
    let fake = FakeUpstashVector::start(TOKEN, DIMS).await.unwrap();
    let wrong = retriever(&fake.url, "not-the-token", DIMS);
    let err = wrong
        .search("x", "refund", 3, Visibility::Public)
        .await
        .unwrap_err();
    match &err {
        RetrieveError::Index(m) => {
            assert!(
                m.contains("401") && m.contains("Unauthorized: Invalid auth token"),
                "{m}"
            )
        }
        other => panic!("expected an index error, got {other:?}"),
    }
    assert!(!err.to_string().contains("not-the-token"));

    // Vectors of the wrong length: Upstash's 400 with its message.
    let short = retriever(&fake.url, TOKEN, DIMS / 2);
    let err = short.rebuild(&corpus()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Invalid vector dimension: 16, expected: 32"),
        "{err}"
    );

    // Nobody listening: unavailable, not an index error.
    let gone = retriever("http://127.0.0.1:9", TOKEN, DIMS);
    assert!(matches!(
        gone.search("x", "refund", 3, Visibility::Public).await,
        Err(RetrieveError::Unavailable(_))
    ));
}

/// [`Bag`], counting the texts it embeds.
struct Counting(Bag, std::sync::atomic::AtomicUsize);

#[async_trait]
impl Embedder for Counting {
    fn model(&self) -> &str {
        self.0.model()
    }
    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.1
            .fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
        self.0.embed(texts).await
    }
}

#[tokio::test]
async fn with_stored_vectors_a_reindex_embeds_only_chunks_not_seen_and_upserts_the_same() {
    use support_core::store::ChunkVectorStore;
    let t = support_testkit::TestDb::sqlite().await.unwrap();
    let stored: Arc<dyn ChunkVectorStore> = Arc::new(t.db.clone());
    let fake = FakeUpstashVector::start(TOKEN, DIMS).await.unwrap();
    let count = |e: &Counting| e.1.load(std::sync::atomic::Ordering::SeqCst);

    let first = Arc::new(Counting(Bag(DIMS), 0.into()));
    let r =
        UpstashRetriever::new(client(&fake.url, TOKEN), first.clone()).with_vectors(stored.clone());
    r.rebuild(&corpus()).await.unwrap();
    assert_eq!(count(&first), corpus().len());
    let upserts = |fake: &FakeUpstashVector| {
        fake.requests()
            .into_iter()
            .filter(|(p, _)| p == "/upsert/x")
            .map(|(_, b)| b)
            .collect::<Vec<_>>()
    };
    let before = upserts(&fake);

    // Another process's `skill kb reindex`: nothing embedded, the same vectors upserted.
    let second = Arc::new(Counting(Bag(DIMS), 0.into()));
    let r2 = UpstashRetriever::new(client(&fake.url, TOKEN), second.clone()).with_vectors(stored);
    r2.rebuild(&corpus()).await.unwrap();
    assert_eq!(count(&second), 0);
    let after = upserts(&fake);
    assert_eq!(after.len(), before.len() * 2);
    assert_eq!(after[before.len()..], before[..]);

    // A query is embedded, never stored: the next reindex still embeds nothing.
    r2.search("x", "refund", 3, Visibility::Public)
        .await
        .unwrap();
    assert_eq!(count(&second), 1);
    let mut edited = corpus();
    edited[1].text = "Videos can be downloaded for offline viewing on two devices.".into();
    r2.index_article("offline", &edited[1..2]).await.unwrap();
    assert_eq!(count(&second), 2, "only the edited chunk");
}
