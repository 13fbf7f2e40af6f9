//! `/healthz` (the process is up), `/readyz` (database reachable, migrations applied) and
//! `/metrics` (Prometheus text format).

use crate::platform::Platform;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn readyz(State(p): State<Platform>) -> impl IntoResponse {
    let db = match tokio::time::timeout(std::time::Duration::from_secs(2), p.store.ping()).await {
        Ok(r) => r,
        Err(_) => Err(support_core::store::StoreError::Unavailable(
            "ping timed out after 2 s".into(),
        )),
    };
    let migrations = match &db {
        Ok(()) => p.store.migration_status().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match (&db, &migrations) {
        (Ok(()), Ok(st)) if st.up_to_date() => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": p.store.backend(), "migrations": st})),
        ),
        _ => {
            let cause = match (&db, &migrations) {
                (Err(e), _) => format!("database unreachable: {e}"),
                (_, Err(e)) => format!("cannot read migrations: {e}"),
                (_, Ok(st)) => format!("migrations pending: {}", st.pending.join(", ")),
            };
            tracing::warn!(%cause, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "database": p.store.backend(),
                            "error": {"code": "not_ready", "message": "database unreachable or migrations pending"}})),
            )
        }
    }
}

async fn metrics(State(p): State<Platform>) -> impl IntoResponse {
    analytics_gauges(&p).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
}

/// The main analytics rates of the last 7 UTC days (today included), per app and for `all`,
/// read from the rollups (`core::analytics`; the rollup job keeps them fresh) as gauges:
/// `support_analytics_<measure>{app}`. A rate without a denominator is not set.
async fn analytics_gauges(p: &Platform) {
    use support_core::analytics::{GroupBy, day_of, summarize};
    let today = day_of(support_core::time::now_ms());
    let rows = match p.store.rollups(today - 6, today, None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(cause = %e, "cannot read the analytics rollups for /metrics");
            return;
        }
    };
    let by_app = summarize(&rows, today - 6, today, GroupBy::App);
    let all = std::iter::once((
        "all".to_string(),
        summarize(&rows, today - 6, today, GroupBy::Day).total,
    ))
    .chain(by_app.groups.into_iter().map(|g| (g.key, g.measures)));
    for (app, m) in all {
        metrics::gauge!("support_analytics_volume_7d", "app" => app.clone()).set(m.volume as f64);
        for (name, v) in [
            ("support_analytics_auto_send_rate", m.auto_send_rate),
            ("support_analytics_human_touch_rate", m.human_touch_rate),
            (
                "support_analytics_automatic_resolution_rate",
                m.automatic_resolution_rate,
            ),
            ("support_analytics_escalation_rate", m.escalation_rate),
            (
                "support_analytics_draft_unchanged_share",
                m.draft_unchanged_share,
            ),
            ("support_analytics_sla_attainment", m.sla_attainment),
        ] {
            if let Some(v) = v {
                metrics::gauge!(name, "app" => app.clone()).set(v);
            }
        }
    }
}
