//! The spine end to end: a signed Front webhook (from the Front sandbox) → the durable inbound
//! workflow → router → offline agent with tools on the example app's SDK endpoint → a draft in
//! Front, every step audited.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::time::Duration;
use support_front::sandbox::{Delivered, Faults, NewMessage};
use support_steps::{RunDetail, RunStatus};
use support_testkit::TestApp;

const WAIT: Duration = Duration::from_secs(30);

fn msg(app: &TestApp, app_index: usize, from: &str, subject: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: None,
        inbox_id: app.demo.apps[app_index].front_inbox_id.clone(),
        from: from.into(),
        from_name: None,
        reply_to: None,
        subject: subject.into(),
        body: body.into(),
        inbound: true,
    }
}

/// Wait for the run started by a delivery to reach one of `statuses`.
async fn run_of(app: &TestApp, d: &Delivered, statuses: &[RunStatus]) -> RunDetail {
    app.settled_run(&d.event_id, statuses, WAIT).await.unwrap()
}

async fn audit_kinds(app: &TestApp, conversation: &str) -> Vec<String> {
    let v: Value = app
        .api_json(&format!(
            "/api/v1/audit?conversation={conversation}&limit=500"
        ))
        .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_string())
        .collect()
}

fn draft_text(app: &TestApp, conversation: &str) -> Vec<String> {
    app.front
        .drafts(conversation)
        .iter()
        .map(|d| d["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_login_problem_gets_one_draft_with_a_magic_link() {
    for app in TestApp::each_backend().await {
        let d = app
            .front
            .deliver(msg(
                &app,
                0,
                "kyle.dunmore@example.com",
                "Login link",
                "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
            ))
            .await
            .unwrap();
        let run = run_of(&app, &d, &[RunStatus::Completed, RunStatus::Failed]).await;
        assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
        let drafts = draft_text(&app, &d.conversation_id);
        assert_eq!(drafts.len(), 1, "{drafts:?}");
        let body = drafts[0].to_lowercase();
        assert!(body.contains("login"), "{body}");
        assert!(
            body.contains("support-draft:"),
            "the hidden marker is there"
        );
        assert!(
            !body.contains("generatemagiclink") && !body.contains("escalat"),
            "no internals: {body}"
        );
        let kinds = audit_kinds(&app, &d.conversation_id).await;
        for k in [
            "hydrate.completed",
            "route.decided",
            "tool.called",
            "validate.completed",
            "draft.created",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
        }
        // The audit rows carry the run as trace id, and the chain verifies.
        let v: Value = app
            .api_json(&format!(
                "/api/v1/audit?conversation={}&kind=route.decided",
                d.conversation_id
            ))
            .await;
        assert_eq!(v["items"][0]["trace_id"], run.run.id.as_str());
        assert_eq!(v["items"][0]["data"]["action"], "respond");
        let verify: Value = app.api_json("/api/v1/audit/verify").await;
        assert_eq!(verify["ok"], true);
        assert!(
            !app.front.comments(&d.conversation_id).is_empty(),
            "a context comment for the team"
        );
        let conv = app
            .platform
            .store
            .get_conversation(&d.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            conv.customer_email.as_deref(),
            Some("kyle.dunmore@example.com")
        );

        // Front delivers the same webhook again: still one draft.
        assert_eq!(app.front.emit(&d.event).await.unwrap(), Some(200));
        let runs = app
            .platform
            .engine
            .runs_for_event(&format!("front:{}", d.event_id))
            .await
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(draft_text(&app, &d.conversation_id).len(), 1);
    }
}

#[tokio::test]
async fn rate_limits_and_previews_are_handled() {
    let app = TestApp::spawn().await;
    app.front.set_faults(Faults {
        rate_limit_next: 2,
        retry_after: 0,
        preview_only: true,
        ..Faults::default()
    });
    let d = app
        .front
        .deliver(msg(&app, 1, "r.grant@example.net", "Can't sign in", "Hello, I can't sign in to Tailwind Atelier, the magic link expired. Please send another."))
        .await
        .unwrap();
    assert!(d.event["payload"]["conversation"]["subject"].is_null());
    let run = run_of(&app, &d, &[RunStatus::Completed, RunStatus::Failed]).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(draft_text(&app, &d.conversation_id).len(), 1);
    let fetched = app
        .front
        .request_log()
        .iter()
        .filter(|l| l.starts_with("GET /conversations/"))
        .count();
    assert!(
        fetched >= 3,
        "two 429s, then the re-fetch: {:?}",
        app.front.request_log()
    );
}

#[tokio::test]
async fn out_of_office_is_silence_and_legal_threats_are_urgent() {
    let app = TestApp::spawn().await;
    let ooo = app
        .front
        .deliver(msg(
            &app,
            2,
            "noreply@example.org",
            "Automatic reply: Out of office",
            "I am out of the office until Monday and will reply when I return.",
        ))
        .await
        .unwrap();
    let run = run_of(&app, &ooo, &[RunStatus::Completed, RunStatus::Failed]).await;
    assert_eq!(run.run.output.as_ref().unwrap()["action"], "silence");
    assert!(draft_text(&app, &ooo.conversation_id).is_empty());

    let legal = app
        .front
        .deliver(msg(
            &app,
            0,
            "tomas.herrera@example.com",
            "Refund or court",
            "I want my money back. If not, my lawyer will take you to small claims court.",
        ))
        .await
        .unwrap();
    let run = run_of(&app, &legal, &[RunStatus::Completed, RunStatus::Failed]).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(
        run.run.output.as_ref().unwrap()["action"],
        "escalate_urgent"
    );
    assert!(
        app.front
            .tags(&legal.conversation_id)
            .contains(&"urgent".to_string())
    );
    let conv = app
        .platform
        .store
        .get_conversation(&legal.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.escalation.as_deref(), Some("urgent"));
    for d in draft_text(&app, &legal.conversation_id) {
        assert!(!d.to_lowercase().contains("liable"), "{d}");
    }
}

#[tokio::test]
async fn refunds_inside_the_window_run_once_and_at_35_days_wait_for_approval() {
    let app = TestApp::spawn().await;
    // Kyle bought 3 days ago: inside the 30-day window.
    let d = app
        .front
        .deliver(msg(
            &app,
            0,
            "kyle.dunmore@example.com",
            "Refund",
            "Hi, Typewise isn't for me after all. Could I get a refund please?",
        ))
        .await
        .unwrap();
    let run = run_of(&app, &d, &[RunStatus::Completed, RunStatus::Failed]).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let kinds = audit_kinds(&app, &d.conversation_id).await;
    let refunds: Vec<Value> = {
        let v: Value = app
            .api_json(&format!(
                "/api/v1/audit?conversation={}&kind=tool.called&limit=100",
                d.conversation_id
            ))
            .await;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["data"]["tool"] == "processRefund")
            .cloned()
            .collect()
    };
    assert_eq!(refunds.len(), 1, "{kinds:?}");
    assert_eq!(refunds[0]["data"]["ok"], true, "{}", refunds[0]);

    // Paul bought 36 days ago: the refund waits for a human.
    let d = app
        .front
        .deliver(msg(
            &app,
            1,
            "paul.ferguson@example.net",
            "Refund",
            "Hello, could I get a refund for Tailwind Atelier? It isn't what I needed.",
        ))
        .await
        .unwrap();
    let run = run_of(
        &app,
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
    let actions = app
        .platform
        .store
        .list_actions(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, "processRefund");
    assert_eq!(actions[0].status, "pending_approval");
    let approvals = app
        .platform
        .store
        .list_approvals(Some(support_core::store::ApprovalStatus::Pending))
        .await
        .unwrap();
    assert!(approvals.iter().any(|a| a.action_id == actions[0].id));
    let drafts = draft_text(&app, &d.conversation_id);
    assert_eq!(drafts.len(), 1);
    assert!(
        !drafts[0].to_lowercase().contains("has been processed"),
        "{}",
        drafts[0]
    );
}

#[tokio::test]
async fn a_thank_you_on_a_resolved_thread_is_silence() {
    let app = TestApp::spawn().await;
    let inbox = app.demo.apps[0].front_inbox_id.clone();
    let mut first = msg(
        &app,
        0,
        "marcus.lee@example.com",
        "Login",
        "The login link doesn't work.",
    );
    first.inbox_id = inbox.clone();
    let conv = app.front.add_history(first);
    app.front.add_history(NewMessage {
        conversation_id: Some(conv.clone()),
        inbox_id: inbox.clone(),
        from: "support@typewise.test".into(),
        from_name: None,
        reply_to: None,
        subject: "Re: Login".into(),
        body: "Here is a fresh link; it is valid for 24 hours.".into(),
        inbound: false,
    });
    app.front.set_status(&conv, "archived");
    let mut thanks = msg(
        &app,
        0,
        "marcus.lee@example.com",
        "Re: Login",
        "Thanks, that worked!",
    );
    thanks.conversation_id = Some(conv.clone());
    let d = app.front.deliver(thanks).await.unwrap();
    let run = run_of(&app, &d, &[RunStatus::Completed, RunStatus::Failed]).await;
    assert_eq!(
        run.run.output.as_ref().unwrap()["action"],
        "silence",
        "{:?}",
        run.run.output
    );
    assert!(draft_text(&app, &conv).is_empty());
}

#[tokio::test]
async fn the_conversation_api_explains_what_happened() {
    let app = TestApp::spawn().await;
    let d = app
        .front
        .deliver(msg(
            &app,
            1,
            "paul.ferguson@example.net",
            "Refund",
            "Hello, could I get a refund for Tailwind Atelier? It isn't what I needed.",
        ))
        .await
        .unwrap();
    let run = run_of(
        &app,
        &d,
        &[RunStatus::Waiting, RunStatus::Completed, RunStatus::Failed],
    )
    .await;
    let v: Value = app
        .api_json(&format!("/api/v1/conversations/{}", d.conversation_id))
        .await;
    assert_eq!(v["conversation"]["front_id"], d.conversation_id.as_str());
    assert!(!v["messages"].as_array().unwrap().is_empty());
    assert_eq!(v["actions"][0]["kind"], "processRefund");
    assert_eq!(v["actions"][0]["status"], "pending_approval");
    assert_eq!(v["drafts"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["id"], run.run.id.as_str());
    assert!(
        v["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "gate.decided")
    );
    let list: Value = app
        .api_json("/api/v1/conversations?app=tailwind-course")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let missing = app.api_get("/api/v1/conversations/cnv_nope").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_front_outage_is_retried_then_dead_lettered_with_its_cause() {
    let app = TestApp::spawn().await;
    let d = app
        .front
        .deliver(msg(
            &app,
            0,
            "kyle.dunmore@example.com",
            "Login",
            "Hi, my login link never arrives.",
        ))
        .await
        .unwrap();
    // From here on every Front API call answers 503.
    app.front.set_faults(Faults {
        server_error_next: u32::MAX,
        ..Faults::default()
    });
    let run = app
        .settled_run(
            &d.event_id,
            &[RunStatus::Completed, RunStatus::Failed],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(run.run.status, RunStatus::Failed);
    let fetches = app
        .front
        .request_log()
        .iter()
        .filter(|l| l.starts_with("GET /conversations/"))
        .count();
    assert!(fetches >= 5, "one fetch per attempt at least: {fetches}");
    assert!(draft_text(&app, &d.conversation_id).is_empty());

    // The failure becomes a dead letter with its cause, audited on the conversation.
    let engine = &app.platform.engine;
    let letter = engine
        .wait_until("the dead letter", WAIT, || async {
            Ok(app
                .platform
                .store
                .list_dead_letters(false)
                .await
                .unwrap()
                .into_iter()
                .find(|l| l.kind == "run" && l.ref_id == run.run.id))
        })
        .await
        .unwrap();
    assert!(letter.error.contains("503"), "{}", letter.error);
    assert_eq!(letter.payload["function_id"], "support-inbound");
    assert_eq!(
        letter.payload["event"]["data"]["conversation_id"],
        d.conversation_id.as_str()
    );
    // The letter and its audit entry are two writes of one step: wait for the second.
    engine
        .wait_until("the dead letter's audit entry", WAIT, || async {
            Ok(audit_kinds(&app, &d.conversation_id)
                .await
                .contains(&"run.dead_lettered".to_string())
                .then_some(()))
        })
        .await
        .unwrap();
    // Exactly one, even though the runner kept going.
    let letters = app.platform.store.list_dead_letters(false).await.unwrap();
    assert_eq!(letters.iter().filter(|l| l.ref_id == run.run.id).count(), 1);

    // Admins see it in the API (agents may not).
    let agent = app.token("alice", support_core::auth::Role::Agent).await;
    let res = app
        .client
        .get(app.url("/api/v1/dead-letters"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let open: Value = app.api_json("/api/v1/dead-letters").await;
    assert_eq!(open["items"][0]["id"], letter.id.as_str(), "{open}");
    assert_eq!(open["items"][0]["status"], "open");

    // Front is back; an operator replays the letter from the CLI. The run resumes where it
    // failed and drafts the reply; the letter is resolved and the replay audited.
    app.front.set_faults(Faults::default());
    let (code, out, err) = app
        .skill_at(
            env!("CARGO_BIN_EXE_skill"),
            None,
            &["--json", "dead-letters", "replay", &letter.id],
        )
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "run_requeued");
    assert_eq!(done["run_id"], run.run.id.as_str());
    let replayed = app
        .settled_run(&d.event_id, &[RunStatus::Completed], WAIT)
        .await
        .unwrap();
    assert_eq!(replayed.run.id, run.run.id);
    assert_eq!(draft_text(&app, &d.conversation_id).len(), 1);
    assert!(
        audit_kinds(&app, &d.conversation_id)
            .await
            .contains(&"dead_letter.replayed".to_string())
    );
    let all: Value = app.api_json("/api/v1/dead-letters?status=all").await;
    assert_eq!(all["items"][0]["status"], "resolved", "{all}");
    // A resolved letter is not replayed twice.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/dead-letters/{}/replay", letter.id)))
        .bearer_auth(&app.demo.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "dead_letter_resolved");
}
