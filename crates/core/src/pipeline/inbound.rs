//! The inbound model: the message to handle, its thread, and the customer facts the platform
//! knows (built from the SDK wire models).

use serde::{Deserialize, Serialize};
use support_sdk::types::{Purchase, PurchaseStatus, User};

use super::text::{self, Normalised};
use crate::time::{DAY_MS, Millis};

/// Whole days from `purchased_at` (ISO 8601) to `now`; `None` when the date does not parse.
pub fn age_days(purchased_at: &str, now: Millis) -> Option<i64> {
    parse_iso_millis(purchased_at).map(|at| (now - at).max(0) / DAY_MS)
}

/// Who wrote a thread message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From us (a teammate or the agent).
    Outbound,
}

impl Direction {
    /// The stored (and serialized) string, as in `messages.direction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// Parses a stored string.
    pub fn parse(s: &str) -> Result<Self, crate::status::UnknownValue> {
        match s {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            _ => Err(crate::status::UnknownValue {
                what: "message direction",
                value: s.to_string(),
            }),
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::status::string_like!(Direction);

/// An earlier message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadMessage {
    pub direction: Direction,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The newest inbound message of a conversation and its context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The app slug (`typescript-course`, …).
    pub app: String,
    /// The `From` address.
    pub from: String,
    /// The `Reply-To` address, when it differs from `from` (feedback forms put the customer
    /// here and send from their own address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub subject: String,
    /// The raw body of the newest inbound message.
    pub body: String,
    /// Earlier messages, oldest first.
    #[serde(default)]
    pub thread: Vec<ThreadMessage>,
    /// The conversation status (see [`crate::status::ConversationStatus`]), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_status: Option<String>,
    /// Whether a teammate is already replying (a draft in progress or an assignee typing).
    #[serde(default)]
    pub teammate_replying: bool,
}

impl Inbound {
    /// The customer's address: the `Reply-To` when the mail came through a form or relay
    /// (sender is a no-reply/form/relay address or `Reply-To` is set to a different person),
    /// the `From` otherwise.
    pub fn customer_email(&self) -> String {
        match self.reply_to.as_deref().map(str::trim) {
            Some(reply_to) if !reply_to.is_empty() && !is_automated_sender(reply_to) => {
                reply_to.to_lowercase()
            }
            _ => self.from.trim().to_lowercase(),
        }
    }

    /// Whether the mail was relayed by a form (reply-to names the real customer).
    pub fn via_form(&self) -> bool {
        self.customer_email() != self.from.trim().to_lowercase()
    }

    /// The normalised newest message.
    pub fn normalised(&self) -> Normalised {
        text::normalise(&self.body)
    }

    /// The last thread message, if any.
    pub fn last_thread_message(&self) -> Option<&ThreadMessage> {
        self.thread.last()
    }
}

/// Whether an address belongs to a machine: no-reply, mailer-daemon, postmaster, bounces,
/// notification and calendar senders.
pub fn is_automated_sender(address: &str) -> bool {
    let local = address
        .trim()
        .to_lowercase()
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    const PREFIXES: &[&str] = &[
        "mailer-daemon",
        "postmaster",
        "no-reply",
        "noreply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "bounce",
        "bounces",
        "notifications",
        "notification",
        "calendar-notification",
        "auto-confirm",
        "autoreply",
        "auto-reply",
    ];
    PREFIXES
        .iter()
        .any(|p| local == *p || local.starts_with(&format!("{p}-")) || local.starts_with(p))
}

/// A purchase as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseFact {
    pub id: String,
    pub product_id: String,
    /// Product name as the app reports it.
    pub product: String,
    pub amount_cents: i64,
    pub currency: String,
    /// ISO-8601 as sent by the app.
    pub purchased_at: String,
    /// Whole days since the purchase (`None` when the date cannot be read).
    pub age_days: Option<i64>,
    /// A team (bulk) licence.
    pub is_team: bool,
    /// The owner's email (the user the purchases were looked up for).
    pub owner_email: String,
    pub owner_user_id: String,
    /// `active`, `refunded`, `transferred`, …
    pub status: String,
}

impl PurchaseFact {
    /// Builds a fact from the SDK model. `Purchase.amount` is in major units on the wire
    /// (`179` for $179.00, `1000` for ¥1,000); the fact keeps the currency's minor units (a
    /// figure that is not an amount becomes 0). It is the product's figure, for the agent's
    /// context and the policy: refunds take theirs from the Stripe charge.
    pub fn from_sdk(p: &Purchase, owner: &User, now: Millis) -> Self {
        let lower = format!("{} {}", p.product_id, p.product_name).to_lowercase();
        Self {
            id: p.id.clone(),
            product_id: p.product_id.clone(),
            product: p.product_name.clone(),
            amount_cents: crate::payments::to_minor_units(p.amount, &p.currency).unwrap_or(0),
            currency: p.currency.clone(),
            purchased_at: p.purchased_at.clone(),
            age_days: age_days(&p.purchased_at, now),
            is_team: lower.contains("team") || lower.contains("bulk") || lower.contains("seats"),
            owner_email: owner.email.to_lowercase(),
            owner_user_id: owner.id.clone(),
            status: p.status.as_str().to_owned(),
        }
    }

    /// Whether the purchase is still active (not refunded or transferred).
    pub fn is_active(&self) -> bool {
        self.status == PurchaseStatus::Active.as_str()
    }
}

/// What the platform knows about the customer, from `lookupUser` and `getPurchases`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// The customer's email (see [`Inbound::customer_email`]).
    pub email: String,
    /// Whether a lookup was made at all (`false`: unknown, not looked up).
    pub looked_up: bool,
    pub user: Option<User>,
    pub purchases: Vec<PurchaseFact>,
}

impl CustomerFacts {
    /// Facts from the SDK models at `now`.
    pub fn from_sdk(email: &str, user: Option<User>, purchases: &[Purchase], now: Millis) -> Self {
        let purchases = user
            .as_ref()
            .map(|u| {
                purchases
                    .iter()
                    .map(|p| PurchaseFact::from_sdk(p, u, now))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            email: email.to_lowercase(),
            looked_up: true,
            user,
            purchases,
        }
    }

    /// The customer's first name from their record, if it has one.
    pub fn first_name(&self) -> Option<String> {
        self.user
            .as_ref()
            .and_then(|u| u.name.as_deref())
            .and_then(|n| n.split_whitespace().next())
            .map(str::to_owned)
    }

    /// Active purchases, newest first.
    pub fn active_purchases(&self) -> Vec<&PurchaseFact> {
        let mut v: Vec<&PurchaseFact> = self.purchases.iter().filter(|p| p.is_active()).collect();
        v.sort_by_key(|p| p.age_days.unwrap_or(i64::MAX));
        v
    }

    /// The purchase a message is most likely about: an active one whose product name shares a
    /// distinctive word with `text`, else the newest active one.
    pub fn relevant_purchase(&self, text: &str) -> Option<&PurchaseFact> {
        let active = self.active_purchases();
        let toks = text::tokens(text);
        let mentions = |p: &PurchaseFact| {
            text::tokens(&p.product)
                .iter()
                .filter(|w| w.len() > 3)
                .any(|w| toks.contains(w))
        };
        active
            .iter()
            .find(|p| mentions(p))
            .or_else(|| active.first())
            .copied()
    }

    /// Whether the customer holds a team licence.
    pub fn has_team_license(&self) -> bool {
        self.purchases.iter().any(|p| p.is_team && p.is_active())
    }
}

/// Parses an ISO-8601 UTC timestamp (`2024-01-15T10:30:00.000Z`, or a plain date) into
/// Unix milliseconds. Only the date and the whole seconds are read; the rest is taken as UTC.
pub fn parse_iso_millis(s: &str) -> Option<Millis> {
    let s = s.trim();
    let date: jiff::civil::Date = s.get(..10)?.parse().ok()?;
    let time = match s.get(11..19) {
        Some(t) => t.parse().ok()?,
        None => jiff::civil::Time::midnight(),
    };
    let at = jiff::tz::Offset::UTC
        .to_timestamp(date.to_datetime(time))
        .ok()?;
    Some(at.as_millisecond())
}

/// Formats Unix milliseconds as ISO-8601 UTC (`2024-01-15T10:30:00.000Z`), clamped to the
/// years -9999..=9999.
pub fn format_iso_millis(ms: Millis) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    let t = jiff::tz::Offset::UTC.to_datetime(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(id: &str, name: &str, at: &str) -> Purchase {
        Purchase {
            id: id.into(),
            product_id: id.into(),
            product_name: name.into(),
            purchased_at: at.into(),
            amount: 249.0,
            currency: "usd".into(),
            stripe_charge_id: None,
            status: PurchaseStatus::Active,
        }
    }

    #[test]
    fn iso_dates_round_trip() {
        let ms = parse_iso_millis("2024-01-15T10:30:00.000Z").unwrap_or_default();
        assert_eq!(format_iso_millis(ms), "2024-01-15T10:30:00.000Z");
        assert_eq!(parse_iso_millis("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_iso_millis("garbage"), None);
    }

    #[test]
    fn facts_compute_ages_and_pick_the_relevant_purchase() {
        let now = parse_iso_millis("2024-03-01T00:00:00Z").unwrap_or_default();
        let user = User {
            id: "u1".into(),
            email: "A@x.test".into(),
            name: Some("Ana Ribeiro".into()),
            created_at: "2023-01-01T00:00:00Z".into(),
        };
        let facts = CustomerFacts::from_sdk(
            "a@x.test",
            Some(user),
            &[
                purchase("p1", "Typewise Core", "2024-02-20T00:00:00Z"),
                purchase("p2", "Typewise Team License", "2024-01-01T00:00:00Z"),
            ],
            now,
        );
        assert_eq!(facts.purchases[0].age_days, Some(10));
        // `Purchase.amount` is in major units: $249.00 is 24 900 cents.
        assert_eq!(facts.purchases[0].amount_cents, 24_900);
        assert!(facts.purchases[1].is_team);
        assert_eq!(facts.purchases[1].owner_email, "a@x.test");
        assert_eq!(facts.first_name().as_deref(), Some("Ana"));
        assert_eq!(
            facts
                .relevant_purchase("the team license")
                .map(|p| p.id.as_str()),
            Some("p2")
        );
        assert_eq!(
            facts
                .relevant_purchase("refund please")
                .map(|p| p.id.as_str()),
            Some("p1")
        );
        assert!(facts.has_team_license());
    }

    #[test]
    fn form_mail_uses_reply_to() {
        let mut inbound = Inbound {
            from: "noreply@forms.test".into(),
            reply_to: Some("Jane@Example.com".into()),
            ..Inbound::default()
        };
        assert_eq!(inbound.customer_email(), "jane@example.com");
        assert!(inbound.via_form());
        inbound.reply_to = None;
        assert_eq!(inbound.customer_email(), "noreply@forms.test");
        assert!(is_automated_sender("MAILER-DAEMON@mx.test"));
        assert!(is_automated_sender("no-reply@servicedesk.test"));
        assert!(!is_automated_sender("nora@example.com"));
    }
}
