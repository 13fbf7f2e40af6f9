//! `TestApp`: the whole platform on port 0 with a fresh database, for integration tests.
//! It uses the same [`support_web::host::build`] and [`support_web::host::serve_with`] as
//! `main`, with the example product mounted at `POST /demo-app/support` as in `skill dev --demo`.

use crate::ALL_MOUNTS;
use std::net::SocketAddr;
use support_core::settings::{Secret, Settings};
use support_store::testing::TestDb;
use support_web::Platform;
use support_web::demo::DemoState;
use support_web::host::{self, BuildOptions, HostError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Which database a [`TestApp`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A running platform. Dropping it stops the server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub platform: Platform,
    /// The demo state (signing secrets, the admin API token, …).
    pub demo: DemoState,
    pub client: reqwest::Client,
    pub backend: TestBackend,
    /// The fake Front (the Front sandbox on its own port): the platform's Front API points at
    /// it, and its webhooks go to the platform's intake, signed with the demo secret.
    pub front: support_front::sandbox::Sandbox,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), HostError>>>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// Install the ring crypto provider once (reqwest is built without one).
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    /// The platform on a fresh SQLite database, with demo data seeded.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(TestBackend::Sqlite, |_| {})
            .await
            .expect("a SQLite TestApp is always available")
    }

    /// SQLite always, plus Postgres when `TEST_DATABASE_URL` is set (prints what it skipped).
    pub async fn each_backend() -> Vec<TestApp> {
        let mut apps = vec![Self::spawn().await];
        match Self::spawn_with(TestBackend::Postgres, |_| {}).await {
            Some(pg) => apps.push(pg),
            None => support_store::testing::skip_notice("Postgres", "TEST_DATABASE_URL"),
        }
        apps
    }

    /// Spawn on `backend` after letting `tweak` adjust the settings. `None` when the backend
    /// is Postgres and `TEST_DATABASE_URL` is unset.
    pub async fn spawn_with(
        backend: TestBackend,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        init_crypto();
        let db = match backend {
            TestBackend::Sqlite => TestDb::sqlite().await.expect("sqlite test database"),
            TestBackend::Postgres => TestDb::postgres().await.expect("postgres test database")?,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let front = support_front::sandbox::Sandbox::new("sandbox-front-token");
        let front_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let front_url = format!(
            "http://{}",
            front_listener.local_addr().expect("sandbox addr")
        );
        tokio::spawn(support_front::sandbox::serve(front.clone(), front_listener));
        let mut settings = Settings {
            data_dir: dir.path().to_path_buf(),
            database_url: Some(Secret::new(db.url.clone())),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_grace_secs: 5,
            ..Settings::default()
        };
        settings.front.api_url = front_url;
        settings.front.api_token = Some(Secret::new("sandbox-front-token"));
        tweak(&mut settings);
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (notify, rx) = watch::channel(false);
        let platform = host::build(
            settings,
            addr,
            rx,
            BuildOptions {
                demo: true,
                functions: Some(crate::functions::platform_functions()),
                runner: Some(support_steps::RunnerConfig {
                    poll_interval: std::time::Duration::from_millis(200),
                    drain_timeout: std::time::Duration::from_secs(5),
                    ..Default::default()
                }),
            },
        )
        .await
        .expect("build platform");
        let demo_path = support_web::demo::demo_json_path(&platform.settings.data_dir);
        let demo: DemoState =
            serde_json::from_slice(&std::fs::read(&demo_path).expect("demo.json written"))
                .expect("demo.json parses");
        crate::demo_front::import_kb(&platform)
            .await
            .expect("demo knowledge base");
        // As in `skill dev --demo`: the example product at `POST /demo-app/support`.
        let demo_app = crate::demo_app::router(&platform)
            .await
            .expect("demo app (course-app) opens");
        let (stop, stopped) = oneshot::channel::<()>();
        let p = platform.clone();
        let server = tokio::spawn(async move {
            host::serve_with(
                p,
                listener,
                ALL_MOUNTS,
                vec![demo_app],
                async move {
                    let _ = stopped.await;
                },
                notify,
            )
            .await
        });
        front.set_webhook(support_front::sandbox::WebhookTarget {
            url: format!("http://{addr}/webhooks/front"),
            secret: demo.front_signing_secret.clone(),
        });
        Some(TestApp {
            front,
            addr,
            base_url: format!("http://{addr}"),
            platform,
            demo,
            client: reqwest::Client::new(),
            backend,
            stop: Some(stop),
            server: Some(server),
            _db: db,
            _dir: dir,
        })
    }

    /// The data directory (`demo.json`, `master.key`, `course-app.db`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.platform.settings.data_dir
    }

    /// The database URL, for running `skill` against this platform.
    pub fn database_url(&self) -> String {
        self.platform
            .settings
            .database_url
            .as_ref()
            .map(|u| u.expose().to_string())
            .unwrap_or_default()
    }

    /// The URL of the demo SDK endpoint (the course-app).
    pub fn demo_app_url(&self) -> String {
        self.url(crate::demo_app::PATH)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A GET with the demo admin token.
    pub async fn api_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.demo.api_token)
            .send()
            .await
            .expect("request")
    }

    /// Stop the server gracefully and wait for it.
    pub async fn shutdown(mut self) -> Result<(), HostError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(h) => h.await.map_err(|e| HostError::Io(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
