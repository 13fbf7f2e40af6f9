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

/// A charge, for the agent's context, the refund window and the amount of a refund (always
/// the charge's, never the product's figure).
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
    /// The payer's email on the charge (`billing_details.email`, else `receipt_email`): how a
    /// dispute of a charge none of our actions worked on finds the customer's conversation.
    #[serde(default)]
    pub email: Option<String>,
}

impl Charge {
    /// What is left to refund, in minor units (`amount - amount_refunded`, never negative).
    pub fn remaining_cents(&self) -> i64 {
        self.amount_cents
            .saturating_sub(self.amount_refunded_cents)
            .max(0)
    }
}

/// How many decimal places a currency's minor unit has, as Stripe counts them: 0 for the
/// zero-decimal currencies (`jpy`, `krw`, …), 3 for `bhd`, `jod`, `kwd`, `omr`, `tnd`, else 2.
pub fn currency_exponent(currency: &str) -> u32 {
    const ZERO: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    let c = currency.trim().to_ascii_lowercase();
    if ZERO.contains(&c.as_str()) {
        0
    } else if THREE.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

/// An amount in major units (`179.0` dollars, `1000` yen), as products report
/// `Purchase.amount`, in the currency's minor units (`17900`, `1000`). `None` for a negative,
/// non-finite or absurdly large figure.
pub fn to_minor_units(major: f64, currency: &str) -> Option<i64> {
    let minor = (major * 10f64.powi(currency_exponent(currency) as i32)).round();
    (minor.is_finite() && (0.0..9.0e15).contains(&minor)).then_some(minor as i64)
}

/// Minor units as a plain decimal in major units: `17900 usd` -> `179.00`, `1000 jpy` ->
/// `1000`, `1500 kwd` -> `1.500`.
pub fn major_units(minor: i64, currency: &str) -> String {
    let exp = currency_exponent(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exp == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10u64.pow(exp);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// An amount for humans, with its currency: `$179.00 USD`, `€10.00 EUR`, `¥1000 JPY`,
/// `1.500 KWD`.
pub fn format_amount(minor: i64, currency: &str) -> String {
    let code = currency.trim().to_ascii_uppercase();
    let major = major_units(minor, currency);
    let (sign, digits) = match major.strip_prefix('-') {
        Some(d) => ("-", d.to_string()),
        None => ("", major),
    };
    let symbol = match code.as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    format!("{sign}{symbol}{digits} {code}")
}

/// Cross-check the product's figure for a purchase (`Purchase.amount`, major units, and its
/// currency) against the Stripe charge it names. The charge is the truth; the product's
/// figure must agree with its amount up to rounding (one minor unit), in the same currency.
/// `Err` says, for a human, how they differ.
pub fn cross_check(app_amount: f64, app_currency: &str, charge: &Charge) -> Result<(), String> {
    let same_currency = app_currency
        .trim()
        .eq_ignore_ascii_case(charge.currency.trim());
    let charge_says = format_amount(charge.amount_cents, &charge.currency);
    if !same_currency {
        return Err(format!(
            "the product reports the purchase in {}, the Stripe charge {} is {charge_says}",
            app_currency.trim().to_ascii_uppercase(),
            charge.id
        ));
    }
    match to_minor_units(app_amount, app_currency) {
        Some(minor) if (minor - charge.amount_cents).abs() <= 1 => Ok(()),
        _ => Err(format!(
            "the product reports {app_amount} {} (Purchase.amount is in major units: {}), the Stripe charge {} is {charge_says}",
            app_currency.trim().to_ascii_uppercase(),
            to_minor_units(app_amount, app_currency)
                .map(|m| format_amount(m, app_currency))
                .unwrap_or_else(|| "not an amount".into()),
            charge.id
        )),
    }
}

/// What a refund of a purchase moves, as the approver sees it: read from the Stripe charge
/// when Stripe is configured (`verified`), never from the product or a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQuote {
    /// The Stripe charge (`ch_…`), when Stripe is configured.
    #[serde(default)]
    pub charge_id: Option<String>,
    /// What a full refund moves now: the charge's `amount - amount_refunded`, minor units.
    pub amount_cents: i64,
    /// The charge's currency, lowercase.
    pub currency: String,
    /// The charge's `amount`, minor units.
    #[serde(default)]
    pub charge_amount_cents: Option<i64>,
    /// The charge's `amount_refunded`, minor units.
    #[serde(default)]
    pub refunded_cents: Option<i64>,
    /// `true`: the figures are Stripe's. `false`: Stripe is not configured, no money moves
    /// (the product only revokes access) and the figure is the product's, for information.
    pub verified: bool,
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

    /// One charge (`ch_…`/`py_…`) with its amount, refunded amount and currency, on `account`
    /// when given (`Stripe-Account`).
    async fn get_charge(
        &self,
        account: Option<&str>,
        charge: &str,
    ) -> Result<Charge, PaymentsError>;

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

    fn charge(amount: i64, refunded: i64, currency: &str) -> Charge {
        Charge {
            id: "ch_1".into(),
            amount_cents: amount,
            amount_refunded_cents: refunded,
            currency: currency.into(),
            paid: true,
            refunded: refunded >= amount,
            disputed: false,
            status: "succeeded".into(),
            created: 0,
            customer: None,
            payment_intent: None,
            description: None,
            email: None,
        }
    }

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(currency_exponent("USD"), 2);
        assert_eq!(currency_exponent("jpy"), 0);
        assert_eq!(currency_exponent("kwd"), 3);
        assert_eq!(to_minor_units(179.0, "usd"), Some(17_900));
        assert_eq!(to_minor_units(0.1 + 0.2, "usd"), Some(30));
        assert_eq!(to_minor_units(1000.0, "jpy"), Some(1000));
        assert_eq!(to_minor_units(1.5, "kwd"), Some(1500));
        assert_eq!(to_minor_units(-1.0, "usd"), None);
        assert_eq!(to_minor_units(f64::NAN, "usd"), None);
        assert_eq!(to_minor_units(f64::MAX, "usd"), None);
        assert_eq!(format_amount(17_900, "usd"), "$179.00 USD");
        assert_eq!(format_amount(1000, "jpy"), "¥1000 JPY");
        assert_eq!(format_amount(1500, "kwd"), "1.500 KWD");
        assert_eq!(format_amount(-250, "eur"), "-€2.50 EUR");
        assert_eq!(major_units(5, "usd"), "0.05");
        assert_eq!(charge(17_900, 10_000, "usd").remaining_cents(), 7_900);
        assert_eq!(charge(100, 200, "usd").remaining_cents(), 0);
    }

    #[test]
    fn the_products_figure_is_only_cross_checked() {
        let c = charge(17_900, 0, "usd");
        assert!(cross_check(179.0, "usd", &c).is_ok());
        assert!(cross_check(179.004, "USD", &c).is_ok());
        assert!(
            cross_check(178.99, "usd", &c).is_ok(),
            "one cent of rounding"
        );
        // Cents sent as if they were dollars, another currency, another amount.
        let e = cross_check(17_900.0, "usd", &c).unwrap_err();
        assert!(e.contains("$179.00 USD") && e.contains("ch_1"), "{e}");
        assert!(cross_check(179.0, "eur", &c).is_err());
        assert!(cross_check(150.0, "usd", &c).is_err());
        assert!(cross_check(f64::NAN, "usd", &c).is_err());
        assert!(cross_check(1000.0, "jpy", &charge(1000, 0, "jpy")).is_ok());
        assert!(cross_check(10.0, "jpy", &charge(1000, 0, "jpy")).is_err());
    }
}
