//! The model-backed agent: a tool-calling loop over the [`Llm`] port with guard rails.
//!
//! It returns the same [`AgentOutcome`] as the offline [`agent`](super::agent), so the gate,
//! validation, drafting, audit and replay treat both alike, plus a transcript of the model
//! calls (model, prompt hash, usage, cost, latency, stop reason, tools requested, error code).
//!
//! Guard rails:
//! - the system prompt comes from the app's persona ([`super::profile::AppProfile`]) and
//!   policy ([`crate::registry::AppPolicy`]); the first user turn holds only the inbound message
//!   and minimal customer facts (retrieval-first: everything else through `searchKnowledge`);
//! - tool schemas are generated from the tool registry ([`ToolName::params_schema`]); on an
//!   escalated route only read tools are offered;
//! - a step budget ([`DEFAULT_MAX_TURNS`] model turns) and a repeated-call guard
//!   ([`DEFAULT_MAX_REPEATS`] identical calls, same tool and canonical arguments, stop the loop);
//! - reads run; low-impact writes go through [`gate::decide`] and must target the sender;
//!   approval-required tools are **never** executed here: they become [`ProposedAction`]s
//!   for the workflow's gate step, even when the policy would allow them outright;
//! - customer text is fenced and tool results are quoted back as data, with a note that they
//!   are not instructions;
//! - invalid JSON arguments, an unknown tool and a schema violation are answered with an error
//!   result (the call is not made); a refusal, an empty or truncated answer, a provider error
//!   (timeout, context length, 5xx after retries, …), the budget and the repeated-call guard end
//!   the run with the draft withheld and `escalate_human`. Nothing here panics.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_sdk::types::{Purchase, User};

use super::agent::{AgentInput, AgentOutcome, ProposedAction, StepStatus, ToolStep};
use super::gate::{self, GateContext, GateDecision, GateOutcome};
use super::inbound::CustomerFacts;
use super::kb::KbHit;
use super::router::RouteAction;
use super::tools::{RiskClass, ToolCall, ToolExecutor, ToolName};
use crate::audit::canonical_json;
use crate::llm::{ChatMessage, Llm, LlmError, LlmRequest, LlmToolCall, ToolSchema, Usage};

/// Model turns before the loop gives up.
pub const DEFAULT_MAX_TURNS: usize = 15;
/// Identical calls (same tool, same canonical arguments) that stop the loop.
pub const DEFAULT_MAX_REPEATS: usize = 3;
/// How much of a tool result goes back to the model.
const MAX_RESULT_CHARS: usize = 6_000;
/// How much of the raw arguments of a rejected call is kept for the audit.
const MAX_RAW_CHARS: usize = 300;

/// How the loop runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAgentOptions {
    /// The model name sent with each request (empty: the adapter's configured model).
    pub model: String,
    pub max_turns: usize,
    pub max_repeats: usize,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

impl Default for ModelAgentOptions {
    fn default() -> Self {
        Self {
            model: String::new(),
            max_turns: DEFAULT_MAX_TURNS,
            max_repeats: DEFAULT_MAX_REPEATS,
            max_tokens: 1024,
            temperature: Some(0.2),
        }
    }
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered with text: the draft.
    Answer,
    /// The route was silence: no model call.
    Silence,
    /// The step budget ran out before an answer.
    StepBudget,
    /// The same call was requested [`DEFAULT_MAX_REPEATS`] times.
    RepeatedCall,
    /// Neither text nor tool calls.
    EmptyAnswer,
    /// The model refused.
    Refusal,
    /// The provider failed (see `error`: `timeout`, `context_length`, `server_error`, …).
    LlmError,
    /// A regeneration answered with tool calls instead of text.
    ToolsInRegeneration,
    /// The answer was cut off at the token limit (`length`, `max_tokens`).
    Truncated,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Answer => "answer",
            StopReason::Silence => "silence",
            StopReason::StepBudget => "step_budget",
            StopReason::RepeatedCall => "repeated_call",
            StopReason::EmptyAnswer => "empty_answer",
            StopReason::Refusal => "refusal",
            StopReason::LlmError => "llm_error",
            StopReason::ToolsInRegeneration => "tools_in_regeneration",
            StopReason::Truncated => "truncated",
        }
    }

    /// Whether the run ended without a usable answer (draft withheld, handed over).
    pub fn is_failure(self) -> bool {
        !matches!(self, StopReason::Answer | StopReason::Silence)
    }
}

/// One model call, as the audit records it (never the prompt itself: its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    /// 1-based turn of the loop (regenerations continue the count).
    pub turn: usize,
    pub provider: String,
    pub model: String,
    pub prompt_hash: String,
    pub usage: Usage,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub attempts: u32,
    pub stop_reason: Option<String>,
    /// Names of the tools the model asked for.
    pub tool_calls: Vec<String>,
    /// [`crate::llm::LlmError::code`] when the call failed.
    pub error: Option<String>,
}

/// A call the model asked for that was not made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedCall {
    pub turn: usize,
    pub name: String,
    /// The arguments as sent (truncated).
    pub raw_arguments: String,
    /// `unknown_tool`, `invalid_arguments`, `not_offered`, `repeated_call`.
    pub code: String,
    pub reason: String,
}

/// The model agent's result: the outcome (same shape as the offline agent's) and the
/// transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAgentResult {
    pub outcome: AgentOutcome,
    pub calls: Vec<ModelCall>,
    pub rejected: Vec<RejectedCall>,
    pub stop: StopReason,
    /// The provider error code when `stop` is [`StopReason::LlmError`].
    pub error: Option<String>,
    /// Totals over `calls`.
    pub usage: Usage,
    pub cost_usd: f64,
    /// Time spent waiting for the model (sum of call latencies as measured here).
    pub model_ms: u64,
    /// Wall time of the whole run (model, tools and the loop itself).
    pub total_ms: u64,
    /// The conversation with the model, for a regeneration (not recorded: the audit holds
    /// hashes, the outcome holds tool results).
    #[serde(skip)]
    conversation: Option<Conversation>,
}

impl ModelAgentResult {
    /// Whether the draft was withheld because the loop failed.
    pub fn failed(&self) -> bool {
        self.stop.is_failure()
    }

    /// Why the run was handed over, for the escalation reason.
    pub fn failure_reason(&self) -> Option<String> {
        if !self.failed() {
            return None;
        }
        Some(match &self.error {
            Some(code) => format!("the model agent stopped: {} ({code})", self.stop.as_str()),
            None => format!("the model agent stopped: {}", self.stop.as_str()),
        })
    }

    /// The audit summary of the run (no prompt text, no tool results).
    pub fn audit_summary(&self) -> Value {
        json!({
            "stop": self.stop,
            "error": self.error,
            "turns": self.calls.len(),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cost_usd": self.cost_usd,
            "model_ms": self.model_ms,
            "total_ms": self.total_ms,
            "overhead_ms": self.total_ms.saturating_sub(self.model_ms),
            "rejected_calls": self.rejected,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Conversation {
    system: String,
    messages: Vec<ChatMessage>,
    tools: Vec<ToolSchema>,
}

mod prompt;

pub use prompt::{context_message, offered_tools, quote_result, system_prompt, tool_schemas};
use prompt::{defang, truncate};

/// Runs the model agent for a routed message.
pub async fn run(
    input: AgentInput<'_>,
    executor: &dyn ToolExecutor,
    llm: &dyn Llm,
    opts: &ModelAgentOptions,
) -> ModelAgentResult {
    let started = Instant::now();
    let mut st = State::new(input, executor);
    if input.route.action == RouteAction::Silence {
        st.notes.push("silence: no reply".into());
        return st.finish(None, StopReason::Silence, None, None, started);
    }
    let tools = offered_tools(input.route.action);
    let conv = Conversation {
        system: system_prompt(&input, &tools),
        messages: vec![ChatMessage::user(context_message(&input, &st.facts))],
        tools: tool_schemas(&tools),
    };
    st.offered = tools;
    st.converse(conv, llm, opts, opts.max_turns.max(1), true, started)
        .await
}

/// One regeneration after a validation failure: the scorer's findings go back to the model,
/// which answers once more from what it already gathered. Tool calls in the answer are not
/// made (the run fails instead), so a regeneration has no side effects.
pub async fn regenerate(
    prev: &ModelAgentResult,
    findings: &[String],
    input: AgentInput<'_>,
    llm: &dyn Llm,
    opts: &ModelAgentOptions,
) -> ModelAgentResult {
    let started = Instant::now();
    let Some(mut conv) = prev.conversation.clone() else {
        let mut failed = prev.clone();
        failed.stop = StopReason::EmptyAnswer;
        failed.outcome.draft = None;
        failed.outcome.action = handover(input.route.action);
        return failed;
    };
    let draft = prev.outcome.draft.clone().unwrap_or_default();
    conv.messages
        .push(ChatMessage::assistant(draft, Vec::new()));
    conv.messages.push(ChatMessage::user(format!(
        "Your reply failed our checks:\n{}\nWrite the whole reply again, fixing these problems. \
         Do not call any tools.",
        findings
            .iter()
            .map(|f| format!("- {}", defang(f)))
            .collect::<Vec<_>>()
            .join("\n")
    )));
    let mut st = State::resume(input, prev);
    st.regenerating = true;
    let mut out = st.converse(conv, llm, opts, 1, false, started).await;
    // Totals cover both attempts.
    out.total_ms += prev.total_ms;
    out
}

fn handover(action: RouteAction) -> RouteAction {
    if action.is_escalation() {
        action
    } else {
        RouteAction::EscalateHuman
    }
}

/// The state of one run.
struct State<'a> {
    input: AgentInput<'a>,
    executor: Option<&'a dyn ToolExecutor>,
    action: RouteAction,
    steps: Vec<ToolStep>,
    proposals: Vec<ProposedAction>,
    facts: CustomerFacts,
    knowledge: Vec<KbHit>,
    notes: Vec<String>,
    calls: Vec<ModelCall>,
    rejected: Vec<RejectedCall>,
    offered: Vec<ToolName>,
    seen: HashMap<String, usize>,
    regenerating: bool,
    prior_model_ms: u64,
}

impl<'a> State<'a> {
    fn new(input: AgentInput<'a>, executor: &'a dyn ToolExecutor) -> Self {
        let facts = input.facts.cloned().unwrap_or(CustomerFacts {
            email: input.inbound.customer_email(),
            ..CustomerFacts::default()
        });
        Self {
            input,
            executor: Some(executor),
            action: input.route.action,
            steps: Vec::new(),
            proposals: Vec::new(),
            facts,
            knowledge: Vec::new(),
            notes: Vec::new(),
            calls: Vec::new(),
            rejected: Vec::new(),
            offered: Vec::new(),
            seen: HashMap::new(),
            regenerating: false,
            prior_model_ms: 0,
        }
    }

    /// Continues from a finished run (no executor: a regeneration makes no calls).
    fn resume(input: AgentInput<'a>, prev: &ModelAgentResult) -> Self {
        let o = &prev.outcome;
        Self {
            input,
            executor: None,
            action: o.action,
            steps: o.steps.clone(),
            proposals: o.proposals.clone(),
            facts: o.facts.clone(),
            knowledge: o.knowledge.clone(),
            notes: o.notes.clone(),
            calls: prev.calls.clone(),
            rejected: prev.rejected.clone(),
            offered: Vec::new(),
            seen: HashMap::new(),
            regenerating: true,
            prior_model_ms: prev.model_ms,
        }
    }

    async fn converse(
        mut self,
        mut conv: Conversation,
        llm: &dyn Llm,
        opts: &ModelAgentOptions,
        turns: usize,
        allow_tools: bool,
        started: Instant,
    ) -> ModelAgentResult {
        let mut model_ms = 0u64;
        for _ in 0..turns {
            let turn = self.calls.len() + 1;
            let req = LlmRequest {
                model: opts.model.clone(),
                system: conv.system.clone(),
                messages: conv.messages.clone(),
                tools: conv.tools.clone(),
                max_tokens: opts.max_tokens,
                temperature: opts.temperature,
            };
            let prompt_hash = req.prompt_hash();
            let t0 = Instant::now();
            let answer = llm.chat(&req).await;
            let waited = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
            model_ms += waited;
            let resp = match answer {
                Ok(r) => r,
                Err(e) => {
                    self.calls.push(ModelCall {
                        turn,
                        provider: llm.provider().to_owned(),
                        model: model_name(&opts.model, llm),
                        prompt_hash,
                        usage: Usage::default(),
                        cost_usd: 0.0,
                        latency_ms: waited,
                        attempts: 0,
                        stop_reason: None,
                        tool_calls: Vec::new(),
                        error: Some(e.code().to_owned()),
                    });
                    self.notes
                        .push(format!("model call failed ({}): {e}", e.code()));
                    let stop = match &e {
                        LlmError::Refusal(_) => StopReason::Refusal,
                        // Adapters report a 200 with neither text nor calls as unreadable.
                        LlmError::InvalidResponse(m) if m.contains("empty answer") => {
                            StopReason::EmptyAnswer
                        }
                        _ => StopReason::LlmError,
                    };
                    let code = Some(e.code().to_owned());
                    return self.fail(stop, code, Some(conv), started, model_ms);
                }
            };
            self.calls.push(ModelCall {
                turn,
                provider: llm.provider().to_owned(),
                model: if resp.model.is_empty() {
                    model_name(&opts.model, llm)
                } else {
                    resp.model.clone()
                },
                prompt_hash,
                usage: resp.usage,
                cost_usd: resp.cost_usd,
                latency_ms: resp.latency_ms,
                attempts: resp.attempts,
                stop_reason: resp.stop_reason.clone(),
                tool_calls: resp.tool_calls.iter().map(|c| c.name.clone()).collect(),
                error: None,
            });
            let text = resp.content.clone().unwrap_or_default();
            // Key on tool calls being present, not on the stop reason.
            if !resp.tool_calls.is_empty() {
                if !allow_tools {
                    self.notes
                        .push("the regeneration asked for tools instead of a reply".into());
                    return self.fail(
                        StopReason::ToolsInRegeneration,
                        None,
                        Some(conv),
                        started,
                        model_ms,
                    );
                }
                conv.messages
                    .push(ChatMessage::assistant(text, resp.tool_calls.clone()));
                for call in &resp.tool_calls {
                    let key = format!(
                        "{}\u{0}{}",
                        call.name,
                        if call.arguments_error.is_some() {
                            call.raw_arguments.clone()
                        } else {
                            canonical_json(&call.arguments)
                        }
                    );
                    let n = {
                        let n = self.seen.entry(key).or_insert(0);
                        *n += 1;
                        *n
                    };
                    if n >= opts.max_repeats.max(1) {
                        self.reject(turn, call, "repeated_call", format!("asked {n} times"));
                        self.notes.push(format!(
                            "the model asked for the same {} call {n} times: stopped",
                            call.name
                        ));
                        return self.fail(
                            StopReason::RepeatedCall,
                            None,
                            Some(conv),
                            started,
                            model_ms,
                        );
                    }
                    let content = self.handle(turn, call).await;
                    conv.messages
                        .push(ChatMessage::tool_result(call.id.clone(), content));
                }
                continue;
            }
            if matches!(resp.stop_reason.as_deref(), Some("length" | "max_tokens")) {
                self.notes
                    .push("the answer was cut off at the token limit".into());
                return self.fail(StopReason::Truncated, None, Some(conv), started, model_ms);
            }
            if is_refusal(resp.stop_reason.as_deref()) {
                self.notes.push("the model refused".into());
                return self.fail(
                    StopReason::Refusal,
                    Some("refusal".into()),
                    Some(conv),
                    started,
                    model_ms,
                );
            }
            let draft = text.trim();
            if draft.is_empty() {
                self.notes.push("the model gave an empty answer".into());
                return self.fail(StopReason::EmptyAnswer, None, Some(conv), started, model_ms);
            }
            let draft = draft.to_owned();
            let mut out = self.finish(Some(draft), StopReason::Answer, None, Some(conv), started);
            out.model_ms += model_ms;
            return out;
        }
        self.notes
            .push(format!("no answer within {turns} model turns: stopped"));
        self.fail(StopReason::StepBudget, None, Some(conv), started, model_ms)
    }

    fn fail(
        mut self,
        stop: StopReason,
        error: Option<String>,
        conv: Option<Conversation>,
        started: Instant,
        model_ms: u64,
    ) -> ModelAgentResult {
        self.action = handover(self.input.route.action);
        self.notes.push(format!(
            "handed over: the model agent stopped ({})",
            stop.as_str()
        ));
        let mut out = self.finish(None, stop, error, conv, started);
        out.model_ms += model_ms;
        out
    }

    fn finish(
        self,
        draft: Option<String>,
        stop: StopReason,
        error: Option<String>,
        conversation: Option<Conversation>,
        started: Instant,
    ) -> ModelAgentResult {
        let usage = self.calls.iter().fold(Usage::default(), |mut u, c| {
            u.input_tokens += c.usage.input_tokens;
            u.output_tokens += c.usage.output_tokens;
            u
        });
        let cost_usd = self.calls.iter().map(|c| c.cost_usd).sum();
        ModelAgentResult {
            outcome: AgentOutcome {
                action: self.action,
                steps: self.steps,
                proposals: self.proposals,
                draft,
                facts: self.facts,
                knowledge: self.knowledge,
                notes: self.notes,
            },
            calls: self.calls,
            rejected: self.rejected,
            stop,
            error,
            usage,
            cost_usd,
            model_ms: self.prior_model_ms,
            total_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            conversation,
        }
    }

    fn reject(&mut self, turn: usize, call: &LlmToolCall, code: &str, reason: String) {
        self.rejected.push(RejectedCall {
            turn,
            name: truncate(&call.name, 100),
            raw_arguments: truncate(&call.raw_arguments, MAX_RAW_CHARS),
            code: code.to_owned(),
            reason,
        });
    }

    fn record(
        &mut self,
        call: ToolCall,
        gate: Option<GateDecision>,
        status: StepStatus,
        result: Option<Value>,
        error: Option<String>,
    ) {
        self.steps.push(ToolStep {
            call,
            gate,
            status,
            result,
            error,
        });
    }

    /// Handles one requested call; returns the quoted result for the model.
    async fn handle(&mut self, turn: usize, call: &LlmToolCall) -> String {
        let Some(tool) = ToolName::parse(&call.name) else {
            self.reject(turn, call, "unknown_tool", "no such tool".into());
            self.notes.push(format!(
                "the model asked for an unknown tool {:?}",
                truncate(&call.name, 60)
            ));
            let offered: Vec<&str> = self.offered.iter().map(|t| t.as_str()).collect();
            return quote_result(
                &call.name,
                "error",
                &json!({"error": "unknown_tool", "message": "There is no tool with this name; the call was not made.", "tools": offered}),
            );
        };
        if let Some(why) = &call.arguments_error {
            self.reject(turn, call, "invalid_arguments", why.clone());
            self.notes.push(format!(
                "{tool}: invalid arguments from the model, not called"
            ));
            return quote_result(
                tool.as_str(),
                "error",
                &json!({"error": "invalid_arguments", "message": format!("{why}; the call was not made. Send the arguments as one JSON object.")}),
            );
        }
        // Once handed over (an escalated route, or the gate said a human decides), only reads.
        let handed_over = self.action.is_escalation() && tool.risk() != RiskClass::Read;
        if !self.offered.contains(&tool) || handed_over {
            self.reject(
                turn,
                call,
                "not_offered",
                "not available on this conversation".into(),
            );
            return quote_result(
                tool.as_str(),
                "error",
                &json!({"error": "not_available", "message": "This tool is not available for this conversation; the call was not made."}),
            );
        }
        let tc = ToolCall::new(tool, call.arguments.clone());
        if let Err(e) = tc.validate() {
            let msg = e.to_string();
            self.record(tc, None, StepStatus::Failed, None, Some(msg.clone()));
            return quote_result(
                tool.as_str(),
                "error",
                &json!({"error": "invalid_arguments", "message": format!("{msg}; the call was not made.")}),
            );
        }
        match tool.risk() {
            RiskClass::Read => self.execute(tc, None).await,
            RiskClass::LowImpact | RiskClass::ApprovalRequired => self.gated(tc).await,
        }
    }

    async fn execute(&mut self, call: ToolCall, gate: Option<GateDecision>) -> String {
        let Some(executor) = self.executor else {
            return quote_result(
                call.tool.as_str(),
                "error",
                &json!({"error": "unavailable"}),
            );
        };
        match executor.execute(&call).await {
            Ok(v) => {
                self.learn(&call, &v);
                let quoted = quote_result(call.tool.as_str(), "ok", &v);
                self.record(call, gate, StepStatus::Executed, Some(v), None);
                quoted
            }
            Err(e) => {
                let msg = e.to_string();
                self.notes.push(format!("{} failed: {msg}", call.tool));
                let quoted = quote_result(
                    call.tool.as_str(),
                    "error",
                    &json!({"error": "tool_failed", "message": msg}),
                );
                self.record(call, gate, StepStatus::Failed, None, Some(msg));
                quoted
            }
        }
    }

    /// Keeps the facts and the knowledge in step with what reads returned, so the gate and
    /// the validation see what the model saw.
    fn learn(&mut self, call: &ToolCall, v: &Value) {
        match call.tool {
            ToolName::LookupUser
                if call
                    .param("email")
                    .is_some_and(|e| e.eq_ignore_ascii_case(&self.facts.email)) =>
            {
                if let Ok(user) = serde_json::from_value::<Option<User>>(v.clone()) {
                    self.facts.looked_up = true;
                    if user.is_some() {
                        self.facts.user = user;
                    }
                }
            }
            ToolName::GetPurchases => {
                let Some(user) = self.facts.user.clone() else {
                    return;
                };
                if call.param("userId") != Some(user.id.as_str()) {
                    return;
                }
                if let Ok(list) = serde_json::from_value::<Vec<Purchase>>(v.clone()) {
                    self.facts = CustomerFacts::from_sdk(
                        &self.facts.email,
                        Some(user),
                        &list,
                        self.input.now,
                    );
                }
            }
            ToolName::SearchKnowledge => {
                if let Ok(hits) = serde_json::from_value::<Vec<KbHit>>(v.clone()) {
                    for h in hits {
                        if !self.knowledge.iter().any(|k| k.id == h.id) {
                            self.knowledge.push(h);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The gate's decision on a write, hardened for the model path.
    fn decide(&self, call: &ToolCall) -> GateDecision {
        let ctx = GateContext {
            policy: self.input.policy,
            facts: &self.facts,
            requester_email: &self.facts.email,
            injection: self.input.route.flags.injection,
        };
        let decision = gate::decide(call, &ctx);
        if let Some(why) = foreign_target(call, &self.facts) {
            return GateDecision {
                outcome: GateOutcome::NoAction,
                rule: "model.foreign_target".into(),
                reason: why,
            };
        }
        if call.tool.risk() == RiskClass::ApprovalRequired && decision.outcome == GateOutcome::Auto
        {
            return GateDecision {
                outcome: GateOutcome::Approval { approvers: 1 },
                rule: "model.approval_required".into(),
                reason: format!(
                    "{}; the model agent never runs {} itself, a teammate approves",
                    decision.reason, call.tool
                ),
            };
        }
        decision
    }

    async fn gated(&mut self, call: ToolCall) -> String {
        let decision = self.decide(&call);
        self.notes.push(format!(
            "gate {} on {}: {}",
            decision.rule, call.tool, decision.reason
        ));
        let tool = call.tool.as_str();
        match decision.outcome {
            GateOutcome::Auto => self.execute(call, Some(decision)).await,
            GateOutcome::Approval { .. } => {
                let key = canonical_json(&call.params);
                let duplicate = self
                    .proposals
                    .iter()
                    .any(|p| p.call.tool == call.tool && canonical_json(&p.call.params) == key);
                if !duplicate {
                    self.proposals.push(ProposedAction {
                        call: call.clone(),
                        gate: decision.clone(),
                    });
                    self.record(call, Some(decision), StepStatus::Proposed, None, None);
                }
                quote_result(
                    tool,
                    "pending_approval",
                    &json!({"status": "pending_approval", "message": "Filed for a teammate's approval. It has NOT happened yet: tell the customer a teammate will review it, do not say it is done."}),
                )
            }
            GateOutcome::Escalate => {
                let reason = decision.reason.clone();
                self.notes.push(format!("handed over: {reason}"));
                self.record(call, Some(decision), StepStatus::Refused, None, None);
                self.action = handover(self.input.route.action);
                quote_result(
                    tool,
                    "refused",
                    &json!({"status": "refused", "message": format!("Not done: {reason}. A teammate will take this over; write a short holding reply without promising an outcome.")}),
                )
            }
            GateOutcome::NoAction => {
                let reason = decision.reason.clone();
                self.record(call, Some(decision), StepStatus::Refused, None, None);
                quote_result(
                    tool,
                    "refused",
                    &json!({"status": "refused", "message": format!("Not done: {reason}.")}),
                )
            }
        }
    }
}

fn model_name(requested: &str, llm: &dyn Llm) -> String {
    if requested.is_empty() {
        llm.model().to_owned()
    } else {
        requested.to_owned()
    }
}

/// Whether a provider's stop reason says the model refused.
fn is_refusal(stop: Option<&str>) -> bool {
    matches!(stop, Some("refusal" | "content_filter"))
}

/// A low-impact write aimed at someone other than the sender (a login link to another
/// address, another user's name): refused on the model path.
fn foreign_target(call: &ToolCall, facts: &CustomerFacts) -> Option<String> {
    match call.tool {
        ToolName::GenerateMagicLink => {
            let to = call.param("email").unwrap_or_default();
            (!to.eq_ignore_ascii_case(&facts.email))
                .then(|| "a login link can only go to the sender's own address".to_owned())
        }
        ToolName::UpdateName => {
            let id = call.param("userId").unwrap_or_default();
            let own = facts.user.as_ref().is_some_and(|u| u.id == id);
            (!own).then(|| "only the sender's own account can be renamed".to_owned())
        }
        _ => None,
    }
}
