//! `cargo xtask bench-plugin [--skill PATH] [--requests N] [--dir D] [--release]`: the Front
//! sidebar plugin's API times on the demo data.
//!
//! Starts `skill dev --demo --bind 127.0.0.1:0` on a fresh data directory (the demo apps, the
//! example product at `/demo-app/support`, the sample conversations replayed through the Front
//! sandbox), waits until every sample conversation has its route decision, takes the plugin's
//! session token from `/plugin/front?auth_secret=…` (as Front's iframe would) and then, per
//! conversation, measures what the sidebar asks when that conversation is opened: the
//! conversation view (`GET …/conversations/{id}`) and the customer card (`GET
//! …/conversations/{id}/customer`, whose first load asks the app's SDK endpoint and whose later
//! loads must come from the cache: the bench fails if they do not). Also the multi-selection
//! list and the inbox. Requests go one at a time over loopback keep-alive; times are to the
//! last byte, measured by the client. The token is renewed (untimed) before the plugin's
//! per-token rate limit would refuse it.
//!
//! Writes `target/bench-plugin/plugin.json` and `docs/bench/plugin.md`. The `skill` binary is
//! `--skill PATH`, or built (debug by default, `--release` for a release build in the current
//! `CARGO_TARGET_DIR`); the report says which.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The p95 target per conversation open.
const TARGET_P95_MS: f64 = 50.0;
/// Requests per token before it is renewed (the plugin allows 240 a minute per token).
const PER_TOKEN: usize = 200;

struct Options {
    skill: Option<PathBuf>,
    requests: usize,
    dir: PathBuf,
    release: bool,
}

fn options(root: &Path, args: &[String]) -> Result<Options> {
    let mut o = Options {
        skill: None,
        requests: 200,
        dir: root.join("target/bench-plugin/data"),
        release: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context("missing value");
        match a.as_str() {
            "--skill" => o.skill = Some(PathBuf::from(value()?)),
            "--requests" => o.requests = value()?.parse::<usize>()?.max(1),
            "--dir" => o.dir = PathBuf::from(value()?),
            "--release" => o.release = true,
            other => bail!(
                "unknown option {other} (cargo xtask bench-plugin [--skill PATH] [--requests N] [--dir D] [--release])"
            ),
        }
    }
    Ok(o)
}

/// `skill dev --demo`, killed when dropped.
struct Skill(Child);

impl Drop for Skill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skill_binary(root: &Path, o: &Options) -> Result<(PathBuf, &'static str)> {
    if let Some(bin) = &o.skill {
        let profile = if bin.components().any(|c| c.as_os_str() == "release") {
            "release"
        } else {
            "debug"
        };
        return Ok((bin.clone(), profile));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "--quiet", "-p", "support-cli", "--bin", "skill"];
    if o.release {
        args.push("--release");
    }
    eprintln!(
        "xtask: building skill ({})",
        if o.release { "release" } else { "debug" }
    );
    crate::run(Command::new(cargo).args(&args).current_dir(root))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if o.release { "release" } else { "debug" };
    Ok((target.join(profile).join("skill"), profile))
}

fn start(bin: &Path, dir: &Path) -> Result<(Skill, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["dev", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            cmd.env_remove(k);
        }
    }
    // The bench's back-to-back requests from one address exceed the default per-source quotas
    // of the edge limiter (the plugin's pages are `other`, the demo listing `api`, the example
    // product's SDK endpoint `demo`): raise those quotas through the settings; the limiter,
    // and the plugin's own per-token limit, stay on as in production.
    for class in ["OTHER", "API", "DEMO"] {
        cmd.env(
            format!("SUPPORT_RATE_LIMIT__{class}__PER_MINUTE"),
            "1000000",
        );
        cmd.env(format!("SUPPORT_RATE_LIMIT__{class}__BURST"), "100000");
    }
    let mut child = cmd
        .env("SUPPORT_LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let skill = Skill(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().context("skill printed nothing")??;
    std::thread::spawn(move || for _ in lines {});
    let base = first.rsplit(' ').next().unwrap_or_default().to_string();
    if !base.starts_with("http://127.0.0.1:") {
        bail!("unexpected first line from skill: {first}");
    }
    Ok((skill, base))
}

struct Plugin {
    http: reqwest::Client,
    base: String,
    page: String,
    token: String,
    used: usize,
}

impl Plugin {
    /// A fresh session token from the page (as Front's iframe gets it).
    async fn renew(&mut self) -> Result<()> {
        let html = self.http.get(&self.page).send().await?.text().await?;
        let marker = "name=\"plugin-token\" content=\"";
        let at = html.find(marker).context("no plugin-token on the page")? + marker.len();
        let end = html[at..].find('"').context("token")?;
        self.token = html[at..at + end].to_string();
        self.used = 0;
        Ok(())
    }

    /// GET `path` under the plugin API: (milliseconds, JSON).
    async fn get(&mut self, path: &str) -> Result<(f64, Value)> {
        if self.used >= PER_TOKEN {
            self.renew().await?;
        }
        self.used += 1;
        let started = Instant::now();
        let res = self
            .http
            .get(format!("{}/plugin/front/api{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = res.bytes().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            bail!(
                "GET {path} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok((ms, serde_json::from_slice(&body)?))
    }
}

fn percentiles(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    json!({"requests": ms.len(), "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0)})
}

/// The demo conversations, once each has its route decision (or after 90 s, what there is).
async fn demo_conversations(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v: Value = http
            .get(format!("{base}/api/v1/conversations?limit=50"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let ids: Vec<String> = v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["front_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut routed = 0;
        for id in &ids {
            let d: Value = http
                .get(format!("{base}/api/v1/conversations/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let audit = d["audit"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if audit.iter().any(|a| a["kind"] == "route.decided") {
                routed += 1;
            }
        }
        if (ids.len() >= 4 && routed == ids.len()) || Instant::now() > deadline {
            if ids.is_empty() {
                bail!("the demo has no conversations after 90 s");
            }
            return Ok(ids);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = options(root, args)?;
    let (bin, profile) = skill_binary(root, &o)?;
    if o.dir.exists() {
        std::fs::remove_dir_all(&o.dir).with_context(|| format!("clearing {}", o.dir.display()))?;
    }
    std::fs::create_dir_all(&o.dir)?;
    let (_skill, base) = start(&bin, &o.dir)?;
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(o.dir.join("demo.json"))?)?;
    let secret = demo["front_plugin_auth_secret"]
        .as_str()
        .context("demo.json has no front_plugin_auth_secret")?
        .to_string();
    let api_token = demo["api_token"].as_str().unwrap_or_default().to_string();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let ids = demo_conversations(&http, &base, &api_token).await?;
        let mut plugin = Plugin {
            page: format!("{base}/plugin/front?auth_secret={secret}"),
            http,
            base: base.clone(),
            token: String::new(),
            used: 0,
        };
        plugin.renew().await?;
        let mut per_conversation = Vec::new();
        let (mut all_opens, mut all_views, mut all_cards) = (Vec::new(), Vec::new(), Vec::new());
        for id in &ids {
            let (view_ms, _) = plugin.get(&format!("/conversations/{id}")).await?;
            let (card_ms, first) = plugin.get(&format!("/conversations/{id}/customer")).await?;
            if first["card"]["cached"] == json!(true) {
                bail!("{id}: the first customer card already came from the cache");
            }
            let (mut opens, mut views, mut cards) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..o.requests {
                let (v, _) = plugin.get(&format!("/conversations/{id}")).await?;
                let (c, card) = plugin.get(&format!("/conversations/{id}/customer")).await?;
                if card["found"] == json!(true) && card["card"]["cached"] != json!(true) {
                    bail!("{id}: the customer card was not served from the cache after the first load");
                }
                opens.push(v + c);
                views.push(v);
                cards.push(c);
            }
            all_opens.extend(&opens);
            all_views.extend(&views);
            all_cards.extend(&cards);
            let open = percentiles(opens);
            eprintln!(
                "  {id:<28} open p50 {:>6.2} ms  p95 {:>6.2} ms  (first: view {view_ms:.1} ms, card {card_ms:.1} ms)",
                open["p50_ms"].as_f64().unwrap_or(0.0),
                open["p95_ms"].as_f64().unwrap_or(0.0)
            );
            per_conversation.push(json!({
                "conversation": id, "open": open, "view": percentiles(views),
                "card_cached": percentiles(cards),
                "first_view_ms": view_ms, "first_card_ms": card_ms,
            }));
        }
        let multi_path = format!("/conversations?ids={}", ids.join(","));
        let (mut multi, mut inbox) = (Vec::new(), Vec::new());
        for _ in 0..o.requests {
            multi.push(plugin.get(&multi_path).await?.0);
            inbox.push(plugin.get("/inbox").await?.0);
        }
        let open = percentiles(all_opens);
        let worst = per_conversation
            .iter()
            .filter_map(|c| c["open"]["p95_ms"].as_f64())
            .fold(0.0, f64::max);
        Ok::<_, anyhow::Error>(json!({
            "profile": profile,
            "binary": bin.display().to_string(),
            "conversations": ids.len(),
            "requests_per_conversation": o.requests,
            "target_p95_ms": TARGET_P95_MS,
            "worst_conversation_open_p95_ms": worst,
            "meets_target": worst <= TARGET_P95_MS,
            "open": open, "view": percentiles(all_views), "card_cached": percentiles(all_cards),
            "multi_selection": percentiles(multi), "inbox": percentiles(inbox),
            "per_conversation": per_conversation,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        }))
    })?;
    let out = root.join("target/bench-plugin");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("plugin.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let md = markdown(&report);
    std::fs::create_dir_all(root.join("docs/bench"))?;
    std::fs::write(root.join("docs/bench/plugin.md"), &md)?;
    eprintln!("{md}");
    if report["meets_target"] != json!(true) {
        eprintln!("xtask: p95 per conversation open is above {TARGET_P95_MS} ms");
    }
    Ok(())
}

fn row(label: &str, v: &Value) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
        v["requests"],
        f("p50_ms"),
        f("p95_ms"),
        f("p99_ms"),
        f("max_ms")
    )
}

fn markdown(r: &Value) -> String {
    let mut s = String::from(
        "# Front plugin API benchmark\n\n\
         Written by `cargo xtask bench-plugin` (xtask/src/bench_plugin.rs); the JSON is \
         `target/bench-plugin/plugin.json`. `skill dev --demo` on a fresh SQLite data directory \
         with the demo's sample conversations; per conversation, what the sidebar asks when it \
         is opened: the conversation view and the customer card (the card's first load asks \
         the app's SDK endpoint; every later load must come from the cache, or the bench \
         fails). One request at a time over loopback keep-alive, time to the last byte \
         measured by the client.\n\n",
    );
    s.push_str(&format!(
        "Build: **{}** (`{}`); {} conversations × {} opens; {} CPUs, load average before the \
         report `{}`.\n\n",
        r["profile"].as_str().unwrap_or("?"),
        r["binary"].as_str().unwrap_or("?"),
        r["conversations"],
        r["requests_per_conversation"],
        r["cpus"],
        r["loadavg"].as_str().unwrap_or("")
    ));
    s.push_str(&format!(
        "Target: p95 ≤ {} ms per conversation open. Worst conversation's p95: **{:.2} ms** ({}).\n\n",
        r["target_p95_ms"],
        r["worst_conversation_open_p95_ms"].as_f64().unwrap_or(f64::NAN),
        if r["meets_target"] == json!(true) { "met" } else { "NOT met" }
    ));
    s.push_str(
        "| what | requests | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n",
    );
    s.push_str(&row("conversation open (view + card)", &r["open"]));
    s.push_str(&row("conversation view", &r["view"]));
    s.push_str(&row("customer card (cached)", &r["card_cached"]));
    s.push_str(&row("multi-selection list", &r["multi_selection"]));
    s.push_str(&row("inbox (no conversation)", &r["inbox"]));
    s.push_str("\nPer conversation (first load: view, then card from the app):\n\n");
    s.push_str("| conversation | open p50 ms | open p95 ms | first view ms | first card ms |\n|---|---|---|---|---|\n");
    for c in r["per_conversation"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        s.push_str(&format!(
            "| `{}` | {:.2} | {:.2} | {:.1} | {:.1} |\n",
            c["conversation"].as_str().unwrap_or("?"),
            c["open"]["p50_ms"].as_f64().unwrap_or(f64::NAN),
            c["open"]["p95_ms"].as_f64().unwrap_or(f64::NAN),
            c["first_view_ms"].as_f64().unwrap_or(f64::NAN),
            c["first_card_ms"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    s
}
