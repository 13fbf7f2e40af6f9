//! Deciding on a pending approval: the one function the dashboard API, the CLI and Slack call.
//!
//! [`decide`] enforces, on the server: the approval exists and is pending (compare-and-set in
//! the store), it has not expired, the approver is on the app's `AppPolicy::approvers` list when
//! that list is not empty, amounts above `two_approver_above_cents` get two *different*
//! approvers (partial approvals are stored as votes, one per platform user), and edits are
//! valid for the tool. When the approval completes it mints a single-use
//! [`capability`](crate::capability) bound to the action, tool, arguments, amount and approvers, stores it with the approval and emits
//! `support/approval.decided` with the deterministic id `approval-decided:<approval id>`.
//!
//! Every refusal is audited (`approval.refused`, with its stable code) before it is returned.
//!
//! Identity: a decision carries the [`Principal`] its channel authenticated. A token counts as
//! its user; a Slack user id counts as the user it is linked to and, unlinked, decides nothing
//! (`approver_not_linked`); the command line counts as `--as <email>`'s user, or else as
//! `cli:<os user>`. Votes are unique per user, so one person with two tokens, or a token and
//! their Slack id, approves once. The approver list names users: by id, email or linked Slack
//! id (or `cli:<os user>`); a token's name matches nothing, so a token named like a Slack user
//! id is nobody else.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approvals::{ApprovalRequest, ApprovalState, Approver};
use crate::audit::AuditEvent;
use crate::auth::{Principal, Role};
use crate::capability::{self, Grant};
use crate::crypto::MasterKey;
use crate::events::{self, EventSink, OutEvent};
use crate::pipeline::tools::ToolCall;
use crate::registry::{AppPolicy, policy_of};
use crate::store::{
    ActionPatch, ActionRow, ActionStatus, ApprovalRow, ApprovalStatus, ApprovalVote,
    DecisionChannel, Store, StoreError, UserRow,
};
use crate::time::Millis;

/// How long a minted capability stays valid (the executor runs right after the decision; this
/// covers its retries).
pub const CAPABILITY_TTL_MS: Millis = 24 * 3_600_000;

/// What the human decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
    /// Approve with edited parameters, draft and/or amount.
    Edit,
}

/// A decision as a channel hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The approval id (`apr_…`); an action id (`act_…`) is accepted too (Slack buttons carry it).
    pub id: String,
    pub verdict: Verdict,
    /// How the decider is shown (`token:<name>`, `slack:U…`, `cli:<user>`): a label, never
    /// used to count or authorize.
    pub approver: String,
    /// Who decides, as the channel authenticated them: what is counted and authorized.
    pub principal: Principal,
    /// What the caller said it was (recorded next to `approver`, never used to authorize).
    pub claimed_actor: Option<String>,
    pub reason: Option<String>,
    /// Where the decision was made; stored with the vote.
    pub channel: DecisionChannel,
    pub params: Option<Value>,
    pub draft: Option<String>,
    pub amount_cents: Option<i64>,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The approval is decided and `support/approval.decided` was sent.
    Decided {
        approval: ApprovalRow,
        action: ActionRow,
        /// `approved` or `rejected`.
        decision: String,
        approvers: Vec<String>,
        event_id: String,
    },
    /// One of two approvals is recorded; another approver is needed.
    AwaitingAnother {
        approval: ApprovalRow,
        action: ActionRow,
        approvers: Vec<String>,
        required: i64,
    },
}

/// Why a decision was refused. [`DecisionError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no approval {0}")]
    NotFound(String),
    #[error("the approval was already decided ({0})")]
    AlreadyDecided(String),
    #[error("the approval expired")]
    Expired,
    #[error("{0} is not an approver for this app")]
    NotAnApprover(String),
    #[error("{0} already approved; a different approver is needed")]
    SameApprover(String),
    #[error(
        "Slack user {0} is not linked to a platform user; an admin links it with `skill users link-slack <email> {0}`"
    )]
    NotLinked(String),
    #[error("{0} is not an active user")]
    Inactive(String),
    #[error("{0} may not decide approvals (role {1}; agent or admin needed)")]
    RoleTooLow(String, &'static str),
    #[error("invalid edit: {0}")]
    InvalidEdit(String),
    #[error("a reason is required to reject")]
    ReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the decision was recorded but could not be delivered: {0}")]
    Delivery(String),
    #[error("cannot mint the capability: {0}")]
    Capability(String),
}

impl DecisionError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "approval_not_found",
            Self::AlreadyDecided(_) => "approval_already_decided",
            Self::Expired => "approval_expired",
            Self::NotAnApprover(_) => "approver_not_allowed",
            Self::SameApprover(_) => "approver_already_approved",
            Self::NotLinked(_) => "approver_not_linked",
            Self::Inactive(_) => "approver_inactive",
            Self::RoleTooLow(..) => "approver_role_too_low",
            Self::InvalidEdit(_) => "invalid_edit",
            Self::ReasonRequired => "reason_required",
            Self::Store(_) => "store_unavailable",
            Self::Delivery(_) => "decision_not_delivered",
            Self::Capability(_) => "capability_error",
        }
    }

    /// A refusal of the request (as opposed to an infrastructure failure).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Self::Store(_) | Self::Delivery(_) | Self::Capability(_)
        )
    }
}

/// What [`decide`] needs.
#[derive(Clone, Copy)]
pub struct DecisionDeps<'a> {
    pub store: &'a dyn Store,
    pub events: &'a dyn EventSink,
    pub key: &'a MasterKey,
}

/// The decider, resolved: the user the principal counts as (none for the command line) and
/// the key its vote is unique by.
#[derive(Debug, Clone, PartialEq)]
pub struct Decider {
    pub user: Option<UserRow>,
    /// The user id, or `cli:<os user>`.
    pub key: String,
    /// `token`, `slack` or `cli`.
    pub via: &'static str,
}

impl Decider {
    /// The user as the audit names it.
    pub fn user_json(&self) -> Value {
        match &self.user {
            Some(u) => json!({"id": u.id, "email": u.email}),
            None => Value::Null,
        }
    }
}

/// Resolve a principal to the user it counts as. Refuses an unlinked Slack user, an unknown
/// or deactivated user, and a user whose role may not decide (viewer).
pub async fn identify(store: &dyn Store, principal: &Principal) -> Result<Decider, DecisionError> {
    let user = match principal {
        Principal::Cli {
            os_user,
            user_id: None,
        } => {
            return Ok(Decider {
                user: None,
                key: format!("cli:{os_user}"),
                via: principal.via(),
            });
        }
        Principal::Token { user_id, .. }
        | Principal::Session { user_id }
        | Principal::Cli {
            user_id: Some(user_id),
            ..
        } => store
            .get_user(user_id)
            .await?
            .ok_or_else(|| DecisionError::Inactive(format!("user {user_id}")))?,
        Principal::Slack { slack_user_id } => store
            .find_user_by_slack_id(slack_user_id)
            .await?
            .ok_or_else(|| DecisionError::NotLinked(slack_user_id.clone()))?,
    };
    if !user.is_active() {
        return Err(DecisionError::Inactive(user.email.clone()));
    }
    if !user.role.allows(Role::Agent) {
        return Err(DecisionError::RoleTooLow(
            user.email.clone(),
            user.role.as_str(),
        ));
    }
    Ok(Decider {
        key: user.id.clone(),
        user: Some(user),
        via: principal.via(),
    })
}

/// Whether the decider may approve under `policy`: the list is empty, or an entry names the
/// decider's user (its id, email or linked Slack id, bare or as `slack:U…`), or, for the
/// command line, is `cli:<os user>`.
pub fn may_approve(policy: &AppPolicy, decider: &Decider) -> bool {
    policy.approvers.is_empty()
        || policy.approvers.iter().map(|a| a.trim()).any(|a| {
            a == decider.key
                || decider.user.as_ref().is_some_and(|u| {
                    a == u.id
                        || a.eq_ignore_ascii_case(&u.email)
                        || u.slack_user_id
                            .as_deref()
                            .is_some_and(|s| a == s || a.strip_prefix("slack:") == Some(s))
                })
        })
}

async fn resolve(store: &dyn Store, id: &str) -> Result<(ApprovalRow, ActionRow), DecisionError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(DecisionError::NotFound(format!("{id:.64?}")));
    }
    let approval = match store.get_approval(id).await? {
        Some(a) => Some(a),
        None => store.approval_for_action(id).await?,
    }
    .ok_or_else(|| DecisionError::NotFound(id.to_string()))?;
    let action = store
        .get_action(&approval.action_id)
        .await?
        .ok_or_else(|| DecisionError::NotFound(approval.action_id.clone()))?;
    Ok((approval, action))
}

/// Decide on an approval at `now`. Refusals are audited before they are returned.
pub async fn decide(
    deps: DecisionDeps<'_>,
    d: &Decision,
    now: Millis,
) -> Result<Outcome, DecisionError> {
    let mut context: Option<(ApprovalRow, ActionRow)> = None;
    let result = decide_inner(deps, d, now, &mut context).await;
    if let Err(e) = &result
        && e.is_refusal()
    {
        let (apr, act) = match &context {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let mut ev = AuditEvent::new(
            "approval.refused",
            d.approver.clone(),
            json!({"code": e.code(), "message": e.to_string(), "id": d.id.chars().take(64).collect::<String>(),
                   "approval_id": apr.map(|a| a.id.clone()), "action_id": act.map(|a| a.id.clone()),
                   "verdict": d.verdict, "approver": d.approver, "claimed_actor": d.claimed_actor,
                   "channel": d.channel, "via": d.principal.via(), "principal": principal_json(&d.principal)}),
        );
        if let Some(a) = act {
            if let Some(app) = &a.app {
                ev = ev.app(app.clone());
            }
            if let Some(c) = &a.conversation_id {
                ev = ev.conversation(c.clone());
            }
            if let Some(t) = &a.trace_id {
                ev = ev.trace(t.clone());
            }
        }
        // The refusal stands even if the audit write fails; the failure is logged.
        if let Err(audit_err) = deps.store.append_audit(&ev).await {
            tracing::error!(cause = %audit_err, "cannot audit a refused decision");
        }
    }
    result
}

/// The principal as a refusal's audit entry names it (before it was resolved to a user).
fn principal_json(p: &Principal) -> Value {
    match p {
        Principal::Token { user_id, token_id } => json!({"user_id": user_id, "token_id": token_id}),
        Principal::Slack { slack_user_id } => json!({"slack_user_id": slack_user_id}),
        Principal::Cli { os_user, user_id } => json!({"os_user": os_user, "user_id": user_id}),
        Principal::Session { user_id } => json!({"user_id": user_id}),
    }
}

fn audit_for(kind: &str, d: &Decision, action: &ActionRow, data: Value) -> AuditEvent {
    let mut ev = AuditEvent::new(kind, d.approver.clone(), data);
    if let Some(app) = &action.app {
        ev = ev.app(app.clone());
    }
    if let Some(c) = &action.conversation_id {
        ev = ev.conversation(c.clone());
    }
    if let Some(t) = &action.trace_id {
        ev = ev.trace(t.clone());
    }
    ev
}

async fn decide_inner(
    deps: DecisionDeps<'_>,
    d: &Decision,
    now: Millis,
    context: &mut Option<(ApprovalRow, ActionRow)>,
) -> Result<Outcome, DecisionError> {
    let store = deps.store;
    let (approval, action) = resolve(store, &d.id).await?;
    *context = Some((approval.clone(), action.clone()));
    if approval.status != "pending" {
        return Err(DecisionError::AlreadyDecided(approval.status.to_string()));
    }
    if now >= approval.expires_at {
        return Err(DecisionError::Expired);
    }
    // The user the principal counts as: an unlinked Slack user, an unknown or deactivated
    // user, a viewer are refused here and never counted.
    let decider = identify(store, &d.principal).await?;
    let policy = match &action.app {
        Some(slug) => match store.get_app(slug).await? {
            Some(app) => policy_of(&app).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => AppPolicy::default(),
        },
        None => AppPolicy::default(),
    };
    if !may_approve(&policy, &decider) {
        return Err(DecisionError::NotAnApprover(d.approver.clone()));
    }
    let base = json!({"approval_id": approval.id, "action_id": action.id, "tool": action.kind,
                      "approver": d.approver, "claimed_actor": d.claimed_actor, "channel": d.channel,
                      "user": decider.user_json(), "via": decider.via, "reason": d.reason});

    if d.verdict == Verdict::Reject {
        if !store
            .decide_approval(
                &approval.id,
                ApprovalStatus::Rejected,
                &d.approver,
                d.reason.as_deref(),
                now,
            )
            .await?
        {
            return Err(DecisionError::AlreadyDecided("decided meanwhile".into()));
        }
        store
            .append_audit(&audit_for("approval.rejected", d, &action, base))
            .await?;
        let event_id = send(
            deps,
            &approval,
            &action,
            d,
            "rejected",
            std::slice::from_ref(&d.approver),
            None,
            None,
        )
        .await?;
        let approval = store.get_approval(&approval.id).await?.unwrap_or(approval);
        return Ok(Outcome::Decided {
            approval,
            action,
            decision: "rejected".into(),
            approvers: vec![d.approver.clone()],
            event_id,
        });
    }

    // Approve, possibly with edits.
    let mut params = action.params.clone();
    let mut edited = serde_json::Map::new();
    let mut amount = approval.amount_cents;
    if d.verdict == Verdict::Edit || d.params.is_some() || d.amount_cents.is_some() {
        let votes = store.list_approval_votes(&approval.id).await?;
        if !votes.is_empty() && (d.params.is_some() || d.amount_cents.is_some()) {
            return Err(DecisionError::InvalidEdit(
                "the action already has an approval; edits would change what was approved".into(),
            ));
        }
        if let Some(p) = &d.params {
            ToolCall::new(action.kind, p.clone())
                .validate()
                .map_err(|e| DecisionError::InvalidEdit(e.to_string()))?;
            params = p.clone();
            edited.insert("params".into(), p.clone());
        }
        if let Some(a) = d.amount_cents {
            let max = approval.amount_cents;
            if a <= 0 || max.is_some_and(|m| a > m) {
                return Err(DecisionError::InvalidEdit(format!(
                    "amount must be between 1 and {} cents",
                    max.unwrap_or(i64::MAX)
                )));
            }
            if max.is_none() {
                return Err(DecisionError::InvalidEdit(
                    "this action moves no money; there is no amount to edit".into(),
                ));
            }
            amount = Some(a);
            edited.insert("amount_cents".into(), json!(a));
        }
    }
    if let Some(draft) = d.draft.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        edited.insert("draft".into(), json!(draft));
    }
    if !store
        .add_approval_vote(&ApprovalVote {
            approval_id: approval.id.clone(),
            approver: d.approver.clone(),
            user_id: decider.user.as_ref().map(|u| u.id.clone()),
            actor: d
                .claimed_actor
                .clone()
                .unwrap_or_else(|| d.approver.clone()),
            channel: d.channel,
            voted_at: now,
        })
        .await?
    {
        // The same user (another token, their Slack id): one vote per person.
        let who = decider.user.as_ref().map(|u| u.email.clone());
        return Err(DecisionError::SameApprover(
            who.unwrap_or_else(|| d.approver.clone()),
        ));
    }
    if params != action.params
        && !store
            .transition_action(
                &action.id,
                &[ActionStatus::PendingApproval],
                ActionStatus::PendingApproval,
                &ActionPatch {
                    params: Some(params.clone()),
                    ..Default::default()
                },
                now,
            )
            .await?
    {
        return Err(DecisionError::AlreadyDecided("the action moved on".into()));
    }
    let votes = store.list_approval_votes(&approval.id).await?;
    let approvers: Vec<String> = votes.iter().map(|v| v.approver.clone()).collect();
    // The users who approved (ids; the command line's votes have none), for the audit.
    let users: Vec<Option<String>> = votes.iter().map(|v| v.user_id.clone()).collect();
    let required = approval.approvers_required.max(1);
    // Votes are unique per user (store), so each vote is a different person.
    if (votes.len() as i64) < required {
        let mut data = base.clone();
        data["approvers"] = json!(approvers);
        data["users"] = json!(users);
        data["required"] = json!(required);
        store
            .append_audit(&audit_for("approval.vote_recorded", d, &action, data))
            .await?;
        return Ok(Outcome::AwaitingAnother {
            approval,
            action,
            approvers,
            required,
        });
    }
    if !store
        .decide_approval(
            &approval.id,
            ApprovalStatus::Approved,
            &approvers.join(","),
            d.reason.as_deref(),
            now,
        )
        .await?
    {
        return Err(DecisionError::AlreadyDecided("decided meanwhile".into()));
    }
    let cap = capability::mint(
        deps.key,
        &Grant {
            action_id: &action.id,
            tool: action.kind.as_str(),
            args: &params,
            amount_cents: amount,
            approvers: &approvers,
        },
        now,
        CAPABILITY_TTL_MS,
    )
    .map_err(|e| DecisionError::Capability(e.to_string()))?;
    store
        .set_approval_capability(&approval.id, &cap.token)
        .await?;
    let mut data = base;
    data["approvers"] = json!(approvers);
    data["users"] = json!(users);
    data["edited"] = Value::Object(edited.clone());
    data["capability_nonce"] = json!(cap.claims.nonce);
    data["amount_cents"] = json!(amount);
    store
        .append_audit(&audit_for("approval.approved", d, &action, data))
        .await?;
    let edited = (!edited.is_empty()).then_some(Value::Object(edited));
    let event_id = send(
        deps,
        &approval,
        &action,
        d,
        "approved",
        &approvers,
        edited,
        Some(&cap.token),
    )
    .await?;
    let approval = store.get_approval(&approval.id).await?.unwrap_or(approval);
    let action = store.get_action(&action.id).await?.unwrap_or(action);
    Ok(Outcome::Decided {
        approval,
        action,
        decision: "approved".into(),
        approvers,
        event_id,
    })
}

/// The id of the `support/approval.decided` event of an approval.
pub fn decided_event_id(approval_id: &str) -> String {
    format!("approval-decided:{approval_id}")
}

#[allow(clippy::too_many_arguments)]
async fn send(
    deps: DecisionDeps<'_>,
    approval: &ApprovalRow,
    action: &ActionRow,
    d: &Decision,
    decision: &str,
    approvers: &[String],
    edited: Option<Value>,
    capability: Option<&str>,
) -> Result<String, DecisionError> {
    let id = decided_event_id(&approval.id);
    let mut data = json!({"action_id": action.id, "approval_id": approval.id, "decision": decision,
                          "actor": d.approver, "approvers": approvers, "channel": d.channel});
    if let Some(r) = &d.reason {
        data["reason"] = json!(r);
    }
    if let Some(c) = &d.claimed_actor {
        data["claimed_actor"] = json!(c);
    }
    if let Some(e) = edited {
        data["edited_params"] = e;
    }
    if let Some(c) = capability {
        data["capability"] = json!(c);
    }
    deps.events
        .send(vec![OutEvent {
            name: events::APPROVAL_DECIDED.into(),
            data,
            id: Some(id.clone()),
        }])
        .await
        .map_err(|e| DecisionError::Delivery(e.to_string()))?;
    Ok(id)
}

/// The approvers of a decided approval as the approval channel shows them.
pub fn approvers_of(list: &[String]) -> Vec<Approver> {
    list.iter()
        .map(|a| Approver::new(a.strip_prefix("slack:").unwrap_or(a)))
        .collect()
}

/// The approval request for an action, as an approval channel renders it.
pub fn request_for(
    action: &ActionRow,
    approval: &ApprovalRow,
    app_name: &str,
    customer_email: Option<&str>,
    draft: Option<&str>,
) -> ApprovalRequest {
    ApprovalRequest {
        action_id: action.id.clone(),
        app_slug: action.app.clone().unwrap_or_default(),
        app_name: app_name.to_string(),
        customer_email: customer_email.map(str::to_string),
        customer_name: None,
        inbox: None,
        conversation_id: action.conversation_id.clone().unwrap_or_default(),
        front_url: action
            .conversation_id
            .as_ref()
            .map(|c| format!("https://app.frontapp.com/open/{c}")),
        tool: action.kind.to_string(),
        params: action.params.clone(),
        amount_cents: approval.amount_cents,
        currency: approval.currency.clone(),
        reasoning: action.reasoning.clone().unwrap_or_default(),
        draft: draft.map(str::to_string),
        approvers_required: u8::try_from(approval.approvers_required.clamp(1, 2)).unwrap_or(1),
        expires_at: approval.expires_at,
    }
}

/// The pending state with the approvals so far.
pub fn pending_state(approvers: &[String]) -> ApprovalState {
    ApprovalState::Pending {
        approved_by: approvers_of(approvers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_refusals_known() {
        assert_eq!(
            DecisionError::AlreadyDecided("approved".into()).code(),
            "approval_already_decided"
        );
        assert_eq!(DecisionError::Expired.code(), "approval_expired");
        assert!(DecisionError::NotAnApprover("x".into()).is_refusal());
        assert!(!DecisionError::Delivery("x".into()).is_refusal());
    }

    fn user(id: &str, email: &str, slack: Option<&str>) -> Decider {
        Decider {
            user: Some(UserRow {
                id: id.into(),
                email: email.into(),
                name: None,
                role: Role::Agent,
                password_hash: None,
                slack_user_id: slack.map(str::to_string),
                created_at: 0,
                deactivated_at: None,
            }),
            key: id.into(),
            via: "token",
        }
    }

    #[test]
    fn approver_lists_name_users() {
        let mut p = AppPolicy::default();
        let nobody = user("usr_x", "x@example.com", None);
        assert!(may_approve(&p, &nobody), "an empty list lets anyone");
        p.approvers = vec!["U123".into(), "Lead@Example.com".into(), "cli:ops".into()];
        // A linked Slack id names its user, whichever channel the user decides through.
        assert!(may_approve(
            &p,
            &user("usr_1", "a@example.com", Some("U123"))
        ));
        assert!(!may_approve(
            &p,
            &user("usr_2", "b@example.com", Some("U999"))
        ));
        // Emails compare without case.
        assert!(may_approve(&p, &user("usr_3", "lead@example.com", None)));
        // A user whose id or token happens to be spelled like a Slack id is not that Slack user.
        assert!(!may_approve(&p, &user("U123x", "u123@example.com", None)));
        p.approvers = vec!["usr_4".into(), "slack:U5".into()];
        assert!(may_approve(&p, &user("usr_4", "d@example.com", None)));
        assert!(may_approve(&p, &user("usr_5", "e@example.com", Some("U5"))));
        // The command line is named as `cli:<os user>`.
        p.approvers = vec!["cli:ops".into()];
        let cli = Decider {
            user: None,
            key: "cli:ops".into(),
            via: "cli",
        };
        assert!(may_approve(&p, &cli));
        assert!(!may_approve(&p, &user("cli:ops2", "ops@example.com", None)));
    }
}
