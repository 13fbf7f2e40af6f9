//! What a human did with our draft: the sent reply is compared with our draft by word-set
//! similarity after cleanup, and the outcome becomes a signal.
//!
//! Cleanup (both sides): quoted history in `<blockquote>` is cut, then
//! [`pipeline::text::normalise`](crate::pipeline::text::normalise) strips HTML, hidden comments
//! (our draft marker among them), `>` quotes and reply headers, signatures and disclaimers.
//! Similarity is the Jaccard index of the two sets of lowercase word tokens.
//! The thresholds are [`THRESHOLDS`], the one place they are set.

use super::SignalKind;
use crate::pipeline::text::{normalise, tokens};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where similarity turns one outcome into the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: `unchanged` (a greeting or a name added to a 40-word draft stays above it).
    pub unchanged: f64,
    /// At or above (and below `unchanged`): `edited`; below: `rewritten`.
    pub edited: f64,
}

/// The thresholds: Jaccard ≥ 0.9 unchanged, ≥ 0.5 edited, else rewritten.
pub const THRESHOLDS: Thresholds = Thresholds {
    unchanged: 0.9,
    edited: 0.5,
};

/// The outcome of a reply, as the `support/outbound.sent` function records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Unchanged,
    Edited,
    Rewritten,
    /// No reply followed our draft within the window.
    NotSent,
    /// We had no draft in that conversation: recorded in the trail, no signal.
    NoDraft,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Edited => "edited",
            Self::Rewritten => "rewritten",
            Self::NotSent => "not_sent",
            Self::NoDraft => "no_draft",
        }
    }

    /// The signal it records, if any.
    pub fn signal_kind(self) -> Option<SignalKind> {
        match self {
            Self::Unchanged => Some(SignalKind::Unchanged),
            Self::Edited => Some(SignalKind::Edited),
            Self::Rewritten => Some(SignalKind::Rewritten),
            Self::NotSent => Some(SignalKind::NotSent),
            Self::NoDraft => None,
        }
    }
}

/// A body reduced to what a human wrote or kept: quoted history, markup, comments, signatures
/// and disclaimers removed.
pub fn clean(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    let cut = lower.find("<blockquote").unwrap_or(body.len());
    normalise(&body[..cut]).text
}

/// The Jaccard index of the word sets of two cleaned texts (1 when both are empty).
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: BTreeSet<String> = tokens(a).into_iter().collect();
    let b: BTreeSet<String> = tokens(b).into_iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Classifies a sent body against our draft (both raw: HTML or text).
pub fn classify(draft: &str, sent: &str) -> (Outcome, f64) {
    let sim = similarity(&clean(draft), &clean(sent));
    let outcome = if sim >= THRESHOLDS.unchanged {
        Outcome::Unchanged
    } else if sim >= THRESHOLDS.edited {
        Outcome::Edited
    } else {
        Outcome::Rewritten
    };
    (outcome, sim)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DRAFT: &str = "<p>Hi Ana,</p><p>You can reset your password from the login page: click \
        Forgot password and follow the link we email you. The link works for one hour.</p>\
        <p>Best,<br>Support</p><!-- support-draft:run_1 -->";

    #[test]
    fn the_same_text_with_markup_quotes_and_signature_is_unchanged() {
        let sent = "Hi Ana,\n\nYou can reset your password from the login page: click Forgot \
            password and follow the link we email you. The link works for one hour.\n\nBest,\nSupport\n\n\
            On Mon, 1 Dec 2026 at 10:00, Ana <ana@example.test> wrote:\n> I cannot log in\n> please help";
        let (o, sim) = classify(DRAFT, sent);
        assert_eq!(o, Outcome::Unchanged, "similarity {sim}");
        let html =
            format!("{DRAFT}<blockquote>I cannot log in to my account at all today</blockquote>");
        assert_eq!(classify(DRAFT, &html).0, Outcome::Unchanged);
    }

    #[test]
    fn an_edit_is_edited_and_a_new_reply_is_rewritten() {
        let edited = "<p>Hi Ana,</p><p>You can reset your password from the login page: click \
            Forgot password and open the link we email you. It works for one hour. Sorry for the trouble!</p>";
        let (o, sim) = classify(DRAFT, edited);
        assert_eq!(o, Outcome::Edited, "similarity {sim}");
        assert!((THRESHOLDS.edited..THRESHOLDS.unchanged).contains(&sim));
        let rewritten =
            "Hi, I've escalated this to our engineers; we will get back to you tomorrow.";
        let (o, sim) = classify(DRAFT, rewritten);
        assert_eq!(o, Outcome::Rewritten, "similarity {sim}");
    }

    #[test]
    fn similarity_is_jaccard_on_word_sets() {
        assert_eq!(similarity("a b c d", "a b c d"), 1.0);
        assert_eq!(similarity("a b", "c d"), 0.0);
        assert!((similarity("a b c", "b c d") - 0.5).abs() < 1e-12);
        assert_eq!(similarity("", ""), 1.0);
    }

    #[test]
    fn outcomes_map_to_signals_except_no_draft() {
        assert_eq!(Outcome::NoDraft.signal_kind(), None);
        assert_eq!(Outcome::Edited.signal_kind().unwrap().value(), 0.5);
        assert_eq!(Outcome::NotSent.signal_kind().unwrap().value(), 0.0);
    }
}
