//! Cron triggers for the embedded executor: standard five-field expressions (minute, hour,
//! day of month, month, day of week; `*`, lists, ranges and `/` steps), evaluated in UTC.
//!
//! Each due minute becomes an `inngest/scheduled.timer` event whose id names the function and
//! the minute, so several workers (or a restart) fire each tick exactly once: events with the
//! same id are stored once.

use crate::event::Millis;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::DateTime;
use jiff::tz::Offset;

/// The event name Inngest uses for scheduled runs.
pub const SCHEDULED_EVENT: &str = "inngest/scheduled.timer";

/// A parsed five-field cron expression (parsing and matching by `croner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    cron: Cron,
}

/// The UTC wall clock of a Unix millisecond (`None` outside jiff's range, years -9999..=9999).
fn utc(ms: Millis) -> Option<DateTime> {
    let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(Offset::UTC.to_datetime(ts))
}

/// The Unix millisecond of a UTC wall clock.
fn millis(dt: DateTime) -> Option<Millis> {
    Some(Offset::UTC.to_timestamp(dt).ok()?.as_millisecond())
}

impl CronSpec {
    /// Parse `m h dom mon dow` (Sunday is 0 or 7): numbers, `*`, lists, ranges and steps, where
    /// a step may start at a number (`5/10` is `5-59/10`). `TZ=` prefixes, names and croner's
    /// extensions (`L`, `W`, `#`, `?`, `+`, `@daily`) are refused, as they always were here.
    pub fn parse(expr: &str) -> Result<Self, String> {
        if expr.split_whitespace().count() != 5 {
            return Err(format!(
                "cron {expr:?}: expected 5 fields (minute hour day month weekday)"
            ));
        }
        for part in expr.split_whitespace().flat_map(|f| f.split(',')) {
            let plain = part
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '-' | '/'));
            if part.is_empty() || part.starts_with('/') || !plain {
                return Err(format!("cron {expr:?}: bad value {part:?}"));
            }
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .sloppy_ranges(true)
            .build()
            .parse(expr)
            .map_err(|e| format!("cron {expr:?}: {e}"))?;
        Ok(Self { cron })
    }

    /// Whether the minute starting at `minute_ms` (UTC) is scheduled.
    pub fn matches(&self, minute_ms: Millis) -> bool {
        utc(minute_ms.div_euclid(60_000) * 60_000)
            .is_some_and(|dt| self.cron.is_time_matching(&dt).unwrap_or(false))
    }

    /// Scheduled minutes in `(after, upto]`, oldest first, at most `limit`.
    pub fn due_between(&self, after: Millis, upto: Millis, limit: usize) -> Vec<Millis> {
        let mut out = Vec::new();
        let Some(mut from) = utc((after.div_euclid(60_000) + 1) * 60_000) else {
            return out;
        };
        while out.len() < limit {
            // An error means no later occurrence (an impossible date, or past jiff's range).
            let Ok(next) = self.cron.find_next_occurrence(&from, true) else {
                break;
            };
            let Some(ms) = millis(next).filter(|ms| *ms <= upto) else {
                break;
            };
            out.push(ms);
            let Some(after_next) = utc(ms + 60_000) else {
                break;
            };
            from = after_next;
        }
        out
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01; the tests check dates with it.
#[cfg(test)]
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let d = utc(z * 86_400_000).map(|dt| dt.date()).unwrap_or_default();
    (
        i64::from(d.year()),
        u32::from(d.month().unsigned_abs()),
        u32::from(d.day().unsigned_abs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T19:23:00Z, a Monday.
    const MONDAY_1923: Millis = 1_795_461_780_000;

    #[test]
    fn dates_and_weekdays() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(MONDAY_1923 / 86_400_000), (2026, 11, 23));
        assert!(CronSpec::parse("23 19 * * 1").unwrap().matches(MONDAY_1923));
        assert!(!CronSpec::parse("23 19 * * 2").unwrap().matches(MONDAY_1923));
        assert!(
            CronSpec::parse("23 19 23 11 *")
                .unwrap()
                .matches(MONDAY_1923)
        );
        assert!(
            CronSpec::parse("*/5 19 * * *")
                .unwrap()
                .matches(MONDAY_1923 + 2 * 60_000)
        );
        assert!(
            !CronSpec::parse("*/5 19 * * *")
                .unwrap()
                .matches(MONDAY_1923)
        );
        assert!(
            CronSpec::parse("0-30/23 * * * 0,1")
                .unwrap()
                .matches(MONDAY_1923)
        );
    }

    #[test]
    fn due_minutes_in_a_window() {
        let every_15 = CronSpec::parse("*/15 * * * *").unwrap();
        let start = MONDAY_1923 - 23 * 60_000; // 19:00
        let due = every_15.due_between(start, start + 60 * 60_000, 10);
        assert_eq!(due.len(), 4, "19:15, 19:30, 19:45, 20:00");
        assert_eq!(due[0], start + 15 * 60_000);
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
            "* * * * 8",
        ] {
            assert!(CronSpec::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbered_steps_are_accepted_and_croner_extensions_refused() {
        // `5/20` is `5-59/20`, as before croner: 19:05, 19:25, 19:45.
        let spec = CronSpec::parse("5/20 19 * * *").unwrap();
        let start = MONDAY_1923 - 23 * 60_000;
        let due = spec.due_between(start, start + 60 * 60_000, 10);
        assert_eq!(
            due,
            [5, 25, 45].map(|m| start + m * 60_000),
            "19:05, 19:25, 19:45"
        );
        for bad in [
            "0 0 L * *",
            "0 0 * * MON",
            "0 0 ? * *",
            "0 0 * * 5#2",
            "@daily",
            "/5 * * * *",
            "1,,2 * * * *",
        ] {
            assert!(CronSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
