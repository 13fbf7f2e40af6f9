//! The detail of one conversation (`/conversations/{front_id}`): the thread, our drafts (and
//! what was sent, once known), the route decision (rule, reasons, category, confidence), every
//! tool call (arguments, result, latency), actions and approvals (status, idempotency key,
//! refund id, dead letters), the runs with their steps (timings, retries) and the audit entries,
//! read in one assembly ([`support_core::store::DashboardStore::conversation_detail`]), and its
//! SLA clock (priority and who set it, policy, due). Agents get the buttons: re-run, hand over,
//! internal note, and the priority form (`POST /sla/conversations/{id}/priority`).
//!
//! Everything a customer or a model wrote is text (escaped by Leptos); a message's HTML body
//! is never rendered.

use super::HANDOVER_TAGS;
use crate::auth::Viewer;
use crate::ui::{
    self, EmptyState, ErrorPanel, JsonView, Money, Nav, Page, PageError, RelTime, StatusBadge,
    Table,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;
use serde_json::Value;
use support_core::auth::Role;
use support_core::sla::Priority;
use support_core::store::{
    ActionRow, ApprovalRow, AuditRecord, ConversationDetail, ConversationRow, DeadLetter, DraftRow,
    MessageRow, RunStepRow, RunSummary,
};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

/// GET `/conversations/{front_id}`.
pub(super) async fn page(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Response {
    let now = now_ms();
    if id.len() > 200 {
        let e = PageError::bad_request("the conversation id is too long");
        return render(&p, &viewer, "Conversation", error_panel(&e), e.status).await;
    }
    match p.store.conversation_detail(&id).await {
        Err(e) => {
            let e = PageError::from(e);
            e.log();
            render(
                &p,
                &viewer,
                &format!("Conversation {id}"),
                error_panel(&e),
                e.status,
            )
            .await
        }
        Ok(d) => match d.conversation.clone() {
            None => {
                let body = view! {
                    <EmptyState title="No such conversation">
                        "The platform keeps a conversation once Front sent one of its messages. "
                        <a href="/conversations">"Back to the list"</a>
                    </EmptyState>
                }
                .into_any();
                render(
                    &p,
                    &viewer,
                    "No such conversation",
                    body,
                    StatusCode::NOT_FOUND,
                )
                .await
            }
            Some(c) => {
                // The customer's subject is shown in the page, not in the document title (which
                // browsers show outside the page and which a customer must not write).
                let title = format!("Conversation {id}");
                let body = content(&p, &viewer, c, d, now).await;
                render(&p, &viewer, &title, body, StatusCode::OK).await
            }
        },
    }
}

fn error_panel(e: &PageError) -> AnyView {
    let (code, message) = (e.code, e.message.clone());
    view! { <ErrorPanel code=code message=message/> }.into_any()
}

async fn render(
    p: &Platform,
    viewer: &Viewer,
    title: &str,
    body: AnyView,
    status: StatusCode,
) -> Response {
    let mut res = ui::render(
        p,
        viewer,
        Page::new(title, Nav::Conversations, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

async fn content(
    p: &Platform,
    viewer: &Viewer,
    c: ConversationRow,
    d: ConversationDetail,
    now: Millis,
) -> AnyView {
    let status = c.status.to_string();
    let escalation = c.escalation.clone().map(|e| {
        let why = c.escalation_reason.clone().unwrap_or_default();
        view! { <StatusBadge status=e/>" "<span>{why}</span> }
    });
    let audit_link = format!("/audit?conversation={}", super::urlencode(&c.front_id));
    let header = view! {
        <dl class="facts">
            <dt>"Customer"</dt><dd>{c.customer_email.clone().unwrap_or_default()}</dd>
            <dt>"App"</dt><dd>{c.app.clone().unwrap_or_default()}</dd>
            <dt>"Front id"</dt><dd><code>{c.front_id.clone()}</code></dd>
            <dt>"Status"</dt><dd><StatusBadge status=status/></dd>
            <dt>"Escalation"</dt><dd>{escalation}</dd>
            <dt>"Assignee"</dt><dd>{c.assignee.clone().unwrap_or_default()}</dd>
            <dt>"Started"</dt><dd><RelTime at=c.created_at now=now/></dd>
            <dt>"Updated"</dt><dd><RelTime at=c.updated_at now=now/></dd>
        </dl>
    };
    let buttons = buttons(viewer, &c.front_id);
    let sla = sla_section(p, viewer, &c, now).await;
    let route = route_section(&d);
    let thread = thread(&d.messages, now);
    let stale = stale_drafts(p, &d.drafts).await;
    let drafts = drafts(&d.drafts, &stale, now);
    let tools = tool_calls(&d.audit, now);
    let later = match later_on_charges(p, &d.actions).await {
        Ok(rows) => Ok(d
            .audit
            .iter()
            .filter(|a| a.kind == RECONCILED)
            .cloned()
            .chain(rows)
            .collect()),
        Err(e) => Err(e),
    };
    let actions = actions(&d.actions, &d.approvals, &d.dead_letters, later, now);
    let runs = runs(&d.runs, &d.steps, now);
    let audit = audit(&d.audit, now);
    view! {
        {header}
        {buttons}
        <section aria-labelledby="sla"><h2 id="sla">"SLA"</h2>{sla}</section>
        <section aria-labelledby="route"><h2 id="route">"Route decision"</h2>{route}</section>
        <section aria-labelledby="thread"><h2 id="thread">"Thread"</h2>{thread}</section>
        <section aria-labelledby="drafts"><h2 id="drafts">"Our drafts"</h2>{drafts}</section>
        <section aria-labelledby="tools"><h2 id="tools">"Tool calls"</h2>{tools}</section>
        <section aria-labelledby="actions"><h2 id="actions">"Actions and approvals"</h2>{actions}</section>
        <section aria-labelledby="runs"><h2 id="runs">"Runs"</h2>{runs}</section>
        <section aria-labelledby="audit">
            <h2 id="audit">"Audit entries"</h2>
            <p><a href=audit_link>"This conversation in the audit trail"</a></p>
            {audit}
        </section>
    }
    .into_any()
}

fn buttons(viewer: &Viewer, front_id: &str) -> AnyView {
    if !viewer.can(Role::Agent) {
        return view! {
            <p class="muted">"Your role can read this conversation; agents and admins re-run the agent, hand over and add notes."</p>
        }
        .into_any();
    }
    let base = format!("/conversations/{}", super::urlencode(front_id));
    let rerun = format!("{base}/rerun");
    let escalate = format!("{base}/escalate");
    let note = format!("{base}/note");
    let tags = HANDOVER_TAGS
        .iter()
        .map(|t| view! { <option value=*t>{*t}</option> })
        .collect_view();
    view! {
        <section class="actions" aria-label="Actions">
            <form method="post" action=rerun>
                {ui::csrf_field(viewer)}
                <button type="submit">"Re-run the agent"</button>
            </form>
            <form method="post" action=escalate>
                {ui::csrf_field(viewer)}
                <label for="handover-tag">"Hand over as"</label>
                <select id="handover-tag" name="tag">{tags}</select>
                <label for="handover-reason">"Reason"</label>
                <input type="text" id="handover-reason" name="reason" maxlength="2000"/>
                <label for="handover-assignee">"Front teammate id (optional)"</label>
                <input type="text" id="handover-assignee" name="assignee" maxlength="100"/>
                <button type="submit">"Hand over"</button>
            </form>
            <form method="post" action=note>
                {ui::csrf_field(viewer)}
                <label for="note-body">"Internal note (a Front comment)"</label>
                <textarea id="note-body" name="body" rows="3" maxlength="10000" required=true></textarea>
                <button type="submit">"Add note"</button>
            </form>
        </section>
    }
    .into_any()
}

/// The SLA clock's priority (and who set it), policy and due time; agents change the priority
/// with a plain form (CSRF; `support_core::sla::admin::set_priority` on the server).
async fn sla_section(p: &Platform, viewer: &Viewer, c: &ConversationRow, now: Millis) -> AnyView {
    let clock = match p.store.get_sla_clock(&c.front_id).await {
        Ok(clock) => clock,
        Err(e) => return error_panel(&PageError::from(e)),
    };
    let (priority, set_by, policy) = match &clock {
        Some(k) => (
            k.priority,
            k.priority_set_by
                .clone()
                .map_or_else(|| "the route".to_string(), |by| format!("set by {by}")),
            k.policy_id.clone().unwrap_or_else(|| "none applies".into()),
        ),
        None => (
            Priority::Normal,
            "the route (no clock yet)".to_string(),
            "none yet".into(),
        ),
    };
    let due = match c.sla_due_at {
        Some(at) => view! { <RelTime at=at now=now/> }.into_any(),
        None => view! { <span>"nothing running"</span> }.into_any(),
    };
    let form = viewer.can(Role::Agent).then(|| {
        let action = format!(
            "/sla/conversations/{}/priority",
            super::urlencode(&c.front_id)
        );
        let options = Priority::ALL
            .into_iter()
            .map(|o| {
                let selected = o == priority;
                view! { <option value=o.as_str() selected=selected>{o.as_str()}</option> }
            })
            .collect_view();
        view! {
            <form method="post" action=action id="sla-priority">
                {ui::csrf_field(viewer)}
                <label for="sla-priority-value">"Priority"</label>
                <select id="sla-priority-value" name="priority">{options}</select>
                <button type="submit">"Set priority"</button>
            </form>
        }
    });
    view! {
        <dl class="facts">
            <dt>"Priority"</dt><dd id="sla-priority-current">{priority.as_str()}" ("{set_by}")"</dd>
            <dt>"Policy"</dt><dd>{policy}</dd>
            <dt>"Due"</dt><dd>{due}</dd>
        </dl>
        {form}
    }
    .into_any()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn route_section(d: &ConversationDetail) -> AnyView {
    let decided = d.audit.iter().rev().find(|a| a.kind == "route.decided");
    match (decided, &d.route) {
        (Some(a), _) => {
            let v = &a.data;
            let action = v["action"].as_str().unwrap_or_default().to_string();
            let category = v["category"].as_str().unwrap_or_default().to_string();
            let confidence = v["confidence"]
                .as_f64()
                .map(|c| format!("{:.0}%", c * 100.0))
                .unwrap_or_else(|| "unknown".into());
            let rule = v["rule"].as_str().unwrap_or_default().to_string();
            let flags = strings(&v["flags"]).join(", ");
            let reasons = strings(&v["reasons"])
                .into_iter()
                .map(|r| view! { <li>{r}</li> })
                .collect_view();
            let run = a.trace_id.clone().unwrap_or_default();
            view! {
                <dl class="facts">
                    <dt>"Action"</dt><dd><StatusBadge status=action/></dd>
                    <dt>"Rule"</dt><dd><code>{rule}</code></dd>
                    <dt>"Category"</dt><dd>{category}</dd>
                    <dt>"Confidence"</dt><dd>{confidence}</dd>
                    <dt>"Flags"</dt><dd>{flags}</dd>
                    <dt>"Run"</dt><dd><code>{run}</code></dd>
                </dl>
                <h3>"Reasons"</h3>
                <ul class="reasons">{reasons}</ul>
            }
            .into_any()
        }
        (None, Some(r)) => {
            let action = r.action.to_string();
            let category = r.category.clone();
            let flags = r.flags.join(", ");
            view! {
                <dl class="facts">
                    <dt>"Action"</dt><dd><StatusBadge status=action/></dd>
                    <dt>"Category"</dt><dd>{category}</dd>
                    <dt>"Flags"</dt><dd>{flags}</dd>
                </dl>
                <p class="muted">"The rule and reasons are in an audit entry older than the ones shown here."</p>
            }
            .into_any()
        }
        (None, None) => view! {
            <p class="muted">"Not routed yet: the route step records its decision here when a run reaches it."</p>
        }
        .into_any(),
    }
}

fn thread(messages: &[MessageRow], now: Millis) -> AnyView {
    if messages.is_empty() {
        return view! { <p class="muted">"No messages kept for this conversation."</p> }.into_any();
    }
    messages
        .iter()
        .map(|m| {
            let direction = m.direction.to_string();
            let class = format!("message message-{direction}");
            let author = m.author.clone().unwrap_or_else(|| "(unknown)".into());
            let body = match (&m.body, m.purged_at) {
                (Some(b), _) => view! { <pre class="message-body">{b.clone()}</pre> }.into_any(),
                (None, Some(at)) => view! {
                    <p class="muted">"Body purged by retention "<RelTime at=at now=now/></p>
                }
                .into_any(),
                (None, None) => view! { <p class="muted">"(no body)"</p> }.into_any(),
            };
            view! {
                <article class=class>
                    <header>
                        <strong>{author}</strong>" "<span class="muted">{direction}</span>" "
                        <RelTime at=m.sent_at now=now/>
                    </header>
                    {body}
                </article>
            }
        })
        .collect_view()
        .into_any()
}

/// The runs whose unsent draft cites an article version that has since changed (the store marks
/// them when the article gets a new version). A failing read shows no mark, logged.
async fn stale_drafts(p: &Platform, drafts: &[DraftRow]) -> std::collections::HashSet<String> {
    let mut stale = std::collections::HashSet::new();
    for d in drafts.iter().filter(|d| d.sent_at.is_none()) {
        match p.store.draft_stale(&d.run_id).await {
            Ok(true) => {
                stale.insert(d.run_id.clone());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(cause = %e, "draft staleness not read"),
        }
    }
    stale
}

fn drafts(drafts: &[DraftRow], stale: &std::collections::HashSet<String>, now: Millis) -> AnyView {
    if drafts.is_empty() {
        return view! {
            <p class="muted">"No draft recorded: the agent writes one when it answers (silenced and escalated conversations get none)."</p>
        }
        .into_any();
    }
    drafts
        .iter()
        .map(|d| {
            let sent = match (&d.sent_text, d.sent_at) {
                (Some(text), Some(at)) => {
                    let same = text.trim() == d.text.trim();
                    let note = if same {
                        "sent as drafted"
                    } else {
                        "edited before sending"
                    };
                    view! {
                        <h4>"What was sent "<RelTime at=at now=now/>" ("{note}")"</h4>
                        <pre class="message-body">{text.clone()}</pre>
                        {(!same).then(|| sent_diff(&d.text, text))}
                    }
                    .into_any()
                }
                _ => view! { <p class="muted">"What was sent is not known yet."</p> }.into_any(),
            };
            let sources = d.knowledge_sources.clone();
            let n = sources.as_array().map_or(0, Vec::len);
            let sources = (n > 0).then(
                || view! { <JsonView value=sources summary=format!("{n} knowledge sources")/> },
            );
            let stale = stale.contains(&d.run_id).then(|| {
                view! {
                    <p class="draft-stale">
                        <StatusBadge status="stale"/>
                        " A knowledge article this draft cites has changed since it was written: check it before sending."
                    </p>
                }
            });
            view! {
                <article class="draft">
                    <header>
                        "Run "<code>{d.run_id.clone()}</code>" · Front draft "
                        <code>{d.front_draft_id.clone().unwrap_or_default()}</code>" · "
                        <RelTime at=d.created_at now=now/>
                    </header>
                    {stale}
                    <pre class="message-body draft-text">{d.text.clone()}</pre>
                    {sources}
                    {sent}
                </article>
            }
        })
        .collect_view()
        .into_any()
}

/// Our draft against what was sent, word by word (`similar`): removed words in `<del>`, added
/// ones in `<ins>`; every part is text, so escaped.
fn sent_diff(draft: &str, sent: &str) -> AnyView {
    let diff = similar::TextDiff::from_words(draft, sent);
    let parts = diff
        .iter_all_changes()
        .map(|c| {
            let text = c.value().to_string();
            match c.tag() {
                similar::ChangeTag::Delete => view! { <del>{text}</del> }.into_any(),
                similar::ChangeTag::Insert => view! { <ins>{text}</ins> }.into_any(),
                similar::ChangeTag::Equal => view! { <span>{text}</span> }.into_any(),
            }
        })
        .collect_view();
    view! {
        <h4>"Our draft → what was sent"</h4>
        <pre class="diff sent-diff">{parts}</pre>
    }
    .into_any()
}

fn tool_calls(audit: &[AuditRecord], now: Millis) -> AnyView {
    let calls: Vec<&AuditRecord> = audit.iter().filter(|a| a.kind == "tool.called").collect();
    if calls.is_empty() {
        return view! { <p class="muted">"No tool calls recorded."</p> }.into_any();
    }
    let rows = calls
        .into_iter()
        .map(|a| {
            let v = &a.data;
            let tool = v["tool"].as_str().unwrap_or_default().to_string();
            let ok = if v["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "failed"
            };
            let ms = v["duration_ms"]
                .as_i64()
                .map(|m| format!("{m} ms"))
                .unwrap_or_default();
            let args = v["args"].clone();
            let result = if v["ok"].as_bool() == Some(true) {
                v["result"].clone()
            } else {
                v["error"].clone()
            };
            view! {
                <tr>
                    <td><RelTime at=a.at now=now/></td>
                    <td><code>{tool}</code></td>
                    <td><StatusBadge status=ok/></td>
                    <td>{ms}</td>
                    <td><JsonView value=args/></td>
                    <td><JsonView value=result/></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table head=vec!["When", "Tool", "Result", "Latency", "Arguments", "Answer"] caption="Tool calls">
            {rows}
        </Table>
    }
    .into_any()
}

/// The audit kinds of what happened to an action's charge later, as Stripe told us.
const RECONCILED: &str = "stripe.refund_reconciled";
const DISPUTED: &str = "stripe.dispute_created";
const REFUNDED_OUTSIDE: &str = "stripe.refund_external";
/// How many of a kind's newest entries are searched for a charge.
const CHARGE_SCAN: i64 = 5_000;

/// The charge an action works on (`chargeId` of its parameters).
fn charge_of(a: &ActionRow) -> Option<&str> {
    a.params["chargeId"].as_str().filter(|c| !c.is_empty())
}

/// What Stripe reported later about the charges of these actions and that is not filed under
/// the conversation: a dispute (`charge.dispute.created`) and refunds made outside the
/// platform (`charge.refunded` without our key). The newest of each per charge, looked up by
/// the charge id among the newest entries of the kind (a charge of the platform's own account
/// is filed under no app). (Reconciliations of our own
/// refunds carry the conversation and come with its audit entries.)
async fn later_on_charges(
    p: &Platform,
    actions: &[ActionRow],
) -> Result<Vec<AuditRecord>, PageError> {
    let mut charges: Vec<&str> = Vec::new();
    for a in actions {
        if let Some(c) = charge_of(a)
            && !charges.contains(&c)
        {
            charges.push(c);
        }
    }
    let mut out = Vec::new();
    for charge in charges.into_iter().take(10) {
        let needle = format!("\"{charge}\"");
        for kind in [DISPUTED, REFUNDED_OUTSIDE] {
            if let Some(r) = p
                .store
                .latest_audit_of(kind, None, Some(&needle), CHARGE_SCAN)
                .await?
                && r.data["charge"].as_str() == Some(charge)
            {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// One line of what happened to an action after it ran: Stripe confirming (or reversing) our
/// refund, a dispute of the charge, a refund made outside the platform.
fn later_line(a: &ActionRow, r: &AuditRecord, now: Millis) -> Option<AnyView> {
    let d = &r.data;
    let money = |cents: &Value| {
        cents.as_i64().map(|c| {
            support_core::payments::format_amount(c, d["currency"].as_str().unwrap_or("usd"))
        })
    };
    let text = |v: &Value| v.as_str().unwrap_or("unknown").to_string();
    let (state, what) = match r.kind.as_str() {
        RECONCILED if d["action_id"].as_str() == Some(a.id.as_str()) => {
            let refund_status = text(&d["refund_status"]);
            match refund_status.as_str() {
                "failed" | "canceled" => (
                    "failed",
                    format!(
                        "Reversed: Stripe reports refund {} {refund_status} (charge.refunded); the money did not go back to the customer",
                        text(&d["refund_id"])
                    ),
                ),
                _ => (
                    match d["outcome"].as_str() {
                        Some("confirmed") => "executed",
                        _ => "expired",
                    },
                    format!(
                        "Stripe reported refund {} of {} {refund_status} (charge.refunded): {}",
                        text(&d["refund_id"]),
                        money(&d["amount_cents"]).unwrap_or_default(),
                        text(&d["outcome"]).replace('_', " ")
                    ),
                ),
            }
        }
        DISPUTED if d["charge"].as_str() == charge_of(a) => {
            let due = d["due_by"]
                .as_i64()
                .map(|s| format!(", evidence due {}", ui::absolute_time(s * 1000)))
                .unwrap_or_default();
            (
                "failed",
                format!(
                    "Disputed: the customer disputed {} of charge {} ({}, {}{due}); dispute {}",
                    money(&d["amount_cents"]).unwrap_or_default(),
                    text(&d["charge"]),
                    text(&d["reason"]),
                    text(&d["status"]).replace('_', " "),
                    text(&d["dispute_id"])
                ),
            )
        }
        REFUNDED_OUTSIDE if d["charge"].as_str() == charge_of(a) => {
            let refunds: Vec<String> = d["refunds"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| {
                            format!(
                                "{} {}",
                                text(&x["refund_id"]),
                                money(&x["amount_cents"]).unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                "expired",
                format!(
                    "Refunded outside the platform on charge {}: {}",
                    text(&d["charge"]),
                    if refunds.is_empty() {
                        "amount unknown".to_string()
                    } else {
                        refunds.join(", ")
                    }
                ),
            )
        }
        _ => return None,
    };
    let label = match state {
        "failed" => "reversed",
        "executed" => "confirmed",
        _ => "note",
    };
    let label = if r.kind == DISPUTED {
        "disputed"
    } else {
        label
    };
    Some(
        view! {
            <li class="later">
                <span class=format!("badge badge-{state}")>{label}</span>" "{what}" "
                <RelTime at=r.at now=now/>" "<span class="muted">"(audit #"{r.seq}")"</span>
            </li>
        }
        .into_any(),
    )
}

fn refund_id(a: &ActionRow) -> Option<String> {
    let r = a.result.as_ref()?;
    r["refundId"]
        .as_str()
        .or_else(|| r["refund"]["id"].as_str())
        .map(str::to_string)
}

fn actions(
    actions: &[ActionRow],
    approvals: &[ApprovalRow],
    letters: &[DeadLetter],
    later: Result<Vec<AuditRecord>, PageError>,
    now: Millis,
) -> AnyView {
    if actions.is_empty() {
        return view! { <p class="muted">"No actions: the agent proposed nothing that changes the customer's account or money."</p> }
            .into_any();
    }
    let rows = actions
        .iter()
        .map(|a| {
            let approval = approvals
                .iter()
                .rev()
                .find(|ap| ap.action_id == a.id)
                .map(|ap| approval_cell(ap, now));
            let letters = letters
                .iter()
                .filter(|l| l.ref_id == a.id)
                .map(|l| {
                    let state = if l.resolved_at.is_some() {
                        "resolved"
                    } else {
                        "open"
                    };
                    let text = format!("dead letter {}: {} ({state})", l.id, l.error);
                    view! { <div class="muted">{text}</div> }
                })
                .collect_view();
            let kind = a.kind.to_string();
            let status = a.status.to_string();
            let refund = refund_id(a).map(|r| view! { <code>{r}</code> });
            let later_view = match &later {
                Ok(rows) => {
                    let lines: Vec<AnyView> =
                        rows.iter().filter_map(|r| later_line(a, r, now)).collect();
                    (!lines.is_empty())
                        .then(|| view! { <ul class="later-list">{lines}</ul> }.into_any())
                }
                Err(e) => Some(error_panel(e)),
            };
            let error = a.error.clone().unwrap_or_default();
            let params = a.params.clone();
            view! {
                <tr>
                    <td><RelTime at=a.created_at now=now/></td>
                    <td><code>{kind}</code><JsonView value=params summary="parameters"/></td>
                    <td><StatusBadge status=status/><div>{error}</div>{letters}</td>
                    <td><code>{a.idempotency_key.clone()}</code></td>
                    <td>{refund}{later_view}</td>
                    <td>{approval}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table head=vec!["Proposed", "Action", "Status", "Idempotency key", "Refund and later", "Approval"] caption="Actions">
            {rows}
        </Table>
    }
    .into_any()
}

fn approval_cell(ap: &ApprovalRow, now: Millis) -> impl IntoView + use<> {
    let status = ap.status.to_string();
    let href = format!("/approvals/{}", ap.id);
    let money = match (ap.amount_cents, ap.currency.clone()) {
        (Some(minor), Some(currency)) => Some(view! { <Money minor=minor currency=currency/> }),
        _ => None,
    };
    let decided = ap.decided_by.clone().map(|by| {
        let reason = ap.reason.clone().unwrap_or_default();
        view! { <div class="muted">{format!("by {by}")}" "{reason}</div> }
    });
    let expires = (ap.status == "pending")
        .then(|| view! { <div class="muted">"expires "<RelTime at=ap.expires_at now=now/></div> });
    view! {
        <a href=href><StatusBadge status=status/></a>" "{money}{decided}{expires}
    }
}

fn duration(from: Option<Millis>, to: Option<Millis>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => format!("{} ms", b - a),
        _ => String::new(),
    }
}

fn runs(runs: &[RunSummary], steps: &[RunStepRow], now: Millis) -> AnyView {
    if runs.is_empty() {
        return view! { <p class="muted">"No runs recorded for this conversation."</p> }.into_any();
    }
    runs.iter()
        .map(|r| {
            let status = r.status.to_string();
            let took = duration(r.started_at, r.ended_at);
            let retries = format!("{} retries", r.attempt);
            let error = r.error.clone().map(|e| view! { <div class="muted">{e}</div> });
            let rows = steps
                .iter()
                .filter(|s| s.run_id == r.id)
                .map(|s| {
                    let st = s.status.to_string();
                    let took = duration(Some(s.started_at), Some(s.ended_at));
                    let err = s.error.clone().map(|e| view! { <JsonView value=e summary="error"/> });
                    view! {
                        <tr>
                            <td><code>{s.name.clone()}</code></td>
                            <td>{s.kind.to_string()}</td>
                            <td><StatusBadge status=st/></td>
                            <td>{s.attempt}</td>
                            <td><RelTime at=s.started_at now=now/></td>
                            <td>{took}</td>
                            <td>{err}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <article class="run">
                    <header>
                        "Run "<code>{r.id.clone()}</code>" "<StatusBadge status=status/>" · "
                        {r.function_id.clone()}" · "{retries}" · started "<RelTime at=r.created_at now=now/>" · "{took}
                    </header>
                    {error}
                    <Table head=vec!["Step", "Kind", "Status", "Attempt", "Started", "Took", "Error"] caption="Steps">
                        {rows}
                    </Table>
                </article>
            }
        })
        .collect_view()
        .into_any()
}

fn audit(entries: &[AuditRecord], now: Millis) -> AnyView {
    if entries.is_empty() {
        return view! { <p class="muted">"No audit entries for this conversation."</p> }.into_any();
    }
    let rows = entries
        .iter()
        .map(|a| {
            let data = a.data.clone();
            view! {
                <tr>
                    <td>{a.seq}</td>
                    <td><RelTime at=a.at now=now/></td>
                    <td><code>{a.kind.clone()}</code></td>
                    <td>{a.actor.clone()}</td>
                    <td><code>{a.trace_id.clone().unwrap_or_default()}</code></td>
                    <td><JsonView value=data/></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table head=vec!["#", "When", "Kind", "Actor", "Run", "Data"] caption="Audit entries">
            {rows}
        </Table>
    }
    .into_any()
}
