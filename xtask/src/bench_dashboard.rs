//! `cargo xtask bench-dashboard [--postgres URL] [--dir D] [--requests N] [--skill PATH]
//! [--store-only]`: the dashboard's server times on a seeded database (`cargo xtask seed`).
//!
//! Builds `skill` in release (or takes the release binary `--skill PATH`, so that a shared,
//! moving work tree does not trigger a rebuild between runs) and starts `skill dev --demo --bind 127.0.0.1:0 --data-dir D` (the
//! host's composition, the demo apps and admin on top of the seeded rows; with `--postgres`
//! on that database), signs in through the real `/login` form as the demo admin (the JSON API
//! with the demo admin token when the pages are not there), then requests each page `N` times
//! (default 200) one at a time over loopback keep-alive and takes p50/p95/p99 of the time to
//! the last byte of the body, measured by the client: server time plus a loopback round trip.
//! The server's peak RSS is its `VmHWM` from `/proc/<pid>/status` at the end (its `VmRSS` once
//! ready is recorded beside it). The machine (CPU model, cores, memory) and the load average
//! before and after the run go into the report: other processes on the machine slow the figures.
//!
//! Pages: the conversation list (first page, a filtered page, the page 10,000 rows deep by
//! following "Older"), a conversation's detail (random conversations across the year), the
//! audit trail filtered by kind and date, the approvals queue. Writes
//! `docs/bench/dashboard-<backend>.json` and regenerates `docs/bench/dashboard.md` from the
//! JSON files present, with the indexes of the bench's migrations (`20261206000600..699`,
//! `20261207000300..399`) and the hand-written `docs/bench/dashboard-notes.md`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod store_bench;

/// The p95 target of every page.
const TARGET_P95_MS: f64 = 50.0;
/// How deep the cursor page is.
const DEEP_ROWS: usize = 10_000;

struct Options {
    postgres: Option<String>,
    dir: PathBuf,
    requests: usize,
    /// Only the store layer (no server).
    store_only: bool,
    /// A release `skill` to run instead of building one.
    skill: Option<PathBuf>,
}

fn options(root: &Path, args: &[String]) -> Result<Options> {
    let (mut postgres, mut dir, mut requests, mut store_only, mut skill) =
        (None, None, 200, false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context("missing value");
        match a.as_str() {
            "--postgres" => postgres = Some(value()?),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--requests" => requests = value()?.parse()?,
            "--store-only" => store_only = true,
            "--skill" => skill = Some(PathBuf::from(value()?)),
            other => bail!(
                "unknown option {other} (cargo xtask bench-dashboard [--postgres URL] [--dir D] [--requests N] [--skill PATH] [--store-only])"
            ),
        }
    }
    let dir = dir.unwrap_or_else(|| {
        let base = root.join("target/bench-dashboard");
        if postgres.is_some() {
            base.join("postgres")
        } else {
            base.join("sqlite")
        }
    });
    Ok(Options {
        postgres,
        dir,
        requests: requests.max(1),
        store_only,
        skill,
    })
}

/// The server under test; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident set size in MiB (`VmHWM`).
    fn peak_rss_mib(&self) -> Option<f64> {
        self.status_mib("VmHWM:")
    }

    /// Current resident set size in MiB (`VmRSS`).
    fn rss_mib(&self) -> Option<f64> {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub(crate) fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    json!(avg)
}

/// The CPU model, its logical cores and the memory of this machine.
pub(crate) fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    json!({
        "cpu": model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": mem_gib,
    })
}

fn start_server(root: &Path, o: &Options) -> Result<Server> {
    let bin = match &o.skill {
        Some(bin) => bin.clone(),
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            eprintln!("xtask: building skill in release");
            crate::run(
                Command::new(cargo)
                    .args([
                        "build",
                        "--release",
                        "--quiet",
                        "-p",
                        "support-cli",
                        "--bin",
                        "skill",
                    ])
                    .current_dir(root),
            )?;
            target_dir(root).join("release/skill")
        }
    };
    let mut cmd = Command::new(&bin);
    cmd.args(["dev", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&o.dir)
        .current_dir(root);
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SUPPORT_LOG__FILTER", "warn");
    // The bench's back-to-back requests (200 per page from one address) exceed the default
    // per-source quotas (1,200 a minute, burst 300): raise the quotas of the routes it calls
    // through the settings, the limiter itself stays on as in production.
    for class in ["OTHER", "API"] {
        cmd.env(
            format!("SUPPORT_RATE_LIMIT__{class}__PER_MINUTE"),
            "1000000",
        );
        cmd.env(format!("SUPPORT_RATE_LIMIT__{class}__BURST"), "100000");
    }
    if let Some(url) = &o.postgres {
        cmd.env("SUPPORT_DATABASE_URL", url);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    // The address line, after any log line printed before it (on a seeded database the
    // startup's statements can log a slow-statement warning first).
    let mut skipped = Vec::new();
    let base = loop {
        let Some(line) = lines.next() else {
            bail!("skill exited without its address; it printed: {skipped:?}");
        };
        let line = line?;
        let last = line.rsplit(' ').next().unwrap_or_default().to_string();
        if line.contains("listening on") && last.starts_with("http://127.0.0.1:") {
            break last;
        }
        if skipped.len() >= 50 {
            bail!("no address line from skill among: {skipped:?}");
        }
        skipped.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, base })
}

/// How the bench authenticates: a session cookie (pages) or the demo admin token (JSON API).
#[derive(Clone)]
enum Auth {
    Cookie(String),
    Bearer(String),
}

struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

impl Client {
    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        req = match &self.auth {
            Auth::Cookie(c) => req.header("cookie", c),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect()
}

/// Sign in through the real `/login` form (double-submit CSRF cookie) as the demo admin.
async fn login(http: &reqwest::Client, base: &str, demo: &Value) -> Result<Option<String>> {
    let resp = http.get(format!("{base}/login")).send().await?;
    if resp.status().as_u16() != 200 {
        return Ok(None);
    }
    let cookies = set_cookies(&resp);
    let html = resp.text().await?;
    let Some(token) = attr_after(&html, "name=\"_csrf\"", "value=\"") else {
        return Ok(None);
    };
    let email = demo["admin"]["email"].as_str().unwrap_or_default();
    let password = demo["admin"]["password"].as_str().unwrap_or_default();
    let resp = http
        .post(format!("{base}/login"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("_csrf", token.as_str()),
            ("next", "/"),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await?;
    let session: Vec<String> = set_cookies(&resp)
        .into_iter()
        .filter(|c| c.starts_with("support_session=") && c.len() > "support_session=".len())
        .collect();
    Ok(session.first().cloned())
}

/// The value of the attribute `attr` (e.g. `value="`) after the first `marker` in `html`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let start = rest.find(attr)? + attr.len();
    let end = rest[start..].find('"')?;
    Some(unescape(&rest[start..start + end]))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
}

/// The `href` of the link whose text starts with `label` (e.g. "Older" of "Older →").
fn link_labelled(html: &str, label: &str) -> Option<String> {
    let at = html.find(&format!(">{label}"))?;
    let open = html[..at].rfind("<a ")?;
    attr_after(&html[open..at + 1], "<a ", "href=\"")
}

/// Summary of one page's timings in milliseconds.
fn summarize(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    json!({
        "requests": ms.len(),
        "p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": q(1.0),
    })
}

async fn measure(client: &Client, label: &str, paths: &[String], n: usize) -> Result<Value> {
    // Warm-up: the first requests pay for connection set-up and cold statements.
    for path in paths.iter().cycle().take(5) {
        client.get(path).await?;
    }
    let mut ms = Vec::with_capacity(n);
    let mut bytes = 0;
    for path in paths.iter().cycle().take(n) {
        let started = Instant::now();
        let (status, body) = client.get(path).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!(
                "{label}: GET {path} answered {status}: {}",
                &body[..body.len().min(300)]
            );
        }
        bytes = body.len();
    }
    let mut s = summarize(ms);
    s["page"] = json!(label);
    s["example"] = json!(paths[0]);
    s["bytes"] = json!(bytes);
    eprintln!(
        "  {label:<40} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms",
        s["p50_ms"].as_f64().unwrap_or(0.0),
        s["p95_ms"].as_f64().unwrap_or(0.0),
        s["p99_ms"].as_f64().unwrap_or(0.0)
    );
    Ok(s)
}

/// Deterministic sample of seeded conversations spread over the year.
fn sample_front_ids(count: i64, k: usize) -> Vec<String> {
    (0..k as i64)
        .map(|j| {
            let i = (j * 7_919 + 13) * count.max(1) / (k as i64 * 7_919 + 13);
            format!("cnv_seed{i:010x}")
        })
        .collect()
}

fn ymd(ms: i64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

const INNER: &str = "XTASK_BENCH_DASHBOARD_RELEASE";

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(root, args)?;
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
                    "bench-dashboard",
                ])
                .args(args)
                .env(INNER, "1")
                .current_dir(root),
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = match &o.postgres {
        Some(url) => url.clone(),
        None => {
            let db = o.dir.join("support.db");
            if !db.exists() {
                bail!(
                    "{} does not exist: run `cargo xtask seed --db {}` first",
                    db.display(),
                    db.display()
                );
            }
            format!("sqlite://{}", db.display())
        }
    };
    std::fs::create_dir_all(&o.dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let now = support_core::time::now_ms();
    let load_before = load_average();
    let audit_range = (now - 120 * 86_400_000, now - 90 * 86_400_000);
    let (conversations, audit_rows, pending, store) = rt.block_on(async {
        // Connecting migrates: the index migrations apply here, before anything is timed.
        eprintln!(
            "xtask: migrating {} (new indexes are built now)",
            support_store::redact_url(&url)
        );
        let db = support_store::Db::connect(&url).await?;
        let pool = db.read_pool().clone();
        let one = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await }
        };
        let conversations = one("SELECT COUNT(*) FROM conversations").await?;
        let audit = one("SELECT seq FROM audit_head WHERE id = 1").await?;
        let pending = one("SELECT COUNT(*) FROM approvals WHERE status = 'pending'").await?;
        if conversations < 20_000 {
            bail!(
                "the database holds {conversations} conversations: seed it first (cargo xtask seed)"
            );
        }
        let params = store_bench::Params {
            front_ids: sample_front_ids(conversations, 50),
            audit_range,
            deep_rows: DEEP_ROWS,
            requests: o.requests,
        };
        eprintln!(
            "xtask: the store queries behind each page ({} calls each)",
            o.requests
        );
        let store = store_bench::run(&db, &params).await?;
        db.close().await;
        anyhow::Ok((conversations, audit, pending, store))
    })?;
    let backend = if o.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let docs = root.join("docs/bench");
    let json_path = docs.join(format!("dashboard-{backend}.json"));
    let (surface, http, rss, rss_ready, http_error) = if o.store_only {
        // Keep the HTTP figures of the last full run, marked as such.
        let last: Value = std::fs::read(&json_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let note = last["http"]
            .is_array()
            .then(|| "from the previous full run (this run: --store-only)".to_string());
        (
            last["http_surface"].clone(),
            last["http"].clone(),
            last["peak_rss_mib"].as_f64(),
            last["rss_ready_mib"].as_f64(),
            note.or_else(|| last["http_error"].as_str().map(str::to_string)),
        )
    } else {
        match start_server(root, &o) {
            Ok(server) => {
                let result = rt.block_on(bench(&server, &o, conversations, audit_range));
                let rss = server.peak_rss_mib();
                drop(server);
                match result {
                    Ok(r) => (
                        r["surface"].clone(),
                        r["pages"].clone(),
                        rss,
                        r["rss_ready_mib"].as_f64(),
                        None,
                    ),
                    Err(e) => (Value::Null, Value::Null, rss, None, Some(format!("{e:#}"))),
                }
            }
            Err(e) => (Value::Null, Value::Null, None, None, Some(format!("{e:#}"))),
        }
    };
    if let Some(e) = &http_error {
        eprintln!("xtask: the HTTP part failed: {e}");
    }
    let out = json!({
        "backend": backend,
        "conversations": conversations,
        "audit_rows": audit_rows,
        "pending_approvals": pending,
        "requests_per_page": o.requests,
        "store": store,
        "http_measured": "client-side over loopback keep-alive, one request at a time, to the last body byte",
        "http_surface": surface,
        "http": http,
        "http_error": http_error,
        "peak_rss_mib": rss,
        "rss_ready_mib": rss_ready,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "at": now,
    });
    std::fs::create_dir_all(&docs)?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&out)? + "\n")?;
    let md = markdown(root)?;
    std::fs::write(docs.join("dashboard.md"), &md)?;
    println!("{md}");
    Ok(())
}

/// One page of the bench: its dashboard paths, and the JSON API's when the page is missing.
struct Target {
    label: &'static str,
    page: Vec<String>,
    api: Vec<String>,
}

async fn bench(
    server: &Server,
    o: &Options,
    conversations: i64,
    audit_range: (i64, i64),
) -> Result<Value> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    // Ready: the demo data are written once the server answers /readyz.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let ok = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ok {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server was not ready within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_ready = server.rss_mib();
    let demo: Value = serde_json::from_slice(
        &std::fs::read(o.dir.join("demo.json")).context("reading demo.json")?,
    )?;
    let token = demo["api_token"]
        .as_str()
        .context("demo.json has no api_token")?;
    let api = Client {
        http: http.clone(),
        base: server.base.clone(),
        auth: Auth::Bearer(token.to_string()),
    };
    let pages = login(&http, &server.base, &demo)
        .await?
        .map(|cookie| Client {
            http: http.clone(),
            base: server.base.clone(),
            auth: Auth::Cookie(cookie),
        });
    let (from, to) = (ymd(audit_range.0), ymd(audit_range.1 - 86_400_000));
    let ids = sample_front_ids(conversations, 50);
    let n = o.requests;
    // The page 10,000 rows deep: follow "Older" from the first page, as a user would.
    let deep = match &pages {
        Some(c) if matches!(c.get("/conversations").await, Ok((200, _))) => {
            let mut path = "/conversations".to_string();
            let mut seen = 0;
            while seen < DEEP_ROWS {
                let (_, html) = c.get(&path).await?;
                seen += html.matches("href=\"/conversations/cnv_").count().max(1);
                path = link_labelled(&html, "Older")
                    .context("no Older link on the conversations page")?;
            }
            vec![path]
        }
        _ => vec![],
    };
    let targets = [
        Target {
            label: "overview",
            page: vec!["/".into()],
            api: vec![],
        },
        Target {
            label: "conversations: first page",
            page: vec!["/conversations".into()],
            api: vec!["/api/v1/conversations?limit=50".into()],
        },
        Target {
            label: "conversations: filtered (app + status)",
            page: vec!["/conversations?app=tailwind-course&status=open".into()],
            api: vec!["/api/v1/conversations?app=tailwind-course&limit=50".into()],
        },
        Target {
            label: "conversations: 10,000 rows deep (cursor)",
            page: deep,
            api: vec![],
        },
        Target {
            label: "conversation detail",
            page: ids
                .iter()
                .map(|id| format!("/conversations/{id}"))
                .collect(),
            api: ids
                .iter()
                .map(|id| format!("/api/v1/conversations/{id}"))
                .collect(),
        },
        Target {
            label: "audit: kind + date range",
            page: vec![format!("/audit?kind=route.decided&from={from}&to={to}")],
            api: vec!["/api/v1/audit?kind=route.decided&limit=50".into()],
        },
        Target {
            label: "approvals queue",
            page: vec!["/approvals".into()],
            api: vec!["/api/v1/approvals?status=pending".into()],
        },
    ];
    let mut results = Vec::new();
    let mut surfaces = Vec::new();
    eprintln!("xtask: the pages through the server ({n} requests each)");
    for t in targets {
        let page_ok = match (&pages, t.page.first()) {
            (Some(c), Some(path)) => matches!(c.get(path).await, Ok((200, _))),
            _ => false,
        };
        let (client, paths, surface) = if page_ok {
            (pages.as_ref().context("signed in")?, &t.page, "page")
        } else if !t.api.is_empty() {
            (&api, &t.api, "json-api")
        } else {
            continue;
        };
        let mut r = measure(client, t.label, paths, n).await?;
        r["surface"] = json!(surface);
        surfaces.push(surface);
        results.push(r);
    }
    surfaces.dedup();
    Ok(json!({"surface": surfaces.join("+"), "pages": results, "rss_ready_mib": rss_ready}))
}

/// The rows of one table of timings.
fn timing_rows(md: &mut String, pages: &Value, with_surface: bool) {
    md.push_str(
        "| page | what | p50 ms | p95 ms | p99 ms | p95 <= 50 ms |\n|---|---|---:|---:|---:|---|\n",
    );
    for p in pages.as_array().into_iter().flatten() {
        let p95 = p["p95_ms"].as_f64().unwrap_or(f64::NAN);
        let what = if with_surface {
            format!(
                "{} `{}`",
                p["surface"].as_str().unwrap_or("?"),
                p["example"].as_str().unwrap_or("?")
            )
        } else {
            p["example"].as_str().unwrap_or("?").to_string()
        };
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} |\n",
            p["page"].as_str().unwrap_or("?"),
            what,
            p["p50_ms"].as_f64().unwrap_or(f64::NAN),
            p95,
            p["p99_ms"].as_f64().unwrap_or(f64::NAN),
            if p95 <= TARGET_P95_MS { "ok" } else { "MISSED" }
        ));
    }
}

/// `docs/bench/dashboard.md` from the JSON reports present and the index migrations.
fn markdown(root: &Path) -> Result<String> {
    let docs = root.join("docs/bench");
    let mut md = String::from(
        "# Dashboard benchmark\n\n\
         Generated by `cargo xtask bench-dashboard` (release) on a database filled by \
         `cargo xtask seed` (a year of synthetic traffic over the three demo apps; `ANALYZE` \
         after the load). Two layers, each call or request one at a time, 5 warm-up calls first:\n\n\
         - **store**: the store queries behind each page (`DashboardStore`, `AdminStore`), called \
         in-process and timed from the call to the decoded rows;\n\
         - **http**: `skill dev --demo` built in release on the seeded database (the host's \
         composition), signed in through the real `/login` form as the demo admin, each page \
         timed by the client over loopback keep-alive to the last byte of the body (server time \
         plus one loopback round trip). Where a page is not built yet, the JSON API route that \
         serves the same data is timed instead (surface `json-api`).\n\n\
         Target: p95 <= 50 ms for every page.\n",
    );
    for backend in ["sqlite", "postgres"] {
        let Ok(bytes) = std::fs::read(docs.join(format!("dashboard-{backend}.json"))) else {
            continue;
        };
        let r: Value = serde_json::from_slice(&bytes)?;
        md.push_str(&format!(
            "\n## {backend}: {} conversations, {} audit rows, {} pending approvals ({} cpus, {} calls per page)\n\n",
            r["conversations"], r["audit_rows"], r["pending_approvals"], r["cpus"], r["requests_per_page"]
        ));
        let m = &r["machine"];
        if m.is_object() {
            let load = |v: &Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                            .collect::<Vec<_>>()
                            .join(" / ")
                    })
                    .unwrap_or_else(|| "?".into())
            };
            md.push_str(&format!(
                "Machine: {} ({} logical cpus, {} GiB). Load average (1 / 5 / 15 min) {} before the run, {} after.\n\n",
                m["cpu"].as_str().unwrap_or("?"),
                m["cpus"],
                m["memory_gib"],
                load(&r["load_average_before"]),
                load(&r["load_average_after"]),
            ));
        }
        md.push_str("### store\n\n");
        timing_rows(&mut md, &r["store"], false);
        md.push_str("\n### http\n\n");
        if r["http"].is_array() {
            timing_rows(&mut md, &r["http"], true);
        }
        if let Some(e) = r["http_error"].as_str() {
            let what = if r["http"].is_array() {
                "Note"
            } else {
                "Not measured"
            };
            md.push_str(&format!("\n{what}: {e}\n"));
        }
        if let Some(rss) = r["peak_rss_mib"].as_f64() {
            let ready = r["rss_ready_mib"]
                .as_f64()
                .map(|v| format!(" ({v:.0} MiB once ready, before the first page)"))
                .unwrap_or_default();
            md.push_str(&format!(
                "\nPeak RSS of the server (`VmHWM`, at the end of the run): {rss:.0} MiB{ready}.\n"
            ));
        }
    }
    md.push_str("\n## Indexes and tables added for these pages\n\n");
    let mut any = false;
    let mut files: Vec<_> = std::fs::read_dir(root.join("migrations/sqlite"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("202612060006")
                    || n.starts_with("2026120700003")
                    || n.starts_with("20261208002")
            })
        })
        .collect();
    files.sort();
    for f in files {
        any = true;
        md.push_str(&format!(
            "`migrations/*/{}`:\n\n```sql\n{}\n```\n\n",
            f.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            std::fs::read_to_string(&f)?.trim()
        ));
    }
    if !any {
        md.push_str("None yet.\n");
    }
    // Hand-written context (how a run went, what changed), kept across regenerations.
    if let Ok(notes) = std::fs::read_to_string(docs.join("dashboard-notes.md")) {
        md.push_str(&format!("\n{}\n", notes.trim()));
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    #[test]
    fn helpers() {
        assert_eq!(super::ymd(0), "1970-01-01");
        assert_eq!(super::ymd(1_765_000_000_000), "2025-12-06");
        let html = r#"<a class="x" href="/conversations?before=abc&amp;app=x">Older</a>"#;
        assert_eq!(
            super::link_labelled(html, "Older").as_deref(),
            Some("/conversations?before=abc&app=x")
        );
        let s = super::summarize((1..=100).map(f64::from).collect());
        assert_eq!(s["p50_ms"], 51.0);
        assert_eq!(s["p95_ms"], 95.0);
        let ids = super::sample_front_ids(1_000_000, 50);
        assert_eq!(ids.len(), 50);
        assert!(ids.iter().all(|i| i.starts_with("cnv_seed")));
    }
}
