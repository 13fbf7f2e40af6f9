//! From cues and context to category, intent and confidence.

use super::*;

pub(super) fn thread_hint(previous: &str) -> Option<Category> {
    let (body, _) = strip_injection(&text::normalise(previous).text);
    let s = score(&CueText::new(&body));
    let ranked = [
        (Category::Refund, s.refund),
        (Category::Transfer, s.transfer),
        (Category::AccountUpdate, s.account),
        (Category::Access, s.access),
        (Category::Billing, s.billing),
    ];
    ranked
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c)
}

pub(super) fn categorise(
    cues: &CueText,
    ctx: &Context<'_>,
    reasons: &mut Vec<String>,
) -> (Category, Intent, f32) {
    let body_tokens = text::tokens(ctx.body);
    if body_tokens.len() < 3 && !cues.any(GRATITUDE) {
        reasons.push("empty or near-empty message".into());
        return (Category::Unknown, Intent::Vague, 0.6);
    }
    let s = score(cues);
    let spam = s.spam + ctx.quoted.matching(SPAM).len();
    if spam >= 2 && s.refund == 0 && s.access == 0 {
        let mut found = cues.matching(SPAM);
        found.extend(ctx.quoted.matching(SPAM));
        reasons.push(format!("vendor pitch cues: {}", found.join(", ")));
        return (
            Category::PartnershipSpam,
            Intent::Pitch,
            confidence_of(spam, 1),
        );
    }
    // A pitch by its structure, in any language: a sender with no purchase looks at our
    // website from outside and asks for nothing a customer asks for (issue 17: dev
    // ts-spam-seo-backlinks; train tr-ai-spam-broken-link-replacement,
    // tr-ts-spam-auditoria-seo-es, tr-tw-spam-urgent-legal-notice-domain-registration).
    if ctx.outsider_on_our_site && s.refund + s.access + s.transfer + s.account == 0 {
        reasons.push(
            "a sender with no purchase writes about our website from outside: a pitch".into(),
        );
        return (Category::PartnershipSpam, Intent::Pitch, 0.7);
    }
    // A mass mailing by its call to action: reply with a keyword in capitals (issue 17: dev
    // ai-spam-offshore-ml-developers; train tr-tw-spam-crypto-creator-token,
    // tr-ai-spam-lead-list-ml-leaders).
    if reply_keyword(ctx.body) && s.refund + s.access + s.transfer + s.account == 0 {
        reasons.push("asks to reply with a keyword in capitals: a mass mailing".into());
        return (Category::PartnershipSpam, Intent::Pitch, 0.7);
    }
    if ctx.for_instructor && !cues.any(PLATFORM_PROBLEM) {
        let (category, why) = instructor_category(cues);
        reasons.push(format!("addressed to the instructor personally ({why})"));
        return (category, Intent::ForInstructor, 0.85);
    }
    if cues.any(WRONG_BUSINESS) && !cues.any(PRODUCT_WORDS) && s.access == 0 {
        reasons.push("mail meant for another business".into());
        return (Category::Unknown, Intent::WrongBusiness, 0.7);
    }
    if cues.any(NEEDS_CONTEXT) && s.refund + s.access + s.transfer + s.account == 0 {
        reasons.push(format!(
            "refers to context we have no record of: {}",
            cues.matching(NEEDS_CONTEXT).join(", ")
        ));
        return (Category::Unknown, Intent::NeedsContext, 0.7);
    }
    let asks_for_action = s.refund + s.transfer + s.account > 0;
    if says_no_reply_needed(ctx.body) && !cues.lower.contains('?') && !asks_for_action {
        reasons.push("thanks, explicitly needing no reply".into());
        return (Category::Feedback, Intent::Thanks, 0.8);
    }
    let (category, intent, confidence) = support_category(cues, &s, ctx, reasons);
    if let Some(why) = needs_decision(cues, &s, intent) {
        reasons.push(why);
        return (category, Intent::NeedsContext, confidence);
    }
    (category, intent, confidence)
}

/// A request that needs a company decision: an exception to the policy asked for in so many
/// words, or asking whether we would do something with no refund, access, transfer or
/// account cue (no tool does it). Refunds keep their age rules, and intents that already
/// go to the team stay as they are.
fn needs_decision(cues: &CueText, s: &Scores, intent: Intent) -> Option<String> {
    let answerable = matches!(
        intent,
        Intent::LoginHelp
            | Intent::TeamSeatAccess
            | Intent::TechnicalIssue
            | Intent::ProductQuestion
            | Intent::Subscription
            | Intent::ChargeQuestion
            | Intent::Receipt
            | Intent::Comment
            | Intent::Vague
            | Intent::ChangeName
    );
    if !answerable || s.refund > 0 {
        return None;
    }
    let exception = cues.matching(ASKS_EXCEPTION);
    if !exception.is_empty() {
        return Some(format!(
            "asks for an exception: {} (a company decision)",
            exception.join(", ")
        ));
    }
    let permission = cues.matching(ASKS_PERMISSION);
    if !permission.is_empty() && s.access + s.transfer + s.account == 0 {
        return Some(format!(
            "asks whether we would: {} (a company decision, no tool does it)",
            permission.join(", ")
        ));
    }
    None
}

pub(super) fn instructor_category(cues: &CueText) -> (Category, &'static str) {
    if cues.any(INSTRUCTOR_INVITE) {
        (Category::FanMail, "personal invitation")
    } else if cues.any(INSTRUCTOR_TIME) {
        (Category::Presales, "request for the instructor's time")
    } else if cues.any(CORRECTION) {
        (Category::Feedback, "content correction")
    } else if cues.lower.contains('?') && cues.any(CONTENT_QUESTION) {
        (Category::Technical, "content question")
    } else {
        (Category::FanMail, "personal note")
    }
}

pub(super) fn confidence_of(top: usize, second: usize) -> f32 {
    let margin = top.saturating_sub(second) as f32;
    (0.55 + 0.08 * margin).min(0.95)
}

pub(super) fn support_category(
    cues: &CueText,
    s: &Scores,
    ctx: &Context<'_>,
    reasons: &mut Vec<String>,
) -> (Category, Intent, f32) {
    let question = cues.lower.contains('?');
    let no_purchase = ctx.has_purchases == Some(false);
    let unrecognised = cues.any(UNRECOGNISED_CHARGE) && s.billing > 0;
    // Presales: questions from people who bought nothing, or explicit pre-purchase cues.
    let presales = s.presales
        + if no_purchase && question && s.refund == 0 && s.access == 0 && s.technical > 0 {
            2 + s.technical
        } else {
            0
        };
    let mut ranked = [
        (Category::Refund, if unrecognised { 0 } else { s.refund }),
        (Category::Transfer, s.transfer),
        (Category::AccountUpdate, s.account),
        (Category::Access, s.access),
        (
            Category::Billing,
            s.billing + if unrecognised { 3 } else { 0 },
        ),
        (Category::Presales, presales),
        (Category::Technical, s.technical),
        (Category::Feedback, s.feedback),
    ];
    // A follow-up leans towards what the customer wrote about before.
    if let Some(hint) = ctx.thread_hint {
        for (category, score) in ranked.iter_mut() {
            if *category == hint && *score > 0 {
                *score += 1;
                reasons.push(format!("follow-up on an earlier {hint} message"));
            }
        }
    }
    // Stable sort keeps the order above as the tie-break (earlier policy rules first).
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let (top, top_score) = ranked[0];
    let second = ranked[1].1;
    if top_score == 0 {
        if cues.any(GRATITUDE) && !cues.any(THANKS_IN_ADVANCE) {
            reasons.push("plain thanks".into());
            return (Category::Feedback, Intent::Thanks, 0.6);
        }
        reasons.push("no category cues: vague".into());
        return (Category::Unknown, Intent::Vague, 0.5);
    }
    reasons.push(format!("category scores: {}", describe(&ranked)));
    let intent = intent_for(top, cues, unrecognised);
    (top, intent, confidence_of(top_score, second))
}

pub(super) fn describe(ranked: &[(Category, usize)]) -> String {
    ranked
        .iter()
        .filter(|(_, s)| *s > 0)
        .map(|(c, s)| format!("{c}={s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn intent_for(category: Category, cues: &CueText, unrecognised: bool) -> Intent {
    match category {
        Category::Refund => Intent::Refund,
        Category::Transfer => Intent::Transfer,
        Category::AccountUpdate => {
            if cues.any(DATA_REQUEST) {
                Intent::DataRequest
            } else if cues.any(CHANGE_EMAIL) {
                Intent::ChangeEmail
            } else {
                Intent::ChangeName
            }
        }
        Category::Access => {
            if cues.has("invite") || (cues.has("team") && !cues.has("magic link")) {
                Intent::TeamSeatAccess
            } else {
                Intent::LoginHelp
            }
        }
        Category::Billing => billing_intent(cues, unrecognised),
        Category::Presales => {
            if cues.any(QUOTE) {
                Intent::Quote
            } else {
                Intent::ProductQuestion
            }
        }
        Category::Technical => Intent::TechnicalIssue,
        Category::Feedback => {
            let comment = cues.any(FEEDBACK) || cues.lower.contains('?');
            if !comment && cues.any(GRATITUDE) {
                Intent::Thanks
            } else {
                Intent::Comment
            }
        }
        _ => Intent::Vague,
    }
}

/// The intent for a category another classifier (a model) chose: the cue-based intent when it
/// agrees with this one, otherwise the intent the category's cues point at.
pub fn intent_for_category(category: Category, analysis: &Analysis) -> Intent {
    if category == analysis.category {
        return analysis.intent;
    }
    let cues = CueText::new(&analysis.cleaned);
    match category {
        Category::FanMail => Intent::ForInstructor,
        Category::PartnershipSpam => Intent::Pitch,
        Category::System => Intent::Automated,
        Category::Unknown => Intent::Vague,
        c => intent_for(c, &cues, cues.any(UNRECOGNISED_CHARGE)),
    }
}

pub(super) fn billing_intent(cues: &CueText, unrecognised: bool) -> Intent {
    if unrecognised {
        Intent::UnrecognisedCharge
    } else if cues.any(PURCHASE_ORDER) {
        Intent::PurchaseOrder
    } else if cues.any(INVOICE_CORRECTION) {
        Intent::InvoiceCorrection
    } else if cues.has("invoice*") || cues.has("receipt*") || cues.has("vat") {
        Intent::Receipt
    } else if cues.any(SUBSCRIPTION) {
        Intent::Subscription
    } else {
        Intent::ChargeQuestion
    }
}

/// Whether a message is a thank-you or acknowledgement that needs no answer: gratitude, no
/// question, no request or problem, and short (or explicitly "no need to reply").
pub fn is_closing_thanks(body: &str) -> bool {
    let cues = CueText::new(body);
    let explicit = cues.any(NO_REPLY_NEEDED);
    let grateful = cues.any(GRATITUDE) && !cues.any(THANKS_IN_ADVANCE);
    let asks = body.contains('?') || cues.any(PROBLEM) || cues.any(FEEDBACK);
    grateful && (explicit || (!asks && cues.tokens.len() <= 40))
}

/// Whether a thank-you says explicitly that no answer is needed.
pub fn says_no_reply_needed(body: &str) -> bool {
    let cues = CueText::new(body);
    cues.any(NO_REPLY_NEEDED) && cues.any(GRATITUDE)
}
