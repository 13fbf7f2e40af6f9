//! The customer card of the sidebar: who the conversation's customer is in the app
//! (`lookupUser`, `getPurchases`, `getSubscriptions` through the app's SDK client, from
//! [`ProductDirectory`]) and, asked for one purchase at a time, the Stripe charge that paid for
//! it ([`Payments::get_charge`] on the app's account). Money is only ever Stripe's: a purchase
//! is shown without the app's amount; the charge shows what Stripe holds.
//!
//! Both are kept per conversation in the [`Cache`] port (Redis across instances, memory in one)
//! for [`CARD_TTL_MS`], so an agent flicking between conversations never floods the app's
//! endpoint or Stripe. Freshness is judged by a [`Clock`] (tests move it), the cache's own
//! expiry is only the upper bound. The cache is never the truth: a cache that fails is read
//! around, and nothing is decided from a card.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use support_core::cache::Cache;
use support_core::payments::{Payments, format_amount};
use support_core::registry::{ProductDirectory, Registry};
use support_core::retention::Clock;
use support_core::store::{Store, StoreError};
use support_core::time::Millis;
use support_sdk::IntegrationError;
use support_sdk::types::{Subscription, User};

/// How long a card (or a charge) is served from the cache.
pub const CARD_TTL_MS: Millis = 60_000;
/// At most this many purchases are shown.
pub const MAX_PURCHASES: usize = 20;

/// A purchase as the card shows it: no amount (the app's figure is not money we show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseView {
    pub id: String,
    pub product_name: String,
    pub purchased_at: String,
    pub status: String,
    /// The Stripe charge that paid for it, when the app names one.
    pub charge_id: Option<String>,
}

/// The customer of one conversation, as the app reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub conversation_id: String,
    pub app: Option<String>,
    pub email: Option<String>,
    pub user: Option<User>,
    pub purchases: Vec<PurchaseView>,
    /// `None` when the app does not implement `getSubscriptions`.
    pub subscriptions: Option<Vec<Subscription>>,
    pub fetched_at: Millis,
    /// Served from the cache (set on the way out, never stored).
    #[serde(default)]
    pub cached: bool,
}

/// A purchase's Stripe charge, as Stripe holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargeView {
    pub purchase_id: String,
    pub charge_id: String,
    pub amount: String,
    pub amount_cents: i64,
    pub refunded: String,
    pub refunded_cents: i64,
    pub currency: String,
    pub status: String,
    pub disputed: bool,
    pub fetched_at: Millis,
    #[serde(default)]
    pub cached: bool,
}

/// Why a card or a charge cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("no such purchase on this conversation's customer: {0}")]
    UnknownPurchase(String),
    #[error("Stripe is not configured, so no charge can be shown")]
    NoPayments,
    #[error("the app's SDK endpoint did not answer: {0}")]
    Product(String),
    #[error("Stripe did not answer: {0}")]
    Stripe(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cards and charges, cached per conversation.
#[derive(Clone)]
pub struct CustomerCards {
    cache: Arc<dyn Cache>,
    products: Arc<dyn ProductDirectory>,
    payments: Option<Arc<dyn Payments>>,
    clock: Arc<dyn Clock>,
    ttl_ms: Millis,
}

fn card_key(conversation: &str) -> String {
    format!("front_plugin:card:{conversation}")
}

fn charge_key(conversation: &str, purchase: &str) -> String {
    format!("front_plugin:charge:{conversation}:{purchase}")
}

fn product_error(e: IntegrationError) -> CardError {
    CardError::Product(e.to_string())
}

impl CustomerCards {
    pub fn new(
        cache: Arc<dyn Cache>,
        products: Arc<dyn ProductDirectory>,
        payments: Option<Arc<dyn Payments>>,
        clock: Arc<dyn Clock>,
        ttl_ms: Millis,
    ) -> Self {
        Self {
            cache,
            products,
            payments,
            clock,
            ttl_ms,
        }
    }

    /// A cached value of `key` still fresh at the clock's now.
    async fn cached<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
        at: impl Fn(&T) -> Millis,
    ) -> Option<T> {
        let raw = match self.cache.get(key).await {
            Ok(raw) => raw?,
            Err(e) => {
                tracing::warn!(cause = %e, "plugin card cache unavailable; asking the app");
                return None;
            }
        };
        let v: T = serde_json::from_str(&raw).ok()?;
        let age = self.clock.now_ms() - at(&v);
        (0..self.ttl_ms).contains(&age).then_some(v)
    }

    async fn remember<T: Serialize>(&self, key: &str, v: &T) {
        let Ok(raw) = serde_json::to_string(v) else {
            return;
        };
        let ttl = Duration::from_millis(u64::try_from(self.ttl_ms).unwrap_or(1));
        if let Err(e) = self.cache.set(key, &raw, ttl).await {
            tracing::warn!(cause = %e, "plugin card cache unavailable; not kept");
        }
    }

    /// The card of `conversation` (`None` when we do not know the conversation).
    pub async fn card(
        &self,
        store: &dyn Store,
        registry: &Registry,
        conversation: &str,
    ) -> Result<Option<Card>, CardError> {
        if let Some(mut c) = self
            .cached::<Card>(&card_key(conversation), |c| c.fetched_at)
            .await
        {
            c.cached = true;
            return Ok(Some(c));
        }
        let Some(conv) = store.get_conversation(conversation).await? else {
            return Ok(None);
        };
        let mut card = Card {
            conversation_id: conversation.to_string(),
            app: conv.app.clone(),
            email: conv.customer_email.clone(),
            user: None,
            purchases: Vec::new(),
            subscriptions: None,
            fetched_at: self.clock.now_ms(),
            cached: false,
        };
        let app = match &conv.app {
            Some(slug) => registry
                .by_slug(slug)
                .await
                .map_err(|e| CardError::Product(e.to_string()))?,
            None => None,
        };
        if let (Some(app), Some(email)) = (app, conv.customer_email.as_deref()) {
            let client = self.products.client(&app).map_err(CardError::Product)?;
            if let Some(user) = client.lookup_user(email).await.map_err(product_error)? {
                let purchases = client
                    .get_purchases(&user.id)
                    .await
                    .map_err(product_error)?;
                for p in purchases.into_iter().take(MAX_PURCHASES) {
                    card.purchases.push(PurchaseView {
                        charge_id: p.stripe_charge_id,
                        id: p.id,
                        product_name: p.product_name,
                        purchased_at: p.purchased_at,
                        status: p.status.as_str().to_string(),
                    });
                }
                card.subscriptions = match client.get_subscriptions(&user.id).await {
                    Ok(s) => Some(s),
                    Err(IntegrationError::NotImplemented(_)) => None,
                    Err(e) => return Err(product_error(e)),
                };
                card.user = Some(user);
            }
        }
        self.remember(&card_key(conversation), &card).await;
        Ok(Some(card))
    }

    /// The Stripe charge of one of the customer's purchases (only a purchase on this
    /// conversation's card: the id is never trusted to name any charge).
    pub async fn charge(
        &self,
        store: &dyn Store,
        registry: &Registry,
        conversation: &str,
        purchase: &str,
    ) -> Result<ChargeView, CardError> {
        if let Some(mut c) = self
            .cached::<ChargeView>(&charge_key(conversation, purchase), |c| c.fetched_at)
            .await
        {
            c.cached = true;
            return Ok(c);
        }
        let card = self
            .card(store, registry, conversation)
            .await?
            .ok_or_else(|| CardError::UnknownPurchase(purchase.to_string()))?;
        let charge_id = card
            .purchases
            .iter()
            .find(|p| p.id == purchase)
            .and_then(|p| p.charge_id.clone())
            .ok_or_else(|| CardError::UnknownPurchase(purchase.to_string()))?;
        let payments = self.payments.as_ref().ok_or(CardError::NoPayments)?;
        let account = match &card.app {
            Some(slug) => registry
                .by_slug(slug)
                .await
                .map_err(|e| CardError::Stripe(e.to_string()))?
                .and_then(|a| a.stripe_account),
            None => None,
        };
        let ch = payments
            .get_charge(account.as_deref(), &charge_id)
            .await
            .map_err(|e| CardError::Stripe(e.to_string()))?;
        let view = ChargeView {
            purchase_id: purchase.to_string(),
            amount: format_amount(ch.amount_cents, &ch.currency),
            refunded: format_amount(ch.amount_refunded_cents, &ch.currency),
            charge_id: ch.id,
            amount_cents: ch.amount_cents,
            refunded_cents: ch.amount_refunded_cents,
            currency: ch.currency,
            status: ch.status,
            disputed: ch.disputed,
            fetched_at: self.clock.now_ms(),
            cached: false,
        };
        self.remember(&charge_key(conversation, purchase), &view)
            .await;
        Ok(view)
    }
}
