//! Stripe: `POST /webhooks/stripe` and Connect onboarding.
//!
//! **Webhooks.** `Stripe-Signature` is checked against every `stripe.webhook_secrets` entry
//! (any `v1` may match, 300 s tolerance); a refused request is audited and answered `400`/`401`
//! with a stable code, and nothing else happens. A verified event is deduplicated by its id
//! (webhook receipts), applied by [`support_core::stripe_connect::process_event`] (database
//! work and our own `stripe/…` event only) and acknowledged; a dispute's Slack alert is posted
//! after the answer. An event that fails mid-way is dead-lettered (kind `webhook`) and answered
//! `500`.
//!
//! **Connect onboarding.** `GET /api/v1/apps/{slug}/stripe/connect` (admin) answers Stripe's
//! authorize URL with a signed, single-use `state`; `GET /stripe/oauth/callback` verifies and
//! consumes the state, exchanges the code at `{stripe.connect_url}/oauth/token` and stores the
//! `stripe_user_id` as the app's connected account.

use crate::api::Caller;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::signing::{self, SignatureError};
use support_core::store::{DeadLetter, DeadLetterKind};
use support_core::stripe_connect::{self as sc, StateError, WebhookDeps};
use support_core::time::now_ms;
use support_host::ApiError;
use support_host::Platform;

/// Where Stripe sends the user back after the authorize page.
pub const CALLBACK_PATH: &str = "/stripe/oauth/callback";

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/webhooks/stripe", post(webhook))
        .route("/api/v1/apps/{slug}/stripe/connect", get(connect_link))
        .route(CALLBACK_PATH, get(callback))
}

fn signature_error(e: &SignatureError) -> ApiError {
    let (code, status) = match e {
        SignatureError::Missing => ("missing_signature", StatusCode::BAD_REQUEST),
        SignatureError::Malformed | SignatureError::BadTimestamp => {
            ("malformed_signature", StatusCode::BAD_REQUEST)
        }
        SignatureError::Expired => ("signature_expired", StatusCode::UNAUTHORIZED),
        SignatureError::Mismatch => ("invalid_signature", StatusCode::UNAUTHORIZED),
    };
    ApiError::Refused {
        code,
        status,
        message: format!("Stripe-Signature refused: {e}"),
    }
}

async fn webhook(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let secrets: Vec<&str> = p
        .settings
        .stripe
        .webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = signing::verify_stripe(
        &secrets,
        header,
        &body,
        now_ms() / 1000,
        signing::DEFAULT_TOLERANCE_SECS,
    ) {
        let err = signature_error(&e);
        metrics::counter!("stripe_webhooks_total", "outcome" => "refused").increment(1);
        let ev = AuditEvent::new(
            "stripe.webhook_refused",
            "stripe",
            json!({"code": err.code(), "reason": e.to_string()}),
        );
        support_host::limits::audit_refusal(p.store.as_ref(), "stripe", err.code(), &ev).await?;
        return Err(err);
    }
    let sc::StripeEvent {
        id: event_id,
        kind,
        raw: event,
    } = sc::parse_event(&body).map_err(|e| match e {
        sc::WebhookError::Invalid(m) => ApiError::BadRequest(m),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    if !p
        .store
        .record_webhook_receipt(sc::WEBHOOK_RECEIPT_SOURCE, &event_id, now_ms())
        .await?
    {
        metrics::counter!("stripe_webhooks_total", "outcome" => "duplicate").increment(1);
        return Ok(Json(
            json!({"status": "duplicate", "event_id": event_id, "type": kind}),
        ));
    }
    let payments = support_connectors::stripe::from_settings(&p.settings.stripe);
    let deps = WebhookDeps {
        store: p.store.as_ref(),
        registry: p.registry.as_ref(),
        events: p.events.as_ref(),
        payments: payments.as_deref(),
    };
    let processed = match sc::process_event(&deps, &event, now_ms()).await {
        Ok(x) => x,
        Err(e) => {
            // The receipt is recorded, so Stripe's retry would be dropped as a duplicate: the
            // dead letter keeps the event for a replay.
            tracing::error!(event = %event_id, %kind, cause = %e, "Stripe webhook failed");
            metrics::counter!("stripe_webhooks_total", "outcome" => "failed").increment(1);
            p.store
                .insert_dead_letter(&DeadLetter {
                    id: support_core::ids::new_id("dl"),
                    kind: DeadLetterKind::Webhook,
                    ref_id: format!("stripe:{event_id}"),
                    error: e.to_string(),
                    payload: event.clone(),
                    created_at: now_ms(),
                    resolved_at: None,
                })
                .await?;
            p.store
                .append_audit(&AuditEvent::new(
                    "stripe.webhook_failed",
                    "stripe",
                    json!({"event_id": event_id, "type": kind, "error": e.to_string()}),
                ))
                .await?;
            return Err(ApiError::Refused {
                code: "webhook_failed",
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("event {event_id} could not be applied; it was dead-lettered"),
            });
        }
    };
    if let Some(pending) = processed.alert {
        // Stripe only needs the acknowledgement: Slack is told after.
        let store = p.store.clone();
        let channel = support_connectors::slack::from_settings(&p.settings.slack);
        tokio::spawn(async move {
            if let Err(e) = sc::send_alert(store.as_ref(), channel.as_deref(), &pending).await {
                tracing::error!(cause = %e, "cannot audit the dispute alert");
            }
        });
    }
    let outcome = if processed.summary["status"] == "ignored" {
        "ignored"
    } else {
        "processed"
    };
    metrics::counter!("stripe_webhooks_total", "outcome" => outcome).increment(1);
    Ok(Json(processed.summary))
}

async fn connect_link(
    caller: Caller,
    State(p): State<Platform>,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(mint_connect_link(&p, &slug, &caller.actor).await?))
}

/// Mint the Connect link of app `slug` for `actor` (audited as `stripe.connect_link_created`):
/// `{app, url, redirect_uri, expires_at, stripe_account}`. Shared by the JSON API and the
/// dashboard's Apps page.
pub async fn mint_connect_link(p: &Platform, slug: &str, actor: &str) -> Result<Value, ApiError> {
    let Some(client_id) = p
        .settings
        .stripe
        .connect_client_id
        .as_deref()
        .filter(|c| !c.is_empty())
    else {
        return Err(ApiError::Refused {
            code: "stripe_connect_not_configured",
            status: StatusCode::CONFLICT,
            message: "set stripe.connect_client_id (SUPPORT_STRIPE__CONNECT_CLIENT_ID) to the platform's Connect client id (ca_…)".into(),
        });
    };
    let app = p
        .store
        .get_app(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("app {slug}")))?;
    let now = now_ms();
    let state = sc::mint_state(&p.master_key, &app.slug, now, sc::STATE_TTL_MS);
    let redirect_uri = format!("{}{CALLBACK_PATH}", p.base_url());
    let url = sc::authorize_url(
        &p.settings.stripe.connect_url,
        client_id,
        &state,
        &redirect_uri,
    );
    p.store
        .append_audit(
            &AuditEvent::new(
                "stripe.connect_link_created",
                actor,
                json!({"redirect_uri": redirect_uri, "expires_at": now + sc::STATE_TTL_MS}),
            )
            .app(&app.slug),
        )
        .await?;
    Ok(json!({
        "app": app.slug,
        "url": url,
        "redirect_uri": redirect_uri,
        "expires_at": now + sc::STATE_TTL_MS,
        "stripe_account": app.stripe_account,
    }))
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn refuse(
    p: &Platform,
    app: Option<&str>,
    code: &'static str,
    status: StatusCode,
    message: String,
) -> ApiError {
    let mut ev = AuditEvent::new(
        "stripe.oauth_refused",
        "stripe-oauth",
        json!({"code": code, "reason": message}),
    );
    if let Some(a) = app {
        ev = ev.app(a);
    }
    if let Err(e) = support_host::limits::audit_refusal(p.store.as_ref(), "oauth", code, &ev).await
    {
        return e.into();
    }
    metrics::counter!("stripe_oauth_total", "outcome" => code).increment(1);
    ApiError::Refused {
        code,
        status,
        message,
    }
}

async fn callback(
    State(p): State<Platform>,
    Query(q): Query<CallbackQuery>,
) -> Result<Html<String>, ApiError> {
    let now = now_ms();
    let Some(state) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(refuse(
            &p,
            None,
            "state_invalid",
            StatusCode::BAD_REQUEST,
            "the state parameter is missing".into(),
        )
        .await);
    };
    let claims = match sc::consume_state(p.store.as_ref(), &p.master_key, state, now).await? {
        Ok(c) => c,
        Err(e) => {
            // Only a state we signed names a trustworthy app.
            let app = match &e {
                StateError::Forged => None,
                _ => sc::verify_state(&p.master_key, state, i64::MIN)
                    .ok()
                    .map(|c| c.app),
            };
            let status = match e {
                StateError::Reused => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err(refuse(&p, app.as_deref(), e.code(), status, e.to_string()).await);
        }
    };
    let slug = claims.app.as_str();
    if let Some(err) = q.error.as_deref() {
        let desc = q.error_description.clone().unwrap_or_default();
        return Err(refuse(
            &p,
            Some(slug),
            "authorization_denied",
            StatusCode::BAD_REQUEST,
            format!(
                "Stripe did not authorize the connection ({:.64}): {:.200}",
                err, desc
            ),
        )
        .await);
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 255)
    else {
        return Err(refuse(
            &p,
            Some(slug),
            "code_missing",
            StatusCode::BAD_REQUEST,
            "the code parameter is missing".into(),
        )
        .await);
    };
    let Some(key) = p.settings.stripe.secret_key.as_ref() else {
        return Err(refuse(
            &p,
            Some(slug),
            "stripe_not_configured",
            StatusCode::SERVICE_UNAVAILABLE,
            "stripe.secret_key is not set: the code cannot be exchanged".into(),
        )
        .await);
    };
    let grant = match support_connectors::stripe::exchange_oauth_code(
        &p.settings.stripe.connect_url,
        key,
        code,
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(app = slug, cause = %e, "Stripe Connect code exchange failed");
            return Err(refuse(
                &p,
                Some(slug),
                "stripe_oauth_failed",
                StatusCode::BAD_GATEWAY,
                format!("Stripe refused the connection: {e}"),
            )
            .await);
        }
    };
    let app = sc::connect_account(
        &p.registry,
        slug,
        &grant.stripe_user_id,
        "stripe-oauth",
        now_ms(),
    )
    .await
    .map_err(|e| match e {
        support_core::registry::RegistryError::NotFound(s) => {
            ApiError::NotFound(format!("app {s}"))
        }
        other => ApiError::Internal(other.to_string()),
    })?;
    metrics::counter!("stripe_oauth_total", "outcome" => "connected").increment(1);
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe connected</title></head>\
         <body><h1>Stripe connected</h1><p>{} is now connected to Stripe account <code>{}</code>. \
         You can close this page.</p></body></html>",
        support_core::pipeline::text::escape_html(&app.name),
        support_core::pipeline::text::escape_html(&grant.stripe_user_id)
    )))
}
