//! `TestApp`: the whole platform on port 0 with a fresh database, for integration tests.
//! It uses the same [`support_host::host::build`] and [`support_host::host::serve_with`] as
//! `main`, with the example product mounted at `POST /demo-app/support` as in `skill dev --demo`.

use crate::db::TestDb;
use crate::fakes::{FakeSlack, FakeStripe};
use std::net::SocketAddr;
use support_core::settings::{Secret, Settings};
use support_host::Platform;
use support_host::demo::DemoState;
use support_host::host::HostError;
use tokio::sync::oneshot;
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
    /// The fake Slack Web API, when spawned with [`Fakes::slack`].
    pub slack: Option<FakeSlack>,
    /// The fake Stripe API, when spawned with [`Fakes::stripe`].
    pub stripe: Option<FakeStripe>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), HostError>>>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// Bot token the fake Slack accepts.
pub const SLACK_BOT_TOKEN: &str = "xoxb-test-bot-token";
/// The one channel the fake Slack has.
pub const SLACK_CHANNEL: &str = "C0APPROVALS";
/// The Slack signing secret the platform checks interactions against.
pub const SLACK_SIGNING_SECRET: &str = "slack-test-signing-secret";
/// The Stripe secret key the fake Stripe accepts.
pub const STRIPE_SECRET_KEY: &str = "sk_test_fake_platform_key";

/// Which vendor fakes a [`TestApp`] starts and configures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fakes {
    /// Slack: `slack.bot_token`, `slack.api_url` and a signing secret.
    pub slack: bool,
    /// Stripe: `stripe.secret_key` and `stripe.api_url`.
    pub stripe: bool,
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
            None => crate::db::skip_notice("Postgres", "TEST_DATABASE_URL"),
        }
        apps
    }

    /// Spawn on `backend` after letting `tweak` adjust the settings. `None` when the backend
    /// is Postgres and `TEST_DATABASE_URL` is unset.
    pub async fn spawn_with(
        backend: TestBackend,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        Self::spawn_with_fakes(backend, Fakes::default(), tweak).await
    }

    /// [`TestApp::spawn_with`] plus fake Slack and/or Stripe servers wired into the settings.
    pub async fn spawn_with_fakes(
        backend: TestBackend,
        fakes: Fakes,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        Self::spawn_with_clock(backend, fakes, None, tweak).await
    }

    /// [`TestApp::spawn_with_fakes`] with the durable runner on `clock`: give it a
    /// `support_steps::ManualClock` and the platform's sleeps, wait timeouts and timers fire
    /// when the test advances it (no real waiting). `None` is the wall clock.
    pub async fn spawn_with_clock(
        backend: TestBackend,
        fakes: Fakes,
        clock: Option<std::sync::Arc<dyn support_steps::Clock>>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        init_crypto();
        let db = match backend {
            TestBackend::Sqlite => TestDb::sqlite().await.expect("sqlite test database"),
            TestBackend::Postgres => TestDb::postgres().await.expect("postgres test database")?,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let slack = if fakes.slack {
            let (fake, url) = FakeSlack::start(SLACK_BOT_TOKEN, SLACK_CHANNEL)
                .await
                .expect("fake Slack");
            Some((fake, url))
        } else {
            None
        };
        let stripe = if fakes.stripe {
            let (fake, url) = FakeStripe::start(STRIPE_SECRET_KEY)
                .await
                .expect("fake Stripe");
            // The charges the example product names, as Stripe holds them (on the platform
            // account, like the demo apps): refunds read their amount from these.
            for c in course_app::seeded_charges() {
                fake.set_charge(None, &c.id, c.amount_cents, c.currency);
            }
            Some((fake, url))
        } else {
            None
        };
        let (slack_url, stripe_url) = (
            slack.as_ref().map(|(_, u)| u.clone()),
            stripe.as_ref().map(|(_, u)| u.clone()),
        );
        // The one launch `skill eval` uses too; the fakes are wired in before `tweak`.
        let launched = support_cli::launch::sandboxed_with_clock(
            dir.path(),
            db.url.clone(),
            "sandbox-front-token",
            clock,
            move |settings| {
                if let Some(url) = slack_url {
                    settings.slack.bot_token = Some(Secret::new(SLACK_BOT_TOKEN));
                    settings.slack.api_url = url;
                    settings.slack.signing_secrets = vec![Secret::new(SLACK_SIGNING_SECRET)];
                }
                if let Some(url) = stripe_url {
                    settings.stripe.secret_key = Some(Secret::new(STRIPE_SECRET_KEY));
                    settings.stripe.api_url = url;
                }
                tweak(settings);
            },
        )
        .await
        .expect("the platform starts");
        let (platform, demo, front, addr) = (
            launched.platform,
            launched.demo,
            launched.front,
            launched.addr,
        );
        let (stop, server) = (launched.stop, launched.server);
        let slack = slack.map(|(fake, _)| fake);
        let stripe = stripe.map(|(fake, _)| fake);
        Some(TestApp {
            front,
            slack,
            stripe,
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

    /// Run the `skill` binary at `bin` (a test's `env!("CARGO_BIN_EXE_skill")`) against this
    /// platform's database and data directory, in an empty directory holding `config` as its
    /// `support.toml` (if any), with no inherited `SUPPORT_*`/`INNGEST_*` settings. Returns the
    /// exit code, stdout and stderr.
    pub async fn skill_at(
        &self,
        bin: &str,
        config: Option<&str>,
        args: &[&str],
    ) -> std::io::Result<(i32, String, String)> {
        let cwd = tempfile::tempdir()?;
        if let Some(text) = config {
            std::fs::write(cwd.path().join("support.toml"), text)?;
        }
        let mut cmd = tokio::process::Command::new(bin);
        cmd.current_dir(cwd.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .env("SUPPORT_DATABASE_URL", self.database_url())
            .env("SUPPORT_DATA_DIR", self.data_dir())
            .env("SUPPORT_LOG__FILTER", "error")
            .env("USER", "ops")
            .stdin(std::process::Stdio::null())
            .output()
            .await?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The URL of the demo SDK endpoint (the course-app).
    pub fn demo_app_url(&self) -> String {
        self.url(support_cli::demo_app::PATH)
    }

    /// Wait for the run started by Front event `front_event_id` to reach one of `statuses`.
    pub async fn settled_run(
        &self,
        front_event_id: &str,
        statuses: &[support_steps::RunStatus],
        timeout: std::time::Duration,
    ) -> Result<support_steps::RunDetail, support_steps::EngineError> {
        let engine = &self.platform.engine;
        let runs = engine
            .wait_for_runs_of(&format!("front:{front_event_id}"), 1, timeout)
            .await?;
        let id = runs[0].id.clone();
        engine
            .wait_until("run to settle", timeout, || async {
                Ok(engine
                    .get_run(&id)
                    .await?
                    .filter(|r| statuses.contains(&r.run.status)))
            })
            .await
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

    /// A GET with the demo admin token, its body as JSON.
    pub async fn api_json(&self, path: &str) -> serde_json::Value {
        self.api_get(path).await.json().await.expect("JSON body")
    }

    /// A JSON POST with `token`; the status and the JSON answer (`null` if none).
    pub async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Audit entries of `kind`, oldest first, through the JSON API.
    pub async fn audit_of(&self, kind: &str) -> Vec<serde_json::Value> {
        let v = self
            .api_json(&format!("/api/v1/audit?kind={kind}&limit=1000"))
            .await;
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// A new API token for `name` with `role` (the plaintext).
    pub async fn token(&self, name: &str, role: support_core::auth::Role) -> String {
        support_web::api::create_api_token(&self.platform, name, role, "test")
            .await
            .expect("token")
            .1
    }

    /// Change the policy of demo app `index`.
    pub async fn set_policy(
        &self,
        index: usize,
        change: impl FnOnce(&mut support_core::registry::AppPolicy),
    ) {
        let slug = self.demo.apps[index].slug.clone();
        self.set_app_policy(&slug, change).await;
    }

    /// Change the policy of the app `slug`.
    pub async fn set_app_policy(
        &self,
        slug: &str,
        change: impl FnOnce(&mut support_core::registry::AppPolicy),
    ) {
        use support_core::registry::{AppPatch, policy_of};
        let reg = &self.platform.registry;
        let mut policy = policy_of(&reg.require(slug).await.expect("app")).expect("policy");
        change(&mut policy);
        reg.update_app(
            slug,
            AppPatch {
                policy: Some(policy),
                ..AppPatch::default()
            },
        )
        .await
        .expect("policy update");
    }

    /// Events named `name` the runner stored (what a subscriber, or Inngest, receives).
    pub async fn runner_events(&self, name: &str) -> Vec<serde_json::Value> {
        self.platform
            .engine
            .store()
            .events_after(name, 0, 1000)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.event.to_value())
            .collect()
    }

    /// An inbound email to demo app `index`'s inbox.
    pub fn inbound(
        &self,
        index: usize,
        from: &str,
        subject: &str,
        body: &str,
    ) -> support_front::sandbox::NewMessage {
        support_front::sandbox::NewMessage {
            conversation_id: None,
            inbox_id: self.demo.apps[index].front_inbox_id.clone(),
            from: from.into(),
            from_name: None,
            reply_to: None,
            subject: subject.into(),
            body: body.into(),
            inbound: true,
        }
    }

    /// A refund request from a customer whose purchase is ~35 days old, delivered and waited on
    /// until its run waits for approval: `who` 0 is Paul (app 1, 36 days), 1 is Ofelia (app 0,
    /// 35 days). Returns the delivery, the pending action and its approval.
    pub async fn pending_refund(
        &self,
        who: usize,
    ) -> (
        support_front::sandbox::Delivered,
        support_core::store::ActionRow,
        support_core::store::ApprovalRow,
    ) {
        use support_steps::RunStatus;
        let (index, email) = [
            (1, "paul.ferguson@example.net"),
            (0, "ofelia.marquez@example.com"),
        ][who];
        let d = self
            .front
            .deliver(self.inbound(
                index,
                email,
                "Refund",
                "Hello, could I get a refund please? It isn't what I needed.",
            ))
            .await
            .expect("deliver");
        let run = self
            .settled_run(
                &d.event_id,
                &[RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed],
                std::time::Duration::from_secs(30),
            )
            .await
            .expect("the run settles");
        assert_eq!(
            run.run.status,
            RunStatus::Waiting,
            "{:?} {:?}",
            run.run.output,
            run.run.error
        );
        let store = &self.platform.store;
        let actions = store
            .list_actions(&d.conversation_id)
            .await
            .expect("actions");
        assert_eq!(actions.len(), 1, "{actions:?}");
        let approval = store
            .approval_for_action(&actions[0].id)
            .await
            .expect("approval")
            .expect("an approval");
        (d, actions[0].clone(), approval)
    }

    /// The platform on SQLite with `fakes` and default settings.
    pub async fn sqlite_with_fakes(fakes: Fakes) -> TestApp {
        TestApp::spawn_with_fakes(TestBackend::Sqlite, fakes, |_| {})
            .await
            .expect("SQLite is always available")
    }

    /// Wait for the run started by Front event `front_event_id` to complete or fail.
    pub async fn finished_run(
        &self,
        front_event_id: &str,
        timeout: std::time::Duration,
    ) -> support_steps::RunDetail {
        use support_steps::RunStatus;
        self.settled_run(
            front_event_id,
            &[RunStatus::Completed, RunStatus::Failed],
            timeout,
        )
        .await
        .expect("the run settles")
    }

    /// Wait for the run started by Front event `front_event_id` to wait, complete or fail.
    pub async fn run_at_rest(
        &self,
        front_event_id: &str,
        timeout: std::time::Duration,
    ) -> support_steps::RunDetail {
        use support_steps::RunStatus;
        self.settled_run(
            front_event_id,
            &[RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed],
            timeout,
        )
        .await
        .expect("the run settles")
    }

    /// Action `id` as stored now.
    pub async fn action(&self, id: &str) -> support_core::store::ActionRow {
        self.platform
            .store
            .get_action(id)
            .await
            .expect("store")
            .expect("the action")
    }

    /// Conversation `id` as stored now.
    pub async fn conversation(&self, id: &str) -> support_core::store::ConversationRow {
        self.platform
            .store
            .get_conversation(id)
            .await
            .expect("store")
            .expect("the conversation")
    }

    /// Approve `approval` from the dashboard API as the demo admin (asserting a 200), wait for
    /// the run of `front_event_id` to end and assert it completed.
    pub async fn approve_as_admin(
        &self,
        front_event_id: &str,
        approval: &support_core::store::ApprovalRow,
        timeout: std::time::Duration,
    ) -> support_steps::RunDetail {
        let (status, body) = self
            .post_json(
                &self.demo.api_token,
                &format!("/api/v1/approvals/{}/approve", approval.id),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let run = self.finished_run(front_event_id, timeout).await;
        assert_eq!(
            run.run.status,
            support_steps::RunStatus::Completed,
            "{:?}",
            run.run.error
        );
        run
    }

    /// A user with `role` and, optionally, the Slack user id linked to it.
    pub async fn add_user(
        &self,
        email: &str,
        role: support_core::auth::Role,
        slack: Option<&str>,
    ) -> support_core::store::UserRow {
        let u = support_core::store::UserRow {
            id: support_core::ids::new_id("usr"),
            email: email.into(),
            name: None,
            role,
            password_hash: None,
            slack_user_id: slack.map(str::to_string),
            created_at: 0,
            deactivated_at: None,
        };
        self.platform.store.insert_user(&u).await.expect("user");
        u
    }

    /// The approval's Slack message (on the fake Slack) as it reads now.
    pub fn slack_message(&self, approval: &support_core::store::ApprovalRow) -> String {
        self.slack
            .as_ref()
            .expect("the Slack fake")
            .message(
                SLACK_CHANNEL,
                approval.slack_ts.as_deref().expect("posted in Slack"),
            )
            .expect("the message")
            .to_string()
    }

    /// Slack user `user` clicks `button` on the approval message of action `action_id` posted
    /// at `ts`: the signed interaction is sent and Slack's view of the answer returned.
    pub async fn click_in_slack(
        &self,
        action_id: &str,
        button: &str,
        user: &str,
        ts: &str,
    ) -> reqwest::Response {
        self.slack_interaction(
            &slack_click(action_id, button, user, ts),
            SLACK_SIGNING_SECRET,
        )
        .send()
        .await
        .expect("request")
    }

    /// A refund made in Stripe's dashboard: straight on the fake Stripe with the platform's key,
    /// no metadata of ours.
    pub async fn stripe_dashboard_refund(&self, charge: &str, amount: i64) -> reqwest::Response {
        self.client
            .post(format!(
                "{}v1/refunds",
                self.platform.settings.stripe.api_url
            ))
            .bearer_auth(STRIPE_SECRET_KEY)
            .form(&[("charge", charge), ("amount", &amount.to_string())])
            .send()
            .await
            .expect("request")
    }

    /// A Slack interaction request for `payload`, form-encoded and signed with `secret`.
    pub fn slack_interaction(
        &self,
        payload: &serde_json::Value,
        secret: &str,
    ) -> reqwest::RequestBuilder {
        let mut body = String::from("payload=");
        for b in payload.to_string().bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    body.push(b as char)
                }
                b' ' => body.push('+'),
                _ => body.push_str(&format!("%{b:02X}")),
            }
        }
        let ts = (support_core::time::now_ms() / 1000).to_string();
        let sig = support_core::signing::slack_signature(secret, &ts, body.as_bytes());
        self.client
            .post(self.url("/slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
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

/// Slack's `block_actions` payload for Slack user `user` clicking `button` on the approval
/// message of action `action_id` posted at `ts` in [`SLACK_CHANNEL`].
pub fn slack_click(action_id: &str, button: &str, user: &str, ts: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": ts, "channel_id": SLACK_CHANNEL, "is_ephemeral": false},
        "trigger_id": "12345.98765.abcd",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "channel": {"id": SLACK_CHANNEL, "name": "approvals"},
        "message": {"type": "message", "text": "Approval needed", "ts": ts, "blocks": []},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [{"action_id": button, "block_id": format!("approval:{action_id}"), "type": "button",
                     "value": action_id, "action_ts": "1700000001.000200"}]
    })
}

/// A `skill dev` child process, killed when dropped.
pub struct SkillProcess {
    pub child: std::process::Child,
    /// The URL it printed on its first line.
    pub base_url: String,
    /// The next lines of its start-up banner (dashboard URL, health, …).
    pub banner: Vec<String>,
}

impl SkillProcess {
    /// Start `bin dev --demo --bind 127.0.0.1:0 --data-dir DIR` in `cwd` with `envs`, and read
    /// the base URL from its first line (the port handshake; no sleeping).
    pub fn start_demo(
        bin: &str,
        cwd: &std::path::Path,
        data_dir: &str,
        envs: &[(&str, &str)],
    ) -> SkillProcess {
        let args = [
            "dev",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
        ];
        Self::start(bin, cwd, &args, envs)
    }

    /// Start any of the platform's binaries (`skill dev …`, `support-front`, …) with `args`
    /// and `envs` only (the caller's `SUPPORT_*`/`INNGEST_*` variables are removed), and read
    /// the base URL from its first line. Binaries take their bind address from
    /// `SUPPORT_BIND` (use `127.0.0.1:0`).
    pub fn start(
        bin: &str,
        cwd: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> SkillProcess {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(bin);
        cmd.current_dir(cwd).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SUPPORT_LOG__FILTER", "warn");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn the binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("a first line").expect("utf-8");
        let base_url = first.rsplit(' ').next().unwrap_or_default().to_string();
        assert!(
            base_url.starts_with("http://127.0.0.1:"),
            "unexpected first line: {first}"
        );
        let banner: Vec<String> = lines.by_ref().take(3).map_while(Result::ok).collect();
        std::thread::spawn(move || for _ in lines {});
        SkillProcess {
            child,
            base_url,
            banner,
        }
    }

    /// `kill -9`: no drain, no cleanup, as a crash.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SkillProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The items of a canned-response list (`skill canned list --json`, `GET /api/v1/canned`)
/// other than the demo's seeded ones (ids `demo_…`): what a test wrote itself.
pub fn own_canned(list: &serde_json::Value) -> Vec<&serde_json::Value> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|c| !c["id"].as_str().is_some_and(|id| id.starts_with("demo_")))
                .collect()
        })
        .unwrap_or_default()
}
