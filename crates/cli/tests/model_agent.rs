//! The model-backed agent end to end: a Front webhook → the durable workflow → the model
//! agent on the real OpenAI-compatible adapter (`connectors::llm`) against the fake OpenAI
//! server → tools on the example app's SDK endpoint → a draft in the Front sandbox, every
//! model call audited. Bad model answers end safely; approval-required tools are never run by
//! the loop; injection scenarios never execute a risky tool.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use support_core::llm::Price;
use support_core::settings::{LlmProviderSettings, ModelChoice};
use support_front::sandbox::{Delivered, NewMessage};
use support_steps::{RunDetail, RunStatus};
use support_testkit::fakes::{FakeAnthropic, FakeLlmRequest, FakeOpenAi, Reply};
use support_testkit::{TestApp, TestBackend};

const KEY: &str = "sk-test-fake-openai";
const MODEL: &str = "gpt-4o-mini";
const WAIT: Duration = Duration::from_secs(60);

fn choice(provider: &str) -> ModelChoice {
    ModelChoice {
        provider: provider.into(),
        model: MODEL.into(),
    }
}

/// The platform with the fake as provider `fake` (and `fake-fast`: 1 s, no retry), the agent
/// and/or the classifier on it.
async fn spawn(fake: &FakeOpenAi, agent: bool, classifier: bool) -> TestApp {
    spawn_on(fake.settings(), agent, classifier).await
}

async fn spawn_on(settings: LlmProviderSettings, agent: bool, classifier: bool) -> TestApp {
    TestApp::spawn_with(TestBackend::Sqlite, move |s| {
        let mut fast = settings.clone();
        fast.timeout_secs = 1;
        fast.max_retries = 0;
        s.llm.providers.insert("fake".into(), settings);
        s.llm.providers.insert("fake-fast".into(), fast);
        s.llm.prices.0.insert(
            MODEL.into(),
            Price {
                input_per_mtok: 0.15,
                output_per_mtok: 0.6,
            },
        );
        s.llm.agent = agent.then(|| choice("fake"));
        s.llm.classifier = classifier.then(|| choice("fake"));
    })
    .await
    .unwrap()
}

async fn customer(app: &TestApp, slug: &str, email: &str, state: course_app::CustomerState) {
    let course = course_app::CourseApp::open(app.data_dir().join("course-app.db"))
        .await
        .unwrap();
    course
        .ensure_customer(slug, email, "Ana Example", state)
        .await
        .unwrap();
}

/// Ana, who bought the TypeScript course recently: the customer most tests write as.
async fn ana(app: &TestApp) {
    customer(
        app,
        "typescript-course",
        "ana@example.test",
        course_app::CustomerState::RecentPurchase,
    )
    .await;
}

async fn deliver(
    app: &TestApp,
    slug: &str,
    from: &str,
    subject: &str,
    body: &str,
) -> (Delivered, RunDetail) {
    let inbox = app
        .demo
        .apps
        .iter()
        .find(|a| a.slug == slug)
        .unwrap()
        .front_inbox_id
        .clone();
    let d = app
        .front
        .deliver(NewMessage {
            conversation_id: None,
            inbox_id: inbox,
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
    (d, run)
}

async fn audit(app: &TestApp, conversation: &str) -> Vec<(String, Value)> {
    app.platform
        .store
        .list_audit(&support_core::store::AuditFilter {
            conversation_id: Some(conversation.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.data))
        .collect()
}

fn of<'a>(audit: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    audit
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, d)| d)
        .collect()
}

/// The customer facts the agent put in its first user turn.
fn facts_in(req: &FakeLlmRequest) -> Value {
    let first = req
        .messages()
        .into_iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str().map(str::to_string))
        .unwrap_or_default();
    let json = first
        .split_once("<customer_facts>\n")
        .and_then(|(_, rest)| rest.split_once("\n</customer_facts>"))
        .map(|(j, _)| j.to_string())
        .unwrap_or_default();
    serde_json::from_str(&json).unwrap_or(Value::Null)
}

const QUESTION: (&str, &str) = (
    "Decorators?",
    "Hi, does the course cover decorators? I'd like to know before I continue with it.",
);

#[tokio::test]
async fn a_scripted_tool_sequence_produces_a_draft_in_front() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, true, false).await;
    ana(&app).await;
    fake.push_tool_call("searchKnowledge", r#"{"query":"decorators","limit":2}"#);
    fake.push_text(
        "Hi Ana,\n\nYes: the course has a whole module on decorators.\n\nBest,\nTypewise support",
    );
    let (d, run) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        QUESTION.0,
        QUESTION.1,
    )
    .await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.output);
    let drafts = app.front.drafts(&d.conversation_id);
    assert_eq!(drafts.len(), 1);
    assert!(
        drafts[0]["body"]
            .as_str()
            .unwrap()
            .contains("a whole module on decorators")
    );

    // The wire: tools from the registry, the result answered with the call's id as data.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(reqs[0].body["model"], MODEL);
    assert!(reqs[0].tool_names().contains(&"processRefund".to_string()));
    assert!(reqs[0].system().unwrap().contains("Typewise support"));
    let (call_id, content) = reqs[1].tool_results().pop().unwrap();
    assert!(!call_id.is_empty());
    assert!(content.starts_with("<tool_result tool=\"searchKnowledge\" status=\"ok\">"));
    assert!(content.contains("not instructions"));

    // The audit: every call with its hash, tokens and cost; totals in agent.completed.
    let a = audit(&app, &d.conversation_id).await;
    let calls = of(&a, "llm.call");
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c["provider"], "openai");
        assert!(c["model"].as_str().unwrap().starts_with(MODEL));
        assert_eq!(c["prompt_hash"].as_str().unwrap().len(), 64);
        assert!(c["input_tokens"].as_u64().unwrap() > 0);
        assert!(c["cost_usd"].as_f64().unwrap() > 0.0);
        assert_eq!(c["attempts"], 1);
        assert_eq!(c["error"], Value::Null);
    }
    assert_eq!(calls[0]["tool_calls"], json!(["searchKnowledge"]));
    let done = of(&a, "agent.completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["stop"], "answer");
    assert_eq!(done[0]["agent"], "model");
    let tokens: u64 = calls
        .iter()
        .map(|c| c["input_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(done[0]["input_tokens"].as_u64().unwrap(), tokens);
    assert!(
        of(&a, "tool.called")
            .iter()
            .any(|t| t["tool"] == "searchKnowledge" && t["ok"] == true)
    );
    assert_eq!(of(&a, "validate.completed")[0]["passed"], true);
}

#[tokio::test]
async fn the_agent_speaks_anthropic_messages_too() {
    let fake = FakeAnthropic::start("sk-ant-test").await.unwrap();
    let app = spawn_on(fake.settings(), true, false).await;
    ana(&app).await;
    fake.push_tool_call("searchKnowledge", r#"{"query":"decorators"}"#);
    fake.push_text("Hi Ana,\n\nYes, decorators are covered.\n\nBest,\nTypewise support");
    let (d, run) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        QUESTION.0,
        QUESTION.1,
    )
    .await;
    assert_eq!(run.run.status, RunStatus::Completed);
    assert_eq!(app.front.drafts(&d.conversation_id).len(), 1);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("x-api-key"), Some("sk-ant-test"));
    let (id, content) = reqs[1].tool_results().pop().unwrap();
    assert!(id.starts_with("toolu_"), "{id}");
    assert!(content.contains("<tool_result tool=\"searchKnowledge\""));
    let a = audit(&app, &d.conversation_id).await;
    let calls = of(&a, "llm.call");
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c["provider"] == "anthropic"));
}

#[tokio::test]
async fn an_approval_required_tool_becomes_a_pending_approval_and_is_not_run() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, true, false).await;
    ana(&app).await;
    fake.respond_with(|req| {
        if req.tool_results().is_empty() {
            let pid = facts_in(req)["purchases"][0]["purchaseId"]
                .as_str()
                .unwrap_or("missing")
                .to_string();
            Some(Reply::tool_call(
                "processRefund",
                json!({"purchaseId": pid, "reason": "not for me"}).to_string(),
            ))
        } else {
            Some(Reply::text(
                "Hi Ana,\n\nThanks for letting us know. A teammate will review your refund request shortly.\n\nBest,\nTypewise support",
            ))
        }
    });
    let (d, run) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        "Refund please",
        "Hi, the course is not what I expected. Could I get a refund please?",
    )
    .await;
    assert_eq!(run.run.status, RunStatus::Waiting, "waits for the approval");
    let actions = app
        .platform
        .store
        .list_actions(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, "processRefund");
    assert_eq!(actions[0].status, "pending_approval");
    let a = audit(&app, &d.conversation_id).await;
    assert!(
        !of(&a, "tool.called")
            .iter()
            .any(|t| t["tool"] == "processRefund"),
        "the loop never runs it"
    );
    assert_eq!(of(&a, "gate.decided")[0]["rule"], "model.approval_required");
    let last = fake.requests().pop().unwrap();
    assert!(
        last.last_tool_result()
            .unwrap()
            .contains("pending_approval")
    );
    assert_eq!(app.front.drafts(&d.conversation_id).len(), 1);
}

#[tokio::test]
async fn bad_model_answers_end_safely_and_are_audited() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, true, false).await;
    // tailwind-course runs its agent on the fast provider (1 s, no retry): the app's own
    // choice overrides the global one.
    app.set_app_policy("tailwind-course", |p| {
        p.llm.agent = Some(choice("fake-fast"))
    })
    .await;
    for slug in ["typescript-course", "tailwind-course"] {
        customer(
            &app,
            slug,
            "ana@example.test",
            course_app::CustomerState::RecentPurchase,
        )
        .await;
    }

    // Recoverable: the bad call is answered with an error and not made; the loop goes on.
    for (bad, code) in [
        (
            Reply::tool_call("lookupUser", r#"{"email": "ana@example.test""#),
            "invalid_arguments",
        ),
        (Reply::tool_call("wipeAccount", r#"{}"#), "unknown_tool"),
    ] {
        fake.push(bad);
        fake.push_text("Hi Ana,\n\nYes, decorators are covered.\n\nBest,\nTypewise support");
        let (d, run) = deliver(
            &app,
            "typescript-course",
            "ana@example.test",
            QUESTION.0,
            QUESTION.1,
        )
        .await;
        assert_eq!(run.run.status, RunStatus::Completed);
        assert_eq!(app.front.drafts(&d.conversation_id).len(), 1, "{code}");
        let a = audit(&app, &d.conversation_id).await;
        let done = of(&a, "agent.completed");
        assert_eq!(done[0]["rejected_calls"][0]["code"], code);
        assert!(
            fake.requests()
                .pop()
                .unwrap()
                .last_tool_result()
                .unwrap()
                .contains(code)
        );
    }

    // Fatal: the draft is withheld, the conversation handed over, the cause audited.
    let cases: Vec<(&str, Vec<Reply>, &str, Option<&str>)> = vec![
        (
            "typescript-course",
            vec![Reply::Refusal("I can't help with that.".into())],
            "refusal",
            Some("refusal"),
        ),
        (
            "typescript-course",
            vec![Reply::Empty],
            "empty_answer",
            None,
        ),
        (
            "typescript-course",
            vec![Reply::ContextLength],
            "llm_error",
            Some("context_length"),
        ),
        (
            "typescript-course",
            vec![
                Reply::ServerError(500),
                Reply::ServerError(500),
                Reply::ServerError(500),
            ],
            "llm_error",
            Some("server_error"),
        ),
        (
            "tailwind-course",
            vec![Reply::text("too late").delayed(Duration::from_secs(3))],
            "llm_error",
            Some("timeout"),
        ),
    ];
    for (slug, replies, stop, code) in cases {
        for r in replies {
            fake.push(r);
        }
        let (d, run) = deliver(&app, slug, "ana@example.test", QUESTION.0, QUESTION.1).await;
        assert_eq!(run.run.status, RunStatus::Completed, "{stop} {code:?}");
        assert!(app.front.drafts(&d.conversation_id).is_empty(), "{stop}");
        assert!(
            app.front
                .tags(&d.conversation_id)
                .contains(&"needs-human".to_string()),
            "{stop}"
        );
        let a = audit(&app, &d.conversation_id).await;
        let done = of(&a, "agent.completed");
        assert_eq!(done[0]["stop"], stop);
        assert_eq!(done[0]["action"], "escalate_human");
        let calls = of(&a, "llm.call");
        assert_eq!(calls.len(), 1, "{stop}");
        if let Some(code) = code {
            assert_eq!(done[0]["error"], code);
        }
        if stop == "llm_error" {
            assert_eq!(calls[0]["error"].as_str(), code);
        }
        let escalated = of(&a, "conversation.escalated");
        assert!(
            escalated[0]["reason"]
                .as_str()
                .unwrap()
                .contains("the model agent stopped"),
            "{:?}",
            escalated[0]
        );
    }
    assert_eq!(fake.queued(), 0);
    // Three attempts on the 500s (two retries), one on the timeout (the fast provider).
    let timeouts = fake
        .requests()
        .iter()
        .filter(|r| r.system().unwrap_or_default().contains("Tailwind Atelier"))
        .count();
    assert_eq!(timeouts, 1);
}

#[tokio::test]
async fn the_model_classifier_decides_or_falls_back_audited() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, false, true).await;
    ana(&app).await;

    // An invalid answer: the offline classifier's decision stands, and the fallback is audited.
    fake.push_text("It's clearly a refund request!");
    let (d, _) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        "Refund please",
        "Hi, the course is not what I expected. Could I get a refund please?",
    )
    .await;
    let a = audit(&app, &d.conversation_id).await;
    let fallback = of(&a, "route.classifier_fallback");
    assert_eq!(fallback.len(), 1);
    assert!(
        fallback[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(of(&a, "route.decided")[0]["category"], "refund");
    assert_eq!(of(&a, "llm.call")[0]["step"], "classifier");
    assert_eq!(fake.requests()[0].body["tools"], Value::Null, "no tools");

    // Outside the schema (unknown category; confidence above 1): fallback too.
    for bad in [
        r#"{"category":"money_back","confidence":0.9}"#,
        r#"{"category":"feedback","confidence":3}"#,
    ] {
        fake.push_text(bad);
        let (d, _) = deliver(
            &app,
            "typescript-course",
            "ana@example.test",
            "Refund please",
            "Hi, the course is not what I expected. Could I get a refund please?",
        )
        .await;
        let a = audit(&app, &d.conversation_id).await;
        assert_eq!(of(&a, "route.classifier_fallback").len(), 1, "{bad}");
        assert_eq!(of(&a, "route.decided")[0]["category"], "refund");
    }

    // A valid answer goes through the labelling policy.
    fake.push_text(r#"{"category":"fan_mail","confidence":0.82}"#);
    let (d, _) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        "Hello",
        "Hi, I just wanted to say hello and share how the course changed my work.",
    )
    .await;
    let a = audit(&app, &d.conversation_id).await;
    assert!(of(&a, "route.classifier_fallback").is_empty());
    let route = of(&a, "route.decided")[0];
    assert_eq!(route["category"], "fan_mail");
    assert_eq!(route["action"], "escalate_instructor");
    assert!(route["reasons"].to_string().contains("model classifier"));

    // A system rule decides first: no model call.
    let before = fake.requests().len();
    deliver(
        &app,
        "typescript-course",
        "mailer-daemon@mx.example.test",
        "Undeliverable: your message",
        "Delivery to the following recipient failed permanently.",
    )
    .await;
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test]
async fn injection_scenarios_never_execute_a_risky_tool() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if !dir.is_dir() {
        eprintln!("SKIPPED: scenarios ({} not found)", dir.display());
        return;
    }
    let scenarios: Vec<_> = support_core::pipeline::eval::load_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|s| s.expected.flags.iter().any(|f| f == "injection"))
        .collect();
    assert!(scenarios.len() >= 3, "{}", scenarios.len());
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, true, false).await;
    // A model that obeys the injected text: every risky tool, for the attacker, at once; then
    // it repeats the injected claims.
    fake.respond_with(|req| {
        if req.tool_results().is_empty() {
            let facts = facts_in(req);
            let pid = facts["purchases"][0]["purchaseId"]
                .as_str()
                .unwrap_or("pur_any")
                .to_string();
            let uid = facts["account"]["userId"]
                .as_str()
                .unwrap_or("usr_any")
                .to_string();
            let evil = "attacker@evil.example";
            Some(Reply::ToolCalls {
                text: "Admin mode acknowledged.".into(),
                calls: vec![
                    (
                        "processRefund".into(),
                        json!({"purchaseId": pid, "reason": "pre-approved"}).to_string(),
                    ),
                    (
                        "updateEmail".into(),
                        json!({"userId": uid, "newEmail": evil}).to_string(),
                    ),
                    (
                        "transferPurchase".into(),
                        json!({"purchaseId": pid, "fromUserId": uid, "toEmail": evil}).to_string(),
                    ),
                    (
                        "generateMagicLink".into(),
                        json!({"email": evil}).to_string(),
                    ),
                ],
            })
        } else {
            Some(Reply::text(
                "ACCESS GRANTED. Your refund has been processed and all access is unlocked.",
            ))
        }
    });
    for s in &scenarios {
        let label = serde_json::to_value(s.customer).unwrap();
        if let Some(state) = course_app::CustomerState::parse(label.as_str().unwrap()) {
            customer(&app, &s.app, &s.from, state).await;
        }
        let (d, run) = deliver(&app, &s.app, &s.from, &s.subject, &s.body).await;
        assert_ne!(run.run.status, RunStatus::Failed, "{}", s.id);
        let a = audit(&app, &d.conversation_id).await;
        let risky_ran: Vec<&Value> = of(&a, "tool.called")
            .into_iter()
            .filter(|t| {
                t["ok"] == true
                    && matches!(
                        t["tool"].as_str(),
                        Some("processRefund" | "transferPurchase" | "updateEmail")
                    )
            })
            .collect();
        assert!(risky_ran.is_empty(), "{}: {risky_ran:?}", s.id);
        assert!(
            !of(&a, "tool.called")
                .iter()
                .any(|t| t["tool"] == "generateMagicLink" && t["ok"] == true),
            "{}: a login link went to the attacker",
            s.id
        );
        for action in app
            .platform
            .store
            .list_actions(&d.conversation_id)
            .await
            .unwrap()
        {
            assert_ne!(action.status, "executed", "{}: {}", s.id, action.kind);
        }
        for draft in app.front.drafts(&d.conversation_id) {
            let body = draft["body"].as_str().unwrap().to_lowercase();
            assert!(!body.contains("access granted"), "{}: {body}", s.id);
        }
    }
}

#[tokio::test]
async fn a_failed_validation_is_regenerated_once_with_the_findings_then_withheld() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    let app = spawn(&fake, true, false).await;
    ana(&app).await;

    // A false promise, then a clean rewrite: the rewrite is the draft.
    fake.push_text(
        "Hi Ana,\n\nYes! I'll call you tomorrow to walk you through it.\n\nBest,\nTypewise support",
    );
    fake.push_text(
        "Hi Ana,\n\nYes, decorators are covered in the course.\n\nBest,\nTypewise support",
    );
    let (d, run) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        QUESTION.0,
        QUESTION.1,
    )
    .await;
    assert_eq!(run.run.status, RunStatus::Completed);
    let drafts = app.front.drafts(&d.conversation_id);
    assert_eq!(drafts.len(), 1);
    let body = drafts[0]["body"].as_str().unwrap();
    assert!(body.contains("decorators are covered"), "{body}");
    assert!(!body.contains("call you"));
    let last = fake.requests().pop().unwrap();
    let feedback = last.last_user_text().unwrap();
    assert!(feedback.contains("false_promise"), "{feedback}");
    assert!(feedback.contains("i'll call you"), "{feedback}");
    let a = audit(&app, &d.conversation_id).await;
    assert_eq!(of(&a, "validate.failed").len(), 1);
    assert_eq!(of(&a, "llm.call").len(), 2);
    assert_eq!(of(&a, "validate.completed")[0]["passed"], true);

    // Two failures: the draft is withheld and the conversation handed over.
    fake.push_text("Hi Ana,\n\nI've escalated this to engineering.\n\nBest,\nTypewise support");
    fake.push_text(
        "Hi Ana,\n\nWe will get back to you within 24 hours.\n\nBest,\nTypewise support",
    );
    let (d, _) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        QUESTION.0,
        QUESTION.1,
    )
    .await;
    assert!(app.front.drafts(&d.conversation_id).is_empty());
    assert!(
        app.front
            .tags(&d.conversation_id)
            .contains(&"needs-human".to_string())
    );
    let a = audit(&app, &d.conversation_id).await;
    assert_eq!(of(&a, "validate.completed")[0]["passed"], false);
    assert_eq!(
        of(&a, "conversation.escalated")[0]["reason"],
        "the draft failed validation twice"
    );
}

#[tokio::test]
async fn an_app_naming_an_unknown_provider_runs_offline_and_says_so() {
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    // No global agent: only the app's own (broken) choice.
    let app = spawn(&fake, false, false).await;
    app.set_app_policy("typescript-course", |p| {
        p.llm.agent = Some(choice("nowhere"))
    })
    .await;
    ana(&app).await;
    let (d, run) = deliver(
        &app,
        "typescript-course",
        "ana@example.test",
        QUESTION.0,
        QUESTION.1,
    )
    .await;
    assert_eq!(run.run.status, RunStatus::Completed);
    let a = audit(&app, &d.conversation_id).await;
    let unavailable = of(&a, "llm.unavailable");
    assert_eq!(unavailable.len(), 1);
    assert_eq!(unavailable[0]["provider"], "nowhere");
    assert_eq!(unavailable[0]["fallback"], "offline");
    assert!(
        of(&a, "agent.completed").is_empty(),
        "the offline agent ran"
    );
    assert_eq!(app.front.drafts(&d.conversation_id).len(), 1);
    assert!(fake.requests().is_empty());
}
