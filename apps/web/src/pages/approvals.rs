//! Approvals: `/approvals` (pending first, oldest waiting on top; then decided, most recent
//! first, with a cursor pager) and `/approvals/{id}` (the action, the money at stake, the
//! approvers so far, the time left, and the forms: approve, reject with a reason, approve with
//! edits). The forms POST to `/approvals/{id}/approve|reject|edit`, which decide through
//! [`crate::approvals::decide`] ([`support_host::Platform::decide`]), the one decision function
//! of Slack, the JSON API and the CLI; the principal is the session's user.
//!
//! A stale form (the approval was decided or expired meanwhile, or the CSRF token is no longer
//! valid) answers the detail page as it is now, with an error panel saying what happened.
//! Viewers see no forms, and their forged POSTs are refused (`403 forbidden`, audited as
//! `approval.refused`).

use crate::auth::{Viewer, csrf};
use crate::ui::{
    self, EmptyState, ErrorPanel, JsonView, Nav, Page, PageAt, PageError, PageKeys, Pager, RelTime,
    StatusBadge, Table,
};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use support_core::approvals::{format_money, parse_money};
use support_core::audit::AuditEvent;
use support_core::auth::{Principal, Role};
use support_core::decision::{Decision, DecisionError, Outcome, Verdict};
use support_core::store::{
    ActionRow, ApprovalRow, ApprovalVote, ApprovalsQuery, Store, StoreError,
};
use support_core::time::{Millis, now_ms};
use support_host::Platform;
use support_web_islands::{Countdown, LiveFilter};

/// Rows per section.
const PAGE: i64 = 50;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/approvals", get(list))
        .route("/approvals/{id}", get(detail))
        .route("/approvals/{id}/{verdict}", post(decide))
}

/// One approval with what the page shows about it.
pub struct Item {
    pub approval: ApprovalRow,
    pub action: Option<ActionRow>,
    pub votes: Vec<ApprovalVote>,
    pub app_name: Option<String>,
}

impl Item {
    /// The charge a refund goes to (`chargeId` of the action), when there is one.
    pub fn charge(&self) -> Option<String> {
        self.action
            .as_ref()
            .and_then(|a| a.params["chargeId"].as_str().map(str::to_string))
    }

    pub fn tool(&self) -> String {
        self.action
            .as_ref()
            .map(|a| a.kind.to_string())
            .unwrap_or_else(|| "unknown action".into())
    }

    /// The money at stake, formatted (`$179.00`).
    pub fn money(&self) -> Option<String> {
        self.approval
            .amount_cents
            .map(|c| format_money(c, self.approval.currency.as_deref()))
    }

    /// What the approve button says: the amount and the target when money moves.
    pub fn approve_label(&self) -> String {
        match (self.money(), self.charge()) {
            (Some(m), Some(c)) => format!("Approve: refund {m} to {c}"),
            (Some(m), None) => format!("Approve: {} of {m}", self.tool()),
            _ => format!("Approve: run {}", self.tool()),
        }
    }
}

/// The actions, votes and app names of `approvals`, in three queries.
pub async fn items(
    store: &dyn Store,
    approvals: Vec<ApprovalRow>,
) -> Result<Vec<Item>, StoreError> {
    let action_ids: Vec<String> = approvals.iter().map(|a| a.action_id.clone()).collect();
    let ids: Vec<String> = approvals.iter().map(|a| a.id.clone()).collect();
    let actions = store.actions_by_ids(&action_ids).await?;
    let votes = store.votes_of_approvals(&ids).await?;
    let apps: HashMap<String, String> = store
        .list_apps()
        .await?
        .into_iter()
        .map(|a| (a.slug, a.name))
        .collect();
    Ok(approvals
        .into_iter()
        .map(|approval| {
            let action = actions.iter().find(|x| x.id == approval.action_id).cloned();
            let app_name = action
                .as_ref()
                .and_then(|x| x.app.as_ref())
                .and_then(|s| apps.get(s).cloned());
            let votes = votes
                .iter()
                .filter(|v| v.approval_id == approval.id)
                .cloned()
                .collect();
            Item {
                approval,
                action,
                votes,
                app_name,
            }
        })
        .collect())
}

/// `1 of 2 approvals (a, b)`.
fn progress(item: &Item) -> String {
    let required = item.approval.approvers_required.max(1);
    let names: Vec<&str> = item.votes.iter().map(|v| v.approver.as_str()).collect();
    let mut s = format!("{} of {required}", names.len().min(required as usize));
    if !names.is_empty() {
        s.push_str(&format!(" ({})", names.join(", ")));
    }
    s
}

/// The pending list's cursors (oldest first: down is later).
const PENDING_KEYS: PageKeys = PageKeys {
    prev: "pending_before",
    next: "pending_after",
};

/// One section of the queue: its page (at most [`PAGE`] rows) and its pager links.
async fn section(
    store: &dyn Store,
    query: &[(String, String)],
    app: Option<&String>,
    decided: bool,
) -> Result<(Vec<Item>, bool, Option<String>, Option<String>), StoreError> {
    let keys = if decided {
        PageKeys::NEWEST_FIRST
    } else {
        PENDING_KEYS
    };
    let at = keys.page_at(query);
    let rows = store
        .approvals_list(&ApprovalsQuery {
            decided,
            app: app.cloned(),
            page: ui::list_page(&at),
            limit: PAGE + 1,
        })
        .await?;
    let (rows, more) = ui::take_page(rows, PAGE as usize, &at);
    let key = |a: &ApprovalRow| {
        let at = if decided {
            a.decided_at.unwrap_or(a.created_at)
        } else {
            a.created_at
        };
        ui::time_cursor_text(at, &a.id)
    };
    let (prev, next) = ui::pager_links(
        "/approvals",
        query,
        keys,
        &at,
        rows.first().map(key),
        rows.last().map(key),
        more,
    );
    let paged = at != PageAt::First;
    Ok((items(store, rows).await?, paged, prev, next))
}

async fn list(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let now = now_ms();
    let store = p.store.as_ref();
    // The top bar's app filter (`?app=`) narrows both sections.
    let app = viewer.app.as_ref();
    // Each section renders on its own: a failure shows its error panel, the rest stays.
    let pending = section(store, &query, app, false).await;
    let decided = section(store, &query, app, true).await;
    let pending_view = match pending {
        Ok((items, false, _, _)) if items.is_empty() => view! {
            <EmptyState title="Nothing waits for a decision">
                "When the agent proposes a risky action (a refund past the automatic window, a transfer), it waits here and in Slack until an approver decides."
            </EmptyState>
        }
        .into_any(),
        Ok((items, _, prev, next)) => {
            let rows = items.iter().map(|i| pending_row(i, now)).collect_view();
            view! {
                <LiveFilter target="pending-approvals".to_string() label="Filter pending".to_string()/>
                <div id="pending-approvals">
                    <Table head=vec!["Action", "App", "Amount", "Approvals", "Expires", "Waiting since"] caption="Pending approvals">
                        {rows}
                    </Table>
                </div>
                {(prev.is_some() || next.is_some()).then(|| view! {
                    <Pager newer=prev older=next prev_label="← Earlier" next_label="Later →"/>
                })}
            }
            .into_any()
        }
        Err(e) => section_error(e),
    };
    let decided_view = match decided {
        Ok((items, false, _, _)) if items.is_empty() => view! {
            <EmptyState title="No decided approvals yet">
                "Approved, rejected and expired requests appear here with who decided and why."
            </EmptyState>
        }
        .into_any(),
        Ok((items, _, newer, older)) => {
            let rows = items.iter().map(|i| decided_row(i, now)).collect_view();
            view! {
                <Table head=vec!["Action", "App", "Amount", "Status", "Decided by", "Reason", "Decided"] caption="Decided approvals">
                    {rows}
                </Table>
                <Pager newer=newer older=older/>
            }
            .into_any()
        }
        Err(e) => section_error(e),
    };
    let filtered = viewer.app.clone().map(|a| {
        view! { <p class="muted">"Approvals of "<strong>{a}</strong>" only (the app filter above)."</p> }
    });
    let body = view! {
        {filtered}
        <section aria-labelledby="pending-h">
            <h2 id="pending-h">"Pending"</h2>
            {pending_view}
        </section>
        <section aria-labelledby="decided-h">
            <h2 id="decided-h">"Decided"</h2>
            {decided_view}
        </section>
    };
    ui::render(&p, &viewer, Page::new("Approvals", Nav::Approvals, body)).await
}

/// A section that could not be read: its error panel (the cause is logged).
pub fn section_error(e: StoreError) -> AnyView {
    let err = PageError::from(e);
    err.log();
    view! { <ErrorPanel code=err.code message=err.message/> }.into_any()
}

fn action_cell(i: &Item) -> impl IntoView + use<> {
    let href = format!("/approvals/{}", i.approval.id);
    let label = i.tool();
    let conv = i
        .action
        .as_ref()
        .and_then(|a| a.conversation_id.clone())
        .map(|c| {
            let h = format!("/conversations/{c}");
            view! { <div class="muted"><a href=h>{c}</a></div> }
        });
    view! { <td><a href=href>{label}</a>{conv}</td> }
}

fn pending_row(i: &Item, now: Millis) -> impl IntoView + use<> {
    let app = i.app_name.clone().unwrap_or_default();
    let amount = i.money().unwrap_or_else(|| "—".into());
    let expires = i.approval.expires_at;
    view! {
        <tr>
            {action_cell(i)}
            <td>{app}</td>
            <td class="money">{amount}</td>
            <td>{progress(i)}</td>
            <td title=ui::absolute_time(expires)><Countdown expires_at=expires now=now/></td>
            <td><RelTime at=i.approval.created_at now=now/></td>
        </tr>
    }
}

fn decided_row(i: &Item, now: Millis) -> impl IntoView + use<> {
    let app = i.app_name.clone().unwrap_or_default();
    let amount = i.money().unwrap_or_else(|| "—".into());
    let status = i.approval.status.to_string();
    let by = i.approval.decided_by.clone().unwrap_or_default();
    let reason = i.approval.reason.clone().unwrap_or_default();
    let at = i.approval.decided_at.unwrap_or(i.approval.created_at);
    view! {
        <tr>
            {action_cell(i)}
            <td>{app}</td>
            <td class="money">{amount}</td>
            <td><StatusBadge status=status/></td>
            <td>{by}</td>
            <td>{reason}</td>
            <td><RelTime at=at now=now/></td>
        </tr>
    }
}

/// The approval `id` (or the approval of action `id`) with its action, votes and app name.
async fn load(store: &dyn Store, id: &str) -> Result<Option<Item>, StoreError> {
    let approval = match store.get_approval(id).await? {
        Some(a) => Some(a),
        None => store.approval_for_action(id).await?,
    };
    let Some(approval) = approval else {
        return Ok(None);
    };
    Ok(items(store, vec![approval]).await?.pop())
}

async fn detail(viewer: Viewer, State(p): State<Platform>, Path(id): Path<String>) -> Response {
    detail_page(&p, &viewer, &id, None, StatusCode::OK).await
}

/// What a refused or stale form tells the user above the current state.
struct Notice {
    code: &'static str,
    message: String,
}

/// The detail page of approval `id` as it is now, with `notice` (an error panel) on top.
async fn detail_page(
    p: &Platform,
    viewer: &Viewer,
    id: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let item = match load(p.store.as_ref(), id).await {
        Ok(Some(item)) => item,
        Ok(None) => return PageError::not_found(format!("approval {id}")).into_response(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let now = now_ms();
    let notice = notice.map(|n| view! { <ErrorPanel code=n.code message=n.message/> });
    let title = format!("Approval: {}", item.tool());
    let body = view! {
        <p><a href="/approvals">"← Approvals"</a></p>
        {notice}
        {summary(&item, now)}
        {forms(&item, viewer)}
    };
    let mut res = ui::render(
        p,
        viewer,
        Page::new(title, Nav::Approvals, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    res
}

fn summary(i: &Item, now: Millis) -> impl IntoView + use<> {
    let a = &i.approval;
    let status = a.status.to_string();
    let pending = a.status == "pending";
    let expiry = if pending {
        view! { <Countdown expires_at=a.expires_at now=now/> }.into_any()
    } else {
        "—".into_any()
    };
    let expires_title = ui::absolute_time(a.expires_at);
    let conv = i
        .action
        .as_ref()
        .and_then(|x| x.conversation_id.clone())
        .map(|c| {
            let h = format!("/conversations/{c}");
            view! { <a href=h>{c}</a> }
        });
    let reasoning = i
        .action
        .as_ref()
        .and_then(|x| x.reasoning.clone())
        .unwrap_or_default();
    let params = i
        .action
        .as_ref()
        .map(|x| x.params.clone())
        .unwrap_or_default();
    let action_status = i
        .action
        .as_ref()
        .map(|x| x.status.to_string())
        .unwrap_or_default();
    let result = i.action.as_ref().and_then(|x| x.result.clone());
    let error = i.action.as_ref().and_then(|x| x.error.clone());
    let draft = a.draft.clone();
    view! {
        <dl class="facts">
            <dt>"Status"</dt><dd><StatusBadge status=status/></dd>
            <dt>"Action"</dt><dd>{i.tool()}" "<StatusBadge status=action_status/></dd>
            <dt>"App"</dt><dd>{i.app_name.clone().unwrap_or_default()}</dd>
            <dt>"Conversation"</dt><dd>{conv}</dd>
            <dt>"Amount"</dt><dd class="money">{i.money().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Charge"</dt><dd><code>{i.charge().unwrap_or_else(|| "—".into())}</code></dd>
            <dt>"Approvals"</dt><dd>{progress(i)}</dd>
            <dt>"Expires"</dt><dd title=expires_title>{expiry}</dd>
            <dt>"Requested"</dt><dd><RelTime at=a.created_at now=now/></dd>
            <dt>"Decided by"</dt><dd>{a.decided_by.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Reason"</dt><dd>{a.reason.clone().unwrap_or_else(|| "—".into())}</dd>
        </dl>
        <h2>"Why"</h2>
        <p>{reasoning}</p>
        <h2>"Arguments"</h2>
        <JsonView value=params/>
        {result.map(|r| view! { <h2>"Result"</h2><JsonView value=r/> })}
        {error.map(|e| view! { <h2>"Error"</h2><p>{e}</p> })}
        {draft.map(|d| view! { <h2>"Reply to the customer"</h2><pre class="draft">{d}</pre> })}
    }
}

/// The decision forms, for agents and admins while the approval is pending.
fn forms(i: &Item, viewer: &Viewer) -> AnyView {
    let a = &i.approval;
    if a.status != "pending" {
        return view! { <p class="muted">"This approval is decided; nothing more to do here."</p> }
            .into_any();
    }
    if !viewer.can(Role::Agent) {
        return view! { <p class="muted">"Your role (viewer) can read approvals; agents and admins decide them."</p> }
            .into_any();
    }
    let base = format!("/approvals/{}", a.id);
    let approve = format!("{base}/approve");
    let reject = format!("{base}/reject");
    let edit = format!("{base}/edit");
    let label = i.approve_label();
    let already_voted = !i.votes.is_empty();
    let amount_field = a.amount_cents.filter(|_| !already_voted).map(|max| {
        let money = format_money(max, a.currency.as_deref());
        let current =
            support_core::payments::major_units(max, a.currency.as_deref().unwrap_or("usd"));
        let hint = match i.charge() {
            Some(c) => format!("At most {money}, what is left on {c}."),
            None => format!("At most {money}."),
        };
        view! {
            <label for="f-amount">"Amount"</label>
            <input type="text" id="f-amount" name="amount" value=current inputmode="decimal"/>
            <p class="muted">{hint}</p>
        }
    });
    let draft = a.draft.clone().unwrap_or_default();
    view! {
        <h2>"Decide"</h2>
        <form method="post" action=approve class="decide">
            {ui::csrf_field(viewer)}
            <button type="submit" class="primary">{label}</button>
        </form>
        <form method="post" action=reject class="decide">
            {ui::csrf_field(viewer)}
            <label for="f-reason">"Reason"</label>
            <textarea id="f-reason" name="reason" required=true maxlength="1000" rows="2"></textarea>
            <button type="submit" class="danger">"Reject"</button>
        </form>
        <details>
            <summary>"Approve with edits"</summary>
            <form method="post" action=edit class="decide">
                {ui::csrf_field(viewer)}
                {amount_field}
                <label for="f-draft">"Reply text"</label>
                <textarea id="f-draft" name="draft" rows="6" maxlength="20000">{draft}</textarea>
                <button type="submit">"Approve with these edits"</button>
            </form>
        </details>
    }
    .into_any()
}

/// The fields of the decision forms.
#[derive(Debug, Default, Deserialize)]
pub struct DecisionForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    reason: Option<String>,
    draft: Option<String>,
    amount: Option<String>,
}

async fn decide(
    viewer: Viewer,
    State(p): State<Platform>,
    Path((id, verdict)): Path<(String, String)>,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        "edit" => Verdict::Edit,
        _ => return PageError::not_found("this page").into_response(),
    };
    let Ok(Form(form)) = form else {
        return PageError::bad_request("the form could not be read").into_response();
    };
    // A stale or forged token: nothing is decided; the page shows the approval as it is now.
    if let Err(e) = csrf::verify(&viewer, form.csrf.as_deref()) {
        return detail_page(
            &p,
            &viewer,
            &id,
            Some(Notice {
                code: e.code,
                message: e.message,
            }),
            e.status,
        )
        .await;
    }
    if let Err(e) = viewer.require(Role::Agent) {
        let ev = AuditEvent::new(
            "approval.refused",
            viewer.actor(),
            json!({"code": "forbidden", "id": id.chars().take(64).collect::<String>(),
                   "verdict": verdict, "role": viewer.role, "channel": "dashboard", "via": "session"}),
        );
        if let Err(err) = p.store.append_audit(&ev).await {
            tracing::error!(cause = %err, "cannot audit a refused dashboard decision");
        }
        return e.into_response();
    }
    let reason = form
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if verdict == Verdict::Reject && reason.is_none() {
        return detail_page(
            &p,
            &viewer,
            &id,
            Some(Notice {
                code: "reason_required",
                message: "Say why you reject it: the reason is recorded and shown to the team."
                    .into(),
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let amount_cents = match form
        .amount
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(text) => match parse_money(text) {
            Some(c) => Some(c),
            None => {
                return detail_page(
                    &p,
                    &viewer,
                    &id,
                    Some(Notice {
                        code: "invalid_edit",
                        message: format!("{text:.40} is not an amount (use 12.50)."),
                    }),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    // Only a changed amount is an edit: the form repeats the current one.
    let amount_cents = match (verdict, amount_cents) {
        (Verdict::Edit, Some(c)) => match load(p.store.as_ref(), &id).await {
            Ok(Some(i)) if i.approval.amount_cents == Some(c) => None,
            _ => Some(c),
        },
        _ => None,
    };
    let draft = match verdict {
        Verdict::Edit => form.draft.map(|d| d.replace("\r\n", "\n")),
        _ => None,
    };
    let d = Decision {
        id: id.clone(),
        verdict,
        approver: viewer.actor(),
        principal: Principal::Session {
            user_id: viewer.user_id.clone(),
        },
        claimed_actor: None,
        reason,
        channel: support_core::store::DecisionChannel::Dashboard,
        params: None,
        draft,
        amount_cents,
    };
    match crate::approvals::decide(&p, &d).await {
        Ok(outcome) => {
            let back = format!("/approvals/{id}");
            let flash = match &outcome {
                Outcome::Decided {
                    decision, approval, ..
                } if decision == "rejected" => ui::Flash::success(format!(
                    "Rejected. Reason recorded: {}",
                    approval.reason.clone().unwrap_or_default()
                )),
                Outcome::Decided { .. } => {
                    ui::Flash::success("Approved. The action runs now; its result appears here.")
                }
                Outcome::AwaitingAnother {
                    approvers,
                    required,
                    ..
                } => ui::Flash::info(format!(
                    "Your approval is recorded ({} of {required}); another approver is needed.",
                    approvers.len()
                )),
            };
            ui::redirect_with_flash(&p, &back, flash)
        }
        Err(DecisionError::NotFound(_)) => {
            PageError::not_found(format!("approval {id}")).into_response()
        }
        Err(e) => {
            let (status, message) = refusal(&e);
            detail_page(
                &p,
                &viewer,
                &id,
                Some(Notice {
                    code: e.code(),
                    message,
                }),
                status,
            )
            .await
        }
    }
}

/// The status and what the user is told for a decision refusal (the same statuses as the
/// JSON API's [`crate::approvals::decision_error`]).
fn refusal(e: &DecisionError) -> (StatusCode, String) {
    let status = match e {
        DecisionError::NotFound(_) => StatusCode::NOT_FOUND,
        DecisionError::AlreadyDecided(_) | DecisionError::SameApprover(_) => StatusCode::CONFLICT,
        DecisionError::Expired => StatusCode::GONE,
        DecisionError::NotAnApprover(_)
        | DecisionError::NotLinked(_)
        | DecisionError::Inactive(_)
        | DecisionError::RoleTooLow(..) => StatusCode::FORBIDDEN,
        DecisionError::InvalidEdit(_) | DecisionError::ReasonRequired => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DecisionError::Store(_) | DecisionError::Delivery(_) => StatusCode::SERVICE_UNAVAILABLE,
        DecisionError::Capability(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        DecisionError::AlreadyDecided(_) => format!(
            "Nothing was changed: {e}. It was decided before your form was sent; this is its current state."
        ),
        DecisionError::Expired => "Nothing was changed: the approval expired before your form was sent; this is its current state.".into(),
        DecisionError::Store(cause) => {
            tracing::error!(%cause, "dashboard decision: store failure");
            "The decision could not be recorded (the database is unavailable); try again in a moment.".into()
        }
        DecisionError::Capability(cause) => {
            tracing::error!(%cause, "dashboard decision: capability");
            "The decision could not be completed; it was logged.".into()
        }
        other => other.to_string(),
    };
    (status, message)
}
