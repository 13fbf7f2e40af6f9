//! `support-slack`: Slack interactivity and events (`POST /slack/interactions`,
//! `POST /slack/events`).
//!
//! Interactions are checked against the Slack signing secrets ([`verify`]), acknowledged at
//! once, and handled in a spawned task: Approve goes to the same decision function as the
//! dashboard ([`support_core::decision::decide`]), Reject and Edit open a modal with the click's
//! `trigger_id`, and a modal's submission decides. A refused decision (second click, after the
//! decision or expiry, an approver not on the app's list) is audited by the decision function
//! and answered with an ephemeral message. The message itself is updated by the workflow at
//! every transition (and here when one of two approvals is recorded).
//!
//! `/slack/events` ([`events`]) answers Slack's URL verification and acknowledges event
//! callbacks.

pub mod events;
pub mod interactions;
pub mod verify;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use interactions::{ApprovalCommand, InteractionError, Origin};
use serde_json::json;
use std::sync::Arc;
use support_core::approvals::{ApprovalChannel, ApprovalModal, ids};
use support_core::audit::AuditEvent;
use support_core::decision::{self, Decision, Outcome, Verdict};
use support_host::{ApiError, Platform};

/// The Slack app's error type, with a stable machine-readable `code`.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("the request signature is invalid: {0}")]
    InvalidSignature(String),
    #[error("the interaction payload is invalid: {0}")]
    BadPayload(String),
    /// Logged; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl From<SlackError> for ApiError {
    /// The host's JSON error envelope (`{"error":{"code","message"}}`) with Slack's stable
    /// codes; an internal cause is logged, never sent.
    fn from(e: SlackError) -> Self {
        let (status, code) = match &e {
            SlackError::InvalidSignature(_) => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            SlackError::BadPayload(_) => (StatusCode::BAD_REQUEST, "bad_payload"),
            SlackError::Internal(cause) => return ApiError::Internal(cause.clone()),
        };
        ApiError::Refused {
            code,
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for SlackError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

async fn interactions(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SlackError> {
    let now_secs = support_core::time::now_ms() / 1000;
    if let Err(e) =
        verify::verify_request(&p.settings.slack.signing_secrets, &headers, &body, now_secs)
    {
        let ev = AuditEvent::new(
            "slack.request_refused",
            "slack",
            json!({"code": "invalid_signature", "error": e.to_string()}),
        );
        let _ = support_host::limits::audit_refusal(
            p.store.as_ref(),
            "slack",
            "invalid_signature",
            &ev,
        )
        .await;
        return Err(SlackError::InvalidSignature(e.to_string()));
    }
    let interaction =
        interactions::parse_body(&body).map_err(|e| SlackError::BadPayload(e.to_string()))?;
    let cmd = match interactions::command(&interaction) {
        Ok(c) => c,
        // Keep the modal open and say what is wrong.
        Err(InteractionError::BadAmount(raw)) => {
            return Ok(Json(interactions::view_errors(
                ids::AMOUNT_BLOCK,
                &format!("{raw:?} is not an amount"),
            ))
            .into_response());
        }
        Err(InteractionError::MissingInput(what)) => {
            return Ok(Json(interactions::view_errors(
                ids::REASON_BLOCK,
                &format!("The {what} is required"),
            ))
            .into_response());
        }
        Err(e) => return Err(SlackError::BadPayload(e.to_string())),
    };
    if cmd != ApprovalCommand::Ignore {
        // Slack wants an answer within 3 s: the work happens after.
        tokio::spawn(async move { handle(p, cmd).await });
    }
    Ok(StatusCode::OK.into_response())
}

fn channel_of(p: &Platform) -> Option<Arc<dyn ApprovalChannel>> {
    support_connectors::slack::from_settings(&p.settings.slack)
}

fn decision_for(
    action_id: String,
    user: &str,
    verdict: Verdict,
    reason: Option<String>,
    draft: Option<String>,
    amount_cents: Option<i64>,
) -> Decision {
    Decision {
        id: action_id,
        verdict,
        approver: format!("slack:{user}"),
        // Counted as the user this Slack id is linked to; unlinked, it is refused.
        principal: support_core::auth::Principal::Slack {
            slack_user_id: user.to_string(),
        },
        claimed_actor: None,
        reason,
        channel: support_core::store::DecisionChannel::Slack,
        params: None,
        draft,
        amount_cents,
    }
}

async fn handle(p: Platform, cmd: ApprovalCommand) {
    let Some(channel) = channel_of(&p) else {
        tracing::warn!("a Slack interaction arrived but slack.bot_token is not set");
        return;
    };
    let (decision, origin) = match cmd {
        ApprovalCommand::Approve { action_id, origin } => (
            decision_for(action_id, &origin.user, Verdict::Approve, None, None, None),
            Some(origin),
        ),
        ApprovalCommand::Reject {
            action_id,
            user,
            reason,
        } => (
            decision_for(action_id, &user, Verdict::Reject, Some(reason), None, None),
            None,
        ),
        ApprovalCommand::EditAndApprove {
            action_id,
            user,
            draft,
            amount_cents,
        } => (
            decision_for(action_id, &user, Verdict::Edit, None, draft, amount_cents),
            None,
        ),
        ApprovalCommand::OpenReject {
            action_id,
            trigger_id,
            origin,
        } => {
            open_modal(&p, channel.as_ref(), &action_id, &trigger_id, &origin, true).await;
            return;
        }
        ApprovalCommand::OpenEdit {
            action_id,
            trigger_id,
            origin,
        } => {
            open_modal(
                &p,
                channel.as_ref(),
                &action_id,
                &trigger_id,
                &origin,
                false,
            )
            .await;
            return;
        }
        ApprovalCommand::Rate {
            action_id,
            good,
            origin,
        } => {
            rate(&p, &action_id, good, &origin.user).await;
            return;
        }
        ApprovalCommand::Ignore => return,
    };
    let user = decision
        .approver
        .strip_prefix("slack:")
        .unwrap_or_default()
        .to_string();
    match p.decide(&decision).await {
        Ok(Outcome::AwaitingAnother {
            approval,
            action,
            approvers,
            ..
        }) => {
            if let (Some(ch), Some(ts)) = (&approval.slack_channel, &approval.slack_ts) {
                let name = app_name(&p, action.app.as_deref()).await;
                let req = decision::request_for(&action, &approval, &name, None, None);
                let msg = support_core::approvals::MessageRef {
                    channel: ch.clone(),
                    ts: ts.clone(),
                };
                if let Err(e) = channel
                    .update_request(&msg, &req, &decision::pending_state(&approvers))
                    .await
                {
                    tracing::warn!(cause = %e, "cannot update the Slack approval message");
                }
            }
        }
        Ok(Outcome::Decided { .. }) => {}
        Err(e) => {
            // Refusals are audited by `decide`; tell the person who clicked.
            let target = match origin.as_ref().and_then(|o| o.channel.clone()) {
                Some(c) => Some(c),
                None => p
                    .store
                    .approval_for_action(&decision.id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|a| a.slack_channel),
            };
            if let Some(c) = target
                && let Err(err) = channel
                    .ephemeral(&c, &user, &format!("Not done: {e} ({}).", e.code()))
                    .await
            {
                tracing::warn!(cause = %err, "cannot answer a refused Slack click");
            }
        }
    }
}

async fn app_name(p: &Platform, slug: Option<&str>) -> String {
    match slug {
        Some(s) => match p.registry.by_slug(s).await {
            Ok(Some(a)) => a.name,
            _ => s.to_string(),
        },
        None => String::new(),
    }
}

async fn open_modal(
    p: &Platform,
    channel: &dyn ApprovalChannel,
    action_id: &str,
    trigger_id: &str,
    origin: &Origin,
    reject: bool,
) {
    let found = match p.store.approval_for_action(action_id).await {
        Ok(Some(a)) => match p.store.get_action(action_id).await {
            Ok(Some(act)) => Some((a, act)),
            _ => None,
        },
        _ => None,
    };
    let Some((approval, action)) = found else {
        let _ = p
            .store
            .append_audit(&AuditEvent::new(
                "approval.refused",
                format!("slack:{}", origin.user),
                json!({"code": "approval_not_found", "id": action_id.chars().take(64).collect::<String>(), "channel": "slack"}),
            ))
            .await;
        if let Some(c) = &origin.channel {
            let _ = channel
                .ephemeral(c, &origin.user, "Not done: no such approval.")
                .await;
        }
        return;
    };
    // Only a linked, active user may decide: say so now rather than after the form.
    let principal = support_core::auth::Principal::Slack {
        slack_user_id: origin.user.clone(),
    };
    if let Err(e) = decision::identify(p.store.as_ref(), &principal).await {
        if e.is_refusal() {
            let mut ev = AuditEvent::new(
                "approval.refused",
                format!("slack:{}", origin.user),
                json!({"code": e.code(), "message": e.to_string(), "approval_id": approval.id,
                       "action_id": action.id, "channel": "slack", "via": "slack",
                       "principal": {"slack_user_id": origin.user}}),
            );
            if let Some(app) = &action.app {
                ev = ev.app(app.clone());
            }
            if let Some(c) = &action.conversation_id {
                ev = ev.conversation(c.clone());
            }
            if let Err(err) = p.store.append_audit(&ev).await {
                tracing::error!(cause = %err, "cannot audit a refused Slack click");
            }
        } else {
            tracing::warn!(cause = %e, "cannot check the Slack user");
        }
        let text = if e.is_refusal() {
            format!("Not done: {e} ({}).", e.code())
        } else {
            "Not done: the platform is unavailable; try again shortly.".to_string()
        };
        if let Some(c) = &origin.channel {
            let _ = channel.ephemeral(c, &origin.user, &text).await;
        }
        return;
    }
    let name = app_name(p, action.app.as_deref()).await;
    let req = decision::request_for(&action, &approval, &name, None, None);
    let modal = if reject {
        ApprovalModal::Reject {
            action_id: action.id.clone(),
            summary: support_connectors::slack::blocks::summary(&req),
        }
    } else {
        ApprovalModal::Edit {
            action_id: action.id.clone(),
            draft: approval.draft.clone(),
            amount_cents: approval.amount_cents,
            currency: approval.currency.clone(),
        }
    };
    if let Err(e) = channel.open_modal(trigger_id, &modal).await {
        tracing::warn!(cause = %e, "cannot open the Slack modal");
        if let Some(c) = &origin.channel {
            let _ = channel
                .ephemeral(c, &origin.user, &format!("Could not open the form: {e}"))
                .await;
        }
    }
}

/// The Slack service, for `support-slack` and `skill dev`.
pub const SERVICE: support_host::Service = support_host::Service {
    name: "slack",
    routes: &[
        "POST /slack/interactions           Slack buttons and modals (signed)",
        "POST /slack/events                 Slack's Events API (signed)",
    ],
    mount,
};

/// Slack's routes, for `skill dev` and `support-slack`.
pub fn mount(_: &Platform) -> Router<Platform> {
    Router::new()
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events::events))
}

/// A good/bad rating of our draft from the buttons on an approval post: a signal on the
/// action's app × category (one per Slack user and action: a second click is a no-op); a bad
/// one after an automatic answer in the conversation demotes the category.
async fn rate(p: &Platform, action_id: &str, good: bool, slack_user: &str) {
    use support_core::trust::{Signal, SignalKind, record_signal};
    let action = match p.store.get_action(action_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!(action_id, "rating for an unknown action");
            return;
        }
        Err(e) => {
            tracing::warn!(cause = %e, "cannot read the rated action");
            return;
        }
    };
    let kind = if good {
        SignalKind::RatingGood
    } else {
        SignalKind::RatingBad
    };
    let now = support_core::time::now_ms();
    let mut s = Signal::new(
        format!("sig_slack_{action_id}_{slack_user}"),
        kind,
        action.app.clone().unwrap_or_default(),
        action.category.clone().unwrap_or_else(|| "unknown".into()),
        action.conversation_id.clone().unwrap_or_default(),
        now,
        "slack",
    );
    s.actor = Some(format!("slack:{slack_user}"));
    s.detail = serde_json::json!({"action_id": action_id});
    match record_signal(p.store.as_ref(), &s, now).await {
        Ok(true) => {
            if let Err(e) = support_host::functions::after_rating(&p.services, &s).await {
                tracing::warn!(cause = %e, "cannot apply a Slack rating to automatic sending");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(cause = %e, "cannot record a Slack rating"),
    }
}
