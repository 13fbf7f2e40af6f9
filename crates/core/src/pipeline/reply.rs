//! Reply drafting: short, warm, specific replies from what the agent knows. Never
//! placeholders, internal routing talk or tool names; pending actions are never described
//! as done.

use support_sdk::types::Subscription;

use super::classify::Intent;
use super::inbound::{CustomerFacts, Inbound, PurchaseFact};
use super::kb::KbHit;
use super::profile::AppProfile;
use super::router::{RouteAction, RouteDecision};
use super::text::{self, CueText};

/// What the agent did, which decides what the reply says.
#[derive(Debug, Clone, PartialEq)]
pub enum Situation {
    /// A short holding reply for an escalation.
    Holding,
    /// A matched canned response.
    Canned,
    /// An answer from knowledge, or a question back.
    Answer,
    LinkSent,
    NoPurchaseFound,
    NoAccountFound,
    Refunded(PurchaseFact),
    RefundPending(PurchaseFact),
    OwnerMustConfirm,
    NeedTransferTarget(PurchaseFact),
    Transferred(PurchaseFact, Vec<String>),
    TransferPending(PurchaseFact, Vec<String>),
    NameUpdated(String),
    NeedNewName,
    EmailUpdated(String),
    EmailPending(String),
    NeedNewEmail,
}

/// Everything a reply may draw on.
#[derive(Debug, Clone, Copy)]
pub struct ReplyFacts<'a> {
    pub inbound: &'a Inbound,
    pub route: &'a RouteDecision,
    pub profile: &'a AppProfile,
    pub facts: &'a CustomerFacts,
    pub subscriptions: &'a [Subscription],
    pub knowledge: &'a [KbHit],
    /// The final action (the agent may have handed over).
    pub action: RouteAction,
}

/// Composes the reply.
pub fn compose(f: &ReplyFacts<'_>, situation: &Situation) -> String {
    let name = f
        .facts
        .first_name()
        .or_else(|| text::signoff_first_name(&f.route.analysis.body));
    let greeting = match &name {
        Some(n) => format!("Hi {n},"),
        None => "Hi there,".to_owned(),
    };
    let body = if f.action.is_escalation() || *situation == Situation::Holding {
        holding(f)
    } else if *situation == Situation::Canned {
        canned(f, name.as_deref()).unwrap_or_else(|| answer(f))
    } else {
        respond(f, situation)
    };
    format!(
        "{greeting}\n\n{}\n\nBest,\n{}",
        body.join("\n\n"),
        f.profile.signature()
    )
}

fn holding(f: &ReplyFacts<'_>) -> Vec<String> {
    match f.action {
        RouteAction::EscalateUrgent => vec![
            "Thank you for your message. We have received it, and a member of our team will \
             reply to you personally as soon as possible."
                .into(),
        ],
        RouteAction::EscalateInstructor => {
            let who = if f.profile.instructor.is_empty() {
                "the instructor".to_owned()
            } else {
                f.profile.instructor.clone()
            };
            vec![format!(
                "Thank you so much for writing! I'll make sure {who} sees your message."
            )]
        }
        _ => {
            let mut v = Vec::new();
            if f.route.flags.angry {
                v.push("I'm sorry for the frustration this has caused, and thank you for telling us plainly.".into());
            } else {
                v.push("Thanks for getting in touch.".into());
            }
            v.push(
                "A member of our team is looking into this personally and will get back to you \
                 shortly."
                    .into(),
            );
            v
        }
    }
}

/// Fills a canned template; `None` if a variable has no value (never send placeholders).
fn canned(f: &ReplyFacts<'_>, name: Option<&str>) -> Option<Vec<String>> {
    let template = &f.route.canned.as_ref()?.body;
    let vars = template_values(f, name);
    let filled = fill_template(template, &vars)?;
    // A canned body may carry its own greeting and sign-off; keep only the middle.
    let lines: Vec<&str> = filled
        .lines()
        .filter(|l| {
            let t = l.trim().to_lowercase();
            !(t.starts_with("hi ") || t.starts_with("hello ") || t == "best," || t == "thanks,")
        })
        .collect();
    Some(vec![lines.join("\n").trim().to_owned()])
}

/// The value of every variable of [`crate::corpus::TEMPLATE_VARIABLES`] for this reply
/// (`None`: not known, so a template using it does not answer).
fn template_values(f: &ReplyFacts<'_>, name: Option<&str>) -> Vec<(&'static str, Option<String>)> {
    let product = Some(f.profile.product.clone()).filter(|s| !s.is_empty());
    vec![
        ("first_name", name.map(str::to_owned)),
        ("name", name.map(str::to_owned)),
        ("product", product.clone()),
        ("app_name", product),
        (
            "instructor",
            Some(f.profile.instructor.clone()).filter(|s| !s.is_empty()),
        ),
        ("email", Some(f.facts.email.clone())),
    ]
}

/// Replaces `{{var}}` placeholders. `None` when one has no value or is unknown.
pub fn fill_template(template: &str, vars: &[(&str, Option<String>)]) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let key = after[..end].trim();
        let value = vars
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.clone())?;
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn respond(f: &ReplyFacts<'_>, situation: &Situation) -> Vec<String> {
    let email = &f.facts.email;
    let angry = f.route.flags.angry;
    let mut v = Vec::new();
    match situation {
        Situation::LinkSent => {
            if angry {
                v.push(
                    "I'm really sorry about the trouble getting in. Let's fix that right now."
                        .into(),
                );
            }
            v.push(format!(
                "I've just sent a fresh login link to {email}. It should arrive within a few \
                 minutes; if you don't see it, please check your spam or promotions folder."
            ));
            if let Some(p) = f.facts.active_purchases().first() {
                v.push(format!(
                    "I can see your {} purchase on that address, so the link will take you \
                     straight to it.",
                    p.product
                ));
            }
            v.extend(knowledge(f, 1));
            v.push("If anything still doesn't work, just reply here and I'll sort it out.".into());
        }
        Situation::NoPurchaseFound => {
            let goal = if f.route.intent == Intent::Refund {
                "look into the refund for you"
            } else {
                "get you into your course"
            };
            v.push(format!(
                "I looked for a purchase under {email} but couldn't find one. It may have been \
                 made with a different email address: could you reply with the address you used \
                 at checkout, or the order number from your receipt?"
            ));
            v.push(format!("As soon as I have it, I'll {goal}."));
        }
        Situation::NoAccountFound => v.push(format!(
            "I couldn't find an account under {email}. Which email address do you use to sign \
             in? Once I know, I'll take care of it."
        )),
        Situation::Refunded(p) => {
            if angry {
                v.push("I'm sorry the course didn't live up to what you expected.".into());
            }
            v.push(format!(
                "I've refunded your {} purchase in full to your original payment method. \
                 Depending on your bank, it can take a few business days to show on your \
                 statement.",
                p.product
            ));
        }
        Situation::RefundPending(p) => {
            v.push(format!(
                "Thanks for letting us know. Your {} purchase is outside the window for instant \
                 refunds, so I've asked the team to review your refund request.",
                p.product
            ));
            v.push("You'll hear back from us by email as soon as it's been reviewed.".into());
        }
        Situation::OwnerMustConfirm => {
            v.push(
                "Happy to help with this. For security, we can only move a purchase to someone \
                 else when its owner asks us to."
                    .into(),
            );
            v.push(format!(
                "Could you ask the person who bought it to email us from the address they used \
                 at checkout, confirming they'd like it moved to {email}? As soon as we hear from \
                 them, we'll take care of it."
            ));
        }
        Situation::NeedTransferTarget(p) => v.push(format!(
            "Happy to move your {} purchase. Which email address should it go to?",
            p.product
        )),
        Situation::Transferred(p, to) => {
            let to = join(to);
            v.push(format!(
                "All done: I've moved your {} purchase to {to}.",
                p.product
            ));
            v.push(format!(
                "From now on, {to} can sign in with a login link sent to that address."
            ));
        }
        Situation::TransferPending(p, to) => {
            let what = if p.is_team {
                "the seats on your team licence".to_owned()
            } else {
                format!("your {} purchase", p.product)
            };
            v.push(format!(
                "Thanks for the details. I've asked the team to approve moving {what} to {}.",
                join(to)
            ));
            v.push("We'll confirm by email as soon as it's done.".into());
        }
        Situation::NameUpdated(name) => {
            v.push(format!("I've updated the name on your account to {name}."));
            if CueText::new(&f.route.analysis.cleaned).has("certificate*") {
                v.push("Any certificate you download from now on will show the new name.".into());
            }
        }
        Situation::NeedNewName => {
            v.push("Happy to fix the name on your account. How exactly should it read?".into())
        }
        Situation::EmailUpdated(new) => v.push(format!(
            "I've changed the login email on your account to {new}."
        )),
        Situation::EmailPending(new) => {
            v.push(format!(
                "I've asked the team to approve changing the login email on your account to \
                 {new}."
            ));
            v.push(
                "Once that's confirmed, you'll sign in with the new address, and your \
                 purchases and progress stay with your account."
                    .into(),
            );
        }
        Situation::NeedNewEmail => v.push(
            "Happy to change the email on your account. Which address would you like to use?"
                .into(),
        ),
        Situation::Holding | Situation::Canned | Situation::Answer => return answer(f),
    }
    v
}

fn answer(f: &ReplyFacts<'_>) -> Vec<String> {
    let mut v = Vec::new();
    let cues = CueText::new(&f.route.analysis.cleaned);
    let product = &f.profile.product;
    match f.route.intent {
        Intent::ProductQuestion => {
            v.push(format!("Thanks for your interest in {product}!"));
            let kb = knowledge(f, 2);
            if kb.is_empty() {
                v.push("Could you tell me a little more about what you'd like to know, so I can give you an accurate answer?".into());
            }
            v.extend(kb);
            v.push("If there's anything else you'd like to know before deciding, just ask.".into());
        }
        Intent::TechnicalIssue => {
            let problem = cues.any(&[
                "error",
                "not",
                "doesnt",
                "cant",
                "wont",
                "stuck",
                "broken",
                "fails",
                "keeps",
                "spinner",
                "resetting",
                "problem",
                "issue",
            ]);
            if problem {
                v.push(
                    "Sorry you're running into this, and thanks for the clear description.".into(),
                );
            } else {
                v.push("Good question!".into());
            }
            v.extend(knowledge(f, 2));
            if problem {
                v.push("If that doesn't solve it, reply with your browser or setup details and what you see, and we'll dig in.".into());
            } else {
                v.push("If anything else comes up, just reply here.".into());
            }
        }
        Intent::Subscription => {
            for s in f.subscriptions {
                v.push(format!(
                    "I can see your {} ({}), with the current period ending on {}.",
                    s.product_name,
                    s.status,
                    date(&s.current_period_end)
                ));
            }
            v.extend(knowledge(f, 1));
            v.push("If you'd like me to cancel it for you instead, just reply to confirm and I'll take care of it.".into());
        }
        Intent::Receipt => {
            let doc = if cues.has("invoice*") {
                "invoice"
            } else {
                "receipt"
            };
            if let Some(p) = f.facts.active_purchases().first() {
                v.push(format!(
                    "Of course! I can see your {} purchase from {}.",
                    p.product,
                    date(&p.purchased_at)
                ));
            }
            v.extend(knowledge(f, 1));
            v.push(format!(
                "If you'd rather I send the {doc} over, reply with any details that need to be on it and I'll get it to you."
            ));
        }
        Intent::ChargeQuestion => {
            v.push("Thanks for checking with us.".into());
            let purchases = f.facts.active_purchases();
            if let Some(p) = purchases.first() {
                v.push(format!(
                    "I can see {} {} purchase on your account, from {}.",
                    if purchases.len() == 1 { "one" } else { "a" },
                    p.product,
                    date(&p.purchased_at)
                ));
            }
            v.extend(knowledge(f, 1));
            v.push(
                "If both charges are still there in a few days, reply here and we'll sort it out."
                    .into(),
            );
        }
        Intent::TeamSeatAccess => {
            v.extend(knowledge(f, 1));
            v.push("If your admin has already added you and nothing arrived, let me know and I'll look into it.".into());
        }
        Intent::Comment | Intent::ForInstructor => {
            v.push(format!(
                "Thank you for taking the time to write this up. Feedback like this really helps us improve {product}."
            ));
            v.push("I've passed it on to the team.".into());
        }
        Intent::Thanks => v.push("Thank you for the kind words, it means a lot to us!".into()),
        Intent::WrongBusiness => v.push(format!(
            "I think this message may have reached us by mistake: we're {product}, an online \
             learning product, so we don't have any record of this order. The business you \
             ordered from will be able to help you directly."
        )),
        _ if text::tokens(&f.route.analysis.body).len() < 3 => v.push(
            "It looks like your message came through without any text. What can I help you with?"
                .into(),
        ),
        _ => v.push(format!(
            "Thanks for getting in touch! We handle all {product} support by email, so you're in \
             the right place. Could you tell me a little more about what you need? I'll take it \
             from there."
        )),
    }
    v
}

/// Up to `n` knowledge passages, the best first, keeping only those close to the best.
fn knowledge(f: &ReplyFacts<'_>, n: usize) -> Vec<String> {
    let Some(best) = f.knowledge.first().map(|h| h.score) else {
        return Vec::new();
    };
    f.knowledge
        .iter()
        .filter(|h| h.score >= best * 0.6)
        .take(n)
        .map(|h| strip_title(h.text.trim()))
        .collect()
}

/// Drops a short "Title: " lead-in from a knowledge passage.
fn strip_title(passage: &str) -> String {
    match passage.split_once(": ") {
        Some((title, rest)) if title.split_whitespace().count() <= 4 && !rest.is_empty() => {
            let mut chars = rest.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
        _ => passage.to_owned(),
    }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The date part of an ISO timestamp.
fn date(iso: &str) -> String {
    iso.get(..10).unwrap_or(iso).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_never_leave_placeholders() {
        let vars = [("first_name", Some("Ana".to_owned())), ("email", None)];
        assert_eq!(
            fill_template("Hi {{ first_name }}!", &vars).as_deref(),
            Some("Hi Ana!")
        );
        assert_eq!(fill_template("to {{email}}", &vars), None);
        assert_eq!(fill_template("{{unknown}}", &vars), None);
        assert_eq!(fill_template("{{broken", &vars), None);
    }

    #[test]
    fn knowledge_titles_are_dropped() {
        assert_eq!(strip_title("Offline viewing: every lesson"), "Every lesson");
        assert_eq!(strip_title("No title here"), "No title here");
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(join(&["a".into()]), "a");
        assert_eq!(join(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(date("2024-01-15T10:30:00.000Z"), "2024-01-15");
    }
}
