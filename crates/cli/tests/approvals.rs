//! Human in the loop end to end: a refund at 35 days waits for approval; the dashboard API (and
//! Slack) decide; the workflow verifies and consumes the capability, refunds once on (fake)
//! Stripe with the action id as Idempotency-Key, revokes access through the SDK and audits
//! who approved. Refusals (double decisions, unlisted approvers, a capability for another
//! action) answer stable codes and are audited.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_cli::testing::{Fakes, SLACK_CHANNEL, SLACK_SIGNING_SECRET, TestApp, TestBackend};
use support_core::auth::Role;
use support_core::events::OutEvent;
use support_core::registry::{AppPatch, AppPolicy, policy_of};
use support_core::store::{ActionRow, ApprovalRow};
use support_front::sandbox::{Delivered, NewMessage};
use support_steps::{RunDetail, RunStatus};

const WAIT: Duration = Duration::from_secs(30);

fn msg(app: &TestApp, app_index: usize, from: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: None,
        inbox_id: app.demo.apps[app_index].front_inbox_id.clone(),
        from: from.into(),
        from_name: None,
        reply_to: None,
        subject: "Refund".into(),
        body: body.into(),
        inbound: true,
    }
}

async fn spawn(fakes: Fakes) -> TestApp {
    TestApp::spawn_with_fakes(TestBackend::Sqlite, fakes, |_| {})
        .await
        .unwrap()
}

async fn run_of(app: &TestApp, d: &Delivered, statuses: &[RunStatus]) -> RunDetail {
    app.settled_run(&d.event_id, statuses, WAIT).await.unwrap()
}

/// Deliver a refund request from a customer whose purchase is ~35 days old and wait for the run
/// to wait for approval. Paul (app 1) bought 36 days ago, Ofelia (app 0) 35.
async fn pending_refund(app: &TestApp, who: usize) -> (Delivered, ActionRow, ApprovalRow) {
    let (index, email) = [
        (1, "paul.ferguson@example.net"),
        (0, "ofelia.marquez@example.com"),
    ][who];
    let d = app
        .front
        .deliver(msg(
            app,
            index,
            email,
            "Hello, could I get a refund please? It isn't what I needed.",
        ))
        .await
        .unwrap();
    let run = run_of(
        app,
        &d,
        &[RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed],
    )
    .await;
    assert_eq!(
        run.run.status,
        RunStatus::Waiting,
        "{:?} {:?}",
        run.run.output,
        run.run.error
    );
    let store = &app.platform.store;
    let actions = store.list_actions(&d.conversation_id).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let approval = store
        .approval_for_action(&actions[0].id)
        .await
        .unwrap()
        .unwrap();
    (d, actions[0].clone(), approval)
}

async fn wait_run(app: &TestApp, d: &Delivered) -> RunDetail {
    run_of(app, d, &[RunStatus::Completed, RunStatus::Failed]).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn audit(app: &TestApp, kind: &str) -> Vec<Value> {
    let v: Value = app
        .api_get(&format!("/api/v1/audit?kind={kind}&limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

async fn token(app: &TestApp, name: &str, role: Role) -> String {
    support_web::api::create_api_token(&app.platform, name, role, "test")
        .await
        .unwrap()
        .1
}

async fn set_policy(app: &TestApp, index: usize, change: impl FnOnce(&mut AppPolicy)) {
    let slug = app.demo.apps[index].slug.clone();
    let reg = &app.platform.registry;
    let mut policy = policy_of(&reg.require(&slug).await.unwrap()).unwrap();
    change(&mut policy);
    reg.update_app(
        &slug,
        AppPatch {
            policy: Some(policy),
            ..AppPatch::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn approve_from_the_dashboard_refunds_once_and_audits_the_approver() {
    let app = spawn(Fakes {
        stripe: true,
        ..Fakes::default()
    })
    .await;
    let stripe = app.stripe.clone().unwrap();
    let (d, action, approval) = pending_refund(&app, 0).await;
    assert_eq!(approval.status, "pending");
    assert!(approval.amount_cents.is_some_and(|a| a > 0));

    // Visible in the pending list, with the action.
    let list: Value = app
        .api_get("/api/v1/approvals?status=pending")
        .await
        .json()
        .await
        .unwrap();
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == approval.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(item["action"]["kind"], "processRefund");
    assert_eq!(item["action"]["params"], action.params);
    assert!(
        item["action"]["reasoning"]
            .as_str()
            .unwrap()
            .contains("days")
    );
    assert_eq!(item["conversation_id"], d.conversation_id.as_str());
    assert_eq!(item["app"], app.demo.apps[1].slug.as_str());
    assert_eq!(item["amount_cents"], approval.amount_cents.unwrap());

    // A viewer may read but not decide (refused and audited).
    let viewer = token(&app, "viewer", Role::Viewer).await;
    let (status, body) = post(
        &app,
        &viewer,
        &format!("/api/v1/approvals/{}/approve", approval.id),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    // An agent approves; the body's actor is recorded, never trusted.
    let agent = token(&app, "alice", Role::Agent).await;
    let (status, body) = post(
        &app,
        &agent,
        &format!("/api/v1/approvals/{}/approve", approval.id),
        json!({"actor": "mallory@example.com", "reason": "long-time customer"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "approved");
    assert_eq!(body["approvers"], json!(["token:alice"]));
    assert_eq!(
        body["event_id"],
        format!("approval-decided:{}", approval.id)
    );

    let run = wait_run(&app, &d).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(
        run.run.output.as_ref().unwrap()["decisions"][0]["status"],
        "executed"
    );

    // Exactly one refund on Stripe, keyed by the action id; access revoked with its id.
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let calls: Vec<_> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/refunds")
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].idempotency_key.as_deref(),
        Some(action.id.as_str())
    );
    assert_eq!(
        calls[0].param("amount"),
        Some(approval.amount_cents.unwrap().to_string().as_str())
    );
    let got = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "executed");
    let result = got.result.unwrap();
    assert_eq!(result["refundId"], refunds[0]["id"]);
    assert_eq!(result["success"], true);

    // Audited with the approver, and the claimed actor beside it.
    let approved = audit(&app, "approval.approved").await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["actor"], "token:alice");
    assert_eq!(approved[0]["data"]["claimed_actor"], "mallory@example.com");
    let executed = audit(&app, "action.executed").await;
    assert_eq!(executed[0]["data"]["approvers"], json!(["token:alice"]));
    assert_eq!(executed[0]["data"]["action_id"], action.id.as_str());
    assert!(
        app.front
            .comments(&d.conversation_id)
            .iter()
            .any(|c| c.to_string().contains("Refunded"))
    );

    // A second approval is refused with a stable code and audited.
    let (status, body) = post(
        &app,
        &agent,
        &format!("/api/v1/approvals/{}/approve", approval.id),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
    // So is an edit after approval, and an id that does not exist.
    let (status, body) = post(
        &app,
        &agent,
        &format!("/api/v1/approvals/{}/edit", approval.id),
        json!({"amount_cents": 1}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
    let (status, body) = post(
        &app,
        &agent,
        "/api/v1/approvals/apr_forged/approve",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("approval_not_found"))
    );
    let refused: Vec<String> = audit(&app, "approval.refused")
        .await
        .iter()
        .map(|r| r["data"]["code"].as_str().unwrap().to_string())
        .collect();
    for code in [
        "forbidden",
        "approval_already_decided",
        "approval_not_found",
    ] {
        assert!(
            refused.iter().any(|c| c == code),
            "{code} not in {refused:?}"
        );
    }
    assert_eq!(stripe.refunds().len(), 1, "still one refund");

    // A capability is bound to its action: replaying it for another pending action is refused,
    // and the other action keeps waiting for its own decision.
    let (d2, other, other_approval) = pending_refund(&app, 1).await;
    let token_a = app
        .platform
        .store
        .get_approval(&approval.id)
        .await
        .unwrap()
        .unwrap()
        .capability
        .unwrap();
    app.platform
        .events
        .send(vec![OutEvent {
            name: "support/approval.decided".into(),
            data: json!({"action_id": other.id, "decision": "approved", "actor": "token:alice",
                         "channel": "dashboard", "capability": token_a}),
            id: Some("forged-1".into()),
        }])
        .await
        .unwrap();
    let store = app.platform.store.clone();
    let other_id = other.id.clone();
    app.platform
        .engine
        .wait_until("the forged decision to be refused", WAIT, || {
            let store = store.clone();
            let other_id = other_id.clone();
            async move {
                let rows = store
                    .list_audit(&support_core::store::AuditFilter {
                        kind: Some("capability.refused".into()),
                        limit: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                Ok(rows
                    .into_iter()
                    .find(|r| r.data["action_id"] == other_id.as_str()))
            }
        })
        .await
        .unwrap();
    let still = app
        .platform
        .store
        .get_action(&other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, "pending_approval");
    assert_eq!(stripe.refunds().len(), 1);

    // The app names its approvers: anyone else is refused (and audited).
    set_policy(&app, 0, |p| p.approvers = vec!["lead".into()]).await;
    let (status, body) = post(
        &app,
        &agent,
        &format!("/api/v1/approvals/{}/approve", other_approval.id),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("approver_not_allowed")),
        "{body}"
    );

    // The listed approver rejects with a reason: nothing is executed, the reason is audited.
    let lead = token(&app, "lead", Role::Agent).await;
    let (status, body) = post(
        &app,
        &lead,
        &format!("/api/v1/approvals/{}/reject", other_approval.id),
        json!({"reason": "outside the policy for this product"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "rejected");
    let run = wait_run(&app, &d2).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app
        .platform
        .store
        .get_action(&other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "rejected");
    assert_eq!(stripe.refunds().len(), 1, "no refund on rejection");
    let rejected = audit(&app, "action.rejected").await;
    assert_eq!(
        rejected[0]["data"]["reason"],
        "outside the policy for this product"
    );
    assert_eq!(rejected[0]["actor"], "token:lead");
    assert!(app.front.comments(&d2.conversation_id).iter().any(|c| {
        c.to_string()
            .contains("outside the policy for this product")
    }));
    let refused: Vec<String> = audit(&app, "approval.refused")
        .await
        .iter()
        .map(|r| r["data"]["code"].as_str().unwrap().to_string())
        .collect();
    assert!(
        refused.iter().any(|c| c == "approver_not_allowed"),
        "{refused:?}"
    );
    let verify: Value = app
        .api_get("/api/v1/audit/verify")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], true);
}

#[tokio::test]
async fn large_amounts_need_two_different_approvers() {
    let app = spawn(Fakes::default()).await;
    set_policy(&app, 1, |p| p.two_approver_above_cents = Some(100)).await;
    let (d, action, approval) = pending_refund(&app, 0).await;
    assert_eq!(approval.approvers_required, 2);
    let alice = token(&app, "alice", Role::Agent).await;
    let bob = token(&app, "bob", Role::Agent).await;
    let path = format!("/api/v1/approvals/{}/approve", approval.id);
    let (status, body) = post(&app, &alice, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let (status, body) = post(&app, &alice, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approver_already_approved"))
    );
    let still = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, "pending_approval");
    let (status, body) = post(&app, &bob, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    assert_eq!(body["approvers"], json!(["token:alice", "token:bob"]));
    let run = wait_run(&app, &d).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "executed");
    let executed = audit(&app, "action.executed").await;
    assert_eq!(
        executed[0]["data"]["approvers"],
        json!(["token:alice", "token:bob"])
    );
}

#[tokio::test]
async fn a_stripe_card_error_fails_the_action_into_a_dead_letter() {
    let app = spawn(Fakes {
        stripe: true,
        ..Fakes::default()
    })
    .await;
    let stripe = app.stripe.clone().unwrap();
    stripe.fail_next_refund(
        "expired_card",
        "The refund could not be processed because the card has expired.",
    );
    let (d, action, approval) = pending_refund(&app, 0).await;
    let (status, body) = post(
        &app,
        &app.demo.api_token,
        &format!("/api/v1/approvals/{}/approve", approval.id),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = wait_run(&app, &d).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "failed");
    assert!(
        got.error.as_deref().unwrap().contains("card has expired"),
        "{:?}",
        got.error
    );
    let dead = app.platform.store.list_dead_letters(false).await.unwrap();
    assert!(
        dead.iter()
            .any(|x| x.kind == "action" && x.ref_id == action.id),
        "{dead:?}"
    );
    assert!(stripe.refunds().is_empty());
    let failed = audit(&app, "action.failed").await;
    assert_eq!(failed[0]["data"]["action_id"], action.id.as_str());
}

/// A signed Slack interaction body for `payload`.
fn slack_request(app: &TestApp, payload: &Value) -> reqwest::RequestBuilder {
    slack_request_signed(app, payload, SLACK_SIGNING_SECRET)
}

fn slack_request_signed(app: &TestApp, payload: &Value, secret: &str) -> reqwest::RequestBuilder {
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
    app.client
        .post(app.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
}

fn click(action_id: &str, button: &str, user: &str, ts: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": "T0TEAM"},
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

#[tokio::test]
async fn slack_approve_click_executes_and_updates_the_message() {
    let app = spawn(Fakes {
        slack: true,
        stripe: true,
    })
    .await;
    set_policy(&app, 1, |p| p.approval_channel = Some(SLACK_CHANNEL.into())).await;
    let slack = app.slack.clone().unwrap();
    let (d, action, approval) = pending_refund(&app, 0).await;
    assert_eq!(approval.channel, "slack");
    let ts = approval.slack_ts.clone().unwrap();
    let posted = slack.calls_of("chat.postMessage");
    assert_eq!(posted.len(), 1);
    assert!(posted[0].args.to_string().contains(&action.id));

    // A forged signature is refused before anything happens.
    let res = slack_request_signed(
        &app,
        &click(&action.id, "approval_approve", "U0ALICE", &ts),
        "not-the-secret",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    let res = slack_request(&app, &click(&action.id, "approval_approve", "U0ALICE", &ts))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let run = wait_run(&app, &d).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "executed");
    assert_eq!(app.stripe.as_ref().unwrap().refunds().len(), 1);
    let message = slack.message(SLACK_CHANNEL, &ts).unwrap();
    assert!(message.to_string().contains("Executed"), "{message}");
    assert!(message.to_string().contains("U0ALICE"), "{message}");
    let updates = slack.calls_of("chat.update");
    let texts: Vec<String> = updates.iter().map(|c| c.args["text"].to_string()).collect();
    for state in ["Approved", "Executing", "Executed"] {
        assert!(
            texts.iter().any(|t| t.contains(state)),
            "{state} not in {texts:?}"
        );
    }

    // A second click is refused: audited, and the clicker is told.
    let res = slack_request(&app, &click(&action.id, "approval_approve", "U0BOB", &ts))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let store = app.platform.store.clone();
    app.platform
        .engine
        .wait_until("the refused click to be answered", WAIT, || {
            let slack = slack.clone();
            async move { Ok((!slack.calls_of("chat.postEphemeral").is_empty()).then_some(())) }
        })
        .await
        .unwrap();
    let refused = store
        .list_audit(&support_core::store::AuditFilter {
            kind: Some("approval.refused".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        refused
            .iter()
            .any(|r| r.actor == "slack:U0BOB" && r.data["code"] == "approval_already_decided")
    );
    assert_eq!(app.stripe.as_ref().unwrap().refunds().len(), 1);
}

async fn skill(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skill"));
    cmd.current_dir(cwd.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .env("SUPPORT_DATABASE_URL", app.database_url())
        .env("SUPPORT_DATA_DIR", app.data_dir())
        .env("SUPPORT_LOG__FILTER", "error")
        .env("USER", "ops")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_lists_and_rejects_with_the_same_checks() {
    let app = spawn(Fakes::default()).await;
    let (d, action, approval) = pending_refund(&app, 0).await;
    let (code, out, err) = skill(&app, &["approvals", "list", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["id"], approval.id.as_str());
    assert_eq!(v["items"][0]["action"]["kind"], "processRefund");

    let (code, out, err) = skill(
        &app,
        &[
            "approvals",
            "reject",
            &approval.id,
            "--reason",
            "duplicate request",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "rejected");
    assert_eq!(v["approvers"], json!(["cli:ops"]));
    let run = wait_run(&app, &d).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app
        .platform
        .store
        .get_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "rejected");

    // Deciding twice fails with the stable code.
    let (code, out, _) = skill(&app, &["approvals", "approve", &approval.id, "--json"]).await;
    assert_eq!(code, 1);
    assert!(out.contains("approval_already_decided"), "{out}");
}
