//! Several instances, one Redis: what `skill` (another process) changes in an app's policy is
//! what the running platform applies to the very next conversation, not its 5-minute copy of
//! the app. Runs when `TEST_REDIS_URL` is set (without Redis each process keeps its own copy).
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use support_core::settings::Secret;
use support_steps::RunStatus;
use support_testkit::{Fakes, TestApp, TestBackend};

const WAIT: Duration = Duration::from_secs(30);

fn refund(app: &TestApp, email: &str) -> support_front::sandbox::NewMessage {
    app.inbound(
        0,
        email,
        "Refund",
        "Hi, it isn't for me after all. Could I get a refund please?",
    )
}

async fn settle(app: &TestApp, event_id: &str) -> support_steps::RunDetail {
    app.settled_run(
        event_id,
        &[RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed],
        WAIT,
    )
    .await
    .unwrap()
}

/// The conversation's refunds that ran (audited `processRefund` tool calls that succeeded).
async fn refunds_run(app: &TestApp, conversation: &str) -> usize {
    let v = app
        .api_json(&format!(
            "/api/v1/audit?conversation={conversation}&kind=tool.called&limit=100"
        ))
        .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["data"]["tool"] == "processRefund" && i["data"]["ok"] == true)
        .count()
}

/// The status of the conversation's refund action, if it has one.
async fn refund_status(app: &TestApp, conversation: &str) -> Option<String> {
    let actions = app.platform.store.list_actions(conversation).await.unwrap();
    actions
        .into_iter()
        .find(|a| a.kind == "processRefund")
        .map(|a| a.status.to_string())
}

#[tokio::test]
async fn a_policy_changed_from_the_cli_applies_to_the_next_conversation() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("SKIPPED: shared registry over Redis (TEST_REDIS_URL is not set)");
        return;
    };
    let redis = url.clone();
    let app = TestApp::spawn_with_fakes(TestBackend::Sqlite, Fakes::default(), move |s| {
        s.redis_url = Some(Secret::new(redis));
    })
    .await
    .unwrap();
    let slug = app.demo.apps[0].slug.clone();
    // Under the default 30-day window Kyle's refund (3 days) runs at once; the platform now
    // holds the app in its registry.
    let kyle = app
        .front
        .deliver(refund(&app, "kyle.dunmore@example.com"))
        .await
        .unwrap();
    settle(&app, &kyle.event_id).await;
    assert_eq!(refunds_run(&app, &kyle.conversation_id).await, 1);

    // An admin turns automatic refunds off from the CLI: another process, the same Redis.
    let config = format!("redis_url = \"{url}\"\n");
    let (code, out, err) = app
        .skill_at(
            env!("CARGO_BIN_EXE_skill"),
            Some(&config),
            &["apps", "update", &slug, "--refund-auto-days", "0"],
        )
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");

    // Jana's refund (6 days) now waits for a human.
    let jana = app
        .front
        .deliver(refund(&app, "j.schreiber@example.com"))
        .await
        .unwrap();
    let run = settle(&app, &jana.event_id).await;
    assert_eq!(run.run.status, RunStatus::Waiting, "{:?}", run.run.output);
    assert_eq!(
        refund_status(&app, &jana.conversation_id).await.as_deref(),
        Some("pending_approval")
    );
    assert_eq!(refunds_run(&app, &jana.conversation_id).await, 0);
}
