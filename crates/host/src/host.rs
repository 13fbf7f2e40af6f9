//! The hosting shell shared by `skill dev`, the standalone binaries and the test harness:
//! build a [`Platform`] from settings, then [`serve`] a set of routers on one listener.

use crate::telemetry;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_core::crypto::MasterKey;
use support_core::events::EventSink;
use support_core::registry::Registry;
use support_core::settings::{Settings, SettingsError};
use support_core::store::{Store, StoreError};
use support_steps::{Engine, Function, RunnerConfig};
use support_store::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

// The platform's types live in lower modules (the route modules, `demo` and `functions` use them
// without depending on this composition); re-exported here under their historical paths.
pub use crate::error::HostError;
pub use crate::platform::{Mount, Platform, Service};
pub use crate::services::{FunctionsFn, Services};

/// The routes every instance serves besides its services' own: health and metrics, and the
/// runner's event API and Inngest protocol (every instance can run the platform's functions).
pub const COMMON_ROUTES: &[&str] = &[
    "GET  /healthz, /readyz, /metrics   health, readiness, Prometheus metrics",
    "POST /e/{event_key}                the event API",
    "GET|PUT|POST /api/inngest          the Inngest protocol (an external Inngest server)",
    "POST /fn/register                  SDK apps register their functions (signed)",
];

/// Options for [`build`].
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// Generate what is missing (master key, signing secrets), seed the demo apps, an admin,
    /// an API token and write `DIR/demo.json`.
    pub demo: bool,
    /// The durable functions to run; `None` = [`crate::functions::platform_functions`], the
    /// same set in every binary.
    pub functions: Option<FunctionsFn>,
    /// Runner tuning (tests shorten leases and polls).
    pub runner: Option<RunnerConfig>,
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

/// The registry, its changes shared through Redis when `redis_url` is set (several instances),
/// else through this process's memory. A Redis that cannot be reached at start is logged and
/// the registry stays per process (changes reach other instances within its 5-minute copy).
pub async fn shared_registry(settings: &Settings, store: Arc<dyn Store>) -> Registry {
    match support_connectors::redis::from_settings(settings).await {
        Ok(Some(redis)) => Registry::with_cache(store, Arc::new(redis)),
        Ok(None) => Registry::new(store),
        Err(e) => {
            tracing::error!(cause = %e, "redis_url is set but Redis is unavailable: app changes reach other instances only within 5 minutes");
            Registry::new(store)
        }
    }
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
    let registry = Arc::new(shared_registry(&settings, store.clone()).await);
    let (knowledge, chosen) = crate::knowledge::knowledge_base(store.clone(), &settings.kb)?;
    tracing::info!(retriever = chosen.retriever, embedder = ?chosen.embedder, "knowledge base");
    let services = Services {
        settings: Arc::new(settings),
        db: db.clone(),
        registry,
        store,
        master_key,
        knowledge,
    };
    // Every binary serves the same functions unless a caller (a test) chooses others.
    let functions = opts
        .functions
        .clone()
        .unwrap_or_else(crate::functions::platform_functions)(&services);
    let mut builder =
        Engine::builder(Arc::new(db.clone())).config(opts.runner.clone().unwrap_or_else(|| {
            RunnerConfig {
                lease: Duration::from_secs(services.settings.runner_lease_secs.max(1)),
                ..RunnerConfig::default()
            }
        }));
    for f in &functions {
        builder = builder.function(f.clone());
    }
    let engine = builder
        .build()
        .map_err(|e| HostError::Io(format!("durable functions: {e}")))?;
    let events: Arc<dyn EventSink> = if crate::runner::is_embedded(&services.settings) {
        Arc::new(crate::runner::EmbeddedSink(engine.clone()))
    } else {
        let inngest = &services.settings.inngest;
        let (Some(base), Some(key)) = (&inngest.base_url, &inngest.event_key) else {
            return Err(HostError::Settings(SettingsError {
                key: "inngest.event_key".into(),
                origin: "settings".into(),
                message: "runner = \"inngest\" needs INNGEST_BASE_URL and INNGEST_EVENT_KEY".into(),
            }));
        };
        Arc::new(
            crate::runner::InngestSink::new(base, key.expose())
                .map_err(|e| HostError::Io(e.to_string()))?,
        )
    };
    let platform = Platform {
        services,
        engine,
        events,
        functions: Arc::new(functions),
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
                crate::demo::seed(&platform.services, &platform.base_url(), demo).await?;
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
                    && let Err(e) = crate::demo::seed(&p.services, &p.base_url(), demo).await
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
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

/// The method as a metrics label: the standard ones by name, any other as `OTHER` (a client
/// must not be able to mint label values).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    crate::error::ApiError::Internal("handler panicked".into()).into_response()
}

/// The full router: health and metrics, plus the routes of `services`.
pub fn router(platform: &Platform, services: &[Service]) -> Router {
    router_with(platform, services, Vec::new())
}

/// [`router`] plus `extra` routers that carry their own state (e.g. the demo app that
/// `crates/cli` mounts in `--demo`). They get the same metrics, tracing and panic layers.
pub fn router_with(platform: &Platform, services: &[Service], extra: Vec<Router>) -> Router {
    compose(platform, services, extra, Vec::new())
}

/// Request timeouts of a set of routes: the body must keep arriving (`http.body_timeout_secs`
/// between chunks) and the whole request must finish within `whole` (`408 request_timeout`).
fn with_timeouts(
    router: Router,
    http: &support_core::settings::HttpSettings,
    whole: u64,
) -> Router {
    router
        .layer(middleware::from_fn(crate::limits::body_timeout_json))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            http.body_timeout_secs.max(1),
        )))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(whole.max(1)),
        ))
}

/// [`router_with`], where the routers in `long` get `http.long_request_timeout_secs` instead of
/// `http.request_timeout_secs`.
fn compose(
    platform: &Platform,
    services: &[Service],
    extra: Vec<Router>,
    long: Vec<Router>,
) -> Router {
    let http = &platform.settings.http;
    let mut app = Router::new().merge(crate::health::router());
    for service in services {
        app = app.merge((service.mount)(platform));
    }
    let mut app: Router = app.with_state(platform.clone());
    for router in extra {
        app = app.merge(router);
    }
    let mut app = with_timeouts(app, http, http.request_timeout_secs);
    for router in long {
        app = app.merge(with_timeouts(router, http, http.long_request_timeout_secs));
    }
    let edge = crate::limits::Edge::new(&platform.settings.rate_limit, platform.store.clone());
    app.fallback(crate::error::not_found)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(middleware::from_fn_with_state(edge, crate::limits::edge))
        .layer(middleware::from_fn(record_metrics))
        // Spans name the path, never the query: it can carry secrets (the Front plugin's
        // `auth_secret`, OAuth codes).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The runner's HTTP surface: the event API (`POST /e/{key}`), the SDK side of the Inngest
/// protocol (`/api/inngest`, for an external Inngest server), and in embedded mode the server
/// side (`POST /fn/register`, so SDK apps written in any language can register).
async fn steps_routes(p: &Platform) -> Result<Router, HostError> {
    let inngest = &p.settings.inngest;
    let demo_key = p
        .demo
        .as_ref()
        .map(|d| d.inngest_event_key.as_str())
        .filter(|k| !k.is_empty());
    let mut r = support_steps::event_api::router(
        p.engine.clone(),
        support_steps::event_api::EventApiConfig {
            event_keys: crate::runner::event_keys(&p.settings, demo_key),
            dev: inngest.is_dev(),
        },
    );
    let sdk_config = support_steps::sdk::InngestConfig {
        app_id: "support".into(),
        signing_key: inngest.signing_key.as_ref().map(|k| k.expose().to_string()),
        signing_key_fallback: inngest
            .signing_key_fallback
            .as_ref()
            .map(|k| k.expose().to_string()),
        event_key: inngest.event_key.as_ref().map(|k| k.expose().to_string()),
        base_url: inngest
            .base_url
            .clone()
            .unwrap_or_else(|| "https://api.inngest.com".into()),
        serve_url: format!("{}/api/inngest", p.base_url()),
        dev: inngest.is_dev(),
    };
    let functions: Vec<Function> = p.functions.as_ref().clone();
    r = r.merge(
        support_steps::sdk::router(sdk_config, functions)
            .map_err(|e| HostError::Io(e.to_string()))?,
    );
    if crate::runner::is_embedded(&p.settings) {
        let config = support_steps::server::ServerConfig {
            signing_key: inngest.signing_key.as_ref().map(|k| k.expose().to_string()),
            signing_key_fallback: inngest
                .signing_key_fallback
                .as_ref()
                .map(|k| k.expose().to_string()),
            dev: inngest.is_dev(),
            backoff: Default::default(),
            call_timeout: Duration::from_secs(inngest.call_timeout_secs),
            allowed_hosts: inngest.allowed_hosts.clone(),
            max_reply_bytes: usize::try_from(inngest.max_reply_bytes).unwrap_or(usize::MAX),
        };
        r = r.merge(
            p.engine
                .sdk_apps_router(config.clone())
                .map_err(|e| HostError::Io(e.to_string()))?,
        );
        // The SDK apps registered earlier: before serving when the database answers
        // quickly, else as soon as it does.
        let first = tokio::time::timeout(Duration::from_secs(3), p.engine.load_sdk_apps(&config))
            .await
            .map_err(|_| "timed out".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = first {
            tracing::error!(cause = %e, "cannot load the registered SDK apps yet; retrying");
            let (engine, mut shutdown) = (p.engine.clone(), p.shutdown.clone());
            tokio::spawn(async move {
                let mut wait = Duration::from_millis(500);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                    match engine.load_sdk_apps(&config).await {
                        Ok(n) => {
                            tracing::info!(apps = n, "registered SDK apps loaded");
                            return;
                        }
                        Err(e) => tracing::debug!(cause = %e, "SDK apps not loaded yet"),
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            });
        }
    }
    Ok(r)
}

/// Serve until `shutdown` resolves, then drain in-flight requests for up to
/// `shutdown_grace_secs`.
pub async fn serve(
    platform: Platform,
    listener: TcpListener,
    services: &[Service],
    shutdown: impl Future<Output = ()> + Send + 'static,
    notify: watch::Sender<bool>,
) -> Result<(), HostError> {
    serve_with(platform, listener, services, Vec::new(), shutdown, notify).await
}

/// [`serve`] with `extra` routers (see [`router_with`]).
pub async fn serve_with(
    platform: Platform,
    listener: TcpListener,
    services: &[Service],
    extra: Vec<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    notify: watch::Sender<bool>,
) -> Result<(), HostError> {
    // The runner's routes run steps inline (`/api/inngest`): the long request timeout.
    let runner_routes = steps_routes(&platform).await?;
    let app = compose(&platform, services, extra, vec![runner_routes]);
    let grace = Duration::from_secs(platform.settings.shutdown_grace_secs);
    // A web-only instance (`worker = false`) records events and leaves runs to the fleet.
    let runner = (crate::runner::is_embedded(&platform.settings) && platform.settings.worker)
        .then(|| platform.engine.start());
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = crate::server::ServerLimits::from(&platform.settings.http);
    let mut server = tokio::spawn(crate::server::serve(listener, app, limits, stop_rx));
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
    let drain = async {
        let http = tokio::time::timeout(grace, &mut server).await;
        if let Some(r) = runner {
            // Stop claiming and wait for in-flight runs, within the same grace period. Runs
            // still going after it are left to their leases and resume on the next start.
            if tokio::time::timeout(grace, r.shutdown()).await.is_err() {
                tracing::warn!("runner did not drain within the grace period");
            }
        }
        http
    };
    match drain.await {
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
    services: &[Service],
    opts: BuildOptions,
) -> Result<(), HostError> {
    let addr = listener
        .local_addr()
        .map_err(|e| HostError::Io(e.to_string()))?;
    let (notify, rx) = watch::channel(false);
    let platform = build(settings, addr, rx, opts).await?;
    announce(&platform, services);
    serve(platform, listener, services, shutdown, notify).await
}

/// Print where the platform listens and the routes this instance serves (the first line is
/// what scripts and tests read).
pub fn announce(p: &Platform, services: &[Service]) {
    let base = p.base_url();
    tracing::info!(%base, database = p.store.backend(), worker = p.settings.worker, "listening");
    println!("Support platform listening on {base}");
    // The web app's service (`support_web::SERVICE`) serves the dashboard at `/`.
    if services.iter().any(|s| s.name == "web") {
        println!("  dashboard: {base}/");
    }
    println!("  health:    {base}/healthz  ready: {base}/readyz  metrics: {base}/metrics");
    println!("  routes:");
    for line in routes_of(services) {
        println!("    {line}");
    }
    if !p.settings.worker {
        println!("  worker:    off (web-only: runs are left to the fleet's workers)");
    }
    if let Some(demo) = &p.demo {
        println!(
            "  demo:      {}",
            p.settings.data_dir.join("demo.json").display()
        );
        if services.iter().any(|s| s.name == "web") {
            println!(
                "  login:     {base}/login as {} / {}",
                demo.admin.email, demo.admin.password
            );
        }
        if services.iter().any(|s| s.name == "front") {
            println!(
                "  plugin:    {}",
                crate::demo::plugin_url(&base, &demo.front_plugin_auth_secret)
            );
        }
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

/// The routes `services` serve, with the common ones, one line each.
pub fn routes_of(services: &[Service]) -> Vec<String> {
    let mut lines: Vec<String> = services
        .iter()
        .flat_map(|s| s.routes.iter().map(|r| r.to_string()))
        .collect();
    lines.extend(COMMON_ROUTES.iter().map(|r| r.to_string()));
    lines
}

/// What `NAME --help` prints: what the binary is, the routes it serves, how it is configured.
pub fn usage(name: &str, about: &str, services: &[Service]) -> String {
    let mut text = format!(
        "{name} {}: {about}\n\nUsage: {name} [--help | --version]\n\nRoutes:\n",
        env!("CARGO_PKG_VERSION")
    );
    for line in routes_of(services) {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(
        "\nSettings come from support.toml and SUPPORT_* environment variables (see docs/scale-out.md);\n\
         SUPPORT_WORKER=false runs this instance web-only (no durable-function worker).\n",
    );
    text
}

/// `main` for the standalone binaries: arguments, settings, telemetry, bind, launch with
/// `services` and the platform's functions (the same in every binary).
pub fn run_binary(name: &str, about: &str, services: &'static [Service]) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("-h" | "--help" | "help") => {
            print!("{}", usage(name, about, services));
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("{name} {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Some(other) => {
            eprintln!(
                "{name}: unexpected argument {other:?}\n\n{}",
                usage(name, about, services)
            );
            std::process::exit(2);
        }
    }
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
            services,
            BuildOptions::default(),
        )
        .await?;
        Ok(())
    })
}
