//! Inngest time strings (`"300ms"`, `"2h45m"`, `"1.5s"`) and RFC 3339 dates.

use crate::event::Millis;
use std::time::Duration;

/// Parse a time string: decimal numbers with units ns, us, µs, ms, s, m, h, d, w.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total_ms = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86_400e3,
            "w" => 604_800e3,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms += n * factor;
    }
    Some(Duration::from_micros((total_ms * 1000.0).round() as u64))
}

/// Format a duration as a time string in milliseconds.
pub fn format_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Parse an RFC 3339 date (`2026-11-23T10:00:00.5Z`, `…+02:00`) to Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let ts: jiff::Timestamp = s.trim().parse().ok()?;
    Some(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(
            parse_duration("2h45m"),
            Some(Duration::from_secs(2 * 3600 + 45 * 60))
        );
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1w"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x"), None);
        assert_eq!(format_duration(Duration::from_secs(2)), "2000ms");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_rfc3339("nope"), None);
    }
}
