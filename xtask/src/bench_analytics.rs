//! `cargo xtask bench-analytics [--postgres URL | --db PATH] [--conversations N] [--apps N]
//! [--requests N]`: a year of reporting events for N conversations (1,000,000 by default;
//! `core::analytics::demo`'s generator, ~9 events each) written in one transaction per day, each
//! day rolled up (`analytics::rollup_day`, timed), then the 90-day analytics query as the API
//! runs it (`refresh` with nothing new, `rollup_totals` of the period and the previous one,
//! `summarize` by day) timed N times; p50/p95 to `docs/bench/analytics.md` and stdout as JSON.
//! The database defaults to a fresh SQLite file under /tmp (removed unless `--db` is given).

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use support_core::analytics::{self, GroupBy, demo, summarize};
use support_core::store::Store;
use support_core::time::{DAY_MS, now_ms};

struct Options {
    url: String,
    conversations: u64,
    apps: usize,
    requests: usize,
    temp: Option<std::path::PathBuf>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        url: String::new(),
        conversations: 1_000_000,
        apps: 3,
        requests: 100,
        temp: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--postgres" => o.url = val()?,
            "--db" => o.url = format!("sqlite://{}?mode=rwc", val()?),
            "--conversations" => o.conversations = val()?.parse()?,
            "--apps" => o.apps = val()?.parse()?,
            "--requests" => o.requests = val()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if o.url.is_empty() {
        let path = std::env::temp_dir().join(format!("bench-analytics-{}.db", std::process::id()));
        o.url = format!("sqlite://{}?mode=rwc", path.display());
        o.temp = Some(path);
    }
    Ok(o)
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(args)?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(bench(&o));
    if let Some(p) = &o.temp {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
    let report = result?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    let md = format!(
        "# Analytics benchmark\n\n`cargo xtask bench-analytics {}` ({} build), {}.\n\n\
         | what | figure |\n|---|---|\n\
         | conversations / reporting events | {} / {} |\n\
         | write the events (one transaction per day) | {:.1} s |\n\
         | roll up one day (p50 / max over {} days; events per day ≈ {}) | {:.1} ms / {:.1} ms |\n\
         | 90-day query from the rollups' daily totals, by day, with the previous period (p50 / p95 / max, {} requests) | {:.2} / {:.2} / {:.2} ms |\n\
         | rollup rows read per query | {} |\n",
        args.join(" "),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        report["backend"].as_str().unwrap_or_default(),
        report["conversations"],
        report["events"],
        report["write_s"].as_f64().unwrap_or(0.0),
        report["days"],
        report["events_per_day"],
        report["rollup_day_ms"]["p50_ms"].as_f64().unwrap_or(0.0),
        report["rollup_day_ms"]["max_ms"].as_f64().unwrap_or(0.0),
        report["query_90d_ms"]["requests"],
        report["query_90d_ms"]["p50_ms"].as_f64().unwrap_or(0.0),
        report["query_90d_ms"]["p95_ms"].as_f64().unwrap_or(0.0),
        report["query_90d_ms"]["max_ms"].as_f64().unwrap_or(0.0),
        report["rollup_rows"],
    );
    let out = root.join("docs/bench/analytics.md");
    std::fs::write(&out, md).with_context(|| out.display().to_string())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn summary(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    json!({"requests": ms.len(), "p50_ms": q(0.5), "p95_ms": q(0.95), "max_ms": q(1.0)})
}

async fn bench(o: &Options) -> Result<serde_json::Value> {
    let db = support_store::Db::connect(&o.url).await?;
    let store: &dyn Store = &db;
    let apps: Vec<String> = (0..o.apps).map(|i| format!("bench-app-{i}")).collect();
    let days = 365_i64;
    let now = now_ms();
    let today = now.div_euclid(DAY_MS);
    // Conversations per app and day; the generator adds up to half as many again (a quarter on
    // average).
    let per_day = (o.conversations * 4 / 5 / (days as u64 * o.apps as u64)).max(1);
    let started = Instant::now();
    let mut events = 0u64;
    let mut conversations = 0u64;
    let mut rollup_ms = Vec::new();
    for d in (today - days + 1)..=today {
        let day_end = (d + 1) * DAY_MS - 1;
        // The day's conversations (a resolution after midnight lands in the next day's rollup).
        let mut evs = demo::history(&apps, day_end.min(now), 1, per_day);
        for e in &mut evs {
            e.id = e.id.replacen("demo:", "bench:", 1);
        }
        conversations += evs
            .iter()
            .filter(|e| e.kind == analytics::EventKind::MessageReceived)
            .count() as u64;
        events += store.insert_reporting_events(&evs).await? as u64;
        let t = Instant::now();
        analytics::rollup_day(store, d, now).await?;
        rollup_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if (d - today) % 30 == 0 {
            eprintln!(
                "  day {} of {days}: {conversations} conversations, {events} events",
                d - today + days
            );
        }
    }
    let write_s = started.elapsed().as_secs_f64() - rollup_ms.iter().sum::<f64>() / 1000.0;
    store
        .set_rollup_watermark(now_ms() + analytics::WATERMARK_LAG_MS)
        .await?;

    let (from, to) = (today - 89, today);
    let (pf, pt) = (from - 90, from - 1);
    let mut rows_read = 0;
    let query = || async {
        analytics::refresh(store, now_ms() + analytics::WATERMARK_LAG_MS).await?;
        let rows = store.rollup_totals(pf, to, None).await?;
        let r = summarize(&rows, from, to, GroupBy::Day);
        let prev = summarize(&rows, pf, pt, GroupBy::App).total;
        anyhow::Ok((rows.len(), r.total.volume + prev.volume))
    };
    for _ in 0..5 {
        query().await?;
    }
    let mut ms = Vec::new();
    for _ in 0..o.requests {
        let t = Instant::now();
        let (n, volume) = query().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        rows_read = n;
        if volume == 0 {
            bail!("the query found nothing");
        }
    }
    Ok(json!({
        "backend": store.backend(),
        "conversations": conversations,
        "events": events,
        "days": days,
        "events_per_day": events / days as u64,
        "write_s": write_s,
        "rollup_day_ms": summary(rollup_ms),
        "query_90d_ms": summary(ms),
        "rollup_rows": rows_read,
    }))
}
