//! The offline agent: deterministic tool planning and reply drafting, no model.
//!
//! For `respond` it looks the customer up, proposes the action tool the intent calls for,
//! lets the [`gate`](super::gate) decide (run now, wait for approval, hand over, or don't),
//! and drafts a reply from tool results and knowledge passages. For escalations it runs
//! only lookups that help the person taking over and drafts a short holding reply. Tools run
//! through the [`ToolExecutor`] port; approval-required calls the gate does not clear are
//! returned as proposals, never executed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_sdk::types::{Purchase, Subscription, User};

use super::classify::Intent;
use super::extract;
use super::gate::{self, GateContext, GateDecision, GateOutcome};
use super::inbound::{CustomerFacts, Inbound};
use super::kb::KbHit;
use super::profile::AppProfile;
use super::reply::{self, ReplyFacts, Situation};
use super::router::{RouteAction, RouteDecision};
use super::tools::{ToolCall, ToolExecutor, ToolName};
use crate::registry::AppPolicy;
use crate::time::Millis;

/// What happened to one planned call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Ran; `result` holds the output.
    Executed,
    /// Waits for approval; see the matching [`ProposedAction`].
    Proposed,
    /// The gate said no (hand over or ask for confirmation instead).
    Refused,
    /// The executor returned an error.
    Failed,
}

/// One planned tool call and its fate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolStep {
    pub call: ToolCall,
    /// The gate's decision (every non-read call has one).
    pub gate: Option<GateDecision>,
    pub status: StepStatus,
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// An approval-required call waiting for a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedAction {
    pub call: ToolCall,
    pub gate: GateDecision,
}

/// Everything the agent needs.
#[derive(Debug, Clone, Copy)]
pub struct AgentInput<'a> {
    pub inbound: &'a Inbound,
    pub route: &'a RouteDecision,
    pub policy: &'a AppPolicy,
    pub profile: &'a AppProfile,
    /// Facts from the hydrate step, used when the agent makes no lookups of its own.
    pub facts: Option<&'a CustomerFacts>,
    pub now: Millis,
}

/// The agent's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentOutcome {
    /// The final action: the route's, or `escalate_human` when the gate handed over.
    pub action: RouteAction,
    pub steps: Vec<ToolStep>,
    pub proposals: Vec<ProposedAction>,
    /// The reply draft (`None` for silence).
    pub draft: Option<String>,
    /// What the agent knew about the customer.
    pub facts: CustomerFacts,
    /// Knowledge passages used.
    pub knowledge: Vec<KbHit>,
    /// Internal notes for the teammate (never sent).
    pub notes: Vec<String>,
}

impl AgentOutcome {
    /// Names of the tools called or proposed, in order, without duplicates.
    pub fn tools_used(&self) -> Vec<ToolName> {
        let mut v: Vec<ToolName> = Vec::new();
        for s in &self.steps {
            if !v.contains(&s.call.tool) {
                v.push(s.call.tool);
            }
        }
        v
    }

    /// Whether an approval-required tool ran.
    pub fn executed_approval_required(&self) -> bool {
        self.steps.iter().any(|s| {
            s.status == StepStatus::Executed
                && s.call.tool.risk() == super::tools::RiskClass::ApprovalRequired
        })
    }
}

/// Looks the customer up (`lookupUser`, then `getPurchases`). Errors leave the facts empty
/// with `looked_up: false`.
pub async fn hydrate(executor: &dyn ToolExecutor, email: &str, now: Millis) -> CustomerFacts {
    hydrate_checked(executor, email, now).await.0
}

/// [`hydrate`], and whether every lookup answered (`false` when `lookupUser` or
/// `getPurchases` failed: facts worth keeping only when `true`).
pub async fn hydrate_checked(
    executor: &dyn ToolExecutor,
    email: &str,
    now: Millis,
) -> (CustomerFacts, bool) {
    let lookup = ToolCall::new(ToolName::LookupUser, json!({ "email": email }));
    let Ok(user) = executor.execute(&lookup).await else {
        let facts = CustomerFacts {
            email: email.to_lowercase(),
            ..CustomerFacts::default()
        };
        return (facts, false);
    };
    let user: Option<User> = serde_json::from_value(user).ok().flatten();
    let (purchases, complete) = match &user {
        Some(u) => {
            let call = ToolCall::new(ToolName::GetPurchases, json!({ "userId": u.id }));
            match executor
                .execute(&call)
                .await
                .ok()
                .and_then(|v| serde_json::from_value::<Vec<Purchase>>(v).ok())
            {
                Some(p) => (p, true),
                None => (Vec::new(), false),
            }
        }
        None => (Vec::new(), true),
    };
    (
        CustomerFacts::from_sdk(email, user, &purchases, now),
        complete,
    )
}

/// Runs the agent for a routed message.
pub async fn run(input: AgentInput<'_>, executor: &dyn ToolExecutor) -> AgentOutcome {
    let mut run = Run::new(input, executor);
    if input.route.action == RouteAction::Silence {
        run.notes.push("silence: no reply".into());
        return run.finish(None);
    }
    run.lookups().await;
    let language = input.route.analysis.language.as_str();
    let situation = if input.route.action != RouteAction::Respond {
        Situation::Holding
    } else if !reply::can_answer_in(language, input.route.canned.is_some()) {
        // No offline template in the customer's language: a teammate answers, before any
        // action tool runs.
        run.escalate(&format!(
            "written in '{language}', and the offline replies have no template for it: a \
             teammate answers in the customer's language"
        ))
    } else {
        run.knowledge().await;
        run.act().await
    };
    let draft = run.draft(situation);
    run.finish(Some(draft))
}

/// The state of one agent run.
struct Run<'a> {
    input: AgentInput<'a>,
    executor: &'a dyn ToolExecutor,
    action: RouteAction,
    steps: Vec<ToolStep>,
    proposals: Vec<ProposedAction>,
    facts: CustomerFacts,
    subscriptions: Vec<Subscription>,
    knowledge: Vec<KbHit>,
    magic_link_sent: bool,
    notes: Vec<String>,
}

impl<'a> Run<'a> {
    fn new(input: AgentInput<'a>, executor: &'a dyn ToolExecutor) -> Self {
        let email = input.inbound.customer_email();
        let facts = input.facts.cloned().unwrap_or(CustomerFacts {
            email,
            ..CustomerFacts::default()
        });
        Self {
            input,
            executor,
            action: input.route.action,
            steps: Vec::new(),
            proposals: Vec::new(),
            facts,
            subscriptions: Vec::new(),
            knowledge: Vec::new(),
            magic_link_sent: false,
            notes: Vec::new(),
        }
    }

    fn finish(self, draft: Option<String>) -> AgentOutcome {
        AgentOutcome {
            action: self.action,
            steps: self.steps,
            proposals: self.proposals,
            draft,
            facts: self.facts,
            knowledge: self.knowledge,
            notes: self.notes,
        }
    }

    fn intent(&self) -> Intent {
        self.input.route.intent
    }

    /// Runs a read or cleared call and records it.
    async fn execute(&mut self, call: ToolCall, gate: Option<GateDecision>) -> Option<Value> {
        if let Err(e) = call.validate() {
            self.record(call, gate, StepStatus::Failed, None, Some(e.to_string()));
            return None;
        }
        match self.executor.execute(&call).await {
            Ok(v) => {
                self.record(call, gate, StepStatus::Executed, Some(v.clone()), None);
                Some(v)
            }
            Err(e) => {
                self.notes.push(format!("{} failed: {e}", call.tool));
                self.record(call, gate, StepStatus::Failed, None, Some(e.to_string()));
                None
            }
        }
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

    // ── planning ────────────────────────────────────────────────────────────────────────────

    /// Which lookups help: the customer's record for account matters, purchases for money and
    /// access, subscriptions for renewals. Returns `(user, purchases, subscriptions)`.
    fn lookup_plan(&self) -> (bool, bool, bool) {
        let route = self.input.route;
        if matches!(
            route.action,
            RouteAction::Silence | RouteAction::EscalateInstructor
        ) {
            return (false, false, false);
        }
        let renewal = super::text::CueText::new(&route.analysis.cleaned).any(&[
            "renew*",
            "subscription*",
            "membership",
        ]);
        match self.intent() {
            Intent::Vague
            | Intent::WrongBusiness
            | Intent::ChangeName
            | Intent::ChangeEmail
            | Intent::DataRequest => (true, false, false),
            Intent::Subscription => (true, route.action.is_escalation(), true),
            Intent::LoginHelp
            | Intent::TeamSeatAccess
            | Intent::Refund
            | Intent::Transfer
            | Intent::Receipt
            | Intent::ChargeQuestion
            | Intent::UnrecognisedCharge => (true, true, renewal && route.action.is_escalation()),
            _ => (false, false, false),
        }
    }

    async fn lookups(&mut self) {
        let (user, purchases, subscriptions) = self.lookup_plan();
        if !user {
            return;
        }
        let email = self.facts.email.clone();
        let found = self
            .execute(
                ToolCall::new(ToolName::LookupUser, json!({ "email": email })),
                None,
            )
            .await;
        let user: Option<User> = found.and_then(|v| serde_json::from_value(v).ok()).flatten();
        let Some(user) = user else {
            self.facts = CustomerFacts::from_sdk(&email, None, &[], self.input.now);
            self.notes.push(format!("no account found for {email}"));
            return;
        };
        if subscriptions {
            let call = ToolCall::new(ToolName::GetSubscriptions, json!({ "userId": user.id }));
            if let Some(v) = self.execute(call, None).await {
                self.subscriptions = serde_json::from_value(v).unwrap_or_default();
            }
        }
        let list: Vec<Purchase> = if purchases {
            let call = ToolCall::new(ToolName::GetPurchases, json!({ "userId": user.id }));
            match self.execute(call, None).await {
                Some(v) => serde_json::from_value(v).unwrap_or_default(),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        if purchases || self.facts.user.is_none() {
            let kept = if purchases { list } else { Vec::new() };
            let mut facts = CustomerFacts::from_sdk(&email, Some(user), &kept, self.input.now);
            if !purchases {
                facts.purchases = std::mem::take(&mut self.facts.purchases);
            }
            self.facts = facts;
        }
    }

    fn wants_knowledge(&self) -> bool {
        let route = self.input.route;
        if route.action != RouteAction::Respond || route.canned.is_some() {
            return false;
        }
        matches!(
            self.intent(),
            Intent::ProductQuestion
                | Intent::TechnicalIssue
                | Intent::Subscription
                | Intent::Receipt
                | Intent::ChargeQuestion
                | Intent::TeamSeatAccess
        ) || (self.intent() == Intent::LoginHelp && mentions_why(&route.analysis.body))
    }

    async fn knowledge(&mut self) {
        if !self.wants_knowledge() {
            return;
        }
        let query = knowledge_query(self.input.route);
        let call = ToolCall::new(
            ToolName::SearchKnowledge,
            json!({ "query": query, "limit": 3 }),
        );
        if let Some(v) = self.execute(call, None).await {
            self.knowledge = serde_json::from_value(v).unwrap_or_default();
        }
    }

    // ── acting ──────────────────────────────────────────────────────────────────────────────

    async fn act(&mut self) -> Situation {
        if self.input.route.canned.is_some() {
            return Situation::Canned;
        }
        match self.intent() {
            Intent::LoginHelp => self.login_link().await,
            Intent::Refund => self.refund().await,
            Intent::Transfer => self.transfer().await,
            Intent::ChangeName => self.change_name().await,
            Intent::ChangeEmail => self.change_email().await,
            _ => Situation::Answer,
        }
    }

    fn gate_context(&self) -> GateContext<'_> {
        GateContext {
            policy: self.input.policy,
            facts: &self.facts,
            requester_email: &self.facts.email,
            injection: self.input.route.flags.injection,
        }
    }

    /// Puts a write through the gate: runs it, proposes it, or refuses it.
    async fn gated(&mut self, call: ToolCall) -> GateOutcome {
        let decision = gate::decide(&call, &self.gate_context());
        self.notes.push(format!(
            "gate {} on {}: {}",
            decision.rule, call.tool, decision.reason
        ));
        let outcome = decision.outcome;
        match outcome {
            GateOutcome::Auto => {
                if self.execute(call, Some(decision)).await.is_none() {
                    return GateOutcome::Escalate;
                }
            }
            GateOutcome::Approval { .. } => {
                self.proposals.push(ProposedAction {
                    call: call.clone(),
                    gate: decision.clone(),
                });
                self.record(call, Some(decision), StepStatus::Proposed, None, None);
            }
            GateOutcome::Escalate | GateOutcome::NoAction => {
                self.record(call, Some(decision), StepStatus::Refused, None, None);
            }
        }
        outcome
    }

    fn escalate(&mut self, why: &str) -> Situation {
        self.action = RouteAction::EscalateHuman;
        self.notes.push(format!("handed over: {why}"));
        Situation::Holding
    }

    async fn login_link(&mut self) -> Situation {
        if self.facts.active_purchases().is_empty() {
            return Situation::NoPurchaseFound;
        }
        let call = ToolCall::new(
            ToolName::GenerateMagicLink,
            json!({ "email": self.facts.email, "expiresIn": 3600 }),
        );
        match self.gated(call).await {
            GateOutcome::Auto => {
                self.magic_link_sent = true;
                Situation::LinkSent
            }
            _ => self.escalate("could not send a login link"),
        }
    }

    async fn refund(&mut self) -> Situation {
        let Some(p) = self
            .facts
            .relevant_purchase(&self.input.route.analysis.cleaned)
            .cloned()
        else {
            return Situation::NoPurchaseFound;
        };
        let reason = first_sentence(&self.input.route.analysis.body);
        let call = ToolCall::new(
            ToolName::ProcessRefund,
            json!({ "purchaseId": p.id, "reason": reason }),
        );
        match self.gated(call).await {
            GateOutcome::Auto => Situation::Refunded(p),
            GateOutcome::Approval { .. } => Situation::RefundPending(p),
            GateOutcome::NoAction => Situation::Answer,
            GateOutcome::Escalate => {
                // A refund the gate cleared but that could not be made (its Stripe charge
                // disagrees with the product, nothing is left on it, …) says why.
                let failed = self
                    .steps
                    .last()
                    .filter(|s| {
                        s.status == StepStatus::Failed && s.call.tool == ToolName::ProcessRefund
                    })
                    .and_then(|s| s.error.clone());
                match failed {
                    Some(e) => self.escalate(&format!("the refund was not made: {e}")),
                    None => self.escalate("refund outside the policy"),
                }
            }
        }
    }

    async fn transfer(&mut self) -> Situation {
        let body = &self.input.route.analysis.body;
        let targets = extract::transfer_targets(body, &self.facts.email);
        let owned: Vec<_> = self
            .facts
            .active_purchases()
            .into_iter()
            .filter(|p| p.owner_email == self.facts.email)
            .cloned()
            .collect();
        let Some(p) = self
            .facts
            .relevant_purchase(&self.input.route.analysis.cleaned)
            .filter(|p| owned.iter().any(|o| o.id == p.id))
            .cloned()
        else {
            self.notes
                .push("the sender owns no matching purchase: ask the owner".into());
            return Situation::OwnerMustConfirm;
        };
        if targets.is_empty() {
            return Situation::NeedTransferTarget(p);
        }
        let mut pending = false;
        let mut done = false;
        for to in &targets {
            let call = ToolCall::new(
                ToolName::TransferPurchase,
                json!({ "purchaseId": p.id, "fromUserId": p.owner_user_id, "toEmail": to }),
            );
            match self.gated(call).await {
                GateOutcome::Auto => done = true,
                GateOutcome::Approval { .. } => pending = true,
                GateOutcome::NoAction => return Situation::OwnerMustConfirm,
                GateOutcome::Escalate => return self.escalate("transfer refused"),
            }
        }
        match (pending, done) {
            (true, _) => Situation::TransferPending(p, targets),
            (false, true) => Situation::Transferred(p, targets),
            _ => Situation::Answer,
        }
    }

    async fn change_name(&mut self) -> Situation {
        let Some(user) = self.facts.user.clone() else {
            return Situation::NoAccountFound;
        };
        let Some(name) = extract::new_name(&self.input.route.analysis.body) else {
            return Situation::NeedNewName;
        };
        let call = ToolCall::new(
            ToolName::UpdateName,
            json!({ "userId": user.id, "newName": name }),
        );
        match self.gated(call).await {
            GateOutcome::Auto => Situation::NameUpdated(name),
            _ => self.escalate("name change failed"),
        }
    }

    async fn change_email(&mut self) -> Situation {
        let Some(user) = self.facts.user.clone() else {
            return Situation::NoAccountFound;
        };
        let Some(new_email) =
            extract::new_email(&self.input.route.analysis.body, &self.facts.email)
        else {
            return Situation::NeedNewEmail;
        };
        let call = ToolCall::new(
            ToolName::UpdateEmail,
            json!({ "userId": user.id, "newEmail": new_email }),
        );
        match self.gated(call).await {
            GateOutcome::Auto => Situation::EmailUpdated(new_email),
            GateOutcome::Approval { .. } => Situation::EmailPending(new_email),
            _ => self.escalate("email change refused"),
        }
    }

    // ── drafting ────────────────────────────────────────────────────────────────────────────

    fn draft(&self, situation: Situation) -> String {
        let route = self.input.route;
        let facts = ReplyFacts {
            inbound: self.input.inbound,
            route,
            profile: self.input.profile,
            facts: &self.facts,
            subscriptions: &self.subscriptions,
            knowledge: &self.knowledge,
            action: self.action,
        };
        reply::compose(&facts, &situation)
    }
}

/// Whether a login problem asks why (links used up, filtered, every time), which the docs
/// explain.
fn mentions_why(body: &str) -> bool {
    let cues = super::text::CueText::new(body);
    cues.any(&[
        "every time",
        "already been used",
        "outlook",
        "spam",
        "filter*",
        "promotions",
        "each time",
        "invite",
        "team",
    ])
}

fn knowledge_query(route: &RouteDecision) -> String {
    let subject_and_body = route.analysis.cleaned.replace('\n', " ");
    let hint = match route.intent {
        Intent::Subscription => "cancel subscription membership renewal",
        Intent::Receipt => "receipt invoice company details VAT",
        Intent::ChargeQuestion => "charge pending duplicate",
        Intent::TeamSeatAccess => "team license seat invite admin",
        Intent::LoginHelp => "login link email",
        _ => "",
    };
    format!("{hint} {subject_and_body}").trim().to_owned()
}

fn first_sentence(body: &str) -> String {
    super::text::sentences(body)
        .into_iter()
        .find(|s| s.split_whitespace().count() > 3)
        .unwrap_or_else(|| "customer request".into())
        .chars()
        .take(200)
        .collect()
}
