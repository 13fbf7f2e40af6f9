//! Time as the platform stores it: milliseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current wall-clock time in milliseconds.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ms` as people read it in an alert: `2026-12-06 14:05 UTC` (the number itself when it is
/// outside the calendar).
pub fn format_utc(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// Thirty days, the half-life of trust scores and the default refund window.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Whether the timestamp `ts` is within `tolerance` of `now`, either way (both in the same
/// unit). Overflow-safe for every pair of `i64`: a timestamp from outside such as `i64::MIN` or
/// `i64::MAX` is simply outside the window, in debug and release builds alike. A negative
/// tolerance counts as its absolute value.
pub fn within(now: i64, ts: i64, tolerance: i64) -> bool {
    now.abs_diff(ts) <= tolerance.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_utc_reads_as_a_date() {
        assert_eq!(format_utc(1_796_565_900_000), "2026-12-06 14:05 UTC");
        assert_eq!(format_utc(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn within_is_overflow_safe_and_inclusive() {
        let now = 1_700_000_000_000;
        assert!(within(now, now + 300_000, 300_000));
        assert!(within(now, now - 300_000, 300_000));
        assert!(!within(now, now + 300_001, 300_000));
        assert!(!within(now, now - 300_001, 300_000));
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            assert!(!within(now, ts, 300_000), "{ts}");
        }
        assert!(!within(i64::MIN, i64::MAX, 300_000));
        assert!(!within(i64::MAX, i64::MIN, i64::MAX));
        assert!(within(i64::MIN, i64::MIN, 0));
        assert!(within(0, i64::MIN, i64::MIN));
        assert!(within(now, now + 5, -5));
    }
}
