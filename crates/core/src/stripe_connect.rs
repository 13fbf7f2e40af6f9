//! Stripe Connect around the refunds: onboarding (the OAuth `state`) and what Stripe tells us
//! afterwards (webhook events).
//!
//! **OAuth state.** `GET …/stripe/connect` hands out Stripe's authorize URL with a `state` that
//! binds the app slug, a random nonce and an expiry, HMAC-signed under the master key
//! (`sst1.<base64url(canonical JSON)>.<base64url(mac)>`, like capabilities). The callback
//! [`verify_state`]s it and consumes the nonce once in the store, so a forged, expired or
//! replayed state is refused.
//!
//! **Webhooks.** [`process_event`] applies one verified, first-seen Stripe event:
//! - `account.application.deauthorized`: the app whose connected account it was is marked
//!   `disconnected` and its account cleared (refunds then fail without calling Stripe);
//! - `charge.dispute.created`: audited, and an [`Alert`] is returned for the app's approval
//!   channel (sent by the caller after acknowledging, see [`send_alert`]);
//! - `charge.refunded`: each refund carrying our `idempotency_key` metadata (the action id of
//!   an approved refund) is reconciled with that action; refunds without it are audited as
//!   made outside the platform.
//!
//! Each emits our own event (`stripe/…`, id `stripe:{event id}`). The JSON is read with
//! `serde_json` only: no Stripe SDK types here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approvals::{Alert, ApprovalChannel, format_money};
use crate::audit::{AuditEvent, canonical_json};
use crate::crypto::{MasterKey, ct_eq, random_hex};
use crate::events::{self, EventSink, OutEvent};
use crate::payments::{Payments, RefundTarget};
use crate::registry::{Registry, policy_of};
use crate::store::{ActionPatch, ActionStatus, AppRow, AppStatus, Store, StoreError};
use crate::time::Millis;

/// The `purpose` under which the master key signs OAuth states.
pub const STATE_PURPOSE: &str = "stripe-oauth-state/v1";
const STATE_PREFIX: &str = "sst1";
/// How long an authorize link stays usable.
pub const STATE_TTL_MS: Millis = 30 * 60 * 1000;
/// The receipt source under which used state nonces are recorded.
pub const STATE_RECEIPT_SOURCE: &str = "stripe-oauth-state";
/// The receipt source of Stripe webhook events (deduplicated by event id).
pub const WEBHOOK_RECEIPT_SOURCE: &str = "stripe";
/// App status after Stripe deauthorized the platform.
pub const DISCONNECTED: &str = "disconnected";

/// What an OAuth state binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateClaims {
    pub v: u8,
    pub app: String,
    pub nonce: String,
    pub issued_at: Millis,
    pub expires_at: Millis,
}

/// Why an OAuth state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state is malformed or not signed by this platform")]
    Forged,
    #[error("the state has expired; start again from the connect link")]
    Expired,
    #[error("the state was already used; start again from the connect link")]
    Reused,
}

impl StateError {
    /// A stable code for audits and error pages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forged => "state_invalid",
            Self::Expired => "state_expired",
            Self::Reused => "state_reused",
        }
    }
}

fn state_mac(key: &MasterKey, signed: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(STATE_PURPOSE, signed.as_bytes()))
}

/// Mint a state for connecting `app`, valid from `now` for `ttl_ms`.
pub fn mint_state(key: &MasterKey, app: &str, now: Millis, ttl_ms: Millis) -> String {
    let claims = json!({"v": 1, "app": app, "nonce": random_hex(16), "issued_at": now,
                        "expires_at": now.saturating_add(ttl_ms)});
    let payload = URL_SAFE_NO_PAD.encode(canonical_json(&claims));
    let signed = format!("{STATE_PREFIX}.{payload}");
    format!("{signed}.{}", state_mac(key, &signed))
}

/// Check a state's signature and expiry (not its single use: see [`consume_state`]).
pub fn verify_state(key: &MasterKey, state: &str, now: Millis) -> Result<StateClaims, StateError> {
    if state.len() > 2048 {
        return Err(StateError::Forged);
    }
    let mut parts = state.split('.');
    let (Some(STATE_PREFIX), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StateError::Forged);
    };
    let signed = format!("{STATE_PREFIX}.{payload}");
    if !ct_eq(state_mac(key, &signed).as_bytes(), sig.as_bytes()) {
        return Err(StateError::Forged);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StateError::Forged)?;
    let claims: StateClaims = serde_json::from_slice(&bytes).map_err(|_| StateError::Forged)?;
    if claims.v != 1 {
        return Err(StateError::Forged);
    }
    if now > claims.expires_at {
        return Err(StateError::Expired);
    }
    Ok(claims)
}

/// Verify `state` and consume its nonce: `Ok` once per state, [`StateError::Reused`] after.
pub async fn consume_state(
    store: &dyn Store,
    key: &MasterKey,
    state: &str,
    now: Millis,
) -> Result<Result<StateClaims, StateError>, StoreError> {
    let claims = match verify_state(key, state, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if store
        .record_webhook_receipt(STATE_RECEIPT_SOURCE, &claims.nonce, now)
        .await?
    {
        Ok(Ok(claims))
    } else {
        Ok(Err(StateError::Reused))
    }
}

/// Stripe's authorize URL for `state` (Standard accounts, `read_write`).
pub fn authorize_url(
    connect_url: &str,
    client_id: &str,
    state: &str,
    redirect_uri: &str,
) -> String {
    let q = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(b))
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    format!(
        "{}/oauth/authorize?response_type=code&client_id={}&scope=read_write&state={}&redirect_uri={}",
        connect_url.trim_end_matches('/'),
        q(client_id),
        q(state),
        q(redirect_uri)
    )
}

/// The app connected to Stripe account `account` (`acct_…`), if any.
pub async fn app_for_account(
    store: &dyn Store,
    account: &str,
) -> Result<Option<AppRow>, StoreError> {
    Ok(store
        .list_apps()
        .await?
        .into_iter()
        .find(|a| a.stripe_account.as_deref() == Some(account)))
}

/// Record `account` as `slug`'s connected account (status `connected`), audited as `actor`.
pub async fn connect_account(
    registry: &Registry,
    slug: &str,
    account: &str,
    actor: &str,
    now: Millis,
) -> Result<AppRow, crate::registry::RegistryError> {
    let mut app = registry.require(slug).await?;
    let previous = app.stripe_account.clone();
    app.stripe_account = Some(account.to_string());
    app.status = AppStatus::Connected;
    app.updated_at = now;
    registry.update(&app).await?;
    registry
        .store()
        .append_audit(
            &AuditEvent::new(
                "stripe.connected",
                actor,
                json!({"account": account, "previous_account": previous}),
            )
            .app(slug),
        )
        .await?;
    Ok(app)
}

/// What [`process_event`] needs.
pub struct WebhookDeps<'a> {
    pub store: &'a dyn Store,
    pub registry: &'a Registry,
    pub events: &'a dyn EventSink,
    /// To list a charge's refunds when the event does not include them.
    pub payments: Option<&'a dyn Payments>,
}

/// An alert to post after the webhook was acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAlert {
    pub event_id: String,
    pub app: String,
    pub channel: String,
    pub alert: Alert,
}

/// What [`process_event`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// `processed` or `ignored`, with details, for the HTTP answer and logs.
    pub summary: Value,
    pub alert: Option<PendingAlert>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the event is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot emit the event: {0}")]
    Events(String),
    #[error("cannot list the charge's refunds: {0}")]
    Payments(String),
}

fn audit_row(kind: &str, app: Option<&str>, data: Value) -> AuditEvent {
    let ev = AuditEvent::new(kind, "stripe", data);
    match app {
        Some(a) => ev.app(a),
        None => ev,
    }
}

async fn emit(
    deps: &WebhookDeps<'_>,
    name: &str,
    event_id: &str,
    data: Value,
) -> Result<(), WebhookError> {
    deps.events
        .send(vec![OutEvent {
            name: name.to_string(),
            data,
            id: Some(format!("stripe:{event_id}")),
        }])
        .await
        .map(|_| ())
        .map_err(|e| WebhookError::Events(e.to_string()))
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|x| !x.is_empty()).map(str::to_string)
}

/// The longest Stripe event id we store (receipts are keyed by it).
pub const MAX_EVENT_ID_LEN: usize = 255;

/// A verified Stripe webhook body, parsed by [`parse_event`].
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// `id` (`evt_…`): non-empty, at most [`MAX_EVENT_ID_LEN`] bytes.
    pub id: String,
    /// `type`, empty when absent.
    pub kind: String,
    /// The whole event, for [`process_event`] and dead letters.
    pub raw: Value,
}

/// Parse a Stripe webhook body (after its signature was checked): JSON with an event id. Any
/// input gives `Ok` or [`WebhookError::Invalid`] (the webhook answers 400 `bad_request`), never
/// a panic; the property tests (`tests/prop_signing.rs`) drive it with arbitrary bodies.
pub fn parse_event(body: &[u8]) -> Result<StripeEvent, WebhookError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Invalid(format!("body is not JSON: {e}")))?;
    let id = raw["id"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= MAX_EVENT_ID_LEN)
        .ok_or_else(|| WebhookError::Invalid("the event has no id".into()))?
        .to_string();
    let kind = raw["type"].as_str().unwrap_or_default().to_string();
    Ok(StripeEvent { id, kind, raw })
}

/// Apply one verified Stripe event seen for the first time.
pub async fn process_event(
    deps: &WebhookDeps<'_>,
    event: &Value,
    now: Millis,
) -> Result<Processed, WebhookError> {
    let event_id = s(&event["id"]).ok_or_else(|| WebhookError::Invalid("no event id".into()))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let account = s(&event["account"]);
    let object = &event["data"]["object"];
    match kind {
        "account.application.deauthorized" => {
            deauthorized(deps, &event_id, account.as_deref(), object, now).await
        }
        "charge.dispute.created" => dispute(deps, &event_id, account.as_deref(), object).await,
        "charge.refunded" => refunded(deps, &event_id, account.as_deref(), object, now).await,
        other => Ok(Processed {
            summary: json!({"status": "ignored", "type": other, "event_id": event_id}),
            alert: None,
        }),
    }
}

async fn deauthorized(
    deps: &WebhookDeps<'_>,
    event_id: &str,
    account: Option<&str>,
    object: &Value,
    now: Millis,
) -> Result<Processed, WebhookError> {
    let account =
        account.ok_or_else(|| WebhookError::Invalid("deauthorization without account".into()))?;
    let app = app_for_account(deps.store, account).await?;
    let slug = app.as_ref().map(|a| a.slug.clone());
    if let Some(mut app) = app {
        app.status = AppStatus::Disconnected;
        app.stripe_account = None;
        app.updated_at = now;
        deps.registry
            .update(&app)
            .await
            .map_err(|e| WebhookError::Store(StoreError::Backend(e.to_string())))?;
    }
    deps.store
        .append_audit(&audit_row(
            "stripe.account_deauthorized",
            slug.as_deref(),
            json!({"event_id": event_id, "account": account, "application": object["id"],
                   "app": slug, "status": if slug.is_some() { DISCONNECTED } else { "unknown_account" }}),
        ))
        .await?;
    emit(
        deps,
        events::STRIPE_ACCOUNT_DEAUTHORIZED,
        event_id,
        json!({"event_id": event_id, "account": account, "app_id": slug}),
    )
    .await?;
    Ok(Processed {
        summary: json!({"status": "processed", "type": "account.application.deauthorized",
                        "event_id": event_id, "app": slug}),
        alert: None,
    })
}

async fn dispute(
    deps: &WebhookDeps<'_>,
    event_id: &str,
    account: Option<&str>,
    d: &Value,
) -> Result<Processed, WebhookError> {
    let app = match account {
        Some(a) => app_for_account(deps.store, a).await?,
        None => None,
    };
    let slug = app.as_ref().map(|a| a.slug.clone());
    let amount = d["amount"].as_i64().unwrap_or_default();
    let currency = s(&d["currency"]);
    let charge = match &d["charge"] {
        Value::Object(o) => o.get("id").and_then(s),
        other => s(other),
    };
    // The payer's email when the event carries it (the evidence's, or an expanded charge's);
    // otherwise the outcome function reads the charge.
    let customer_email = [
        &d["evidence"]["customer_email_address"],
        &d["charge"]["billing_details"]["email"],
        &d["charge"]["receipt_email"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().map(str::trim).filter(|e| !e.is_empty()))
    .map(str::to_lowercase);
    let data = json!({"event_id": event_id, "dispute_id": d["id"], "charge": charge,
                      "amount_cents": amount, "currency": currency, "reason": d["reason"],
                      "status": d["status"], "due_by": d["evidence_details"]["due_by"],
                      "account": account, "app": slug, "customer_email": customer_email});
    deps.store
        .append_audit(&audit_row(
            "stripe.dispute_created",
            slug.as_deref(),
            data.clone(),
        ))
        .await?;
    emit(deps, events::STRIPE_DISPUTE_CREATED, event_id, data).await?;
    let channel = app
        .as_ref()
        .and_then(|a| policy_of(a).ok())
        .and_then(|p| p.approval_channel);
    let alert = match (&app, channel) {
        (Some(app), Some(channel)) => {
            let mut fields = vec![
                ("App".to_string(), app.name.clone()),
                (
                    "Amount".to_string(),
                    format_money(amount, currency.as_deref()),
                ),
                (
                    "Reason".to_string(),
                    d["reason"].as_str().unwrap_or("unknown").to_string(),
                ),
                (
                    "Dispute".to_string(),
                    d["id"].as_str().unwrap_or_default().to_string(),
                ),
            ];
            if let Some(c) = &charge {
                fields.push(("Charge".to_string(), c.clone()));
            }
            if let Some(due) = d["evidence_details"]["due_by"].as_i64() {
                fields.push(("Evidence due (Unix)".to_string(), due.to_string()));
            }
            Some(PendingAlert {
                event_id: event_id.to_string(),
                app: app.slug.clone(),
                channel,
                alert: Alert {
                    title: format!("Stripe dispute: {}", app.name),
                    text: format!(
                        "A customer disputed a charge of {} ({}). Respond in the Stripe dashboard before the evidence deadline.",
                        format_money(amount, currency.as_deref()),
                        d["reason"].as_str().unwrap_or("no reason given")
                    ),
                    fields,
                },
            })
        }
        _ => {
            let why = if app.is_none() {
                "no app is connected to this account"
            } else {
                "the app has no approval channel"
            };
            alert_not_sent(deps.store, event_id, slug.as_deref(), why).await?;
            None
        }
    };
    Ok(Processed {
        summary: json!({"status": "processed", "type": "charge.dispute.created", "event_id": event_id,
                        "app": slug, "alert": alert.is_some()}),
        alert,
    })
}

/// Audit that a dispute alert was not posted, and why.
pub async fn alert_not_sent(
    store: &dyn Store,
    event_id: &str,
    app: Option<&str>,
    why: &str,
) -> Result<(), StoreError> {
    store
        .append_audit(&audit_row(
            "stripe.dispute_alert_not_sent",
            app,
            json!({"event_id": event_id, "reason": why}),
        ))
        .await
        .map(|_| ())
}

/// Post a dispute alert and audit the outcome (`sent` with the message, or the error).
pub async fn send_alert(
    store: &dyn Store,
    channel: Option<&dyn ApprovalChannel>,
    pending: &PendingAlert,
) -> Result<(), StoreError> {
    let Some(channel) = channel else {
        return alert_not_sent(
            store,
            &pending.event_id,
            Some(&pending.app),
            "Slack is not configured (slack.bot_token)",
        )
        .await;
    };
    let ev = match channel.post_alert(&pending.channel, &pending.alert).await {
        Ok(msg) => audit_row(
            "stripe.dispute_alert_sent",
            Some(&pending.app),
            json!({"event_id": pending.event_id, "channel": msg.channel, "ts": msg.ts}),
        ),
        Err(e) => audit_row(
            "stripe.dispute_alert_not_sent",
            Some(&pending.app),
            json!({"event_id": pending.event_id, "channel": pending.channel, "reason": e.to_string()}),
        ),
    };
    store.append_audit(&ev).await.map(|_| ())
}

/// One refund as the webhook (or the refunds list) reports it.
#[derive(Debug, Clone, PartialEq)]
struct SeenRefund {
    id: String,
    amount: i64,
    currency: Option<String>,
    status: Option<String>,
    /// Our `idempotency_key` metadata: the action id of an approved refund.
    key: Option<String>,
}

async fn refunds_of(
    deps: &WebhookDeps<'_>,
    account: Option<&str>,
    charge: &Value,
) -> Result<Vec<SeenRefund>, WebhookError> {
    if let Some(list) = charge["refunds"]["data"].as_array() {
        return Ok(list
            .iter()
            .filter_map(|r| {
                Some(SeenRefund {
                    id: s(&r["id"])?,
                    amount: r["amount"].as_i64().unwrap_or_default(),
                    currency: s(&r["currency"]),
                    status: s(&r["status"]),
                    key: s(&r["metadata"]["action_id"])
                        .or_else(|| s(&r["metadata"]["idempotency_key"])),
                })
            })
            .collect());
    }
    // Since API version 2022-11-15 a charge does not embed its refunds: ask Stripe.
    let (Some(payments), Some(id)) = (deps.payments, s(&charge["id"])) else {
        return Ok(Vec::new());
    };
    let list = payments
        .list_refunds(account, &RefundTarget::Charge(id), 100)
        .await
        .map_err(|e| WebhookError::Payments(e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|r| SeenRefund {
            key: r
                .metadata
                .get("action_id")
                .or_else(|| r.metadata.get("idempotency_key"))
                .cloned(),
            id: r.id,
            amount: r.amount_cents,
            currency: Some(r.currency),
            status: r.status,
        })
        .collect())
}

async fn refunded(
    deps: &WebhookDeps<'_>,
    event_id: &str,
    account: Option<&str>,
    charge: &Value,
    now: Millis,
) -> Result<Processed, WebhookError> {
    let charge_id =
        s(&charge["id"]).ok_or_else(|| WebhookError::Invalid("charge without id".into()))?;
    let account_app = match account {
        Some(a) => app_for_account(deps.store, a).await?.map(|a| a.slug),
        None => None,
    };
    let refunds = refunds_of(deps, account, charge).await?;
    let mut outcomes = Vec::new();
    let mut external = Vec::new();
    for r in &refunds {
        let action = match &r.key {
            Some(k) => deps.store.get_action(k).await?,
            None => None,
        };
        let Some(action) = action else {
            external.push(
                json!({"refund_id": r.id, "amount_cents": r.amount, "currency": r.currency,
                                 "status": r.status}),
            );
            continue;
        };
        let ours = action.result.as_ref().and_then(|v| s(&v["refundId"]));
        let reconciled =
            json!({"event_id": event_id, "refund_id": r.id, "refund_status": r.status, "at": now});
        let outcome = match action.status.as_str() {
            "executed" if ours.as_deref().is_some_and(|o| o != r.id) => "mismatch",
            "executed" => {
                let mut result = action.result.clone().unwrap_or_else(|| json!({}));
                if let Some(st) = &r.status
                    && result["refund"].is_object()
                {
                    result["refund"]["status"] = json!(st);
                }
                result["reconciled"] = reconciled.clone();
                deps.store
                    .transition_action(
                        &action.id,
                        &[ActionStatus::Executed],
                        ActionStatus::Executed,
                        &ActionPatch {
                            result: Some(result),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                "confirmed"
            }
            // The executor is still at it and records the result itself.
            "approved" | "executing" => "in_flight",
            // The money moved although our side failed (e.g. the call timed out, or
            // revokeAccess failed after the refund): keep it failed (the dead letter stays for
            // the retry, which Stripe answers from its idempotency cache) and record the refund.
            "failed" => {
                let mut result = action.result.clone().unwrap_or_else(|| json!({}));
                result["refundId"] = json!(r.id);
                result["reconciled"] = reconciled.clone();
                deps.store
                    .transition_action(
                        &action.id,
                        &[ActionStatus::Failed],
                        ActionStatus::Failed,
                        &ActionPatch {
                            result: Some(result),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                "refunded_but_failed"
            }
            _ => "unexpected_status",
        };
        let mut ev = audit_row(
            "stripe.refund_reconciled",
            action.app.as_deref(),
            json!({"event_id": event_id, "charge": charge_id, "refund_id": r.id, "action_id": action.id,
                   "action_status": action.status, "outcome": outcome, "amount_cents": r.amount,
                   "currency": r.currency, "refund_status": r.status}),
        );
        if let Some(c) = &action.conversation_id {
            ev = ev.conversation(c);
        }
        deps.store.append_audit(&ev).await?;
        outcomes.push(
            json!({"refund_id": r.id, "action_id": action.id, "outcome": outcome,
                           "refund_status": r.status}),
        );
    }
    if !external.is_empty() || refunds.is_empty() {
        deps.store
            .append_audit(&audit_row(
                "stripe.refund_external",
                account_app.as_deref(),
                json!({"event_id": event_id, "charge": charge_id, "account": account,
                       "refunds": external, "amount_refunded_cents": charge["amount_refunded"],
                       "note": "refunded outside the platform (no action of ours matches)"}),
            ))
            .await?;
    }
    emit(
        deps,
        events::STRIPE_CHARGE_REFUNDED,
        event_id,
        json!({"event_id": event_id, "charge": charge_id, "account": account, "app_id": account_app,
               "reconciled": outcomes, "external": external}),
    )
    .await?;
    Ok(Processed {
        summary: json!({"status": "processed", "type": "charge.refunded", "event_id": event_id,
                        "reconciled": outcomes, "external": external}),
        alert: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::generate().0
    }

    #[test]
    fn states_bind_app_expiry_and_key() {
        let k = key();
        let st = mint_state(&k, "typescript-course", 1_000, 60_000);
        let c = verify_state(&k, &st, 2_000).expect("valid");
        assert_eq!(c.app, "typescript-course");
        assert_eq!(c.expires_at, 61_000);
        assert_eq!(verify_state(&k, &st, 61_001), Err(StateError::Expired));
        assert_eq!(verify_state(&key(), &st, 2_000), Err(StateError::Forged));
        // Another app in the payload breaks the signature.
        let mut parts: Vec<&str> = st.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            canonical_json(&json!({"v": 1, "app": "other", "nonce": c.nonce, "issued_at": 1000, "expires_at": 61000})),
        );
        parts[1] = &forged_payload;
        assert_eq!(
            verify_state(&k, &parts.join("."), 2_000),
            Err(StateError::Forged)
        );
        for bad in ["", "sst1", "sst1.a.b.c", "cap1.a.b"] {
            assert_eq!(
                verify_state(&k, bad, 2_000),
                Err(StateError::Forged),
                "{bad}"
            );
        }
        assert_ne!(mint_state(&k, "a", 1, 1), mint_state(&k, "a", 1, 1));
    }

    #[test]
    fn authorize_url_is_encoded() {
        let u = authorize_url(
            "https://connect.stripe.com/",
            "ca_123",
            "sst1.a-b_c.d",
            "http://127.0.0.1:4100/stripe/oauth/callback",
        );
        assert_eq!(
            u,
            "https://connect.stripe.com/oauth/authorize?response_type=code&client_id=ca_123&scope=read_write&state=sst1.a-b_c.d&redirect_uri=http%3A%2F%2F127.0.0.1%3A4100%2Fstripe%2Foauth%2Fcallback"
        );
    }
}
