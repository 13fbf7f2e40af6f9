//! A simulated product for offline evaluation: customer records that follow a scenario's
//! `customer` state, the app's knowledge searched through the [`Retriever`] port (the demo
//! articles, imported into tantivy by `support_knowledge::demo::scenario_index`), and a
//! [`ToolExecutor`] that answers from them. `skill eval` and the scenario tests use it;
//! production backs the executor with the SDK client and the platform's knowledge base instead.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use support_sdk::types::{Purchase, PurchaseStatus, Subscription, SubscriptionStatus, User};

use super::inbound::format_iso_millis;
use super::kb::{search_limit, search_public};
use super::tools::{ToolCall, ToolError, ToolExecutor, ToolName};
use crate::knowledge::Retriever;
use crate::time::{DAY_MS, Millis};

/// What the records say about the sender (the scenario's `customer` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerState {
    /// Bought less than 30 days ago (10 days here).
    RecentPurchase,
    /// 30–45 days ago (35 days here).
    OldPurchase,
    /// More than 45 days ago (60 days here).
    VeryOldPurchase,
    /// Buys, administers or holds a seat on a team licence (bought 10 days ago).
    TeamLicense,
    /// Has an account and no purchase.
    NoPurchase,
    /// No record.
    Unknown,
}

impl CustomerState {
    /// The purchase age in days, when there is a purchase.
    pub fn purchase_age_days(self) -> Option<i64> {
        match self {
            CustomerState::RecentPurchase | CustomerState::TeamLicense => Some(10),
            CustomerState::OldPurchase => Some(35),
            CustomerState::VeryOldPurchase => Some(60),
            CustomerState::NoPurchase | CustomerState::Unknown => None,
        }
    }
}

/// The product each launch app sells in the simulation: (id, name, price in major units, as
/// `Purchase.amount` carries it).
fn product(app: &str, team: bool) -> (&'static str, &'static str, f64) {
    match (app, team) {
        ("typescript-course", false) => ("typewise-pro", "Typewise Pro", 349.0),
        ("typescript-course", true) => ("typewise-team", "Typewise Team License", 3490.0),
        ("tailwind-course", false) => ("tailwind-atelier", "Tailwind Atelier", 249.0),
        ("tailwind-course", true) => ("tailwind-team", "Tailwind Atelier Team License", 2490.0),
        ("ai-workshops", false) => ("agents-from-scratch", "Agents from Scratch", 390.0),
        ("ai-workshops", true) => ("ai-team", "Applied AI Workshops Team License", 3900.0),
        (_, false) => ("course", "Course", 199.0),
        (_, true) => ("course-team", "Course Team License", 1990.0),
    }
}

/// A simulated app answering tool calls for one customer.
pub struct ScenarioWorld {
    app: String,
    email: String,
    state: CustomerState,
    now: Millis,
    /// `None`: records only ([`ScenarioWorld::records_only`]).
    knowledge: Option<Arc<dyn Retriever>>,
    executed: Mutex<Vec<ToolCall>>,
}

impl ScenarioWorld {
    /// A world where `email` has the records `state` describes, at `now`, whose help centre is
    /// `app`'s public articles in `knowledge`.
    pub fn new(
        app: &str,
        email: &str,
        state: CustomerState,
        now: Millis,
        knowledge: Arc<dyn Retriever>,
    ) -> Self {
        Self {
            app: app.to_owned(),
            email: email.to_lowercase(),
            state,
            now,
            knowledge: Some(knowledge),
            executed: Mutex::new(Vec::new()),
        }
    }

    /// A world with the records only, for what reads no knowledge (the router's training
    /// features come from hydrate and routing): `searchKnowledge` answers `not_implemented`.
    pub fn records_only(app: &str, email: &str, state: CustomerState, now: Millis) -> Self {
        Self {
            app: app.to_owned(),
            email: email.to_lowercase(),
            state,
            now,
            knowledge: None,
            executed: Mutex::new(Vec::new()),
        }
    }

    /// Every call that ran, in order.
    pub fn executed(&self) -> Vec<ToolCall> {
        self.executed.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn user(&self) -> Option<User> {
        (self.state != CustomerState::Unknown).then(|| User {
            id: format!("usr_{}", self.email.replace(['@', '.'], "_")),
            email: self.email.clone(),
            name: None,
            created_at: format_iso_millis(self.now - 400 * DAY_MS),
        })
    }

    fn purchases(&self) -> Vec<Purchase> {
        let Some(age) = self.state.purchase_age_days() else {
            return Vec::new();
        };
        let team = self.state == CustomerState::TeamLicense;
        let (id, name, amount) = product(&self.app, team);
        vec![Purchase {
            id: format!("pur_{id}"),
            product_id: id.to_owned(),
            product_name: name.to_owned(),
            purchased_at: format_iso_millis(self.now - age * DAY_MS),
            amount,
            currency: "usd".into(),
            stripe_charge_id: Some(format!("ch_{id}")),
            status: PurchaseStatus::Active,
        }]
    }

    fn subscriptions(&self) -> Vec<Subscription> {
        if self.app != "ai-workshops" || self.state.purchase_age_days().is_none() {
            return Vec::new();
        }
        vec![Subscription {
            id: "sub_all_access".into(),
            product_id: "all-access-monthly".into(),
            product_name: "All-Access Membership (monthly)".into(),
            status: SubscriptionStatus::Active,
            current_period_start: format_iso_millis(self.now - 10 * DAY_MS),
            current_period_end: format_iso_millis(self.now + 20 * DAY_MS),
            cancel_at_period_end: false,
        }]
    }

    fn own_user(&self, call: &ToolCall) -> Result<(), ToolError> {
        let id = call.param("userId").unwrap_or_default();
        match self.user() {
            Some(u) if u.id == id => Ok(()),
            _ => Err(ToolError::NotFound(format!("user {id}"))),
        }
    }
}

#[async_trait]
impl ToolExecutor for ScenarioWorld {
    async fn execute(&self, call: &ToolCall) -> Result<Value, ToolError> {
        call.validate()?;
        if let Ok(mut log) = self.executed.lock() {
            log.push(call.clone());
        }
        match call.tool {
            ToolName::LookupUser => {
                let email = call.param("email").unwrap_or_default().to_lowercase();
                let user = self.user().filter(|_| email == self.email);
                Ok(to_json(&user))
            }
            ToolName::GetPurchases => {
                self.own_user(call)?;
                Ok(to_json(&self.purchases()))
            }
            ToolName::GetSubscriptions => {
                self.own_user(call)?;
                Ok(to_json(&self.subscriptions()))
            }
            ToolName::SearchKnowledge => {
                let Some(knowledge) = &self.knowledge else {
                    return Err(ToolError::NotImplemented(
                        "this simulation has no knowledge base".into(),
                    ));
                };
                let query = call.param("query").unwrap_or_default();
                let hits =
                    search_public(&**knowledge, &self.app, query, search_limit(call)).await?;
                Ok(to_json(&hits))
            }
            ToolName::GenerateMagicLink => Ok(json!({
                "url": format!("https://{}.example/login?token=simulated", self.app)
            })),
            ToolName::UpdateName | ToolName::UpdateEmail => {
                self.own_user(call)?;
                Ok(json!({ "success": true }))
            }
            ToolName::ProcessRefund | ToolName::TransferPurchase => {
                let id = call.param("purchaseId").unwrap_or_default();
                if self.purchases().iter().any(|p| p.id == id) {
                    Ok(json!({ "success": true }))
                } else {
                    Err(ToolError::NotFound(format!("purchase {id}")))
                }
            }
            // The simulated product has no Stripe account behind it.
            ToolName::ListCharges | ToolName::ListRefunds | ToolName::ListSubscriptions => Err(
                ToolError::NotImplemented("Stripe is not part of the simulated product".into()),
            ),
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
