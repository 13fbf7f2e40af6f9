//! Stripe Connect refunds and read-only queries with async-stripe (1.0, lean features: core
//! `refund` + `charge`, billing `subscription`).
//!
//! Wire format (what the fakes in `tests/stripe_client.rs` check): `GET /v1/charges/{id}` (the
//! amount, refunded amount and currency a refund is made from), `POST /v1/refunds`
//! form-encoded with `charge` or `payment_intent`, `amount`, `reason`, `metadata[k]`,
//! `reverse_transfer`/`refund_application_fee` for destination charges; header
//! `Stripe-Account: acct_…` for direct charges; always `Idempotency-Key`. Errors are
//! `{"error":{"type","code","message","param",…}}` with 4xx/5xx.

use async_trait::async_trait;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{
    AccountId, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest,
};
use stripe_billing::subscription::{ListSubscription, ListSubscriptionStatus};
use stripe_core::charge::{ListCharge, RetrieveCharge};
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund};
use support_core::payments::{
    Charge, ChargeLocation, Payments, PaymentsError, Refund, RefundReason, RefundRequest,
    RefundTarget, Subscription,
};
use support_core::settings::Secret;

/// Stripe's API base (async-stripe appends `v1/…`, so keep the trailing slash).
pub const DEFAULT_API_URL: &str = "https://api.stripe.com/";

/// The Stripe adapter of the [`Payments`] port.
pub struct StripePayments {
    client: Client,
    api_url: String,
}

impl std::fmt::Debug for StripePayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripePayments")
            .field("api_url", &self.api_url)
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

impl StripePayments {
    /// A client on `api_url` (`https://api.stripe.com/` or a fake's `http://127.0.0.1:PORT/`),
    /// with a per-attempt timeout.
    pub fn new(
        secret_key: &Secret,
        api_url: &str,
        timeout: Duration,
    ) -> Result<Self, PaymentsError> {
        crate::ensure_crypto_provider();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(PaymentsError::Invalid(format!(
                "Stripe API URL must be http(s): {api_url}"
            )));
        }
        let api_url = format!("{}/", api_url.trim_end_matches('/'));
        let client = ClientBuilder::new(secret_key.expose())
            .url(api_url.clone())
            .timeout(timeout)
            .request_strategy(RequestStrategy::Once)
            .app_info(
                "support-platform",
                Some(env!("CARGO_PKG_VERSION").into()),
                None,
            )
            .build()
            .map_err(map_err)?;
        Ok(Self { client, api_url })
    }
}

/// The Stripe adapter of the settings: `Some` when `stripe.secret_key` is set (an invalid API
/// URL is logged and leaves Stripe off).
pub fn from_settings(
    settings: &support_core::settings::StripeSettings,
) -> Option<std::sync::Arc<dyn Payments>> {
    let key = settings.secret_key.as_ref()?;
    match StripePayments::new(key, &settings.api_url, Duration::from_secs(30)) {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(e) => {
            tracing::error!(cause = %e, "cannot build the Stripe client: refunds go to the SDK only");
            None
        }
    }
}

/// Map async-stripe's error to the port's, keeping Stripe's type, code and message.
fn map_err(e: StripeError) -> PaymentsError {
    match e {
        StripeError::Stripe(err, status) => {
            let message = err
                .message
                .clone()
                .unwrap_or_else(|| format!("Stripe error {status}"));
            let code = err.code.as_ref().map(|c| c.as_str().to_string());
            match (err.type_.as_str(), status) {
                ("card_error", _) => PaymentsError::Card {
                    code,
                    decline_code: err.decline_code.clone(),
                    message,
                },
                ("idempotency_error", _) => PaymentsError::IdempotencyConflict { message },
                (_, 401 | 403) => PaymentsError::Auth { message },
                (_, 429) => PaymentsError::RateLimited,
                ("invalid_request_error", s) if s < 500 => PaymentsError::InvalidRequest {
                    status: s,
                    code,
                    param: err.param.clone(),
                    message,
                },
                (_, s) => PaymentsError::Api { status: s, message },
            }
        }
        StripeError::JSONDeserialize(m) => PaymentsError::Invalid(m),
        StripeError::ConfigError(m) => PaymentsError::Invalid(m),
        StripeError::ClientError(m) => PaymentsError::Transport(m),
        StripeError::Timeout => PaymentsError::Transport("timeout".into()),
    }
}

fn id_ok(id: &str, prefixes: &[&str]) -> Result<(), PaymentsError> {
    let ok = prefixes.iter().any(|p| id.starts_with(p))
        && id.len() <= 255
        && id
            .chars()
            .skip_while(|c| *c != '_')
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PaymentsError::Invalid(format!("not a Stripe id: {id:?}")))
    }
}

fn account_id(account: Option<&str>) -> Result<Option<AccountId>, PaymentsError> {
    account
        .map(|a| id_ok(a, &["acct_"]).map(|()| AccountId::from(a)))
        .transpose()
}

fn limit(n: u8) -> i64 {
    i64::from(n.clamp(1, 100))
}

fn charge_from(c: stripe_core::Charge) -> Charge {
    Charge {
        id: c.id.to_string(),
        amount_cents: c.amount,
        amount_refunded_cents: c.amount_refunded,
        currency: c.currency.to_string(),
        paid: c.paid,
        refunded: c.refunded,
        disputed: c.disputed,
        status: c.status.as_str().to_string(),
        created: c.created,
        customer: c.customer.as_ref().map(|x| x.id().to_string()),
        payment_intent: c.payment_intent.as_ref().map(|x| x.id().to_string()),
        email: c
            .billing_details
            .email
            .clone()
            .filter(|e| !e.is_empty())
            .or(c.receipt_email),
        description: c.description,
    }
}

fn refund_from(r: stripe_core::Refund) -> Refund {
    Refund {
        id: r.id.to_string(),
        amount_cents: r.amount,
        currency: r.currency.to_string(),
        status: r.status.clone(),
        charge: r.charge.as_ref().map(|c| c.id().to_string()),
        payment_intent: r.payment_intent.as_ref().map(|p| p.id().to_string()),
        reason: r.reason.as_ref().map(|x| x.as_str().to_string()),
        created: r.created,
        metadata: r.metadata.unwrap_or_default().into_iter().collect(),
    }
}

#[async_trait]
impl Payments for StripePayments {
    async fn refund(&self, request: &RefundRequest) -> Result<Refund, PaymentsError> {
        let mut req = CreateRefund::new();
        req = match &request.target {
            RefundTarget::Charge(id) => {
                id_ok(id, &["ch_", "py_"])?;
                req.charge(id.as_str())
            }
            RefundTarget::PaymentIntent(id) => {
                id_ok(id, &["pi_"])?;
                req.payment_intent(id.as_str())
            }
        };
        if let Some(a) = request.amount_cents {
            if a <= 0 {
                return Err(PaymentsError::Invalid(format!(
                    "refund amount {a} must be > 0"
                )));
            }
            req = req.amount(a);
        }
        if let Some(r) = request.reason {
            req = req.reason(match r {
                RefundReason::Duplicate => CreateRefundReason::Duplicate,
                RefundReason::Fraudulent => CreateRefundReason::Fraudulent,
                RefundReason::RequestedByCustomer => CreateRefundReason::RequestedByCustomer,
            });
        }
        if !request.metadata.is_empty() {
            req = req.metadata(
                request
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            );
        }
        if let ChargeLocation::Destination {
            refund_application_fee,
        } = &request.location
        {
            req = req.reverse_transfer(true);
            if *refund_application_fee {
                req = req.refund_application_fee(true);
            }
        }
        let key = IdempotencyKey::new(&request.idempotency_key)
            .map_err(|e| PaymentsError::Invalid(format!("idempotency key: {e}")))?;
        let mut call = req
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key));
        if let Some(acct) = account_id(request.location.account())? {
            call = call.account_id(acct);
        }
        let refund = call.send(&self.client).await.map_err(map_err)?;
        Ok(refund_from(refund))
    }

    async fn list_charges(
        &self,
        account: Option<&str>,
        customer: &str,
        n: u8,
    ) -> Result<Vec<Charge>, PaymentsError> {
        id_ok(customer, &["cus_"])?;
        let mut call = ListCharge::new()
            .customer(customer)
            .limit(limit(n))
            .customize();
        if let Some(acct) = account_id(account)? {
            call = call.account_id(acct);
        }
        let list = call.send(&self.client).await.map_err(map_err)?;
        Ok(list.data.into_iter().map(charge_from).collect())
    }

    async fn get_charge(
        &self,
        account: Option<&str>,
        charge: &str,
    ) -> Result<Charge, PaymentsError> {
        id_ok(charge, &["ch_", "py_"])?;
        let mut call = RetrieveCharge::new(charge).customize();
        if let Some(acct) = account_id(account)? {
            call = call.account_id(acct);
        }
        let c = call.send(&self.client).await.map_err(map_err)?;
        Ok(charge_from(c))
    }

    async fn list_refunds(
        &self,
        account: Option<&str>,
        target: &RefundTarget,
        n: u8,
    ) -> Result<Vec<Refund>, PaymentsError> {
        let req = match target {
            RefundTarget::Charge(id) => {
                id_ok(id, &["ch_", "py_"])?;
                ListRefund::new().charge(id.as_str())
            }
            RefundTarget::PaymentIntent(id) => {
                id_ok(id, &["pi_"])?;
                ListRefund::new().payment_intent(id.as_str())
            }
        };
        let mut call = req.limit(limit(n)).customize();
        if let Some(acct) = account_id(account)? {
            call = call.account_id(acct);
        }
        let list = call.send(&self.client).await.map_err(map_err)?;
        Ok(list.data.into_iter().map(refund_from).collect())
    }

    async fn list_subscriptions(
        &self,
        account: Option<&str>,
        customer: &str,
        n: u8,
    ) -> Result<Vec<Subscription>, PaymentsError> {
        id_ok(customer, &["cus_"])?;
        let mut call = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All)
            .limit(limit(n))
            .customize();
        if let Some(acct) = account_id(account)? {
            call = call.account_id(acct);
        }
        let list = call.send(&self.client).await.map_err(map_err)?;
        Ok(list
            .data
            .into_iter()
            .map(|s| Subscription {
                id: s.id.to_string(),
                status: s.status.as_str().to_string(),
                customer: s.customer.id().to_string(),
                cancel_at_period_end: s.cancel_at_period_end,
                created: s.created,
                currency: s.currency.to_string(),
                price_ids: s
                    .items
                    .data
                    .iter()
                    .map(|i| i.price.id.to_string())
                    .collect(),
                current_period_end: s.items.data.first().map(|i| i.current_period_end),
            })
            .collect())
    }
}

/// What Connect's `POST /oauth/token` grants: the connected account. The access and refresh
/// tokens are dropped on purpose: the platform acts with its own key and `Stripe-Account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthGrant {
    /// `acct_…`
    pub stripe_user_id: String,
    pub scope: Option<String>,
    pub livemode: bool,
}

/// Why a Connect OAuth code exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OauthError {
    /// Stripe refused with OAuth's `{"error","error_description"}` (e.g. `invalid_grant`).
    #[error("Stripe refused the authorization code ({code}): {description}")]
    Refused { code: String, description: String },
    #[error("Stripe Connect unreachable: {0}")]
    Transport(String),
    #[error("unexpected answer from Stripe Connect: {0}")]
    Invalid(String),
}

impl OauthError {
    /// A stable code for audits and error pages.
    pub fn code(&self) -> &str {
        match self {
            Self::Refused { code, .. } => code,
            Self::Transport(_) => "connect_unreachable",
            Self::Invalid(_) => "connect_invalid_response",
        }
    }
}

/// Exchange a Connect OAuth authorization `code` at `{connect_url}/oauth/token`
/// (`grant_type=authorization_code`), authenticated with the platform's secret key as HTTP
/// Basic user, as Stripe documents (`curl -u sk_…:`).
pub async fn exchange_oauth_code(
    connect_url: &str,
    secret_key: &Secret,
    code: &str,
) -> Result<OauthGrant, OauthError> {
    crate::ensure_crypto_provider();
    if !(connect_url.starts_with("https://") || connect_url.starts_with("http://")) {
        return Err(OauthError::Invalid(format!(
            "Connect URL must be http(s): {connect_url}"
        )));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OauthError::Transport(e.to_string()))?;
    let res = http
        .post(format!("{}/oauth/token", connect_url.trim_end_matches('/')))
        .basic_auth(secret_key.expose(), Some(""))
        .form(&[("grant_type", "authorization_code"), ("code", code)])
        .send()
        .await
        .map_err(|e| OauthError::Transport(e.without_url().to_string()))?;
    let status = res.status();
    let body: serde_json::Value = res
        .json()
        .await
        .map_err(|e| OauthError::Invalid(format!("HTTP {status}: {}", e.without_url())))?;
    if !status.is_success() {
        return Err(match body["error"].as_str() {
            Some(code) => OauthError::Refused {
                code: code.to_string(),
                description: body["error_description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            },
            None => OauthError::Invalid(format!("HTTP {status} without an OAuth error")),
        });
    }
    let account = body["stripe_user_id"]
        .as_str()
        .filter(|a| id_ok(a, &["acct_"]).is_ok())
        .ok_or_else(|| OauthError::Invalid("no valid stripe_user_id in the answer".into()))?;
    Ok(OauthGrant {
        stripe_user_id: account.to_string(),
        scope: body["scope"].as_str().map(str::to_string),
        livemode: body["livemode"].as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_they_reach_a_url() {
        assert!(id_ok("ch_3Mtw", &["ch_"]).is_ok());
        assert!(id_ok("pi_1/../x", &["pi_"]).is_err());
        assert!(id_ok("cus_1&limit=100", &["cus_"]).is_err());
        assert!(id_ok("re_1", &["ch_"]).is_err());
        assert!(account_id(Some("acct_1")).is_ok());
        assert!(account_id(Some("acct 1")).is_err());
        assert_eq!(limit(0), 1);
        assert_eq!(limit(200), 100);
    }

    #[test]
    fn urls_and_debug() {
        assert!(
            StripePayments::new(&Secret::new("sk_test_1"), "ftp://x", Duration::from_secs(1))
                .is_err()
        );
        let c = StripePayments::new(
            &Secret::new("sk_test_secret_value"),
            "http://127.0.0.1:1",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.api_url, "http://127.0.0.1:1/");
        assert!(!format!("{c:?}").contains("sk_test_secret_value"));
    }
}
