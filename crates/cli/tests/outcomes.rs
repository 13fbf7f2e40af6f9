//! The learning loop end to end through the Front sandbox's signed webhooks: a teammate's reply
//! (`outbound_sent`) is matched with our draft and classified (unchanged / edited / rewritten),
//! the sent text is stored beside the draft and a signal is recorded and audited; a reply in a
//! conversation we never drafted is `no_draft` (a completed run, never an error); a draft no
//! reply follows within the 72-hour window is `not_sent` (the runner on a `ManualClock` the test
//! moves past the window). No sleeps: each test waits for the runs to settle.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use support_core::store::Store;
use support_core::trust::SignalKind;
use support_steps::{RunDetail, RunStatus};
use support_testkit::TestApp;

const WAIT: Duration = Duration::from_secs(30);
const APP: usize = 0;
const LOGIN: (&str, &str) = (
    "Login link",
    "Hi, my login link never arrives. Could you send me a new one?",
);

/// Wait for the run of the event with id `event_id` to complete.
async fn completed(t: &TestApp, event_id: &str) -> RunDetail {
    let engine = &t.platform.engine;
    let runs = engine.wait_for_runs_of(event_id, 1, WAIT).await.unwrap();
    let id = runs[0].id.clone();
    let run = engine
        .wait_until("run to settle", WAIT, || async {
            Ok(engine
                .get_run(&id)
                .await?
                .filter(|r| matches!(r.run.status, RunStatus::Completed | RunStatus::Failed)))
        })
        .await
        .unwrap();
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    run
}

/// A customer asks; returns the conversation and our draft's text.
async fn ask(t: &TestApp, from: &str) -> (String, String) {
    let d = t
        .front
        .deliver(t.inbound(APP, from, LOGIN.0, LOGIN.1))
        .await
        .unwrap();
    completed(t, &format!("front:{}", d.event_id)).await;
    let drafts = t
        .platform
        .store
        .list_drafts(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    (d.conversation_id, drafts[0].text.clone())
}

/// A teammate sends `body` in `conv`; returns the outcome run's output.
async fn reply(t: &TestApp, conv: Option<&str>, body: &str) -> serde_json::Value {
    let mut msg = t.inbound(APP, "agent@sandbox.test", LOGIN.0, body);
    msg.inbound = false;
    msg.conversation_id = conv.map(str::to_string);
    let d = t.front.deliver(msg).await.unwrap();
    let run = completed(t, &format!("front:{}", d.event_id)).await;
    run.run.output.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_classified_against_our_draft_and_no_draft_is_not_an_error() {
    let t = TestApp::spawn_with(support_testkit::TestBackend::Sqlite, |s| {
        s.trust.not_sent_window_secs = 3600;
    })
    .await
    .unwrap();
    let store: &dyn Store = t.platform.store.as_ref();
    let app = t.demo.apps[APP].slug.to_string();

    // Never drafted: no_draft, audited, no signal.
    let out = reply(&t, None, "Hello from a teammate, unprompted.").await;
    assert_eq!(out["outcome"], "no_draft", "{out}");
    let audit = t.audit_of("outcome.recorded").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["data"]["outcome"], "no_draft");

    // Sent as we wrote it (Front re-fetched: the webhook is signed and carries the message).
    let (conv, draft) = ask(&t, "kyle.dunmore@example.com").await;
    let out = reply(&t, Some(&conv), &draft).await;
    assert_eq!(out["outcome"], "unchanged", "{out}");
    let sent = store.list_drafts(&conv).await.unwrap();
    assert!(sent[0].sent_at.is_some());
    assert!(
        sent[0]
            .sent_text
            .as_deref()
            .unwrap()
            .contains(draft.split_whitespace().next().unwrap())
    );
    let signals = store.signals_for_conversation(&conv).await.unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].kind, SignalKind::Unchanged);
    assert_eq!(signals[0].app, app);
    assert_eq!(signals[0].run_id.as_deref(), Some(sent[0].run_id.as_str()));
    // A second reply in the same conversation answers no draft of ours.
    let out = reply(&t, Some(&conv), "One more thing: it may take 5 minutes.").await;
    assert_eq!(out["outcome"], "no_draft", "{out}");

    // Edited: our words with a few changed.
    let (conv, draft) = ask(&t, "marcus.lee@example.com").await;
    let words: Vec<&str> = draft.split_whitespace().collect();
    let keep = words.len() * 3 / 4;
    let edited = format!(
        "{} Sorry for the wait, we checked your account today.",
        words[..keep].join(" ")
    );
    let out = reply(&t, Some(&conv), &edited).await;
    assert_eq!(out["outcome"], "edited", "{out} {edited}");

    // Rewritten.
    let (conv, _) = ask(&t, "ana.ortiz@example.com").await;
    let out = reply(
        &t,
        Some(&conv),
        "I escalated this to engineering; expect news tomorrow.",
    )
    .await;
    assert_eq!(out["outcome"], "rewritten", "{out}");
    let s = store.signals_for_conversation(&conv).await.unwrap();
    assert_eq!((s[0].kind, s[0].value), (SignalKind::Rewritten, 0.0));

    // Each signal is audited, and trust is served to viewers.
    assert_eq!(t.audit_of("signal.recorded").await.len(), 3);
    let trust = t.api_json("/api/v1/trust").await;
    let items = trust["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{trust}");
    assert_eq!(items[0]["signals"], 3);
    assert!(
        (items[0]["score"].as_f64().unwrap() - 0.5).abs() < 0.01,
        "{trust}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_no_reply_follows_within_the_window_is_not_sent() {
    // The runner on a manual clock: the 72-hour window passes when the test moves it.
    let start = support_core::time::now_ms();
    let clock = support_steps::ManualClock::new(start);
    let t = TestApp::spawn_with_clock(
        support_testkit::TestBackend::Sqlite,
        support_testkit::Fakes::default(),
        Some(clock.clone()),
        |_| {},
    )
    .await
    .unwrap();
    let window = support_core::trust::TrustSettings::default().not_sent_window_secs;
    let d = t
        .front
        .deliver(t.inbound(APP, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1))
        .await
        .unwrap();
    // Our draft is written, and the watcher is parked on its wait for a reply.
    completed(&t, &format!("front:{}", d.event_id)).await;
    let engine = &t.platform.engine;
    let watch = engine
        .wait_for_runs_of(&format!("front-watch:{}", d.event_id), 1, WAIT)
        .await
        .unwrap()[0]
        .id
        .clone();
    engine
        .wait_until("the watcher to park", WAIT, || async {
            Ok(engine
                .get_run(&watch)
                .await?
                .filter(|r| r.run.status == RunStatus::Waiting))
        })
        .await
        .unwrap();
    let store = t.platform.store.as_ref();
    assert!(
        store
            .signals_for_conversation(&d.conversation_id)
            .await
            .unwrap()
            .is_empty(),
        "nothing before the window ends"
    );
    // The window (and the hour our draft may have come after the wait began) passes.
    clock.advance(Duration::from_secs(window + 3600));
    let watch = completed(&t, &format!("front-watch:{}", d.event_id)).await;
    let out = watch.run.output.unwrap();
    assert_eq!(out["outcome"], "not_sent", "{out}");
    let signals = store
        .signals_for_conversation(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(
        (signals[0].kind, signals[0].value),
        (SignalKind::NotSent, 0.0)
    );
    assert!(
        signals[0].at >= start + window as i64 * 1000,
        "recorded at the runner's time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rating_from_the_slack_post_is_a_signal() {
    let t = TestApp::sqlite_with_fakes(support_testkit::Fakes {
        slack: true,
        stripe: true,
    })
    .await;
    // Paul's refund (`pending_refund(0)`) is app 1's: its approvals go to the Slack channel.
    t.set_policy(1, |p| {
        p.approval_channel = Some(support_testkit::SLACK_CHANNEL.into())
    })
    .await;
    let (_, action, approval) = t.pending_refund(0).await;
    // The post carries the rating buttons beside the approval buttons.
    let post = t.slack_message(&approval);
    assert!(
        post.contains(support_core::approvals::ids::RATE_BAD),
        "{post}"
    );
    let ts = approval.slack_ts.clone().unwrap();
    let res = t
        .click_in_slack(
            &action.id,
            support_core::approvals::ids::RATE_BAD,
            "U0RATER",
            &ts,
        )
        .await;
    assert_eq!(res.status(), 200);
    let conv = action.conversation_id.clone().unwrap();
    let store = t.platform.store.clone();
    let signals = t
        .platform
        .engine
        .wait_until("the rating to be recorded", WAIT, || {
            let (store, conv) = (store.clone(), conv.clone());
            async move {
                let s = store.signals_for_conversation(&conv).await.unwrap();
                Ok((!s.is_empty()).then_some(s))
            }
        })
        .await
        .unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(
        (signals[0].kind, signals[0].value),
        (SignalKind::RatingBad, 0.0)
    );
    assert_eq!(signals[0].source, "slack");
    assert_eq!(signals[0].actor.as_deref(), Some("slack:U0RATER"));
    assert_eq!(Some(signals[0].category.clone()), action.category);
}

/// The Front sandbox closes the loop itself: a teammate sends our draft from Front (as it is, or
/// edited), Front emits `outbound_sent`, and the outcome is classified; a draft a teammate wrote
/// in a conversation we never drafted is `no_draft`, a completed run.
async fn sending_a_draft_from_front_is_an_outcome(backend: support_testkit::TestBackend) {
    let Some(t) = TestApp::spawn_with(backend, |s| {
        s.trust.not_sent_window_secs = 3600;
    })
    .await
    else {
        eprintln!("SKIPPED: {backend:?} (TEST_DATABASE_URL not set)");
        return;
    };
    let store: &dyn Store = t.platform.store.as_ref();
    let (conv, _) = ask(&t, "kyle.dunmore@example.com").await;
    let draft = t.front.drafts(&conv)[0]["id"].as_str().unwrap().to_string();
    let sent = t.front.send_draft(&draft, None).await.unwrap();
    assert_eq!(sent.event["type"], "outbound_sent");
    assert_eq!(sent.webhook_status, Some(200));
    let run = completed(&t, &format!("front:{}", sent.event_id)).await;
    assert_eq!(run.run.output.unwrap()["outcome"], "unchanged");
    assert!(t.front.drafts(&conv).is_empty());
    assert!(store.list_drafts(&conv).await.unwrap()[0].sent_at.is_some());

    // Edited in Front before sending.
    let (conv, ours) = ask(&t, "marcus.lee@example.com").await;
    let draft = t.front.drafts(&conv)[0]["id"].as_str().unwrap().to_string();
    let words: Vec<&str> = ours.split_whitespace().collect();
    let edited = format!(
        "{} Sorry for the wait, we checked your account today.",
        words[..words.len() * 3 / 4].join(" ")
    );
    let sent = t.front.send_draft(&draft, Some(edited)).await.unwrap();
    let run = completed(&t, &format!("front:{}", sent.event_id)).await;
    assert_eq!(run.run.output.unwrap()["outcome"], "edited");

    // A conversation we never drafted: a teammate's own draft, sent.
    let mut human = t.inbound(
        APP,
        "agent@sandbox.test",
        "Hello",
        "Checking in about your order.",
    );
    human.inbound = false;
    let history = t.front.add_history(human);
    let theirs = t
        .front
        .add_draft(&history, "<p>Your order shipped.</p>")
        .unwrap();
    let sent = t.front.send_draft(&theirs, None).await.unwrap();
    let run = completed(&t, &format!("front:{}", sent.event_id)).await;
    assert_eq!(run.run.output.unwrap()["outcome"], "no_draft");
    assert!(t.front.send_draft("msg_unknown", None).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_a_draft_from_front_is_an_outcome_sqlite() {
    sending_a_draft_from_front_is_an_outcome(support_testkit::TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_a_draft_from_front_is_an_outcome_postgres() {
    sending_a_draft_from_front_is_an_outcome(support_testkit::TestBackend::Postgres).await;
}
