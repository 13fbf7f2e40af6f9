//! The SLA clock's durable timers end to end, on a `ManualClock` (no sleeps: the test advances
//! the runner's time and waits for the runs to settle): a customer message starts the first-reply
//! clock (`sla_due_at` set); the warning and then the breach each tag the conversation in Front,
//! alert the app's Slack channel and are audited exactly once, also when Slack refuses the first
//! breach alert (the run retries the alert alone: the tag is not applied again); a reply stops the first-reply
//! clock and the customer's next message starts the next-reply clock, whose breach is the only
//! alarm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use support_core::sla::admin;
use support_core::sla::{SlaPolicy, Target};
use support_core::store::Store;
use support_steps::{Clock, ManualClock, RunFilter, RunStatus};
use support_testkit::{Fakes, SLACK_CHANNEL, TestApp, TestBackend};
use support_workflow::sla::SLA_FN;

const WAIT: Duration = Duration::from_secs(60);
const MIN: i64 = 60_000;
/// Monday 7 December 2026, 10:00 UTC.
const T0: i64 = 1_796_637_600_000;

fn target(minutes: u32, warn: u32) -> Option<Target> {
    Some(Target {
        minutes,
        business_hours: false,
        warn_before_minutes: warn,
    })
}

async fn start(policy: impl FnOnce(&str) -> SlaPolicy) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let t = TestApp::spawn_with_clock(
        TestBackend::Sqlite,
        Fakes {
            slack: true,
            ..Fakes::default()
        },
        Some(clock.clone()),
        |_| {},
    )
    .await
    .unwrap();
    t.set_policy(0, |p| p.approval_channel = Some(SLACK_CHANNEL.into()))
        .await;
    let slug = t.demo.apps[0].slug.to_string();
    admin::put_policy(t.platform.store.as_ref(), policy(&slug), "test", T0)
        .await
        .unwrap();
    (t, clock)
}

fn policy(app: &str) -> SlaPolicy {
    SlaPolicy {
        app: app.into(),
        id: "default".into(),
        name: "Default".into(),
        position: 0,
        conditions: Default::default(),
        first_reply: target(60, 15),
        next_reply: target(30, 0),
        resolution: None,
        schedule: None,
        pause_when_waiting: true,
        updated_at: 0,
        updated_by: String::new(),
    }
}

/// Wait until `n` SLA runs exist and no run is running or queued for now (each parked on its
/// timer, waiting out a retry backoff on the manual clock, or finished).
async fn settle(t: &TestApp, clock: &ManualClock, n: usize) {
    let now = clock.now_ms();
    let engine = &t.platform.engine;
    engine
        .wait_until("SLA runs at rest", WAIT, || async {
            let runs = engine
                .list_runs(&RunFilter {
                    limit: 500,
                    ..RunFilter::default()
                })
                .await?;
            let sla = runs
                .iter()
                .filter(|r| r.function_id.ends_with(SLA_FN))
                .count();
            let busy = runs.iter().any(|r| {
                r.status == RunStatus::Running
                    || (r.status == RunStatus::Queued && r.available_at <= now)
            });
            Ok((sla >= n && !busy).then_some(()))
        })
        .await
        .unwrap();
}

async fn audits(t: &TestApp, kind: &str) -> Vec<serde_json::Value> {
    t.audit_of(kind).await
}

async fn wait_audits(t: &TestApp, kind: &str, n: usize) {
    let engine = &t.platform.engine;
    engine
        .wait_until(kind, WAIT, || async {
            Ok((t.audit_of(kind).await.len() >= n).then_some(()))
        })
        .await
        .unwrap();
}

fn sla_alerts(t: &TestApp) -> Vec<String> {
    t.slack
        .as_ref()
        .unwrap()
        .calls_of("chat.postMessage")
        .into_iter()
        .map(|c| c.args.to_string())
        .filter(|a| a.contains("SLA "))
        .collect()
}

fn count(tags: &[String], tag: &str) -> usize {
    tags.iter().filter(|t| t.as_str() == tag).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_and_breach_fire_once_each_with_tag_alert_and_audit() {
    let (t, clock) = start(policy).await;
    let store: &dyn Store = t.platform.store.as_ref();
    let d = t
        .front
        .deliver(t.inbound(
            0,
            "nina@example.com",
            "Login link",
            "Hi, my login link never arrives. Could you send me a new one?",
        ))
        .await
        .unwrap();
    let conv = d.conversation_id.clone();
    t.finished_run(&d.event_id, WAIT).await;
    // The intake's clock event and the inbound run's re-evaluation after routing.
    settle(&t, &clock, 2).await;
    let clock_row = store.get_sla_clock(&conv).await.unwrap().expect("a clock");
    assert_eq!(clock_row.policy_id.as_deref(), Some("default"));
    assert_eq!(clock_row.events.len(), 1, "{clock_row:?}");
    let received = clock_row.events[0].at;
    assert_eq!(received, T0, "the event's time is the runner's clock");
    assert_eq!(
        t.conversation(&conv).await.sla_due_at,
        Some(T0 + 60 * MIN),
        "sla_due_at is the first-reply breach"
    );
    assert!(store.sla_alarms(&conv).await.unwrap().is_empty());

    // 45 minutes: the warning, once.
    clock.advance(Duration::from_secs(45 * 60));
    wait_audits(&t, "sla.warning", 1).await;
    settle(&t, &clock, 2).await;
    let tags = t.front.tags(&conv);
    assert_eq!(count(&tags, "sla-warning"), 1, "{tags:?}");
    assert_eq!(count(&tags, "sla-breach"), 0, "{tags:?}");
    assert_eq!(sla_alerts(&t).len(), 1);

    // Slack refuses the breach's first alert (429): the run retries after its backoff.
    t.slack.as_ref().unwrap().rate_limit_next(1);
    clock.advance(Duration::from_secs(15 * 60));
    t.platform
        .engine
        .wait_until("the breach tag", WAIT, || async {
            Ok((count(&t.front.tags(&conv), "sla-breach") == 1).then_some(()))
        })
        .await
        .unwrap();
    settle(&t, &clock, 2).await;
    clock.advance(Duration::from_secs(5 * 60));
    wait_audits(&t, "sla.breach", 1).await;
    settle(&t, &clock, 2).await;

    let tags = t.front.tags(&conv);
    assert_eq!(count(&tags, "sla-breach"), 1, "{tags:?}");
    assert_eq!(count(&tags, "sla-warning"), 1, "{tags:?}");
    // Slack saw the warning, the refused breach alert (the injected 429) and its retry: one
    // alert delivered per alarm.
    let alerts = sla_alerts(&t);
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(alerts[0].contains("SLA warning: first_reply"), "{alerts:?}");
    assert!(
        alerts[1..]
            .iter()
            .all(|a| a.contains("SLA breached: first_reply")),
        "{alerts:?}"
    );
    let warnings = audits(&t, "sla.warning").await;
    let breaches = audits(&t, "sla.breach").await;
    assert_eq!((warnings.len(), breaches.len()), (1, 1));
    assert_eq!(breaches[0]["data"]["key"], "first_reply:0:breach");
    assert_eq!(breaches[0]["data"]["alerted"], true);
    assert_eq!(breaches[0]["data"]["due_at"], T0 + 60 * MIN);
    assert_eq!(breaches[0]["conversation_id"], conv.as_str());
    let alarms = store.sla_alarms(&conv).await.unwrap();
    let keys: Vec<&str> = alarms.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["first_reply:0:warning", "first_reply:0:breach"]);

    // Much later nothing fires again, and every SLA run has finished.
    clock.advance(Duration::from_secs(24 * 3600));
    settle(&t, &clock, 2).await;
    let runs = t
        .platform
        .engine
        .list_runs(&RunFilter {
            limit: 500,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(
        runs.iter()
            .filter(|r| r.function_id.ends_with(SLA_FN))
            .all(|r| r.status == RunStatus::Completed),
        "{runs:?}"
    );
    assert_eq!(audits(&t, "sla.breach").await.len(), 1);
    assert_eq!(sla_alerts(&t).len(), 3);
    t.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_stops_the_first_reply_clock_and_a_follow_up_starts_the_next() {
    let (t, clock) = start(policy).await;
    let store: &dyn Store = t.platform.store.as_ref();
    let d = t
        .front
        .deliver(t.inbound(
            0,
            "omar@example.com",
            "Login link",
            "Hi, my login link never arrives. Could you send me a new one?",
        ))
        .await
        .unwrap();
    let conv = d.conversation_id.clone();
    t.finished_run(&d.event_id, WAIT).await;
    settle(&t, &clock, 2).await;

    // Ten minutes later a teammate sends our draft: the first reply is met, nothing is due.
    clock.advance(Duration::from_secs(10 * 60));
    let draft = t.front.drafts(&conv)[0]["id"].as_str().unwrap().to_string();
    t.front.send_draft(&draft, None).await.unwrap();
    t.platform
        .engine
        .wait_until("the reply on the clock", WAIT, || async {
            Ok(store
                .get_sla_clock(&conv)
                .await
                .unwrap()
                .filter(|c| c.events.len() == 2))
        })
        .await
        .unwrap();
    settle(&t, &clock, 3).await;
    assert_eq!(t.conversation(&conv).await.sla_due_at, None);

    // Two hours pass: no warning, no breach.
    clock.advance(Duration::from_secs(2 * 3600));
    settle(&t, &clock, 3).await;
    assert!(store.sla_alarms(&conv).await.unwrap().is_empty());
    assert!(t.front.tags(&conv).iter().all(|t| !t.starts_with("sla-")));

    // The customer writes again: the next-reply clock runs from this message.
    let mut follow = t.inbound(0, "omar@example.com", "Login link", "Still nothing, sorry!");
    follow.conversation_id = Some(conv.clone());
    let d2 = t.front.deliver(follow).await.unwrap();
    let again = T0 + 130 * MIN;
    t.finished_run(&d2.event_id, WAIT).await;
    settle(&t, &clock, 5).await;
    assert_eq!(
        t.conversation(&conv).await.sla_due_at,
        Some(again + 30 * MIN)
    );

    clock.advance(Duration::from_secs(30 * 60));
    wait_audits(&t, "sla.breach", 1).await;
    settle(&t, &clock, 5).await;
    let keys: Vec<String> = store
        .sla_alarms(&conv)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(keys, ["next_reply:0:breach"], "no first-reply alarm ever");
    assert_eq!(count(&t.front.tags(&conv), "sla-breach"), 1);
    assert_eq!(audits(&t, "sla.warning").await.len(), 0);
    // Analytics counts the verdicts once each: the first reply met, the next reply breached.
    let verdicts: Vec<(String, Option<String>)> = store
        .reporting_events_for_conversation(&conv)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.as_str().starts_with("sla_"))
        .map(|e| (e.kind.as_str().to_string(), e.reason))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("sla_met".to_string(), Some("first_reply".to_string())),
            ("sla_breach".to_string(), Some("next_reply".to_string())),
        ],
        "{verdicts:?}"
    );
    t.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_set_by_a_person_moves_the_clock_to_its_policy() {
    // `high` (20 minutes, tried first) applies to high priority only; `default` to the rest.
    let (t, clock) = start(|app| SlaPolicy {
        id: "high".into(),
        conditions: support_core::sla::Conditions {
            priority: vec![support_core::sla::Priority::High],
            ..Default::default()
        },
        first_reply: target(20, 0),
        ..policy(app)
    })
    .await;
    let store: &dyn Store = t.platform.store.as_ref();
    let slug = t.demo.apps[0].slug.to_string();
    admin::put_policy(
        store,
        SlaPolicy {
            position: 1,
            ..policy(&slug)
        },
        "test",
        T0,
    )
    .await
    .unwrap();
    let d = t
        .front
        .deliver(t.inbound(
            0,
            "ines@example.com",
            "Login link",
            "Hi, my login link never arrives. Could you send me a new one?",
        ))
        .await
        .unwrap();
    let conv = d.conversation_id.clone();
    t.finished_run(&d.event_id, WAIT).await;
    settle(&t, &clock, 2).await;
    let row = store.get_sla_clock(&conv).await.unwrap().unwrap();
    assert_eq!(row.policy_id.as_deref(), Some("default"), "{row:?}");
    assert_eq!(t.conversation(&conv).await.sla_due_at, Some(T0 + 60 * MIN));

    // Five minutes in, a lead raises the priority: the clock now runs under `high`, due 20
    // minutes after the customer's message; the superseded generation's timers fire nothing.
    clock.advance(Duration::from_secs(5 * 60));
    let set = admin::set_priority(
        store,
        t.platform.events.as_ref(),
        &conv,
        "high",
        "usr_lead",
        clock.now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(set.previous, Some(support_core::sla::Priority::Normal));
    settle(&t, &clock, 3).await;
    t.platform
        .engine
        .wait_until("the clock under the high policy", WAIT, || async {
            Ok(store
                .get_sla_clock(&conv)
                .await
                .unwrap()
                .filter(|c| c.policy_id.as_deref() == Some("high")))
        })
        .await
        .unwrap();
    let row = store.get_sla_clock(&conv).await.unwrap().unwrap();
    assert_eq!(row.priority_set_by.as_deref(), Some("usr_lead"));
    assert_eq!(row.generation, set.generation + 1, "re-evaluated once");
    assert_eq!(t.conversation(&conv).await.sla_due_at, Some(T0 + 20 * MIN));

    clock.advance(Duration::from_secs(15 * 60));
    wait_audits(&t, "sla.breach", 1).await;
    settle(&t, &clock, 3).await;
    let breach = &audits(&t, "sla.breach").await[0];
    assert_eq!(breach["data"]["policy"], "high");
    assert_eq!(breach["data"]["due_at"], T0 + 20 * MIN);

    // Past the default policy's warning and breach times: nothing more fires.
    clock.advance(Duration::from_secs(2 * 3600));
    settle(&t, &clock, 3).await;
    let keys: Vec<String> = store
        .sla_alarms(&conv)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(keys, ["first_reply:0:breach"]);
    assert_eq!(audits(&t, "sla.warning").await.len(), 0);
    assert_eq!(audits(&t, "sla.breach").await.len(), 1);
    assert_eq!(count(&t.front.tags(&conv), "sla-breach"), 1);
    t.shutdown().await.unwrap();
}
