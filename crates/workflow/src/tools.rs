//! The platform tools: [`PlatformTools`] answers the agent's tool calls from the app's SDK
//! endpoint, the knowledge base, the action log and Stripe (refunds quoted from the charge).

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use support_core::audit::AuditEvent;
use support_core::context_cache::ContextCache;
use support_core::knowledge::Retriever;
use support_core::payments::{
    ChargeLocation, Payments, PaymentsError, RefundQuote, RefundReason, RefundRequest,
    RefundTarget, cross_check, format_amount,
};
use support_core::pipeline::inbound::CustomerFacts;
use support_core::pipeline::kb::KbHit;
use support_core::pipeline::tools::{ToolCall, ToolError, ToolExecutor, ToolName};
use support_core::store::{AppRow, AppStatus, IdempotencyState, Store};
use support_core::time::now_ms;
use support_sdk::SupportIntegration;
use support_steps::StepError;

use crate::inbound::InboundDeps;
use crate::retry::retry_key;

/// Tools backed by the app's SDK endpoint, the knowledge base and the action log. Writes are
/// idempotent (keyed by run, tool and arguments) and audited.
pub struct PlatformTools {
    store: Arc<dyn Store>,
    product: Arc<dyn SupportIntegration>,
    kb: Arc<dyn Retriever>,
    app: String,
    trace: String,
    conversation: String,
    payments: Option<Arc<dyn Payments>>,
    stripe_account: Option<String>,
    /// The app's status: `disconnected` after Stripe deauthorized the platform.
    app_status: AppStatus,
    facts: Option<CustomerFacts>,
    /// The context cache and the id of the entry of the message being answered: its
    /// `searchKnowledge` answers are kept there (`crate::context`).
    context: Option<(ContextCache, String)>,
}

/// Why a refund could not be quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteError {
    /// Nothing is refunded; a human takes the conversation, with this reason.
    Escalate(String),
    /// A passing failure (Stripe or the product unreachable): try again.
    Retry(String),
}

/// What a write runs under: its idempotency key (also the Stripe `Idempotency-Key`) and the
/// approved amount.
pub(crate) struct WriteCtx {
    key: String,
    amount_cents: Option<i64>,
    /// The action this write carries out (recorded in Stripe's metadata for reconciliation).
    action_id: Option<String>,
}

impl PlatformTools {
    pub async fn new(
        deps: &InboundDeps,
        app: &AppRow,
        trace: &str,
        conversation: &str,
    ) -> Result<Self, StepError> {
        let product = deps
            .products
            .client(app)
            .map_err(StepError::non_retriable)?;
        Ok(Self {
            store: deps.store.clone(),
            product,
            kb: deps.knowledge.clone(),
            app: app.slug.clone(),
            trace: trace.into(),
            conversation: conversation.into(),
            payments: deps.payments.clone(),
            stripe_account: app.stripe_account.clone(),
            app_status: app.status,
            facts: None,
            context: None,
        })
    }

    /// Tools that know the customer's purchases (to find the Stripe charge of a refund).
    pub fn with_facts(mut self, facts: CustomerFacts) -> Self {
        self.facts = Some(facts);
        self
    }

    /// Tools that keep (and reuse) their `searchKnowledge` answers in `deps.context` under the
    /// entry of message `message_id` of this conversation.
    pub fn with_context(mut self, cache: ContextCache, message_id: &str) -> Self {
        let id = crate::context::context_id(&self.conversation, message_id);
        self.context = Some((cache, id));
        self
    }

    /// `searchKnowledge`: the answer kept in the context cache for this message when there is
    /// a current one, else the knowledge base's (then kept).
    async fn search_knowledge(&self, query: &str, limit: usize) -> Result<Vec<KbHit>, ToolError> {
        let versions = crate::context::StoreVersions(self.store.as_ref());
        let mut entry = None;
        if let Some((cache, id)) = &self.context {
            entry = cache
                .get::<crate::context::HydratedContext>(&versions, id)
                .await
                .0
                .map(|e| e.value);
            if let Some(hits) = entry.as_ref().and_then(|c| c.search(query, limit)) {
                return Ok(hits.to_vec());
            }
        }
        let hits =
            support_core::pipeline::kb::search_public(&*self.kb, &self.app, query, limit).await?;
        if let Some((cache, id)) = &self.context {
            let search = crate::context::CachedSearch {
                query: query.to_string(),
                limit,
                hits: hits.clone(),
            };
            crate::context::add_search(cache, id, entry, search, now_ms()).await;
        }
        Ok(hits)
    }

    /// A purchase of this customer as the app reports it now (`getPurchases` of its owner).
    async fn purchase_of(
        &self,
        purchase_id: &str,
    ) -> Result<support_sdk::types::Purchase, ToolError> {
        let owner = self
            .facts
            .as_ref()
            .and_then(|f| f.purchases.iter().find(|p| p.id == purchase_id))
            .map(|p| p.owner_user_id.clone())
            .ok_or_else(|| {
                ToolError::NotFound(format!("purchase {purchase_id} of this customer"))
            })?;
        let purchases = self
            .product
            .get_purchases(&owner)
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        purchases
            .into_iter()
            .find(|p| p.id == purchase_id)
            .ok_or_else(|| ToolError::NotFound(format!("purchase {purchase_id} of this customer")))
    }

    /// What refunding `purchase_id` would move, from its Stripe charge (queried now): the
    /// charge's currency and what is left on it. The product's figure (`Purchase.amount`,
    /// major units) is only cross-checked; a disagreement beyond rounding, a purchase without
    /// a charge, a charge Stripe does not know or one already refunded is a reason to hand the
    /// refund to a human ([`QuoteError::Escalate`]). Without Stripe nothing moves through it
    /// (the product only revokes access): the quote is the product's figure, unverified.
    pub async fn quote_refund(&self, purchase_id: &str) -> Result<RefundQuote, QuoteError> {
        let Some(payments) = &self.payments else {
            // The product's figure as it reports it now: never the hydrated (possibly cached)
            // facts' copy.
            let purchase = self.purchase_of(purchase_id).await.map_err(|e| match e {
                ToolError::NotFound(m) => QuoteError::Escalate(format!("not found: {m}")),
                other => QuoteError::Retry(other.to_string()),
            })?;
            let amount_cents =
                support_core::payments::to_minor_units(purchase.amount, &purchase.currency)
                    .ok_or_else(|| {
                        QuoteError::Escalate(format!(
                            "purchase {purchase_id} has no readable amount"
                        ))
                    })?;
            return Ok(RefundQuote {
                charge_id: None,
                amount_cents,
                currency: purchase.currency.to_ascii_lowercase(),
                charge_amount_cents: None,
                refunded_cents: None,
                verified: false,
            });
        };
        self.stripe_connected()
            .map_err(|e| QuoteError::Escalate(e.to_string()))?;
        let purchase = self.purchase_of(purchase_id).await.map_err(|e| match e {
            ToolError::NotFound(m) => QuoteError::Escalate(m),
            other => QuoteError::Retry(other.to_string()),
        })?;
        let charge_id = purchase.stripe_charge_id.clone().ok_or_else(|| {
            QuoteError::Escalate(format!(
                "purchase {purchase_id} names no Stripe charge, so there is nothing to refund on Stripe"
            ))
        })?;
        let charge = payments
            .get_charge(self.stripe_account.as_deref(), &charge_id)
            .await
            .map_err(|e| {
                if e.is_retriable() {
                    QuoteError::Retry(format!("Stripe charge {charge_id}: {e}"))
                } else {
                    QuoteError::Escalate(format!("Stripe charge {charge_id}: {e}"))
                }
            })?;
        cross_check(purchase.amount, &purchase.currency, &charge).map_err(|why| {
            QuoteError::Escalate(format!(
                "refund_amount_mismatch: {why}; nothing was refunded"
            ))
        })?;
        if charge.remaining_cents() <= 0 {
            return Err(QuoteError::Escalate(format!(
                "Stripe charge {charge_id} is already fully refunded ({} of {})",
                format_amount(charge.amount_refunded_cents, &charge.currency),
                format_amount(charge.amount_cents, &charge.currency)
            )));
        }
        Ok(RefundQuote {
            charge_id: Some(charge_id),
            amount_cents: charge.remaining_cents(),
            currency: charge.currency.to_ascii_lowercase(),
            charge_amount_cents: Some(charge.amount_cents),
            refunded_cents: Some(charge.amount_refunded_cents),
            verified: true,
        })
    }

    /// Whether our own refund under `key` is already on the charge (an attempt that died after
    /// Stripe made it): then Stripe replays it for the key and the remainder check is moot.
    async fn refunded_under_key(
        &self,
        payments: &dyn Payments,
        charge: &str,
        key: &str,
    ) -> Result<bool, ToolError> {
        let refunds = payments
            .list_refunds(
                self.stripe_account.as_deref(),
                &RefundTarget::Charge(charge.to_string()),
                100,
            )
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(refunds
            .iter()
            .any(|r| r.metadata.get("idempotency_key").map(String::as_str) == Some(key)))
    }

    /// Refund through Stripe when it is configured; `None` when it is not. The charge is read
    /// from Stripe first: the product's figure must still agree with it, an approved charge id
    /// must still be the purchase's, and the amount (the approved one, or what is left) never
    /// exceeds what is left on the charge. Any of these failing refunds nothing.
    async fn stripe_refund(
        &self,
        call: &ToolCall,
        w: &WriteCtx,
    ) -> Result<Option<support_core::payments::Refund>, ToolError> {
        self.stripe_connected()?;
        let Some(payments) = &self.payments else {
            return Ok(None);
        };
        let purchase_id = call.param("purchaseId").unwrap_or_default();
        let purchase = self.purchase_of(purchase_id).await?;
        let charge_id = purchase.stripe_charge_id.clone().ok_or_else(|| {
            ToolError::Failed(format!("purchase {purchase_id} has no Stripe charge"))
        })?;
        if let Some(approved) = call.param("chargeId")
            && approved != charge_id
        {
            return Err(ToolError::Failed(format!(
                "refund_charge_changed: purchase {purchase_id} now names Stripe charge {charge_id}, the approval was for {approved}; nothing was refunded"
            )));
        }
        let charge = payments
            .get_charge(self.stripe_account.as_deref(), &charge_id)
            .await
            .map_err(|e: PaymentsError| {
                ToolError::Failed(format!("Stripe charge {charge_id}: {e}"))
            })?;
        cross_check(purchase.amount, &purchase.currency, &charge).map_err(|why| {
            ToolError::Failed(format!(
                "refund_amount_mismatch: {why}; nothing was refunded"
            ))
        })?;
        let left = charge.remaining_cents();
        let fits = match w.amount_cents {
            Some(a) => a > 0 && a <= left,
            None => left > 0,
        };
        if !fits
            && !self
                .refunded_under_key(payments.as_ref(), &charge_id, &w.key)
                .await?
        {
            let asked = w.amount_cents.map_or_else(
                || "the rest".to_string(),
                |a| format_amount(a, &charge.currency),
            );
            return Err(ToolError::Failed(format!(
                "refund_exceeds_remaining: {asked} asked, {} left on Stripe charge {charge_id} ({} of {} already refunded); nothing was refunded",
                format_amount(left, &charge.currency),
                format_amount(charge.amount_refunded_cents, &charge.currency),
                format_amount(charge.amount_cents, &charge.currency)
            )));
        }
        let location = match &self.stripe_account {
            Some(account) => ChargeLocation::Direct {
                account: account.clone(),
            },
            None => ChargeLocation::Platform,
        };
        let request = RefundRequest {
            target: RefundTarget::Charge(charge_id),
            location,
            amount_cents: w.amount_cents,
            reason: Some(RefundReason::RequestedByCustomer),
            metadata: [
                ("app".to_string(), self.app.clone()),
                ("purchase_id".to_string(), purchase_id.to_string()),
                ("idempotency_key".to_string(), w.key.clone()),
            ]
            .into_iter()
            .chain(w.action_id.clone().map(|a| ("action_id".to_string(), a)))
            .collect(),
            idempotency_key: w.key.clone(),
        };
        payments
            .refund(&request)
            .await
            .map(Some)
            .map_err(|e| ToolError::Failed(e.to_string()))
    }

    /// Refuse money movements for an app whose Stripe account deauthorized the platform:
    /// nothing is sent to Stripe until it connects again.
    fn stripe_connected(&self) -> Result<(), ToolError> {
        if self.app_status == AppStatus::Disconnected {
            return Err(ToolError::Failed(format!(
                "stripe_disconnected: app {} is disconnected from Stripe (its Connect account deauthorized the platform); reconnect with `skill apps connect-stripe {}`",
                self.app, self.app
            )));
        }
        Ok(())
    }

    /// The payments port and the connected account for a read-only Stripe query.
    fn stripe_reader(&self) -> Result<(&dyn Payments, Option<&str>), ToolError> {
        self.stripe_connected()?;
        let payments = self.payments.as_deref().ok_or_else(|| {
            ToolError::NotImplemented("Stripe is not configured (stripe.secret_key)".into())
        })?;
        Ok((payments, self.stripe_account.as_deref()))
    }

    /// `listCharges`, `listRefunds`, `listSubscriptions`: live Stripe reads on the app's
    /// connected account (the platform account when it has none); nothing is stored.
    async fn stripe_query(&self, call: &ToolCall) -> Result<Value, ToolError> {
        let (payments, account) = self.stripe_reader()?;
        let limit = call
            .params
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(10, |n| u8::try_from(n.clamp(1, 100)).unwrap_or(100));
        let customer = call.param("customerId").filter(|c| !c.is_empty());
        let fail = |e: support_core::payments::PaymentsError| match e {
            support_core::payments::PaymentsError::InvalidRequest { status: 404, .. } => {
                ToolError::NotFound(e.to_string())
            }
            support_core::payments::PaymentsError::Invalid(m) => ToolError::InvalidParams(m),
            other => ToolError::Failed(other.to_string()),
        };
        let need_customer =
            || customer.ok_or_else(|| ToolError::InvalidParams("missing customerId".into()));
        fn v<T: Serialize>(x: T) -> Value {
            serde_json::to_value(x).unwrap_or(Value::Null)
        }
        match call.tool {
            ToolName::ListCharges => payments
                .list_charges(account, need_customer()?, limit)
                .await
                .map(v)
                .map_err(fail),
            ToolName::ListSubscriptions => payments
                .list_subscriptions(account, need_customer()?, limit)
                .await
                .map(v)
                .map_err(fail),
            ToolName::ListRefunds => {
                match (call.param("chargeId").filter(|c| !c.is_empty()), customer) {
                    (Some(charge), _) => payments
                        .list_refunds(account, &RefundTarget::Charge(charge.to_string()), limit)
                        .await
                        .map(v)
                        .map_err(fail),
                    (None, Some(customer)) => payments
                        .customer_refunds(account, customer, limit)
                        .await
                        .map(v)
                        .map_err(fail),
                    (None, None) => Err(ToolError::InvalidParams(
                        "listRefunds needs chargeId or customerId".into(),
                    )),
                }
            }
            other => Err(ToolError::InvalidParams(format!(
                "{other} is not a Stripe query"
            ))),
        }
    }

    /// Run an approved write exactly once: `key` (the action id) is the idempotency key, so a
    /// retry returns the stored result; an attempt that died mid-way is resumed (every call it
    /// makes is idempotent on the same key).
    pub async fn execute_approved(
        &self,
        call: &ToolCall,
        key: &str,
        amount_cents: Option<i64>,
    ) -> Result<Value, ToolError> {
        call.validate()?;
        let w = WriteCtx {
            key: key.to_string(),
            amount_cents,
            action_id: Some(key.to_string()),
        };
        self.run_write(call, &w, true).await
    }

    /// Retry of a dead-lettered action: a new idempotency key (`{action}:retry-{n}`), since
    /// Stripe replays the first (failed) answer for a key it has seen.
    pub async fn execute_retry(
        &self,
        call: &ToolCall,
        action_id: &str,
        attempt: u64,
        amount_cents: Option<i64>,
    ) -> Result<Value, ToolError> {
        call.validate()?;
        let w = WriteCtx {
            key: retry_key(action_id, attempt),
            amount_cents,
            action_id: Some(action_id.to_string()),
        };
        self.run_write(call, &w, true).await
    }

    async fn run_write(
        &self,
        call: &ToolCall,
        w: &WriteCtx,
        resume: bool,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let result = match self
            .store
            .idempotency_begin(&w.key, call.tool.as_str(), now_ms())
            .await
        {
            Ok(IdempotencyState::Completed(v)) => Ok(v),
            Ok(IdempotencyState::InProgress) if !resume => Err(ToolError::Failed(
                "the same action is already in progress".into(),
            )),
            Ok(IdempotencyState::Started | IdempotencyState::InProgress) => {
                let r = self.call_product(call, w).await;
                match &r {
                    Ok(v) => {
                        let _ = self.store.idempotency_complete(&w.key, v, now_ms()).await;
                    }
                    Err(_) => {
                        let _ = self.store.idempotency_abandon(&w.key).await;
                    }
                }
                r
            }
            Err(e) => Err(ToolError::Failed(format!("store: {e}"))),
        };
        self.audit_call(call, &result, started).await;
        result
    }

    async fn audit_call(
        &self,
        call: &ToolCall,
        result: &Result<Value, ToolError>,
        started: Instant,
    ) {
        let ms = started.elapsed().as_millis() as u64;
        let data = match result {
            Ok(v) => {
                json!({"tool": call.tool, "args": call.params, "ok": true, "result": v, "duration_ms": ms})
            }
            Err(e) => {
                json!({"tool": call.tool, "args": call.params, "ok": false, "error": e.to_string(), "duration_ms": ms})
            }
        };
        let _ = self
            .store
            .append_audit(
                &AuditEvent::new("tool.called", "agent", data)
                    .app(&self.app)
                    .conversation(&self.conversation)
                    .trace(&self.trace),
            )
            .await;
    }

    async fn call_product(&self, call: &ToolCall, w: &WriteCtx) -> Result<Value, ToolError> {
        let p = &self.product;
        let s = |k: &str| call.param(k).unwrap_or_default().to_string();
        let to = |r: Result<Value, support_sdk::IntegrationError>| {
            r.map_err(|e| ToolError::Failed(e.to_string()))
        };
        fn v<T: Serialize>(x: T) -> Value {
            serde_json::to_value(x).unwrap_or(Value::Null)
        }
        match call.tool {
            ToolName::LookupUser => to(p.lookup_user(&s("email")).await.map(v)),
            ToolName::GetPurchases => to(p.get_purchases(&s("userId")).await.map(v)),
            ToolName::GetSubscriptions => to(p.get_subscriptions(&s("userId")).await.map(v)),
            ToolName::SearchKnowledge => Ok(v(self
                .search_knowledge(&s("query"), support_core::pipeline::kb::search_limit(call))
                .await?)),
            ToolName::GenerateMagicLink => to(p
                .generate_magic_link(support_sdk::types::GenerateMagicLinkParams {
                    email: s("email"),
                    expires_in: 3600,
                })
                .await
                .map(v)),
            ToolName::UpdateName => to(p
                .update_name(support_sdk::types::UpdateNameParams {
                    user_id: s("userId"),
                    new_name: s("newName"),
                })
                .await
                .map(v)),
            ToolName::UpdateEmail => to(p
                .update_email(support_sdk::types::UpdateEmailParams {
                    user_id: s("userId"),
                    new_email: s("newEmail"),
                })
                .await
                .map(v)),
            ToolName::TransferPurchase => to(p
                .transfer_purchase(support_sdk::types::TransferPurchaseParams {
                    purchase_id: s("purchaseId"),
                    from_user_id: s("fromUserId"),
                    to_email: s("toEmail"),
                })
                .await
                .map(v)),
            ToolName::ListCharges | ToolName::ListRefunds | ToolName::ListSubscriptions => {
                self.stripe_query(call).await
            }
            ToolName::ProcessRefund => {
                // Stripe first (when configured, idempotent on the key), then the SDK side:
                // access is revoked for the refunded purchase, with the refund's id.
                let refund = self.stripe_refund(call, w).await?;
                let refund_id = match &refund {
                    Some(r) => r.id.clone(),
                    None => format!(
                        "refund_{}",
                        support_core::crypto::sha256_hex(s("purchaseId").as_bytes())
                            .get(..12)
                            .unwrap_or_default()
                    ),
                };
                let mut out = to(p
                    .revoke_access(support_sdk::types::RevokeAccessParams {
                        purchase_id: s("purchaseId"),
                        reason: s("reason"),
                        refund_id: refund_id.clone(),
                    })
                    .await
                    .map(v))?;
                if let Value::Object(map) = &mut out {
                    map.insert("refundId".into(), json!(refund_id));
                    if let Some(r) = refund {
                        map.insert("refund".into(), v(r));
                    }
                }
                Ok(out)
            }
        }
    }
}

#[async_trait]
impl ToolExecutor for PlatformTools {
    async fn execute(&self, call: &ToolCall) -> Result<Value, ToolError> {
        call.validate()?;
        let write = call.tool.risk() != support_core::pipeline::tools::RiskClass::Read;
        let key = format!(
            "{}:{}:{}",
            self.trace,
            call.tool.as_str(),
            support_core::crypto::sha256_hex(
                support_core::audit::canonical_json(&call.params).as_bytes()
            )
        );
        let w = WriteCtx {
            key,
            amount_cents: None,
            action_id: None,
        };
        if write {
            return self.run_write(call, &w, false).await;
        }
        let started = Instant::now();
        let result = self.call_product(call, &w).await;
        self.audit_call(call, &result, started).await;
        result
    }
}
