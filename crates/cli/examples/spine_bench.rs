//! Spine benchmarks (a report, not a test): intake acknowledgements per second on SQLite, and
//! webhook → draft latency in the Front sandbox with the offline agent. Loopback only, bounded.
//!
//! `cargo run --release -p support-cli --example spine_bench -- [--acks N] [--drafts N]`
//! writes `target/bench-report-spine.json`.
#![allow(clippy::print_stdout)]

use serde_json::json;
use std::time::{Duration, Instant};
use support_front::sandbox::NewMessage;
use support_testkit::{TestApp, TestBackend, init_crypto};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    init_crypto();
    let acks = arg("--acks", 5000);
    let drafts = arg("--drafts", 50);
    // `--redis URL`: the registry's generation in Redis, as with several instances.
    let redis: Option<String> = {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--redis")
            .and_then(|i| args.get(i + 1).cloned())
    };
    let shared = |s: &mut support_core::Settings| {
        s.redis_url = redis.clone().map(support_core::settings::Secret::new);
    };

    // 1. Intake only (no workflow): signed webhooks, 32 in flight.
    let app = TestApp::spawn_with(TestBackend::Sqlite, |s| {
        s.front.api_token = None;
        shared(s);
    })
    .await
    .expect("bench setup");
    let secret = app.demo.front_signing_secret.clone();
    let inbox = app.demo.apps[0].front_inbox_id.clone();
    let client = reqwest::Client::new();
    let url = app.url("/webhooks/front");
    let started = Instant::now();
    let mut lat = Vec::with_capacity(acks);
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..acks {
        let body = json!({"type": "inbound_received", "authorization": {"id": "cmp_bench"},
            "payload": {"id": format!("evt_bench_{i}"), "type": "inbound", "conversation": {"id": format!("cnv_b{i}")},
                        "source": {"_meta": {"type": "inboxes"}, "data": [{"id": inbox}]},
                        "target": {"_meta": {"type": "message"}, "data": {"id": format!("msg_b{i}")}}}})
        .to_string();
        let ts = support_core::time::now_ms().to_string();
        let sig = support_core::front::webhook_signature(&secret, &ts, body.as_bytes());
        let req = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-front-signature", sig)
            .header("x-front-request-timestamp", ts)
            .body(body);
        pending.push(async move {
            let t = Instant::now();
            let ok = req
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            (ok, t.elapsed().as_secs_f64() * 1000.0)
        });
        if pending.len() >= 32
            && let Some((ok, ms)) = pending.next().await
        {
            assert!(ok);
            lat.push(ms);
        }
    }
    while let Some((ok, ms)) = pending.next().await {
        assert!(ok);
        lat.push(ms);
    }
    let secs = started.elapsed().as_secs_f64();
    let acks_per_sec = acks as f64 / secs;
    let (ack_p50, ack_p99) = (pct(&mut lat, 50.0), pct(&mut lat, 99.0));
    drop(app);

    // 2. Webhook → draft, one conversation at a time.
    let app = TestApp::spawn_with(TestBackend::Sqlite, shared)
        .await
        .expect("bench setup");
    let mut changes = app.front.subscribe();
    let mut lat = Vec::with_capacity(drafts);
    let customers = [
        "kyle.dunmore@example.com",
        "marcus.lee@example.com",
        "j.schreiber@example.com",
    ];
    for i in 0..drafts {
        let t = Instant::now();
        let d = app
            .front
            .deliver(NewMessage {
                conversation_id: None,
                inbox_id: app.demo.apps[0].front_inbox_id.clone(),
                from: customers[i % customers.len()].into(),
                from_name: None,
                reply_to: None,
                subject: "Login link".into(),
                body: "Hi, my login link never arrives. Could you send me a new one?".into(),
                inbound: true,
            })
            .await
            .expect("bench setup");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while app.front.drafts(&d.conversation_id).is_empty() {
            tokio::time::timeout_at(deadline, changes.changed())
                .await
                .expect("bench setup")
                .expect("bench setup");
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (d_p50, d_p99) = (pct(&mut lat, 50.0), pct(&mut lat, 99.0));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let report = json!({
        "profile": profile,
        "cache": if redis.is_some() { "redis" } else { "memory" },
        "intake": {"requests": acks, "concurrency": 32, "acks_per_sec": acks_per_sec, "p50_ms": ack_p50, "p99_ms": ack_p99,
                   "targets": {"acks_per_sec": 5000, "p99_ms": 10}},
        "webhook_to_draft": {"conversations": drafts, "p50_ms": d_p50, "p99_ms": d_p99, "targets": {"p50_ms": 20, "p99_ms": 100}},
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-report-spine.json");
    let _ = std::fs::create_dir_all(path.parent().expect("bench setup"));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&report).expect("bench setup"),
    )
    .expect("bench setup");
    let cache = if redis.is_some() { "redis" } else { "memory" };
    println!("spine bench ({profile} build, {cache} registry cache)");
    println!(
        "  intake: {acks_per_sec:.0} acks/s, p50 {ack_p50:.2} ms, p99 {ack_p99:.2} ms  (target ≥ 5000/s, p99 ≤ 10 ms)"
    );
    println!(
        "  webhook → draft: p50 {d_p50:.1} ms, p99 {d_p99:.1} ms  (target p50 ≤ 20 ms, p99 ≤ 100 ms)"
    );
    println!("  report: {}", path.display());
}
