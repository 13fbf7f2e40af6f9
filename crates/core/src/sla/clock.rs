//! A conversation's SLA clock, computed from its events alone.
//!
//! - **First reply** runs from the first inbound message to the first reply.
//! - **Next reply** runs from the first inbound message after a reply to the next reply; each
//!   such wait is a new `cycle` (its warning and breach fire once per cycle).
//! - **Resolution** runs from the first inbound message until the conversation is archived. It
//!   pauses while the conversation waits on the customer (from a reply until their next message)
//!   when the policy's `pause_when_waiting` is on. A reopen (or a message to an archived
//!   conversation) starts a new resolution cycle.
//!
//! Archiving stops every clock. Times are counted in calendar or business time per target
//! ([`Span`]).

use super::SlaPolicy;
use super::hours::Span;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// What happened to the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockEventKind {
    /// A customer message.
    Inbound,
    /// A reply sent (by a human or automatically).
    Reply,
    /// Archived: resolved.
    Archived,
    Reopened,
}

impl ClockEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockEventKind::Inbound => "inbound",
            ClockEventKind::Reply => "reply",
            ClockEventKind::Archived => "archived",
            ClockEventKind::Reopened => "reopened",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEvent {
    pub kind: ClockEventKind,
    pub at: Millis,
}

impl ClockEvent {
    pub fn new(kind: ClockEventKind, at: Millis) -> Self {
        Self { kind, at }
    }
}

/// The three measured targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    FirstReply,
    NextReply,
    Resolution,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::FirstReply, Metric::NextReply, Metric::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::FirstReply => "first_reply",
            Metric::NextReply => "next_reply",
            Metric::Resolution => "resolution",
        }
    }
}

/// Where a metric stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricState {
    /// Counting; `due_at` is the breach time.
    Running,
    /// Resolution while waiting on the customer.
    Paused,
    /// Finished within the target.
    Met,
    /// Finished after the target.
    Breached,
    /// Archived before it finished (first/next reply): nothing is owed.
    Stopped,
}

/// One metric's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricStatus {
    pub metric: Metric,
    pub state: MetricState,
    /// Which occurrence (next reply: the n-th wait; resolution: the n-th opening).
    pub cycle: u32,
    /// When it started counting.
    pub started_at: Millis,
    /// Running: when the warning fires (none without a warning).
    pub warn_at: Option<Millis>,
    /// Running: the breach time.
    pub due_at: Option<Millis>,
    /// Time counted so far (in the target's kind of time) up to the last event.
    pub elapsed_ms: i64,
}

/// A warning or a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alarm {
    Warning,
    Breach,
}

impl Alarm {
    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::Warning => "warning",
            Alarm::Breach => "breach",
        }
    }

    /// The Front tag it puts on the conversation.
    pub fn tag(self) -> &'static str {
        match self {
            Alarm::Warning => "sla-warning",
            Alarm::Breach => "sla-breach",
        }
    }
}

/// A time at which a warning or breach fires, with the key it fires once under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub metric: Metric,
    pub alarm: Alarm,
    pub cycle: u32,
    pub at: Millis,
}

impl Deadline {
    /// `first_reply:0:warning`: unique per conversation; what fires exactly once.
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.metric.as_str(),
            self.cycle,
            self.alarm.as_str()
        )
    }
}

/// Every metric of a policy the conversation has started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub metrics: Vec<MetricStatus>,
}

impl Evaluation {
    /// The earliest breach time of a running metric: the conversation's `sla_due_at`.
    pub fn due_at(&self) -> Option<Millis> {
        self.metrics
            .iter()
            .filter(|m| m.state == MetricState::Running)
            .filter_map(|m| m.due_at)
            .min()
    }

    /// The warnings and breaches of the running metrics, by time (a warning before its breach).
    pub fn deadlines(&self) -> Vec<Deadline> {
        let mut out = Vec::new();
        for m in self
            .metrics
            .iter()
            .filter(|m| m.state == MetricState::Running)
        {
            if let Some(at) = m.warn_at {
                out.push(Deadline {
                    metric: m.metric,
                    alarm: Alarm::Warning,
                    cycle: m.cycle,
                    at,
                });
            }
            if let Some(at) = m.due_at {
                out.push(Deadline {
                    metric: m.metric,
                    alarm: Alarm::Breach,
                    cycle: m.cycle,
                    at,
                });
            }
        }
        out.sort_by_key(|d| (d.at, d.alarm, d.metric));
        out
    }

    pub fn get(&self, metric: Metric) -> Option<&MetricStatus> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

const MIN: i64 = 60_000;

/// A running metric's status: `consumed` already counted, counting again from `since`.
fn running(
    metric: Metric,
    cycle: u32,
    started_at: Millis,
    since: Millis,
    consumed: i64,
    target: super::Target,
    span: Span<'_>,
) -> MetricStatus {
    let total = i64::from(target.minutes) * MIN;
    let remaining = total - consumed;
    let due = span.add(since, remaining.max(0));
    let warn_at = (target.warn_before_minutes > 0).then(|| {
        let before = remaining - i64::from(target.warn_before_minutes) * MIN;
        span.add(since, before.max(0))
    });
    MetricStatus {
        metric,
        state: MetricState::Running,
        cycle,
        started_at,
        warn_at,
        due_at: Some(due),
        elapsed_ms: consumed,
    }
}

fn finished(
    metric: Metric,
    cycle: u32,
    started_at: Millis,
    elapsed: i64,
    target: super::Target,
) -> MetricStatus {
    let state = if elapsed <= i64::from(target.minutes) * MIN {
        MetricState::Met
    } else {
        MetricState::Breached
    };
    MetricStatus {
        metric,
        state,
        cycle,
        started_at,
        warn_at: None,
        due_at: None,
        elapsed_ms: elapsed,
    }
}

/// The status of each of `policy`'s metrics after `events` (sorted by time here; equal times
/// keep their order). `span_of` gives the kind of time a target counts in.
pub fn evaluate<'c>(
    policy: &SlaPolicy,
    events: &[ClockEvent],
    span_of: impl Fn(super::Target) -> Span<'c>,
) -> Evaluation {
    let mut events = events.to_vec();
    events.sort_by_key(|e| e.at);

    let mut first_inbound: Option<Millis> = None;
    let mut first_reply: Option<Millis> = None;
    let mut closed = false;
    // Next reply: the current wait (start, cycle), the last finished one, and the count.
    let mut next_wait: Option<(Millis, u32)> = None;
    let mut next_done: Option<(Millis, Millis, u32)> = None;
    let mut next_cycles: u32 = 0;
    // Resolution: cycle, its start, its counted segments, the open segment's start.
    let mut res_cycle: u32 = 0;
    let mut res_start: Option<Millis> = None;
    let mut segments: Vec<(Millis, Millis)> = Vec::new();
    let mut res_since: Option<Millis> = None;

    for e in &events {
        match e.kind {
            ClockEventKind::Inbound => {
                if closed {
                    // A message to an archived conversation reopens it.
                    closed = false;
                    res_cycle += 1;
                    res_start = Some(e.at);
                    segments.clear();
                    res_since = Some(e.at);
                }
                if first_inbound.is_none() {
                    first_inbound = Some(e.at);
                    res_start = Some(e.at);
                    res_since = Some(e.at);
                } else if first_reply.is_some() && next_wait.is_none() {
                    next_wait = Some((e.at, next_cycles));
                    next_cycles += 1;
                }
                if res_since.is_none() && res_start.is_some() {
                    res_since = Some(e.at);
                }
            }
            ClockEventKind::Reply => {
                if closed || first_inbound.is_none() {
                    continue;
                }
                if first_reply.is_none() {
                    first_reply = Some(e.at);
                }
                if let Some((start, cycle)) = next_wait.take() {
                    next_done = Some((start, e.at, cycle));
                }
                if policy.pause_when_waiting
                    && let Some(since) = res_since.take()
                {
                    segments.push((since, e.at));
                }
            }
            ClockEventKind::Archived => {
                if closed {
                    continue;
                }
                closed = true;
                next_wait = None;
                if let Some(since) = res_since.take() {
                    segments.push((since, e.at));
                }
            }
            ClockEventKind::Reopened => {
                if !closed {
                    continue;
                }
                closed = false;
                if res_start.is_some() {
                    res_cycle += 1;
                    res_start = Some(e.at);
                    segments.clear();
                    res_since = Some(e.at);
                }
            }
        }
    }

    let mut metrics = Vec::new();
    let Some(first_in) = first_inbound else {
        return Evaluation { metrics };
    };
    if let Some(t) = policy.first_reply {
        let span = span_of(t);
        metrics.push(match first_reply {
            Some(r) => finished(
                Metric::FirstReply,
                0,
                first_in,
                span.between(first_in, r),
                t,
            ),
            None if closed => MetricStatus {
                metric: Metric::FirstReply,
                state: MetricState::Stopped,
                cycle: 0,
                started_at: first_in,
                warn_at: None,
                due_at: None,
                elapsed_ms: 0,
            },
            None => running(Metric::FirstReply, 0, first_in, first_in, 0, t, span),
        });
    }
    if let Some(t) = policy.next_reply {
        let span = span_of(t);
        if let Some((start, cycle)) = next_wait {
            metrics.push(running(Metric::NextReply, cycle, start, start, 0, t, span));
        } else if let Some((start, end, cycle)) = next_done {
            metrics.push(finished(
                Metric::NextReply,
                cycle,
                start,
                span.between(start, end),
                t,
            ));
        }
    }
    if let (Some(t), Some(start)) = (policy.resolution, res_start) {
        let span = span_of(t);
        let consumed: i64 = segments.iter().map(|&(a, b)| span.between(a, b)).sum();
        metrics.push(if closed {
            finished(Metric::Resolution, res_cycle, start, consumed, t)
        } else if let Some(since) = res_since {
            running(
                Metric::Resolution,
                res_cycle,
                start,
                since,
                consumed,
                t,
                span,
            )
        } else {
            MetricStatus {
                metric: Metric::Resolution,
                state: MetricState::Paused,
                cycle: res_cycle,
                started_at: start,
                warn_at: None,
                due_at: None,
                elapsed_ms: consumed,
            }
        });
    }
    Evaluation { metrics }
}

#[cfg(test)]
mod tests {
    use super::super::hours::BusinessCalendar;
    use super::super::{Conditions, Hours, Schedule, Target};
    use super::*;
    use ClockEventKind::*;

    const T0: Millis = 1_800_000_000_000;

    fn target(minutes: u32, warn: u32) -> Option<Target> {
        Some(Target {
            minutes,
            business_hours: false,
            warn_before_minutes: warn,
        })
    }

    fn policy() -> SlaPolicy {
        SlaPolicy {
            app: "acme".into(),
            id: "default".into(),
            name: "Default".into(),
            position: 0,
            conditions: Conditions::default(),
            first_reply: target(60, 15),
            next_reply: target(120, 30),
            resolution: target(24 * 60, 60),
            schedule: None,
            pause_when_waiting: true,
            updated_at: 0,
            updated_by: String::new(),
        }
    }

    fn ev(kind: ClockEventKind, minutes: i64) -> ClockEvent {
        ClockEvent::new(kind, T0 + minutes * MIN)
    }

    fn cal(_: Target) -> Span<'static> {
        Span::Calendar
    }

    #[test]
    fn first_reply_runs_from_the_first_message_and_stops_on_the_reply() {
        let p = policy();
        let e = evaluate(&p, &[ev(Inbound, 0)], cal);
        let f = e.get(Metric::FirstReply).unwrap();
        assert_eq!(f.state, MetricState::Running);
        assert_eq!(f.due_at, Some(T0 + 60 * MIN));
        assert_eq!(f.warn_at, Some(T0 + 45 * MIN));
        assert!(e.get(Metric::NextReply).is_none());
        assert_eq!(e.due_at(), Some(T0 + 60 * MIN));
        let keys: Vec<_> = e.deadlines().iter().map(Deadline::key).collect();
        assert_eq!(
            keys,
            [
                "first_reply:0:warning",
                "first_reply:0:breach",
                "resolution:0:warning",
                "resolution:0:breach"
            ]
        );

        let e = evaluate(&p, &[ev(Inbound, 0), ev(Reply, 59)], cal);
        assert_eq!(e.get(Metric::FirstReply).unwrap().state, MetricState::Met);
        let e = evaluate(&p, &[ev(Reply, 61), ev(Inbound, 0)], cal);
        assert_eq!(
            e.get(Metric::FirstReply).unwrap().state,
            MetricState::Breached,
            "events are sorted by time"
        );
    }

    #[test]
    fn a_reply_resets_the_next_reply_clock() {
        let p = policy();
        let events = vec![
            ev(Inbound, 0),
            ev(Reply, 10),
            ev(Inbound, 100),
            ev(Inbound, 150),
        ];
        let e = evaluate(&p, &events, cal);
        let n = e.get(Metric::NextReply).unwrap();
        assert_eq!(
            (n.state, n.cycle, n.started_at),
            (MetricState::Running, 0, T0 + 100 * MIN),
            "the follow-up's first message starts it; a second one does not move it"
        );
        assert_eq!(n.due_at, Some(T0 + 220 * MIN));

        let mut events = events;
        events.push(ev(Reply, 200));
        let e = evaluate(&p, &events, cal);
        let n = e.get(Metric::NextReply).unwrap();
        assert_eq!((n.state, n.cycle), (MetricState::Met, 0));
        assert!(e.deadlines().iter().all(|d| d.metric != Metric::NextReply));

        events.push(ev(Inbound, 300));
        let e = evaluate(&p, &events, cal);
        let n = e.get(Metric::NextReply).unwrap();
        assert_eq!(
            (n.state, n.cycle, n.due_at),
            (MetricState::Running, 1, Some(T0 + 420 * MIN)),
            "a new wait is a new cycle with its own due time"
        );
    }

    #[test]
    fn resolution_pauses_while_waiting_on_the_customer() {
        let p = policy();
        // 10 minutes counted, a reply, then 5 hours waiting on the customer, who writes again.
        let events = [ev(Inbound, 0), ev(Reply, 10)];
        let e = evaluate(&p, &events, cal);
        let r = e.get(Metric::Resolution).unwrap();
        assert_eq!((r.state, r.elapsed_ms), (MetricState::Paused, 10 * MIN));
        assert_eq!(e.due_at(), None, "nothing is due while paused");

        let events = [ev(Inbound, 0), ev(Reply, 10), ev(Inbound, 310)];
        let r = *evaluate(&p, &events, cal).get(Metric::Resolution).unwrap();
        assert_eq!(r.state, MetricState::Running);
        // 24 h target, 10 min used: due 23 h 50 min after the customer wrote again.
        assert_eq!(r.due_at, Some(T0 + (310 + 24 * 60 - 10) * MIN));

        let mut no_pause = policy();
        no_pause.pause_when_waiting = false;
        let r = *evaluate(&no_pause, &events, cal)
            .get(Metric::Resolution)
            .unwrap();
        assert_eq!(
            r.due_at,
            Some(T0 + 24 * 60 * MIN),
            "calendar from the start"
        );
    }

    #[test]
    fn archive_stops_and_reopen_starts_a_new_resolution_cycle() {
        let p = policy();
        let e = evaluate(&p, &[ev(Inbound, 0), ev(Archived, 30)], cal);
        assert_eq!(
            e.get(Metric::FirstReply).unwrap().state,
            MetricState::Stopped
        );
        let r = e.get(Metric::Resolution).unwrap();
        assert_eq!((r.state, r.elapsed_ms), (MetricState::Met, 30 * MIN));
        assert!(e.deadlines().is_empty());
        assert_eq!(e.due_at(), None);

        let e = evaluate(
            &p,
            &[ev(Inbound, 0), ev(Archived, 30), ev(Reopened, 40)],
            cal,
        );
        let r = e.get(Metric::Resolution).unwrap();
        assert_eq!(
            (r.state, r.cycle, r.due_at),
            (MetricState::Running, 1, Some(T0 + (40 + 24 * 60) * MIN))
        );
    }

    #[test]
    fn business_hours_targets_skip_the_weekend_and_a_holiday() {
        let office = Schedule {
            id: "office".into(),
            name: "Office".into(),
            timezone: "UTC".into(),
            hours: [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
                .into_iter()
                .map(|day| Hours {
                    day,
                    start: "09:00".into(),
                    end: "17:00".into(),
                })
                .collect(),
            holidays: vec!["2026-12-28".into()],
            updated_at: 0,
            updated_by: String::new(),
        };
        use super::super::Day;
        let bc = BusinessCalendar::new(&office).unwrap();
        let mut p = policy();
        p.schedule = Some("office".into());
        p.first_reply = Some(Target {
            minutes: 120,
            business_hours: true,
            warn_before_minutes: 30,
        });
        let span = |t: Target| {
            if t.business_hours {
                Span::Business(&bc)
            } else {
                Span::Calendar
            }
        };
        let utc = |s: &str| -> Millis { s.parse::<jiff::Timestamp>().unwrap().as_millisecond() };
        // Friday 25 December 2026 16:00 UTC: 1 h on Friday, the weekend, Monday the 28th is a
        // holiday: 1 h more on Tuesday, due 10:00; the warning at 09:30.
        let e = evaluate(
            &p,
            &[ClockEvent::new(Inbound, utc("2026-12-25T16:00:00Z"))],
            span,
        );
        let f = e.get(Metric::FirstReply).unwrap();
        assert_eq!(f.due_at, Some(utc("2026-12-29T10:00:00Z")));
        assert_eq!(f.warn_at, Some(utc("2026-12-29T09:30:00Z")));
        // The resolution target stays in calendar time.
        assert_eq!(
            e.get(Metric::Resolution).unwrap().due_at,
            Some(utc("2026-12-26T16:00:00Z"))
        );
    }
}
