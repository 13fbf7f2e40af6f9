//! Dense and hybrid retrieval over knowledge chunks: [`DenseIndex`] (in-process, brute-force
//! cosine over unit vectors) and [`rrf`], reciprocal rank fusion with k = 60 (the formula
//! Upstash Vector uses for `fusionAlgorithm: "RRF"`: each list adds `1 / (60 + rank)`, rank
//! counted from 1, to an item's score).
//!
//! Brute force is deliberate: a support knowledge base holds thousands of chunks per app, and
//! 100,000 chunks of 384 floats are scanned in a few milliseconds (`docs/bench/kb.md`); an ANN
//! index (HNSW) would add a dependency, a build step and recall loss for no gain at this scale.
//! Beyond that, `kb.backend = "upstash"` moves dense and sparse search to Upstash Vector.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::embed::dot;

/// The RRF constant (Cormack et al.; Upstash's and most engines' default).
pub const RRF_K: f64 = 60.0;

/// Fuses ranked lists of ids (best first) by reciprocal rank: `Σ 1 / (RRF_K + rank)`, rank
/// from 1. Ties keep the order of first appearance (list order, then rank). Best first.
pub fn rrf<'a>(lists: &[Vec<&'a str>]) -> Vec<(&'a str, f64)> {
    let mut scores: HashMap<&'a str, (f64, usize)> = HashMap::new();
    let mut seen = 0usize;
    for list in lists {
        for (i, id) in list.iter().enumerate() {
            let entry = scores.entry(*id).or_insert_with(|| {
                seen += 1;
                (0.0, seen)
            });
            entry.0 += 1.0 / (RRF_K + (i + 1) as f64);
        }
    }
    let mut fused: Vec<(&'a str, f64, usize)> =
        scores.into_iter().map(|(id, (s, o))| (id, s, o)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused.into_iter().map(|(id, s, _)| (id, s)).collect()
}

/// Words too common to match on in sparse vectors.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "is", "are", "it", "i", "my",
    "me", "you", "your", "we", "our", "can", "do", "does", "be", "with", "this", "that", "at",
    "as", "have", "has", "if", "but", "not", "so", "hi", "hello", "thanks", "please", "there",
    "what", "how", "any", "from", "by", "was", "just",
];

fn term_hash(term: &str) -> u32 {
    // FNV-1a, folded to 31 bits (Upstash takes u32 indices; any stable hash works).
    let mut h: u32 = 0x811c_9dc5;
    for b in term.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h & 0x7fff_ffff
}

fn sparse_terms(text: &str) -> Vec<String> {
    crate::pipeline::text::tokens(text)
        .into_iter()
        .filter(|t| !STOPWORDS.contains(&t.as_str()))
        .map(|t| {
            for suffix in ["ing", "ed", "es", "s"] {
                if let Some(base) = t.strip_suffix(suffix)
                    && base.chars().count() >= 4
                {
                    return base.to_owned();
                }
            }
            t
        })
        .collect()
}

/// A sparse vector of hashed, lightly stemmed terms (sorted indices, distinct): for a document,
/// BM25's saturated term frequency (k1 = 1.2, b = 0.75, average length 120 terms); for a query
/// (`query = true`), 1 per distinct term. Their inner product is BM25 without the IDF factor.
pub fn sparse_vector(text: &str, query: bool) -> (Vec<u32>, Vec<f32>) {
    let terms = sparse_terms(text);
    let len = terms.len() as f32;
    let mut tf: std::collections::BTreeMap<u32, f32> = std::collections::BTreeMap::new();
    for t in &terms {
        *tf.entry(term_hash(t)).or_default() += 1.0;
    }
    let (k1, b, avg) = (1.2f32, 0.75f32, 120.0f32);
    tf.into_iter()
        .map(|(i, f)| {
            let w = if query {
                1.0
            } else {
                f * (k1 + 1.0) / (f + k1 * (1.0 - b + b * len / avg))
            };
            (i, w)
        })
        .unzip()
}

/// One chunk of a current article version, with its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseDoc {
    pub chunk_id: String,
    pub article_id: String,
    pub version: i64,
    /// Whether customers may see it (`false`: internal).
    pub public: bool,
}

/// A dense hit: the chunk and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseHit {
    pub chunk_id: String,
    pub article_id: String,
    pub version: i64,
    pub score: f32,
}

#[derive(Debug, Default)]
struct AppVectors {
    dims: usize,
    /// Chunks held per article (a put of a new article skips the removal scan).
    articles: HashMap<String, usize>,
    docs: Vec<DenseDoc>,
    /// `docs.len() * dims` floats, row-major.
    matrix: Vec<f32>,
}

/// From how many chunks a dense search splits its scan between threads.
const PARALLEL_SCAN_ROWS: usize = 20_000;
/// At most this many threads per dense search.
const MAX_SCAN_THREADS: usize = 4;

impl AppVectors {
    /// The best `k` of the rows in `range` for `query` as (score, row), best first; ties keep
    /// the earlier row.
    fn top_k(
        &self,
        range: std::ops::Range<usize>,
        query: &[f32],
        k: usize,
        include_internal: bool,
    ) -> Vec<(f32, usize)> {
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        let rows = self.matrix[range.start * self.dims..range.end * self.dims]
            .chunks_exact(self.dims)
            .zip(range);
        for (row, i) in rows {
            if !include_internal && !self.docs[i].public {
                continue;
            }
            let s = dot(row, query);
            if best.len() < k {
                best.push((s, i));
                if best.len() == k {
                    best.sort_by(|a, b| b.0.total_cmp(&a.0));
                }
            } else if s > best[k - 1].0 {
                let pos = best.partition_point(|(bs, _)| *bs >= s);
                best.insert(pos, (s, i));
                best.truncate(k);
            }
        }
        if best.len() < k {
            best.sort_by(|a, b| b.0.total_cmp(&a.0));
        }
        best
    }

    fn remove_article(&mut self, article_id: &str) {
        if self.articles.remove(article_id).is_none() {
            return;
        }
        let dims = self.dims;
        let mut keep = 0usize;
        for i in 0..self.docs.len() {
            if self.docs[i].article_id != article_id {
                if keep != i {
                    self.docs.swap(keep, i);
                    self.matrix
                        .copy_within(i * dims..(i + 1) * dims, keep * dims);
                }
                keep += 1;
            }
        }
        self.docs.truncate(keep);
        self.matrix.truncate(keep * dims);
    }
}

/// Why a vector was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vector of {got} floats where the index holds {want}")]
pub struct DimensionMismatch {
    pub want: usize,
    pub got: usize,
}

/// Unit vectors of the current version of every article, per app, searched by brute force.
/// Readers share a lock; an article's new version replaces all its chunks at once.
#[derive(Debug, Default)]
pub struct DenseIndex {
    apps: RwLock<HashMap<String, AppVectors>>,
}

impl DenseIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the chunks of `article_id` in `app` with `chunks` (its current version).
    pub fn put_article(
        &self,
        app: &str,
        article_id: &str,
        chunks: Vec<(DenseDoc, Vec<f32>)>,
    ) -> Result<(), DimensionMismatch> {
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        let entry = apps.entry(app.to_owned()).or_default();
        if entry.docs.is_empty()
            && let Some((_, v)) = chunks.first()
        {
            entry.dims = v.len();
        }
        if let Some((_, v)) = chunks.iter().find(|(_, v)| v.len() != entry.dims) {
            return Err(DimensionMismatch {
                want: entry.dims,
                got: v.len(),
            });
        }
        entry.remove_article(article_id);
        if !chunks.is_empty() {
            entry.articles.insert(article_id.to_owned(), chunks.len());
        }
        for (doc, v) in chunks {
            entry.docs.push(doc);
            entry.matrix.extend_from_slice(&v);
        }
        Ok(())
    }

    /// Drops every chunk of `article_id` (the article was deleted).
    pub fn remove_article(&self, app: &str, article_id: &str) {
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = apps.get_mut(app) {
            entry.remove_article(article_id);
        }
    }

    /// How many chunks `app` holds.
    pub fn len(&self, app: &str) -> usize {
        let apps = self.apps.read().unwrap_or_else(|e| e.into_inner());
        apps.get(app).map_or(0, |a| a.docs.len())
    }

    /// Whether `app` holds nothing.
    pub fn is_empty(&self, app: &str) -> bool {
        self.len(app) == 0
    }

    /// The `k` chunks of `app` closest to `query` (a unit vector), best first; internal chunks
    /// only when `include_internal`.
    pub fn search(
        &self,
        app: &str,
        query: &[f32],
        k: usize,
        include_internal: bool,
    ) -> Vec<DenseHit> {
        let apps = self.apps.read().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = apps.get(app) else {
            return Vec::new();
        };
        if entry.dims != query.len() || k == 0 {
            return Vec::new();
        }
        // The scan is bound by memory bandwidth (100,000 × 384 floats are 154 MB): a large
        // index is split between the cores, each keeping its own best `k`, then merged by
        // (score, position), the order a single scan keeps, so the answer does not change.
        let rows = entry.docs.len();
        let parts = if rows >= PARALLEL_SCAN_ROWS {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SCAN_THREADS))
        } else {
            1
        };
        let best = if parts > 1 {
            let per = rows.div_ceil(parts);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..parts)
                    .map(|p| {
                        let range = p * per..((p + 1) * per).min(rows);
                        scope.spawn(move || entry.top_k(range, query, k, include_internal))
                    })
                    .collect();
                let mut all: Vec<(f32, usize)> = handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect();
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                all.truncate(k);
                all
            })
        } else {
            entry.top_k(0..rows, query, k, include_internal)
        };
        best.into_iter()
            .map(|(score, i)| {
                let d = &entry.docs[i];
                DenseHit {
                    chunk_id: d.chunk_id.clone(),
                    article_id: d.article_id.clone(),
                    version: d.version,
                    score,
                }
            })
            .collect()
    }
}

/// How many candidates each side gives the fusion: enough that a chunk ranked low by one and
/// high by the other still surfaces (fixed, not tuned on the eval set).
pub const FUSION_DEPTH: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::normalize;

    fn doc(chunk: &str, article: &str, public: bool) -> DenseDoc {
        DenseDoc {
            chunk_id: chunk.into(),
            article_id: article.into(),
            version: 1,
            public,
        }
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        normalize(&mut v);
        v
    }

    #[test]
    fn sparse_vectors_match_shared_terms() {
        let (di, dv) = sparse_vector("Refunds: you can get a refund within 30 days.", false);
        let (qi, qv) = sparse_vector("refund please", true);
        assert!(di.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(di.len(), dv.len());
        assert_eq!(qv, vec![1.0]);
        assert!(di.contains(&qi[0]), "refunds and refund share a term");
        assert!(dv.iter().all(|v| *v > 0.0));
        assert_eq!(sparse_vector("the and of", true), (vec![], vec![]));
    }

    #[test]
    fn rrf_adds_one_over_sixty_plus_rank() {
        let fused = rrf(&[vec!["a", "b", "c"], vec!["c", "a"]]);
        let score = |id: &str| fused.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
        assert_eq!(fused[0].0, "a");
        assert!((score("a").unwrap_or(0.0) - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert!((score("c").unwrap_or(0.0) - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert!((score("b").unwrap_or(0.0) - 1.0 / 62.0).abs() < 1e-12);
        assert_eq!(
            fused.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
        assert!(rrf(&[]).is_empty());
    }

    #[test]
    fn a_split_scan_answers_as_one_scan_does() {
        // Enough rows to split the scan; few distinct vectors, so scores tie a lot and the
        // merge must keep a single scan's order (the earlier row first).
        let ix = DenseIndex::new();
        let dirs: Vec<Vec<f32>> = (0..7)
            .map(|i| unit(&[1.0, i as f32 * 0.3, (i % 3) as f32, 0.5]))
            .collect();
        let chunks: Vec<(DenseDoc, Vec<f32>)> = (0..PARALLEL_SCAN_ROWS + 5_003)
            .map(|i| {
                (
                    doc(&format!("c{i}"), "a", i % 5 != 0),
                    dirs[(i * 7919) % dirs.len()].clone(),
                )
            })
            .collect();
        ix.put_article("app", "a", chunks).unwrap();
        let q = unit(&[1.0, 0.9, 1.0, 0.5]);
        for (k, internal) in [(1, true), (50, true), (50, false), (3_000, false)] {
            let got = ix.search("app", &q, k, internal);
            let apps = ix.apps.read().unwrap();
            let entry = &apps["app"];
            let want = entry.top_k(0..entry.docs.len(), &q, k, internal);
            let want: Vec<String> = want
                .iter()
                .map(|(_, i)| entry.docs[*i].chunk_id.clone())
                .collect();
            let got: Vec<String> = got.into_iter().map(|h| h.chunk_id).collect();
            assert_eq!(got.len(), k);
            assert_eq!(got, want, "k = {k}, internal = {internal}");
        }
    }

    #[test]
    fn dense_search_ranks_by_cosine_filters_and_replaces_versions() {
        let index = DenseIndex::new();
        index
            .put_article(
                "app",
                "refunds",
                vec![
                    (doc("r1", "refunds", true), unit(&[1.0, 0.1, 0.0])),
                    (doc("r2", "refunds", true), unit(&[0.7, 0.7, 0.0])),
                ],
            )
            .expect("put");
        index
            .put_article(
                "app",
                "internal",
                vec![(doc("i1", "internal", false), unit(&[1.0, 0.0, 0.0]))],
            )
            .expect("put");
        index
            .put_article(
                "other",
                "x",
                vec![(doc("x1", "x", true), unit(&[1.0, 0.0, 0.0]))],
            )
            .expect("put");
        let q = unit(&[1.0, 0.0, 0.0]);
        let ids = |hits: Vec<DenseHit>| hits.into_iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(index.search("app", &q, 5, false)), ["r1", "r2"]);
        assert_eq!(ids(index.search("app", &q, 2, true)), ["i1", "r1"]);
        assert_eq!(ids(index.search("app", &q, 1, true)), ["i1"]);
        assert!(index.search("nobody", &q, 3, true).is_empty());
        assert!(index.search("app", &[1.0, 0.0], 3, true).is_empty());

        // A new version replaces every chunk of the article.
        let mut v2 = doc("r3", "refunds", true);
        v2.version = 2;
        index
            .put_article("app", "refunds", vec![(v2, unit(&[0.0, 1.0, 0.0]))])
            .expect("put");
        let hits = index.search("app", &q, 5, false);
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].chunk_id.as_str(), hits[0].version), ("r3", 2));
        assert_eq!(index.len("app"), 2);
        assert_eq!(
            index.put_article("app", "y", vec![(doc("y1", "y", true), vec![1.0])]),
            Err(DimensionMismatch { want: 3, got: 1 })
        );
        index.remove_article("app", "internal");
        assert_eq!(ids(index.search("app", &q, 5, true)), ["r3"]);
    }
}
