//! `cargo xtask bench-sdk`: signed `lookupUser` requests against (a) our Rust handler
//! (`support_sdk::router`) and (b) the npm `@skillrecordings/sdk@0.5.0` handler on Node
//! (`crates/sdk/tests/npm/server.mjs`), with the same load generator: tokio + reqwest, fixed
//! concurrency, a bounded number of requests and time, loopback only.
//!
//! Both servers answer from the same fixtures (`crates/sdk/tests/npm/fixtures.json`) and get one
//! thread each (Node is single-threaded; the Rust server runs on a current-thread runtime), and
//! the load generator runs on one more. Requests are signed one by one, as the platform does.
//! Writes `target/bench-report-sdk.json` and prints it. Built in release: a debug `xtask`
//! re-runs itself with `cargo run --release`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support_sdk::types::*;
use support_sdk::{IntegrationError, SupportIntegration, async_trait};

const INNER: &str = "XTASK_BENCH_SDK_RELEASE";
const EMAIL: &str = "jane@example.com";

/// Options: `--requests N` (default 20000), `--concurrency C` (default 32),
/// `--max-seconds S` (default 30 per target).
struct Options {
    requests: u64,
    concurrency: usize,
    max_time: Duration,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        requests: 20_000,
        concurrency: 32,
        max_time: Duration::from_secs(30),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context("missing value").cloned();
        match a.as_str() {
            "--requests" => o.requests = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--max-seconds" => o.max_time = Duration::from_secs(value()?.parse()?),
            other => bail!("unknown option {other} (--requests N --concurrency C --max-seconds S)"),
        }
    }
    if o.requests == 0 || o.concurrency == 0 {
        bail!("--requests and --concurrency must be positive");
    }
    Ok(o)
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = options(args)?;
    if cfg!(debug_assertions) && std::env::var_os(INNER).is_none() {
        eprintln!("xtask: building the benchmark in release (cargo run --release -p xtask)");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        return crate::run(
            Command::new(cargo)
                .args([
                    "run",
                    "--release",
                    "--quiet",
                    "-p",
                    "xtask",
                    "--",
                    "bench-sdk",
                ])
                .args(args)
                .env(INNER, "1")
                .current_dir(root),
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let npm_dir = root.join("crates/sdk/tests/npm");
    let fixtures: Value = serde_json::from_slice(
        &std::fs::read(npm_dir.join("fixtures.json"))
            .context("crates/sdk/tests/npm/fixtures.json")?,
    )?;
    let secret = fixtures["secrets"]["primary"]
        .as_str()
        .context("fixtures: secrets.primary")?
        .to_owned();
    let users: Vec<User> = serde_json::from_value(fixtures["users"].clone())?;

    let rust_url = serve_rust(users, secret.clone())?;
    let node = match start_node(root, &npm_dir) {
        Ok(node) => Some(node),
        Err(e) => {
            eprintln!("xtask: skipping the npm handler: {e:#}");
            None
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    results.push(runtime.block_on(load(
        "rust: support-sdk handler (axum)",
        &rust_url,
        &secret,
        &options,
    ))?);
    if let Some((_, url)) = &node {
        results.push(runtime.block_on(load(
            "node: @skillrecordings/sdk 0.5.0 createSupportHandler",
            url,
            &secret,
            &options,
        ))?);
    }
    drop(node);
    let report = json!({
        "benchmark": "signed lookupUser (X-Support-Signature HMAC-SHA256), loopback",
        "requests_per_target": options.requests,
        "concurrency": options.concurrency,
        "max_seconds_per_target": options.max_time.as_secs(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "results": results,
    });
    let out = root.join("target/bench-report-sdk.json");
    std::fs::create_dir_all(root.join("target"))?;
    std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    for r in &results {
        println!(
            "{:<55} {:>9.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} ok, {} errors)",
            r["name"].as_str().unwrap_or_default(),
            r["requests_per_second"].as_f64().unwrap_or_default(),
            r["p50_ms"].as_f64().unwrap_or_default(),
            r["p99_ms"].as_f64().unwrap_or_default(),
            r["ok"],
            r["errors"],
        );
    }
    println!("report: {}", out.display());
    Ok(())
}

/// The fixtures' users, answering `lookupUser` like `tests/npm/app.mjs` does.
struct Fixtures {
    users: Vec<User>,
}

#[async_trait]
impl SupportIntegration for Fixtures {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        Ok(self.users.iter().find(|u| u.email == email).cloned())
    }
    async fn get_purchases(&self, _: &str) -> Result<Vec<Purchase>, IntegrationError> {
        Ok(Vec::new())
    }
    async fn revoke_access(&self, _: RevokeAccessParams) -> Result<ActionResult, IntegrationError> {
        Ok(ActionResult::failed("read-only benchmark"))
    }
    async fn transfer_purchase(
        &self,
        _: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(ActionResult::failed("read-only benchmark"))
    }
    async fn generate_magic_link(
        &self,
        p: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        Ok(MagicLink {
            url: format!("https://demo.example.com/auth/magic?email={}", p.email),
        })
    }
}

/// Serves the Rust handler on its own thread (one current-thread runtime) on 127.0.0.1.
fn serve_rust(users: Vec<User>, secret: String) -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(runtime) = runtime else { return };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().nest(
                "/full",
                support_sdk::router(Arc::new(Fixtures { users }), vec![secret]),
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(format!("http://{addr}/full"))
}

/// `node server.mjs`, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node(root: &Path, npm_dir: &Path) -> Result<(Node, String)> {
    Command::new("node")
        .arg("--version")
        .output()
        .context("`node` is not on PATH")?;
    if !npm_dir.join("node_modules/@skillrecordings/sdk").exists() {
        crate::npm_install(root)?;
    }
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(npm_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn node server.mjs")?;
    let stdout = child.stdout.take().context("node stdout")?;
    let node = Node(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v["port"].as_u64())
        .with_context(|| format!("server.mjs did not report its port: {line:?}"))?;
    Ok((node, format!("http://127.0.0.1:{port}/full")))
}

async fn one(client: &reqwest::Client, url: &str, secret: &str, body: &[u8]) -> Result<Duration> {
    let started = Instant::now();
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header(
            support_sdk::SIGNATURE_HEADER,
            support_sdk::signing::sign_now(secret, body),
        )
        .body(body.to_vec())
        .send()
        .await?;
    let status = res.status();
    let bytes = res.bytes().await?;
    let elapsed = started.elapsed();
    if !status.is_success() || !bytes.starts_with(br#"{"id":"usr_1""#) {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(elapsed)
}

async fn load(name: &str, url: &str, secret: &str, o: &Options) -> Result<Value> {
    if !url.starts_with("http://127.0.0.1:") {
        bail!("refusing to load anything but loopback: {url}");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    let body = serde_json::to_vec(&json!({"action": "lookupUser", "email": EMAIL}))?;
    // Warm-up: connections, JIT, caches. Also proves both answer the same.
    for _ in 0..200 {
        one(&client, url, secret, &body)
            .await
            .with_context(|| format!("{name} at {url}"))?;
    }
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + o.max_time;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (client, url, secret, body) = (
            client.clone(),
            url.to_owned(),
            secret.to_owned(),
            body.clone(),
        );
        let (issued, errors, total) = (issued.clone(), errors.clone(), o.requests);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                match one(&client, &url, &secret, &body).await {
                    Ok(d) => latencies.push(d),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        (latencies[i].as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
    };
    let ok = latencies.len() as u64;
    Ok(json!({
        "name": name,
        "url": url,
        "ok": ok,
        "errors": errors.load(Ordering::Relaxed),
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "requests_per_second": (ok as f64 / elapsed).round(),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }))
}
