//! The lexical index: tantivy in RAM over the current chunks of every app's articles. Text is
//! tokenized, lowercased, stripped of English stop words and stemmed; a query is customer text,
//! reduced to its words and parsed leniently (never an error), matched on title, heading and
//! text (BM25), and filtered by app and visibility with term queries.

use std::sync::Mutex;

use async_trait::async_trait;
use support_core::knowledge::{Hit, RetrieveError, Retriever, Visibility};
use support_core::store::ArticleChunkRow;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

const ANALYZER: &str = "kb";
/// The writer's memory budget (tantivy's minimum per thread is 15 MB).
const WRITER_BYTES: usize = 20_000_000;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    article_id: Field,
    version: Field,
    app: Field,
    visibility: Field,
    title: Field,
    heading: Field,
    text: Field,
}

/// tantivy over the current chunks (see the module docs).
pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

fn err(e: impl std::fmt::Display) -> RetrieveError {
    RetrieveError::Index(e.to_string())
}

impl LexicalIndex {
    /// An empty index.
    pub fn new() -> Result<Self, RetrieveError> {
        let mut b = Schema::builder();
        let text_opts = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let f = Fields {
            chunk_id: b.add_text_field("chunk_id", STRING | STORED),
            article_id: b.add_text_field("article_id", STRING | STORED),
            version: b.add_i64_field("version", STORED | INDEXED),
            app: b.add_text_field("app", STRING),
            visibility: b.add_text_field("visibility", STRING),
            title: b.add_text_field("title", text_opts.clone()),
            heading: b.add_text_field("heading", text_opts.clone()),
            text: b.add_text_field("text", text_opts),
        };
        let index = Index::create_in_ram(b.build());
        let stop =
            StopWordFilter::new(Language::English).ok_or_else(|| err("no English stop words"))?;
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(stop)
            .filter(Stemmer::new(Language::English))
            .build();
        index.tokenizers().register(ANALYZER, analyzer);
        let writer = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
        })
    }

    fn add(&self, w: &IndexWriter, c: &ArticleChunkRow) -> Result<(), RetrieveError> {
        let f = self.f;
        w.add_document(doc!(
            f.chunk_id => c.id.as_str(),
            f.article_id => c.article_id.as_str(),
            f.version => c.version,
            f.app => c.app.as_str(),
            f.visibility => c.visibility.as_str(),
            f.title => c.title.as_str(),
            f.heading => c.heading.as_str(),
            f.text => c.text.as_str(),
        ))
        .map(|_| ())
        .map_err(err)
    }

    fn write(
        &self,
        change: impl FnOnce(&IndexWriter) -> Result<(), RetrieveError>,
    ) -> Result<(), RetrieveError> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| err("index writer poisoned"))?;
        if let Err(e) = change(&w) {
            let _ = w.rollback();
            return Err(e);
        }
        w.commit().map_err(err)?;
        self.reader.reload().map_err(err)
    }

    /// How many chunks are indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn query(&self, app: &str, query: &str, visibility: Visibility) -> Box<dyn Query> {
        let f = self.f;
        // Customer text, not query syntax: keep the words only (no fields, quotes, operators).
        let words: String = query
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .to_lowercase();
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.heading, f.text]);
        parser.set_field_boost(f.title, 1.5);
        let (text, _ignored) = parser.parse_query_lenient(&words);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, text),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.app, app),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        if visibility == Visibility::Public {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.visibility, Visibility::Public.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The best `k` current chunks of `app` for `query` (sync; see [`Retriever::search`]).
    pub fn search_now(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, RetrieveError> {
        if k == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let q = self.query(app, query, visibility);
        let top = searcher
            .search(&q, &TopDocs::with_limit(k).order_by_score())
            .map_err(err)?;
        let f = self.f;
        let text = |d: &TantivyDocument, field: Field| {
            d.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(err)?;
            hits.push(Hit {
                chunk_id: text(&d, f.chunk_id),
                article_id: text(&d, f.article_id),
                version: d
                    .get_first(f.version)
                    .and_then(|v| v.as_i64())
                    .unwrap_or_default(),
                title: text(&d, f.title),
                heading: text(&d, f.heading),
                text: text(&d, f.text),
                score: f64::from(score),
            });
        }
        Ok(hits)
    }

    /// Replace what is indexed for each `(article_id, chunks)`, in one commit.
    fn replace<'a>(
        &self,
        articles: impl IntoIterator<Item = (&'a str, &'a [ArticleChunkRow])>,
    ) -> Result<(), RetrieveError> {
        self.write(|w| {
            for (article_id, chunks) in articles {
                w.delete_term(Term::from_field_text(self.f.article_id, article_id));
                chunks.iter().try_for_each(|c| self.add(w, c))?;
            }
            Ok(())
        })
    }

    /// Replace what is indexed for `article_id` (sync).
    pub fn index_article_now(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        self.replace([(article_id, chunks)])
    }

    /// Replace what is indexed for each of `articles`, in one commit (sync).
    pub fn index_articles_now(
        &self,
        articles: &[(String, Vec<ArticleChunkRow>)],
    ) -> Result<(), RetrieveError> {
        self.replace(articles.iter().map(|(a, c)| (a.as_str(), c.as_slice())))
    }

    /// Replace the whole index (sync).
    pub fn rebuild_now(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        self.write(|w| {
            w.delete_all_documents().map_err(err)?;
            chunks.iter().try_for_each(|c| self.add(w, c))
        })
    }
}

#[async_trait]
impl Retriever for LexicalIndex {
    async fn search(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, RetrieveError> {
        self.search_now(app, query, k, visibility)
    }

    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError> {
        self.index_article_now(article_id, chunks)
    }

    async fn index_articles(
        &self,
        articles: &[(String, Vec<ArticleChunkRow>)],
    ) -> Result<(), RetrieveError> {
        self.index_articles_now(articles)
    }

    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        self.rebuild_now(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, article: &str, app: &str, text: &str, vis: Visibility) -> ArticleChunkRow {
        ArticleChunkRow {
            id: id.into(),
            article_id: article.into(),
            version: 1,
            app: app.into(),
            ordinal: 0,
            title: String::new(),
            heading: String::new(),
            text: text.into(),
            visibility: vis,
        }
    }

    #[test]
    fn ranks_filters_and_replaces() {
        let ix = LexicalIndex::new().unwrap();
        ix.rebuild_now(&[
            chunk(
                "1",
                "a1",
                "x",
                "Refunds are available within 30 days of purchase.",
                Visibility::Public,
            ),
            chunk(
                "2",
                "a2",
                "x",
                "Videos can be downloaded for offline viewing from the lesson page.",
                Visibility::Public,
            ),
            chunk(
                "3",
                "a3",
                "x",
                "Login links expire after 24 hours and can be used once.",
                Visibility::Public,
            ),
            chunk(
                "4",
                "a4",
                "x",
                "Internal: refunds over 500 dollars need two approvers.",
                Visibility::Internal,
            ),
            chunk(
                "5",
                "a5",
                "y",
                "Downloading videos is not possible in app y.",
                Visibility::Public,
            ),
        ])
        .unwrap();
        assert_eq!(ix.len(), 5);
        let hits = ix
            .search_now(
                "x",
                "can I download the videos for a flight?",
                2,
                Visibility::Public,
            )
            .unwrap();
        assert_eq!(hits[0].chunk_id, "2");
        assert!(hits.iter().all(|h| h.chunk_id != "5"), "other app filtered");
        // Odd customer syntax is not an error.
        let odd = ix
            .search_now(
                "x",
                "Re: \"login link\" AND (expired OR title:foo) -- NOT?",
                1,
                Visibility::Public,
            )
            .unwrap();
        assert_eq!(odd[0].chunk_id, "3");
        // Internal articles only for internal readers.
        let public: Vec<_> = ix
            .search_now("x", "refunds", 5, Visibility::Public)
            .unwrap()
            .into_iter()
            .map(|h| h.chunk_id)
            .collect();
        assert_eq!(public, ["1"]);
        assert_eq!(
            ix.search_now("x", "refunds", 5, Visibility::Internal)
                .unwrap()
                .len(),
            2
        );
        assert!(
            ix.search_now("x", "zebra", 3, Visibility::Internal)
                .unwrap()
                .is_empty()
        );
        // A new version replaces the old chunks of its article.
        let mut v2 = chunk(
            "6",
            "a2",
            "x",
            "Offline viewing is no longer offered.",
            Visibility::Public,
        );
        v2.version = 2;
        ix.index_article_now("a2", &[v2]).unwrap();
        let hits = ix
            .search_now("x", "offline videos", 5, Visibility::Public)
            .unwrap();
        assert_eq!(
            hits.iter()
                .map(|h| (h.chunk_id.as_str(), h.version))
                .collect::<Vec<_>>(),
            [("6", 2)]
        );
        ix.index_article_now("a2", &[]).unwrap();
        assert!(
            ix.search_now("x", "offline", 5, Visibility::Public)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_batch_replaces_each_article_as_one_at_a_time_would() {
        let ix = LexicalIndex::new().unwrap();
        let public = Visibility::Public;
        ix.rebuild_now(&[
            chunk("1", "a1", "x", "refunds within thirty days", public),
            chunk("2", "a2", "x", "login links expire", public),
            chunk("3", "a3", "x", "videos download offline", public),
        ])
        .unwrap();
        // a1 gets a new version (two chunks), a2 is removed, a4 is new, a3 is left alone.
        ix.index_articles_now(&[
            (
                "a1".into(),
                vec![
                    chunk("4", "a1", "x", "refunds within fourteen days", public),
                    chunk("5", "a1", "x", "refunds of annual plans prorated", public),
                ],
            ),
            ("a2".into(), Vec::new()),
            (
                "a4".into(),
                vec![chunk("6", "a4", "x", "invoices carry vat", public)],
            ),
        ])
        .unwrap();
        assert_eq!(ix.len(), 4);
        let ids = |q: &str| -> Vec<String> {
            let mut ids: Vec<String> = ix
                .search_now("x", q, 10, public)
                .unwrap()
                .into_iter()
                .map(|h| h.chunk_id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("refunds"), ["4", "5"]);
        assert!(ids("login").is_empty());
        assert_eq!(ids("videos"), ["3"]);
        assert_eq!(ids("invoices vat"), ["6"]);
    }
}
