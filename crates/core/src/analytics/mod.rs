//! Analytics, defined once: the reporting events written as things happen, the daily rollups per
//! app × category and the measures read from them (`docs/analytics.md` says the same in prose;
//! the dashboard's tooltips quote [`DEFINITIONS`]).
//!
//! - Events are append-only rows ([`ReportingEvent`]) with a caller-chosen id that makes a
//!   replayed step harmless (`{kind}:{run or message or action}`); [`record`] writes one and the
//!   events it implies (the conversation's first reply, a reopen, a resolution's time and
//!   touch).
//! - [`rollup_events`] turns one UTC day's events into one [`DayRollup`] per app × category:
//!   counters, escalation reasons and four [`histogram::Histogram`]s; [`refresh`] re-rolls the
//!   days that got events since the watermark (the cron function and every read call it).
//! - [`summarize`] adds rollups and reads the [`Measures`]. Percentiles come from the
//!   histograms (relative error ≤ 9.05 %, see [`histogram`]).
//!
//! Days are UTC days. First reply and resolution times are also read in business hours: at
//! rollup time each `first_reply` and `resolved` event's interval (`at - value` → `at`) is
//! measured on its app's schedule ([`app_calendars`]: the schedule of the app's first SLA
//! policy that names one, `core::sla::hours`), into their own histograms. The SLA events
//! (`sla_warning`, `sla_breach`, `sla_met`) carry the SLA module's verdicts.

pub mod demo;
pub mod histogram;

use crate::sla::hours::BusinessCalendar;
use crate::store::{Store, StoreResult};
use crate::time::{DAY_MS, Millis};
use histogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happened. Stored as its `as_str` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A customer message reached us (`at`: the webhook's time).
    MessageReceived,
    /// We wrote a draft (Front, automatic or shadow); `value`: webhook → draft ms.
    DraftWritten,
    /// A human sent a reply.
    ReplyHuman,
    /// We sent a reply automatically.
    ReplyAuto,
    /// The conversation's first reply (implied by [`record`]); `value`: first message → reply ms.
    FirstReply,
    ApprovalRequested,
    /// `reason`: approved | rejected | expired; `value`: request → decision ms.
    ApprovalDecided,
    /// Handed to a human; `reason`: urgent | instructor | needs-human | handed_over.
    Escalated,
    /// Archived; `value`: first message → resolution ms; `reason`: human | automatic | none
    /// (filled by [`record`] from the conversation's events).
    Resolved,
    /// A customer wrote again after a resolution (implied by [`record`]).
    Reopened,
    DraftUnchanged,
    DraftEdited,
    DraftRewritten,
    /// The SLA module: a warning before a breach; `reason`: the target.
    SlaWarning,
    /// The SLA module: a target breached; `reason`: the target.
    SlaBreach,
    /// The SLA module: a target met (its clock stopped in time); `reason`: the target.
    SlaMet,
}

impl EventKind {
    pub const ALL: [EventKind; 16] = [
        Self::MessageReceived,
        Self::DraftWritten,
        Self::ReplyHuman,
        Self::ReplyAuto,
        Self::FirstReply,
        Self::ApprovalRequested,
        Self::ApprovalDecided,
        Self::Escalated,
        Self::Resolved,
        Self::Reopened,
        Self::DraftUnchanged,
        Self::DraftEdited,
        Self::DraftRewritten,
        Self::SlaWarning,
        Self::SlaBreach,
        Self::SlaMet,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageReceived => "message_received",
            Self::DraftWritten => "draft_written",
            Self::ReplyHuman => "reply_human",
            Self::ReplyAuto => "reply_auto",
            Self::FirstReply => "first_reply",
            Self::ApprovalRequested => "approval_requested",
            Self::ApprovalDecided => "approval_decided",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::DraftUnchanged => "draft_unchanged",
            Self::DraftEdited => "draft_edited",
            Self::DraftRewritten => "draft_rewritten",
            Self::SlaWarning => "sla_warning",
            Self::SlaBreach => "sla_breach",
            Self::SlaMet => "sla_met",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One reporting event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportingEvent {
    /// Idempotency key: the same id is stored once (`{kind}:{run, message or action id}`).
    pub id: String,
    pub app: String,
    /// The route's category (`unknown` before one is known).
    pub category: String,
    /// Front's conversation id.
    pub conversation_id: String,
    pub kind: EventKind,
    /// A duration in ms, for the kinds that carry one.
    pub value: Option<i64>,
    pub at: Millis,
    pub reason: Option<String>,
}

impl ReportingEvent {
    pub fn new(
        id: impl Into<String>,
        kind: EventKind,
        app: impl Into<String>,
        category: impl Into<String>,
        conversation_id: impl Into<String>,
        at: Millis,
    ) -> Self {
        Self {
            id: id.into(),
            app: app.into(),
            category: category.into(),
            conversation_id: conversation_id.into(),
            kind,
            value: None,
            at,
            reason: None,
        }
    }

    pub fn value(mut self, ms: i64) -> Self {
        self.value = Some(ms.max(0));
        self
    }

    pub fn reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }
}

/// The category of events recorded before the route decided one.
pub const UNKNOWN_CATEGORY: &str = "unknown";

/// The UTC day (days since the epoch) of a time.
pub fn day_of(at: Millis) -> i64 {
    at.div_euclid(DAY_MS)
}

/// The Monday that starts the ISO week of `day` (1970-01-01 was a Thursday).
pub fn week_of(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// Whether a human wrote, edited, approved or took over in these events (of one conversation).
pub fn human_touched(events: &[ReportingEvent]) -> bool {
    events.iter().any(|e| match e.kind {
        EventKind::ReplyHuman
        | EventKind::DraftEdited
        | EventKind::DraftRewritten
        | EventKind::Escalated => true,
        EventKind::ApprovalDecided => e.reason.as_deref() != Some("expired"),
        _ => false,
    })
}

/// Record `e` and what it implies, idempotently (every implied event has a derived id):
/// - a reply (human or automatic) that is the conversation's first: `first_reply` with the time
///   since its first message;
/// - a message after the conversation's latest resolution: `reopened`;
/// - `resolved`: its `value` (first message → now) and `reason` (`human` when a human touched
///   the conversation, `automatic` when we replied without one, `none` otherwise), and the
///   app and category of the conversation's earlier events when the caller knew none.
///
/// `true` when `e` was new.
pub async fn record(store: &dyn Store, e: &ReportingEvent) -> StoreResult<bool> {
    let mut e = e.clone();
    let needs_history = matches!(
        e.kind,
        EventKind::ReplyHuman
            | EventKind::ReplyAuto
            | EventKind::MessageReceived
            | EventKind::Resolved
    ) || e.app.is_empty()
        || e.category.is_empty()
        || e.category == UNKNOWN_CATEGORY;
    let history = if needs_history && !e.conversation_id.is_empty() {
        store
            .reporting_events_for_conversation(&e.conversation_id)
            .await?
    } else {
        Vec::new()
    };
    if let Some(last) = history
        .iter()
        .rev()
        .find(|h| !h.category.is_empty() && h.category != UNKNOWN_CATEGORY)
        && (e.category.is_empty() || e.category == UNKNOWN_CATEGORY)
    {
        e.category = last.category.clone();
    }
    if e.app.is_empty()
        && let Some(last) = history.iter().rev().find(|h| !h.app.is_empty())
    {
        e.app = last.app.clone();
    }
    if e.category.is_empty() {
        e.category = UNKNOWN_CATEGORY.into();
    }
    let first_message = history
        .iter()
        .filter(|h| h.kind == EventKind::MessageReceived)
        .map(|h| h.at)
        .min();
    if e.kind == EventKind::Resolved {
        if e.value.is_none()
            && let Some(first) = first_message
        {
            e.value = Some((e.at - first).max(0));
        }
        if e.reason.is_none() {
            let touched = human_touched(&history);
            let replied = history.iter().any(|h| h.kind == EventKind::ReplyAuto);
            e.reason = Some(
                if touched {
                    "human"
                } else if replied {
                    "automatic"
                } else {
                    "none"
                }
                .into(),
            );
        }
    }
    let new = store.insert_reporting_event(&e).await?;
    match e.kind {
        EventKind::ReplyHuman | EventKind::ReplyAuto => {
            let replied_before = history.iter().any(|h| h.kind == EventKind::FirstReply);
            if !replied_before {
                let mut first = ReportingEvent::new(
                    format!("first_reply:{}", e.conversation_id),
                    EventKind::FirstReply,
                    e.app.clone(),
                    e.category.clone(),
                    e.conversation_id.clone(),
                    e.at,
                )
                .reason(e.kind.as_str());
                first.value = first_message.map(|f| (e.at - f).max(0));
                if first.value.is_some() {
                    store.insert_reporting_event(&first).await?;
                }
            }
        }
        EventKind::MessageReceived => {
            let last_resolved = history
                .iter()
                .filter(|h| h.kind == EventKind::Resolved && h.at <= e.at)
                .map(|h| h.at)
                .max();
            if let Some(resolved_at) = last_resolved {
                let since = history.iter().any(|h| {
                    h.kind == EventKind::MessageReceived && h.at > resolved_at && h.id != e.id
                });
                if !since {
                    let r = ReportingEvent::new(
                        format!("reopened:{}", e.id),
                        EventKind::Reopened,
                        e.app.clone(),
                        e.category.clone(),
                        e.conversation_id.clone(),
                        e.at,
                    )
                    .value(e.at - resolved_at);
                    store.insert_reporting_event(&r).await?;
                }
            }
        }
        _ => {}
    }
    Ok(new)
}

/// The counters of a rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub received: u64,
    pub drafts: u64,
    pub replies_human: u64,
    pub replies_auto: u64,
    pub approvals_requested: u64,
    pub approved: u64,
    pub rejected: u64,
    pub expired: u64,
    pub escalated: u64,
    pub resolved: u64,
    pub resolved_human: u64,
    pub resolved_automatic: u64,
    pub reopened: u64,
    pub draft_unchanged: u64,
    pub draft_edited: u64,
    pub draft_rewritten: u64,
    pub sla_warnings: u64,
    pub sla_breaches: u64,
    pub sla_met: u64,
}

/// What a rollup holds beyond its key: counters, escalation reasons and the histograms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    pub counts: Counts,
    pub escalation_reasons: BTreeMap<String, u64>,
    pub draft_ms: Histogram,
    pub first_reply_ms: Histogram,
    pub resolution_ms: Histogram,
    pub approval_ms: Histogram,
    /// First reply time in the app's business hours (only apps with a schedule).
    pub first_reply_business_ms: Histogram,
    /// Resolution time in the app's business hours (only apps with a schedule).
    pub resolution_business_ms: Histogram,
}

/// The business time of a `first_reply` or `resolved` event: its interval (`at - value` →
/// `at`) measured on `calendar`; `None` for other kinds or without a value.
pub fn business_ms(e: &ReportingEvent, calendar: &BusinessCalendar) -> Option<i64> {
    match e.kind {
        EventKind::FirstReply | EventKind::Resolved => {
            let v = e.value?;
            Some(calendar.between(e.at - v, e.at))
        }
        _ => None,
    }
}

/// Each app's business calendar: the schedule of its first SLA policy (by position and id)
/// that names one. An app without one has no business-hours figures.
pub type AppCalendars = BTreeMap<String, BusinessCalendar>;

/// The apps' calendars from the stored SLA policies and schedules ([`AppCalendars`]).
pub async fn app_calendars(store: &dyn Store) -> StoreResult<AppCalendars> {
    let mut out = AppCalendars::new();
    let policies = store.list_sla_policies(None).await?;
    let schedules = store.list_sla_schedules().await?;
    for p in &policies {
        if out.contains_key(&p.app) {
            continue;
        }
        let Some(id) = &p.schedule else { continue };
        let Some(s) = schedules.iter().find(|s| &s.id == id) else {
            continue;
        };
        match BusinessCalendar::new(s) {
            Ok(c) => {
                out.insert(p.app.clone(), c);
            }
            Err(e) => tracing::warn!(schedule = %id, cause = %e, "analytics: schedule unusable"),
        }
    }
    Ok(out)
}

impl Tally {
    pub fn add_event(&mut self, e: &ReportingEvent) {
        let c = &mut self.counts;
        match e.kind {
            EventKind::MessageReceived => c.received += 1,
            EventKind::DraftWritten => {
                c.drafts += 1;
                if let Some(v) = e.value {
                    self.draft_ms.add(v);
                }
            }
            EventKind::ReplyHuman => c.replies_human += 1,
            EventKind::ReplyAuto => c.replies_auto += 1,
            EventKind::FirstReply => {
                if let Some(v) = e.value {
                    self.first_reply_ms.add(v);
                }
            }
            EventKind::ApprovalRequested => c.approvals_requested += 1,
            EventKind::ApprovalDecided => {
                match e.reason.as_deref() {
                    Some("approved") => c.approved += 1,
                    Some("rejected") => c.rejected += 1,
                    _ => c.expired += 1,
                }
                if let Some(v) = e.value {
                    self.approval_ms.add(v);
                }
            }
            EventKind::Escalated => {
                c.escalated += 1;
                *self
                    .escalation_reasons
                    .entry(e.reason.clone().unwrap_or_else(|| "unspecified".into()))
                    .or_default() += 1;
            }
            EventKind::Resolved => {
                c.resolved += 1;
                match e.reason.as_deref() {
                    Some("human") => c.resolved_human += 1,
                    Some("automatic") => c.resolved_automatic += 1,
                    _ => {}
                }
                if let Some(v) = e.value {
                    self.resolution_ms.add(v);
                }
            }
            EventKind::Reopened => c.reopened += 1,
            EventKind::DraftUnchanged => c.draft_unchanged += 1,
            EventKind::DraftEdited => c.draft_edited += 1,
            EventKind::DraftRewritten => c.draft_rewritten += 1,
            EventKind::SlaWarning => c.sla_warnings += 1,
            EventKind::SlaBreach => c.sla_breaches += 1,
            EventKind::SlaMet => c.sla_met += 1,
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        let (a, b) = (&mut self.counts, &o.counts);
        a.received += b.received;
        a.drafts += b.drafts;
        a.replies_human += b.replies_human;
        a.replies_auto += b.replies_auto;
        a.approvals_requested += b.approvals_requested;
        a.approved += b.approved;
        a.rejected += b.rejected;
        a.expired += b.expired;
        a.escalated += b.escalated;
        a.resolved += b.resolved;
        a.resolved_human += b.resolved_human;
        a.resolved_automatic += b.resolved_automatic;
        a.reopened += b.reopened;
        a.draft_unchanged += b.draft_unchanged;
        a.draft_edited += b.draft_edited;
        a.draft_rewritten += b.draft_rewritten;
        a.sla_warnings += b.sla_warnings;
        a.sla_breaches += b.sla_breaches;
        a.sla_met += b.sla_met;
        for (r, n) in &o.escalation_reasons {
            *self.escalation_reasons.entry(r.clone()).or_default() += n;
        }
        self.draft_ms.merge(&o.draft_ms);
        self.first_reply_ms.merge(&o.first_reply_ms);
        self.resolution_ms.merge(&o.resolution_ms);
        self.approval_ms.merge(&o.approval_ms);
        self.first_reply_business_ms
            .merge(&o.first_reply_business_ms);
        self.resolution_business_ms.merge(&o.resolution_business_ms);
    }
}

/// One day's rollup of one app × category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRollup {
    pub day: i64,
    pub app: String,
    pub category: String,
    pub tally: Tally,
}

/// The app and category of the totals rows: `(ALL, ALL)` is every app's day, `(app, ALL)` one
/// app's. A report by day or week reads only these (`AnalyticsStore::rollup_totals`: one row a
/// day instead of one per app × category).
pub const ALL: &str = "*";

/// One day's events → one rollup per app × category, plus the totals rows per app and for all
/// apps (category [`ALL`]); sorted by app, category. No business hours (see
/// [`rollup_events_in`]).
pub fn rollup_events(day: i64, events: &[ReportingEvent]) -> Vec<DayRollup> {
    rollup_events_in(day, events, &AppCalendars::new())
}

/// [`rollup_events`], with the first reply and resolution times of each app that has a
/// calendar also measured in its business hours.
pub fn rollup_events_in(
    day: i64,
    events: &[ReportingEvent],
    calendars: &AppCalendars,
) -> Vec<DayRollup> {
    let mut by: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for e in events.iter().filter(|e| day_of(e.at) == day) {
        let calendar = calendars.get(&e.app);
        let business = calendar.and_then(|c| business_ms(e, c));
        for key in [
            (e.app.clone(), e.category.clone()),
            (e.app.clone(), ALL.to_string()),
            (ALL.to_string(), ALL.to_string()),
        ] {
            let t = by.entry(key).or_default();
            if let Some(b) = business {
                match e.kind {
                    EventKind::FirstReply => t.first_reply_business_ms.add(b),
                    _ => t.resolution_business_ms.add(b),
                }
            }
            t.add_event(e);
        }
    }
    by.into_iter()
        .map(|((app, category), tally)| DayRollup {
            day,
            app,
            category,
            tally,
        })
        .collect()
}

/// Re-roll one day from its events (idempotent: the day's rollups are replaced), business
/// hours on the apps' current calendars ([`app_calendars`]).
pub async fn rollup_day(store: &dyn Store, day: i64, now: Millis) -> StoreResult<usize> {
    let calendars = app_calendars(store).await?;
    rollup_day_in(store, day, now, &calendars).await
}

/// [`rollup_day`] with the calendars already read (a refresh of many days reads them once).
pub async fn rollup_day_in(
    store: &dyn Store,
    day: i64,
    now: Millis,
    calendars: &AppCalendars,
) -> StoreResult<usize> {
    let events = store.reporting_events_of_day(day).await?;
    let rows = rollup_events_in(day, &events, calendars);
    store.replace_rollups(day, &rows, now).await?;
    Ok(events.len())
}

/// Events recorded this long before the watermark are looked at again: a write that began
/// before the last refresh may commit after it.
pub const WATERMARK_LAG_MS: Millis = 60_000;

/// Re-roll every day that got events since the last refresh; the days rolled up.
pub async fn refresh(store: &dyn Store, now: Millis) -> StoreResult<Vec<i64>> {
    let since = store.rollup_watermark().await? - WATERMARK_LAG_MS;
    let days = store.reporting_days_recorded_since(since).await?;
    if !days.is_empty() {
        let calendars = app_calendars(store).await?;
        for d in &days {
            rollup_day_in(store, *d, now, &calendars).await?;
        }
    }
    store.set_rollup_watermark(now).await?;
    Ok(days)
}

/// How a range is broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Week,
    Category,
    App,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "day" => Self::Day,
            "week" => Self::Week,
            "category" => Self::Category,
            "app" => Self::App,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Category => "category",
            Self::App => "app",
        }
    }
}

/// The measures of a set of rollups. Rates are `None` when their denominator is zero;
/// durations are ms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measures {
    pub volume: u64,
    pub draft_p50_ms: Option<f64>,
    pub draft_p95_ms: Option<f64>,
    pub first_reply_p50_ms: Option<f64>,
    pub first_reply_p95_ms: Option<f64>,
    pub resolution_p50_ms: Option<f64>,
    pub resolution_p95_ms: Option<f64>,
    /// In the apps' business hours (apps with a schedule only).
    pub first_reply_business_p50_ms: Option<f64>,
    pub first_reply_business_p95_ms: Option<f64>,
    pub resolution_business_p50_ms: Option<f64>,
    pub resolution_business_p95_ms: Option<f64>,
    pub resolved: u64,
    pub human_touch_rate: Option<f64>,
    pub automatic_resolution_rate: Option<f64>,
    pub replies: u64,
    pub auto_send_rate: Option<f64>,
    pub approval_p50_ms: Option<f64>,
    pub approval_p95_ms: Option<f64>,
    pub approvals_requested: u64,
    pub approved: u64,
    pub rejected: u64,
    pub expired: u64,
    pub escalations: u64,
    pub escalation_rate: Option<f64>,
    pub escalation_rate_by_reason: BTreeMap<String, f64>,
    pub reopened: u64,
    pub draft_outcomes: u64,
    pub draft_unchanged_share: Option<f64>,
    pub draft_edited_share: Option<f64>,
    pub draft_rewritten_share: Option<f64>,
    pub sla_attainment: Option<f64>,
    pub sla_breaches: u64,
    pub sla_warnings: u64,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The measures of a tally (see [`DEFINITIONS`]).
pub fn measures(t: &Tally) -> Measures {
    let c = &t.counts;
    let replies = c.replies_human + c.replies_auto;
    let outcomes = c.draft_unchanged + c.draft_edited + c.draft_rewritten;
    Measures {
        volume: c.received,
        draft_p50_ms: t.draft_ms.quantile(0.5),
        draft_p95_ms: t.draft_ms.quantile(0.95),
        first_reply_p50_ms: t.first_reply_ms.quantile(0.5),
        first_reply_p95_ms: t.first_reply_ms.quantile(0.95),
        resolution_p50_ms: t.resolution_ms.quantile(0.5),
        resolution_p95_ms: t.resolution_ms.quantile(0.95),
        first_reply_business_p50_ms: t.first_reply_business_ms.quantile(0.5),
        first_reply_business_p95_ms: t.first_reply_business_ms.quantile(0.95),
        resolution_business_p50_ms: t.resolution_business_ms.quantile(0.5),
        resolution_business_p95_ms: t.resolution_business_ms.quantile(0.95),
        resolved: c.resolved,
        human_touch_rate: ratio(c.resolved_human, c.resolved),
        automatic_resolution_rate: ratio(c.resolved_automatic, c.resolved),
        replies,
        auto_send_rate: ratio(c.replies_auto, replies),
        approval_p50_ms: t.approval_ms.quantile(0.5),
        approval_p95_ms: t.approval_ms.quantile(0.95),
        approvals_requested: c.approvals_requested,
        approved: c.approved,
        rejected: c.rejected,
        expired: c.expired,
        escalations: c.escalated,
        escalation_rate: ratio(c.escalated, c.received),
        escalation_rate_by_reason: t
            .escalation_reasons
            .iter()
            .filter_map(|(r, n)| Some((r.clone(), ratio(*n, c.received)?)))
            .collect(),
        reopened: c.reopened,
        draft_outcomes: outcomes,
        draft_unchanged_share: ratio(c.draft_unchanged, outcomes),
        draft_edited_share: ratio(c.draft_edited, outcomes),
        draft_rewritten_share: ratio(c.draft_rewritten, outcomes),
        sla_attainment: ratio(c.sla_met, c.sla_met + c.sla_breaches),
        sla_breaches: c.sla_breaches,
        sla_warnings: c.sla_warnings,
    }
}

/// One group of a report: its key (`2026-12-07` for a day or the Monday of a week, a category,
/// an app) and its measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub measures: Measures,
}

/// A report over days `from..=to`: the total and the groups (sorted by key; every day or week
/// of the range is present, empty ones included, so charts have no gaps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub group_by: GroupBy,
    pub total: Measures,
    pub groups: Vec<Group>,
}

/// `YYYY-MM-DD` of a day since the epoch (proleptic Gregorian, UTC).
pub fn day_label(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day of a `YYYY-MM-DD` label; `None` when it is not a valid date.
pub fn parse_day(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if s.len() != 10
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(1970..=9999).contains(&y)
    {
        return None;
    }
    // days_from_civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    (day_label(day) == s).then_some(day)
}

/// Add rollups of days `from..=to` into a report grouped by `group_by`.
pub fn summarize(rows: &[DayRollup], from: i64, to: i64, group_by: GroupBy) -> Report {
    let mut total = Tally::default();
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    match group_by {
        GroupBy::Day => (from..=to).for_each(|d| {
            groups.insert(day_label(d), Tally::default());
        }),
        GroupBy::Week => (from..=to).for_each(|d| {
            groups.insert(day_label(week_of(d)), Tally::default());
        }),
        _ => {}
    }
    for r in rows.iter().filter(|r| (from..=to).contains(&r.day)) {
        total.merge(&r.tally);
        let key = match group_by {
            GroupBy::Day => day_label(r.day),
            GroupBy::Week => day_label(week_of(r.day)),
            GroupBy::Category => r.category.clone(),
            GroupBy::App => r.app.clone(),
        };
        groups.entry(key).or_default().merge(&r.tally);
    }
    Report {
        from: day_label(from),
        to: day_label(to),
        group_by,
        total: measures(&total),
        groups: groups
            .into_iter()
            .map(|(key, t)| Group {
                key,
                measures: measures(&t),
            })
            .collect(),
    }
}

/// Longest range a report covers (days).
pub const MAX_RANGE_DAYS: i64 = 400;

/// The measures, their names and definitions: `docs/analytics.md` and the dashboard's tooltips.
pub const DEFINITIONS: &[(&str, &str, &str)] = &[
    (
        "volume",
        "Volume",
        "Customer messages received (one per inbound message, a re-run of the same message not counted again).",
    ),
    (
        "draft",
        "Time to draft",
        "Webhook received → our draft written (Front draft, automatic send or shadow draft), per run; p50 and p95 from the daily histograms (±9.1%).",
    ),
    (
        "first_reply",
        "First reply time",
        "A conversation's first message → its first reply sent by a human or automatically; counted on the reply's day. Calendar time; p50 and p95 (±9.1%).",
    ),
    (
        "resolution",
        "Resolution time",
        "A conversation's first message → archived in Front; counted on the resolution's day. Calendar time; p50 and p95 (±9.1%).",
    ),
    (
        "first_reply_business",
        "First reply time (business hours)",
        "The same interval as the first reply time, counting only the open hours of the app's business schedule (the schedule of its first SLA policy that names one: time zone, weekly hours, holidays); a reply on a weekend to a Saturday message is 0. Apps without a schedule are left out. p50 and p95 (±9.1%).",
    ),
    (
        "resolution_business",
        "Resolution time (business hours)",
        "The same interval as the resolution time, counting only the open hours of the app's business schedule (as for the first reply in business hours). Apps without a schedule are left out. p50 and p95 (±9.1%).",
    ),
    (
        "human_touch_rate",
        "Human-touch rate",
        "Resolved conversations in which a human wrote a reply, edited or rewrote our draft, decided an approval or took over (an escalation), over all resolved.",
    ),
    (
        "automatic_resolution_rate",
        "Automatic resolution rate",
        "Resolved conversations that we answered automatically and no human touched, over all resolved.",
    ),
    (
        "auto_send_rate",
        "Auto-send rate",
        "Replies we sent automatically over all replies sent (by humans or automatically).",
    ),
    (
        "approval",
        "Approval latency",
        "Approval requested → decided (approved, rejected or expired); p50 and p95, with the count of each outcome.",
    ),
    (
        "escalation_rate",
        "Escalation rate",
        "Escalations (hand-overs to a human: urgent, instructor, needs-human, handed_over) over messages received, by reason.",
    ),
    (
        "draft_acceptance",
        "Draft acceptance",
        "Of our drafts a human sent: unchanged, edited or rewritten (Jaccard similarity, the learning loop's thresholds), as shares.",
    ),
    (
        "sla_attainment",
        "SLA attainment",
        "SLA targets met over targets met or breached (from the SLA module's events); breaches and warnings counted.",
    ),
];

/// The definition of a measure by key.
pub fn definition(key: &str) -> &'static str {
    DEFINITIONS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, d)| *d)
        .unwrap_or("")
}

#[cfg(test)]
mod tests;
