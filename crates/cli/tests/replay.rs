//! Replayable decisions end to end: conversations go through the real workflow (Front sandbox,
//! example app, offline agent), then `skill replay` re-runs each decision on its recorded
//! inputs, with every tool call answered from the recording. An offline run reproduces
//! exactly; a changed policy shows up as a diff; nothing is executed against the product again.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::time::Duration;
use support_core::llm::PriceTable;
use support_core::pipeline::model_agent::ModelAgentOptions;
use support_core::pipeline::tools::ToolName;
use support_core::registry::AppPolicy;
use support_core::store::AuditFilter;
use support_front::sandbox::NewMessage;
use support_steps::RunStatus;
use support_testkit::TestApp;
use support_testkit::fakes::FakeOpenAi;
use support_workflow::replay::{self, ChangeKind, Recording, ReplayAgent, ReplayOptions};

const WAIT: Duration = Duration::from_secs(30);

/// One delivered conversation and its settled run.
struct Delivered {
    conversation_id: String,
    run_id: String,
}

async fn deliver(app: &TestApp, from: &str, subject: &str, body: &str) -> Delivered {
    let d = app
        .front
        .deliver(NewMessage {
            conversation_id: None,
            inbox_id: app.demo.apps[0].front_inbox_id.clone(),
            from: from.into(),
            from_name: None,
            reply_to: None,
            subject: subject.into(),
            body: body.into(),
            inbound: true,
        })
        .await
        .unwrap();
    let run = app
        .settled_run(
            &d.event_id,
            &[RunStatus::Completed, RunStatus::Waiting, RunStatus::Failed],
            WAIT,
        )
        .await
        .unwrap();
    assert_ne!(run.run.status, RunStatus::Failed, "{:?}", run.run.error);
    Delivered {
        conversation_id: d.conversation_id,
        run_id: run.run.id,
    }
}

/// A refund at 35 days (waits for approval), a login link request (a magic link is sent) and a
/// legal threat (escalated as urgent), all for the first demo app.
async fn three_conversations(app: &TestApp) -> [Delivered; 3] {
    let refund = deliver(
        app,
        "ofelia.marquez@example.com",
        "Refund",
        "Hello, could I get a refund please? It isn't what I needed.",
    )
    .await;
    let login = deliver(
        app,
        "kyle.dunmore@example.com",
        "Login link",
        "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
    )
    .await;
    let legal = deliver(
        app,
        "tomas.herrera@example.com",
        "Refund or court",
        "I want my money back. If not, my lawyer will take you to small claims court.",
    )
    .await;
    [refund, login, legal]
}

async fn load(app: &TestApp, run_id: &str) -> Recording {
    Recording::load(
        app.platform.engine.store().as_ref(),
        app.platform.store.as_ref(),
        run_id,
    )
    .await
    .unwrap()
}

/// Every `tool.called` audit row: a replay must not add any (it executes nothing).
async fn tool_calls(app: &TestApp) -> usize {
    app.platform
        .store
        .list_audit(&AuditFilter {
            kind: Some("tool.called".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

async fn skill(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    skill_with(app, None, args).await
}

/// `skill` with `config` as its `support.toml`.
async fn skill_with(app: &TestApp, config: Option<&str>, args: &[&str]) -> (i32, String, String) {
    app.skill_at(env!("CARGO_BIN_EXE_skill"), config, args)
        .await
        .unwrap()
}

async fn set_refund_auto_days(app: &TestApp, days: i64) {
    let store = &app.platform.store;
    let mut row = store
        .get_app(&app.demo.apps[0].slug)
        .await
        .unwrap()
        .unwrap();
    let mut policy: AppPolicy = serde_json::from_value(row.policy.clone()).unwrap_or_default();
    policy.refund_auto_days = days;
    row.policy = serde_json::to_value(&policy).unwrap();
    store.update_app(&row).await.unwrap();
}

#[tokio::test]
async fn offline_runs_replay_exactly_and_execute_nothing() {
    for app in TestApp::each_backend().await {
        replays_exactly(app).await;
    }
}

async fn replays_exactly(app: TestApp) {
    let runs = three_conversations(&app).await;
    let calls_before = tool_calls(&app).await;
    let drafts_before: usize = runs
        .iter()
        .map(|r| app.front.drafts(&r.conversation_id).len())
        .sum();

    for r in &runs {
        let rec = load(&app, &r.run_id).await;
        assert_eq!(rec.snapshot.conversation_id, r.conversation_id);
        let inputs = rec
            .inputs
            .as_ref()
            .expect("the route step records its inputs");
        assert_eq!(inputs.canned_hash, replay::canned_hash(&inputs.canned));
        let replayed = replay::replay(&rec, &ReplayOptions::default()).await;
        assert!(replayed.recorded_inputs);
        assert!(replayed.unrecorded.is_empty(), "{:?}", replayed.unrecorded);
        let d = replay::diff(&rec, &replayed);
        assert!(d.is_empty(), "{}", d.render());
        // The replay really re-ran the agent: the same calls, answered from the recording.
        let (before, after) = (
            rec.drafted.as_ref().unwrap(),
            replayed.drafted.as_ref().unwrap(),
        );
        assert_eq!(before.outcome.steps, after.outcome.steps);
        assert_eq!(before.outcome.draft, after.outcome.draft);
    }
    let rec = load(&app, &runs[0].run_id).await;
    let drafted = rec.drafted.as_ref().unwrap();
    assert_eq!(drafted.outcome.proposals.len(), 1, "the refund waits");
    assert_eq!(
        drafted.outcome.proposals[0].call.tool,
        ToolName::ProcessRefund
    );
    let login = load(&app, &runs[1].run_id).await;
    assert!(
        login
            .drafted
            .as_ref()
            .unwrap()
            .outcome
            .steps
            .iter()
            .any(|s| s.call.tool == ToolName::GenerateMagicLink),
        "the login run sent a link, which the replay answered from the recording"
    );
    assert_eq!(
        load(&app, &runs[2].run_id).await.route.action.as_str(),
        "escalate_urgent"
    );

    // The binary, as an operator runs it.
    for r in &runs {
        let (code, out, err) = skill(&app, &["replay", &r.run_id, "--json"]).await;
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["changed"], false, "{out}");
        assert_eq!(v["diff"]["run_id"], r.run_id.as_str());
    }
    let (code, out, err) = skill(&app, &["replay", &runs[1].run_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no change"), "{out}");
    // A conversation id names its newest inbound run.
    let (code, out, err) = skill(&app, &["replay", &runs[2].conversation_id, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diff"]["run_id"], runs[2].run_id.as_str());
    assert_eq!(v["changed"], false);

    // Nothing was executed again: no tool call audited, no draft written.
    assert_eq!(tool_calls(&app).await, calls_before);
    let drafts_after: usize = runs
        .iter()
        .map(|r| app.front.drafts(&r.conversation_id).len())
        .sum();
    assert_eq!(drafts_after, drafts_before);

    let (code, _, err) = skill(&app, &["replay", "run_does_not_exist"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no run run_does_not_exist"), "{err}");
}

/// A reply answered from a canned response (the demo's "Offline downloads") records the
/// retrieval's scores: a replay on the recorded inputs decides the same without an index, a
/// replay with the index (as `skill replay` runs) too, and one that replaces the canned
/// responses without an index cannot match them (the diff says so).
#[tokio::test]
async fn a_canned_answer_replays_from_its_recorded_scores() {
    let app = TestApp::spawn().await;
    let r = deliver(
        &app,
        "kyle.dunmore@example.com",
        "Offline",
        "Hi! Can I download the videos to watch them on a long flight next week?",
    )
    .await;
    let rec = load(&app, &r.run_id).await;
    let m = rec
        .route
        .canned
        .as_ref()
        .expect("answered from a canned response");
    assert_eq!(m.id, "demo_offline_downloads");
    let inputs = rec.inputs.as_ref().unwrap();
    let recorded = inputs
        .canned_scores
        .iter()
        .find(|s| s.id == m.id)
        .expect("the matched response's score is recorded");
    assert_eq!(recorded.score, m.score);

    let replayed = replay::replay(&rec, &ReplayOptions::default()).await;
    assert!(replay::diff(&rec, &replayed).is_empty());
    let index = support_knowledge::canned::CannedIndex::new();
    let with_index = ReplayOptions {
        canned_scorer: Some(&index),
        ..ReplayOptions::default()
    };
    let replayed = replay::replay(&rec, &with_index).await;
    assert!(replay::diff(&rec, &replayed).is_empty());
    let (code, out, err) = skill(&app, &["replay", &r.run_id, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["changed"],
        false
    );

    let replaced = ReplayOptions {
        canned: Some(inputs.canned.clone()),
        ..ReplayOptions::default()
    };
    let replayed = replay::replay(&rec, &replaced).await;
    assert!(replayed.route.canned.is_none());
    assert!(!replay::diff(&rec, &replayed).is_empty());
}

#[tokio::test]
async fn a_changed_policy_shows_as_a_diff_and_bulk_mode_counts_it() {
    for app in TestApp::each_backend().await {
        policy_diff_and_bulk(app).await;
    }
}

async fn policy_diff_and_bulk(app: TestApp) {
    let [refund, login, legal] = three_conversations(&app).await;
    let slug = app.demo.apps[0].slug.clone();
    let calls_before = tool_calls(&app).await;

    // Library: a 40-day automatic window would have refunded at once. The recording holds no
    // refund result, so the replay answers it with `not recorded` (never executes it) and the
    // agent hands over: the rule, the calls, the proposals and the draft differ.
    let rec = load(&app, &refund.run_id).await;
    let policy = AppPolicy {
        refund_auto_days: 40,
        ..rec.inputs.as_ref().unwrap().policy.clone()
    };
    let opts = ReplayOptions {
        policy: Some(policy),
        ..Default::default()
    };
    let replayed = replay::replay(&rec, &opts).await;
    assert!(!replayed.recorded_inputs);
    let d = replay::diff(&rec, &replayed);
    assert!(!d.is_empty());
    assert!(d.tools_changed() && d.draft_changed(), "{}", d.render());
    // The router applies the policy too: the same action under another rule.
    assert_eq!(
        d.route.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        vec!["rule"],
        "{}",
        d.render()
    );
    assert_eq!(d.route[0].before, "policy.refund_approval_window");
    assert_eq!(d.unrecorded.len(), 1);
    assert_eq!(d.unrecorded[0].tool, ToolName::ProcessRefund);
    assert!(
        d.proposals
            .iter()
            .any(|c| c.kind == ChangeKind::Removed && c.tool == ToolName::ProcessRefund),
        "{}",
        d.render()
    );
    assert!(
        d.tools
            .iter()
            .any(|c| c.kind == ChangeKind::Outcome && c.tool == ToolName::ProcessRefund),
        "{}",
        d.render()
    );
    assert!(d.draft.iter().any(|l| l.tag == '+'));
    assert!(d.draft.iter().any(|l| l.tag == '-'));
    let rendered = d.render();
    assert!(
        rendered.contains("! processRefund {") && rendered.contains("was not recorded"),
        "{rendered}"
    );

    // The binary: the recorded policy reproduces; the current (changed) one differs.
    set_refund_auto_days(&app, 40).await;
    let (code, out, err) = skill(&app, &["replay", &refund.run_id, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"], false, "recorded inputs: {out}");
    let (code, out, err) = skill(
        &app,
        &["replay", &refund.run_id, "--current-config", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"], true, "{out}");
    assert_eq!(v["route_changed"], true);
    assert_eq!(v["tools_changed"], true);
    assert_eq!(v["diff"]["unrecorded"][0]["tool"], "processRefund");
    let (code, out, _) = skill(&app, &["replay", &refund.run_id, "--current-config"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("changed"), "{out}");
    assert!(out.contains("- proposal processRefund"), "{out}");

    // Bulk: three runs of the app in the window; with the current policy only the refund
    // would change.
    let (code, out, err) =
        skill(&app, &["replay", "--since", "1h", "--app", &slug, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["replayed"], 3, "{out}");
    assert_eq!(v["changed"], 0, "{out}");
    assert_eq!(v["skipped"].as_array().unwrap().len(), 0, "{out}");
    let (code, out, err) = skill(
        &app,
        &[
            "replay",
            "--since",
            "1h",
            "--app",
            &slug,
            "--current-config",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["replayed"], 3, "{out}");
    assert_eq!(v["changed"], 1, "{out}");
    assert_eq!(v["route_changed"], 1);
    assert_eq!(v["tools_changed"], 1);
    assert_eq!(v["draft_changed"], 1);
    assert_eq!(v["changed_runs"], serde_json::json!([refund.run_id]));
    for other in [&login, &legal] {
        assert_ne!(v["changed_runs"][0], other.run_id.as_str());
    }
    let (code, out, _) = skill(&app, &["replay", "--since", "1h", "--app", &slug]).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!(
            "replayed 3 inbound runs of {slug}: 0 would change"
        )),
        "{out}"
    );
    // Another app has no runs in the window.
    let (code, out, _) = skill(
        &app,
        &[
            "replay",
            "--since",
            "1h",
            "--app",
            &app.demo.apps[1].slug,
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["replayed"], 0);

    assert_eq!(
        tool_calls(&app).await,
        calls_before,
        "replays execute nothing"
    );
    let (code, _, err) = skill(&app, &["replay", "--since", "soon", "--app", &slug]).await;
    assert_eq!(code, 2, "{err}");
}

#[tokio::test]
async fn a_model_replay_answers_tools_from_the_recording_and_shows_the_diff() {
    let app = TestApp::spawn().await;
    let login = deliver(
        &app,
        "kyle.dunmore@example.com",
        "Login link",
        "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
    )
    .await;
    let calls_before = tool_calls(&app).await;
    let rec = load(&app, &login.run_id).await;
    assert!(rec.original_model.is_none(), "the offline agent decided");
    let recorded_user = rec
        .drafted
        .as_ref()
        .unwrap()
        .outcome
        .steps
        .iter()
        .find(|s| s.call.tool == ToolName::LookupUser)
        .and_then(|s| s.result.clone())
        .expect("the login run looked the customer up");
    let user_id = recorded_user["id"].as_str().unwrap().to_string();

    // The model looks the customer up (answered from the recording), then writes its own reply.
    let fake = FakeOpenAi::start("sk-replay-test").await.unwrap();
    let reply = "Hi Kyle,\n\nSorry about the trouble signing in. Please check your spam folder \
                 for the login email.\n\nBest,\nTypewise support";
    let script = || {
        fake.push_tool_call("lookupUser", r#"{"email":"kyle.dunmore@example.com"}"#);
        fake.push_text(reply);
        fake.set_default(support_testkit::fakes::Reply::text(reply));
    };
    script();
    let llm = support_connectors::llm::build(
        "fake",
        &fake.settings(),
        "gpt-replay",
        &PriceTable::default(),
    )
    .unwrap();
    let opts = ReplayOptions {
        agent: ReplayAgent::Model {
            llm: llm.as_ref(),
            provider: "fake".into(),
            opts: ModelAgentOptions {
                model: "gpt-replay".into(),
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let replayed = replay::replay(&rec, &opts).await;
    assert!(replayed.unrecorded.is_empty(), "{:?}", replayed.unrecorded);
    let d = replay::diff(&rec, &replayed);
    assert!(
        !d.route_changed(),
        "the route is replayed offline: {}",
        d.render()
    );
    assert!(d.draft_changed() && d.tools_changed(), "{}", d.render());
    // lookupUser lines up with the recording; the offline agent's later calls are gone.
    assert!(
        d.tools.iter().all(|c| c.kind == ChangeKind::Removed),
        "{}",
        d.render()
    );
    assert!(
        d.tools
            .iter()
            .any(|c| c.tool == ToolName::GenerateMagicLink),
        "{}",
        d.render()
    );
    assert!(!d.tools.iter().any(|c| c.tool == ToolName::LookupUser));
    let draft = &replayed.drafted.as_ref().unwrap().outcome.draft;
    assert!(
        draft.as_deref().unwrap_or_default().contains("spam folder"),
        "{draft:?}"
    );
    assert!(
        d.draft
            .iter()
            .any(|l| l.tag == '+' && l.text.contains("spam folder"))
    );
    let model = d.model.as_ref().unwrap();
    assert_eq!(model["model"], "gpt-replay");
    assert!(model["turns"].as_u64().unwrap() >= 2, "{model}");
    // The tool result the model saw is the recorded one.
    let requests = fake.requests();
    assert!(requests.len() >= 2, "{}", requests.len());
    let results = requests[1].tool_results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].1.contains(&user_id), "{results:?}");

    // The binary with --provider/--model, the provider configured in support.toml.
    script();
    let config = format!(
        "[llm.providers.fake]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-replay-test\"\n",
        fake.base_url()
    );
    let args = [
        "replay",
        login.run_id.as_str(),
        "--provider",
        "fake",
        "--model",
        "gpt-replay",
        "--json",
    ];
    let (code, out, err) = skill_with(&app, Some(&config), &args).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"], true, "{out}");
    assert_eq!(v["route_changed"], false);
    assert_eq!(v["draft_changed"], true);
    assert_eq!(v["diff"]["model"]["model"], "gpt-replay");
    assert_eq!(v["diff"]["model"]["provider"], "fake");
    script();
    let (code, out, err) = skill_with(&app, Some(&config), &args[..6]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("agent: original offline, replay model fake/gpt-replay"),
        "{out}"
    );
    assert!(out.contains("- tool generateMagicLink"), "{out}");
    // A model that searches the knowledge base with other words than the recording holds:
    // `not recorded` by default, answered from the app's current knowledge base on request.
    let search = || {
        fake.push_tool_call("searchKnowledge", r#"{"query":"login email spam filter"}"#);
        fake.push_text(reply);
    };
    search();
    let (code, out, err) = skill_with(&app, Some(&config), &args).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["diff"]["unrecorded"][0]["tool"], "searchKnowledge",
        "{out}"
    );
    let seen = fake.requests().last().unwrap().tool_results();
    assert!(seen[0].1.contains("not recorded"), "{seen:?}");
    search();
    let mut with_kb = args.to_vec();
    with_kb.push("--current-kb");
    let (code, out, err) = skill_with(&app, Some(&config), &with_kb).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diff"]["unrecorded"], serde_json::json!([]), "{out}");
    assert_eq!(
        v["diff"]["from_current_kb"][0]["tool"], "searchKnowledge",
        "{out}"
    );
    let seen = fake.requests().last().unwrap().tool_results();
    assert!(!seen[0].1.contains("not recorded"), "{seen:?}");
    assert!(
        seen[0].1.to_lowercase().contains("spam"),
        "a passage came back: {seen:?}"
    );

    // --classifier: the model also re-classifies the route (here: another category).
    fake.push_text(r#"{"category":"technical","confidence":0.93}"#);
    script();
    let mut with_classifier = args.to_vec();
    with_classifier.push("--classifier");
    let (code, out, err) = skill_with(&app, Some(&config), &with_classifier).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["route_changed"], true, "{out}");
    let category = v["diff"]["route"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "category")
        .cloned()
        .unwrap_or_default();
    assert_eq!(category["before"], "access", "{out}");
    assert_eq!(category["after"], "technical", "{out}");

    // An unknown provider is a usage error.
    let (code, _, err) = skill_with(
        &app,
        Some(&config),
        &[
            "replay",
            &login.run_id,
            "--provider",
            "nope",
            "--model",
            "m",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");

    assert_eq!(
        tool_calls(&app).await,
        calls_before,
        "replays execute nothing"
    );
}

#[tokio::test]
async fn a_model_run_reproduces_when_the_model_answers_the_same() {
    let fake = FakeOpenAi::start("sk-replay-test").await.unwrap();
    let reply = "Hi Kyle,\n\nSorry about the trouble signing in. Please check your spam folder \
                 for the login email.\n\nBest,\nTypewise support";
    let script = || {
        fake.push_tool_call("lookupUser", r#"{"email":"kyle.dunmore@example.com"}"#);
        fake.push_text(reply);
        fake.set_default(support_testkit::fakes::Reply::text(reply));
    };
    script();
    let settings = fake.settings();
    let app = TestApp::spawn_with(support_testkit::TestBackend::Sqlite, |s| {
        s.llm.providers.insert("fake".into(), settings);
        s.llm.agent = Some(support_core::settings::ModelChoice {
            provider: "fake".into(),
            model: "gpt-orig".into(),
        });
    })
    .await
    .unwrap();
    let login = deliver(
        &app,
        "kyle.dunmore@example.com",
        "Login link",
        "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
    )
    .await;
    let calls_before = tool_calls(&app).await;
    let rec = load(&app, &login.run_id).await;
    let original = rec.original_model.as_ref().expect("a model decided");
    assert_eq!(original["provider"], "fake");
    assert_eq!(original["model"], "gpt-orig");
    let steps = &rec.drafted.as_ref().unwrap().outcome.steps;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].call.tool, ToolName::LookupUser);

    // The same model answering the same way: an exact reproduction.
    script();
    let llm = support_connectors::llm::build(
        "fake",
        &fake.settings(),
        "gpt-orig",
        &PriceTable::default(),
    )
    .unwrap();
    let opts = ReplayOptions {
        agent: ReplayAgent::Model {
            llm: llm.as_ref(),
            provider: "fake".into(),
            opts: ModelAgentOptions {
                model: "gpt-orig".into(),
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let d = replay::diff(&rec, &replay::replay(&rec, &opts).await);
    assert!(d.is_empty(), "{}", d.render());
    assert!(
        d.render()
            .contains("agent: original model fake/gpt-orig, replay model fake/gpt-orig")
    );

    // The offline agent decides differently (it sends a login link).
    let (code, out, err) = skill(&app, &["replay", &login.run_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("agent: original model fake/gpt-orig, replay offline"),
        "{out}"
    );
    assert!(out.contains("+ tool generateMagicLink"), "{out}");
    assert_eq!(
        tool_calls(&app).await,
        calls_before,
        "replays execute nothing"
    );
}

/// A run the model classifier routed replays on the recorded answer (the classifier is not
/// asked again): the same route, reasons included, and an empty diff; a fallback replays with
/// its reason too. Without the recording the offline classifier would route it elsewhere.
#[tokio::test]
async fn a_model_classified_route_replays_from_the_recorded_answer() {
    let fake = FakeOpenAi::start("sk-replay-cls").await.unwrap();
    let settings = fake.settings();
    let app = TestApp::spawn_with(support_testkit::TestBackend::Sqlite, |s| {
        s.llm.providers.insert("fake".into(), settings);
        s.llm.classifier = Some(support_core::settings::ModelChoice {
            provider: "fake".into(),
            model: "gpt-cls".into(),
        });
    })
    .await
    .unwrap();
    let body = "Hi, I just wanted to say the course changed how I work. Could I get a refund \
                for the second seat I bought by mistake, though?";
    // The model reads it as fan mail; the offline classifier reads a refund.
    fake.push_text(r#"{"category":"fan_mail","confidence":0.81}"#);
    let praised = deliver(&app, "kyle.dunmore@example.com", "Thanks", body).await;
    // An answer outside the schema: the offline category stands, with the reason.
    fake.push_text("Definitely fan mail.");
    let fell_back = deliver(&app, "kyle.dunmore@example.com", "Thanks again", body).await;
    let asked = fake.requests().len();

    let rec = load(&app, &praised.run_id).await;
    assert_eq!(
        serde_json::to_value(rec.route.category).unwrap(),
        "fan_mail"
    );
    let offline =
        support_core::pipeline::router::route(support_core::pipeline::router::RouteInput {
            inbound: &rec.snapshot.inbound,
            facts: Some(&rec.snapshot.facts),
            policy: &rec.inputs.as_ref().unwrap().policy,
            profile: &support_core::pipeline::profile::AppProfile::for_app(&rec.snapshot.app),
            canned: support_core::pipeline::router::CannedSet::new(
                &rec.inputs.as_ref().unwrap().canned,
                &support_knowledge::canned::CannedIndex::new(),
            ),
        });
    assert_ne!(
        offline.category, rec.route.category,
        "the model changed the route"
    );
    let replayed = replay::replay(&rec, &ReplayOptions::default()).await;
    assert_eq!(replayed.route, rec.route);
    let d = replay::diff(&rec, &replayed);
    assert!(d.is_empty(), "{}", d.render());

    let rec = load(&app, &fell_back.run_id).await;
    assert!(
        rec.route.reasons.iter().any(|r| r.contains("fell back")),
        "{:?}",
        rec.route.reasons
    );
    let replayed = replay::replay(&rec, &ReplayOptions::default()).await;
    assert_eq!(replayed.route, rec.route);

    // From the CLI, in bulk: nothing would change, and the model was not asked again.
    let slug = app.demo.apps[0].slug.clone();
    let (code, out, err) =
        skill(&app, &["replay", "--since", "1d", "--app", &slug, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["replayed"], 2, "{out}");
    assert_eq!(v["changed"], 0, "{out}");
    assert_eq!(fake.requests().len(), asked);
}
