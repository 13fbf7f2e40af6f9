//! Cross-tests against the real npm package `@skillrecordings/sdk@0.5.0`, both directions:
//!
//! 1. the npm `IntegrationClient` (`tests/npm/client.mjs`) calls the Rust handler for every call
//!    of `tests/npm/calls.json`;
//! 2. the Rust `IntegrationClient` calls the npm `createSupportHandler` (`tests/npm/server.mjs`)
//!    for the same calls;
//! 3. the same raw requests (every row of the status table, and every successful call) go to
//!    both handlers, which must answer the same status and the same bytes, except for the
//!    documented, deliberate differences.
//!
//! Needs `node` and `npm ci --prefix crates/sdk/tests/npm`. Without them the tests print
//! `SKIPPED: ...` and pass, unless `SUPPORT_REQUIRE_NPM=1`, in which case they fail.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Call, calls, fixtures, raw_fixtures, resolve, rust_call, serve};
use serde_json::Value;
use support_sdk::signing::{SIGNATURE_HEADER, sign, signature_hex, unix_now};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SKIP: &str = "SKIPPED: npm cross-tests (run: npm ci --prefix crates/sdk/tests/npm)";

fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/npm")
}

/// Whether node and the pinned npm package are available; handles the skip/require policy.
fn npm_available() -> bool {
    let required = std::env::var("SUPPORT_REQUIRE_NPM").is_ok_and(|v| v == "1");
    let package = npm_dir().join("node_modules/@skillrecordings/sdk/package.json");
    let problem = match std::fs::read_to_string(&package) {
        Err(_) => Some(format!("{} is missing", package.display())),
        Ok(text) => {
            let version = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["version"].as_str().map(str::to_owned));
            if version.as_deref() != Some("0.5.0") {
                // A wrong version is never a reason to skip.
                panic!(
                    "node_modules has @skillrecordings/sdk {version:?}, expected 0.5.0; run npm ci"
                );
            }
            let node = std::process::Command::new("node")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match node {
                Ok(status) if status.success() => None,
                _ => Some("`node` is not on PATH".to_owned()),
            }
        }
    };
    match problem {
        None => true,
        Some(problem) if required => {
            panic!("SUPPORT_REQUIRE_NPM=1 but the npm cross-tests cannot run: {problem}")
        }
        Some(problem) => {
            eprintln!("{SKIP} [{problem}]");
            false
        }
    }
}

/// `node server.mjs`, killed when dropped.
struct NpmServer {
    base: String,
    _child: Child,
}

impl NpmServer {
    async fn start() -> NpmServer {
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(npm_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node server.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Handshake: the first stdout line is {"port": n}, printed once listening.
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("server.mjs did not report its port within 60 s")
            .expect("read server.mjs stdout")
            .expect("server.mjs exited before reporting its port");
        let port = serde_json::from_str::<Value>(&line).expect("handshake JSON")["port"]
            .as_u64()
            .expect("port");
        NpmServer {
            base: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}

/// Runs `node client.mjs <base> --all` to completion and returns its lines by call id.
async fn run_npm_client(base: &str) -> HashMap<String, Value> {
    let output = Command::new("node")
        .arg("client.mjs")
        .arg(base)
        .arg("--all")
        .current_dir(npm_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("client.mjs did not finish within 120 s")
        .expect("run node client.mjs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client.mjs failed: {stderr}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("JSON line");
            (value["id"].as_str().expect("id").to_owned(), value)
        })
        .collect()
}

fn check_npm_line(call: &Call, line: &Value, fixtures: &Value) {
    let id = &call.id;
    let e = &call.expect;
    let ok = line["ok"].as_bool().expect("ok");
    if let Some(expected) = &e.value {
        assert!(ok, "{id}: npm client failed: {line}");
        assert_eq!(line["value"], resolve(expected, fixtures), "{id}");
    } else if let Some(fallback) = &e.npm_fallback {
        assert!(ok, "{id}: npm client should fall back: {line}");
        assert_eq!(&line["value"], fallback, "{id}");
    } else {
        assert!(!ok, "{id}: expected an error, got {line}");
        assert_eq!(line["error"].as_str(), e.error.as_deref(), "{id}");
    }
}

#[tokio::test]
async fn npm_client_calls_the_rust_handler() {
    if !npm_available() {
        return;
    }
    let f = fixtures();
    let raw = raw_fixtures();
    let addr = serve(common::rust_app(&f)).await;
    let lines = run_npm_client(&format!("http://{addr}")).await;
    let all = calls();
    assert_eq!(lines.len(), all.len(), "one line per call");
    for call in &all {
        let line = lines
            .get(&call.id)
            .unwrap_or_else(|| panic!("no output for {}", call.id));
        check_npm_line(call, line, &raw);
    }
}

#[tokio::test]
async fn rust_client_calls_the_npm_handler() {
    if !npm_available() {
        return;
    }
    common::install_crypto();
    let f = fixtures();
    let raw = raw_fixtures();
    let server = NpmServer::start().await;
    let mut ran = 0;
    for call in calls().iter().filter(|c| !c.rust_handler_only) {
        let client = common::rust_client(&server.base, call, &f);
        let result = rust_call(&client, call).await;
        common::check_rust_result(call, result, &raw);
        ran += 1;
    }
    assert!(ran > 50);
}

// ── Raw parity: the same bytes to both handlers ────────────────────────────────────────────

/// What a handler answered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        content_type: Some("application/json".into()),
        body: body.into(),
    }
}

fn error(status: u16, message: &str) -> Answer {
    answer(status, &serde_json::json!({ "error": message }).to_string())
}

struct Row {
    name: String,
    target: &'static str,
    /// Each entry is sent as its own `X-Support-Signature` header line.
    headers: Vec<String>,
    body: String,
    /// What both handlers answer, or what the Rust handler answers when `npm` is set.
    expected: Answer,
    /// A deliberate difference: what the npm handler answers instead.
    npm: Option<Answer>,
}

fn row(name: &str, headers: Vec<String>, body: &str, expected: Answer) -> Row {
    Row {
        name: name.into(),
        target: "/full",
        headers,
        body: body.into(),
        expected,
        npm: None,
    }
}

/// Every row of the status table, in order, plus edge cases of the header syntax.
fn status_table_rows(primary: &str, wrong: &str) -> Vec<Row> {
    let now = unix_now();
    let lookup = r#"{"action":"lookupUser","email":"jane@example.com"}"#;
    let jane = answer(
        200,
        r#"{"id":"usr_1","email":"jane@example.com","name":"Jane Doe","createdAt":"2024-01-15T10:30:00.000Z"}"#,
    );
    let signed = |body: &str| vec![sign(primary, now, body.as_bytes())];
    let v1 = signature_hex(primary, now, lookup.as_bytes());
    let header = |h: String| vec![h];

    let mut rows = vec![
        // 1. missing header
        row(
            "missing header",
            vec![],
            lookup,
            error(401, "Missing signature header"),
        ),
        row(
            "empty header",
            header(String::new()),
            lookup,
            error(401, "Missing signature header"),
        ),
        // 2. format
        row(
            "garbage header",
            header("garbage".into()),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "no v1 part",
            header(format!("timestamp={now}")),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "no timestamp part",
            header(format!("v1={v1}")),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "empty timestamp",
            header(format!("timestamp=,v1={v1}")),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "empty v1",
            header(format!("timestamp={now},v1=")),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "space after comma",
            header(format!("timestamp={now}, v1={v1}")),
            lookup,
            error(401, "Invalid signature format"),
        ),
        row(
            "garbage header line first",
            vec!["garbage".into(), format!("timestamp={now},v1={v1}")],
            lookup,
            error(401, "Invalid signature format"),
        ),
        // 3. expired
        row(
            "expired",
            header(sign(primary, now - 400, lookup.as_bytes())),
            lookup,
            error(401, "Signature expired"),
        ),
        row(
            "expired before invalid JSON",
            header(format!("timestamp={},v1=00", now - 400)),
            "not json",
            error(401, "Signature expired"),
        ),
        row(
            "recent enough",
            header(sign(primary, now - 200, lookup.as_bytes())),
            lookup,
            jane.clone(),
        ),
        row(
            "future timestamp",
            header(sign(primary, now + 3600, lookup.as_bytes())),
            lookup,
            jane.clone(),
        ),
        // 4. invalid JSON
        row(
            "invalid JSON",
            signed("not json"),
            "not json",
            error(400, "Invalid JSON body"),
        ),
        row(
            "empty body",
            signed(""),
            "",
            error(400, "Invalid JSON body"),
        ),
        row(
            "invalid JSON before HMAC",
            header(format!("timestamp={now},v1={v1}")),
            "<html>",
            error(400, "Invalid JSON body"),
        ),
        // 5. HMAC mismatch
        row(
            "wrong secret",
            header(sign(wrong, now, lookup.as_bytes())),
            lookup,
            error(401, "Invalid signature"),
        ),
        row(
            "uppercase hex",
            header(format!("timestamp={now},v1={}", v1.to_uppercase())),
            lookup,
            error(401, "Invalid signature"),
        ),
        row(
            "NaN timestamp",
            header(format!("timestamp=abc,v1={v1}")),
            lookup,
            error(401, "Invalid signature"),
        ),
        row(
            "tampered body",
            header(format!("timestamp={now},v1={v1}")),
            r#"{"action":"lookupUser","email":"eve@example.com"}"#,
            error(401, "Invalid signature"),
        ),
        Row {
            npm: Some(error(
                500,
                "Internal error: Input buffers must have the same byte length",
            )),
            ..row(
                "wrong-length signature",
                header(format!("timestamp={now},v1=abc")),
                lookup,
                error(401, "Invalid signature"),
            )
        },
        Row {
            // npm only reads the first v1 part; several parts are our key-rotation extension
            npm: Some(error(401, "Invalid signature")),
            ..row(
                "second v1 part matches",
                header(format!(
                    "timestamp={now},v1={},v1={v1}",
                    signature_hex(wrong, now, lookup.as_bytes())
                )),
                lookup,
                jane.clone(),
            )
        },
        row(
            "first v1 part matches",
            header(format!("timestamp={now},v1={v1},v1=00")),
            lookup,
            jane.clone(),
        ),
        row(
            "parseInt ignores trailing characters",
            header(format!("timestamp={now}xyz,v1={v1}")),
            lookup,
            jane.clone(),
        ),
        row(
            "value ends at the next equals sign",
            header(format!("timestamp={now}=x,v1={v1}=y")),
            lookup,
            jane.clone(),
        ),
        row(
            "extra header line after a valid one",
            vec![format!("timestamp={now},v1={v1}"), "garbage".into()],
            lookup,
            jane.clone(),
        ),
        // 6. missing action
        row(
            "no action",
            signed("{}"),
            "{}",
            error(400, "Missing action field"),
        ),
        row(
            "empty action",
            signed(r#"{"action":""}"#),
            r#"{"action":""}"#,
            error(400, "Missing action field"),
        ),
        row(
            "numeric action",
            signed(r#"{"action":42}"#),
            r#"{"action":42}"#,
            error(400, "Missing action field"),
        ),
        row(
            "array body",
            signed("[]"),
            "[]",
            error(400, "Missing action field"),
        ),
        row(
            "string body",
            signed("\"lookupUser\""),
            "\"lookupUser\"",
            error(400, "Missing action field"),
        ),
        Row {
            npm: Some(error(
                500,
                "Internal error: Cannot destructure property 'action' of 'body' as it is null.",
            )),
            ..row(
                "null body",
                signed("null"),
                "null",
                error(400, "Missing action field"),
            )
        },
        // 7. unknown action
        row(
            "unknown action",
            signed(r#"{"action":"deleteEverything"}"#),
            r#"{"action":"deleteEverything"}"#,
            error(400, "Unknown action: deleteEverything"),
        ),
        row(
            "action names are case-sensitive",
            signed(r#"{"action":"LookupUser"}"#),
            r#"{"action":"LookupUser"}"#,
            error(400, "Unknown action: LookupUser"),
        ),
        row(
            "prototype names are unknown",
            signed(r#"{"action":"toString"}"#),
            r#"{"action":"toString"}"#,
            error(400, "Unknown action: toString"),
        ),
        // 9. method error
        row(
            "method error",
            signed(r#"{"action":"lookupUser","email":"boom@example.com"}"#),
            r#"{"action":"lookupUser","email":"boom@example.com"}"#,
            error(500, "database unavailable"),
        ),
        // 10. success
        row("success", signed(lookup), lookup, jane),
        Row {
            // npm passes `undefined` to the method; we refuse malformed parameters
            npm: Some(answer(200, "null")),
            ..row(
                "missing parameter",
                signed(r#"{"action":"lookupUser"}"#),
                r#"{"action":"lookupUser"}"#,
                error(
                    400,
                    "Invalid parameters for lookupUser: missing field `email`",
                ),
            )
        },
    ];
    // 8. optional methods of the minimal app, called with well-formed parameters
    for action in support_sdk::Action::ALL.iter().filter(|a| !a.is_required()) {
        let body = serde_json::json!({
            "action": action.as_str(), "userId": "usr_1", "newEmail": "a@b.c", "newName": "A",
            "bulkCouponId": "bulk_1", "query": "x", "productId": "p", "code": "C",
            "purchaseId": "pur_1",
        })
        .to_string();
        rows.push(Row {
            target: "/minimal",
            ..row(
                &format!("{action} not implemented"),
                signed(&body),
                &body,
                error(501, &format!("Method not implemented: {action}")),
            )
        });
    }
    // Parameters are validated before the method runs, so a malformed request for an absent
    // optional method is a 400 here, while npm answers 501 without looking at parameters.
    let body = r#"{"action":"updateEmail"}"#;
    rows.push(Row {
        target: "/minimal",
        npm: Some(error(501, "Method not implemented: updateEmail")),
        ..row(
            "missing parameters of an absent optional method",
            signed(body),
            body,
            error(
                400,
                "Invalid parameters for updateEmail: missing field `userId`",
            ),
        )
    });
    rows
}

async fn send(http: &reqwest::Client, url: &str, headers: &[String], body: &str) -> Answer {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for header in headers {
        request = request.header(SIGNATURE_HEADER, header.as_str());
    }
    let response = request.send().await.expect("request");
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: response.text().await.expect("body"),
    }
}

#[tokio::test]
async fn both_handlers_answer_the_status_table_identically() {
    if !npm_available() {
        return;
    }
    common::install_crypto();
    let f = fixtures();
    let rust = format!("http://{}", serve(common::rust_app(&f)).await);
    let npm = NpmServer::start().await;
    let http = reqwest::Client::new();
    let rows = status_table_rows(&f.secrets.primary, &f.secrets.wrong);
    let mut failures = Vec::new();
    for row in &rows {
        let ours = send(
            &http,
            &format!("{rust}{}", row.target),
            &row.headers,
            &row.body,
        )
        .await;
        let theirs = send(
            &http,
            &format!("{}{}", npm.base, row.target),
            &row.headers,
            &row.body,
        )
        .await;
        let npm_expected = row.npm.as_ref().unwrap_or(&row.expected);
        if ours != row.expected {
            failures.push(format!(
                "{}: Rust answered {ours:?}, expected {:?}",
                row.name, row.expected
            ));
        }
        if &theirs != npm_expected {
            failures.push(format!(
                "{}: npm answered {theirs:?}, expected {npm_expected:?}",
                row.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn both_handlers_answer_every_call_with_the_same_bytes() {
    if !npm_available() {
        return;
    }
    common::install_crypto();
    let f = fixtures();
    let rust = format!("http://{}", serve(common::rust_app(&f)).await);
    let npm = NpmServer::start().await;
    let http = reqwest::Client::new();
    let mut compared = 0;
    for call in calls().iter().filter(|c| !c.rust_handler_only) {
        let body = common::npm_body(call);
        let secret = common::secret_of(&f, &call.secret);
        let headers = vec![sign(secret, unix_now(), body.as_bytes())];
        let ours = send(&http, &format!("{rust}{}", call.target), &headers, &body).await;
        let theirs = send(
            &http,
            &format!("{}{}", npm.base, call.target),
            &headers,
            &body,
        )
        .await;
        assert_eq!(ours, theirs, "{}: {body}", call.id);
        if let Some(status) = call.expect.status {
            assert_eq!(ours.status, status, "{}", call.id);
        } else {
            assert_eq!(ours.status, 200, "{}", call.id);
        }
        compared += 1;
    }
    assert!(compared > 50);
}
