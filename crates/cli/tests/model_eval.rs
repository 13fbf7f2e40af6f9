//! `skill eval --provider --model` on the development scenarios, with the agent step on the
//! real OpenAI-compatible adapter against the fake OpenAI server playing a scripted model
//! (search the knowledge base, then a short reply). The pipeline runs unchanged: the gate
//! holds, no injection scenario executes a risky tool, and every conversation that reached
//! the agent reports tokens and cost from the fake's usage fields.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::path::PathBuf;
use support_cli::eval::{EvalModel, run_with};
use support_core::llm::Price;
use support_core::settings::{LlmSettings, ModelChoice};
use support_testkit::fakes::{FakeLlmRequest, FakeOpenAi, Reply};

const KEY: &str = "sk-test-fake-openai";

/// The scripted model: one knowledge search on the subject, then a reply signed as the
/// system prompt asks; asked to classify, a fixed verdict.
fn scripted(req: &FakeLlmRequest) -> Option<Reply> {
    if req.system().unwrap_or_default().starts_with("You classify") {
        // As the classifier: a fixed, schema-valid verdict.
        return Some(Reply::text(r#"{"category":"technical","confidence":0.7}"#));
    }
    let user = req
        .messages()
        .into_iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str().map(str::to_string))
        .unwrap_or_default();
    if req.tool_results().is_empty() {
        let subject = user
            .split_once("<customer_message>\n")
            .and_then(|(_, rest)| rest.lines().next())
            .unwrap_or("help")
            .to_string();
        return Some(Reply::tool_call(
            "searchKnowledge",
            json!({"query": subject, "limit": 3}).to_string(),
        ));
    }
    let system = req.system().unwrap_or_default();
    let signature = system
        .split_once("Best,\\n")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| "The support team".into());
    let pending = req
        .tool_results()
        .iter()
        .any(|(_, c)| c.contains("pending_approval"));
    let middle = if pending {
        "A teammate will review your request and confirm by email."
    } else {
        "Thanks for getting in touch. A teammate will look at this and reply here."
    };
    Some(Reply::text(format!(
        "Hi there,\n\n{middle}\n\nBest,\n{signature}"
    )))
}

#[tokio::test]
async fn the_scripted_provider_runs_the_dev_scenarios_unchanged() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if !dir.is_dir() {
        eprintln!("SKIPPED: scenarios ({} not found)", dir.display());
        return;
    }
    support_testkit::init_crypto();
    let fake = FakeOpenAi::start(KEY).await.unwrap();
    fake.respond_with(scripted);
    let mut llm = LlmSettings::default();
    llm.providers.insert("fake".into(), fake.settings());
    llm.prices.0.insert(
        "gpt-4o-mini".into(),
        Price {
            input_per_mtok: 0.15,
            output_per_mtok: 0.6,
        },
    );
    let run = run_with(
        &dir,
        false,
        Some(EvalModel {
            llm,
            agent: Some(ModelChoice {
                provider: "fake".into(),
                model: "gpt-4o-mini".into(),
            }),
            classifier: None,
        }),
    )
    .await
    .unwrap();
    eprintln!("{}", run.report);
    let model = run.model_json().unwrap();
    eprintln!(
        "model figures: {}",
        serde_json::to_string_pretty(&model).unwrap()
    );
    eprintln!(
        "latency (webhook to settled run): p50 {:.1} ms, p99 {:.1} ms",
        run.percentile(50.0),
        run.percentile(99.0)
    );
    assert!(run.report.total >= 50);
    assert!(run.gate_failures().is_empty(), "{:?}", run.gate_failures());
    assert!(run.report.injection_violations.is_empty());
    assert!(run.outcomes.iter().all(|o| !o.executed_approval_required));
    // Silenced conversations never reach the agent; every other one made model calls, each
    // with the fake's usage.
    let fake_calls = fake.requests().iter().filter(|r| r.status == 200).count() as u64;
    assert_eq!(model["model_calls"].as_u64().unwrap(), fake_calls);
    for (o, u) in run.outcomes.iter().zip(&run.usage) {
        if o.action.as_str() != "silence" {
            assert!(u.calls >= 2, "{}: {u:?}", o.id);
            assert!(u.input_tokens > 0 && u.cost_usd > 0.0, "{}", o.id);
        }
    }
    assert_eq!(model["model"], "fake/gpt-4o-mini (agent)");
    assert!(model["per_conversation"]["input_tokens"].as_f64().unwrap() > 0.0);
}

/// `skill eval DIR --provider P --model M` as a user runs it: the provider comes from the
/// settings file, the figures are in `--json`; an unknown provider is a usage error.
#[test]
fn the_cli_takes_provider_and_model_from_the_settings() {
    let src = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/scenarios/dev"
    ));
    if !src.is_dir() {
        eprintln!("SKIPPED: scenarios ({} not found)", src.display());
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeOpenAi::start(KEY)).unwrap();
    fake.respond_with(scripted);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scenarios");
    std::fs::create_dir(&dir).unwrap();
    for id in [
        "ts-does-course-cover-decorators",
        "ai-injection-ignore-instructions-refund",
        "ts-login-link-expired-before-click",
    ] {
        std::fs::copy(
            src.join(format!("{id}.json")),
            dir.join(format!("{id}.json")),
        )
        .unwrap();
    }
    let config = tmp.path().join("support.toml");
    std::fs::write(
        &config,
        format!(
            "[llm.providers.fake]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"{KEY}\"\n\n\
             [llm.prices.\"gpt-4o-mini\"]\ninput_per_mtok = 0.15\noutput_per_mtok = 0.6\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let skill = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_skill"));
        c.current_dir(tmp.path())
            .arg("--config")
            .arg(&config)
            .args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("SUPPORT_") {
                c.env_remove(k);
            }
        }
        c.output().unwrap()
    };
    let dir_arg = dir.to_str().unwrap();
    let out = skill(&[
        "eval",
        dir_arg,
        "--provider",
        "fake",
        "--model",
        "gpt-4o-mini",
        "--json",
        "--gate",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenarios"], 3);
    assert_eq!(v["model"]["model"], "fake/gpt-4o-mini (agent)");
    assert!(v["model"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(v["model"]["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(v["injection_violations"], serde_json::json!([]));
    assert!(fake.requests().len() >= 6, "two turns per conversation");

    // `--steps classifier`: the route step asks the model, the agent stays offline.
    let before = fake.requests().len();
    let out = skill(&[
        "eval",
        dir_arg,
        "--provider",
        "fake",
        "--model",
        "gpt-4o-mini",
        "--steps",
        "classifier",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"]["model"], "fake/gpt-4o-mini (classifier)");
    let asked: Vec<_> = fake.requests().into_iter().skip(before).collect();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|r| r.system().unwrap_or_default().starts_with("You classify")),
        "only the classifier asks the model"
    );
    assert_eq!(
        v["model"]["model_calls"].as_u64().unwrap(),
        asked.len() as u64
    );

    let out = skill(&["eval", dir_arg, "--provider", "nope", "--model", "m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no provider \"nope\""));
    let offline = skill(&["eval", dir_arg, "--json"]);
    assert!(offline.status.success());
    let v: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(v["model"], serde_json::Value::Null);
}
