//! Model agent loop overhead (a report, not a test): the wall time of `model_agent::run`
//! minus the time spent inside the model's `chat`, p50/p99, for a three-turn script
//! (`searchKnowledge`, `getPurchases`, answer) on the simulated product world.
//!
//! 1. `in-process`: a scripted in-process model (no network), so what remains is the loop:
//!    prompt and schema building, prompt hashing, argument checks, the gate, the (in-memory)
//!    tools, result quoting.
//! 2. `fake-openai`: the real OpenAI-compatible adapter against the fake OpenAI server on
//!    loopback; model time is the adapter's whole call (HTTP included).
//!
//! `cargo run -p support-cli --example model_agent_bench -- [--runs N]` prints a JSON report
//! and writes `target/bench-report-model-agent.json`.
#![allow(clippy::print_stdout)]

use async_trait::async_trait;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use support_core::llm::{Llm, LlmError, LlmRequest, LlmResponse, LlmToolCall, PriceTable, Usage};
use support_core::pipeline::agent::{AgentInput, hydrate};
use support_core::pipeline::fixtures::{CustomerState, ScenarioWorld};
use support_core::pipeline::inbound::Inbound;
use support_core::pipeline::model_agent::{self, ModelAgentOptions, StopReason};
use support_core::pipeline::profile::AppProfile;
use support_core::pipeline::router::{self, RouteInput};
use support_core::registry::AppPolicy;
use support_testkit::fakes::{FakeLlmRequest, FakeOpenAi, Reply};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The script: turn 1 searches, turn 2 lists purchases, turn 3 answers.
fn turn_of(tool_results: usize, user_id: &str) -> (Option<String>, Vec<LlmToolCall>) {
    match tool_results {
        0 => (
            None,
            vec![LlmToolCall::from_raw(
                "c1",
                "searchKnowledge",
                r#"{"query":"decorators","limit":3}"#,
            )],
        ),
        1 => (
            None,
            vec![LlmToolCall::from_raw(
                "c2",
                "getPurchases",
                &json!({ "userId": user_id }).to_string(),
            )],
        ),
        _ => (
            Some("Hi Ana,\n\nYes, decorators are covered.\n\nBest,\nTypewise support".into()),
            Vec::new(),
        ),
    }
}

struct Scripted {
    user_id: String,
}

#[async_trait]
impl Llm for Scripted {
    fn provider(&self) -> &str {
        "scripted"
    }
    fn model(&self) -> &str {
        "scripted-1"
    }
    async fn chat(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let done = req
            .messages
            .iter()
            .filter(|m| m.tool_call_id.is_some())
            .count();
        let (content, tool_calls) = turn_of(done, &self.user_id);
        Ok(LlmResponse {
            model: "scripted-1".into(),
            content,
            tool_calls,
            stop_reason: None,
            usage: Usage {
                input_tokens: 1,
                output_tokens: 1,
            },
            cost_usd: 0.0,
            latency_ms: 0,
            attempts: 1,
        })
    }
}

/// Measures the time spent inside `chat`, in nanoseconds.
struct Timed {
    inner: Arc<dyn Llm>,
    nanos: AtomicU64,
}

#[async_trait]
impl Llm for Timed {
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    async fn chat(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let t = Instant::now();
        let r = self.inner.chat(req).await;
        self.nanos.fetch_add(
            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        r
    }
}

/// Runs the loop `runs` times; returns (overhead µs, model µs) per run.
async fn measure(llm: Arc<dyn Llm>, runs: usize) -> (Vec<f64>, Vec<f64>) {
    let now = support_core::time::now_ms();
    let inbound = Inbound {
        app: "typescript-course".into(),
        from: "ana@example.test".into(),
        subject: "Decorators?".into(),
        body: "Hi, does the course cover decorators? I'd like to know before I continue.".into(),
        ..Inbound::default()
    };
    let world = ScenarioWorld::new(
        &inbound.app,
        "ana@example.test",
        CustomerState::RecentPurchase,
        now,
        support_knowledge::demo::scenario_index().expect("demo articles index"),
    );
    let facts = hydrate(&world, "ana@example.test", now).await;
    let policy = AppPolicy::default();
    let profile = AppProfile::for_app(&inbound.app);
    let route = router::route(RouteInput {
        inbound: &inbound,
        facts: Some(&facts),
        policy: &policy,
        profile: &profile,
        canned: support_core::pipeline::router::CannedSet::NONE,
    });
    let input = AgentInput {
        inbound: &inbound,
        route: &route,
        policy: &policy,
        profile: &profile,
        facts: Some(&facts),
        now,
    };
    let timed = Timed {
        inner: llm,
        nanos: AtomicU64::new(0),
    };
    let opts = ModelAgentOptions {
        model: "gpt-4o-mini".into(),
        ..ModelAgentOptions::default()
    };
    let mut overhead = Vec::with_capacity(runs);
    let mut model = Vec::with_capacity(runs);
    for _ in 0..runs {
        timed.nanos.store(0, Ordering::Relaxed);
        let t = Instant::now();
        let r = model_agent::run(input, &world, &timed, &opts).await;
        let wall = t.elapsed().as_nanos() as f64;
        assert_eq!(r.stop, StopReason::Answer, "{:?}", r.outcome.notes);
        assert_eq!(r.calls.len(), 3);
        let in_model = timed.nanos.load(Ordering::Relaxed) as f64;
        overhead.push((wall - in_model) / 1000.0);
        model.push(in_model / 1000.0);
    }
    (overhead, model)
}

fn report(name: &str, (mut overhead, mut model): (Vec<f64>, Vec<f64>)) -> serde_json::Value {
    json!({
        "runs": overhead.len(),
        "turns_per_run": 3,
        "overhead_us": {"p50": pct(&mut overhead, 50.0), "p99": pct(&mut overhead, 99.0)},
        "model_us": {"p50": pct(&mut model, 50.0), "p99": pct(&mut model, 99.0)},
        "setup": name,
    })
}

#[tokio::main]
async fn main() {
    support_testkit::init_crypto();
    let runs = arg("--runs", 500);
    let user_id = "usr_ana_example_test".to_string();

    // Warm up, then measure in process.
    let scripted: Arc<dyn Llm> = Arc::new(Scripted {
        user_id: user_id.clone(),
    });
    measure(scripted.clone(), 20).await;
    let in_process = report("in-process scripted model", measure(scripted, runs).await);

    // The real adapter against the fake OpenAI server.
    let fake = FakeOpenAi::start("sk-bench").await.expect("fake OpenAI");
    let uid = user_id.clone();
    let served = AtomicUsize::new(0);
    fake.respond_with(move |req: &FakeLlmRequest| {
        served.fetch_add(1, Ordering::Relaxed);
        let (content, calls) = turn_of(req.tool_results().len(), &uid);
        Some(match content {
            Some(text) => Reply::text(text),
            None => Reply::ToolCalls {
                text: String::new(),
                calls: calls
                    .into_iter()
                    .map(|c| (c.name, c.raw_arguments))
                    .collect(),
            },
        })
    });
    let adapter = support_connectors::llm::build(
        "fake",
        &fake.settings(),
        "gpt-4o-mini",
        &PriceTable::default(),
    )
    .expect("adapter");
    measure(adapter.clone(), 20).await;
    let over_http = report(
        "OpenAI-compatible adapter against the fake OpenAI server (loopback)",
        measure(adapter, runs.min(200)).await,
    );

    let out = json!({"in_process": in_process, "fake_openai": over_http});
    let text = serde_json::to_string_pretty(&out).unwrap_or_default();
    println!("{text}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-report-model-agent.json");
    let _ = std::fs::write(path, text);
}
