//! Automatic sending end to end on the TestApp (Front sandbox, fake Slack): trust from signals,
//! `skill eval --certify`'s certification, promotion, the gate at the moment of sending, exactly
//! one reply through Front (also when the send step is re-run after Front accepted it), the
//! never list and flags, certificate invalidation, demotion with a Slack alert, shadow mode and
//! the kill switch.
//!
//! The signals are recorded through F's `SignalStore` directly (as F's outcome classification
//! would record them for each human send), at controlled times: no sleeps.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;
use support_core::autosend::Mode;
use support_core::store::Store;
use support_core::time::{DAY_MS, now_ms};
use support_core::trust::{Signal, SignalKind};
use support_testkit::{Fakes, SLACK_CHANNEL, TestApp};
use support_workflow::autosend::{self as auto, Demotion};

const APP: usize = 0;

fn scenarios() -> Option<Vec<support_core::pipeline::eval::Scenario>> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if !dir.is_dir() {
        eprintln!("SKIPPED: scenarios ({} not found)", dir.display());
        return None;
    }
    Some(support_core::pipeline::eval::load_dir(&dir).unwrap())
}

/// `n` signals of `kind` for `category`, one an hour up to now.
async fn signals(t: &TestApp, category: &str, kind: SignalKind, n: usize, tag: &str) {
    let slug = &t.demo.apps[APP].slug;
    let now = now_ms();
    for i in 0..n {
        let at = now - (n - i) as i64 * 3_600_000;
        let s = Signal::new(
            format!("sig_{tag}_{i}"),
            kind,
            slug.as_str(),
            category,
            format!("cnv_hist_{tag}_{i}"),
            at,
            "test",
        );
        assert!(t.platform.store.record_signal(&s).await.unwrap());
    }
}

async fn certify(t: &TestApp, scen: &[support_core::pipeline::eval::Scenario]) {
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let out = auto::certify(
        t.platform.store.as_ref(),
        &t.platform.registry,
        &deps.llm_defaults,
        scen,
        Some(&t.demo.apps[APP].slug),
        now_ms(),
        &support_knowledge::demo::scenario_index().unwrap(),
    )
    .await
    .unwrap();
    let access = out.iter().find(|c| c.result.category == "access").unwrap();
    assert!(access.result.certified, "{access:?}");
}

async fn promote(t: &TestApp, category: &str) -> support_core::autosend::GateReport {
    let slug = &t.demo.apps[APP].slug;
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let app = t.platform.registry.require(slug).await.unwrap();
    let policy = support_core::registry::policy_of(&app).unwrap();
    auto::promote(
        t.platform.store.as_ref(),
        slug,
        category,
        &policy,
        &deps.llm_defaults,
        &deps.autosend,
        "cli:test",
    )
    .await
    .unwrap()
}

/// Deliver `body` from a demo customer and wait for its run to finish.
async fn ask(t: &TestApp, from: &str, subject: &str, body: &str) -> String {
    let d = t
        .front
        .deliver(t.inbound(APP, from, subject, body))
        .await
        .unwrap();
    let run = t.finished_run(&d.event_id, Duration::from_secs(30)).await;
    assert_eq!(
        run.run.status,
        support_steps::RunStatus::Completed,
        "{:?}",
        run.run.error
    );
    d.conversation_id
}

/// Like `ask`, for a message whose run waits for a human (an approval): at rest is enough.
async fn ask_waiting(t: &TestApp, from: &str, subject: &str, body: &str) -> String {
    let d = t
        .front
        .deliver(t.inbound(APP, from, subject, body))
        .await
        .unwrap();
    t.run_at_rest(&d.event_id, Duration::from_secs(30)).await;
    d.conversation_id
}

const LOGIN: (&str, &str) = (
    "Login link",
    "Hi, I can't log in: the magic link in the login email never arrives, so I'm locked out \
     and cannot access my dashboard. Could you send me a new login link?",
);

async fn auto_app() -> Option<(TestApp, Vec<support_core::pipeline::eval::Scenario>)> {
    let scen = scenarios()?;
    let t = TestApp::sqlite_with_fakes(Fakes {
        slack: true,
        stripe: false,
    })
    .await;
    t.set_policy(APP, |p| {
        p.auto_send = vec!["access".into(), "technical".into()];
        p.approval_channel = Some(SLACK_CHANNEL.into());
    })
    .await;
    Some((t, scen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_certified_access_is_sent_once_then_a_reopen_demotes_it() {
    let Some((t, scen)) = auto_app().await else {
        return;
    };
    let slug = t.demo.apps[APP].slug.clone();
    let store: &dyn Store = t.platform.store.as_ref();

    // Without trust the gate refuses promotion.
    let refused = promote(&t, "access").await;
    assert!(!refused.allowed);
    assert!(refused.failed().contains(&"trust"), "{refused:?}");

    // A human sent 60 of our access drafts unchanged.
    signals(&t, "access", SignalKind::Unchanged, 60, "ok").await;
    let trust = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    assert!(
        trust.score > 0.85 && trust.effective_samples >= 50.0,
        "{trust:?}"
    );
    assert!(!promote(&t, "access").await.allowed, "no certificate yet");
    certify(&t, &scen).await;
    let report = promote(&t, "access").await;
    assert!(report.allowed, "{report:?}");
    assert_eq!(
        auto::mode_of(store, &slug, "access").await.unwrap(),
        Mode::Auto
    );
    // Decay: 60 days on without new signals, the 60 samples count as 15 and the gate (the one
    // the send step evaluates with the time of sending) no longer holds: auto is off.
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let policy =
        support_core::registry::policy_of(&t.platform.registry.require(&slug).await.unwrap())
            .unwrap();
    let later = now_ms() + 60 * DAY_MS;
    let facts = auto::category_facts(
        store,
        &slug,
        "access",
        &policy,
        &deps.llm_defaults,
        &deps.autosend,
        later,
    )
    .await
    .unwrap();
    assert!((facts.effective_samples - trust.effective_samples / 4.0).abs() < 1e-3);
    assert_eq!(
        support_core::autosend::evaluate(&facts).failed(),
        vec!["trust"]
    );

    // The next access message is sent through Front, once, and no draft is written, although
    // Front's answer to the send is lost (the step fails after Front accepted, as in a crash
    // in the send step, and runs again: it finds the marker instead of sending twice).
    t.front.set_faults(support_front::sandbox::Faults {
        lose_reply_answers: 1,
        ..Default::default()
    });
    let conv = ask(&t, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1).await;
    let sent = t.front.sent_replies(&conv);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(t.front.drafts(&conv).is_empty());
    let marker_run = store.sends_for_conversation(&conv).await.unwrap();
    assert_eq!(marker_run.len(), 1);
    assert_eq!(marker_run[0].status, "sent");
    assert!(
        sent[0]["body"]
            .as_str()
            .unwrap()
            .contains(&marker_run[0].marker)
    );
    let audit = t.audit_of("autosend.sent").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["data"]["recovered"], true, "{audit:?}");
    let posts = t
        .front
        .request_log()
        .iter()
        .filter(|l| *l == &format!("POST /conversations/{conv}/messages"))
        .count();
    assert_eq!(posts, 1, "one send, the retry found it by its marker");

    // The customer reopens: the category drops to draft and Slack hears why.
    let reopen = Signal::new(
        "sig_reopen",
        SignalKind::Reopened,
        slug.as_str(),
        "access",
        conv.as_str(),
        now_ms(),
        "test",
    );
    store.record_signal(&reopen).await.unwrap();
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let demoted = auto::on_signal(
        store,
        deps.approvals.as_deref(),
        &t.platform.registry,
        &reopen,
    )
    .await
    .unwrap();
    assert_eq!(demoted, Demotion::Demoted { alerted: true });
    let mode = store.get_mode(&slug, "access").await.unwrap().unwrap();
    assert_eq!(mode.mode, Mode::Draft);
    assert!(mode.demotion_reason.unwrap().contains("reopened"));
    let alerts = t.slack.as_ref().unwrap().calls_of("chat.postMessage");
    assert!(
        alerts
            .iter()
            .any(|c| c.args.to_string().contains("Automatic answers stopped")),
        "{alerts:?}"
    );
    assert_eq!(t.audit_of("autosend.demoted").await.len(), 1);

    // Next access message: a draft again, nothing sent.
    let conv2 = ask(&t, "marcus.lee@example.com", LOGIN.0, LOGIN.1).await;
    assert!(t.front.sent_replies(&conv2).is_empty());
    assert_eq!(t.front.drafts(&conv2).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_drafts_never_earn_auto_and_policy_changes_void_the_certificate() {
    let Some((t, scen)) = auto_app().await else {
        return;
    };
    let slug = t.demo.apps[APP].slug.clone();
    let store: &dyn Store = t.platform.store.as_ref();
    signals(&t, "access", SignalKind::Edited, 60, "ed").await;
    let trust = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    assert!((trust.score - 0.5).abs() < 1e-9, "{trust:?}");
    certify(&t, &scen).await;
    let r = promote(&t, "access").await;
    assert!(!r.allowed);
    assert_eq!(r.failed(), vec!["trust"]);

    // Trusted now (60 unchanged on top of the edits is not enough: replace the history).
    signals(&t, "access", SignalKind::Unchanged, 600, "ok").await;
    assert!(promote(&t, "access").await.allowed);
    // A policy change invalidates the certificate: nothing is sent until certified again.
    t.set_policy(APP, |p| p.refund_auto_days = 20).await;
    let conv = ask(&t, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1).await;
    assert!(t.front.sent_replies(&conv).is_empty());
    assert_eq!(t.front.drafts(&conv).len(), 1);
    let refused = t.audit_of("autosend.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0]["data"]["failed"],
        serde_json::json!(["certificate"])
    );
    // A model change too.
    certify(&t, &scen).await;
    t.set_policy(APP, |p| {
        p.llm.agent = Some(support_core::settings::ModelChoice {
            provider: "openai".into(),
            model: "gpt-other".into(),
        })
    })
    .await;
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let app = t.platform.registry.require(&slug).await.unwrap();
    let policy = support_core::registry::policy_of(&app).unwrap();
    let facts = auto::category_facts(
        store,
        &slug,
        "access",
        &policy,
        &deps.llm_defaults,
        &deps.autosend,
        now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(
        support_core::autosend::evaluate(&facts).failed(),
        vec!["certificate"]
    );

    // Decay: 60 days later without signals the effective samples are a quarter.
    let later = now_ms() + 60 * DAY_MS;
    let now_t = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    let then = auto::trust_of(store, &slug, "access", later).await.unwrap();
    assert!((then.effective_samples * 4.0 - now_t.effective_samples).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_list_flags_and_approval_tools_are_never_sent_and_the_switch_stops_all() {
    let Some((t, scen)) = auto_app().await else {
        return;
    };
    let slug = t.demo.apps[APP].slug.clone();
    let store: &dyn Store = t.platform.store.as_ref();
    // The policy cannot opt a never category in.
    let app = t.platform.registry.require(&slug).await.unwrap();
    let mut bad = support_core::registry::policy_of(&app).unwrap();
    bad.auto_send.push("unknown".into());
    assert!(support_core::registry::validate_policy(&bad).is_err());
    bad.auto_send = vec!["refund".into()];
    assert!(support_core::registry::validate_policy(&bad).is_err());

    signals(&t, "access", SignalKind::Unchanged, 60, "ok").await;
    certify(&t, &scen).await;
    assert!(promote(&t, "access").await.allowed);
    // An angry access message: flagged, drafted for a human.
    let angry = ask(
        &t,
        "kyle.dunmore@example.com",
        "WORST SERVICE EVER",
        "This is ridiculous and unacceptable!!! My login link NEVER arrives, I am furious. Send a new one NOW or I'm calling my lawyer.",
    )
    .await;
    assert!(t.front.sent_replies(&angry).is_empty());
    // A refund request: a tool that needs approval; never sent.
    let refund = ask_waiting(
        &t,
        "ofelia.marquez@example.com",
        "Refund",
        "Hello, could I get a refund please? It isn't what I needed.",
    )
    .await;
    assert!(t.front.sent_replies(&refund).is_empty());

    // The global switch stops everything at once, and the app switch too.
    auto::set_switch(
        store,
        auto::GLOBAL,
        false,
        Some("incident".into()),
        "cli:test",
    )
    .await
    .unwrap();
    let c = ask(&t, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1).await;
    assert!(t.front.sent_replies(&c).is_empty());
    assert_eq!(t.front.drafts(&c).len(), 1);
    auto::set_switch(store, auto::GLOBAL, true, None, "cli:test")
        .await
        .unwrap();
    auto::set_switch(store, &slug, false, None, "cli:test")
        .await
        .unwrap();
    let c = ask(&t, "marcus.lee@example.com", LOGIN.0, LOGIN.1).await;
    assert!(t.front.sent_replies(&c).is_empty());
    let refused = t.audit_of("autosend.refused").await;
    assert!(
        refused
            .iter()
            .filter(|r| r["data"]["failed"] == serde_json::json!(["switch"]))
            .count()
            >= 2,
        "{refused:?}"
    );
    // The settings file's switches refuse too, whatever the store says.
    auto::set_switch(store, &slug, true, None, "cli:test")
        .await
        .unwrap();
    let deps = support_host::functions::inbound_deps(&t.platform.services).unwrap();
    let policy = support_core::registry::policy_of(&app).unwrap();
    let facts = |switches: support_core::autosend::AutoSendSettings| {
        let (policy, deps, slug) = (policy.clone(), deps.llm_defaults.clone(), slug.clone());
        async move {
            let mut f =
                auto::category_facts(store, &slug, "access", &policy, &deps, &switches, now_ms())
                    .await
                    .unwrap();
            f.mode = support_core::autosend::Mode::Auto;
            support_core::autosend::evaluate(&f)
        }
    };
    assert!(facts(Default::default()).await.allowed);
    for switches in [
        support_core::autosend::AutoSendSettings {
            off: true,
            ..Default::default()
        },
        support_core::autosend::AutoSendSettings {
            off_apps: vec![slug.clone()],
            ..Default::default()
        },
    ] {
        let report = facts(switches).await;
        assert_eq!(report.failed(), vec!["switch"], "{report:?}");
    }
    let other = support_core::autosend::AutoSendSettings {
        off_apps: vec!["some-other-app".into()],
        ..Default::default()
    };
    assert!(facts(other).await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_writes_nothing_to_front_and_keeps_our_draft() {
    let t = TestApp::sqlite_with_fakes(Fakes::default()).await;
    let slug = t.demo.apps[APP].slug.clone();
    let store: &dyn Store = t.platform.store.as_ref();
    auto::set_mode(store, &slug, "access", Mode::Shadow, "cli:test")
        .await
        .unwrap();
    let before = t.front.request_log().len();
    let conv = ask(&t, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1).await;
    let writes: Vec<String> = t.front.request_log()[before..]
        .iter()
        .filter(|l| !l.starts_with("GET "))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(t.front.drafts(&conv).is_empty());
    assert!(t.front.sent_replies(&conv).is_empty());
    let ours = store.list_drafts(&conv).await.unwrap();
    assert_eq!(ours.len(), 1, "our shadow draft is kept");
    assert_eq!(ours[0].front_draft_id, None);
    assert_eq!(t.audit_of("draft.shadowed").await.len(), 1);
    // The human's reply still counts: a signal for the shadow draft accrues trust.
    let s = Signal::new(
        "sig_shadow",
        SignalKind::Unchanged,
        slug.as_str(),
        "access",
        conv.as_str(),
        now_ms(),
        "test",
    );
    assert!(store.record_signal(&s).await.unwrap());
    let trust = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    assert!(trust.effective_samples > 0.99);
}

const STRIPE_SECRET: &str = "whsec_autosend_test";

/// Wait (on the engine's change feed, bounded) until `kind` has been audited `n` times.
async fn audited(t: &TestApp, kind: &str, n: usize) -> Vec<serde_json::Value> {
    let store = t.platform.store.clone();
    t.platform
        .engine
        .wait_until(kind, Duration::from_secs(30), || {
            let store = store.clone();
            async move {
                let rows = store
                    .list_audit(&support_core::store::AuditFilter {
                        kind: Some(kind.to_string()),
                        limit: 1000,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                Ok((rows.len() >= n).then(|| {
                    rows.into_iter()
                        .map(|r| serde_json::to_value(r).unwrap())
                        .collect::<Vec<_>>()
                }))
            }
        })
        .await
        .unwrap()
}

/// A signed Stripe webhook, as Stripe sends it to `POST /webhooks/stripe`.
async fn stripe_event(t: &TestApp, id: &str, kind: &str, object: serde_json::Value) {
    let ev = serde_json::json!({"id": id, "object": "event", "api_version": "2024-06-20",
        "created": now_ms() / 1000, "livemode": false, "pending_webhooks": 1, "type": kind,
        "account": "acct_autosend", "data": {"object": object}});
    let body = serde_json::to_vec(&ev).unwrap();
    let header =
        support_core::signing::stripe_signature_header(STRIPE_SECRET, now_ms() / 1000, &body);
    let res = t
        .client
        .post(t.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

/// A refund a human approved earlier in `conv`, on Stripe charge `charge`.
async fn refund_action(t: &TestApp, conv: &str, id: &str, charge: &str) {
    use support_core::pipeline::tools::{RiskClass, ToolName};
    use support_core::store::{ActionRow, ActionStatus};
    let a = ActionRow {
        id: id.into(),
        conversation_id: Some(conv.into()),
        app: Some(t.demo.apps[APP].slug.to_string()),
        kind: ToolName::ProcessRefund,
        params: serde_json::json!({"purchaseId": "pur_x", "chargeId": charge}),
        category: Some("refund".into()),
        confidence: Some(0.95),
        reasoning: None,
        risk: RiskClass::ApprovalRequired,
        status: ActionStatus::Executed,
        idempotency_key: id.into(),
        result: Some(serde_json::json!({"refundId": format!("re_{id}")})),
        error: None,
        trace_id: None,
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    t.platform.store.insert_action(&a).await.unwrap();
}

async fn bad_outcomes_demote(backend: support_testkit::TestBackend) {
    let Some(scen) = scenarios() else {
        return;
    };
    let Some(t) = TestApp::spawn_with_fakes(
        backend,
        Fakes {
            slack: true,
            stripe: true,
        },
        |s| {
            s.stripe.webhook_secrets = vec![support_core::settings::Secret::new(STRIPE_SECRET)];
        },
    )
    .await
    else {
        eprintln!("SKIPPED: {backend:?} (TEST_DATABASE_URL not set)");
        return;
    };
    t.set_policy(APP, |p| {
        p.auto_send = vec!["access".into()];
        p.approval_channel = Some(SLACK_CHANNEL.into());
    })
    .await;
    let slug = t.demo.apps[APP].slug.clone();
    {
        let reg = &t.platform.registry;
        let mut a = reg.require(&slug).await.unwrap();
        a.stripe_account = Some("acct_autosend".into());
        reg.update(&a).await.unwrap();
    }
    let store: &dyn Store = t.platform.store.as_ref();
    signals(&t, "access", SignalKind::Unchanged, 60, "ok").await;
    certify(&t, &scen).await;
    let slack = t.slack.clone().unwrap();
    let alerts = |what: &str| {
        slack
            .calls_of("chat.postMessage")
            .iter()
            .filter(|c| {
                let s = c.args.to_string();
                s.contains("Automatic answers stopped") && s.contains(what)
            })
            .count()
    };

    // 1. A reopen: the customer writes again in the conversation we answered automatically.
    assert!(promote(&t, "access").await.allowed);
    let conv = ask(&t, "kyle.dunmore@example.com", LOGIN.0, LOGIN.1).await;
    assert_eq!(t.front.sent_replies(&conv).len(), 1);
    let ours = store.list_drafts(&conv).await.unwrap();
    assert!(
        ours[0].sent_at.is_some(),
        "the automatic answer reads sent: {ours:?} {:?}",
        t.audit_of("autosend.sent").await
    );
    let mut again = t.inbound(
        APP,
        "kyle.dunmore@example.com",
        LOGIN.0,
        "This is ridiculous!!! The link STILL never arrives. Unacceptable.",
    );
    again.conversation_id = Some(conv.clone());
    t.front.deliver(again).await.unwrap();
    let demoted = audited(&t, "autosend.demoted", 1).await;
    assert_eq!(demoted[0]["data"]["signal"], "reopened", "{demoted:?}");
    assert_eq!(demoted[0]["data"]["alerted"], true);
    assert_eq!(
        store.get_mode(&slug, "access").await.unwrap().unwrap().mode,
        Mode::Draft
    );
    assert_eq!(alerts("reopened"), 1);
    let s = store.signals_for_conversation(&conv).await.unwrap();
    let reopen = s.iter().find(|s| s.kind == SignalKind::Reopened).unwrap();
    assert!((reopen.weight - 3.0).abs() < 1e-9, "{reopen:?}");
    // Drafts again for the next access message.
    let next = ask(&t, "marcus.lee@example.com", LOGIN.0, LOGIN.1).await;
    assert!(t.front.sent_replies(&next).is_empty());

    // 2. A dispute of a charge our action worked on in an automatically answered conversation.
    assert!(promote(&t, "access").await.allowed, "the gate holds again");
    let conv2 = ask(&t, "ana.ortiz@example.com", LOGIN.0, LOGIN.1).await;
    assert_eq!(t.front.sent_replies(&conv2).len(), 1);
    refund_action(&t, &conv2, "act_disputed", "ch_auto_disputed").await;
    stripe_event(
        &t,
        "evt_auto_dispute",
        "charge.dispute.created",
        serde_json::json!({"id": "dp_auto", "object": "dispute", "amount": 4900,
            "currency": "usd", "charge": "ch_auto_disputed", "reason": "fraudulent",
            "status": "needs_response"}),
    )
    .await;
    let demoted = audited(&t, "autosend.demoted", 2).await;
    assert!(
        demoted.iter().any(|d| d["data"]["signal"] == "disputed"),
        "{demoted:?}"
    );
    assert_eq!(alerts("disputed"), 1);
    let s = store.signals_for_conversation(&conv2).await.unwrap();
    assert!(
        s.iter()
            .any(|s| s.kind == SignalKind::Disputed && s.source == "stripe" && s.value == 0.0),
        "{s:?}"
    );

    // 3. A refund of ours Stripe reports failed (reversed).
    assert!(promote(&t, "access").await.allowed);
    let conv3 = ask(&t, "kyle.dunmore@example.com", "Login again", LOGIN.1).await;
    assert_eq!(t.front.sent_replies(&conv3).len(), 1);
    refund_action(&t, &conv3, "act_reversed", "ch_auto_reversed").await;
    stripe_event(
        &t,
        "evt_auto_reversed",
        "charge.refunded",
        serde_json::json!({"id": "ch_auto_reversed", "object": "charge", "amount": 4900,
            "amount_refunded": 0, "currency": "usd",
            "refunds": {"data": [{"id": "re_act_reversed", "amount": 4900, "currency": "usd",
                "status": "failed", "metadata": {"idempotency_key": "act_reversed"}}]}}),
    )
    .await;
    let demoted = audited(&t, "autosend.demoted", 3).await;
    assert!(
        demoted
            .iter()
            .any(|d| d["data"]["signal"] == "refund_reversed"),
        "{demoted:?}"
    );
    assert_eq!(alerts("refund_reversed"), 1);
    assert_eq!(
        store.get_mode(&slug, "access").await.unwrap().unwrap().mode,
        Mode::Draft
    );

    // 4. A dispute of a charge none of our actions worked on: matched by the payer's email on
    // the charge (Stripe's `billing_details.email`, read through the Payments port) to the
    // customer's conversation we answered automatically.
    assert!(promote(&t, "access").await.allowed);
    let conv4 = ask(&t, "v.santos@example.net", "Login once more", LOGIN.1).await;
    assert_eq!(t.front.sent_replies(&conv4).len(), 1);
    let fake = t.stripe.as_ref().unwrap();
    for (id, email) in [
        ("ch_by_email", "V.Santos@example.net"),
        ("ch_stranger", "nobody@example.org"),
    ] {
        fake.put_charge(support_testkit::fakes::StripeCharge {
            id: id.into(),
            account: Some("acct_autosend".into()),
            amount: 4900,
            currency: "usd".into(),
            email: Some(email.into()),
            ..Default::default()
        });
    }
    assert!(
        store
            .actions_for_charge("ch_by_email")
            .await
            .unwrap()
            .is_empty()
    );
    stripe_event(
        &t,
        "evt_email_dispute",
        "charge.dispute.created",
        serde_json::json!({"id": "dp_email", "object": "dispute", "amount": 4900,
            "currency": "usd", "charge": "ch_by_email", "reason": "product_unacceptable",
            "status": "needs_response"}),
    )
    .await;
    let demoted = audited(&t, "autosend.demoted", 4).await;
    assert_eq!(demoted[3]["data"]["signal"], "disputed", "{demoted:?}");
    assert_eq!(demoted[3]["conversation_id"], conv4.as_str(), "{demoted:?}");
    let s = store.signals_for_conversation(&conv4).await.unwrap();
    let disputed = s.iter().find(|s| s.kind == SignalKind::Disputed).unwrap();
    assert_eq!(
        disputed.detail["matched_by"], "customer_email",
        "{disputed:?}"
    );
    assert_eq!(disputed.category, "access");
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.method == "GET" && c.path == "/v1/charges/ch_by_email"),
        "the charge was read for its email"
    );
    // A payer we never answered: no signal, audited as unmatched, nothing demoted.
    stripe_event(
        &t,
        "evt_stranger_dispute",
        "charge.dispute.created",
        serde_json::json!({"id": "dp_stranger", "object": "dispute", "amount": 4900,
            "currency": "usd", "charge": "ch_stranger", "reason": "fraudulent",
            "status": "needs_response"}),
    )
    .await;
    let unmatched = audited(&t, "outcome.dispute_unmatched", 1).await;
    assert_eq!(unmatched[0]["data"]["dispute_id"], "dp_stranger");
    assert_eq!(t.audit_of("autosend.demoted").await.len(), 4);

    // Trust counts them: four bad outcomes of weight 3 among 60 good signals.
    let trust = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    assert!(trust.score < 60.0 / 61.0, "{trust:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopen_or_dispute_after_an_automatic_answer_demotes_and_alerts_sqlite() {
    bad_outcomes_demote(support_testkit::TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopen_or_dispute_after_an_automatic_answer_demotes_and_alerts_postgres() {
    bad_outcomes_demote(support_testkit::TestBackend::Postgres).await;
}

/// The first scenario without shortcuts: a scripted human sends 60 of our `access`
/// drafts unchanged from Front (the sandbox's `outbound_sent` webhooks, classified by the
/// outcome function); trust rises past 0.85 over >= 50 effective samples, certification passes,
/// the category is promoted, and the next `access` message is sent through Front once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_human_sending_60_drafts_unchanged_earns_auto() {
    let Some((t, scen)) = auto_app().await else {
        return;
    };
    let slug = t.demo.apps[APP].slug.clone();
    let store: &dyn Store = t.platform.store.as_ref();
    let customers = [
        "kyle.dunmore@example.com",
        "marcus.lee@example.com",
        "ana.ortiz@example.com",
        "j.schreiber@example.com",
        "v.santos@example.net",
    ];
    for i in 0..60 {
        let conv = ask(&t, customers[i % customers.len()], LOGIN.0, LOGIN.1).await;
        let drafts = t.front.drafts(&conv);
        assert_eq!(drafts.len(), 1, "conversation {i}: {drafts:?}");
        let sent = t
            .front
            .send_draft(drafts[0]["id"].as_str().unwrap(), None)
            .await
            .unwrap();
        let run = t
            .finished_run(&sent.event_id, Duration::from_secs(30))
            .await;
        assert_eq!(
            run.run.output.as_ref().unwrap()["outcome"],
            "unchanged",
            "conversation {i}: {:?}",
            run.run.output
        );
    }
    let trust = auto::trust_of(store, &slug, "access", now_ms())
        .await
        .unwrap();
    assert_eq!(trust.signals, 60, "{trust:?}");
    assert!(
        trust.score > 0.85 && trust.effective_samples >= 50.0,
        "{trust:?}"
    );
    certify(&t, &scen).await;
    let report = promote(&t, "access").await;
    assert!(report.allowed, "{report:?}");
    let conv = ask(&t, "kyle.dunmore@example.com", "Login again", LOGIN.1).await;
    assert_eq!(t.front.sent_replies(&conv).len(), 1);
    assert!(t.front.drafts(&conv).is_empty());
    assert_eq!(t.audit_of("autosend.sent").await.len(), 1);
}
