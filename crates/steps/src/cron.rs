//! Cron triggers for the embedded executor: standard five-field expressions (minute, hour,
//! day of month, month, day of week; `*`, lists, ranges and `/` steps), evaluated in UTC.
//!
//! Each due minute becomes an `inngest/scheduled.timer` event whose id names the function and
//! the minute, so several workers (or a restart) fire each tick exactly once: events with the
//! same id are stored once.

use crate::event::Millis;

/// The event name Inngest uses for scheduled runs.
pub const SCHEDULED_EVENT: &str = "inngest/scheduled.timer";

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Vec<u32>,
    months: Vec<u32>,
    weekdays: Vec<u32>,
    day_restricted: bool,
    weekday_restricted: bool,
}

fn field(spec: &str, min: u32, max: u32) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in {part:?}"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = a
                .parse::<u32>()
                .map_err(|_| format!("bad range {part:?}"))?;
            let b = b
                .parse::<u32>()
                .map_err(|_| format!("bad range {part:?}"))?;
            (a, b)
        } else {
            let v = range
                .parse::<u32>()
                .map_err(|_| format!("bad value {part:?}"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl CronSpec {
    /// Parse `m h dom mon dow` (Sunday is 0 or 7). `TZ=` prefixes are refused.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "cron {expr:?}: expected 5 fields (minute hour day month weekday)"
            ));
        }
        let mut weekdays = field(parts[4], 0, 7).map_err(|e| format!("cron {expr:?}: {e}"))?;
        for d in &mut weekdays {
            if *d == 7 {
                *d = 0;
            }
        }
        weekdays.sort_unstable();
        weekdays.dedup();
        Ok(Self {
            minutes: field(parts[0], 0, 59).map_err(|e| format!("cron {expr:?}: {e}"))?,
            hours: field(parts[1], 0, 23).map_err(|e| format!("cron {expr:?}: {e}"))?,
            days: field(parts[2], 1, 31).map_err(|e| format!("cron {expr:?}: {e}"))?,
            months: field(parts[3], 1, 12).map_err(|e| format!("cron {expr:?}: {e}"))?,
            weekdays,
            day_restricted: parts[2] != "*",
            weekday_restricted: parts[4] != "*",
        })
    }

    /// Whether the minute starting at `minute_ms` (UTC) is scheduled.
    pub fn matches(&self, minute_ms: Millis) -> bool {
        let mins = minute_ms.div_euclid(60_000);
        let minute = (mins % 60) as u32;
        let hour = (mins / 60 % 24) as u32;
        let days_since_epoch = mins.div_euclid(60 * 24);
        let (_, month, day) = civil_from_days(days_since_epoch);
        // 1970-01-01 was a Thursday (4).
        let weekday = ((days_since_epoch % 7 + 7 + 4) % 7) as u32;
        let day_ok = self.days.contains(&day);
        let weekday_ok = self.weekdays.contains(&weekday);
        // As in cron: when both day fields are restricted, either may match.
        let date_ok = match (self.day_restricted, self.weekday_restricted) {
            (true, true) => day_ok || weekday_ok,
            _ => day_ok && weekday_ok,
        };
        self.minutes.contains(&minute)
            && self.hours.contains(&hour)
            && self.months.contains(&month)
            && date_ok
    }

    /// Scheduled minutes in `(after, upto]`, oldest first, at most `limit`.
    pub fn due_between(&self, after: Millis, upto: Millis, limit: usize) -> Vec<Millis> {
        let mut out = Vec::new();
        let mut m = (after.div_euclid(60_000) + 1) * 60_000;
        while m <= upto && out.len() < limit {
            if self.matches(m) {
                out.push(m);
            }
            m += 60_000;
        }
        out
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
}
