#![cfg(test)]
#![allow(clippy::unwrap_used)]

use super::*;
use crate::sla::hours::BusinessCalendar;

#[test]
fn day_labels_round_trip() {
    assert_eq!(day_label(0), "1970-01-01");
    assert_eq!(parse_day("1970-01-01"), Some(0));
    assert_eq!(parse_day("2026-12-06"), Some(20_793));
    assert_eq!(day_label(20_793), "2026-12-06");
    assert_eq!(
        parse_day("2024-02-29").map(day_label).as_deref(),
        Some("2024-02-29")
    );
    for bad in ["2026-02-30", "2026-13-01", "26-01-01", "x", "2026-1-01"] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
    // 2026-12-06 is a Sunday: its week starts Monday 2026-11-30.
    assert_eq!(day_label(week_of(20_793)), "2026-11-30");
    assert_eq!(day_label(week_of(20_794)), "2026-12-07");
}

#[test]
fn kinds_round_trip() {
    for k in EventKind::ALL {
        assert_eq!(EventKind::parse(k.as_str()), Some(k));
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}

#[test]
fn rollup_groups_by_app_and_category_and_day() {
    let d = 20_000 * DAY_MS;
    let ev =
        |id: &str, k, app: &str, cat: &str, at| ReportingEvent::new(id, k, app, cat, "cnv", at);
    let events = vec![
        ev("1", EventKind::MessageReceived, "a", "refund", d + 5),
        ev("2", EventKind::MessageReceived, "a", "refund", d + 6),
        ev("3", EventKind::MessageReceived, "b", "refund", d + 7),
        ev("4", EventKind::Escalated, "a", "access", d + 8).reason("urgent"),
        ev("5", EventKind::MessageReceived, "a", "refund", d + DAY_MS),
    ];
    let all = rollup_events(20_000, &events);
    let totals: Vec<_> = all
        .iter()
        .filter(|r| r.category == ALL)
        .map(|r| (r.app.as_str(), r.tally.counts.received))
        .collect();
    assert_eq!(totals, vec![("*", 3), ("a", 2), ("b", 1)]);
    let rows: Vec<DayRollup> = all.iter().filter(|r| r.category != ALL).cloned().collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0].app.as_str(), rows[0].category.as_str()),
        ("a", "access")
    );
    assert_eq!(rows[1].tally.counts.received, 2);
    assert_eq!(rows[2].tally.counts.received, 1);
    let report = summarize(&rows, 19_999, 20_001, GroupBy::Day);
    assert_eq!(report.groups.len(), 3, "every day present");
    assert_eq!(report.groups[1].measures.volume, 3);
    assert_eq!(report.total.escalation_rate, Some(1.0 / 3.0));
    assert_eq!(report.total.escalation_rate_by_reason["urgent"], 1.0 / 3.0);
    assert_eq!(report.groups[0].measures.escalation_rate, None);
}

#[test]
fn every_measure_has_a_definition() {
    for key in [
        "volume",
        "draft",
        "first_reply",
        "resolution",
        "first_reply_business",
        "resolution_business",
        "human_touch_rate",
        "automatic_resolution_rate",
        "auto_send_rate",
        "approval",
        "escalation_rate",
        "draft_acceptance",
        "sla_attainment",
    ] {
        assert!(!definition(key).is_empty(), "{key}");
    }
}

/// Berlin local time in December (UTC+1), by hand: `2026-12-04`, 16:00 → ms.
fn berlin(date: &str, h: i64, m: i64) -> Millis {
    parse_day(date).unwrap() * DAY_MS + (h - 1) * HOUR + m * MIN
}

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn office() -> crate::sla::Schedule {
    use crate::sla::{Day, Hours};
    crate::sla::Schedule {
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

fn hist(values: &[i64]) -> Histogram {
    let mut h = Histogram::default();
    values.iter().for_each(|v| h.add(*v));
    h
}

/// First reply and resolution times in calendar and business hours across a weekend and a
/// holiday (Berlin office, Mon–Fri 09:00–17:00, 25 December closed), every value by hand.
#[test]
fn business_hours_first_reply_and_resolution_across_a_weekend() {
    let calendars: AppCalendars = [(
        "acme".to_string(),
        BusinessCalendar::new(&office()).unwrap(),
    )]
    .into();
    let ev = |id: &str, kind, app: &str, start: Millis, at: Millis| {
        ReportingEvent::new(id, kind, app, "billing", id, at).value(at - start)
    };
    let (fr, res) = (EventKind::FirstReply, EventKind::Resolved);
    // A: Friday 16:00 → reply Monday 10:00 → archived Monday 15:30.
    let a_msg = berlin("2026-12-04", 16, 0);
    let a_reply = ev("a", fr, "acme", a_msg, berlin("2026-12-07", 10, 0));
    let a_done = ev("a", res, "acme", a_msg, berlin("2026-12-07", 15, 30));
    // B: Saturday 11:00 → automatic reply Saturday 11:30 → archived Monday 09:45.
    let b_msg = berlin("2026-12-05", 11, 0);
    let b_reply = ev("b", fr, "acme", b_msg, berlin("2026-12-05", 11, 30));
    let b_done = ev("b", res, "acme", b_msg, berlin("2026-12-07", 9, 45));
    // C: Thursday 24 December 16:30 → reply Monday 28 December 09:30 (Christmas Day closed).
    let c_msg = berlin("2026-12-24", 16, 30);
    let c_reply = ev("c", fr, "acme", c_msg, berlin("2026-12-28", 9, 30));
    // D: an app without a schedule, like A: no business-hours figure.
    let d_reply = ev("d", fr, "other", a_msg, berlin("2026-12-07", 10, 0));

    // Calendar time, by hand.
    assert_eq!(a_reply.value, Some(66 * HOUR));
    assert_eq!(a_done.value, Some(71 * HOUR + 30 * MIN));
    assert_eq!(b_reply.value, Some(30 * MIN));
    assert_eq!(b_done.value, Some(46 * HOUR + 45 * MIN));
    assert_eq!(c_reply.value, Some(89 * HOUR));
    // Business time, by hand: Friday 16–17 + Monday 9–10; Friday 16–17 + Monday 9–15:30;
    // Saturday is closed; Monday 9–9:45; Thursday 16:30–17 + Monday 9–9:30.
    let cal = &calendars["acme"];
    assert_eq!(business_ms(&a_reply, cal), Some(120 * MIN));
    assert_eq!(business_ms(&a_done, cal), Some(60 * MIN + 390 * MIN));
    assert_eq!(business_ms(&b_reply, cal), Some(0));
    assert_eq!(business_ms(&b_done, cal), Some(45 * MIN));
    assert_eq!(business_ms(&c_reply, cal), Some(60 * MIN));

    let events = vec![a_reply, a_done, b_reply, b_done, c_reply, d_reply];
    let days: Vec<i64> = ["2026-12-05", "2026-12-07", "2026-12-28"]
        .into_iter()
        .map(|d| parse_day(d).unwrap())
        .collect();
    let rows: Vec<DayRollup> = days
        .iter()
        .flat_map(|d| rollup_events_in(*d, &events, &calendars))
        .collect();
    let monday = rows
        .iter()
        .find(|r| r.day == days[1] && r.app == "acme" && r.category == ALL)
        .unwrap();
    assert_eq!(monday.tally.first_reply_business_ms, hist(&[120 * MIN]));
    assert_eq!(
        monday.tally.resolution_business_ms,
        hist(&[450 * MIN, 45 * MIN])
    );
    let everyone = rows
        .iter()
        .find(|r| r.day == days[1] && r.app == ALL)
        .unwrap();
    assert_eq!(everyone.tally.first_reply_ms, hist(&[66 * HOUR, 66 * HOUR]));
    assert_eq!(
        everyone.tally.first_reply_business_ms,
        hist(&[120 * MIN]),
        "the app without a schedule is left out"
    );
    let other = rows.iter().find(|r| r.app == "other" && r.category == ALL);
    assert_eq!(other.unwrap().tally.first_reply_business_ms.count(), 0);
    // Without calendars nothing is measured in business hours.
    let plain = rollup_events(days[1], &events);
    assert!(
        plain
            .iter()
            .all(|r| r.tally.first_reply_business_ms.count() == 0)
    );

    // The report over the month, for acme: nearest rank of [0, 60, 120] minutes and of
    // [45, 450] minutes, read from the histograms (each within 9.05 % of the value by hand).
    let acme: Vec<DayRollup> = rows
        .iter()
        .filter(|r| r.app == "acme" && r.category == ALL)
        .cloned()
        .collect();
    let m = summarize(&acme, days[0], days[2], GroupBy::Week).total;
    let read = |v: i64, q: f64| hist(&[v]).quantile(q);
    assert_eq!(m.first_reply_business_p50_ms, read(60 * MIN, 0.5));
    assert_eq!(m.first_reply_business_p95_ms, read(120 * MIN, 0.95));
    assert_eq!(m.resolution_business_p50_ms, read(45 * MIN, 0.5));
    assert_eq!(m.resolution_business_p95_ms, read(450 * MIN, 0.95));
    assert_eq!(m.first_reply_p50_ms, read(66 * HOUR, 0.5));
    assert_eq!(m.first_reply_p95_ms, read(89 * HOUR, 0.95));
    assert_eq!(m.resolution_p50_ms, read(46 * HOUR + 45 * MIN, 0.5));
    assert_eq!(m.resolution_p95_ms, read(71 * HOUR + 30 * MIN, 0.95));
    let close = |got: Option<f64>, want: i64| {
        let g = got.unwrap();
        assert!(
            (g - want as f64).abs() <= 0.0905 * want as f64,
            "{g} vs {want}"
        );
    };
    close(m.first_reply_business_p50_ms, 60 * MIN);
    close(m.first_reply_business_p95_ms, 120 * MIN);
    close(m.resolution_business_p50_ms, 45 * MIN);
    close(m.resolution_business_p95_ms, 450 * MIN);
}
