//! `kill -9` between an SLA timer and its effects: the breach's timer has fired and the alarm is
//! claimed, but Front answers every call with 503 so the tag has not landed when the process
//! dies. After a restart the run resumes (the dead worker's lease lapses) and the breach is
//! carried out exactly once: one `sla-breach` tag, one Slack alert, one `sla.breach` audit
//! entry, one alarm row.
//!
//! The clock is the real one here (a child process), so the customer's message is put on the
//! clock two hours in the past through the event API (`support/sla.clock` with its `ts`): the
//! first-reply breach is already due when the run records it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::sla::{SlaPolicy, Target, admin};
use support_core::store::{AppStore, SlaStore, Store};
use support_core::time::now_ms;
use support_front::sandbox::{Faults, NewMessage, Sandbox, WebhookTarget};
use support_store::Db;
use support_testkit::browser::poll;
use support_testkit::fakes::FakeSlack;
use support_testkit::{SLACK_BOT_TOKEN, SLACK_CHANNEL, SkillProcess, init_crypto};

const SKILL: &str = env!("CARGO_BIN_EXE_skill");
const WAIT: Duration = Duration::from_secs(60);

fn demo(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("data/demo.json")).unwrap()).unwrap()
}

async fn db(dir: &std::path::Path) -> Db {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("data/support.db").display()
    );
    Db::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_breach_timer_and_its_effects_fires_once() {
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let front = Sandbox::new("crash-front-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(support_front::sandbox::serve(front.clone(), listener));
    let (slack, slack_url) = FakeSlack::start(SLACK_BOT_TOKEN, SLACK_CHANNEL)
        .await
        .unwrap();
    let envs = [
        ("SUPPORT_FRONT__API_TOKEN", "crash-front-token"),
        ("SUPPORT_FRONT__API_URL", front_url.as_str()),
        ("SUPPORT_SLACK__BOT_TOKEN", SLACK_BOT_TOKEN),
        ("SUPPORT_SLACK__API_URL", slack_url.as_str()),
        ("SUPPORT_RUNNER_LEASE_SECS", "2"),
    ];

    // The demo's data, then (the process down) the app's Slack channel and an SLA policy.
    SkillProcess::start_demo(SKILL, dir.path(), "data", &envs).kill_9();
    let demo = demo(dir.path());
    let slug = demo["apps"][0]["slug"].as_str().unwrap().to_string();
    {
        let db = db(dir.path()).await;
        let mut app = db.get_app(&slug).await.unwrap().unwrap();
        app.policy["approval_channel"] = json!(SLACK_CHANNEL);
        db.update_app(&app).await.unwrap();
        let policy = SlaPolicy {
            app: slug.clone(),
            id: "default".into(),
            name: "Default".into(),
            position: 0,
            conditions: Default::default(),
            first_reply: Some(Target {
                minutes: 60,
                business_hours: false,
                warn_before_minutes: 0,
            }),
            next_reply: None,
            resolution: None,
            schedule: None,
            pause_when_waiting: true,
            updated_at: 0,
            updated_by: String::new(),
        };
        let store: &dyn Store = &db;
        admin::put_policy(store, policy, "test", now_ms())
            .await
            .unwrap();
    }

    let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
    front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", proc.base_url),
        secret: demo["front_signing_secret"].as_str().unwrap().to_string(),
    });
    let mut changes = front.subscribe();
    let d = front
        .deliver(NewMessage {
            conversation_id: None,
            inbox_id: demo["apps"][0]["front_inbox_id"].as_str().unwrap().into(),
            from: "rita@example.com".into(),
            from_name: None,
            reply_to: None,
            subject: "Login link".into(),
            body: "Hi, my login link never arrives. Could you send me a new one?".into(),
            inbound: true,
        })
        .await
        .unwrap();
    assert_eq!(d.webhook_status, Some(200));
    let deadline = tokio::time::Instant::now() + WAIT;
    while front.drafts(&d.conversation_id).is_empty() {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the draft")
            .unwrap();
    }

    // Front now fails every call; the message goes on the clock two hours ago.
    front.set_faults(Faults {
        server_error_next: 1_000_000,
        ..Faults::default()
    });
    let key = demo["inngest_event_key"].as_str().unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/e/{key}", proc.base_url))
        .json(&json!({
            "name": "support/sla.clock",
            "id": "crash-sla-backdated",
            "ts": now_ms() - 2 * 3_600_000,
            "data": {"conversation_id": d.conversation_id, "app_id": slug,
                     "front_type": "inbound_received", "event_id": "evt_backdated"},
        }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    // The timer fired and the alarm is claimed; the tag cannot land. Die here.
    let db = db(dir.path()).await;
    let conv = d.conversation_id.clone();
    poll("the claimed breach", WAIT, async || {
        let alarms = db.sla_alarms(&conv).await.ok()?;
        alarms
            .iter()
            .any(|a| a.key == "first_reply:0:breach")
            .then_some(())
    })
    .await;
    proc.kill_9();
    assert!(
        !front.tags(&conv).iter().any(|t| t == "sla-breach"),
        "no tag before the crash"
    );
    assert!(
        slack
            .calls_of("chat.postMessage")
            .iter()
            .all(|c| !c.args.to_string().contains("SLA breached")),
        "no alert before the crash"
    );
    front.set_faults(Faults::default());

    // Restart: the run resumes once the dead worker's lease lapses.
    let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
    front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", proc.base_url),
        secret: demo["front_signing_secret"].as_str().unwrap().to_string(),
    });
    let token = demo["api_token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let audit_url = format!("{}/api/v1/audit?kind=sla.breach&limit=100", proc.base_url);
    let breaches: Vec<Value> = poll("the breach audited", WAIT, async || {
        let v: Value = client
            .get(&audit_url)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let items = v["items"].as_array()?.clone();
        (!items.is_empty()).then_some(items)
    })
    .await;

    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0]["data"]["key"], "first_reply:0:breach");
    assert_eq!(breaches[0]["data"]["alerted"], true);
    let tags = front.tags(&conv);
    assert_eq!(
        tags.iter().filter(|t| t.as_str() == "sla-breach").count(),
        1,
        "{tags:?}"
    );
    let alerts: Vec<String> = slack
        .calls_of("chat.postMessage")
        .into_iter()
        .map(|c| c.args.to_string())
        .filter(|a| a.contains("SLA breached"))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alarms = db.sla_alarms(&conv).await.unwrap();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    drop(proc);
}
