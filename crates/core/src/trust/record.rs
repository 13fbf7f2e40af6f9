//! Recording a signal (the row, its audit entry, the refreshed cache) and reading trust: the one
//! path for the Front outcome function, the Slack and plugin ratings and Stripe's bad outcomes.

use super::{HALF_LIFE_DAYS, Signal, trend, trust_at};
use crate::audit::AuditEvent;
use crate::store::{Store, StoreResult, TrustCacheRow};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `trust` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustSettings {
    /// How long after our draft a reply may come before the draft counts as `not_sent` (72 h).
    pub not_sent_window_secs: u64,
    /// What a bad outcome (reopen, reversal, dispute) weighs beyond 1 (2: it weighs 3).
    pub bad_outcome_extra_weight: f64,
}

impl Default for TrustSettings {
    fn default() -> Self {
        Self {
            not_sent_window_secs: 72 * 3600,
            bad_outcome_extra_weight: 2.0,
        }
    }
}

/// Append `s` (nothing when its id was recorded before), audit it as `signal.recorded` and
/// refresh the cached trust of its app × category. `true` when it was new.
pub async fn record_signal(store: &dyn Store, s: &Signal, now: Millis) -> StoreResult<bool> {
    if !store.record_signal(s).await? {
        return Ok(false);
    }
    let mut ev = AuditEvent::new(
        "signal.recorded",
        s.actor.clone().unwrap_or_else(|| s.source.clone()),
        json!({
            "signal_id": s.id,
            "kind": s.kind,
            "category": s.category,
            "value": s.value,
            "weight": s.weight,
            "run_id": s.run_id,
            "source": s.source,
            "note": s.note,
            "detail": s.detail,
        }),
    )
    .app(s.app.clone());
    if !s.conversation_id.is_empty() {
        ev = ev.conversation(s.conversation_id.clone());
    }
    store.append_audit(&ev).await?;
    refresh(store, &s.app, &s.category, now, HALF_LIFE_DAYS).await?;
    Ok(true)
}

/// Recompute an app × category's trust at `now` from its rows and cache it.
pub async fn refresh(
    store: &dyn Store,
    app: &str,
    category: &str,
    now: Millis,
    half_life_days: f64,
) -> StoreResult<TrustCacheRow> {
    let signals = store.signals_for(app, category).await?;
    let t = trust_at(&signals, now, half_life_days);
    let row = TrustCacheRow {
        app: app.to_string(),
        category: category.to_string(),
        score: t.score,
        effective_samples: t.effective_samples,
        signals: t.signals as i64,
        trend: trend(&signals, now, half_life_days, 7),
        computed_at: now,
    };
    store.put_trust_cache(&row).await?;
    Ok(row)
}

/// Trust of every app × category with signals (of `app`, when given), recomputed at `now` from
/// the rows (and cached again).
pub async fn current(
    store: &dyn Store,
    app: Option<&str>,
    now: Millis,
    half_life_days: f64,
) -> StoreResult<Vec<TrustCacheRow>> {
    let mut out = Vec::new();
    for (a, c) in store.signal_categories(app).await? {
        out.push(refresh(store, &a, &c, now, half_life_days).await?);
    }
    Ok(out)
}

/// A trust row as the API, `skill trust show` and the dashboard show it. The mode,
/// certificate and last demotion come from automatic sending (`autosend`); until it records
/// them, the mode reads `draft`.
pub fn row_json(r: &TrustCacheRow) -> serde_json::Value {
    json!({
        "app": r.app,
        "category": r.category,
        "score": r.score,
        "effective_samples": r.effective_samples,
        "signals": r.signals,
        "trend": r.trend,
        "computed_at": r.computed_at,
        "half_life_days": HALF_LIFE_DAYS,
        "mode": "draft",
        "certificate": null,
        "last_demotion": null,
    })
}
