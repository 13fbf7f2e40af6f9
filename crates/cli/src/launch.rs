//! One in-process launch of the whole platform on `127.0.0.1:0`, as `skill dev --demo` runs it:
//! demo data, the Front sandbox on its own port (Front API and webhooks), the knowledge base and
//! the example product at `POST /demo-app/support`. `skill eval` runs scenarios through it and
//! the test kit's `TestApp` wraps it; every step that can fail returns an error (the test kit
//! turns them into panics, `skill eval` into its report's error).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support_core::settings::{Secret, Settings};
use support_front::sandbox::{Sandbox, WebhookTarget};
use support_host::Platform;
use support_host::demo::DemoState;
use support_host::host::{self, BuildOptions, HostError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A running platform. Send on `stop` (or drop it) to shut the server down, then await `server`.
pub struct Launched {
    pub platform: Platform,
    /// `demo.json` as the platform wrote it.
    pub demo: DemoState,
    /// The Front sandbox the platform's Front API points at; its webhooks reach the platform.
    pub front: Sandbox,
    pub addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub server: JoinHandle<Result<(), HostError>>,
}

/// Start the platform with its data in `data_dir` and its database at `database_url`; the Front
/// sandbox accepts `front_token`. Rate limits are off (scenarios and tests send bursts from one
/// address); `tweak` adjusts the settings last.
pub async fn sandboxed(
    data_dir: &Path,
    database_url: String,
    front_token: &str,
    tweak: impl FnOnce(&mut Settings),
) -> Result<Launched, String> {
    sandboxed_with_clock(data_dir, database_url, front_token, None, tweak).await
}

/// [`sandboxed`] with the durable runner on `clock` (a test's `ManualClock`) instead of the
/// wall clock: every sleep, wait timeout and timer of the platform's functions then fires when
/// the test moves the clock.
pub async fn sandboxed_with_clock(
    data_dir: &Path,
    database_url: String,
    front_token: &str,
    clock: Option<Arc<dyn support_steps::Clock>>,
    tweak: impl FnOnce(&mut Settings),
) -> Result<Launched, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let front = Sandbox::new(front_token);
    let front_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| io("bind the Front sandbox", e))?;
    let front_addr = front_listener
        .local_addr()
        .map_err(|e| io("the Front sandbox's address", e))?;
    tokio::spawn(support_front::sandbox::serve(front.clone(), front_listener));
    let mut settings = Settings {
        data_dir: data_dir.to_path_buf(),
        database_url: Some(Secret::new(database_url)),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace_secs: 5,
        ..Settings::default()
    };
    settings.front.api_url = format!("http://{front_addr}");
    settings.front.api_token = Some(Secret::new(front_token));
    settings.rate_limit.enabled = false;
    tweak(&mut settings);
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| io("bind the platform", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| io("the platform's address", e))?;
    let (notify, rx) = watch::channel(false);
    let platform = host::build(
        settings,
        addr,
        rx,
        BuildOptions {
            demo: true,
            functions: Some(support_host::functions::platform_functions()),
            runner: Some(support_steps::RunnerConfig {
                poll_interval: Duration::from_millis(200),
                drain_timeout: Duration::from_secs(5),
                clock: clock.unwrap_or_else(support_steps::clock::system),
                ..Default::default()
            }),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let demo_path = support_host::demo::demo_json_path(&platform.settings.data_dir);
    let demo_json = std::fs::read(&demo_path).map_err(|e| io("read demo.json", e))?;
    let demo: DemoState =
        serde_json::from_slice(&demo_json).map_err(|e| format!("demo.json: {e}"))?;
    crate::demo_front::import_kb(&platform)
        .await
        .map_err(|e| format!("demo knowledge base: {e}"))?;
    let demo_app = crate::demo_app::router(&platform)
        .await
        .map_err(|e| format!("the example product (course-app): {e}"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let p = platform.clone();
    let server = tokio::spawn(async move {
        host::serve_with(
            p,
            listener,
            crate::ALL_SERVICES,
            vec![demo_app],
            async move {
                let _ = stopped.await;
            },
            notify,
        )
        .await
    });
    front.set_webhook(WebhookTarget {
        url: format!("http://{addr}/webhooks/front"),
        secret: demo.front_signing_secret.clone(),
    });
    Ok(Launched {
        platform,
        demo,
        front,
        addr,
        stop,
        server,
    })
}
