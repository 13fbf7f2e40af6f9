//! `kill -9` in the automatic send step, in a real `skill dev` process: once after the send
//! intent is recorded but before Front has the message, once after Front accepted the message
//! but before its answer came back. After a restart the run resumes, and the customer gets the
//! reply exactly once: the Front sandbox (in this test process, so it outlives the kills)
//! counts the messages, and the marker check finds the one Front already has.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support_core::store::{AutoSendStatus, Store};
use support_core::time::now_ms;
use support_core::trust::{Signal, SignalKind};
use support_front::sandbox::{HoldAt, NewMessage, Sandbox, WebhookTarget};
use support_testkit::{SkillProcess, init_crypto};

const SKILL: &str = env!("CARGO_BIN_EXE_skill");
const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "crash-autosend-front-token";

fn scenarios_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: scenarios ({} not found)", dir.display());
        None
    }
}

fn demo(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("data/demo.json")).unwrap()).unwrap()
}

/// `skill ARGS` on the test's database and data directory; panics unless it exits 0.
async fn skill(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(SKILL);
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .envs(envs.iter().copied())
        .env("SUPPORT_DATA_DIR", dir.join("data"))
        .env("SUPPORT_LOG__FILTER", "error")
        .env("USER", "ops")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "skill {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn start(dir: &Path, front: &Sandbox, envs: &[(&str, &str)]) -> SkillProcess {
    let proc = SkillProcess::start_demo(SKILL, dir, "data", envs);
    front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", proc.base_url),
        secret: demo(dir)["front_signing_secret"]
            .as_str()
            .unwrap()
            .to_string(),
    });
    proc
}

const LOGIN: (&str, &str) = (
    "Login link",
    "Hi, I can't log in: the magic link in the login email never arrives, so I'm locked out \
     and cannot access my dashboard. Could you send me a new login link?",
);

/// Seed the demo, earn trust for `access` (60 unchanged sends) and opt it in with the platform
/// down, start it, certify through `skill eval --certify` and promote through `skill autosend
/// promote`; then kill the process with SIGKILL while the send step is held at `at`, restart,
/// and count what Front got.
async fn crash_in_send_step(at: HoldAt) {
    let Some(scenarios) = scenarios_dir() else {
        return;
    };
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let front = Sandbox::new(TOKEN);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    front.set_base_url(front_url.clone());
    tokio::spawn(support_front::sandbox::serve(front.clone(), listener));
    let db_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("support.db").display()
    );
    let envs = [
        ("SUPPORT_DATABASE_URL", db_url.as_str()),
        ("SUPPORT_FRONT__API_TOKEN", TOKEN),
        ("SUPPORT_FRONT__API_URL", front_url.as_str()),
        ("SUPPORT_RUNNER_LEASE_SECS", "2"),
    ];

    // The first start seeds the demo apps; the policy and the signals are written with the
    // platform down (the registry's per-process copy would not see a policy written here).
    let seeding = start(dir.path(), &front, &envs);
    drop(seeding);
    let demo = demo(dir.path());
    let slug = demo["apps"][0]["slug"].as_str().unwrap().to_string();
    let inbox = demo["apps"][0]["front_inbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    let store: Arc<dyn Store> = Arc::new(support_store::Db::connect(&db_url).await.unwrap());
    let registry = support_core::registry::Registry::new(store.clone());
    let app = registry.require(&slug).await.unwrap();
    let mut policy = support_core::registry::policy_of(&app).unwrap();
    policy.auto_send = vec!["access".into()];
    registry
        .update_app(
            &slug,
            support_core::registry::AppPatch {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let now = now_ms();
    for i in 0..60_i64 {
        let s = Signal::new(
            format!("sig_crash_{i}"),
            SignalKind::Unchanged,
            slug.as_str(),
            "access",
            format!("cnv_hist_{i}"),
            now - (60 - i) * 3_600_000,
            "test",
        );
        assert!(store.record_signal(&s).await.unwrap());
    }
    // With the platform up (its knowledge imported): certify and promote through the CLI
    // (certificates and modes are read from the store at the moment of sending).
    let proc = start(dir.path(), &front, &envs);
    skill(
        dir.path(),
        &envs,
        &[
            "eval",
            "--certify",
            scenarios.to_str().unwrap(),
            "--app",
            &slug,
        ],
    )
    .await;
    let promoted = skill(
        dir.path(),
        &envs,
        &["--json", "autosend", "promote", &slug, "access"],
    )
    .await;
    let promoted: Value = serde_json::from_str(&promoted).unwrap();
    assert_eq!(promoted["allowed"], true, "{promoted}");

    // The access message; Front holds the send at `at` and the process dies there.
    front.hold_replies(at, 1);
    let d = front
        .deliver(NewMessage {
            conversation_id: None,
            inbox_id: inbox,
            from: "kyle.dunmore@example.com".into(),
            from_name: None,
            reply_to: None,
            subject: LOGIN.0.into(),
            body: LOGIN.1.into(),
            inbound: true,
        })
        .await
        .unwrap();
    assert_eq!(d.webhook_status, Some(200));
    let conv = d.conversation_id.clone();
    front.wait_for_held_replies(1, WAIT).await.unwrap();
    // The intent is durable before Front is called.
    let sends = store.sends_for_conversation(&conv).await.unwrap();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(sends[0].status, AutoSendStatus::Intent);
    proc.kill_9();
    front.release_replies();
    let before = front.sent_replies(&conv).len();
    assert_eq!(
        before,
        usize::from(at == HoldAt::AfterAccept),
        "what Front had when the process died"
    );
    assert_eq!(
        store
            .get_send(&sends[0].run_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        AutoSendStatus::Intent,
        "nothing was recorded as sent before the crash"
    );

    // Restart: the run resumes in the send step once the dead worker's lease lapses.
    let proc = start(dir.path(), &front, &envs);
    let mut changes = front.subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    while front.sent_replies(&conv).is_empty() {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the reply after the restart")
            .unwrap();
    }
    // The run finishes in the platform's process: wait for its audit entry, the last thing the
    // send step writes (after marking the send as sent).
    let run_id = sends[0].run_id.clone();
    let audit_filter = support_core::store::AuditFilter {
        conversation_id: Some(conv.clone()),
        kind: Some("autosend.sent".into()),
        limit: 100,
        ..Default::default()
    };
    support_testkit::browser::poll("the send's audit entry", WAIT, async || {
        let audit = store.list_audit(&audit_filter).await.unwrap();
        (!audit.is_empty()).then_some(())
    })
    .await;
    let sent = store.get_send(&run_id).await.unwrap().unwrap();
    assert_eq!(sent.status, AutoSendStatus::Sent);

    // Exactly once: one message at Front, carrying the run's marker, and it is the one recorded.
    let replies = front.sent_replies(&conv);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0]["body"].as_str().unwrap().contains(&sent.marker));
    assert!(front.drafts(&conv).is_empty(), "sent, not drafted");
    let posts = front
        .request_log()
        .iter()
        .filter(|l| *l == &format!("POST /conversations/{conv}/messages"))
        .count();
    // Before accept: the held request (dropped) and the restart's send. After accept: the
    // accepted one only; the restart found it by its marker.
    let expected_posts = match at {
        HoldAt::BeforeAccept => 2,
        HoldAt::AfterAccept => 1,
    };
    assert_eq!(posts, expected_posts);
    let audit = store.list_audit(&audit_filter).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].data["run_id"], run_id.as_str(), "{audit:?}");
    assert_eq!(
        audit[0].data["recovered"],
        at == HoldAt::AfterAccept,
        "{audit:?}"
    );
    drop(proc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_the_send_intent_sends_once_after_restart() {
    crash_in_send_step(HoldAt::BeforeAccept).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_front_accepted_the_send_sends_once_after_restart() {
    crash_in_send_step(HoldAt::AfterAccept).await;
}
