//! The learning loop's quantities, defined once: a **signal** is one append-only observation of
//! how a draft of ours fared (sent unchanged, edited, rewritten, not sent, rated, a bad outcome)
//! and **trust** per app × category is the exponentially decayed mean of the signals' values.
//!
//! `trust_at` is computed from the signal rows alone, at any time `t`: each signal weighs
//! `weight · 0.5^(age_days / half_life_days)` (signals after `t` are ignored), the score is
//! `Σ w·v / Σ w` and the effective samples are `Σ w`. The cached rows
//! ([`TrustCacheRow`](crate::store::TrustCacheRow)) only remember the last computation.
//! `outcome` classifies a sent reply against our draft.

pub mod outcome;
mod record;
pub use record::{TrustSettings, current, record_signal, refresh, row_json};

use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Trust's half-life: a signal 30 days old counts half.
pub const HALF_LIFE_DAYS: f64 = 30.0;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// The window in which a customer's reopening of a conversation we answered is a bad outcome.
pub const REOPEN_WINDOW_DAYS: i64 = 7;

/// What a signal observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The human sent our draft as it was.
    Unchanged,
    /// The human edited our draft before sending it.
    Edited,
    /// The human sent something else.
    Rewritten,
    /// No reply followed our draft within the window.
    NotSent,
    /// A good rating (Front plugin, Slack).
    RatingGood,
    /// A bad rating.
    RatingBad,
    /// The customer reopened the conversation within 7 days of our answer.
    Reopened,
    /// A refund we executed was reversed.
    RefundReversed,
    /// A charge we refunded (or answered about) was disputed.
    Disputed,
}

impl SignalKind {
    pub const ALL: &'static [SignalKind] = &[
        Self::Unchanged,
        Self::Edited,
        Self::Rewritten,
        Self::NotSent,
        Self::RatingGood,
        Self::RatingBad,
        Self::Reopened,
        Self::RefundReversed,
        Self::Disputed,
    ];

    /// The stored (and serialized) string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Edited => "edited",
            Self::Rewritten => "rewritten",
            Self::NotSent => "not_sent",
            Self::RatingGood => "rating_good",
            Self::RatingBad => "rating_bad",
            Self::Reopened => "reopened",
            Self::RefundReversed => "refund_reversed",
            Self::Disputed => "disputed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The value the issue assigns: unchanged 1.0, edited 0.5, rewritten 0, not_sent 0, good 1,
    /// bad 0; bad outcomes (reopen, reversal, dispute) 0.
    pub fn value(self) -> f64 {
        match self {
            Self::Unchanged | Self::RatingGood => 1.0,
            Self::Edited => 0.5,
            Self::Rewritten
            | Self::NotSent
            | Self::RatingBad
            | Self::Reopened
            | Self::RefundReversed
            | Self::Disputed => 0.0,
        }
    }

    /// A bad outcome: counts as 0 with the configured extra weight, and demotes an automatic
    /// category (G's `autosend`).
    pub fn is_bad_outcome(self) -> bool {
        matches!(self, Self::Reopened | Self::RefundReversed | Self::Disputed)
    }
}

impl std::fmt::Display for SignalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One append-only observation. `value` and `weight` are fixed when it is recorded, so trust is
/// computable from the rows alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Unique; recording the same id twice writes nothing the second time.
    pub id: String,
    pub app: String,
    pub category: String,
    /// The Front conversation id.
    pub conversation_id: String,
    pub kind: SignalKind,
    /// In [0, 1].
    pub value: f64,
    /// 1 for ordinary signals; bad outcomes weigh `1 + extra`.
    pub weight: f64,
    pub at: Millis,
    /// The run whose draft it is about, when known.
    pub run_id: Option<String>,
    /// Where it came from: `front`, `slack`, `plugin`, `stripe`, `timer`.
    pub source: String,
    /// Who (a user id, a Slack or Front teammate id), when a human gave it.
    pub actor: Option<String>,
    pub note: Option<String>,
    /// Details for the trail (similarity, message ids, ...).
    pub detail: Value,
}

impl Signal {
    /// A signal of `kind` with the kind's value and weight 1.
    pub fn new(
        id: impl Into<String>,
        kind: SignalKind,
        app: impl Into<String>,
        category: impl Into<String>,
        conversation_id: impl Into<String>,
        at: Millis,
        source: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            app: app.into(),
            category: category.into(),
            conversation_id: conversation_id.into(),
            kind,
            value: kind.value(),
            weight: 1.0,
            at,
            run_id: None,
            source: source.into(),
            actor: None,
            note: None,
            detail: Value::Null,
        }
    }

    /// A bad outcome weighs `1 + extra_weight`.
    pub fn with_bad_outcome_weight(mut self, extra_weight: f64) -> Self {
        if self.kind.is_bad_outcome() {
            self.weight = 1.0 + extra_weight.max(0.0);
        }
        self
    }
}

/// Trust at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrustScore {
    /// `Σ w·v / Σ w`; 0 when there is no weight.
    pub score: f64,
    /// `Σ w`.
    pub effective_samples: f64,
    /// How many signals counted (at or before `t`).
    pub signals: usize,
}

/// The decay factor of a signal `age_ms` old: `0.5^(age_days / half_life_days)`.
pub fn decay(age_ms: i64, half_life_days: f64) -> f64 {
    let age_days = age_ms.max(0) as f64 / DAY_MS as f64;
    0.5_f64.powf(age_days / half_life_days)
}

/// Trust at time `t` from the signals alone: signals after `t` are ignored.
pub fn trust_at(signals: &[Signal], t: Millis, half_life_days: f64) -> TrustScore {
    let (mut wv, mut w, mut n) = (0.0_f64, 0.0_f64, 0usize);
    for s in signals.iter().filter(|s| s.at <= t) {
        let weight = s.weight * decay(t - s.at, half_life_days);
        wv += weight * s.value;
        w += weight;
        n += 1;
    }
    TrustScore {
        score: if w > 0.0 { wv / w } else { 0.0 },
        effective_samples: w,
        signals: n,
    }
}

/// The score now minus the score `days` earlier (0 when there was nothing then).
pub fn trend(signals: &[Signal], t: Millis, half_life_days: f64, days: i64) -> f64 {
    let now = trust_at(signals, t, half_life_days);
    let then = trust_at(signals, t - days * DAY_MS, half_life_days);
    if then.effective_samples > 0.0 {
        now.score - then.score
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
