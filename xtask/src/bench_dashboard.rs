//! `cargo xtask bench-dashboard [--postgres URL] [--dir D] [--requests N]`: the dashboard's
//! server times on a seeded database (`cargo xtask seed`).
//!
//! Builds `skill` in release and starts `skill dev --demo --bind 127.0.0.1:0 --data-dir D` (the
//! host's composition, the demo apps and admin on top of the seeded rows; with `--postgres`
//! on that database), signs in through the real `/login` form as the demo admin (the JSON API
//! with the demo admin token when the pages are not there), then requests each page `N` times
//! (default 200) one at a time over loopback keep-alive and takes p50/p95/p99 of the time to
//! the last byte of the body, measured by the client: server time plus a loopback round trip.
//! The server's peak RSS is its `VmHWM` from `/proc/<pid>/status` at the end.
//!
//! Pages: the conversation list (first page, a filtered page, the page 10,000 rows deep by
//! following "Older"), a conversation's detail (random conversations across the year), the
//! audit trail filtered by kind and date, the approvals queue. Writes
//! `docs/bench/dashboard-<backend>.json` and regenerates `docs/bench/dashboard.md` from the
//! JSON files present, with the indexes of migrations `20261206000600..699`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The p95 target of every page.
const TARGET_P95_MS: f64 = 50.0;
/// How deep the cursor page is.
const DEEP_ROWS: usize = 10_000;

struct Options {
    postgres: Option<String>,
    dir: PathBuf,
    requests: usize,
}

fn options(root: &Path, args: &[String]) -> Result<Options> {
    let (mut postgres, mut dir, mut requests) = (None, None, 200);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context("missing value");
        match a.as_str() {
            "--postgres" => postgres = Some(value()?),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--requests" => requests = value()?.parse()?,
            other => bail!(
                "unknown option {other} (cargo xtask bench-dashboard [--postgres URL] [--dir D] [--requests N])"
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn start_server(root: &Path, o: &Options) -> Result<Server> {
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
    let bin = target_dir(root).join("release/skill");
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
    let first = lines.next().context("skill printed nothing")??;
    let base = first.rsplit(' ').next().unwrap_or_default().to_string();
    std::thread::spawn(move || for _ in lines {});
    if !base.starts_with("http://127.0.0.1:") {
        bail!("unexpected first line from skill: {first}");
    }
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

/// The `href` of the link whose text is `label` (e.g. "Older").
fn link_labelled(html: &str, label: &str) -> Option<String> {
    let at = html.find(&format!(">{label}<"))?;
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

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(root, args)?;
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
    let (count, pending) = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
            .fetch_one(&mut conn)
            .await?;
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")
                .fetch_one(&mut conn)
                .await?;
        let audit: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        anyhow::Ok(((count, audit), pending))
    })?;
    let (conversations, audit_rows) = count;
    if conversations < 1_000 {
        bail!("the database holds {conversations} conversations: seed it first (cargo xtask seed)");
    }
    let server = start_server(root, &o)?;
    let report = rt.block_on(bench(&server, &o, conversations))?;
    let rss = server.peak_rss_mib();
    drop(server);
    let backend = if o.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let out = json!({
        "backend": backend,
        "conversations": conversations,
        "audit_rows": audit_rows,
        "pending_approvals": pending,
        "requests_per_page": o.requests,
        "measured": "client-side over loopback keep-alive, one request at a time, to the last body byte",
        "surface": report["surface"],
        "pages": report["pages"],
        "peak_rss_mib": rss,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "at": support_core::time::now_ms(),
    });
    let docs = root.join("docs/bench");
    std::fs::create_dir_all(&docs)?;
    std::fs::write(
        docs.join(format!("dashboard-{backend}.json")),
        serde_json::to_string_pretty(&out)? + "\n",
    )?;
    let md = markdown(root)?;
    std::fs::write(docs.join("dashboard.md"), &md)?;
    println!("{md}");
    Ok(())
}

async fn bench(server: &Server, o: &Options, conversations: i64) -> Result<Value> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    // Ready: the demo data are written once the server answers /readyz.
    let deadline = Instant::now() + Duration::from_secs(120);
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
            bail!("the server was not ready within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let demo: Value = serde_json::from_slice(
        &std::fs::read(o.dir.join("demo.json")).context("reading demo.json")?,
    )?;
    let session = login(&http, &server.base, &demo).await?;
    let pages = match &session {
        Some(cookie) => {
            let c = Client {
                http: http.clone(),
                base: server.base.clone(),
                auth: Auth::Cookie(cookie.clone()),
            };
            matches!(c.get("/conversations").await, Ok((200, _))).then_some(c)
        }
        None => None,
    };
    let now = support_core::time::now_ms();
    let (from, to) = (ymd(now - 120 * 86_400_000), ymd(now - 90 * 86_400_000));
    let ids = sample_front_ids(conversations, 50);
    let n = o.requests;
    let mut results = Vec::new();
    let surface;
    if let Some(c) = pages {
        surface = "pages";
        eprintln!("xtask: benchmarking the dashboard pages ({n} requests each)");
        results.push(
            measure(
                &c,
                "conversations: first page",
                &["/conversations".into()],
                n,
            )
            .await?,
        );
        let filtered = "/conversations?app=tailwind-course&status=open".to_string();
        results.push(measure(&c, "conversations: filtered (app + status)", &[filtered], n).await?);
        // Follow "Older" until 10,000 rows are behind us.
        let mut path = "/conversations".to_string();
        let mut seen = 0;
        while seen < DEEP_ROWS {
            let (_, html) = c.get(&path).await?;
            let rows = html.matches("href=\"/conversations/cnv_").count().max(1);
            seen += rows;
            path =
                link_labelled(&html, "Older").context("no Older link on the conversations page")?;
        }
        results.push(measure(&c, "conversations: 10,000 rows deep (cursor)", &[path], n).await?);
        let details: Vec<String> = ids
            .iter()
            .map(|id| format!("/conversations/{id}"))
            .collect();
        results.push(measure(&c, "conversation detail", &details, n).await?);
        let audit = format!("/audit?kind=route.decided&from={from}&to={to}");
        results.push(measure(&c, "audit: kind + date range", &[audit], n).await?);
        results.push(measure(&c, "approvals queue", &["/approvals".into()], n).await?);
    } else {
        surface = "json-api";
        eprintln!(
            "xtask: the pages are not there yet; benchmarking the JSON API ({n} requests each)"
        );
        let token = demo["api_token"]
            .as_str()
            .context("demo.json has no api_token")?;
        let c = Client {
            http,
            base: server.base.clone(),
            auth: Auth::Bearer(token.to_string()),
        };
        results.push(
            measure(
                &c,
                "conversations: first page",
                &["/api/v1/conversations?limit=50".into()],
                n,
            )
            .await?,
        );
        let filtered = "/api/v1/conversations?app=tailwind-course&limit=50".to_string();
        results.push(measure(&c, "conversations: filtered (app)", &[filtered], n).await?);
        let details: Vec<String> = ids
            .iter()
            .map(|id| format!("/api/v1/conversations/{id}"))
            .collect();
        results.push(measure(&c, "conversation detail", &details, n).await?);
        let audit = "/api/v1/audit?kind=route.decided&limit=50".to_string();
        results.push(measure(&c, "audit: kind (no date filter in the API)", &[audit], n).await?);
        let approvals = "/api/v1/approvals?status=pending".to_string();
        results.push(measure(&c, "approvals queue (pending)", &[approvals], n).await?);
    }
    Ok(json!({"surface": surface, "pages": results}))
}

/// `docs/bench/dashboard.md` from the JSON reports present and the index migrations.
fn markdown(root: &Path) -> Result<String> {
    let docs = root.join("docs/bench");
    let mut md = String::from(
        "# Dashboard benchmark\n\n\
         Generated by `cargo xtask bench-dashboard` on a database filled by `cargo xtask seed` \
         (a year of synthetic traffic over the three demo apps). The server is `skill dev --demo` \
         built in release on the seeded database; each page is requested one at a time over \
         loopback keep-alive, signed in as the demo admin, and timed by the client to the last \
         byte of the body (server time plus one loopback round trip). \
         Target: p95 <= 50 ms for every page.\n",
    );
    for backend in ["sqlite", "postgres"] {
        let Ok(bytes) = std::fs::read(docs.join(format!("dashboard-{backend}.json"))) else {
            continue;
        };
        let r: Value = serde_json::from_slice(&bytes)?;
        md.push_str(&format!(
            "\n## {backend}: {} conversations, {} audit rows ({} surface, {} cpus)\n\n\
             | page | p50 ms | p95 ms | p99 ms | p95 <= 50 ms |\n|---|---:|---:|---:|---|\n",
            r["conversations"],
            r["audit_rows"],
            r["surface"].as_str().unwrap_or("?"),
            r["cpus"]
        ));
        for p in r["pages"].as_array().into_iter().flatten() {
            let p95 = p["p95_ms"].as_f64().unwrap_or(f64::NAN);
            md.push_str(&format!(
                "| {} (`{}`) | {:.2} | {:.2} | {:.2} | {} |\n",
                p["page"].as_str().unwrap_or("?"),
                p["example"].as_str().unwrap_or("?"),
                p["p50_ms"].as_f64().unwrap_or(f64::NAN),
                p95,
                p["p99_ms"].as_f64().unwrap_or(f64::NAN),
                if p95 <= TARGET_P95_MS { "ok" } else { "MISSED" }
            ));
        }
        md.push_str(&format!(
            "\nPeak RSS of the server (`VmHWM`): {:.0} MiB. Pending approvals: {}.\n",
            r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            r["pending_approvals"]
        ));
    }
    md.push_str("\n## Indexes added for these pages\n\n");
    let mut any = false;
    let mut files: Vec<_> = std::fs::read_dir(root.join("migrations/sqlite"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("202612060006"))
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
