//! `kill -9` between an approval and the action's result: the refund reached Stripe, the
//! answer never came back, the process died. After a restart the run resumes, retries with the
//! same `Idempotency-Key`, gets Stripe's replay of the first response, revokes access, and the
//! action is executed exactly once.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_front::sandbox::{NewMessage, Sandbox, WebhookTarget};
use support_testkit::fakes::FakeStripe;
use support_testkit::{STRIPE_SECRET_KEY, SkillProcess, init_crypto};

const SKILL: &str = env!("CARGO_BIN_EXE_skill");
const WAIT: Duration = Duration::from_secs(60);

fn demo(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("data/demo.json")).unwrap()).unwrap()
}

async fn api(proc: &SkillProcess, token: &str, method: &str, path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", proc.base_url);
    let req = match method {
        "POST" => client.post(url).json(&body),
        _ => client.get(url),
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_approval_and_execution_executes_once() {
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let front = Sandbox::new("crash-front-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(support_front::sandbox::serve(front.clone(), listener));
    let (stripe, stripe_url) = FakeStripe::start(STRIPE_SECRET_KEY).await.unwrap();
    // The demo product's charges, as Stripe holds them: refunds take their amount from these.
    for c in course_app::seeded_charges() {
        stripe.set_charge(None, &c.id, c.amount_cents, c.currency);
    }
    let envs = [
        ("SUPPORT_FRONT__API_TOKEN", "crash-front-token"),
        ("SUPPORT_FRONT__API_URL", front_url.as_str()),
        ("SUPPORT_STRIPE__SECRET_KEY", STRIPE_SECRET_KEY),
        ("SUPPORT_STRIPE__API_URL", stripe_url.as_str()),
        ("SUPPORT_RUNNER_LEASE_SECS", "2"),
    ];

    let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
    let demo = demo(dir.path());
    let token = demo["api_token"].as_str().unwrap().to_string();
    front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", proc.base_url),
        secret: demo["front_signing_secret"].as_str().unwrap().to_string(),
    });
    // Ofelia's purchase is ~35 days old: the refund waits for approval.
    let mut changes = front.subscribe();
    let d = front
        .deliver(NewMessage {
            conversation_id: None,
            inbox_id: demo["apps"][0]["front_inbox_id"].as_str().unwrap().into(),
            from: "ofelia.marquez@example.com".into(),
            from_name: None,
            reply_to: None,
            subject: "Refund".into(),
            body: "Hello, could I get a refund please? It isn't what I needed.".into(),
            inbound: true,
        })
        .await
        .unwrap();
    assert_eq!(d.webhook_status, Some(200));
    let deadline = tokio::time::Instant::now() + WAIT;
    while front.drafts(&d.conversation_id).is_empty() {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the holding draft")
            .unwrap();
    }
    // Approve as soon as the draft is in Front: the run may not wait for the decision yet (the
    // draft step has not committed), and a decision made before the wait must still count.
    let pending = api(
        &proc,
        &token,
        "GET",
        "/api/v1/approvals?status=pending",
        json!({}),
    )
    .await;
    let approval = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["conversation_id"] == d.conversation_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no pending approval in {pending}"));
    let action_id = approval["action_id"].as_str().unwrap().to_string();

    // Stripe makes the refund but the answer never arrives: the process dies waiting for it.
    stripe.hold_refund_responses();
    let approval_id = approval["id"].as_str().unwrap();
    api(
        &proc,
        &token,
        "POST",
        &format!("/api/v1/approvals/{approval_id}/approve"),
        json!({"reason": "customer asked nicely"}),
    )
    .await;
    stripe.wait_for_refund_requests(1, WAIT).await.unwrap();
    proc.kill_9();
    stripe.release_refund_responses();
    assert_eq!(
        stripe.refunds().len(),
        1,
        "Stripe did the work before the crash"
    );
    assert!(
        !front.comments(&d.conversation_id).iter().any(|c| c["body"]
            .as_str()
            .unwrap_or_default()
            .contains("approved by")),
        "nothing was recorded as executed before the crash"
    );

    // Restart: the run resumes once the dead worker's lease lapses.
    let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
    front.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", proc.base_url),
        secret: demo["front_signing_secret"].as_str().unwrap().to_string(),
    });
    let executed = |front: &Sandbox| {
        front.comments(&d.conversation_id).iter().any(|c| {
            c["body"]
                .as_str()
                .unwrap_or_default()
                .contains("approved by")
        })
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !executed(&front) {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the action to execute after the restart")
            .unwrap();
    }

    // Exactly once at Stripe: two requests with the same key, the second a replay.
    assert_eq!(stripe.refunds().len(), 1);
    let calls: Vec<_> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/refunds")
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.idempotency_key.as_deref() == Some(action_id.as_str())),
        "{calls:?}"
    );
    let conv = api(
        &proc,
        &token,
        "GET",
        &format!("/api/v1/conversations/{}", d.conversation_id),
        json!({}),
    )
    .await;
    let action = conv["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == action_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(action["status"], "executed", "{action}");
    // One completed refund call (the killed attempt never finished), one execution audited.
    let audit = api(
        &proc,
        &token,
        "GET",
        &format!("/api/v1/audit?conversation={}&limit=500", d.conversation_id),
        json!({}),
    )
    .await;
    let items = audit["items"].as_array().unwrap();
    let refunds_called = items
        .iter()
        .filter(|i| i["kind"] == "tool.called" && i["data"]["tool"] == "processRefund")
        .count();
    assert_eq!(refunds_called, 1, "{items:?}");
    let executions = items
        .iter()
        .filter(|i| i["kind"] == "action.executed" && i["data"]["action_id"] == action_id.as_str())
        .count();
    assert_eq!(executions, 1);
    assert_eq!(front.drafts(&d.conversation_id).len(), 1, "one draft");
    drop(proc);
}
