//! Onboarding end to end, with the `skill` binary against a running platform (`TestApp`, the
//! course-app mounted at `/demo-app/support` as in `skill dev --demo`): `skill init` then
//! `skill doctor`, key rotation taking effect on the serving side, `apps`, `health`, and bad
//! input failing with one line and nothing half-written.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support_sdk::signing::sign_now;
use support_testkit::TestApp;

const SKILL: &str = env!("CARGO_BIN_EXE_skill");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// A failure: the given exit code and exactly one line on stderr containing `needle`.
    fn fails(&self, code: i32, needle: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        // Text mode: one line on stderr. `--json`: `{"error":{"code","message"}}` on stdout.
        let err = if self.stderr.trim().is_empty() {
            let v = self.json();
            assert_eq!(v["error"]["code"], code);
            v["error"]["message"].as_str().unwrap().to_owned()
        } else {
            self.stderr.trim().to_owned()
        };
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
}

/// Runs `skill args…` against `app`'s database and data dir (where `master.key` is).
async fn skill(app: &TestApp, args: &[&str]) -> Out {
    let (code, stdout, stderr) = app.skill_at(SKILL, None, args).await.unwrap();
    Out {
        code,
        stdout,
        stderr,
    }
}

async fn init(app: &TestApp, slug: &str, inbox: &str, url: &str, extra: &[&str]) -> Out {
    let mut args = vec![
        "init",
        "--name",
        "Course Store",
        "--slug",
        slug,
        "--front-inbox",
        inbox,
        "--url",
        url,
        "--json",
    ];
    args.extend_from_slice(extra);
    skill(app, &args).await
}

/// A signed `lookupUser` against `url`: (status, body).
async fn lookup(app: &TestApp, url: &str, secret: &str, email: &str) -> (u16, Value) {
    let body =
        serde_json::to_vec(&serde_json::json!({"action": "lookupUser", "email": email})).unwrap();
    let res = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("x-support-signature", sign_now(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn stored(app: &TestApp, slug: &str) -> Option<support_core::store::AppRow> {
    app.platform.store.get_app(slug).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_doctor_finds_every_method_implemented() {
    for app in TestApp::each_backend().await {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("course-store-support");
        let url = app.demo_app_url();
        let out = init(
            &app,
            "course-store",
            "inb_course_store",
            &url,
            &["--scaffold", "rust", "--out", out_dir.to_str().unwrap()],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v = out.json();
        let secret = v["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 64, "32 random bytes, hex");
        assert_eq!(
            v["front_inbox_ids"],
            serde_json::json!(["inb_course_store"])
        );
        assert!(out_dir.join("Cargo.toml").is_file() && out_dir.join("src/lib.rs").is_file());

        // Stored: inboxes, endpoint, sealed secret (never plaintext), no capabilities yet.
        let row = stored(&app, "course-store").await.unwrap();
        assert_eq!(row.sdk_base_url, url);
        assert!(!row.secrets_enc.contains(&secret));
        assert_eq!(row.capabilities, serde_json::json!({}));
        let found = app
            .platform
            .registry
            .by_inbox("inb_course_store")
            .await
            .unwrap();
        assert_eq!(found.map(|a| a.slug).as_deref(), Some("course-store"));

        // The new secret is accepted at once by the serving side.
        let (status, user) = lookup(&app, &url, &secret, "j.schreiber@example.com").await;
        assert_eq!(
            (status, user["name"].as_str()),
            (200, Some("Jana Schreiber"))
        );

        let doctor = skill(
            &app,
            &[
                "doctor",
                "course-store",
                "--email",
                "j.schreiber@example.com",
                "--json",
            ],
        )
        .await;
        assert_eq!(doctor.code, 0, "{}\n{}", doctor.stdout, doctor.stderr);
        let report = doctor.json();
        assert_eq!(report["conformant"], true);
        let methods = report["methods"].as_array().unwrap();
        assert_eq!(methods.len(), 18, "every SDK method is probed");
        for m in methods {
            assert_eq!(m["status"], "implemented", "{m}");
            assert!(m["latency_ms"].is_u64());
        }
        // The capabilities are in the registry.
        let row = stored(&app, "course-store").await.unwrap();
        let caps = support_core::registry::Capabilities::from_row(&row).unwrap();
        assert!(caps.conformant() && caps.supports("getClaimedSeats"));
        assert_eq!(caps.methods.len(), 18);

        // The human table.
        let text = skill(&app, &["doctor", "course-store"]).await;
        assert_eq!(text.code, 0, "{}", text.stderr);
        assert!(text.stdout.contains("lookupUser"), "{}", text.stdout);
        assert!(
            text.stdout
                .contains("18/18 methods implemented; conformant")
        );
        let list = skill(&app, &["apps", "list"]).await;
        assert!(
            list.stdout.contains("course-store") && list.stdout.contains("18/18 methods"),
            "{}",
            list.stdout
        );
        app.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_takes_effect_on_the_serving_side() {
    let app = TestApp::spawn().await;
    let url = app.demo_app_url();
    let old = init(&app, "rotating", "inb_rotating", &url, &[])
        .await
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(lookup(&app, &url, &old, "li.wei@example.org").await.0, 200);

    let rotated = skill(&app, &["keys", "rotate", "rotating", "--json"]).await;
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let v = rotated.json();
    let new = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(v["live"].as_array().unwrap().len(), 2);
    // Both are accepted during the rotation, and the platform signs with the newest.
    assert_eq!(lookup(&app, &url, &old, "li.wei@example.org").await.0, 200);
    assert_eq!(lookup(&app, &url, &new, "li.wei@example.org").await.0, 200);
    let signing = app
        .platform
        .registry
        .signing_secret(&app.platform.master_key, "rotating")
        .await
        .unwrap();
    assert_eq!(signing.secret, new);
    assert_eq!(skill(&app, &["doctor", "rotating"]).await.code, 0);

    let retired = skill(
        &app,
        &["keys", "rotate", "rotating", "--retire-old", "--json"],
    )
    .await;
    assert_eq!(retired.code, 0, "{}", retired.stderr);
    assert_eq!(retired.json()["retired"].as_array().unwrap().len(), 1);
    let (status, body) = lookup(&app, &url, &old, "li.wei@example.org").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Invalid signature"))
    );
    assert_eq!(lookup(&app, &url, &new, "li.wei@example.org").await.0, 200);
    // Retiring again has nothing to do.
    let again = skill(
        &app,
        &["keys", "rotate", "rotating", "--retire-old", "--json"],
    )
    .await;
    assert_eq!(again.json()["retired"], serde_json::json!([]));

    // The demo apps' secrets from demo.json rotate the same way.
    let demo_secret = app.demo.apps[0].sdk_secret.clone();
    let slug = app.demo.apps[0].slug.clone();
    assert_eq!(
        lookup(&app, &url, &demo_secret, "li.wei@example.org")
            .await
            .0,
        200
    );
    assert_eq!(skill(&app, &["keys", "rotate", &slug]).await.code, 0);
    assert_eq!(
        skill(&app, &["keys", "rotate", &slug, "--retire-old"])
            .await
            .code,
        0
    );
    assert_eq!(
        lookup(&app, &url, &demo_secret, "li.wei@example.org")
            .await
            .0,
        401
    );

    skill(&app, &["keys", "rotate", "no-such-app"])
        .await
        .fails(1, "no app \"no-such-app\"");
    skill(&app, &["keys", "rotate", "Not_A_Slug"])
        .await
        .fails(2, "invalid app slug");
    // The audit trail recorded it and still verifies.
    let verify = skill(&app, &["audit", "verify", "--json"]).await;
    assert_eq!(verify.json()["ok"], true);
    let audit = app
        .api_get("/api/v1/audit?kind=app.secret_rotated")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(audit.to_string().contains("rotating"), "{audit}");
}

/// A server that accepts connections and never answers.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{addr}/support"), task)
}

/// An ordinary web page where the SDK endpoint should be.
async fn html_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(|| async {
        axum::response::Html("<!doctype html><html><body>Welcome!</body></html>")
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/support")
}

/// The course-app on its own port with a secret the registry does not know.
async fn foreign_course_app() -> String {
    let store = course_app::CourseApp::in_memory().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = store.router(vec!["a_secret_the_platform_does_not_have".into()]);
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}{}", course_app::SUPPORT_PATH)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_with_one_line_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let url = app.demo_app_url();
    let before = app.platform.store.list_apps().await.unwrap();

    // Usage errors (exit 2), before anything is written.
    let missing = skill(&app, &["init", "--name", "X", "--slug", "x-app"]).await;
    missing.fails(2, "--front-inbox, --url");
    init(&app, "Bad_Slug", "inb_ok", &url, &[])
        .await
        .fails(2, "invalid app slug");
    init(&app, "ok-app", "inbox-1", &url, &[])
        .await
        .fails(2, "invalid Front inbox id");
    init(&app, "ok-app", "inb_ok", "ftp://example.com/x", &[])
        .await
        .fails(2, "invalid SDK endpoint URL");
    init(&app, "ok-app", "inb_ok", "not a url", &[])
        .await
        .fails(2, "invalid SDK endpoint URL");
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("keep.txt"), "mine").unwrap();
    init(
        &app,
        "ok-app",
        "inb_ok",
        &url,
        &["--scaffold", "ts", "--out", full.path().to_str().unwrap()],
    )
    .await
    .fails(2, "not empty");
    skill(
        &app,
        &["doctor", "typescript-course", "--email", "not-an-email"],
    )
    .await
    .fails(2, "invalid email");
    skill(&app, &["apps", "update", "typescript-course"])
        .await
        .fails(2, "nothing to update");
    skill(
        &app,
        &[
            "apps",
            "update",
            "typescript-course",
            "--refund-auto-days",
            "60",
        ],
    )
    .await
    .fails(2, "refund windows");
    skill(&app, &["apps", "remove", "typescript-course"])
        .await
        .fails(2, "--yes");

    // Conflicts (exit 1): a Front inbox of another app, a taken slug.
    init(&app, "ok-app", "inb_typescript_course", &url, &[])
        .await
        .fails(1, "inb_typescript_course already belongs to another app");
    init(&app, "typescript-course", "inb_fresh", &url, &[])
        .await
        .fails(1, "already exists");
    // A scaffold that cannot be written undoes the registration.
    let file = full.path().join("keep.txt");
    let under_file = file.join("scaffold");
    init(
        &app,
        "ok-app",
        "inb_ok",
        &url,
        &["--scaffold", "rust", "--out", under_file.to_str().unwrap()],
    )
    .await
    .fails(1, "nothing was registered");
    assert_eq!(
        app.platform.store.list_apps().await.unwrap(),
        before,
        "nothing half-written"
    );
    assert!(stored(&app, "ok-app").await.is_none());

    // Endpoints that cannot work: one line saying what to fix; no capabilities recorded.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/support")
    };
    let (silent, _held) = silent_server().await;
    let cases = [
        ("down-app", "inb_down", closed, "cannot reach"),
        ("html-app", "inb_html", html_server().await, "not JSON"),
        (
            "foreign-app",
            "inb_foreign",
            foreign_course_app().await,
            "rejected our signature",
        ),
        (
            "slow-app",
            "inb_slow",
            silent,
            "did not answer within 300 ms",
        ),
    ];
    for (slug, inbox, endpoint, needle) in &cases {
        assert_eq!(init(&app, slug, inbox, endpoint, &[]).await.code, 0);
        let out = skill(&app, &["doctor", slug, "--timeout-ms", "300"]).await;
        out.fails(1, needle);
        assert!(
            out.stderr.contains(slug),
            "names the app to fix: {}",
            out.stderr
        );
        assert_eq!(
            stored(&app, slug).await.unwrap().capabilities,
            serde_json::json!({})
        );
    }
    // `skill health` reports each integration and fails (exit 3) while one is broken.
    let health = skill(&app, &["health", "--json"]).await;
    assert_eq!(health.code, 3, "{}", health.stdout);
    let report = health.json();
    let by_slug = |slug: &str| {
        report["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["slug"] == slug)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_slug("typescript-course")["ok"], true);
    assert_eq!(by_slug("down-app")["ok"], false);
    assert!(
        by_slug("down-app")["detail"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    assert_eq!(by_slug("html-app")["ok"], false);
    for (slug, ..) in &cases {
        let out = skill(&app, &["apps", "remove", slug, "--yes"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let healthy = skill(&app, &["health"]).await;
    assert_eq!(healthy.code, 0, "{}", healthy.stdout);
    assert!(
        healthy.stdout.contains("integration  ai-workshops ok"),
        "{}",
        healthy.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_show_update_and_remove() {
    let app = TestApp::spawn().await;
    let show = skill(&app, &["apps", "show", "tailwind-course", "--json"]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let v = show.json();
    assert_eq!(
        v["front_inbox_ids"],
        serde_json::json!(["inb_tailwind_course"])
    );
    assert_eq!(v["policy"]["refund_auto_days"], 30);
    assert_eq!(v["secrets"].as_array().unwrap().len(), 1);
    assert!(
        !show.stdout.contains(&app.demo.apps[1].sdk_secret),
        "never the secret itself"
    );

    assert_eq!(skill(&app, &["doctor", "tailwind-course"]).await.code, 0);
    let updated = skill(
        &app,
        &[
            "apps",
            "update",
            "tailwind-course",
            "--name",
            "Tailwind Atelier 2",
            "--front-inbox",
            "inb_atelier,inb_atelier_teams",
            "--refund-approval-days",
            "60",
            "--approval-channel",
            "C0APPROVALS",
            "--url",
            &format!("{}/", app.demo_app_url()),
            "--json",
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let row = stored(&app, "tailwind-course").await.unwrap();
    assert_eq!(row.name, "Tailwind Atelier 2");
    assert_eq!(row.front_inbox_ids, ["inb_atelier", "inb_atelier_teams"]);
    assert_eq!(row.policy["refund_approval_days"], 60);
    assert_eq!(row.policy["approval_channel"], "C0APPROVALS");
    assert_eq!(
        row.capabilities,
        serde_json::json!({}),
        "a new URL needs a new doctor run"
    );
    assert!(
        app.platform
            .store
            .find_app_by_inbox("inb_tailwind_course")
            .await
            .unwrap()
            .is_none()
    );

    let removed = skill(
        &app,
        &["apps", "remove", "tailwind-course", "--yes", "--json"],
    )
    .await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(stored(&app, "tailwind-course").await.is_none());
    skill(&app, &["apps", "show", "tailwind-course"])
        .await
        .fails(1, "no app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffolds_are_complete() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("ts");
    let out = init(
        &app,
        "ts-app",
        "inb_ts_app",
        "https://shop.example.com/api/support",
        &["--scaffold", "ts", "--out", ts.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let module = std::fs::read_to_string(ts.join("support.ts")).unwrap();
    for needle in [
        "import { createSupportHandler } from '@skillrecordings/sdk/handler'",
        "SupportIntegration",
        "process.env.SUPPORT_WEBHOOK_SECRET",
        "async lookupUser",
        "async generateMagicLink",
        "https://shop.example.com/login",
    ] {
        assert!(module.contains(needle), "{needle} in {module}");
    }
    assert!(!module.to_lowercase().contains("todo"));
    let secret = out.json()["secret"].as_str().unwrap().to_owned();
    assert!(
        !module.contains(&secret),
        "the secret is not written to disk"
    );

    let rust = dir.path().join("rust");
    let out = init(
        &app,
        "rust-app",
        "inb_rust_app",
        "https://shop.example.com/api/support",
        &["--scaffold", "rust", "--out", rust.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lib = std::fs::read_to_string(rust.join("src/lib.rs")).unwrap();
    assert!(lib.contains("impl SupportIntegration for RustAppIntegration"));
    assert!(lib.contains("pub const SUPPORT_PATH: &str = \"/api/support\";"));
    assert!(!lib.to_lowercase().contains("todo"));
    // The skeleton compiles against this workspace's support-sdk (same lockfile, offline).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(root.join("Cargo.lock"), rust.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Not the running `cargo test`'s own target dir: it holds that lock while tests run.
    let target = Path::new(SKILL)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("scaffold-check");
    let check = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(cargo)
            .args(["check", "--offline", "--quiet", "--lib"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&rust)
            .output(),
    )
    .await
    .expect("cargo check finishes")
    .unwrap();
    assert!(
        check.status.success(),
        "the scaffold compiles:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
