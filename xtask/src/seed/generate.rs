//! The synthetic traffic of `cargo xtask seed`: conversations, messages, drafts, actions,
//! approvals and their hash-chained audit rows, generated chunk by chunk, oldest first.

use super::{SeedOptions, SeedReport};
use serde_json::json;
use support_core::audit;
use support_core::store::AuditEvent;

const DAY_MS: i64 = 86_400_000;
/// The demo apps (`support_host::demo::DEMO_APPS`) and their share of the traffic.
pub(super) const APPS: [(&str, u64); 3] = [
    ("typescript-course", 50),
    ("tailwind-course", 30),
    ("ai-workshops", 20),
];

/// A small deterministic generator (splitmix64): the same sizes give the same data.
pub(super) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn percent(&mut self) -> u64 {
        self.below(100)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A value bound into an `INSERT`.
#[derive(Debug, Clone)]
pub(super) enum V {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
}

impl From<&str> for V {
    fn from(s: &str) -> Self {
        V::Text(s.to_string())
    }
}
impl From<String> for V {
    fn from(s: String) -> Self {
        V::Text(s)
    }
}
impl From<Option<String>> for V {
    fn from(s: Option<String>) -> Self {
        V::OptText(s)
    }
}
impl From<i64> for V {
    fn from(n: i64) -> Self {
        V::Int(n)
    }
}
impl From<Option<i64>> for V {
    fn from(n: Option<i64>) -> Self {
        V::OptInt(n)
    }
}
impl From<f64> for V {
    fn from(n: f64) -> Self {
        V::Real(n)
    }
}

/// Rows of one table waiting to be written.
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [&'static str],
    pub(super) rows: Vec<Vec<V>>,
}

impl Table {
    fn new(name: &'static str, columns: &'static [&'static str]) -> Self {
        Self {
            name,
            columns,
            rows: Vec::new(),
        }
    }
    pub(super) fn push(&mut self, row: Vec<V>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
}

const SUBJECTS: &[(&str, &str)] = &[
    ("refund", "Refund for my purchase"),
    ("refund", "I want my money back"),
    ("access", "Can't log in to the course"),
    ("access", "Magic link expired"),
    ("billing", "Invoice with our VAT number"),
    ("billing", "Charged twice this month"),
    ("license", "Add seats to our team licence"),
    ("license", "Transfer my licence to a colleague"),
    ("technical", "Video won't play on Safari"),
    ("technical", "Exercise files missing"),
    ("feedback", "Loved the latest module"),
    ("other", "Question about the roadmap"),
];
/// The router's flags (`RouteFlags::names`); anger is the most common.
const FLAGS: &[&str] = &["angry", "angry", "angry", "legal", "injection"];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.test",
    "corp.example",
    "uni.example.edu",
];
const AGENTS: &[&str] = &[
    "user:ana@demo.test",
    "user:ben@demo.test",
    "user:chloe@demo.test",
    "user:dev@demo.test",
];

pub(super) const CONVERSATION_COLUMNS: &[&str] = &[
    "id",
    "front_id",
    "app",
    "customer_email",
    "subject",
    "status",
    "escalation",
    "escalation_reason",
    "assignee",
    "sla_due_at",
    "created_at",
    "updated_at",
    // The latest route decision (migration 20261206000200), when the schema has it.
    "route_action",
    "route_category",
    "route_flags",
];

/// What the schema has beyond the foundation (the dashboard's migrations).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Schema {
    /// `conversations.route_action`, `route_category`, `route_flags`.
    pub(super) route: bool,
    /// The `drafts` table.
    pub(super) drafts: bool,
}

/// One chunk's rows, produced off the async runtime and written in one transaction.
pub(super) struct Chunk {
    pub(super) tables: Vec<Table>,
    pub(super) audit: Table,
    pub(super) counts: SeedReport,
    pub(super) head: (i64, String),
}

/// Generates conversations `from..to` (oldest first) and their share of the audit rows,
/// chained from `head`.
pub(super) struct Generator {
    n: u64,
    audit_total: u64,
    start: i64,
    step: i64,
    now: i64,
    head_seq: i64,
    head_hash: String,
    schema: Schema,
}

impl Generator {
    pub(super) fn new(options: &SeedOptions, schema: Schema) -> Self {
        let span = 365 * DAY_MS;
        let n = options.conversations.max(1);
        Self {
            n,
            audit_total: options.audit,
            start: options.now - span,
            step: (span / n as i64).max(1),
            now: options.now,
            head_seq: 0,
            head_hash: audit::GENESIS.to_string(),
            schema,
        }
    }

    /// How many audit rows conversation `i` gets: the total spread evenly, exactly.
    pub(super) fn audit_rows_of(&self, i: u64) -> u64 {
        let share =
            |k: u64| (u128::from(k) * u128::from(self.audit_total) / u128::from(self.n)) as u64;
        share(i + 1) - share(i)
    }

    pub(super) fn chunk(&mut self, from: u64, to: u64) -> Chunk {
        let mut conversations = Table::new(
            "conversations",
            if self.schema.route {
                CONVERSATION_COLUMNS
            } else {
                &CONVERSATION_COLUMNS[..12]
            },
        );
        let mut drafts = Table::new(
            "drafts",
            &[
                "id",
                "conversation_id",
                "app",
                "run_id",
                "front_draft_id",
                "body_text",
                "body_html",
                "knowledge_sources",
                "created_at",
                "sent_text",
                "sent_at",
            ],
        );
        let mut messages = Table::new(
            "messages",
            &[
                "id",
                "front_id",
                "conversation_id",
                "direction",
                "author",
                "body",
                "raw_body",
                "sent_at",
            ],
        );
        let mut actions = Table::new(
            "actions",
            &[
                "id",
                "conversation_id",
                "app",
                "kind",
                "params",
                "category",
                "confidence",
                "reasoning",
                "risk",
                "status",
                "idempotency_key",
                "result",
                "trace_id",
                "created_at",
                "updated_at",
            ],
        );
        let mut approvals = Table::new(
            "approvals",
            &[
                "id",
                "action_id",
                "channel",
                "status",
                "decided_by",
                "reason",
                "expires_at",
                "created_at",
                "decided_at",
                "approvers_required",
                "amount_cents",
                "currency",
            ],
        );
        let mut audit_table = Table::new(
            "audit_log",
            &[
                "seq",
                "at",
                "kind",
                "app",
                "conversation_id",
                "actor",
                "trace_id",
                "data",
                "prev_hash",
                "hash",
            ],
        );
        let mut counts = SeedReport::default();
        for i in from..to {
            let mut rng = Rng(i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
            let created =
                self.start + i as i64 * self.step + rng.below(self.step as u64 / 4) as i64;
            let age = self.now - created;
            let app = {
                let roll = rng.percent();
                let mut acc = 0;
                APPS.iter()
                    .find(|(_, w)| {
                        acc += w;
                        roll < acc
                    })
                    .map(|(a, _)| *a)
                    .unwrap_or(APPS[0].0)
            };
            let (category, subject) = *rng.pick(SUBJECTS);
            let front_id = format!("cnv_seed{i:010x}");
            let id = format!("conv_seed{i:010x}");
            let email = format!(
                "customer{}@{}",
                rng.below(self.n / 4 + 1),
                rng.pick(DOMAINS)
            );
            let mut flags: Vec<&str> = Vec::new();
            if rng.percent() < 8 {
                flags.push(*rng.pick(FLAGS));
            }
            // Route action: silence (auto-replies, spam), canned, escalate, agent.
            let roll = rng.percent();
            let action = if flags.contains(&"legal") || roll < 5 {
                "escalate"
            } else if roll < 12 {
                "silence"
            } else if roll < 25 {
                "canned"
            } else {
                "agent"
            };
            let status = if age < 3 * DAY_MS {
                *rng.pick(&["new", "open", "open", "pending", "on_hold", "solved"])
            } else {
                match rng.percent() {
                    0..70 => "solved",
                    70..95 => "closed",
                    95..97 => "on_hold",
                    _ => "open",
                }
            };
            // What the router records (`RouteAction`) and the escalation tag it sets.
            let (route_action, escalation, reason) = if action == "escalate" {
                let roll = rng.percent();
                if flags.contains(&"legal") || roll < 30 {
                    ("escalate_urgent", Some("urgent"), Some("legal threat"))
                } else if roll < 40 {
                    (
                        "escalate_instructor",
                        Some("instructor"),
                        Some("course content"),
                    )
                } else {
                    ("escalate_human", Some("needs-human"), Some("needs a human"))
                }
            } else if action == "silence" {
                ("silence", None, None)
            } else {
                ("respond", None, None)
            };
            let escalation = escalation.map(str::to_string);
            let reason = reason.map(str::to_string);
            let updated = (created + rng.below(3 * DAY_MS as u64) as i64).min(self.now);
            let assignee = (rng.percent() < 30).then(|| format!("tea_{}", rng.below(12)));
            let sla = (status != "solved" && status != "closed").then_some(created + DAY_MS);
            let mut row: Vec<V> = vec![
                id.clone().into(),
                front_id.clone().into(),
                app.into(),
                Some(email.clone()).into(),
                Some(subject.to_string()).into(),
                status.into(),
                escalation.into(),
                reason.into(),
                assignee.into(),
                sla.into(),
                created.into(),
                updated.into(),
            ];
            if self.schema.route {
                row.push(Some(route_action.to_string()).into());
                row.push(Some(category.to_string()).into());
                row.push(
                    (!flags.is_empty())
                        .then(|| format!(",{},", flags.join(",")))
                        .into(),
                );
            }
            conversations.push(row);
            counts.conversations += 1;
            let n_messages = 1 + rng.below(4) as i64;
            for m in 0..n_messages {
                let inbound = m % 2 == 0;
                let body = if inbound {
                    format!(
                        "Hi, {}. My order number is {}. Thanks!",
                        subject.to_lowercase(),
                        rng.below(1_000_000)
                    )
                } else {
                    "Thanks for reaching out! I have looked into this and here is what I found."
                        .to_string()
                };
                messages.push(vec![
                    format!("msg_seed{i:010x}_{m}").into(),
                    format!("msg_front_seed{i:010x}_{m}").into(),
                    front_id.clone().into(),
                    if inbound { "inbound" } else { "outbound" }.into(),
                    Some(if inbound {
                        email.clone()
                    } else {
                        "support@demo.test".into()
                    })
                    .into(),
                    Some(body.clone()).into(),
                    Some(format!("<p>{body}</p>")).into(),
                    (created + m * 3_600_000).into(),
                ]);
                counts.messages += 1;
            }
            let trace = format!("trace_seed{i:010x}");
            let confidence = (50 + rng.below(50)) as f64 / 100.0;
            // Refunds wait for approval; access problems get a magic link (low impact).
            let mut approval_state = None;
            if action == "agent" && category == "refund" && rng.percent() < 60 {
                let act = format!("act_seed{i:010x}_r");
                let amount = 1_000 + rng.below(40_000) as i64;
                let state = if age < 2 * DAY_MS {
                    "pending"
                } else {
                    match rng.percent() {
                        0..70 => "approved",
                        70..90 => "rejected",
                        _ => "expired",
                    }
                };
                let act_status = match state {
                    "pending" => "pending_approval",
                    "approved" => "executed",
                    other => other,
                };
                actions.push(vec![
                    act.clone().into(),
                    Some(front_id.clone()).into(),
                    Some(app.to_string()).into(),
                    "processRefund".into(),
                    json!({"chargeId": format!("ch_seed{i:x}"), "amount": amount})
                        .to_string()
                        .into(),
                    Some(category.to_string()).into(),
                    confidence.into(),
                    Some("Purchase within the refund window".to_string()).into(),
                    "approval_required".into(),
                    act_status.into(),
                    format!("{act}:1").into(),
                    (state == "approved")
                        .then(|| json!({"refundId": format!("re_seed{i:x}")}).to_string())
                        .into(),
                    Some(trace.clone()).into(),
                    created.into(),
                    updated.into(),
                ]);
                let decided = (state != "pending" && state != "expired")
                    .then(|| created + 600_000 + rng.below(DAY_MS as u64) as i64);
                approvals.push(vec![
                    format!("apr_seed{i:010x}").into(),
                    act.into(),
                    if rng.percent() < 80 {
                        "slack"
                    } else {
                        "dashboard"
                    }
                    .into(),
                    state.into(),
                    decided.map(|_| rng.pick(AGENTS).to_string()).into(),
                    (state == "rejected")
                        .then(|| "outside policy".to_string())
                        .into(),
                    (created + 3 * DAY_MS).into(),
                    created.into(),
                    decided.into(),
                    (if amount > 30_000 { 2i64 } else { 1 }).into(),
                    Some(amount).into(),
                    Some("usd".to_string()).into(),
                ]);
                counts.actions += 1;
                counts.approvals += 1;
                if state == "pending" {
                    counts.pending_approvals += 1;
                }
                approval_state = Some(state);
            } else if action == "agent" && category == "access" {
                let act = format!("act_seed{i:010x}_m");
                actions.push(vec![
                    act.clone().into(),
                    Some(front_id.clone()).into(),
                    Some(app.to_string()).into(),
                    "generateMagicLink".into(),
                    json!({"email": email}).to_string().into(),
                    Some(category.to_string()).into(),
                    confidence.into(),
                    None::<String>.into(),
                    "low_impact".into(),
                    "executed".into(),
                    format!("{act}:1").into(),
                    Some(json!({"sent": true}).to_string()).into(),
                    Some(trace.clone()).into(),
                    created.into(),
                    created.into(),
                ]);
                counts.actions += 1;
            }
            if self.schema.drafts && action == "agent" {
                let text = format!(
                    "Hi! Thanks for writing about \"{}\". Here is what I found and what happens next.",
                    subject.to_lowercase()
                );
                let sent = status == "solved" || status == "closed";
                drafts.push(vec![
                    format!("drf_seed{i:010x}").into(),
                    front_id.clone().into(),
                    Some(app.to_string()).into(),
                    trace.clone().into(),
                    Some(format!("msg_draft_seed{i:010x}")).into(),
                    text.clone().into(),
                    Some(format!("<p>{text}</p>")).into(),
                    json!([format!("kb_{category}_{}", rng.below(20))])
                        .to_string()
                        .into(),
                    (created + 60_000).into(),
                    sent.then(|| text.clone()).into(),
                    sent.then_some(created + 3_600_000).into(),
                ]);
                counts.drafts += 1;
            }
            // The audit rows of this conversation, in order, inside its time slot.
            let rows = self.audit_rows_of(i);
            let kinds = audit_kinds(action, approval_state, rows as usize);
            // Within the first half of its slot: `at` grows with `seq` across conversations.
            let slot = (self.step / (2 * (rows as i64 + 1))).max(1);
            for (k, kind) in kinds.iter().enumerate() {
                let data = match *kind {
                    "webhook.received" => json!({"source": "front", "event": "inbound_received"}),
                    "route.decided" => json!({
                        "action": route_action, "category": category, "confidence": confidence,
                        "rule": match action { "agent" => "classifier", "canned" => "canned", _ => "system" },
                        "reasons": [format!("{category} request")], "flags": flags,
                    }),
                    "tool.called" => {
                        json!({"tool": if k % 2 == 0 { "lookupUser" } else { "getPurchases" }, "ok": true, "ms": 20 + rng.below(300)})
                    }
                    "llm.call" => {
                        json!({"provider": "offline", "tokens_in": 800 + rng.below(2000), "tokens_out": 120 + rng.below(400)})
                    }
                    "approval.decided" => json!({"decision": approval_state.unwrap_or("approved")}),
                    _ => json!({"ok": true}),
                };
                let actor = match *kind {
                    "webhook.received" | "route.decided" => "system".to_string(),
                    "approval.decided" => rng.pick(AGENTS).to_string(),
                    _ => "agent".to_string(),
                };
                let ev = AuditEvent {
                    kind: kind.to_string(),
                    app: Some(app.to_string()),
                    conversation_id: Some(front_id.clone()),
                    actor,
                    trace_id: Some(trace.clone()),
                    data,
                };
                self.push_audit(&mut audit_table, created + k as i64 * slot, &ev);
            }
        }
        counts.audit = audit_table.rows.len() as u64;
        Chunk {
            tables: vec![conversations, messages, actions, approvals, drafts],
            audit: audit_table,
            counts,
            head: (self.head_seq, self.head_hash.clone()),
        }
    }

    fn push_audit(&mut self, table: &mut Table, at: i64, ev: &AuditEvent) {
        let seq = self.head_seq + 1;
        let canonical = audit::canonical_row(seq, at, ev, &self.head_hash);
        let hash = audit::chain_hash(&self.head_hash, &canonical);
        table.push(vec![
            seq.into(),
            at.into(),
            ev.kind.clone().into(),
            ev.app.clone().into(),
            ev.conversation_id.clone().into(),
            ev.actor.clone().into(),
            ev.trace_id.clone().into(),
            audit::canonical_json(&ev.data).into(),
            std::mem::replace(&mut self.head_hash, hash.clone()).into(),
            hash.into(),
        ]);
        self.head_seq = seq;
    }
}

/// The audit kinds of one conversation, `rows` of them: what its route action produces,
/// padded with the agent's model and tool calls.
pub(super) fn audit_kinds(action: &str, approval: Option<&str>, rows: usize) -> Vec<&'static str> {
    let mut kinds = vec!["webhook.received", "route.decided"];
    match action {
        "silence" => kinds.push("conversation.silenced"),
        "canned" => kinds.push("canned.sent"),
        "escalate" => kinds.extend(["conversation.escalated", "slack.alerted"]),
        _ => {
            kinds.extend([
                "llm.call",
                "tool.called",
                "agent.completed",
                "validate.completed",
            ]);
            if let Some(state) = approval {
                kinds.extend(["gate.decided", "approval.posted"]);
                if state != "pending" {
                    kinds.push("approval.decided");
                }
                if state == "approved" {
                    kinds.push("action.executed");
                }
            }
            kinds.push("draft.created");
        }
    }
    let pad = ["llm.call", "tool.called"];
    let mut k = 0;
    while kinds.len() < rows {
        // Padding goes before the last entry, where the agent's loop would be.
        let at = kinds.len().saturating_sub(1).max(2);
        kinds.insert(at, pad[k % 2]);
        k += 1;
    }
    kinds.truncate(rows);
    kinds
}
