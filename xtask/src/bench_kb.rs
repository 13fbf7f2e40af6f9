//! `cargo xtask bench-kb [--chunks N] [--queries N] [--dims N] [--import-only] [--files N]
//! [--postgres URL]`: the knowledge base's benchmarks (not tests), both through `support-knowledge`'s
//! `bench_kb` example built in release:
//!
//! - retrieval at 100,000 chunks (tantivy, the platform's lexical index, beside core's dense scan
//!   and RRF), skipped with `--import-only` (the last run's figures are kept);
//! - the import end to end (`bench_kb --import`: `skill kb import`'s path over N generated
//!   markdown files, 1,000 by default, about 11,000 chunks; first import, unchanged re-import,
//!   10% changed) on a fresh SQLite file and, with `--postgres URL` or `TEST_DATABASE_URL`, on a
//!   fresh Postgres database `support_bench_<id>` made beside the URL's and dropped afterwards.
//!
//! Writes `docs/bench/kb.json` (raw, the import under `import`) and `docs/bench/kb.md`; run
//! notes live in `docs/bench/kb-notes.md`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench_dashboard::{load_average, machine, target_dir};

struct Options {
    import_only: bool,
    files: usize,
    postgres: Option<String>,
    /// For the retrieval run (`--chunks`, `--queries`, `--dims`).
    retrieval: Vec<String>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        import_only: false,
        files: 1_000,
        postgres: std::env::var("TEST_DATABASE_URL").ok(),
        retrieval: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--import-only" => o.import_only = true,
            "--files" => o.files = value()?.parse()?,
            "--postgres" => o.postgres = Some(value()?),
            "--chunks" | "--queries" | "--dims" => {
                let v = value()?;
                o.retrieval.extend([a.clone(), v]);
            }
            other => bail!(
                "unknown argument {other} (cargo xtask bench-kb [--chunks N] [--queries N] [--dims N] [--import-only] [--files N] [--postgres URL])"
            ),
        }
    }
    Ok(o)
}

/// Run the release example and read the JSON it prints.
fn example(bin: &Path, args: &[&str]) -> Result<Value> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "bench_kb {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("bench_kb output")
}

/// The import on a fresh Postgres database next to `admin_url`'s, dropped afterwards whatever
/// the outcome.
fn postgres_import(bin: &Path, admin_url: &str, files: &str) -> Result<Value> {
    let rt = tokio::runtime::Runtime::new()?;
    // The pool starts its upkeep on the runtime.
    let _entered = rt.enter();
    let admin = support_store::Db::connect_lazy(admin_url)?;
    let name = support_core::ids::new_id("support_bench");
    let sql = |verb: &str| {
        let q = format!("{verb} DATABASE {name}");
        rt.block_on(sqlx::query(sqlx::AssertSqlSafe(q)).execute(admin.write_pool()))
    };
    sql("CREATE").context("creating the bench database")?;
    let url = support_store::replace_db_name(admin_url, &name);
    let result = example(bin, &["--import", "--files", files, "--db", &url]);
    let dropped = sql("DROP").with_context(|| format!("dropping {name}"));
    rt.block_on(admin.close());
    let v = result?;
    dropped?;
    Ok(v)
}

fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // What `cargo run` set for xtask: ring's build script tracks CARGO_MANIFEST_DIR, so the
    // release build would be redone (4+ minutes here) on every switch between a plain `cargo
    // build` and this one.
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    crate::run(
        cmd.args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "support-knowledge",
            "--example",
            "bench_kb",
        ])
        .current_dir(root),
    )?;
    Ok(target_dir(root).join("release/examples/bench_kb"))
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(args)?;
    let bin = build(root)?;
    eprintln!("bench-kb: {} built", bin.display());
    let dir = root.join("docs/bench");
    std::fs::create_dir_all(&dir)?;
    let json_path = dir.join("kb.json");
    let mut v = if o.import_only {
        let text = std::fs::read(&json_path).context("--import-only keeps kb.json's retrieval")?;
        serde_json::from_slice(&text).context("kb.json")?
    } else {
        let args: Vec<&str> = o.retrieval.iter().map(String::as_str).collect();
        example(&bin, &args)?
    };
    let files = o.files.to_string();
    let mut import = json!({
        "date": support_core::time::format_utc(support_core::time::now_ms()),
        "args": args.join(" "),
        "build": "release",
        "machine": machine(),
        "load_average_before": load_average(),
    });
    eprintln!("bench-kb: import of {files} files on SQLite");
    import["sqlite"] = example(&bin, &["--import", "--files", &files])?;
    match &o.postgres {
        Some(url) => {
            eprintln!("bench-kb: import of {files} files on Postgres");
            import["postgres"] = postgres_import(&bin, url, &files)?;
        }
        None => eprintln!("bench-kb: no Postgres (--postgres URL or TEST_DATABASE_URL)"),
    }
    import["load_average_after"] = load_average();
    v["import"] = import;
    std::fs::write(&json_path, serde_json::to_string_pretty(&v)? + "\n")?;
    std::fs::write(
        dir.join("kb.md"),
        retrieval_md(&v) + &import_md(&v["import"]),
    )?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    println!("wrote docs/bench/kb.md and docs/bench/kb.json");
    Ok(())
}

fn ms(v: &Value, key: &str, p: &str) -> String {
    format!("{:.2}", v[key][p].as_f64().unwrap_or(f64::NAN))
}

fn retrieval_md(v: &Value) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "# Knowledge retrieval benchmark\n\n\
Generated by `cargo xtask bench-kb` (`support-knowledge`'s `bench_kb` example, release build, \
one process, one query at a time; notes in `kb-notes.md`); raw figures in `kb.json`. {chunks} synthetic chunks in one app (40–120 words \
from a 5,000-word skewed vocabulary plus topic words), {dims}-float random unit vectors (the \
size of all-MiniLM-L6-v2's), {queries} queries, each retriever asked for its best \
{depth} (the fusion depth).\n\n\
| retrieval | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|\n\
| lexical (tantivy, `support_knowledge::LexicalIndex`) | {lp50} | {lp95} | {lmax} |\n\
| dense (brute-force cosine scan) | {dp50} | {dp95} | {dmax} |\n\
| hybrid (both + RRF k=60) | {hp50} | {hp95} | {hmax} |\n\n\
The hybrid row excludes embedding the query; add the local model's per-query time from \
`docs/eval/kb.md` for the embedded total.\n\n\
| build | value |\n|---|---:|\n\
| lexical index build | {lb:.2} s ({lrate:.0} chunks/s) |\n\
| dense index build (vectors given) | {db:.2} s |\n\
| peak RSS of the process (chunks, both indexes, vectors) | {rss:.0} MB |\n\n\
Brute force is the design at this scale: {chunks} × {dims} floats are {mb:.0} MB and one scan \
is the dense row above; an ANN index would add a dependency and recall loss for no gain. \
Beyond one app's few hundred thousand chunks, `kb.backend = \"upstash\"` moves both sides to \
Upstash Vector.\n",
        chunks = v["chunks"],
        dims = v["dims"],
        queries = v["queries"],
        depth = v["fusion_depth"],
        lp50 = ms(v, "lexical", "p50_ms"),
        lp95 = ms(v, "lexical", "p95_ms"),
        lmax = ms(v, "lexical", "max_ms"),
        dp50 = ms(v, "dense_scan", "p50_ms"),
        dp95 = ms(v, "dense_scan", "p95_ms"),
        dmax = ms(v, "dense_scan", "max_ms"),
        hp50 = ms(v, "hybrid_without_query_embedding", "p50_ms"),
        hp95 = ms(v, "hybrid_without_query_embedding", "p95_ms"),
        hmax = ms(v, "hybrid_without_query_embedding", "max_ms"),
        lb = f("lexical_build_s"),
        lrate = f("lexical_chunks_per_s"),
        db = f("dense_build_s"),
        rss = f("peak_rss_mb"),
        mb = f("chunks") * f("dims") * 4.0 / 1e6,
    )
}

/// The import section of `kb.md` from the `import` object of `kb.json` (empty without one).
fn import_md(imp: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let Some(first) = ["sqlite", "postgres"]
        .iter()
        .find_map(|b| imp.get(*b).filter(|r| r.is_object()))
    else {
        return String::new();
    };
    let loads = |v: &Value| {
        let l: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|x| format!("{:.2}", f(x))).collect())
            .unwrap_or_default();
        l.join(" / ")
    };
    let mut md = format!(
        "\n## Import end to end (`skill kb import`'s path)\n\n\
Generated by `cargo xtask bench-kb {args}` ({date}; `bench_kb --import`, {build} build, one \
process): `support_knowledge::import::import_paths` as `skill kb import <dir> --app APP` calls \
it (walk, read, parse the front matter, chunk, ONE store transaction with the article versions, \
then the tantivy index; no embedder) on a real `support_store::Db`, a fresh SQLite file and, \
when given, a fresh Postgres database. The tree: {files} generated markdown files ({mb:.1} MB, \
front matter, a title, an intro and 5-10 `##` sections, some with a `###` part or long enough to \
be split) giving {chunks} chunks. Each import is a new `KnowledgeBase` (an empty index) over the \
same store, as each `skill kb import` is a new process. Machine: {cpu} ({cpus} logical cpus, \
{mem} GiB), shared with other builds: load average (1 / 5 / 15 min) {before} before, {after} \
after.\n\n\
chunks/s is the tree's chunks over the wall time (for a re-import, how fast a tree of that size \
is checked); \"written\" counts the chunks of new versions only.\n\n\
| backend | import | files (created / updated / unchanged) | chunks written | wall s | chunks/s | files/s |\n\
|---|---|---|---:|---:|---:|---:|\n",
        args = imp["args"].as_str().unwrap_or_default(),
        date = imp["date"].as_str().unwrap_or_default(),
        build = imp["build"].as_str().unwrap_or_default(),
        files = first["files"],
        mb = f(&first["bytes"]) / 1e6,
        chunks = first["chunks"],
        cpu = imp["machine"]["cpu"].as_str().unwrap_or("unknown cpu"),
        cpus = imp["machine"]["cpus"],
        mem = imp["machine"]["memory_gib"],
        before = loads(&imp["load_average_before"]),
        after = loads(&imp["load_average_after"]),
    );
    let mut verdicts = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let r = &imp[backend];
        if !r.is_object() {
            continue;
        }
        for (key, label) in [
            ("first_import", "first"),
            (
                "reimport_unchanged",
                "unchanged tree again (nothing written: asserted)",
            ),
            ("reimport_10pct_changed", "10% of the files changed"),
        ] {
            let p = &r[key];
            md.push_str(&format!(
                "| {backend} | {label} | {} ({} / {} / {}) | {} | {:.2} | {:.0} | {:.0} |\n",
                p["files"],
                p["created"],
                p["updated"],
                p["unchanged"],
                p["chunks_written"],
                f(&p["wall_s"]),
                f(&p["chunks_per_s"]),
                f(&p["files_per_s"]),
            ));
        }
        let rate = f(&r["first_import"]["chunks_per_s"]);
        verdicts.push(format!(
            "{backend} {rate:.0} chunks/s ({})",
            if rate >= 1_000.0 { "met" } else { "missed" }
        ));
    }
    let p = &first["parse_and_chunk_only"];
    md.push_str(&format!(
        "\nReading, parsing and chunking the tree alone (no store, no index): {:.2} s, {:.0} \
chunks/s, the floor of any import.\n\n\
Target: first import >= 1,000 chunks/s lexical-only: {}.\n\n\
With the local embedding model (`kb.embedder = \"local\"`, the `local-embed` feature) every \
chunk of a new version is embedded during the import, so its rate is bounded by the \
embedder's: about 7 chunks/s measured (300 chunks in 40.6 s, debug build with candle at \
opt-level 3, loaded machine; `kb-notes.md`), i.e. about {:.0} minutes for this tree's first \
import. Not measured here: the feature is not built by this bench (15+ minutes of CPU).\n",
        f(&p["wall_s"]),
        f(&p["chunks_per_s"]),
        verdicts.join(", "),
        f(&first["chunks"]) / 7.0 / 60.0,
    ));
    md
}
