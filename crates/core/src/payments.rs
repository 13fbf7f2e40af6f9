//! The payments port: refunds and read-only queries on a product's Stripe Connect account.
//! `crates/connectors::stripe` implements it; the domain never sees Stripe's SDK types.
//!
//! Connect has two shapes that matter for refunds:
//! - **direct** charges live on the connected account: the call carries the account id
//!   (`Stripe-Account` header);
//! - **destination** charges live on the platform: the refund is made there and pulls the money
//!   back from the connected account (`reverse_transfer`) and returns the platform's fee
//!   (`refund_application_fee`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What to refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RefundTarget {
    /// A charge (`ch_…` or `py_…`).
    Charge(String),
    /// A payment intent (`pi_…`).
    PaymentIntent(String),
}

impl RefundTarget {
    pub fn id(&self) -> &str {
        match self {
            Self::Charge(id) | Self::PaymentIntent(id) => id,
        }
    }
}

/// Where the charge lives on Connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChargeLocation {
    /// A direct charge on the connected account `account` (`acct_…`).
    Direct { account: String },
    /// A destination charge on the platform; reverse the transfer and, optionally, refund the
    /// application fee.
    Destination { refund_application_fee: bool },
    /// A plain charge on the platform account.
    Platform,
}

impl ChargeLocation {
    /// The connected account to act on, if any (`Stripe-Account`).
    pub fn account(&self) -> Option<&str> {
        match self {
            Self::Direct { account } => Some(account),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Fraudulent => "fraudulent",
            Self::RequestedByCustomer => "requested_by_customer",
        }
    }
}

/// A refund to make. `idempotency_key` is required: the same key never refunds twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub target: RefundTarget,
    pub location: ChargeLocation,
    /// Minor units; `None` refunds what is left.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    #[serde(default)]
    pub reason: Option<RefundReason>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

/// A refund as the payment provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `re_…`
    pub id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub charge: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Unix seconds.
    pub created: i64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A charge, for the agent's context and the refund window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount_cents: i64,
    pub amount_refunded_cents: i64,
    pub currency: String,
    pub paid: bool,
    pub refunded: bool,
    pub disputed: bool,
    /// `succeeded`, `pending` or `failed`.
    pub status: String,
    pub created: i64,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A subscription, for the agent's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    /// `active`, `past_due`, `canceled`, `trialing`, …
    pub status: String,
    pub customer: String,
    pub cancel_at_period_end: bool,
    pub created: i64,
    pub currency: String,
    /// The price ids of its items.
    pub price_ids: Vec<String>,
    /// The end of the current period of its first item, Unix seconds.
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentsError {
    /// The card or bank refused (Stripe `card_error`), with the provider's message.
    #[error("payment declined: {message}")]
    Card {
        code: Option<String>,
        decline_code: Option<String>,
        message: String,
    },
    /// The request was invalid (Stripe `invalid_request_error`), e.g. `charge_already_refunded`,
    /// `amount_too_large`, `resource_missing`.
    #[error("payment request refused ({status}): {message}")]
    InvalidRequest {
        status: u16,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    /// The idempotency key was already used with other parameters.
    #[error("idempotency key reused with different parameters: {message}")]
    IdempotencyConflict { message: String },
    #[error("payment provider authentication failed: {message}")]
    Auth { message: String },
    #[error("payment provider rate limit")]
    RateLimited,
    #[error("payment provider error ({status}): {message}")]
    Api { status: u16, message: String },
    #[error("payment provider unreachable: {0}")]
    Transport(String),
    #[error("invalid payment request or response: {0}")]
    Invalid(String),
}

impl PaymentsError {
    /// Whether retrying with the same idempotency key may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::RateLimited | Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500 || *status == 409,
            _ => false,
        }
    }

    /// The provider's error code, when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Card { code, .. } | Self::InvalidRequest { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Refunds and read-only payment queries on a product's account.
#[async_trait]
pub trait Payments: Send + Sync + 'static {
    /// Refund a charge or a payment intent (always idempotent on `request.idempotency_key`).
    async fn refund(&self, request: &RefundRequest) -> Result<Refund, PaymentsError>;

    /// A customer's most recent charges (newest first), on `account` when given.
    async fn list_charges(
        &self,
        account: Option<&str>,
        customer: &str,
        limit: u8,
    ) -> Result<Vec<Charge>, PaymentsError>;

    /// The refunds of a charge or payment intent (newest first).
    async fn list_refunds(
        &self,
        account: Option<&str>,
        target: &RefundTarget,
        limit: u8,
    ) -> Result<Vec<Refund>, PaymentsError>;

    /// A customer's subscriptions in any status (newest first).
    async fn list_subscriptions(
        &self,
        account: Option<&str>,
        customer: &str,
        limit: u8,
    ) -> Result<Vec<Subscription>, PaymentsError>;

    /// The refunds of a customer's recent charges: Stripe lists refunds per charge, so this
    /// walks the charges that have refunds.
    async fn customer_refunds(
        &self,
        account: Option<&str>,
        customer: &str,
        limit: u8,
    ) -> Result<Vec<Refund>, PaymentsError> {
        let mut out = Vec::new();
        for charge in self.list_charges(account, customer, limit).await? {
            if charge.amount_refunded_cents > 0 {
                out.extend(
                    self.list_refunds(account, &RefundTarget::Charge(charge.id), limit)
                        .await?,
                );
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created));
        out.truncate(usize::from(limit));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(RefundTarget::PaymentIntent("pi_1".into()).id(), "pi_1");
        assert_eq!(
            ChargeLocation::Direct {
                account: "acct_1".into()
            }
            .account(),
            Some("acct_1")
        );
        assert_eq!(ChargeLocation::Platform.account(), None);
        let e = PaymentsError::Card {
            code: Some("card_declined".into()),
            decline_code: None,
            message: "Your card was declined.".into(),
        };
        assert_eq!(e.code(), Some("card_declined"));
        assert!(!e.is_retriable());
        assert!(PaymentsError::RateLimited.is_retriable());
        assert_eq!(
            RefundReason::RequestedByCustomer.as_str(),
            "requested_by_customer"
        );
    }
}
