//! A simulated product for offline evaluation: customer records that follow a scenario's
//! `customer` state, a help-centre knowledge base per launch app, and a [`ToolExecutor`]
//! that answers from them. `skill eval` and the scenario tests use it; production backs the
//! executor with the SDK client instead.

use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};
use support_sdk::types::{Purchase, PurchaseStatus, Subscription, SubscriptionStatus, User};

use super::inbound::format_iso_millis;
use super::kb::Bm25Index;
use super::tools::{ToolCall, ToolError, ToolExecutor, ToolName};
use crate::corpus::KbChunk;
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
    index: Bm25Index,
    executed: Mutex<Vec<ToolCall>>,
}

impl ScenarioWorld {
    /// A world where `email` has the records `state` describes, at `now`.
    pub fn new(app: &str, email: &str, state: CustomerState, now: Millis) -> Self {
        Self {
            app: app.to_owned(),
            email: email.to_lowercase(),
            state,
            now,
            index: Bm25Index::new(knowledge_base(app)),
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
                let query = call.param("query").unwrap_or_default();
                let limit = call
                    .params
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(3);
                let limit = usize::try_from(limit).unwrap_or(3);
                Ok(to_json(&self.index.search(query, limit)))
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

/// The simulated help centre of a launch app, as knowledge chunks.
pub fn knowledge_base(app: &str) -> Vec<KbChunk> {
    let (product, specific): (&str, &[&str]) = match app {
        "typescript-course" => ("Typewise", TYPEWISE),
        "tailwind-course" => ("Tailwind Atelier", TAILWIND),
        "ai-workshops" => ("Applied AI Workshops", AI_WORKSHOPS),
        _ => ("the course", &[]),
    };
    COMMON
        .iter()
        .chain(specific)
        .enumerate()
        .map(|(i, text)| KbChunk {
            id: format!("{app}-kb-{i}"),
            document_id: format!("{app}-help"),
            app: app.to_owned(),
            ordinal: i as i64,
            text: text.replace("{product}", product),
        })
        .collect()
}

const COMMON: &[&str] = &[
    "Signing in: {product} uses passwordless login. Enter your email on the sign-in page and we email you a one-time login link. Each link works once and expires after 24 hours, so if a link says it has expired or was already used, simply request a new one from the sign-in page. Once signed in, you stay signed in on that browser for 30 days.",
    "Login emails not arriving: work email systems such as Outlook and Microsoft 365 sometimes quarantine login emails. Check your spam, junk and Other or Promotions folders, and ask your IT team to allow mail from our support address. Adding the address to your contacts also helps.",
    "Refunds: you can get a full refund within 30 days of purchase. Requests between 30 and 45 days after purchase are reviewed by the team. Refunds go back to the original payment method and usually take 5 to 10 business days to appear.",
    "Receipts and invoices: every purchase comes with an emailed receipt. You can download your receipt or a full invoice at any time from the Purchases page of your account. The invoice form lets you add your company name, billing address and VAT number before downloading.",
    "Pending and duplicate charges: if a payment seems to hang and you try again, your bank may show two charges. The extra one is usually a pending authorization that was never completed; your bank releases it automatically within a few business days and it is never collected.",
    "Transfers: a purchase can be moved to another email address when its owner asks. Write to us from the email address the purchase was made with and tell us the new address. Your progress does not carry over to the new account.",
    "Team licenses: the person who bought a team license is its admin. The admin assigns seats from the team dashboard by entering a colleague's email address; the colleague then gets an invite email with a link to claim the seat. If you were told you have a seat but never got an invite, ask your admin to assign one to your email address.",
    "Video playback: the player supports current versions of Chrome, Firefox, Safari and Edge. If videos keep showing a spinner in Firefox, make sure 'Play DRM-controlled content' is enabled in Firefox settings and turn off privacy or ad-blocking extensions for the site; a private window is a quick way to test.",
    "Progress tracking: lesson progress is saved to your account each time you finish a lesson. If progress keeps resetting, sign in with the same email every time; in Safari, allow cookies for the site or turn off 'Prevent cross-site tracking' for it, then sign in again.",
    "Offline viewing: every lesson has a download button below the video, so you can download the videos in 720p or 1080p and watch them offline, for example on a flight. Downloads are for personal use.",
    "Discounts: we offer purchasing power parity pricing in many countries, applied automatically at checkout, and a student discount of 40 percent: email us from your school or university address to get the code. Teams of five or more get volume pricing on the team license page.",
    "Account changes: you can ask us to correct the name on your account and certificates at any time. Changing the login email of an account is done by our team after a quick check, and your purchases and progress move with the account.",
    "Certificates: a certificate of completion is available once you finish every lesson. It uses the name on your account, so correct the name first if it is wrong and download the certificate again.",
];

const TYPEWISE: &[&str] = &[
    "Typewise curriculum: Typewise Core covers the type system fundamentals: narrowing, unions, generics and utility types. Typewise Pro adds advanced generics, conditional and mapped types, template literal types, the satisfies operator and decorators, including the standard stage 3 decorators introduced in TypeScript 5.0, with exercises for each.",
    "Typewise format: the course is self-paced video with interactive exercises you solve in your editor. You get lifetime access, including future updates to the material.",
    "Private and on-site training: Typewise offers private workshops for teams on request. Pricing depends on team size and format, so the team prepares a custom quote.",
];

const TAILWIND: &[&str] = &[
    "Tailwind Atelier format: the course is self-paced video with project files for every module. You get lifetime access and all future updates.",
    "Subtitles: every Tailwind Atelier lesson has English captions, and French, Spanish, German and Portuguese subtitles (sous-titres) can be turned on from the CC menu in the player.",
    "Tailwind Atelier curriculum: modules cover utility-first fundamentals, layout with flexbox and grid, responsive patterns, dark mode, and building a small design system with real-world projects.",
];

const AI_WORKSHOPS: &[&str] = &[
    "Workshop format: Applied AI Workshops run live over video calls in cohorts, usually in US evening hours. Every session is recorded, and recordings are available in your dashboard within 24 hours, so you can follow along from any time zone and ask questions in the cohort chat.",
    "All-access membership: the membership is billed monthly or annually and includes every live workshop and recording. You can cancel any time from Account, then Billing; you keep access until the end of the current billing period and are not charged again.",
    "Starter repositories: the workshop repositories require Node.js 20.11 or later. If your machine is stuck on Node 18, use a version manager such as nvm or fnm to install Node 20 alongside it, or open the repository in the provided dev container, which ships the right Node version.",
    "Seats and team memberships: team admins can assign or move seats for colleagues from the team dashboard; moving a seat to a new colleague takes effect once the team confirms it.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_world_follows_the_customer_state() {
        let now = 1_750_000_000_000;
        let world = ScenarioWorld::new(
            "tailwind-course",
            "a@x.test",
            CustomerState::OldPurchase,
            now,
        );
        let user = world
            .execute(&ToolCall::new(
                ToolName::LookupUser,
                json!({"email": "A@x.test"}),
            ))
            .await
            .unwrap_or_default();
        let id = user["id"].as_str().unwrap_or_default().to_owned();
        let purchases = world
            .execute(&ToolCall::new(
                ToolName::GetPurchases,
                json!({"userId": id}),
            ))
            .await
            .unwrap_or_default();
        assert_eq!(purchases[0]["productName"], "Tailwind Atelier");
        let unknown =
            ScenarioWorld::new("tailwind-course", "a@x.test", CustomerState::Unknown, now);
        let none = unknown
            .execute(&ToolCall::new(
                ToolName::LookupUser,
                json!({"email": "a@x.test"}),
            ))
            .await
            .unwrap_or_default();
        assert!(none.is_null());
        let hits = world
            .execute(&ToolCall::new(
                ToolName::SearchKnowledge,
                json!({"query": "download videos offline"}),
            ))
            .await
            .unwrap_or_default();
        assert!(
            hits[0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("download")
        );
        assert_eq!(world.executed().len(), 3);
    }
}
