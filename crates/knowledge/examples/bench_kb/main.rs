//! `cargo xtask bench-kb` (a benchmark, not a test): retrieval at 100,000 chunks in one app.
//!
//! Chunks are synthetic support paragraphs (40–120 words drawn from a 5,000-word vocabulary
//! with a Zipf-like skew, plus a few topic words) so tantivy's BM25 sees realistic postings
//! (the lexical side is `support_knowledge::LexicalIndex`, the one the platform runs); dense
//! vectors are random unit vectors of 384 floats (all-MiniLM-L6-v2's size): a brute-force scan
//! costs the same whatever the vectors hold. The query's own embedding is not included here
//! (the local model's per-query time is measured by `skill kb eval`, see docs/bench/kb.md).
//!
//! Prints one JSON document: index build times, chunks/s, query p50/p95/max for lexical, dense
//! and hybrid (both + RRF), and the peak RSS.
//!
//! With `--import`, the import end to end instead (see [`import`]).
//!
//! Usage: `bench_kb [--chunks N] [--queries N] [--dims N]` or
//! `bench_kb --import [--files N] [--db URL]`.

mod import;

use std::collections::HashMap;
use std::time::Instant;

use support_core::embed::normalize;
use support_core::knowledge::{ArticleChunkRow, Visibility};
use support_core::retrieval::{DenseDoc, DenseIndex, FUSION_DEPTH, rrf};
use support_knowledge::LexicalIndex;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    /// Zipf-ish: small indices much more often.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

const TOPICS: &[&str] = &[
    "refund",
    "invoice",
    "login",
    "password",
    "seat",
    "license",
    "video",
    "download",
    "certificate",
    "discount",
    "coupon",
    "subtitle",
    "workshop",
    "recording",
    "membership",
    "cancel",
    "upgrade",
    "transfer",
    "receipt",
    "vat",
    "team",
    "progress",
    "playback",
    "email",
];

fn word(i: usize) -> String {
    // Pronounceable distinct words: consonant-vowel pairs from the index.
    const C: &[u8] = b"bcdfghjklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut s = String::new();
    let mut n = i + 1;
    while n > 0 {
        s.push(C[n % C.len()] as char);
        n /= C.len();
        s.push(V[n % V.len()] as char);
        n /= V.len();
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    serde_json::json!({
        "p50_ms": percentile(&v, 0.50),
        "p95_ms": percentile(&v, 0.95),
        "max_ms": v.last().copied().unwrap_or(0.0),
    })
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vocab: Vec<String> = (0..5_000).map(word).collect();
    if args.iter().any(|a| a == "--import") {
        let files = arg(&args, "--files", 1_000);
        let db = args
            .iter()
            .position(|a| a == "--db")
            .and_then(|i| args.get(i + 1));
        let report = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(import::run(files, db.map(String::as_str), &vocab)),
            Err(e) => Err(e.into()),
        };
        match report {
            Ok(r) => println!("{r:#}"),
            Err(e) => {
                eprintln!("bench_kb --import: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let n = arg(&args, "--chunks", 100_000);
    let queries = arg(&args, "--queries", 200);
    let dims = arg(&args, "--dims", 384);
    let app = "bench";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let started = Instant::now();
    let chunks: Vec<ArticleChunkRow> = (0..n)
        .map(|i| {
            let len = 40 + rng.below(80);
            let mut words: Vec<&str> = (0..len)
                .map(|_| vocab[rng.skewed(vocab.len())].as_str())
                .collect();
            for _ in 0..3 {
                words.push(TOPICS[rng.below(TOPICS.len())]);
            }
            ArticleChunkRow {
                id: format!("c{i}"),
                article_id: format!("a{}", i / 4),
                version: 1,
                app: app.into(),
                ordinal: (i % 4) as i64,
                title: format!("Article {}", i / 4),
                heading: String::new(),
                text: words.join(" "),
                visibility: Visibility::Public,
            }
        })
        .collect();
    let generate_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let lexical = match LexicalIndex::new().and_then(|l| l.rebuild_now(&chunks).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench_kb: {e}");
            std::process::exit(1);
        }
    };
    let lexical_build_s = started.elapsed().as_secs_f64();
    let search = |text: &str| {
        lexical
            .search_now(app, text, FUSION_DEPTH, Visibility::Public)
            .unwrap_or_default()
    };

    let started = Instant::now();
    let dense = DenseIndex::new();
    let mut by_article: HashMap<String, Vec<(DenseDoc, Vec<f32>)>> = HashMap::new();
    for c in &chunks {
        let mut v: Vec<f32> = (0..dims).map(|_| rng.unit()).collect();
        normalize(&mut v);
        by_article.entry(c.article_id.clone()).or_default().push((
            DenseDoc {
                chunk_id: c.id.clone(),
                article_id: c.article_id.clone(),
                version: 1,
                public: true,
            },
            v,
        ));
    }
    for (article, docs) in by_article {
        if let Err(e) = dense.put_article(app, &article, docs) {
            eprintln!("bench_kb: {e}");
            std::process::exit(1);
        }
    }
    let dense_build_s = started.elapsed().as_secs_f64();

    let qs: Vec<(String, Vec<f32>)> = (0..queries)
        .map(|_| {
            let mut words: Vec<&str> = (0..6)
                .map(|_| vocab[rng.skewed(vocab.len())].as_str())
                .collect();
            words.push(TOPICS[rng.below(TOPICS.len())]);
            let mut v: Vec<f32> = (0..dims).map(|_| rng.unit()).collect();
            normalize(&mut v);
            (words.join(" "), v)
        })
        .collect();

    let mut lex_ms = Vec::new();
    let mut dense_ms = Vec::new();
    let mut hybrid_ms = Vec::new();
    let mut found = 0usize;
    for (text, v) in &qs {
        let t = Instant::now();
        let l = search(text);
        lex_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let d = dense.search(app, v, FUSION_DEPTH, true);
        dense_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let l2 = search(text);
        let d2 = dense.search(app, v, FUSION_DEPTH, true);
        let fused = rrf(&[
            l2.iter().map(|h| h.chunk_id.as_str()).collect(),
            d2.iter().map(|h| h.chunk_id.as_str()).collect(),
        ]);
        hybrid_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(!fused.is_empty() && !l.is_empty() && !d.is_empty());
    }
    let report = serde_json::json!({
        "lexical_engine": "tantivy (support_knowledge::LexicalIndex, in RAM)",
        "chunks": n,
        "dims": dims,
        "queries": queries,
        "fusion_depth": FUSION_DEPTH,
        "queries_with_results": found,
        "generate_ms": generate_ms,
        "lexical_build_s": lexical_build_s,
        "lexical_chunks_per_s": n as f64 / lexical_build_s.max(1e-9),
        "dense_build_s": dense_build_s,
        "lexical": stats(lex_ms),
        "dense_scan": stats(dense_ms),
        "hybrid_without_query_embedding": stats(hybrid_ms),
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{report:#}");
}
