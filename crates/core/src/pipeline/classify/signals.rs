//! Signals besides the category: anger, mail for the instructor, and the category scores.

use super::*;

/// Words in capitals that are shouting, not acronyms. Capitals that name rather than shout are
/// left out: a word in quotes or parentheses, after `$` or `#` (a reply keyword, a ticker, a
/// code), and a label before a colon (`IBAN:`, `NOTICE:`, `DISCLAIMER:`). Issue 17: pitches
/// and notices read as angry otherwise (train tr-tw-spam-crypto-creator-token,
/// tr-ai-spam-lead-list-ml-leaders, tr-ts-spam-fake-invoice-directory-listing; the same
/// capitals in dev ts-magic-link-never-arrives-outlook, train
/// tr-ts-magic-link-held-by-corporate-filter, tr-ai-calendar-declined-office-hours).
pub(super) fn shouted_words(s: &str) -> usize {
    const ACRONYMS: &[&str] = &[
        "ADA", "VAT", "SSO", "API", "UTC", "PDF", "URL", "HTML", "CSS", "UI", "UX", "LLM", "RAG",
        "GDPR", "USA", "CEO", "CTO", "FAQ", "ASAP", "IT", "AI", "ML", "PO", "GBP", "USD", "EUR",
        "WAT", "PST", "ERR", "UGC", "SEO", "DA", "OK", "NVDA", "TS", "JS", "CNIL", "DSN",
    ];
    s.split_whitespace()
        .filter(|w| !w.starts_with(['"', '\'', '“', '‘', '«', '(', '$', '#', '[']))
        .filter(|w| !w.ends_with(':'))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().all(char::is_alphabetic))
        .filter(|w| w.chars().count() >= 3)
        .filter(|w| w.chars().all(char::is_uppercase))
        .filter(|w| !ACRONYMS.contains(w))
        .count()
}

/// Whether the message asks to reply with a keyword in capitals ("Reply YES", "reply
/// 'SAMPLE'"): how mass mailings take their answers, never how a customer writes.
pub(super) fn reply_keyword(body: &str) -> bool {
    let words: Vec<&str> = body.split_whitespace().collect();
    words.windows(2).any(|w| {
        let verb = w[0]
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let key = w[1].trim_matches(|c: char| !c.is_alphanumeric());
        REPLY_VERBS.contains(&verb.as_str())
            && key.chars().count() >= 2
            && key.chars().all(|c| c.is_alphabetic() && c.is_uppercase())
    })
}

/// Anger: hostile words, repeated contact (`repeated`: 1 when they wrote again before we
/// answered or say it is their third time), shouting and stacked punctuation. Shouting and
/// punctuation alone (enthusiasm, automated warnings) are not enough: it takes a hostile word,
/// repeated contact or a lot of shouting.
pub(super) fn angry_score(subject: &str, body: &str, cues: &CueText, repeated: usize) -> usize {
    let lexical = cues.matching(ANGRY).len() + repeated;
    let shouted = shouted_words(subject) + shouted_words(body);
    if lexical == 0 && shouted < 3 {
        return 0;
    }
    let mut score = lexical;
    if shouted >= 1 {
        score += 1;
    }
    if shouted >= 3 {
        score += 1;
    }
    let all = format!("{subject} {body}");
    if all.contains("??") || all.contains("!!") {
        score += 1;
    }
    score
}

/// Whether the mail is addressed to the instructor personally: their name opens the message
/// or the subject, or it asks for their time.
pub(super) fn addressed_to_instructor(subject: &str, body: &str, instructor: &str) -> bool {
    if instructor.is_empty() {
        return false;
    }
    let name = instructor.to_lowercase();
    let opening: Vec<String> = text::tokens(body.lines().next().unwrap_or_default())
        .into_iter()
        .take(4)
        .collect();
    let in_subject = text::tokens(subject).contains(&name);
    let in_opening = opening.contains(&name);
    let mentioned = text::tokens(body).contains(&name) || in_subject;
    let time_request = CueText::new(body).any(INSTRUCTOR_TIME);
    in_subject || in_opening || (mentioned && time_request)
}

/// Scores of the support categories for a message.
#[derive(Debug, Default)]
pub(super) struct Scores {
    pub(super) access: usize,
    pub(super) refund: usize,
    pub(super) transfer: usize,
    pub(super) billing: usize,
    pub(super) technical: usize,
    pub(super) account: usize,
    pub(super) presales: usize,
    pub(super) feedback: usize,
    pub(super) spam: usize,
}

pub(super) fn transfer_score(cues: &CueText) -> usize {
    let bank = cues.has("bank transfer") || cues.has("wire transfer");
    let verb = cues.any(TRANSFER_VERBS) && (!bank || cues.has("transfer* it"));
    let object = cues.any(TRANSFER_OBJECTS);
    let email_change = cues.any(CHANGE_EMAIL);
    match (verb, object) {
        (true, true) if !email_change => 3,
        (true, false) if !bank => 1,
        _ => 0,
    }
}

pub(super) fn score(cues: &CueText) -> Scores {
    let refund = 3 * cues.matching(REFUND_STRONG).len() + cues.matching(REFUND_WEAK).len();
    let account = 3
        * (cues.matching(CHANGE_NAME).len()
            + cues.matching(CHANGE_EMAIL).len()
            + cues.matching(DATA_REQUEST).len());
    Scores {
        access: 2 * cues.matching(ACCESS).len(),
        refund,
        transfer: transfer_score(cues),
        billing: 2 * cues.matching(BILLING).len(),
        technical: cues.matching(TECHNICAL).len(),
        account,
        presales: 2 * cues.matching(PRESALES).len(),
        feedback: cues.matching(FEEDBACK).len() + cues.matching(SUGGESTION).len(),
        spam: cues.matching(SPAM).len(),
    }
}
