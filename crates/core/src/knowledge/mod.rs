//! The knowledge base: articles per app with versions (every edit is a new version, nothing is
//! overwritten), chunked by headings, and the retrieval port ([`Retriever`]) the agent's
//! `searchKnowledge` tool is answered from. The store keeps the articles
//! (its `KnowledgeStore` port); an index behind [`Retriever`] (lexical with tantivy in
//! `crates/knowledge`, dense/hybrid beside it) answers queries over the current versions only.

mod chunk;

pub use chunk::{ChunkDraft, chunk_markdown};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::KbChunk;
use crate::status::string_like;

/// Who may read an article: `public` (customers; drafts quote it) or `internal` (the team).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Result<Self, crate::status::UnknownValue> {
        match s {
            "public" => Ok(Visibility::Public),
            "internal" => Ok(Visibility::Internal),
            _ => Err(crate::status::UnknownValue {
                what: "visibility",
                value: s.to_string(),
            }),
        }
    }

    /// Whether a reader allowed up to `scope` may see an article of this visibility
    /// (`Internal` sees both, `Public` only public articles).
    pub fn visible_to(self, scope: Visibility) -> bool {
        scope == Visibility::Internal || self == Visibility::Public
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Visibility {
    type Err = crate::status::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Visibility::parse(s)
    }
}

string_like!(Visibility);

/// A retrieved chunk of an article's current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub chunk_id: String,
    pub article_id: String,
    pub version: i64,
    pub title: String,
    /// The chunk's heading path (`Refunds › Late requests`), empty for the lead section.
    #[serde(default)]
    pub heading: String,
    pub text: String,
    pub score: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error("knowledge index unavailable: {0}")]
    Unavailable(String),
    #[error("knowledge index error: {0}")]
    Index(String),
}

/// The retrieval port: search an app's current article versions, and keep the index in step
/// with the store (every write calls [`Retriever::index_article`]; start-up and
/// `skill kb reindex` call [`Retriever::rebuild`]).
#[async_trait]
pub trait Retriever: Send + Sync {
    /// The best `k` chunks of `app` for `query` (customer text; parsed leniently, never an
    /// error for odd syntax), best first, only from articles visible to `visibility`
    /// (see [`Visibility::visible_to`]) and only from their current versions.
    async fn search(
        &self,
        app: &str,
        query: &str,
        k: usize,
        visibility: Visibility,
    ) -> Result<Vec<Hit>, RetrieveError>;

    /// Replace what is indexed for `article_id` with `chunks` (its current version; empty when
    /// the article was removed).
    async fn index_article(
        &self,
        article_id: &str,
        chunks: &[ArticleChunkRow],
    ) -> Result<(), RetrieveError>;

    /// [`Retriever::index_article`] for each of `articles` (`(article_id, chunks)`); an index
    /// that commits (tantivy) does them in one commit, so an import of many articles is not one
    /// commit (and one segment to merge) per article.
    async fn index_articles(
        &self,
        articles: &[(String, Vec<ArticleChunkRow>)],
    ) -> Result<(), RetrieveError> {
        for (article_id, chunks) in articles {
            self.index_article(article_id, chunks).await?;
        }
        Ok(())
    }

    /// Replace the whole index with `chunks` (every app's current chunks).
    async fn rebuild(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError>;

    /// [`Retriever::rebuild`] started by a search (another process changed the store): it may
    /// read stored chunk vectors but stores none (a search never writes state).
    async fn refresh(&self, chunks: &[ArticleChunkRow]) -> Result<(), RetrieveError> {
        self.rebuild(chunks).await
    }

    /// What the index answers with now: as configured, or lexical only after the embedder
    /// failed during a rebuild (hybrid indexes).
    fn status(&self) -> IndexStatus {
        IndexStatus::default()
    }
}

/// How well one canned response's trigger matches a message.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedScore {
    /// Its position in the list given to [`CannedScorer::score`].
    pub index: usize,
    /// The trigger alternative that matched best.
    pub phrase: String,
    /// 0..=1: the share of that alternative's retrieval score (BM25, the knowledge base's
    /// analyzer) the message reaches; 1 when every word of it is in the message.
    pub score: f32,
}

/// The canned-response side of retrieval: scores each trigger alternative (`|` or a new line
/// separates them) of `canned` against `text` with the knowledge base's retrieval, so the
/// router can keep the best one above a threshold. Synchronous and deterministic (the same
/// text and responses give the same scores), so a replay decides as the recording did.
pub trait CannedScorer: Send + Sync {
    /// The best alternative of each response that matches at all (score > 0), any order.
    fn score(&self, text: &str, canned: &[&crate::corpus::CannedResponse]) -> Vec<CannedScore>;
}

/// What an index answers with now (see [`Retriever::status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStatus {
    /// `Some(why)`: the embedder failed during the last rebuild, so the index answers from its
    /// lexical side (tantivy) alone until a rebuild embeds again (`skill kb reindex`, or the
    /// next change another process makes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical_fallback: Option<String>,
}

impl IndexStatus {
    /// `lexical_fallback` or `ok`, as the CLI, API and page show it.
    pub fn mode(&self) -> &'static str {
        if self.lexical_fallback.is_some() {
            "lexical_fallback"
        } else {
            "ok"
        }
    }
}

/// The content hash of an article version (title, body, tags, visibility, url): equal hashes
/// mean an import changes nothing.
pub fn content_hash(
    title: &str,
    body: &str,
    tags: &[String],
    visibility: Visibility,
    url: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        title,
        body,
        &tags.join("\u{1f}"),
        visibility.as_str(),
        url.unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A chunk of one article version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleChunkRow {
    pub id: String,
    pub article_id: String,
    pub version: i64,
    pub app: String,
    pub ordinal: i64,
    pub title: String,
    pub heading: String,
    pub text: String,
    pub visibility: Visibility,
}

impl From<ArticleChunkRow> for KbChunk {
    /// A current article chunk in the shape the offline BM25 index and the certificate hash read
    /// (the article stands in for the document).
    fn from(c: ArticleChunkRow) -> Self {
        KbChunk {
            id: c.id,
            document_id: c.article_id,
            app: c.app,
            ordinal: c.ordinal,
            text: c.text,
        }
    }
}

/// What a chunk's vector is computed from: title, heading (when there is one) and text.
pub fn chunk_text(c: &ArticleChunkRow) -> String {
    let mut s = c.title.clone();
    if !c.heading.is_empty() {
        s.push('\n');
        s.push_str(&c.heading);
    }
    s.push('\n');
    s.push_str(&c.text);
    s
}

/// The vectors of `chunks` ([`chunk_text`]), in order, one per chunk: what every dense backend
/// (the embedded index, Upstash) stores.
pub async fn embed_chunks(
    embedder: &dyn crate::embed::Embedder,
    chunks: &[ArticleChunkRow],
) -> Result<Vec<Vec<f32>>, RetrieveError> {
    if chunks.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = chunks.iter().map(chunk_text).collect();
    embed_texts(embedder, &texts).await
}

/// One vector per text, in order; an embedder that answers with another count is an index
/// error, one that fails is unavailable.
pub async fn embed_texts(
    embedder: &dyn crate::embed::Embedder,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, RetrieveError> {
    let vectors = embedder
        .embed(texts)
        .await
        .map_err(|e| RetrieveError::Unavailable(format!("embedder: {e}")))?;
    if vectors.len() != texts.len() {
        return Err(RetrieveError::Index(format!(
            "the embedder returned {} vectors for {} chunks",
            vectors.len(),
            texts.len()
        )));
    }
    Ok(vectors)
}

/// The content hash of an embedded text (SHA-256, hex): what a stored vector is keyed by
/// besides its model and size (the store's `ChunkVectorStore`).
pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The vector of a query.
pub async fn embed_query(
    embedder: &dyn crate::embed::Embedder,
    query: &str,
) -> Result<Vec<f32>, RetrieveError> {
    embedder
        .embed(&[query.to_owned()])
        .await
        .map_err(|e| RetrieveError::Unavailable(format!("embedder: {e}")))?
        .pop()
        .ok_or_else(|| RetrieveError::Index("the embedder returned no vector".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_scopes() {
        assert!(Visibility::Public.visible_to(Visibility::Public));
        assert!(!Visibility::Internal.visible_to(Visibility::Public));
        assert!(Visibility::Internal.visible_to(Visibility::Internal));
        assert_eq!(
            "internal".parse::<Visibility>().unwrap(),
            Visibility::Internal
        );
        assert!("secret".parse::<Visibility>().is_err());
    }

    #[test]
    fn hash_changes_with_any_field() {
        let t = vec!["a".to_string()];
        let base = content_hash("T", "B", &t, Visibility::Public, None);
        assert_eq!(base, content_hash("T", "B", &t, Visibility::Public, None));
        assert_ne!(base, content_hash("T", "B2", &t, Visibility::Public, None));
        assert_ne!(base, content_hash("T", "B", &[], Visibility::Public, None));
        assert_ne!(base, content_hash("T", "B", &t, Visibility::Internal, None));
        assert_ne!(base, content_hash("TB", "", &t, Visibility::Public, None));
    }
}
