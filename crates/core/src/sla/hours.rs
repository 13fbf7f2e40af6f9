//! Business time over a [`Schedule`]: the open intervals of each local day (weekly hours, none
//! on a holiday) in the schedule's time zone, turned into instants with jiff (a local time that
//! a DST change skips or repeats resolves as jiff's `compatible` disambiguation does).

use super::{Day, Schedule, SlaError};
use crate::time::Millis;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use std::collections::BTreeSet;

/// How far a computation looks ahead before giving up (a schedule always has open hours, so
/// only an absurd target reaches this): about three years of days.
const MAX_DAYS: usize = 1200;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    tz: TimeZone,
    /// Per weekday (Monday = 0): open intervals as minutes of the local day, sorted, merged.
    week: [Vec<(i32, i32)>; 7],
    holidays: BTreeSet<Date>,
}

fn parse_hhmm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn err(msg: String) -> SlaError {
    SlaError::Invalid(msg)
}

impl BusinessCalendar {
    pub fn new(s: &Schedule) -> Result<Self, SlaError> {
        let tz = TimeZone::get(&s.timezone)
            .map_err(|_| err(format!("unknown time zone `{}`", s.timezone)))?;
        let mut week: [Vec<(i32, i32)>; 7] = Default::default();
        for h in &s.hours {
            let (Some(a), Some(b)) = (parse_hhmm(&h.start), parse_hhmm(&h.end)) else {
                return Err(err(format!(
                    "hours on {}: `{}`-`{}` must be HH:MM",
                    h.day.as_str(),
                    h.start,
                    h.end
                )));
            };
            if a >= b {
                return Err(err(format!(
                    "hours on {}: start {} must be before end {}",
                    h.day.as_str(),
                    h.start,
                    h.end
                )));
            }
            week[h.day.index()].push((a, b));
        }
        for day in &mut week {
            day.sort_unstable();
            let mut merged: Vec<(i32, i32)> = Vec::with_capacity(day.len());
            for &(a, b) in day.iter() {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            *day = merged;
        }
        if week.iter().all(Vec::is_empty) {
            return Err(err("a schedule needs opening hours".into()));
        }
        let mut holidays = BTreeSet::new();
        for d in &s.holidays {
            let date: Date = d
                .parse()
                .map_err(|_| err(format!("holiday `{d}` must be YYYY-MM-DD")))?;
            holidays.insert(date);
        }
        Ok(Self { tz, week, holidays })
    }

    fn local_date(&self, at: Millis) -> Option<Date> {
        Some(
            Timestamp::from_millisecond(at)
                .ok()?
                .to_zoned(self.tz.clone())
                .date(),
        )
    }

    fn instant(&self, date: Date, minute: i32) -> Option<Millis> {
        let (date, minute) = if minute >= 24 * 60 {
            (date.tomorrow().ok()?, minute - 24 * 60)
        } else {
            (date, minute)
        };
        let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        Some(self.tz.to_timestamp(dt).ok()?.as_millisecond())
    }

    /// The open intervals of local day `date` as instants (none on a holiday).
    pub fn open_on(&self, date: Date) -> Vec<(Millis, Millis)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let day = Day::ALL[date.weekday().to_monday_zero_offset() as usize];
        self.week[day.index()]
            .iter()
            .filter_map(|&(a, b)| Some((self.instant(date, a)?, self.instant(date, b)?)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// The instant `ms` of business time after `start` (`start` itself when `ms <= 0`).
    /// `None` past the look-ahead.
    pub fn add(&self, start: Millis, ms: i64) -> Option<Millis> {
        if ms <= 0 {
            return Some(start);
        }
        let mut remaining = ms;
        // A local day's intervals can begin on the previous UTC day: start one day early.
        let mut date = self.local_date(start)?.yesterday().ok()?;
        for _ in 0..MAX_DAYS {
            for (a, b) in self.open_on(date) {
                let a = a.max(start);
                if a >= b {
                    continue;
                }
                if b - a >= remaining {
                    return Some(a + remaining);
                }
                remaining -= b - a;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Business time in `[from, to)`, in milliseconds.
    pub fn between(&self, from: Millis, to: Millis) -> i64 {
        if to <= from {
            return 0;
        }
        let (Some(first), Some(last)) = (self.local_date(from), self.local_date(to)) else {
            return 0;
        };
        let Ok(mut date) = first.yesterday() else {
            return 0;
        };
        let mut total = 0;
        while date <= last {
            for (a, b) in self.open_on(date) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        total
    }
}

/// Calendar time or a schedule's business time.
#[derive(Debug, Clone, Copy)]
pub enum Span<'c> {
    Calendar,
    Business(&'c BusinessCalendar),
}

impl Span<'_> {
    pub fn add(&self, start: Millis, ms: i64) -> Millis {
        match self {
            Span::Calendar => start.saturating_add(ms.max(0)),
            Span::Business(c) => c.add(start, ms).unwrap_or(Millis::MAX),
        }
    }

    pub fn between(&self, from: Millis, to: Millis) -> i64 {
        match self {
            Span::Calendar => (to - from).max(0),
            Span::Business(c) => c.between(from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Hours;
    use super::*;

    pub(crate) fn berlin_office() -> Schedule {
        Schedule {
            id: "office".into(),
            name: "Office".into(),
            timezone: "Europe/Berlin".into(),
            hours: [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
                .into_iter()
                .map(|day| Hours {
                    day,
                    start: "09:00".into(),
                    end: "17:00".into(),
                })
                .collect(),
            holidays: vec!["2026-12-25".into()],
            updated_at: 0,
            updated_by: String::new(),
        }
    }

    /// A local Berlin time (`2026-12-04T16:00`) as milliseconds.
    pub(crate) fn berlin(s: &str) -> Millis {
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned(TimeZone::get("Europe/Berlin").unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    const MIN: i64 = 60_000;

    #[test]
    fn business_time_skips_the_weekend() {
        let cal = BusinessCalendar::new(&berlin_office()).unwrap();
        // Friday 4 December 2026, 16:00: one hour left that day; 120 minutes end Monday 10:00.
        let due = cal.add(berlin("2026-12-04T16:00"), 120 * MIN).unwrap();
        assert_eq!(due, berlin("2026-12-07T10:00"));
        // Saturday counts nothing; measured back, the span is the same 120 minutes.
        assert_eq!(
            cal.between(berlin("2026-12-04T16:00"), berlin("2026-12-07T10:00")),
            120 * MIN
        );
        assert_eq!(
            cal.between(berlin("2026-12-05T08:00"), berlin("2026-12-06T20:00")),
            0
        );
        // Starting on a Sunday evening: the clock starts Monday 09:00.
        let due = cal.add(berlin("2026-12-06T22:00"), 30 * MIN).unwrap();
        assert_eq!(due, berlin("2026-12-07T09:30"));
    }

    #[test]
    fn business_time_skips_a_holiday() {
        let cal = BusinessCalendar::new(&berlin_office()).unwrap();
        // Thursday 24 December 16:30 + 60 minutes: Friday the 25th is a holiday, the weekend
        // follows, so the due time is Monday 28 December 09:30.
        let due = cal.add(berlin("2026-12-24T16:30"), 60 * MIN).unwrap();
        assert_eq!(due, berlin("2026-12-28T09:30"));
        // Without the holiday it would be Friday 09:30.
        let mut s = berlin_office();
        s.holidays.clear();
        let plain = BusinessCalendar::new(&s).unwrap();
        assert_eq!(
            plain.add(berlin("2026-12-24T16:30"), 60 * MIN).unwrap(),
            berlin("2026-12-25T09:30")
        );
    }

    #[test]
    fn schedules_are_validated() {
        let mut s = berlin_office();
        s.timezone = "Mars/Olympus".into();
        assert!(
            BusinessCalendar::new(&s)
                .unwrap_err()
                .to_string()
                .contains("time zone")
        );
        let mut s = berlin_office();
        s.hours[0].end = "08:00".into();
        assert!(BusinessCalendar::new(&s).is_err());
        let mut s = berlin_office();
        s.hours[0].end = "25:00".into();
        assert!(BusinessCalendar::new(&s).is_err());
        let mut s = berlin_office();
        s.holidays.push("christmas".into());
        assert!(BusinessCalendar::new(&s).is_err());
        let mut s = berlin_office();
        s.hours.clear();
        assert!(BusinessCalendar::new(&s).is_err());
        let mut s = berlin_office();
        s.hours[0].end = "24:00".into();
        assert!(BusinessCalendar::new(&s).is_ok());
    }

    #[test]
    fn calendar_span_is_plain_arithmetic() {
        assert_eq!(Span::Calendar.add(1_000, 5 * MIN), 1_000 + 5 * MIN);
        assert_eq!(Span::Calendar.between(5, 1), 0);
    }
}
