//! The hydrated dashboard in a real browser: with the islands' wasm bundle built (as
//! `cargo xtask build-hydrate` builds it: `apps/web-islands` for wasm32 with `hydrate`, then
//! `wasm-bindgen --target web`) and served from `dashboard.pkg_dir`, the conversation list's
//! live filter narrows the rows as you type and refreshes them without leaving the page, and
//! the approvals queue's expiry countdown ticks.
//!
//! Skipped (`SKIPPED: …`, passing) when Chromium, the wasm32 target or a wasm-bindgen CLI of
//! Cargo.lock's version is missing, unless `SUPPORT_REQUIRE_BROWSER=1` (Chromium) or
//! `SUPPORT_REQUIRE_HYDRATE=1` (the wasm tools) demand them. `SUPPORT_HYDRATE_PKG=DIR` uses a
//! bundle built beforehand instead of building one.

mod browser_common;

use browser_common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use support_core::auth::Role;
use support_core::store::Store;
use support_testkit::browser::{Browser, poll};
use support_testkit::{Fakes, TestApp, TestBackend};

const JS: &str = "support_web_islands.js";
const WASM: &str = "support_web_islands_bg.wasm";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hydrate_required() -> bool {
    std::env::var("SUPPORT_REQUIRE_HYDRATE").is_ok_and(|v| v == "1")
}

/// Why the bundle cannot be built here, or `None`.
fn missing_tools() -> Option<String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Some("the wasm32-unknown-unknown target is not installed".into());
    }
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap_or_default();
    let want = lock
        .split("name = \"wasm-bindgen\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    (have != format!("wasm-bindgen {want}"))
        .then(|| format!("no wasm-bindgen CLI {want} (found {have:?})"))
}

/// The bundle's folder: `SUPPORT_HYDRATE_PKG`, or one built now (dev profile, in the target
/// folder `cargo xtask build-hydrate` uses, `$CARGO_TARGET_DIR/hydrate`: never the lock of the
/// build running this test).
fn bundle() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SUPPORT_HYDRATE_PKG").map(PathBuf::from) {
        assert!(
            dir.join(JS).is_file() && dir.join(WASM).is_file(),
            "SUPPORT_HYDRATE_PKG={} holds no bundle",
            dir.display()
        );
        return Some(dir);
    }
    if let Some(why) = missing_tools() {
        assert!(!hydrate_required(), "SUPPORT_REQUIRE_HYDRATE=1 but {why}");
        println!("SKIPPED: hydration browser test: {why}");
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("hydrate");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["rustc", "-p", "support-web-islands", "--lib"])
        .args([
            "--target",
            "wasm32-unknown-unknown",
            "--features",
            "hydrate",
        ])
        .args(["--crate-type", "cdylib"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(workspace())
        .status()
        .expect("cargo");
    assert!(status.success(), "building the islands for wasm32 failed");
    let pkg = target.join("pkg-test");
    let status = Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript"])
        .args(["--out-name", "support_web_islands", "--out-dir"])
        .arg(&pkg)
        .arg(target.join("wasm32-unknown-unknown/debug/support_web_islands.wasm"))
        .status()
        .expect("wasm-bindgen");
    assert!(status.success(), "wasm-bindgen failed");
    Some(pkg)
}

/// How many rows of `css` the browser shows now.
async fn shown_rows(b: &Browser, css: &str) -> usize {
    let mut n = 0;
    for row in b.find_all(css).await {
        if row.is_displayed().await.unwrap_or(false) {
            n += 1;
        }
    }
    n
}

async fn wait_rows(b: &Browser, css: &str, want: usize) {
    poll(&format!("{css}: {want} rows shown"), WAIT, async || {
        (shown_rows(b, css).await == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_live_filter_narrows_rows_without_navigation_and_the_countdown_ticks() {
    let Some(pkg) = bundle() else {
        return;
    };
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with_fakes(
        TestBackend::Sqlite,
        Fakes {
            stripe: true,
            ..Fakes::default()
        },
        |s| s.dashboard.pkg_dir = Some(pkg.clone()),
    )
    .await
    .expect("SQLite");
    let (_, _, approval) = app.pending_refund(0).await;
    for subject in ["Login link never arrives", "Where is my invoice?"] {
        let d = app
            .front
            .deliver(app.inbound(0, "kyle.dunmore@example.com", subject, subject))
            .await
            .expect("deliver");
        app.run_at_rest(&d.event_id, WAIT).await;
    }
    // The approval expires in 5 minutes: the countdown shows seconds.
    let soon = support_core::time::now_ms() + 5 * 60 * 1000;
    sqlx_expiry(&app, &approval.id, soon).await;

    sign_in(&b, &app, Role::Admin).await;
    b.goto(&app.url("/conversations")).await;
    b.wait_for("html[data-hydrated='true']").await;
    let source = b.source().await;
    assert!(
        source.contains("src=\"/pkg/boot.js\""),
        "the loader is included"
    );
    let rows = "#conversation-rows tbody tr";
    let all = shown_rows(&b, rows).await;
    assert!(all >= 3, "{all} rows");
    let url = b.current_url().await;
    // Typing narrows the rows in place.
    b.fill("#conversation-rows-live-filter", "login link").await;
    wait_rows(&b, rows, 1).await;
    b.wait_for_text(".live-filter-count", "1 of").await;
    assert_eq!(b.current_url().await, url, "no navigation");
    // Refresh reloads the table in the background; the filter still applies, the typed text
    // is still there (a full reload would have cleared it).
    b.click(".live-filter button").await;
    b.wait_for_text(".live-filter-count", "Refreshed").await;
    wait_rows(&b, rows, 1).await;
    let typed = b
        .wait_for("#conversation-rows-live-filter")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(typed.as_deref(), Some("login link"));
    // Emptied (a blank, as WebDriver's clear fires no input event): every row again.
    b.fill("#conversation-rows-live-filter", " ").await;
    wait_rows(&b, rows, all).await;
    b.screenshot("conversations-live-filter").await;

    // The approvals queue: the countdown ticks (seconds, under ten minutes).
    b.goto(&app.url("/approvals")).await;
    b.wait_for("html[data-hydrated='true']").await;
    let first = b.wait_for_text(".countdown", "s left").await;
    poll(
        &format!("the countdown to tick from {first}"),
        WAIT,
        async || {
            let now = b.wait_for(".countdown").await.text().await.expect("text");
            (now != first).then_some(())
        },
    )
    .await;
    b.fill("#pending-approvals-live-filter", "no such approval")
        .await;
    wait_rows(&b, "#pending-approvals tbody tr", 0).await;
    b.close().await;
}

/// Moves the approval's expiry (the store has no setter for it; a test-only update).
async fn sqlx_expiry(app: &TestApp, id: &str, at: i64) {
    let store: &dyn Store = app.platform.store.as_ref();
    let before = store
        .get_approval(id)
        .await
        .expect("store")
        .expect("approval");
    assert_eq!(before.status, "pending");
    let db = support_store::Db::connect_lazy(&app.database_url()).expect("connect");
    sqlx::query("UPDATE approvals SET expires_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(db.write_pool())
        .await
        .expect("update expiry");
}
