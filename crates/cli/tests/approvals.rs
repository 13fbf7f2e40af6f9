//! Human in the loop end to end: a refund at 35 days waits for approval; the dashboard API (and
//! Slack) decide; the workflow verifies and consumes the capability, refunds once on (fake)
//! Stripe with the action id as Idempotency-Key, revokes access through the SDK and audits
//! who approved. Refusals (double decisions, unlisted approvers, a capability for another
//! action) answer stable codes and are audited.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::auth::Role;
use support_core::events::OutEvent;
use support_steps::RunStatus;
use support_testkit::{Fakes, SLACK_CHANNEL, SLACK_SIGNING_SECRET, TestApp, slack_click};

const WAIT: Duration = Duration::from_secs(30);

/// Slack and Stripe fakes, with the second demo app's approvals posted to the Slack channel,
/// and Slack user U0ALICE linked to the agent alice@example.com (only linked Slack users may
/// decide).
async fn spawn_with_slack() -> TestApp {
    let app = TestApp::sqlite_with_fakes(Fakes {
        stripe: true,
        slack: true,
    })
    .await;
    app.set_policy(1, |p| p.approval_channel = Some(SLACK_CHANNEL.into()))
        .await;
    app.add_user("alice@example.com", Role::Agent, Some("U0ALICE"))
        .await;
    app
}

#[tokio::test]
async fn approve_from_the_dashboard_refunds_once_and_audits_the_approver() {
    let app = TestApp::sqlite_with_fakes(Fakes {
        stripe: true,
        ..Fakes::default()
    })
    .await;
    let stripe = app.stripe.clone().unwrap();
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.status, "pending");
    assert!(approval.amount_cents.is_some_and(|a| a > 0));

    // Visible in the pending list, with the action.
    let list: Value = app.api_json("/api/v1/approvals?status=pending").await;
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
    let viewer = app.token("viewer", Role::Viewer).await;
    let (status, body) = app
        .post_json(
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
    let agent = app.token("alice", Role::Agent).await;
    let (status, body) = app
        .post_json(
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

    let run = app.finished_run(&d.event_id, WAIT).await;
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
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "executed");
    let result = got.result.unwrap();
    assert_eq!(result["refundId"], refunds[0]["id"]);
    assert_eq!(result["success"], true);

    // Audited with the approver, and the claimed actor beside it.
    let approved = app.audit_of("approval.approved").await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["actor"], "token:alice");
    assert_eq!(approved[0]["data"]["claimed_actor"], "mallory@example.com");
    let executed = app.audit_of("action.executed").await;
    assert_eq!(executed[0]["data"]["approvers"], json!(["token:alice"]));
    assert_eq!(executed[0]["data"]["action_id"], action.id.as_str());
    let sent = app.runner_events("support/action.executed").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["action_id"], action.id.as_str());
    assert!(sent[0]["data"]["result"].is_object(), "{}", sent[0]);
    assert!(app.runner_events("support/action.failed").await.is_empty());
    assert!(
        app.front
            .comments(&d.conversation_id)
            .iter()
            .any(|c| c.to_string().contains("Refunded"))
    );

    // A second approval is refused with a stable code and audited.
    let (status, body) = app
        .post_json(
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
    let (status, body) = app
        .post_json(
            &agent,
            &format!("/api/v1/approvals/{}/edit", approval.id),
            json!({"amount_cents": 1}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
    let (status, body) = app
        .post_json(&agent, "/api/v1/approvals/apr_forged/approve", json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("approval_not_found"))
    );
    let refused: Vec<String> = app
        .audit_of("approval.refused")
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
    let (d2, other, other_approval) = app.pending_refund(1).await;
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
    let still = app.action(&other.id).await;
    assert_eq!(still.status, "pending_approval");
    assert_eq!(stripe.refunds().len(), 1);

    // The app names its approvers (users: here by email): anyone else is refused (and audited).
    let lead_user = app.add_user("lead@example.com", Role::Agent, None).await;
    app.set_policy(0, |p| p.approvers = vec!["lead@example.com".into()])
        .await;
    let (status, body) = app
        .post_json(
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
    let lead = support_web::api::create_user_token(
        &app.platform,
        &lead_user.id,
        "lead",
        Role::Agent,
        "test",
    )
    .await
    .unwrap()
    .1;
    let (status, body) = app
        .post_json(
            &lead,
            &format!("/api/v1/approvals/{}/reject", other_approval.id),
            json!({"reason": "outside the policy for this product"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "rejected");
    let run = app.finished_run(&d2.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app.action(&other.id).await;
    assert_eq!(got.status, "rejected");
    assert_eq!(stripe.refunds().len(), 1, "no refund on rejection");
    let rejected = app.audit_of("action.rejected").await;
    assert_eq!(
        rejected[0]["data"]["reason"],
        "outside the policy for this product"
    );
    assert_eq!(rejected[0]["actor"], "token:lead");
    assert!(app.front.comments(&d2.conversation_id).iter().any(|c| {
        c.to_string()
            .contains("outside the policy for this product")
    }));
    let refused: Vec<String> = app
        .audit_of("approval.refused")
        .await
        .iter()
        .map(|r| r["data"]["code"].as_str().unwrap().to_string())
        .collect();
    assert!(
        refused.iter().any(|c| c == "approver_not_allowed"),
        "{refused:?}"
    );
    let verify: Value = app.api_json("/api/v1/audit/verify").await;
    assert_eq!(verify["ok"], true);
}

#[tokio::test]
async fn large_amounts_need_two_different_approvers() {
    let app = TestApp::sqlite_with_fakes(Fakes::default()).await;
    app.set_policy(1, |p| p.two_approver_above_cents = Some(100))
        .await;
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.approvers_required, 2);
    let alice = app.token("alice", Role::Agent).await;
    let bob = app.token("bob", Role::Agent).await;
    let path = format!("/api/v1/approvals/{}/approve", approval.id);
    let (status, body) = app.post_json(&alice, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let (status, body) = app.post_json(&alice, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approver_already_approved"))
    );
    let still = app.action(&action.id).await;
    assert_eq!(still.status, "pending_approval");
    let (status, body) = app.post_json(&bob, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    assert_eq!(body["approvers"], json!(["token:alice", "token:bob"]));
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "executed");
    let executed = app.audit_of("action.executed").await;
    assert_eq!(
        executed[0]["data"]["approvers"],
        json!(["token:alice", "token:bob"])
    );
}

#[tokio::test]
async fn a_stripe_card_error_fails_the_action_into_a_dead_letter() {
    let app = spawn_with_slack().await;
    let stripe = app.stripe.clone().unwrap();
    stripe.fail_next_refund(
        "expired_card",
        "The refund could not be processed because the card has expired.",
    );
    let (d, action, approval) = app.pending_refund(0).await;
    app.approve_as_admin(&d.event_id, &approval, WAIT).await;
    let got = app.action(&action.id).await;
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
    let failed = app.audit_of("action.failed").await;
    assert_eq!(failed[0]["data"]["action_id"], action.id.as_str());
    let sent = app.runner_events("support/action.failed").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["action_id"], action.id.as_str());
    assert!(
        sent[0]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("card has expired")
    );
    assert!(
        app.runner_events("support/action.executed")
            .await
            .is_empty()
    );

    // Retrying from the dead letter: admins only, with a new Idempotency-Key (Stripe would
    // replay the card error for the old one), exactly once.
    let agent = app.token("alice", Role::Agent).await;
    let retry_path = format!("/api/v1/actions/{}/retry", action.id);
    let (status, _) = app.post_json(&agent, &retry_path, json!({})).await;
    assert_eq!(status, 403);
    // Front fails the retry's first request (its comment): the step is retried and must not
    // take the executed action for someone else's and skip the audit and the comment.
    app.front.set_faults(support_front::sandbox::Faults {
        server_error_next: 1,
        ..Default::default()
    });
    // The CLI asks (the dashboard's POST /api/v1/actions/{id}/retry does the same).
    let (code, out, err) = skill(&app, &["--json", "actions", "retry", &action.id]).await;
    assert_eq!(code, 0, "{out}{err}");
    let asked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(asked["attempt"], 1);
    let store = app.platform.store.clone();
    let done = app
        .platform
        .engine
        .wait_until("the retried action", WAIT, || {
            let (store, id) = (store.clone(), action.id.clone());
            async move {
                Ok(store.get_action(&id).await.unwrap().filter(|a| {
                    a.status == "executed"
                        || (a.status == "failed"
                            && a.error
                                .as_deref()
                                .is_some_and(|e| !e.contains("card has expired")))
                }))
            }
        })
        .await
        .unwrap();
    assert_eq!(done.status, "executed", "{:?}", done.error);
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["metadata"]["action_id"], action.id.as_str());
    let keys: Vec<Option<String>> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/refunds")
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        vec![
            Some(action.id.clone()),
            Some(format!("{}:retry-1", action.id))
        ]
    );
    let open = app.platform.store.list_dead_letters(false).await.unwrap();
    assert!(
        !open.iter().any(|x| x.ref_id == action.id),
        "the dead letter is resolved: {open:?}"
    );
    assert_eq!(app.audit_of("action.retry_requested").await.len(), 1);
    let executed = app
        .platform
        .engine
        .wait_until("the executed event", WAIT, || async {
            let sent = app.runner_events("support/action.executed").await;
            Ok((!sent.is_empty()).then_some(sent))
        })
        .await
        .unwrap();
    assert_eq!(executed[0]["data"]["attempt"], 1);
    let audited = app.audit_of("action.executed").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["data"]["attempt"], 1);
    assert!(app.audit_of("action.retry_skipped").await.is_empty());
    let retried = app
        .front
        .comments(&d.conversation_id)
        .into_iter()
        .filter(|c| c.to_string().contains("retry 1 requested by"))
        .count();
    assert_eq!(retried, 1);
    // The approval's Slack message follows the retry.
    let message = app.slack_message(&approval);
    assert!(
        message.contains("Executed") && message.contains("retry 1"),
        "{message}"
    );
    // Nothing left to retry.
    let (status, body) = app
        .post_json(&app.demo.api_token, &retry_path, json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("action_not_retriable"))
    );
}

#[tokio::test]
async fn slack_approve_click_executes_and_updates_the_message() {
    let app = spawn_with_slack().await;
    let slack = app.slack.clone().unwrap();
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.channel, "slack");
    let ts = approval.slack_ts.clone().unwrap();
    let posted = slack.calls_of("chat.postMessage");
    assert_eq!(posted.len(), 1);
    assert!(posted[0].args.to_string().contains(&action.id));

    // A forged signature is refused before anything happens.
    let res = app
        .slack_interaction(
            &slack_click(&action.id, "approval_approve", "U0ALICE", &ts),
            "not-the-secret",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    let res = app
        .click_in_slack(&action.id, "approval_approve", "U0ALICE", &ts)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app.action(&action.id).await;
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
    let res = app
        .click_in_slack(&action.id, "approval_approve", "U0BOB", &ts)
        .await;
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

    // A replay: the very same signed request again is refused (already decided), and an old
    // one outside the 5-minute window is refused before anything happens.
    let replay = app
        .slack_interaction(
            &slack_click(&action.id, "approval_approve", "U0ALICE", &ts),
            SLACK_SIGNING_SECRET,
        )
        .build()
        .unwrap();
    let body = replay.body().unwrap().as_bytes().unwrap().to_vec();
    let headers = replay.headers().clone();
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/slack/interactions"))
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    let stale_ts = (support_core::time::now_ms() / 1000 - 6 * 60).to_string();
    let stale = support_core::signing::slack_signature(SLACK_SIGNING_SECRET, &stale_ts, &body);
    let res = app
        .client
        .post(app.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", stale_ts)
        .header("x-slack-signature", stale)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // A tampered action id (a well-signed click on an action that does not exist).
    let res = app
        .click_in_slack("act_tampered", "approval_approve", "U0ALICE", &ts)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let refusals = app
        .platform
        .engine
        .wait_until("the replay and the tampered id to be refused", WAIT, || {
            let store = store.clone();
            async move {
                let rows = store
                    .list_audit(&support_core::store::AuditFilter {
                        kind: Some("approval.refused".into()),
                        limit: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let replays = rows
                    .iter()
                    .filter(|r| {
                        r.actor == "slack:U0ALICE" && r.data["code"] == "approval_already_decided"
                    })
                    .count();
                let tampered = rows.iter().any(|r| r.data["code"] == "approval_not_found");
                Ok((replays >= 2 && tampered).then_some(rows.len()))
            }
        })
        .await
        .unwrap();
    assert!(refusals >= 4);
    assert_eq!(app.stripe.as_ref().unwrap().refunds().len(), 1);
}

async fn skill(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    app.skill_at(env!("CARGO_BIN_EXE_skill"), None, args)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cli_lists_and_rejects_with_the_same_checks() {
    let app = TestApp::sqlite_with_fakes(Fakes::default()).await;
    let (d, action, approval) = app.pending_refund(0).await;
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
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "rejected");

    // Deciding twice fails with the stable code.
    let (code, out, _) = skill(&app, &["approvals", "approve", &approval.id, "--json"]).await;
    assert_eq!(code, 1);
    assert!(out.contains("approval_already_decided"), "{out}");
}

#[tokio::test]
async fn an_expired_approval_executes_nothing_and_escalates() {
    let app = TestApp::sqlite_with_fakes(Fakes {
        slack: true,
        stripe: true,
    })
    .await;
    // A two-second lifetime; the run's wait times out on its own (no clock tricks, no sleeps
    // here: the test waits for the run to settle).
    app.set_policy(1, |p| {
        p.approval_channel = Some(SLACK_CHANNEL.into());
        p.approval_ttl_secs = Some(2);
    })
    .await;
    let slack = app.slack.clone().unwrap();
    let (d, action, approval) = app.pending_refund(0).await;
    assert!(approval.expires_at - approval.created_at <= 2000);
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);

    let store = &app.platform.store;
    let got = store
        .approval_for_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, "expired");
    let got = store.get_action(&action.id).await.unwrap().unwrap();
    assert_eq!(got.status, "expired");
    assert!(app.stripe.as_ref().unwrap().refunds().is_empty());
    let comments = app.front.comments(&d.conversation_id);
    assert!(
        comments
            .iter()
            .any(|c| c["body"].as_str().unwrap_or_default().contains("expired")),
        "{comments:?}"
    );
    assert!(
        app.front
            .tags(&d.conversation_id)
            .contains(&"needs-human".to_string())
    );
    let message = slack
        .message(SLACK_CHANNEL, approval.slack_ts.as_deref().unwrap())
        .unwrap();
    assert!(message.to_string().contains("Expired"), "{message}");
    assert_eq!(app.audit_of("approval.expired").await.len(), 1);

    // Approving afterwards changes nothing, and the refusal is audited.
    let agent = app.token("alice", Role::Agent).await;
    let (status, body) = app
        .post_json(
            &agent,
            &format!("/api/v1/approvals/{}/approve", approval.id),
            json!({"reason": "too late"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let refused = app.audit_of("approval.refused").await;
    assert!(
        refused
            .iter()
            .any(|r| r["data"]["action_id"] == action.id.as_str()),
        "{refused:?}"
    );
    assert!(app.stripe.as_ref().unwrap().refunds().is_empty());
}

#[tokio::test]
async fn slack_edit_opens_the_draft_and_amount_and_the_edit_is_what_runs() {
    let app = spawn_with_slack().await;
    let slack = app.slack.clone().unwrap();
    let (d, action, approval) = app.pending_refund(0).await;
    let draft = approval
        .draft
        .clone()
        .expect("the draft is kept with the approval");
    assert_eq!(app.front.drafts(&d.conversation_id).len(), 1);
    let amount = approval.amount_cents.unwrap();
    let ts = approval.slack_ts.clone().unwrap();

    // Edit opens a modal holding the draft and the amount.
    let res = app
        .click_in_slack(&action.id, "approval_edit", "U0ALICE", &ts)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    app.platform
        .engine
        .wait_until("the edit modal", WAIT, || {
            let slack = slack.clone();
            async move { Ok((!slack.calls_of("views.open").is_empty()).then_some(())) }
        })
        .await
        .unwrap();
    let view = slack.calls_of("views.open")[0].args["view"].clone();
    let view: Value = match view {
        Value::String(s) => serde_json::from_str(&s).unwrap(),
        v => v,
    };
    assert_eq!(view["callback_id"], "approval_edit_modal");
    assert_eq!(view["private_metadata"], action.id.as_str());
    let initial: Vec<String> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["element"]["initial_value"].as_str().map(str::to_string))
        .collect();
    let first_line = draft.lines().next().unwrap();
    assert!(
        initial.iter().any(|v| v.contains(first_line)),
        "{initial:?} lacks {first_line:?}"
    );
    let major = format!("{}.{:02}", amount / 100, amount % 100);
    assert!(initial.contains(&major), "{initial:?} lacks {major}");

    // Submitting half the amount and a new reply approves exactly that.
    let half = amount / 2;
    let edited = "Hi Ofelia,\n\nI've refunded half of your order as agreed.";
    let submission = json!({
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "unused",
        "trigger_id": "12345.98765.ffff",
        "view": {"id": "V0VIEW", "team_id": "T0TEAM", "type": "modal", "blocks": [],
                 "private_metadata": action.id, "callback_id": "approval_edit_modal",
                 "state": {"values": {
                     "draft": {"draft_input": {"type": "plain_text_input", "value": edited}},
                     "amount": {"amount_input": {"type": "number_input",
                                                 "value": format!("{}.{:02}", half / 100, half % 100)}}}},
                 "hash": "156772938.1827394"}
    });
    let res = app
        .slack_interaction(&submission, SLACK_SIGNING_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let refunds = app.stripe.as_ref().unwrap().refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount"], half);
    let comments = app.front.comments(&d.conversation_id);
    assert!(
        comments
            .iter()
            .any(|c| c["body"].as_str().unwrap_or_default().contains(edited)),
        "{comments:?}"
    );
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "executed");
}

/// The refund is made and recorded, then Front fails the follow-up comment: the step is retried,
/// and the retry must still audit the execution once, comment in Front and show Executed in
/// Slack (not skip them because the action already reads `executed`).
#[tokio::test]
async fn a_front_failure_after_the_refund_still_audits_comments_and_updates_slack() {
    let app = spawn_with_slack().await;
    let (d, action, approval) = app.pending_refund(0).await;
    let comments_before = app.front.comments(&d.conversation_id).len();
    // The next Front API request after the approval is the execution's comment.
    app.front.set_faults(support_front::sandbox::Faults {
        server_error_next: 1,
        ..Default::default()
    });
    let run = app.approve_as_admin(&d.event_id, &approval, WAIT).await;
    assert_eq!(
        run.run.output.as_ref().unwrap()["decisions"][0]["status"],
        "executed"
    );
    // The fault was spent on the comment, so the step really was retried.
    assert!(
        app.front
            .request_log()
            .iter()
            .filter(|l| l.starts_with("POST") && l.ends_with("/comments"))
            .count()
            >= 2,
        "{:?}",
        app.front.request_log()
    );
    assert_eq!(app.stripe.as_ref().unwrap().refunds().len(), 1);
    let executed = app.audit_of("action.executed").await;
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert_eq!(executed[0]["data"]["action_id"], action.id.as_str());
    let comments = app.front.comments(&d.conversation_id);
    let done: Vec<_> = comments[comments_before..]
        .iter()
        .filter(|c| c.to_string().contains(&action.id))
        .collect();
    assert_eq!(done.len(), 1, "{comments:?}");
    let message = app.slack_message(&approval);
    assert!(message.contains("Executed"), "{message}");
    assert_eq!(app.runner_events("support/action.executed").await.len(), 1);
}
