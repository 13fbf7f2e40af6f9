//! The router: system rules → thread state → canned responses → classifier + labelling policy.
//!
//! Every [`RouteDecision`] names the `rule` that fired (a stable id) and the `reasons`
//! behind it, so a teammate can see why a conversation went where it went.

use serde::{Deserialize, Serialize};

use super::classify::learned::{self, RouterModel, Signals, class_index};
use super::classify::{self, Analysis, Category, Flags, Intent};
use super::inbound::{CustomerFacts, Direction, Inbound, is_automated_sender};
use super::profile::AppProfile;
use super::text::{CueText, tokens};
use crate::corpus::CannedResponse;
use crate::knowledge::{CannedScore, CannedScorer};
use crate::registry::AppPolicy;

/// What happens to the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    Respond,
    Silence,
    EscalateHuman,
    EscalateUrgent,
    EscalateInstructor,
}

impl RouteAction {
    /// All actions.
    pub const ALL: [RouteAction; 5] = [
        RouteAction::Respond,
        RouteAction::Silence,
        RouteAction::EscalateHuman,
        RouteAction::EscalateUrgent,
        RouteAction::EscalateInstructor,
    ];

    /// The wire name (`escalate_human`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteAction::Respond => "respond",
            RouteAction::Silence => "silence",
            RouteAction::EscalateHuman => "escalate_human",
            RouteAction::EscalateUrgent => "escalate_urgent",
            RouteAction::EscalateInstructor => "escalate_instructor",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether a human (team or instructor) takes over.
    pub fn is_escalation(self) -> bool {
        matches!(
            self,
            RouteAction::EscalateHuman
                | RouteAction::EscalateUrgent
                | RouteAction::EscalateInstructor
        )
    }
}

impl std::fmt::Display for RouteAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::status::string_like!(RouteAction);

/// A canned response whose trigger matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CannedMatch {
    pub id: String,
    pub name: String,
    /// The trigger alternative that matched best.
    pub phrase: String,
    /// The template (`{{var}}` placeholders).
    pub body: String,
    /// How well `phrase` matched the message, 0..=1 (see [`CannedScorer`]); 0 in decisions
    /// recorded before canned responses were matched by retrieval.
    #[serde(default)]
    pub score: f32,
    /// The article versions the response cites (the draft records them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::corpus::CannedSource>,
}

/// The lowest [`CannedScore`] at which a canned response answers: chosen on the dev scenarios
/// with the demo's canned responses and measured on the train scenarios
/// (`cargo xtask train-router --report`, docs/eval/canned.md).
pub const CANNED_MIN_SCORE: f32 = 0.8;

/// The canned responses a message is matched against, the retrieval that scores them, and
/// the score a match needs.
#[derive(Clone, Copy)]
pub struct CannedSet<'a> {
    pub responses: &'a [CannedResponse],
    /// `None`: no canned response matches (there is nothing to retrieve with).
    pub scorer: Option<&'a dyn CannedScorer>,
    pub min_score: f32,
}

impl<'a> CannedSet<'a> {
    /// No canned responses.
    pub const NONE: CannedSet<'static> = CannedSet {
        responses: &[],
        scorer: None,
        min_score: CANNED_MIN_SCORE,
    };

    /// `responses` scored by `scorer`, answering from [`CANNED_MIN_SCORE`].
    pub fn new(responses: &'a [CannedResponse], scorer: &'a dyn CannedScorer) -> Self {
        Self {
            responses,
            scorer: Some(scorer),
            min_score: CANNED_MIN_SCORE,
        }
    }

    /// The same set answering from `min_score` (the eval's threshold sweep).
    pub fn with_min_score(self, min_score: f32) -> Self {
        Self { min_score, ..self }
    }
}

impl std::fmt::Debug for CannedSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CannedSet")
            .field("responses", &self.responses.len())
            .field("scorer", &self.scorer.is_some())
            .field("min_score", &self.min_score)
            .finish()
    }
}

/// The router's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub action: RouteAction,
    pub category: Category,
    pub intent: Intent,
    /// 0..1.
    pub confidence: f32,
    pub flags: Flags,
    /// Stable id of the rule that decided the action (`system.sender`, `policy.refund_window`…).
    pub rule: String,
    /// Human-readable evidence, in the order it was found.
    pub reasons: Vec<String>,
    /// The canned response to use, when one matched.
    pub canned: Option<CannedMatch>,
    /// The classifier's findings (cleaned text, injected passages, language).
    pub analysis: Analysis,
}

/// Everything the router looks at.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    pub inbound: &'a Inbound,
    /// Facts from the hydrate step; `None` when they could not be fetched.
    pub facts: Option<&'a CustomerFacts>,
    pub policy: &'a AppPolicy,
    pub profile: &'a AppProfile,
    pub canned: CannedSet<'a>,
}

/// Routes a message with the committed learned model ([`RouterModel::embedded`]). Pure and
/// deterministic.
pub fn route(input: RouteInput<'_>) -> RouteDecision {
    route_with(input, RouterModel::embedded())
}

/// Routes a message: the rules, then (when `model` is given) the learned router's abstention
/// on the classifier's decision.
pub fn route_with(input: RouteInput<'_>, model: Option<&RouterModel>) -> RouteDecision {
    let inbound = input.inbound;
    let normalised = inbound.normalised();
    let has_purchases = input.facts.map(|f| !f.active_purchases().is_empty());
    let previous_inbound = inbound
        .thread
        .iter()
        .rev()
        .find(|m| m.direction == Direction::Inbound)
        .map(|m| m.body.as_str());
    let analysis = classify::analyse(
        classify::Message {
            subject: &inbound.subject,
            body: &normalised.text,
            quoted: &normalised.quoted,
            hidden_comments: &normalised.hidden_comments,
            previous_inbound,
            has_purchases,
            unanswered: unanswered(&inbound.thread),
        },
        input.profile,
    );
    let decide = |action, category, intent, rule: &str, why: String| {
        let mut reasons = vec![why];
        reasons.extend(analysis.reasons.iter().cloned());
        RouteDecision {
            action,
            category,
            intent,
            confidence: 0.95,
            flags: analysis.flags,
            rule: rule.to_owned(),
            reasons,
            canned: None,
            analysis: analysis.clone(),
        }
    };

    if let Some((rule, why)) = system_rule(inbound, &analysis.body) {
        let mut d = decide(
            RouteAction::Silence,
            Category::System,
            Intent::Automated,
            rule,
            why,
        );
        // Machines shout in capitals; that is not anger.
        d.flags.angry = false;
        return d;
    }
    if let Some((rule, why)) = thread_rule(inbound, &analysis) {
        return decide(
            RouteAction::Silence,
            Category::Feedback,
            Intent::Thanks,
            rule,
            why,
        );
    }
    let mut decision = classifier_rule(&analysis, input);
    if let Some(model) = model {
        let rule = decision.rule.clone();
        let signals = signals(input, &analysis, &rule, decision.action);
        learned_rule(&mut decision, model, &signals);
    }
    if let Some(canned) = canned_rule(&analysis, input, &decision) {
        decision
            .reasons
            .insert(0, canned_reason(&canned, input.canned));
        decision.rule = format!("canned.{}", canned.id);
        decision.action = RouteAction::Respond;
        decision.canned = Some(canned);
    }
    decision
}

/// How many times the customer has written since our last answer, this message included.
pub fn unanswered(thread: &[super::inbound::ThreadMessage]) -> usize {
    1 + thread
        .iter()
        .rev()
        .take_while(|m| m.direction == Direction::Inbound)
        .count()
}

/// Whether the classifier made the decision (no system rule, thread state or canned
/// response did): only then may a model classifier weigh in.
pub fn classifier_decided(decision: &RouteDecision) -> bool {
    decision.canned.is_none()
        && !decision.rule.starts_with("system.")
        && !decision.rule.starts_with("thread.")
}

/// `decision` re-decided with the category and confidence a model classifier gave, through
/// the same labelling policy and canned matching. Flags (legal, angry, injection) stay the
/// cue-based ones, so a model cannot talk a legal threat or an injection out of the policy.
pub fn with_category(
    input: RouteInput<'_>,
    decision: &RouteDecision,
    category: Category,
    confidence: f32,
) -> RouteDecision {
    let mut analysis = decision.analysis.clone();
    analysis.intent = classify::intent_for_category(category, &analysis);
    analysis.category = category;
    analysis.confidence = confidence;
    analysis
        .reasons
        .insert(0, format!("model classifier: {category} ({confidence:.2})"));
    if category == Category::System && !analysis.flags.legal {
        let mut reasons = vec!["the model classified the message as automated mail".to_owned()];
        reasons.extend(analysis.reasons.iter().cloned());
        return RouteDecision {
            action: RouteAction::Silence,
            category,
            intent: analysis.intent,
            confidence,
            flags: analysis.flags,
            rule: "model.system".into(),
            reasons,
            canned: None,
            analysis,
        };
    }
    let mut d = classifier_rule(&analysis, input);
    if let Some(canned) = canned_rule(&analysis, input, &d) {
        d.reasons.insert(0, canned_reason(&canned, input.canned));
        d.rule = format!("canned.{}", canned.id);
        d.action = RouteAction::Respond;
        d.canned = Some(canned);
    }
    d
}

// ── 1. system rules ─────────────────────────────────────────────────────────────────────────

const AUTO_SUBJECTS: &[&str] = &[
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto response",
    "out of office",
    "out of the office",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
    "resposta automática",
    "automatyczna odpowiedź",
    "自動返信",
    "自動応答",
    "fuera de la oficina",
    "absence du bureau",
    "undeliverable",
    "undelivered mail",
    "delivery status notification",
    "mail delivery failed",
    "delivery failure",
    "returned mail",
    "we have received your request",
    "request received",
];

/// Subject prefixes (before the first `:`) of calendar notices and read receipts.
const AUTO_SUBJECT_PREFIXES: &[&str] = &[
    "accepted",
    "declined",
    "tentative",
    "tentatively accepted",
    "updated invitation",
    "read",
    "gelesen",
    "lu",
];

const AUTO_BODY: &[&str] = &[
    "this is an automated",
    "this is an automatic",
    "automatically generated",
    "automated response",
    "automated message",
    "do not reply to this",
    "please do not reply",
    "mailbox is no longer monitored",
    "no longer monitored",
    "could not be delivered",
    "recipient address rejected",
    "delivery to the following recipient",
    "has accepted this invitation",
    "has declined this invitation",
    "you are receiving this email because you are an attendee",
    "your request has been logged",
    "has been logged",
    "we have received your request",
    "ticket has been created",
    "out of the office",
    "out of office",
    "im urlaub",
    "keinen zugriff auf meine e mails",
    "abwesend",
    "fuera de la oficina",
    "de vacaciones",
    "absent du bureau",
    "je suis absent",
    "en congé",
    "fuori ufficio",
    "sono in ferie",
    "on annual leave",
    "on parental leave",
    "limited access to email",
    "ben tot en met",
    "beperkt toegang tot mijn e mail",
    "was read on",
];

/// Automated mail: machine senders, auto-reply and bounce subjects, auto-reply bodies.
fn system_rule(inbound: &Inbound, body: &str) -> Option<(&'static str, String)> {
    if is_automated_sender(&inbound.from) && !inbound.via_form() {
        return Some((
            "system.sender",
            format!("automated sender {}", inbound.from),
        ));
    }
    let subject = inbound.subject.to_lowercase();
    let subject_prefix = subject.split(':').next().map(str::trim).unwrap_or_default();
    let prefix_is_notice = subject.contains(':')
        && AUTO_SUBJECT_PREFIXES
            .iter()
            .any(|p| tokens(subject_prefix).join(" ") == *p);
    if prefix_is_notice || CueText::new(&subject).any(AUTO_SUBJECTS) {
        return Some((
            "system.subject",
            format!("auto-reply or delivery subject '{}'", inbound.subject),
        ));
    }
    let cues = CueText::new(body);
    let hits = cues.matching(AUTO_BODY);
    let asks = body.contains('?');
    if !hits.is_empty() && (!asks || hits.len() >= 2) {
        return Some((
            "system.body",
            format!("automated message cues: {}", hits.join(", ")),
        ));
    }
    None
}

// ── 2. thread state ─────────────────────────────────────────────────────────────────────────

/// Silence when a teammate is already on it, when we are waiting for the customer, and for
/// closing remarks on a thread we already answered.
fn thread_rule(inbound: &Inbound, analysis: &Analysis) -> Option<(&'static str, String)> {
    if inbound.teammate_replying {
        return Some((
            "thread.teammate_replying",
            "a teammate is already replying".into(),
        ));
    }
    let last_outbound = inbound
        .last_thread_message()
        .is_some_and(|m| m.direction == Direction::Outbound);
    if last_outbound && tokens(&analysis.body).is_empty() {
        return Some((
            "thread.awaiting_customer",
            "nothing new from the customer since our reply".into(),
        ));
    }
    let resolved = matches!(
        inbound.conversation_status.as_deref(),
        Some("solved" | "closed")
    );
    // A reply that gives an email address hands us what we asked for (who leaves, who
    // joins, which address): not a closing remark (issue 17: train
    // tr-ai-team-seat-departed-to-new-hire, tr-ts-owner-confirms-transfer-thread,
    // tr-tw-thread-which-new-login-email).
    let gives_address = !super::text::emails(&analysis.body).is_empty();
    if (last_outbound || resolved) && !gives_address && classify::is_closing_thanks(&analysis.body)
    {
        return Some((
            "thread.closing_remark",
            "closing remark on a thread we already answered".into(),
        ));
    }
    None
}

// ── 3. canned responses ─────────────────────────────────────────────────────────────────────

/// Matches canned responses by retrieval (see [`match_canned`]). Never used for legal, angry
/// or instructor mail, nor when the classifier does not reply, nor for a request the agent
/// acts on ([`agent_acts_on`]: a canned reply takes no action, so it cannot stand in for one),
/// nor in a language the canned bodies (English) are not written in, nor with a template a
/// value is missing for.
/// In a reply on a thread the subject names the thread's first topic, so only the new message
/// is matched.
fn canned_rule(
    analysis: &Analysis,
    input: RouteInput<'_>,
    decision: &RouteDecision,
) -> Option<CannedMatch> {
    let inbound = input.inbound;
    if analysis.flags.legal
        || analysis.flags.angry
        || decision.action != RouteAction::Respond
        || analysis.intent == Intent::ForInstructor
        || agent_acts_on(decision.intent)
        || !super::reply::can_answer_in(&analysis.language, true)
    {
        return None;
    }
    let text = if inbound.thread.is_empty() {
        &analysis.cleaned
    } else {
        &analysis.body
    };
    // A template that would be half-filled for this customer never matches. It is still scored
    // with the others, so the scores (and the scorer's index) do not depend on the customer.
    best_canned(text, input.canned, &inbound.app, |c| {
        super::template::fills(&c.body, input.profile, input.facts, &analysis.body)
    })
}

/// The intents the agent answers with an action (a login link, a refund, a transfer, a name or
/// email change: `agent::act`).
pub fn agent_acts_on(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::LoginHelp
            | Intent::Refund
            | Intent::Transfer
            | Intent::ChangeName
            | Intent::ChangeEmail
    )
}

fn canned_reason(m: &CannedMatch, canned: CannedSet<'_>) -> String {
    format!(
        "canned response '{}' matched '{}' (score {:.2} >= {:.2})",
        m.name, m.phrase, m.score, canned.min_score
    )
}

/// The best canned response of `app` (or of every app) for `text`: the scorer (the knowledge
/// base's retrieval over each trigger's alternatives) scores them, and the best one answers
/// when its score reaches `canned.min_score` (ties: the first in `canned.responses`).
pub fn match_canned(text: &str, canned: CannedSet<'_>, app: &str) -> Option<CannedMatch> {
    best_canned(text, canned, app, |_| true)
}

/// [`match_canned`] among the responses `usable` accepts (all are scored).
fn best_canned(
    text: &str,
    canned: CannedSet<'_>,
    app: &str,
    usable: impl Fn(&CannedResponse) -> bool,
) -> Option<CannedMatch> {
    let candidates: Vec<&CannedResponse> = canned
        .responses
        .iter()
        .filter(|c| c.app.as_deref().is_none_or(|a| a == app))
        .collect();
    if candidates.is_empty() || text.trim().is_empty() {
        return None;
    }
    let scores = canned.scorer?.score(text, &candidates);
    let best = scores
        .into_iter()
        .filter(|s| {
            s.index < candidates.len() && s.score >= canned.min_score && usable(candidates[s.index])
        })
        .fold(None::<CannedScore>, |best, s| match best {
            Some(b) if b.score > s.score || (b.score == s.score && b.index < s.index) => Some(b),
            _ => Some(s),
        })?;
    let c = candidates[best.index];
    Some(CannedMatch {
        id: c.id.clone(),
        name: c.name.clone(),
        phrase: best.phrase,
        body: c.body.clone(),
        score: best.score,
        sources: c.sources.clone(),
    })
}

// ── 5. the learned router ───────────────────────────────────────────────────────────────────

/// What the learned router reads of a routed message.
pub fn signals<'a>(
    input: RouteInput<'a>,
    analysis: &'a Analysis,
    rule: &'a str,
    rule_action: RouteAction,
) -> Signals<'a> {
    Signals {
        subject: &input.inbound.subject,
        body: &analysis.body,
        from: &input.inbound.from,
        thread: &input.inbound.thread,
        has_purchases: input.facts.map(|f| !f.active_purchases().is_empty()),
        purchase_age_days: input
            .facts
            .and_then(|f| f.relevant_purchase(&analysis.cleaned))
            .and_then(|p| p.age_days),
        language: &analysis.language,
        flags: analysis.flags,
        category: analysis.category,
        for_instructor: analysis.for_instructor,
        rule,
        rule_action,
    }
}

/// Calibrated abstention on the classifier's decision: a reply only when `respond` is likely
/// enough (otherwise the most likely hand-off, silence only when that is likely), silence only
/// when it is likely (otherwise a human looks), and a likely legal notice is urgent.
fn learned_rule(d: &mut RouteDecision, model: &RouterModel, signals: &Signals<'_>) {
    use RouteAction::*;
    let p = model.probabilities(&learned::features(signals));
    let pr = |a: RouteAction| p[class_index(a)];
    let t = model.thresholds;
    let shown: Vec<String> = RouteAction::ALL
        .iter()
        .map(|a| format!("{}={:.2}", a.as_str(), pr(*a)))
        .collect();
    d.reasons
        .push(format!("learned router: {}", shown.join(" ")));
    if d.action == EscalateUrgent {
        return;
    }
    let change = |d: &mut RouteDecision, action: RouteAction, rule: &str, why: String| {
        d.action = action;
        d.confidence = pr(action);
        d.rule = rule.to_owned();
        d.reasons.insert(0, why);
    };
    if pr(EscalateUrgent) >= t.urgent {
        d.flags.legal = true;
        d.analysis.flags.legal = true;
        let why = format!(
            "the learned router reads a formal or legal notice (p={:.2})",
            pr(EscalateUrgent)
        );
        change(d, EscalateUrgent, "learned.legal_notice", why);
        return;
    }
    match d.action {
        Respond if pr(Respond) < t.respond && d.confidence < t.trust_rules_at => {
            let (best, pb) = [EscalateHuman, Silence, EscalateInstructor]
                .into_iter()
                .map(|a| (a, pr(a)))
                .fold((EscalateHuman, -1.0), |m, x| if x.1 > m.1 { x } else { m });
            // Overruling a reply with silence needs more than the silence threshold: silence
            // must be more likely than everything else together (an ignored customer is worse
            // than a redundant hand-off).
            let action = match best {
                Silence if pb < t.silence.max(0.5) => EscalateHuman,
                other => other,
            };
            let why = format!(
                "not confident enough to reply (p(respond)={:.2} < {:.2}): {}",
                pr(Respond),
                t.respond,
                action.as_str()
            );
            change(d, action, "learned.abstain", why);
        }
        Silence if pr(Silence) < t.silence => {
            let why = format!(
                "not confident enough to stay silent (p(silence)={:.2} < {:.2})",
                pr(Silence),
                t.silence
            );
            change(d, EscalateHuman, "learned.unsure_silence", why);
        }
        _ => {}
    }
}

// ── 4. classifier + labelling policy ────────────────────────────────────────────────────────

fn classifier_rule(analysis: &Analysis, input: RouteInput<'_>) -> RouteDecision {
    let (action, rule, why) = policy_action(analysis, input);
    let mut reasons = vec![why];
    reasons.extend(analysis.reasons.iter().cloned());
    RouteDecision {
        action,
        category: analysis.category,
        intent: analysis.intent,
        confidence: analysis.confidence,
        flags: analysis.flags,
        rule: rule.to_owned(),
        reasons,
        canned: None,
        analysis: analysis.clone(),
    }
}

/// The labelling policy, earlier rules first.
fn policy_action(
    analysis: &Analysis,
    input: RouteInput<'_>,
) -> (RouteAction, &'static str, String) {
    use RouteAction::*;
    let (category, intent, flags) = (analysis.category, analysis.intent, analysis.flags);
    if flags.legal {
        return (EscalateUrgent, "policy.legal_threat", "legal threat".into());
    }
    if intent == Intent::ForInstructor {
        return (
            EscalateInstructor,
            "policy.instructor_mail",
            "mail for the instructor".into(),
        );
    }
    if category == Category::PartnershipSpam {
        return (Silence, "policy.spam", "vendor pitch".into());
    }
    if intent == Intent::Thanks
        && (classify::is_closing_thanks(&analysis.body)
            || classify::says_no_reply_needed(&analysis.body))
    {
        return (
            Silence,
            "policy.thanks_no_answer",
            "a thank-you that needs no answer".into(),
        );
    }
    let refund_window = refund_window(analysis, input);
    if flags.angry {
        let trivial = intent == Intent::LoginHelp
            || (intent == Intent::Refund && refund_window == RefundWindow::Auto);
        if !trivial {
            return (
                EscalateHuman,
                "policy.angry",
                "angry sender and no trivial fix".into(),
            );
        }
    }
    match intent {
        Intent::Refund => match refund_window {
            RefundWindow::Beyond(days) => (
                EscalateHuman,
                "policy.refund_beyond_window",
                format!(
                    "purchase is {days} days old, beyond {} days",
                    input.policy.refund_approval_days
                ),
            ),
            RefundWindow::Approval(days) => (
                Respond,
                "policy.refund_approval_window",
                format!("purchase is {days} days old: refund needs approval"),
            ),
            _ => (Respond, "policy.refund", "refund request".into()),
        },
        Intent::DataRequest => (
            EscalateHuman,
            "policy.account_no_tool",
            "no tool can delete or export data".into(),
        ),
        Intent::Quote => (
            EscalateHuman,
            "policy.custom_quote",
            "custom team, enterprise or private quote".into(),
        ),
        Intent::PurchaseOrder | Intent::InvoiceCorrection => (
            EscalateHuman,
            "policy.paperwork",
            "purchase orders and invoice corrections go to the team".into(),
        ),
        Intent::UnrecognisedCharge => (
            EscalateHuman,
            "policy.unrecognised_charge",
            "a charge the customer does not recognise needs investigating".into(),
        ),
        Intent::NeedsContext => (
            EscalateHuman,
            "policy.needs_context",
            "depends on context we have no record of".into(),
        ),
        _ => (
            Respond,
            "policy.respond",
            format!("{} request the agent can handle", category.as_str()),
        ),
    }
}

/// Where a refund falls under the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefundWindow {
    /// No facts or no purchase: the agent finds out.
    Unknown,
    Auto,
    Approval(i64),
    Beyond(i64),
}

fn refund_window(analysis: &Analysis, input: RouteInput<'_>) -> RefundWindow {
    let Some(age) = input
        .facts
        .and_then(|f| f.relevant_purchase(&analysis.cleaned))
        .and_then(|p| p.age_days)
    else {
        return RefundWindow::Unknown;
    };
    if age < input.policy.refund_auto_days {
        RefundWindow::Auto
    } else if age <= input.policy.refund_approval_days {
        RefundWindow::Approval(age)
    } else {
        RefundWindow::Beyond(age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::inbound::ThreadMessage;

    fn inbound(from: &str, subject: &str, body: &str) -> Inbound {
        Inbound {
            app: "typescript-course".into(),
            from: from.into(),
            subject: subject.into(),
            body: body.into(),
            ..Inbound::default()
        }
    }

    fn run(inbound: &Inbound) -> RouteDecision {
        let policy = AppPolicy::default();
        let profile = AppProfile::for_app(&inbound.app);
        route(RouteInput {
            inbound,
            facts: None,
            policy: &policy,
            profile: &profile,
            canned: CannedSet::NONE,
        })
    }

    #[test]
    fn system_mail_is_silenced() {
        let d = run(&inbound("MAILER-DAEMON@mx.test", "Undelivered", "x"));
        assert_eq!(
            (d.action, d.rule.as_str()),
            (RouteAction::Silence, "system.sender")
        );
        let d = run(&inbound(
            "jan@x.test",
            "Abwesenheitsnotiz: Re: Rechnung",
            "Ich bin im Urlaub.",
        ));
        assert_eq!(
            (d.action, d.category),
            (RouteAction::Silence, Category::System)
        );
        let d = run(&inbound(
            "ana@x.test",
            "Re: refund",
            "I am out of the office until Monday.",
        ));
        assert_eq!(d.rule, "system.body");
    }

    #[test]
    fn closing_remarks_on_answered_threads_are_silenced() {
        let mut m = inbound("a@x.test", "Re: login", "That did the trick, thank you!");
        m.thread = vec![ThreadMessage {
            direction: Direction::Outbound,
            body: "Here is a new link.".into(),
            author: None,
        }];
        let d = run(&m);
        assert_eq!(
            (d.action, d.rule.as_str()),
            (RouteAction::Silence, "thread.closing_remark")
        );
        m.body = "Thanks, but the link still fails. Can you help?".into();
        assert_eq!(run(&m).action, RouteAction::Respond);
        m.teammate_replying = true;
        assert_eq!(run(&m).rule, "thread.teammate_replying");
    }

    #[test]
    fn legal_beats_everything_and_angry_escalates() {
        let d = run(&inbound(
            "a@x.test",
            "refund",
            "Refund me or my lawyer will be in touch.",
        ));
        assert_eq!(d.action, RouteAction::EscalateUrgent);
        let d = run(&inbound(
            "a@x.test",
            "Site broken AGAIN",
            "Every page is a 500 error. Unacceptable. Fix it.",
        ));
        assert_eq!(
            (d.action, d.rule.as_str()),
            (RouteAction::EscalateHuman, "policy.angry")
        );
    }
}
