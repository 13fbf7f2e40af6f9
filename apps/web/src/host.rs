//! The hosting shell shared by `skill dev`, the standalone binaries and the test harness:
//! build a [`Platform`] from settings, then [`serve`] a set of routers on one listener.

use crate::telemetry;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_core::crypto::MasterKey;
use support_core::registry::Registry;
use support_core::settings::{Settings, SettingsError};
use support_core::store::{Store, StoreError};
use support_store::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
}

/// Everything a request handler or background job needs. Cheap to clone.
#[derive(Clone)]
pub struct Platform {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub master_key: MasterKey,
    pub metrics: PrometheusHandle,
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// Flips to `true` when shutdown starts; background work watches it.
    pub shutdown: watch::Receiver<bool>,
    /// `Some` in `--demo`: the demo state (secrets, tokens) written to `demo.json`.
    pub demo: Option<Arc<crate::demo::DemoState>>,
}

impl Platform {
    /// The URL this platform is reached at (settings, or the bound address).
    pub fn base_url(&self) -> String {
        match &self.settings.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.local_addr),
        }
    }
}

/// A function that adds an app's routes (e.g. `support_slack::mount`).
pub type Mount = fn(&Platform) -> Router<Platform>;

/// Options for [`build`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Generate what is missing (master key, signing secrets), seed the demo apps, an admin,
    /// an API token and write `DIR/demo.json`.
    pub demo: bool,
}

fn master_key(settings: &Settings, demo: bool) -> Result<MasterKey, HostError> {
    if let Some(k) = &settings.master_key {
        // Validated when settings were loaded.
        return MasterKey::from_base64(k.expose()).map_err(|e| {
            HostError::Settings(SettingsError {
                key: "master_key".into(),
                origin: "settings".into(),
                message: e.to_string(),
            })
        });
    }
    if demo {
        return crate::demo::demo_master_key(&settings.data_dir);
    }
    Err(HostError::Settings(SettingsError {
        key: "master_key".into(),
        origin: "defaults".into(),
        message: "required outside --demo: set SUPPORT_MASTER_KEY to base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".into(),
    }))
}

/// Connect the database, apply migrations (retrying in the background if the database is
/// unreachable: `/readyz` answers 503 meanwhile), and prepare the demo when asked.
pub async fn build(
    mut settings: Settings,
    local_addr: SocketAddr,
    shutdown: watch::Receiver<bool>,
    opts: BuildOptions,
) -> Result<Platform, HostError> {
    let demo_state = if opts.demo {
        Some(Arc::new(crate::demo::prepare(&mut settings)?))
    } else {
        None
    };
    let master_key = master_key(&settings, opts.demo)?;
    let url = settings.effective_database_url();
    let db = Db::connect_lazy(url.expose())?;
    let store: Arc<dyn Store> = Arc::new(db.clone());
    let platform = Platform {
        settings: Arc::new(settings),
        db: db.clone(),
        registry: Arc::new(Registry::new(store.clone())),
        store,
        master_key,
        metrics: telemetry::metrics_handle(),
        local_addr,
        shutdown,
        demo: demo_state,
    };
    // A database that does not answer quickly is retried in the background; the server
    // starts anyway and `/readyz` says why it is not ready.
    let first = tokio::time::timeout(Duration::from_secs(3), db.migrate())
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "timed out connecting to the database".into(),
            ))
        });
    match first {
        Ok(()) => {
            tracing::info!(backend = db.kind().name(), "database migrated");
            if let Some(demo) = &platform.demo {
                crate::demo::seed(&platform, demo).await?;
            }
        }
        Err(e) => {
            tracing::error!(cause = %e, url = %support_store::redact_url(url.expose()), "database not ready; retrying in the background");
            let p = platform.clone();
            tokio::spawn(async move { migrate_until_ready(p).await });
        }
    }
    Ok(platform)
}

async fn migrate_until_ready(p: Platform) {
    let mut delay = Duration::from_millis(500);
    let mut shutdown = p.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
        match p.db.migrate().await {
            Ok(()) => {
                tracing::info!("database reachable again; migrations applied");
                if let Some(demo) = &p.demo
                    && let Err(e) = crate::demo::seed(&p, demo).await
                {
                    tracing::error!(cause = %e, "demo seeding failed");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(cause = %e, "database still not ready");
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    crate::error::ApiError::Internal("handler panicked".into()).into_response()
}

/// The full router: health, the JSON API, the dashboard, plus `mounts`.
pub fn router(platform: &Platform, mounts: &[Mount]) -> Router {
    let mut app = Router::new()
        .merge(crate::health::router())
        .merge(crate::api::router())
        .merge(crate::dashboard::router());
    for mount in mounts {
        app = app.merge(mount(platform));
    }
    app.fallback(crate::error::not_found)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(middleware::from_fn(record_metrics))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(platform.clone())
}

/// Serve until `shutdown` resolves, then drain in-flight requests for up to
/// `shutdown_grace_secs`.
pub async fn serve(
    platform: Platform,
    listener: TcpListener,
    mounts: &[Mount],
    shutdown: impl Future<Output = ()> + Send + 'static,
    notify: watch::Sender<bool>,
) -> Result<(), HostError> {
    let app = router(&platform, mounts);
    let grace = Duration::from_secs(platform.settings.shutdown_grace_secs);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        res = &mut server => {
            return res.map_err(|e| HostError::Io(e.to_string()))?.map_err(|e| HostError::Io(e.to_string()));
        }
        _ = shutdown => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: draining in-flight work"
    );
    let _ = notify.send(true);
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, &mut server).await {
        Ok(res) => res
            .map_err(|e| HostError::Io(e.to_string()))?
            .map_err(|e| HostError::Io(e.to_string()))?,
        Err(_) => {
            tracing::warn!("grace period over; aborting remaining connections");
            server.abort();
        }
    }
    if tokio::time::timeout(Duration::from_secs(2), platform.db.close())
        .await
        .is_err()
    {
        tracing::warn!("database pool did not close within 2 s");
    }
    Ok(())
}

/// Build and serve: the single entry used by `skill dev`, the standalone binaries and tests.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mounts: &[Mount],
    opts: BuildOptions,
) -> Result<(), HostError> {
    let addr = listener
        .local_addr()
        .map_err(|e| HostError::Io(e.to_string()))?;
    let (notify, rx) = watch::channel(false);
    let platform = build(settings, addr, rx, opts).await?;
    announce(&platform);
    serve(platform, listener, mounts, shutdown, notify).await
}

fn announce(p: &Platform) {
    let base = p.base_url();
    tracing::info!(%base, database = p.store.backend(), "listening");
    println!("Support platform listening on {base}");
    println!("  dashboard: {base}/");
    println!("  health:    {base}/healthz  ready: {base}/readyz  metrics: {base}/metrics");
    if p.demo.is_some() {
        println!(
            "  demo:      {}",
            p.settings.data_dir.join("demo.json").display()
        );
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// `main` for the standalone binaries: settings, telemetry, bind, launch with `mounts`.
pub fn run_binary(name: &str, mounts: &'static [Mount]) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(2);
        }
    };
    let _telemetry = telemetry::init(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(settings.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
        launch(
            settings,
            listener,
            shutdown_signal(),
            mounts,
            BuildOptions::default(),
        )
        .await?;
        Ok(())
    })
}
