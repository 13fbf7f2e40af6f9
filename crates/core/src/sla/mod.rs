//! Service-level agreements: per-app policies, business-hours schedules and the pure clock that
//! turns a conversation's events into due times (see `docs/sla.md` for the definitions).
//!
//! - [`SlaPolicy`]: an app's policy, matched by [`Conditions`] (priority, category, tag,
//!   escalation); the first match by `position` (then id) wins ([`select`]). Targets for
//!   **first reply**, **next reply** and **resolution** ([`Target`]: minutes, optionally in
//!   business hours, a warning some minutes before the breach).
//! - [`Schedule`]: an IANA time zone, weekly opening hours and holidays; [`hours::BusinessCalendar`]
//!   adds and measures business time over it (jiff, the system's zoneinfo).
//! - [`clock::evaluate`]: a conversation's [`clock::ClockEvent`]s (inbound, reply, archived,
//!   reopened) under a policy → the status of each metric, its warning and due times; the
//!   resolution clock pauses while the conversation waits on the customer (when the policy says
//!   so) and stops on resolution (archive). Pure: no clock is read, everything is from the events.
//! - [`admin`]: the validated, audited writes of policies and schedules (API, CLI, dashboard).
//!
//! The durable timers that fire warnings and breaches live in `support_workflow::sla`.

pub mod admin;
pub mod clock;
pub mod hours;

use crate::pipeline::router::RouteAction;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest target: one year in minutes.
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;

/// A conversation's priority: from the route unless a human set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The priority a route gives: an urgent escalation is `high`, everything else `normal`.
    pub fn from_route(action: Option<RouteAction>) -> Self {
        match action {
            Some(RouteAction::EscalateUrgent) => Priority::High,
            _ => Priority::Normal,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy applies to. Every list is "any of" (empty: anything); all present conditions
/// must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// Front tags of the conversation (its escalation tag counts as a tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<String>,
    /// `true`: only escalated conversations; `false`: only those not escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated: Option<bool>,
}

/// One target of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// 1 ..= [`MAX_TARGET_MINUTES`].
    pub minutes: u32,
    /// Counted in the policy's schedule's business hours instead of calendar time.
    #[serde(default)]
    pub business_hours: bool,
    /// The warning fires this many minutes (of the same kind of time) before the breach; 0: none.
    #[serde(default)]
    pub warn_before_minutes: u32,
}

/// An app's SLA policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub app: String,
    /// `[a-z0-9_-]{1,64}`, unique per app.
    pub id: String,
    pub name: String,
    /// Lower is tried first.
    #[serde(default)]
    pub position: i64,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_reply: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reply: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Target>,
    /// The schedule's id; required when a target counts business hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The resolution clock pauses while the conversation waits on the customer (after our
    /// reply, until they write again).
    #[serde(default = "yes")]
    pub pause_when_waiting: bool,
    #[serde(default)]
    pub updated_at: Millis,
    #[serde(default)]
    pub updated_by: String,
}

fn yes() -> bool {
    true
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Monday = 0.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Opening hours on one day of the week, local time `HH:MM`, `start < end` (`end` may be `24:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub day: Day,
    pub start: String,
    pub end: String,
}

impl Hours {
    /// `mon-fri 09:00-17:00` or `sat 10:00-14:00`: one interval per day of the range (the
    /// times are checked by [`Schedule::validate`]).
    pub fn parse_spec(spec: &str) -> Result<Vec<Hours>, SlaError> {
        let bad = || {
            invalid(format!(
                "hours {spec:?}: expected like `mon-fri 09:00-17:00`"
            ))
        };
        let (days, times) = spec.trim().split_once(' ').ok_or_else(bad)?;
        let (start, end) = times.trim().split_once('-').ok_or_else(bad)?;
        let (from, to) = match days.split_once('-') {
            Some((a, b)) => (
                Day::parse(a).ok_or_else(bad)?,
                Day::parse(b).ok_or_else(bad)?,
            ),
            None => {
                let d = Day::parse(days).ok_or_else(bad)?;
                (d, d)
            }
        };
        if from.index() > to.index() {
            return Err(bad());
        }
        Ok(Day::ALL[from.index()..=to.index()]
            .iter()
            .map(|&day| Hours {
                day,
                start: start.trim().to_string(),
                end: end.trim().to_string(),
            })
            .collect())
    }

    /// The lines [`Hours::parse_spec`] reads back (one per interval).
    pub fn spec(&self) -> String {
        format!("{} {}-{}", self.day.as_str(), self.start, self.end)
    }
}

/// A business-hours schedule, shared by the policies that name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `[a-z0-9_-]{1,64}`.
    pub id: String,
    pub name: String,
    /// An IANA time zone (`Europe/Berlin`).
    pub timezone: String,
    pub hours: Vec<Hours>,
    /// Whole local days off, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub updated_at: Millis,
    #[serde(default)]
    pub updated_by: String,
}

/// A refused policy or schedule, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown priority `{0}` (low, normal, high or urgent)")]
    InvalidPriority(String),
    #[error("unknown schedule `{0}`")]
    UnknownSchedule(String),
    #[error("schedule `{0}` is used by policies: {1}")]
    ScheduleInUse(String, String),
    #[error("unknown app `{0}`")]
    UnknownApp(String),
    #[error("not found: {0}")]
    NotFound(String),
}

impl SlaError {
    /// The stable code the API, the CLI and the dashboard answer with.
    pub fn code(&self) -> &'static str {
        match self {
            SlaError::Invalid(_) => "invalid_sla",
            SlaError::InvalidPriority(_) => "invalid_priority",
            SlaError::UnknownSchedule(_) => "unknown_schedule",
            SlaError::ScheduleInUse(..) => "schedule_in_use",
            SlaError::UnknownApp(_) => "unknown_app",
            SlaError::NotFound(_) => "not_found",
        }
    }
}

fn invalid(msg: impl Into<String>) -> SlaError {
    SlaError::Invalid(msg.into())
}

/// `[a-z0-9_-]{1,64}`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_target(name: &str, t: &Option<Target>) -> Result<(), SlaError> {
    let Some(t) = t else { return Ok(()) };
    if t.minutes == 0 || t.minutes > MAX_TARGET_MINUTES {
        return Err(invalid(format!(
            "{name}.minutes must be between 1 and {MAX_TARGET_MINUTES}"
        )));
    }
    if t.warn_before_minutes >= t.minutes {
        return Err(invalid(format!(
            "{name}.warn_before_minutes must be less than {name}.minutes"
        )));
    }
    Ok(())
}

impl SlaPolicy {
    /// The policy's own rules (the schedule's existence is checked by [`admin::put_policy`]).
    pub fn validate(&self) -> Result<(), SlaError> {
        if !valid_id(&self.id) {
            return Err(invalid("id must be 1-64 of a-z, 0-9, '-' and '_'"));
        }
        if self.app.trim().is_empty() {
            return Err(invalid("app is required"));
        }
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(invalid("name must be 1-200 characters"));
        }
        check_target("first_reply", &self.first_reply)?;
        check_target("next_reply", &self.next_reply)?;
        check_target("resolution", &self.resolution)?;
        if self.first_reply.is_none() && self.next_reply.is_none() && self.resolution.is_none() {
            return Err(invalid("a policy needs at least one target"));
        }
        let business = [self.first_reply, self.next_reply, self.resolution]
            .iter()
            .flatten()
            .any(|t| t.business_hours);
        if business && self.schedule.is_none() {
            return Err(invalid("business_hours targets need a schedule"));
        }
        if let Some(s) = &self.schedule
            && !valid_id(s)
        {
            return Err(invalid("schedule must be a schedule id"));
        }
        let c = &self.conditions;
        if c.category.len() + c.tag.len() > 100
            || c.category
                .iter()
                .chain(&c.tag)
                .any(|s| s.trim().is_empty() || s.len() > 100)
        {
            return Err(invalid(
                "conditions: categories and tags must be 1-100 characters, at most 100 of them",
            ));
        }
        Ok(())
    }

    /// The target of `metric`.
    pub fn target(&self, metric: clock::Metric) -> Option<Target> {
        match metric {
            clock::Metric::FirstReply => self.first_reply,
            clock::Metric::NextReply => self.next_reply,
            clock::Metric::Resolution => self.resolution,
        }
    }
}

impl Schedule {
    /// Time zone, hours and holidays parse; at least one opening interval.
    pub fn validate(&self) -> Result<(), SlaError> {
        if !valid_id(&self.id) {
            return Err(invalid("id must be 1-64 of a-z, 0-9, '-' and '_'"));
        }
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(invalid("name must be 1-200 characters"));
        }
        if self.holidays.len() > 1000 || self.hours.len() > 100 {
            return Err(invalid("at most 100 opening intervals and 1000 holidays"));
        }
        hours::BusinessCalendar::new(self).map(|_| ())
    }
}

/// What a policy is matched on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub priority: Priority,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub escalated: bool,
}

impl Conditions {
    pub fn matches(&self, f: &Facts) -> bool {
        (self.priority.is_empty() || self.priority.contains(&f.priority))
            && (self.category.is_empty()
                || f.category
                    .as_ref()
                    .is_some_and(|c| self.category.contains(c)))
            && (self.tag.is_empty() || f.tags.iter().any(|t| self.tag.contains(t)))
            && self.escalated.is_none_or(|e| e == f.escalated)
    }
}

/// The policy that applies: the first by `(position, id)` whose conditions hold.
pub fn select<'p>(policies: &'p [SlaPolicy], facts: &Facts) -> Option<&'p SlaPolicy> {
    let mut sorted: Vec<&SlaPolicy> = policies.iter().collect();
    sorted.sort_by(|a, b| (a.position, &a.id).cmp(&(b.position, &b.id)));
    sorted.into_iter().find(|p| p.conditions.matches(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, position: i64, conditions: Conditions) -> SlaPolicy {
        SlaPolicy {
            app: "acme".into(),
            id: id.into(),
            name: id.into(),
            position,
            conditions,
            first_reply: Some(Target {
                minutes: 60,
                business_hours: false,
                warn_before_minutes: 10,
            }),
            next_reply: None,
            resolution: None,
            schedule: None,
            pause_when_waiting: true,
            updated_at: 0,
            updated_by: String::new(),
        }
    }

    fn facts(priority: Priority, category: &str, escalated: bool) -> Facts {
        Facts {
            priority,
            category: Some(category.into()),
            tags: vec![],
            escalated,
        }
    }

    #[test]
    fn first_match_by_position_wins() {
        let urgent = policy(
            "urgent",
            1,
            Conditions {
                priority: vec![Priority::High, Priority::Urgent],
                ..Default::default()
            },
        );
        let refunds = policy(
            "refunds",
            2,
            Conditions {
                category: vec!["refund".into()],
                ..Default::default()
            },
        );
        let escalated = policy(
            "escalated",
            3,
            Conditions {
                escalated: Some(true),
                ..Default::default()
            },
        );
        let fallback = policy("default", 9, Conditions::default());
        let all = vec![fallback, escalated, refunds, urgent];
        let pick = |f: &Facts| select(&all, f).map(|p| p.id.clone());
        assert_eq!(
            pick(&facts(Priority::High, "refund", true)).as_deref(),
            Some("urgent")
        );
        assert_eq!(
            pick(&facts(Priority::Normal, "refund", true)).as_deref(),
            Some("refunds")
        );
        assert_eq!(
            pick(&facts(Priority::Normal, "billing", true)).as_deref(),
            Some("escalated")
        );
        assert_eq!(
            pick(&facts(Priority::Normal, "billing", false)).as_deref(),
            Some("default")
        );
        let tagged = policy(
            "vip",
            0,
            Conditions {
                tag: vec!["vip".into()],
                ..Default::default()
            },
        );
        let mut f = facts(Priority::Low, "billing", false);
        assert!(select(std::slice::from_ref(&tagged), &f).is_none());
        f.tags.push("vip".into());
        assert_eq!(
            select(std::slice::from_ref(&tagged), &f).map(|p| p.id.as_str()),
            Some("vip")
        );
    }

    #[test]
    fn hours_specs_expand_day_ranges() {
        let h = Hours::parse_spec("mon-wed 09:00-17:30").unwrap();
        assert_eq!(
            h.iter().map(Hours::spec).collect::<Vec<_>>(),
            ["mon 09:00-17:30", "tue 09:00-17:30", "wed 09:00-17:30"]
        );
        assert_eq!(Hours::parse_spec("sat 10:00-14:00").unwrap().len(), 1);
        for bad in [
            "fri-mon 09:00-17:00",
            "funday 09:00-10:00",
            "mon",
            "mon 09:00",
        ] {
            assert!(Hours::parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priority_comes_from_the_route() {
        assert_eq!(
            Priority::from_route(Some(RouteAction::EscalateUrgent)),
            Priority::High
        );
        assert_eq!(Priority::from_route(None), Priority::Normal);
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn validation_refuses_bad_policies() {
        let ok = policy("default", 0, Conditions::default());
        assert!(ok.validate().is_ok());
        let mut p = ok.clone();
        p.id = "Bad Id".into();
        assert_eq!(p.validate().unwrap_err().code(), "invalid_sla");
        let mut p = ok.clone();
        p.first_reply = Some(Target {
            minutes: 10,
            business_hours: false,
            warn_before_minutes: 10,
        });
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("warn_before")
        );
        let mut p = ok.clone();
        p.first_reply = Some(Target {
            minutes: 10,
            business_hours: true,
            warn_before_minutes: 0,
        });
        assert!(p.validate().unwrap_err().to_string().contains("schedule"));
        let mut p = ok;
        p.first_reply = None;
        assert!(p.validate().is_err());
        let unknown = serde_json::from_value::<SlaPolicy>(serde_json::json!({
            "app": "acme", "id": "x", "name": "x", "first_reply": {"minutes": 5}, "colour": "red"
        }));
        assert!(unknown.is_err());
    }
}
