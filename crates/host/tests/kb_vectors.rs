//! Stored chunk vectors, end to end: the knowledge base `support_host::knowledge` builds, an
//! OpenAI-compatible embedder talking to the fake embeddings server (its requests counted), and
//! a real store (SQLite, and Postgres when `TEST_DATABASE_URL` is set), loaded with the demo
//! articles of three apps (~300 chunks).
//!
//! A restart (another instance) embeds nothing; an edit embeds only the chunks it changed; a
//! second model has its own vectors; a query and the rebuild a search starts store nothing; a
//! broken vector store changes nothing but the cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;
use support_core::embed::{EmbedderKind, KbSettings};
use support_core::knowledge::{Hit, Visibility, chunk_text};
use support_core::settings::Secret;
use support_core::store::{
    ArticleChunkRow, ChunkVectorStore, Store, StoreError, StoreResult, VectorSpace,
};
use support_host::knowledge::knowledge_base;
use support_knowledge::{HybridRetriever, KnowledgeBase};
use support_testkit::TestDb;
use support_testkit::fakes::FakeEmbeddings;

const APPS: [&str; 3] = ["typescript-course", "tailwind-course", "ai-workshops"];
const QUERIES: [&str; 4] = [
    "how do I get a refund",
    "my login link expired",
    "can I add seats for my team",
    "where are the starter repositories",
];

fn settings(fake: &FakeEmbeddings, model: &str, dims: Option<usize>) -> KbSettings {
    let mut kb = KbSettings::default();
    kb.embedder.kind = EmbedderKind::Openai;
    kb.embedder.base_url = fake.base_url.clone();
    kb.embedder.api_key = Some(Secret::new("sk-embed".to_string()));
    kb.embedder.model = model.into();
    kb.embedder.dimensions = dims;
    kb
}

/// (requests, texts) the fake has answered so far.
fn asked(fake: &FakeEmbeddings) -> (usize, usize) {
    let reqs = fake.requests();
    let texts = reqs
        .iter()
        .map(|r| match &r["input"] {
            Value::Array(a) => a.len(),
            _ => 1,
        })
        .sum();
    (reqs.len(), texts)
}

fn texts_of(fake: &FakeEmbeddings, from: usize) -> Vec<String> {
    fake.requests()[from..]
        .iter()
        .flat_map(|r| match &r["input"] {
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            v => vec![v.as_str().unwrap().to_string()],
        })
        .collect()
}

async fn rows(t: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM chunk_vectors")
        .fetch_one(t.db.read_pool())
        .await
        .unwrap()
}

async fn answers(kb: &KnowledgeBase) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    for app in APPS {
        for q in QUERIES {
            let hits: Vec<Hit> = kb.search(app, q, 5, Visibility::Internal).await.unwrap();
            out.push(
                hits.into_iter()
                    .map(|h| (h.chunk_id, format!("{:.6}", h.score)))
                    .collect(),
            );
        }
    }
    out
}

fn distinct_texts(chunks: &[ArticleChunkRow]) -> usize {
    chunks.iter().map(chunk_text).collect::<BTreeSet<_>>().len()
}

/// A vector store that is down.
struct Broken;

#[async_trait]
impl ChunkVectorStore for Broken {
    async fn chunk_vectors(
        &self,
        _: VectorSpace<'_>,
        _: &[String],
    ) -> StoreResult<HashMap<String, Vec<f32>>> {
        Err(StoreError::Unavailable("vector store down".into()))
    }
    async fn put_chunk_vectors(
        &self,
        _: VectorSpace<'_>,
        _: &[(String, Vec<f32>)],
    ) -> StoreResult<()> {
        Err(StoreError::Unavailable("vector store down".into()))
    }
    async fn prune_chunk_vectors(&self, _: &[String]) -> StoreResult<u64> {
        Err(StoreError::Unavailable("vector store down".into()))
    }
}

#[tokio::test]
async fn stored_vectors_spare_every_unchanged_chunk_and_queries_store_nothing() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let store: Arc<dyn Store> = Arc::new(t.db.clone());
        let fake = FakeEmbeddings::start("sk-embed", "m-one", 64)
            .await
            .unwrap();
        let one = settings(&fake, "m-one", Some(64));

        // Cold: the demo import embeds every chunk once and stores it.
        let (first, _) = knowledge_base(store.clone(), &one).unwrap();
        let t0 = Instant::now();
        for app in APPS {
            let dir = std::path::Path::new(support_knowledge::demo::DIR).join(app);
            let r = support_knowledge::import::import_paths(
                &first,
                app,
                &[dir],
                support_knowledge::import::MAX_BYTES,
                1,
                &mut |_, _| {},
            )
            .await
            .unwrap();
            assert!(r.errors.is_empty(), "{:?}", r.errors);
        }
        // And one article of three sections (three chunks), to edit one of them below.
        first.put(&[refunds(REFUNDS_BODY, None)]).await.unwrap();
        let cold_ms = t0.elapsed().as_millis();
        let chunks = store.current_chunks(None).await.unwrap();
        let distinct = distinct_texts(&chunks);
        assert!(chunks.len() >= 300, "{} chunks", chunks.len());
        let (cold_reqs, cold_texts) = asked(&fake);
        assert!(
            distinct < chunks.len(),
            "the demo shares some texts between apps"
        );
        assert_eq!(
            cold_texts, distinct,
            "the import embeds each distinct text once"
        );
        assert_eq!(rows(&t).await, distinct as i64);
        let t0 = Instant::now();
        first.reindex().await.unwrap();
        let reindex_ms = t0.elapsed().as_millis();
        assert_eq!(
            asked(&fake),
            (cold_reqs, cold_texts),
            "a reindex of stored chunks embeds nothing"
        );

        // (a) A restart / another instance: its rebuild asks the embedder nothing, and the
        // answers are those of an index that embedded everything itself.
        let (second, _) = knowledge_base(store.clone(), &one).unwrap();
        let t0 = Instant::now();
        assert_eq!(second.reindex().await.unwrap(), chunks.len());
        let warm_ms = t0.elapsed().as_millis();
        assert_eq!(
            asked(&fake),
            (cold_reqs, cold_texts),
            "a warm rebuild embeds nothing"
        );
        assert_eq!(second.status().mode(), "ok");
        let fresh = KnowledgeBase::new(
            store.clone(),
            Arc::new(
                HybridRetriever::new(
                    support_connectors::embed::build(&one.embedder)
                        .unwrap()
                        .unwrap(),
                )
                .unwrap(),
            ),
        );
        let t0 = Instant::now();
        fresh.reindex().await.unwrap();
        let fresh_ms = t0.elapsed().as_millis();
        let (base_reqs, base_texts) = asked(&fake);
        assert_eq!(
            base_texts - cold_texts,
            chunks.len(),
            "without the store every chunk is embedded"
        );
        let want = answers(&fresh).await;
        assert!(want.iter().all(|a| !a.is_empty()));
        let before = asked(&fake);
        assert_eq!(answers(&second).await, want);
        let after = asked(&fake);
        assert_eq!(
            after.0 - before.0,
            APPS.len() * QUERIES.len(),
            "one request a query"
        );
        eprintln!(
            "demo KB: {} chunks ({distinct} distinct texts); cold import {cold_reqs} requests / {cold_texts} texts in {cold_ms} ms; \
             reindex with stored vectors 0 requests in {reindex_ms} ms; warm restart rebuild 0 requests in {warm_ms} ms; \
             a rebuild without the store {} requests / {} texts in {fresh_ms} ms",
            chunks.len(),
            base_reqs - cold_reqs,
            base_texts - cold_texts,
        );

        // (d) A query embeds but writes no row.
        let n_rows = rows(&t).await;
        let before = asked(&fake);
        let hits = second
            .search(
                "typescript-course",
                "a question nobody wrote an article about: zebra quasar",
                5,
                Visibility::Public,
            )
            .await
            .unwrap();
        assert!(!hits.is_empty());
        assert_eq!(asked(&fake).0, before.0 + 1, "the query was embedded");
        assert_eq!(rows(&t).await, n_rows, "and not stored");

        // (b) An edit of one article embeds only its changed chunks' texts.
        let article = store
            .list_articles(Some("typescript-course"))
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.source.as_deref() == Some("refunds-sections.md"))
            .unwrap();
        let old: Vec<ArticleChunkRow> = store.article_chunks(&article.id).await.unwrap();
        assert_eq!(old.len(), 3);
        let input = refunds(
            &REFUNDS_BODY.replace(
                "are reviewed by a person",
                "are reviewed by a person within two days",
            ),
            Some(article.id.clone()),
        );
        let from = fake.requests().len();
        second.put(&[input]).await.unwrap();
        let new: Vec<ArticleChunkRow> = store.article_chunks(&article.id).await.unwrap();
        let old_texts: BTreeSet<String> = old.iter().map(chunk_text).collect();
        let changed: BTreeSet<String> = new
            .iter()
            .map(chunk_text)
            .filter(|t| !old_texts.contains(t))
            .collect();
        assert!(
            !changed.is_empty() && changed.len() < new.len(),
            "{} of {}",
            changed.len(),
            new.len()
        );
        let sent = texts_of(&fake, from);
        assert_eq!(
            sent.len(),
            changed.len(),
            "one request, only the changed texts: {sent:?}"
        );
        assert_eq!(sent.into_iter().collect::<BTreeSet<_>>(), changed);
        assert_eq!(fake.requests().len(), from + 1);

        // Another instance notices the write on its next search: its rebuild reads the vectors
        // the writer stored, embeds nothing but the query.
        let before = asked(&fake);
        second_search(&first).await;
        assert_eq!(
            asked(&fake),
            (before.0 + 1, before.1 + 1),
            "the other instance: only its query"
        );

        // The rebuild a search starts reads but never writes: with the stored vectors gone it
        // embeds every chunk and stores none of them; a reindex stores them again.
        sqlx::query("DELETE FROM chunk_vectors")
            .execute(t.db.write_pool())
            .await
            .unwrap();
        let (third, _) = knowledge_base(store.clone(), &one).unwrap();
        let before = asked(&fake);
        second_search(&third).await;
        let chunks = store.current_chunks(None).await.unwrap();
        let distinct = distinct_texts(&chunks);
        assert_eq!(asked(&fake).1 - before.1, distinct + 1);
        assert_eq!(rows(&t).await, 0, "a search stores nothing");
        let t0 = Instant::now();
        let before = asked(&fake);
        third.reindex().await.unwrap();
        let after = asked(&fake);
        eprintln!(
            "cold reindex (no stored vectors): {} requests / {} texts in {} ms",
            after.0 - before.0,
            after.1 - before.1,
            t0.elapsed().as_millis()
        );
        assert_eq!(rows(&t).await, distinct as i64);

        // (c) Another model has its own vectors: embedded again, stored beside the first's.
        let fake2 = FakeEmbeddings::start("sk-embed", "m-two", 64)
            .await
            .unwrap();
        let two = settings(&fake2, "m-two", Some(64));
        let (other, _) = knowledge_base(store.clone(), &two).unwrap();
        other.reindex().await.unwrap();
        assert_eq!(asked(&fake2).1, distinct, "m-two embeds every chunk");
        assert_eq!(rows(&t).await, 2 * distinct as i64);
        let (other_again, _) = knowledge_base(store.clone(), &two).unwrap();
        other_again.reindex().await.unwrap();
        let (back, _) = knowledge_base(store.clone(), &one).unwrap();
        let before = asked(&fake);
        back.reindex().await.unwrap();
        assert_eq!(
            asked(&fake),
            before,
            "m-one's vectors survived m-two's reindex"
        );
        assert_eq!(asked(&fake2).1, distinct, "m-two: nothing twice");
        // The same model at another size is another key.
        let wide = settings(&fake, "m-one", Some(32));
        let (narrow, _) = knowledge_base(store.clone(), &wide).unwrap();
        let before = asked(&fake);
        narrow.reindex().await.unwrap();
        assert_eq!(
            asked(&fake).1 - before.1,
            distinct,
            "32 floats: embedded again"
        );

        // Without `kb.embedder.dimensions` the size is learnt from one text first.
        let native = settings(&fake, "m-one", None);
        let (probe, _) = knowledge_base(store.clone(), &native).unwrap();
        let before = asked(&fake);
        probe.reindex().await.unwrap();
        assert_eq!(
            asked(&fake),
            (before.0 + 1, before.1 + 1),
            "one text to learn the size"
        );
        assert_eq!(
            answers(&probe).await,
            answers(&back).await,
            "the same vectors as with 64 configured"
        );

        // Reindex prunes what no current chunk uses (every model's).
        let n = rows(&t).await;
        let ids: Vec<String> = store
            .list_articles(Some("ai-workshops"))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        for id in &ids {
            back.remove(id, 3).await.unwrap();
        }
        back.reindex().await.unwrap();
        let left = distinct_texts(&store.current_chunks(None).await.unwrap()) as i64;
        assert!(rows(&t).await < n);
        assert_eq!(rows(&t).await, 3 * left, "m-one at 64 and 32 floats, m-two");

        // (e) A vector store that fails: the index embeds as it would without one.
        let broken = KnowledgeBase::new(
            store.clone(),
            Arc::new(
                HybridRetriever::with_vectors(
                    support_connectors::embed::build(&one.embedder)
                        .unwrap()
                        .unwrap(),
                    Arc::new(Broken),
                )
                .unwrap(),
            ),
        );
        let before = asked(&fake);
        assert_eq!(
            broken.reindex().await.unwrap() as i64,
            store.current_chunks(None).await.unwrap().len() as i64
        );
        assert_eq!(
            broken.status().mode(),
            "ok",
            "hybrid, not the lexical fallback"
        );
        assert!(asked(&fake).1 - before.1 >= left as usize);
        assert_eq!(answers(&broken).await, answers(&back).await);
    }
}

const REFUNDS_BODY: &str = "# Refunds\nRefunds are accepted within 30 days of purchase.\n\n\
# Late requests\nRequests after 30 days are reviewed by a person.\n\n\
# Team purchases\nA team's refund goes back to the card that paid for its seats.\n";

fn refunds(body: &str, id: Option<String>) -> support_core::store::ArticleInput {
    let mut input = support_knowledge::import::Parsed {
        source: "refunds-sections.md".into(),
        title: "Refunds, in three sections".into(),
        body: body.into(),
        tags: vec!["billing".into()],
        url: None,
        visibility: Visibility::Public,
    }
    .into_input("typescript-course", "editor", 2);
    input.id = id;
    input
}

async fn second_search(kb: &KnowledgeBase) {
    kb.search("typescript-course", "refund", 3, Visibility::Public)
        .await
        .unwrap();
}
