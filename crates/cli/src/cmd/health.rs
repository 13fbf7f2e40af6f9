//! `skill health`: settings, the database, migrations and every app's SDK endpoint.

use super::context::{Failure, emit, exit, load_settings, usage};
use crate::args::Cli;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_core::registry::Capabilities;
use support_core::store::{AppRow, Store};
use support_store::Db;

pub(crate) async fn run(cli: &Cli) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    let url = s.effective_database_url();
    let db = Db::connect_lazy(url.expose()).map_err(|e| usage(e.to_string()))?;
    let store: Arc<dyn Store> = Arc::new(db);
    let ping = store.ping().await;
    let migrations = store.migration_status().await;
    // Every registered app's SDK endpoint must answer like an SDK handler.
    let integrations: Vec<Value> = match (&ping, &migrations) {
        (Ok(()), Ok(m)) if m.up_to_date() => {
            let http = reqwest::Client::new();
            let apps = store.list_apps().await.unwrap_or_default();
            futures::future::join_all(apps.iter().map(|app| check_integration(&http, app))).await
        }
        _ => Vec::new(),
    };
    let integrations_ok = integrations.iter().all(|i| i["ok"] == true);
    let ok = ping.is_ok()
        && migrations.as_ref().map(|m| m.up_to_date()).unwrap_or(false)
        && integrations_ok;
    let v = json!({
        "ok": ok,
        "settings": "valid",
        "database": {"backend": store.backend(), "url": support_store::redact_url(url.expose()), "reachable": ping.is_ok(),
                     "error": ping.as_ref().err().map(|e| e.to_string())},
        "migrations": migrations.as_ref().ok(),
        "integrations": integrations,
    });
    emit(cli, &v, || {
        let mut out = vec!["settings     ok".to_string()];
        out.push(match &ping {
            Ok(()) => format!(
                "database     ok ({}, {})",
                store.backend(),
                support_store::redact_url(url.expose())
            ),
            Err(e) => format!("database     FAIL: {e}"),
        });
        out.push(match &migrations {
            Ok(m) if m.up_to_date() => format!("migrations   ok ({} applied)", m.applied),
            Ok(m) => format!(
                "migrations   PENDING: {} (run `skill dev` to apply)",
                m.pending.join(", ")
            ),
            Err(e) => format!("migrations   FAIL: {e}"),
        });
        for i in &integrations {
            out.push(format!(
                "integration  {} {} ({}, {} ms): {}",
                i["slug"].as_str().unwrap_or_default(),
                if i["ok"] == true { "ok" } else { "FAIL" },
                i["url"].as_str().unwrap_or_default(),
                i["latency_ms"],
                i["detail"].as_str().unwrap_or_default()
            ));
        }
        out.join("\n")
    });
    if ok {
        Ok(())
    } else {
        Err(Failure {
            code: exit::CHECK_FAILED,
            message: "not healthy".into(),
        })
    }
}

/// Whether an app's SDK endpoint answers like an SDK handler: an unsigned POST must get
/// `401 {"error": …}`. Needs no secret.
pub async fn check_integration(http: &reqwest::Client, app: &AppRow) -> Value {
    let started = Instant::now();
    let result = http
        .post(&app.sdk_base_url)
        .header("content-type", "application/json")
        .body("{}")
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, detail) = match result {
        Err(e) if e.is_timeout() => (false, "no answer within 3 s".to_owned()),
        Err(e) => (
            false,
            format!("unreachable: {}", super::doctor::root_cause(&e)),
        ),
        Ok(res) => {
            let status = res.status().as_u16();
            let body: Option<Value> = res.json().await.ok();
            if status == 401 && body.as_ref().is_some_and(|b| b.get("error").is_some()) {
                (true, "reachable, SDK handler answers".to_owned())
            } else {
                (
                    false,
                    format!("answers HTTP {status} without an SDK error body: not an SDK handler?"),
                )
            }
        }
    };
    json!({"slug": app.slug, "url": app.sdk_base_url, "ok": ok, "latency_ms": latency_ms,
           "detail": detail, "capabilities": Capabilities::from_row(app).map(|c| c.conformant())})
}
