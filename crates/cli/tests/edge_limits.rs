//! The edge of the server: timeouts and the connection cap, rate limits and the sampling of
//! refusals into the audit log, metrics labels, the Front sandbox's control routes, `--demo`'s
//! bind check and the database files' permissions.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use serde_json::Value;
use std::time::{Duration, Instant};
use support_core::settings::{RouteQuota, Settings};
use support_testkit::{TestApp, TestBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn spawn(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::spawn_with(TestBackend::Sqlite, tweak)
        .await
        .expect("sqlite")
}

/// Open a connection and send half a request: the request line and one header, no end.
async fn half_sent(app: &TestApp) -> TcpStream {
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\n")
        .await
        .expect("write");
    s
}

/// Wait for the server to close `s` (EOF or reset); `Err` past `deadline`.
async fn closed_by(mut s: TcpStream, deadline: tokio::time::Instant) -> Result<Instant, ()> {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Instant::now()),
            // A 408 or similar before the close is fine: keep reading to the EOF.
            Ok(Ok(_)) => continue,
        }
    }
}

async fn healthz(app: &TestApp) -> u16 {
    // A fresh client (a new connection), as a new visitor.
    reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

#[tokio::test]
async fn half_sent_requests_are_closed_within_the_header_timeout_while_others_are_served() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
    let app = spawn(|s| s.http.header_read_timeout_secs = HEADER_TIMEOUT.as_secs()).await;
    let opened = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..300 {
        sockets.push(half_sent(&app).await);
    }
    let all_open = Instant::now();
    // Normal requests are served while the 300 slow sockets hang.
    for _ in 0..20 {
        assert_eq!(healthz(&app).await, 200);
    }
    let served = Instant::now();
    let deadline = tokio::time::Instant::now() + HEADER_TIMEOUT + Duration::from_secs(5);
    let closes =
        futures::future::join_all(sockets.into_iter().map(|s| closed_by(s, deadline))).await;
    let closed: Vec<Instant> = closes.into_iter().filter_map(Result::ok).collect();
    assert_eq!(closed.len(), 300, "every half-sent request is closed");
    let first = *closed.iter().min().unwrap();
    let last = *closed.iter().max().unwrap();
    assert!(
        served < first,
        "the 20 requests were served before the slow sockets were dropped"
    );
    let slowest = last.duration_since(opened);
    assert!(
        slowest <= HEADER_TIMEOUT + (all_open - opened) + Duration::from_secs(2),
        "the last half-sent request was closed {slowest:?} after opening"
    );
    assert!(
        first.duration_since(opened) >= HEADER_TIMEOUT - Duration::from_millis(100),
        "not closed before the header timeout"
    );
    println!(
        "300 half-sent requests: all closed {:.2} s after the first was opened (header timeout {} s); 20 GET /healthz served meanwhile in {:.2} s",
        slowest.as_secs_f64(),
        HEADER_TIMEOUT.as_secs(),
        (served - all_open).as_secs_f64()
    );
    assert_eq!(healthz(&app).await, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let app = spawn(|s| {
        s.http.header_read_timeout_secs = 2;
        s.http.max_connections = 3;
    })
    .await;
    let opened = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(half_sent(&app).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let closes = tokio::spawn(futures::future::join_all(
        sockets.into_iter().map(move |s| closed_by(s, deadline)),
    ));
    // The fourth connection is not served until a slot frees up (a slow socket is closed).
    assert_eq!(healthz(&app).await, 200);
    let waited = opened.elapsed();
    for r in closes.await.unwrap() {
        r.expect("closed by the header timeout");
    }
    // Without the cap it is served at once; with it, once the header timeout frees a slot.
    assert!(
        waited >= Duration::from_millis(1900),
        "a request over the connection cap was served after {waited:?}, before any slot was free"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn(|s| {
        s.http.header_read_timeout_secs = 30;
        s.http.idle_timeout_secs = 1;
    })
    .await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    // Kept alive, then idle: closed after about 1 s, well before the 30 s header timeout.
    let answered = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let closed = closed_by(s, deadline).await.expect("closed when idle");
    let idle = closed.duration_since(answered);
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed after {idle:?}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_source() {
    let app = spawn(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.trust_forwarded_for = true;
        s.rate_limit.other = RouteQuota::new(60, 1);
    })
    .await;
    let get = |xff: &'static str| {
        app.client
            .get(app.url("/healthz"))
            .header("x-forwarded-for", xff)
            .send()
    };
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 200);
    assert_eq!(get("203.0.113.7").await.unwrap().status(), 429);
    // Another client behind the same proxy has its own quota; the last entry is the one
    // the proxy appended.
    assert_eq!(
        get("203.0.113.7, 198.51.100.9").await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn a_slow_body_is_answered_408() {
    let app = spawn(|s| {
        s.http.body_timeout_secs = 1;
        s.http.request_timeout_secs = 2;
    })
    .await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    // A body announced and never sent: the body timeout (1 s) ends it before the whole-request
    // timeout (2 s).
    s.write_all(
        b"POST /webhooks/front HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("an answer before the deadline")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.ends_with(b"}}") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_burst_beyond_the_quota_is_429_with_retry_after() {
    let app = spawn(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.api = RouteQuota::new(60, 3);
        s.rate_limit.front = RouteQuota::new(60, 2);
    })
    .await;
    let other = app
        .token("second-token", support_core::auth::Role::Viewer)
        .await;
    // The token above used no request; the quota is the demo token's.
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let res = app.api_get("/api/v1/whoami").await;
        statuses.push(res.status().as_u16());
        last = Some(res);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let res = last.unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["message"].as_str().unwrap().contains("retry"));
    // Per token: another token has its own quota.
    let res = app
        .client
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Front's webhook has its own class and quota (per client IP): 2 refusals, then 429.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = app
            .client
            .post(app.url("/webhooks/front"))
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
    let text = metrics_text(&app).await;
    assert!(
        metric(
            &text,
            "http_refusals_total",
            &["source=\"api\"", "kind=\"rate_limited\""]
        ) >= 1.0,
        "{text}"
    );
    assert!(text.contains("status=\"429\""), "{text}");
    // The 429s are sampled into the audit log (a fresh token: the demo one is spent).
    let admin = app.token("auditor", support_core::auth::Role::Admin).await;
    let res = app
        .client
        .get(app.url("/api/v1/audit?kind=http.rate_limited&limit=100"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    let rows = v["items"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one per class (api, front): {rows:?}");
}

#[tokio::test]
async fn the_off_switch_turns_rate_limits_off() {
    let app = spawn(|s| {
        s.rate_limit.enabled = false;
        s.rate_limit.api = RouteQuota::new(1, 1);
        s.rate_limit.other = RouteQuota::new(1, 1);
    })
    .await;
    for _ in 0..20 {
        assert_eq!(app.api_get("/api/v1/whoami").await.status(), 200);
        assert_eq!(healthz(&app).await, 200);
    }
}

#[tokio::test]
async fn unsigned_webhooks_are_counted_and_only_sampled_into_the_audit_log() {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        match TestApp::spawn_with(backend, |s| s.rate_limit.audit_samples_per_minute = 5).await {
            Some(app) => unsigned_webhooks_sampled(app, 5).await,
            None => support_testkit::skip_notice("Postgres", "TEST_DATABASE_URL"),
        }
    }
}

async fn unsigned_webhooks_sampled(app: TestApp, n: u32) {
    let before = metric(
        &metrics_text(&app).await,
        "http_refusals_total",
        &["source=\"front\"", "kind=\"invalid_signature\""],
    );
    let started = Instant::now();
    let statuses = futures::future::join_all((0..16).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/webhooks/front"));
        async move {
            let mut s = Vec::new();
            for _ in 0..75 {
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(r#"{"type":"inbound_received","payload":{"id":"evt_x"}}"#)
                    .send()
                    .await
                    .unwrap();
                s.push(res.status().as_u16());
            }
            s
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 1200);
    assert!(statuses.iter().all(|s| *s == 401));
    let rows = app.audit_of("front.webhook_refused").await;
    assert!(
        (1..=n as usize).contains(&rows.len()),
        "{} audit rows for 1,200 unsigned webhooks",
        rows.len()
    );
    let after = metric(
        &metrics_text(&app).await,
        "http_refusals_total",
        &["source=\"front\"", "kind=\"invalid_signature\""],
    );
    // `>=`: the metrics registry is the process's, shared with the tests running beside.
    assert!(after - before >= 1200.0, "every refusal is counted");
    println!(
        "{:?}: 1,200 unsigned Front webhooks in {:.2} s: {} audit rows (at most {n} a minute)",
        app.backend,
        elapsed.as_secs_f64(),
        rows.len()
    );
    // Slack's refusals too.
    for _ in 0..30 {
        let res = app
            .client
            .post(app.url("/slack/events"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let rows = app.audit_of("slack.request_refused").await;
    assert!(
        (1..=n as usize).contains(&rows.len()),
        "{} Slack audit rows",
        rows.len()
    );
}

#[tokio::test]
async fn metrics_labels_are_bounded() {
    let app = TestApp::spawn().await;
    let odd = reqwest::Method::from_bytes(b"FROBNICATE").unwrap();
    let res = app
        .client
        .request(odd, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let res = app
        .client
        .request(
            reqwest::Method::from_bytes(b"XYZZY").unwrap(),
            app.url("/no/such/page-4815162342"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(app.url("/api/v1/approvals/apr_0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let text = metrics_text(&app).await;
    assert!(!text.contains("FROBNICATE"), "{text}");
    assert!(!text.contains("XYZZY"), "{text}");
    assert!(!text.contains("4815162342"), "{text}");
    assert!(!text.contains("apr_0123456789"), "{text}");
    assert!(
        metric(
            &text,
            "http_requests_total",
            &["method=\"OTHER\"", "route=\"/healthz\"", "status=\"405\""]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "http_requests_total",
            &["method=\"OTHER\"", "route=\"unmatched\"", "status=\"404\""]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "http_requests_total",
            &["method=\"GET\"", "route=\"/api/v1/approvals/{id}\""]
        ) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn the_sandbox_control_routes_need_the_token() {
    let app = TestApp::spawn().await;
    let base = app.platform.settings.front.api_url.clone();
    let client = &app.client;
    let res = client
        .get(format!("{base}/_sandbox/log"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .get(format!("{base}/_sandbox/log"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let message = serde_json::json!({
        "inbox_id": app.demo.apps[0].front_inbox_id,
        "from": "mallory@example.com",
        "subject": "hi",
        "body": "injected",
    });
    let res = client
        .post(format!("{base}/_sandbox/messages"))
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .put(format!("{base}/_sandbox/faults"))
        .json(&serde_json::json!({"server_error_next": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        app.platform
            .store
            .list_conversations(None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was delivered without the token"
    );
    let res = client
        .get(format!("{base}/_sandbox/log"))
        .bearer_auth("sandbox-front-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["requests"].is_array());
}

#[tokio::test]
async fn the_sandbox_request_log_is_a_capped_ring() {
    use support_front::sandbox::LOG_CAP;
    let app = TestApp::spawn().await;
    let base = app.platform.settings.front.api_url.clone();
    let total = LOG_CAP + 50;
    for i in 0..total {
        let res = app
            .client
            .get(format!("{base}/conversations/cnv_ring{i}"))
            .bearer_auth("sandbox-front-token")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let log = app.front.request_log();
    assert_eq!(log.len(), LOG_CAP);
    assert_eq!(log.first().unwrap(), "GET /conversations/cnv_ring50");
    assert_eq!(
        log.last().unwrap(),
        &format!("GET /conversations/cnv_ring{}", total - 1)
    );
}

#[tokio::test]
async fn sandbox_ids_are_not_reused_after_a_restart() {
    let message = || support_front::sandbox::NewMessage {
        conversation_id: None,
        inbox_id: "inb_x".into(),
        from: "a@example.com".into(),
        from_name: None,
        reply_to: None,
        subject: "s".into(),
        body: "b".into(),
        inbound: true,
    };
    // Two sandboxes, as before and after a restart, each sending its first message.
    let first = support_front::sandbox::Sandbox::new("t")
        .deliver(message())
        .await
        .unwrap();
    let second = support_front::sandbox::Sandbox::new("t")
        .deliver(message())
        .await
        .unwrap();
    assert_ne!(first.event_id, second.event_id);
    assert_ne!(first.message_id, second.message_id);
    assert_ne!(first.conversation_id, second.conversation_id);
    assert!(first.event_id.starts_with("evt_"), "{}", first.event_id);
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    // A write, so SQLite has its WAL and shared-memory files.
    let _ = app
        .token("perm-check", support_core::auth::Role::Viewer)
        .await;
    let url = app.database_url();
    let db = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let course = app.data_dir().join("course-app.db").display().to_string();
    let mut checked = Vec::new();
    for base in [db, course] {
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{base}{suffix}");
            let Ok(md) = std::fs::metadata(&path) else {
                assert!(!suffix.is_empty(), "{path} exists");
                continue;
            };
            assert_eq!(
                md.permissions().mode() & 0o777,
                0o600,
                "{path} is {:o}",
                md.permissions().mode() & 0o777
            );
            checked.push(path);
        }
    }
    assert!(
        checked.iter().any(|p| p.ends_with("-wal")),
        "a WAL was checked: {checked:?}"
    );
}

#[tokio::test]
async fn demo_refuses_a_non_loopback_bind_without_allow_remote() {
    let bin = env!("CARGO_BIN_EXE_skill");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let clean = |cmd: &mut std::process::Command| {
        for (k, _) in std::env::vars() {
            if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SUPPORT_LOG__FILTER", "error");
    };
    let mut cmd = std::process::Command::new(bin);
    clean(&mut cmd);
    // It must exit at once; a server that starts instead is killed at the deadline.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::from(cmd)
            .current_dir(dir.path())
            .args(["dev", "--demo", "--bind", "0.0.0.0:0", "--data-dir"])
            .arg(&data)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("skill dev --demo exits instead of serving")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!data.join("demo.json").exists(), "nothing was generated");

    // With --allow-remote it starts.
    let mut cmd = std::process::Command::new(bin);
    clean(&mut cmd);
    let mut child = cmd
        .current_dir(dir.path())
        .args([
            "dev",
            "--demo",
            "--allow-remote",
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().next()
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("a first line").unwrap();
    assert!(first.contains("listening on http://0.0.0.0:"), "{first}");
}
