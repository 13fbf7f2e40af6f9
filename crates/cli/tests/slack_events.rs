//! `POST /slack/events` end to end: signature checks, the URL verification handshake, and
//! event callbacks acknowledged once per `event_id`.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use support_testkit::{Fakes, SLACK_SIGNING_SECRET, TestApp, TestBackend};

async fn spawn() -> TestApp {
    TestApp::spawn_with_fakes(
        TestBackend::Sqlite,
        Fakes {
            slack: true,
            ..Fakes::default()
        },
        |_| {},
    )
    .await
    .unwrap()
}

/// POST `body` to `/slack/events`, signed with `secret` at `ts` (Unix seconds).
async fn post(app: &TestApp, body: &str, secret: &str, ts: i64) -> (u16, Value) {
    let ts = ts.to_string();
    let sig = support_core::signing::slack_signature(secret, &ts, body.as_bytes());
    let res = app
        .client
        .post(app.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn now() -> i64 {
    support_core::time::now_ms() / 1000
}

#[tokio::test]
async fn url_verification_answers_the_challenge() {
    let app = spawn().await;
    let body = json!({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}).to_string();
    let (status, v) = post(&app, &body, SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn forged_stale_and_malformed_requests_are_refused() {
    let app = spawn().await;
    let body = json!({"type": "url_verification", "challenge": "c"}).to_string();
    let (status, v) = post(&app, &body, "not-the-secret", now()).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "invalid_signature");
    let (status, _) = post(&app, &body, SLACK_SIGNING_SECRET, now() - 6 * 60).await;
    assert_eq!(status, 401, "outside the 5-minute window");
    assert_eq!(app.audit_of("slack.request_refused").await.len(), 2);
    let (status, v) = post(&app, "{not json", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "bad_payload");
    let no_id = json!({"type": "event_callback", "event": {"type": "app_uninstalled"}}).to_string();
    let (status, _) = post(&app, &no_id, SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 400);
    assert!(app.audit_of("slack.app_uninstalled").await.is_empty());
}

#[tokio::test]
async fn event_callbacks_are_acknowledged_once_and_uninstalls_audited() {
    let app = spawn().await;
    let uninstall = json!({"token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0APP",
        "event": {"type": "app_uninstalled"}, "type": "event_callback",
        "event_id": "Ev0UNINSTALL", "event_time": now()})
    .to_string();
    let (status, v) = post(&app, &uninstall, SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "accepted");
    // Slack's retry of the same delivery is acknowledged and not handled again.
    let (status, v) = post(&app, &uninstall, SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "duplicate");
    let audited = app.audit_of("slack.app_uninstalled").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["data"]["team_id"], "T0TEAM");

    let message = json!({"type": "event_callback", "event_id": "Ev0MESSAGE", "team_id": "T0TEAM",
        "event": {"type": "message", "text": "hello", "channel": "C0APPROVALS"}})
    .to_string();
    let (status, v) = post(&app, &message, SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "ignored");
    assert!(app.audit_of("slack.message").await.is_empty());
}
