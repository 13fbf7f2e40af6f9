#![cfg(test)]
#![allow(clippy::unwrap_used)]

use super::*;

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
