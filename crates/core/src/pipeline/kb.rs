//! A small BM25 index (k1 = 1.2, b = 0.75) over knowledge-base chunks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::text::tokens;
use crate::corpus::KbChunk;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words too common to rank on.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "is", "are", "it", "i", "my",
    "me", "you", "your", "we", "our", "can", "do", "does", "be", "with", "this", "that", "at",
    "as", "have", "has", "if", "but", "not", "so", "hi", "hello", "thanks", "please", "there",
    "what", "how", "any", "from", "by", "was", "just",
];

/// A light stem: lowercase token without common English suffixes.
fn stem(token: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(base) = token.strip_suffix(suffix)
            && base.chars().count() >= 4
        {
            return base.to_owned();
        }
    }
    token.to_owned()
}

fn terms(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .filter(|t| !STOPWORDS.contains(&t.as_str()))
        .map(|t| stem(&t))
        .collect()
}

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

/// BM25 over chunks of one app.
#[derive(Debug, Clone, Default)]
pub struct Bm25Index {
    chunks: Vec<KbChunk>,
    term_freqs: Vec<HashMap<String, usize>>,
    lengths: Vec<usize>,
    doc_freq: HashMap<String, usize>,
    avg_len: f64,
}

impl Bm25Index {
    /// Indexes `chunks`.
    pub fn new(chunks: Vec<KbChunk>) -> Self {
        let mut term_freqs = Vec::with_capacity(chunks.len());
        let mut lengths = Vec::with_capacity(chunks.len());
        let mut doc_freq: HashMap<String, usize> = HashMap::new();
        for chunk in &chunks {
            let ts = terms(&chunk.text);
            lengths.push(ts.len());
            let mut tf: HashMap<String, usize> = HashMap::new();
            for t in ts {
                *tf.entry(t).or_default() += 1;
            }
            for t in tf.keys() {
                *doc_freq.entry(t.clone()).or_default() += 1;
            }
            term_freqs.push(tf);
        }
        let avg_len = if lengths.is_empty() {
            0.0
        } else {
            lengths.iter().sum::<usize>() as f64 / lengths.len() as f64
        };
        Self {
            chunks,
            term_freqs,
            lengths,
            doc_freq,
            avg_len,
        }
    }

    /// How many chunks are indexed.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The best `limit` chunks for `query`, best first; only chunks scoring above zero.
    pub fn search(&self, query: &str, limit: usize) -> Vec<KbHit> {
        let mut query_terms = terms(query);
        query_terms.sort();
        query_terms.dedup();
        let n = self.chunks.len() as f64;
        let mut scored: Vec<(usize, f64)> = (0..self.chunks.len())
            .map(|i| {
                let score = query_terms
                    .iter()
                    .map(|t| self.term_score(i, t, n))
                    .sum::<f64>();
                (i, score)
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .take(limit)
            .map(|(i, score)| KbHit {
                id: self.chunks[i].id.clone(),
                document_id: self.chunks[i].document_id.clone(),
                text: self.chunks[i].text.clone(),
                score,
                article_id: None,
                version: None,
            })
            .collect()
    }

    fn term_score(&self, i: usize, term: &str, n: f64) -> f64 {
        let tf = self.term_freqs[i].get(term).copied().unwrap_or(0) as f64;
        if tf == 0.0 {
            return 0.0;
        }
        let df = self.doc_freq.get(term).copied().unwrap_or(0) as f64;
        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
        let len_norm = 1.0 - B + B * self.lengths[i] as f64 / self.avg_len.max(1.0);
        idf * tf * (K1 + 1.0) / (tf + K1 * len_norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, text: &str) -> KbChunk {
        KbChunk {
            id: id.into(),
            document_id: "d".into(),
            app: "a".into(),
            ordinal: 0,
            text: text.into(),
        }
    }

    #[test]
    fn ranks_the_relevant_chunk_first() {
        let index = Bm25Index::new(vec![
            chunk("1", "Refunds are available within 30 days of purchase."),
            chunk(
                "2",
                "Videos can be downloaded for offline viewing from the lesson page.",
            ),
            chunk(
                "3",
                "Login links expire after 24 hours and can be used once.",
            ),
        ]);
        assert_eq!(index.len(), 3);
        let hits = index.search("can I download the videos for a flight?", 2);
        assert_eq!(hits[0].id, "2");
        assert_eq!(index.search("login link expired", 1)[0].id, "3");
        assert!(index.search("zebra", 3).is_empty());
        assert!(Bm25Index::new(vec![]).search("x", 3).is_empty());
    }

    #[test]
    fn stems_plural_and_tense() {
        assert_eq!(stem("downloads"), "download");
        assert_eq!(stem("downloaded"), "download");
        assert_eq!(stem("is"), "is");
    }
}
