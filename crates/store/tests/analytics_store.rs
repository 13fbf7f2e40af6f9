//! Analytics on SQLite, and on Postgres when `TEST_DATABASE_URL` is set: a small synthetic
//! history recorded through `support_core::analytics::record` (replayed steps included), rolled
//! up per day, and every measure compared with values computed by hand below.
#![allow(clippy::unwrap_used)]

use support_core::analytics::histogram::{MAX_RELATIVE_ERROR, bucket_of, representative};
use support_core::analytics::{
    EventKind as K, GroupBy, ReportingEvent, record, refresh, rollup_day, summarize,
};
use support_core::store::*;
use support_core::time::{DAY_MS, now_ms};
use support_testkit::TestDb;

const D: i64 = 20_400; // Saturday 2025-11-08
const T0: i64 = D * DAY_MS;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn ev(id: &str, k: K, app: &str, cat: &str, conv: &str, at: i64) -> ReportingEvent {
    ReportingEvent::new(id, k, app, cat, conv, at)
}

/// The percentile read from the histogram is the middle of the exact value's bucket.
fn pct(got: Option<f64>, exact: i64) {
    let got = got.expect("a percentile");
    assert_eq!(got, representative(bucket_of(exact)), "exact {exact}");
    assert!((got - exact as f64).abs() / exact as f64 <= MAX_RELATIVE_ERROR + 1e-9);
}

async fn history(db: &dyn Store) {
    let h = vec![
        // c1, alpha/refund: drafted in 2 s, approval approved after 1 min, a human edits and
        // sends after 10 min, resolved after 1 h. Human-touched.
        ev(
            "recv:c1:m1",
            K::MessageReceived,
            "alpha",
            "refund",
            "c1",
            T0,
        ),
        ev(
            "draft:r1",
            K::DraftWritten,
            "alpha",
            "refund",
            "c1",
            T0 + 2_000,
        )
        .value(2_000),
        ev(
            "appr_req:a1",
            K::ApprovalRequested,
            "alpha",
            "refund",
            "c1",
            T0 + 3_000,
        ),
        ev(
            "appr:a1",
            K::ApprovalDecided,
            "alpha",
            "refund",
            "c1",
            T0 + 63_000,
        )
        .value(60_000)
        .reason("approved"),
        ev(
            "reply:m2",
            K::ReplyHuman,
            "alpha",
            "refund",
            "c1",
            T0 + 10 * MIN,
        ),
        ev(
            "outcome:r1",
            K::DraftEdited,
            "alpha",
            "refund",
            "c1",
            T0 + 10 * MIN,
        ),
        // Resolution without app or category: taken from the conversation's events.
        ev("resolved:e1", K::Resolved, "", "", "c1", T0 + HOUR),
        // c2, alpha/refund: drafted in 4 s, sent automatically after 5 min, resolved after
        // 2 h (at 3 h), reopened at 4 h. Automatic resolution.
        ev(
            "recv:c2:m1",
            K::MessageReceived,
            "alpha",
            "refund",
            "c2",
            T0 + HOUR,
        ),
        ev(
            "draft:r2",
            K::DraftWritten,
            "alpha",
            "refund",
            "c2",
            T0 + HOUR + 4_000,
        )
        .value(4_000),
        ev(
            "reply:r2",
            K::ReplyAuto,
            "alpha",
            "refund",
            "c2",
            T0 + HOUR + 5 * MIN,
        ),
        ev(
            "resolved:e2",
            K::Resolved,
            "alpha",
            "unknown",
            "c2",
            T0 + 3 * HOUR,
        ),
        ev(
            "recv:c2:m3",
            K::MessageReceived,
            "alpha",
            "refund",
            "c2",
            T0 + 4 * HOUR,
        ),
        // c3, alpha/access: urgent escalation, approval expired after 1 h; never resolved.
        ev(
            "recv:c3:m1",
            K::MessageReceived,
            "alpha",
            "access",
            "c3",
            T0 + 2 * HOUR,
        ),
        ev(
            "esc:r3",
            K::Escalated,
            "alpha",
            "access",
            "c3",
            T0 + 2 * HOUR + 1_000,
        )
        .reason("urgent"),
        ev(
            "appr_req:a3",
            K::ApprovalRequested,
            "alpha",
            "access",
            "c3",
            T0 + 2 * HOUR,
        ),
        ev(
            "appr:a3",
            K::ApprovalDecided,
            "alpha",
            "access",
            "c3",
            T0 + 3 * HOUR,
        )
        .value(HOUR)
        .reason("expired"),
        // c4, beta/refund, the next day: drafted in 8 s, sent unchanged by a human after
        // 20 min, one SLA target met, one breached (after a warning), handed over, resolved
        // after 5 h.
        ev(
            "recv:c4:m1",
            K::MessageReceived,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS,
        ),
        ev(
            "draft:r4",
            K::DraftWritten,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 8_000,
        )
        .value(8_000),
        ev(
            "reply:m4",
            K::ReplyHuman,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 20 * MIN,
        ),
        ev(
            "outcome:r4",
            K::DraftUnchanged,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 20 * MIN,
        ),
        ev(
            "sla:c4:first",
            K::SlaMet,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 20 * MIN,
        )
        .reason("first_reply"),
        ev(
            "slaw:c4:res",
            K::SlaWarning,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 3 * HOUR,
        )
        .reason("resolution"),
        ev(
            "sla:c4:res",
            K::SlaBreach,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 4 * HOUR,
        )
        .reason("resolution"),
        ev(
            "esc:c4",
            K::Escalated,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + HOUR,
        )
        .reason("handed_over"),
        ev(
            "resolved:e4",
            K::Resolved,
            "beta",
            "refund",
            "c4",
            T0 + DAY_MS + 5 * HOUR,
        ),
    ];
    for e in &h {
        assert!(record(db, e).await.unwrap(), "{} is new", e.id);
    }
    // Replayed steps: the same ids again add nothing.
    for e in &h[..3] {
        assert!(!record(db, e).await.unwrap());
    }
}

#[tokio::test]
async fn every_measure_on_a_hand_computed_history() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db: &dyn Store = &t.db;
        history(db).await;

        // What `record` implied.
        let c1 = db.reporting_events_for_conversation("c1").await.unwrap();
        let resolved = c1.iter().find(|e| e.kind == K::Resolved).unwrap();
        assert_eq!(
            (resolved.app.as_str(), resolved.category.as_str()),
            ("alpha", "refund")
        );
        assert_eq!(
            (resolved.value, resolved.reason.as_deref()),
            (Some(HOUR), Some("human"))
        );
        let first = c1.iter().find(|e| e.kind == K::FirstReply).unwrap();
        assert_eq!(first.value, Some(10 * MIN));
        let c2 = db.reporting_events_for_conversation("c2").await.unwrap();
        let r2 = c2.iter().find(|e| e.kind == K::Resolved).unwrap();
        assert_eq!(
            (r2.category.as_str(), r2.value, r2.reason.as_deref()),
            ("refund", Some(2 * HOUR), Some("automatic"))
        );
        let reopen = c2.iter().find(|e| e.kind == K::Reopened).unwrap();
        assert_eq!((reopen.at, reopen.value), (T0 + 4 * HOUR, Some(HOUR)));
        assert_eq!(c2.iter().filter(|e| e.kind == K::FirstReply).count(), 1);

        let days = refresh(db, now_ms()).await.unwrap();
        assert_eq!(days, vec![D, D + 1]);

        // Day D, app alpha.
        let rows = db.rollups(D, D, Some("alpha")).await.unwrap();
        assert_eq!(rows.len(), 2, "alpha × access, alpha × refund");
        let m = summarize(&rows, D, D, GroupBy::Day).total;
        assert_eq!(m.volume, 4, "c1, c2 twice, c3");
        pct(m.draft_p50_ms, 2_000);
        pct(m.draft_p95_ms, 4_000);
        pct(m.first_reply_p50_ms, 5 * MIN);
        pct(m.first_reply_p95_ms, 10 * MIN);
        pct(m.resolution_p50_ms, HOUR);
        pct(m.resolution_p95_ms, 2 * HOUR);
        assert_eq!(m.resolved, 2);
        assert_eq!(m.human_touch_rate, Some(0.5));
        assert_eq!(m.automatic_resolution_rate, Some(0.5));
        assert_eq!((m.replies, m.auto_send_rate), (2, Some(0.5)));
        assert_eq!(
            (m.approvals_requested, m.approved, m.rejected, m.expired),
            (2, 1, 0, 1)
        );
        pct(m.approval_p50_ms, MIN);
        pct(m.approval_p95_ms, HOUR);
        assert_eq!((m.escalations, m.escalation_rate), (1, Some(0.25)));
        assert_eq!(m.escalation_rate_by_reason.get("urgent"), Some(&0.25));
        assert_eq!(m.reopened, 1);
        assert_eq!(
            (
                m.draft_outcomes,
                m.draft_edited_share,
                m.draft_unchanged_share
            ),
            (1, Some(1.0), Some(0.0))
        );
        assert_eq!((m.sla_attainment, m.sla_breaches), (None, 0));

        // Both days, every app: by day, by category and in total.
        let rows = db.rollups(D - 1, D + 1, None).await.unwrap();
        let r = summarize(&rows, D - 1, D + 1, GroupBy::Day);
        let vols: Vec<_> = r
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.measures.volume))
            .collect();
        assert_eq!(
            vols,
            vec![("2025-11-07", 0), ("2025-11-08", 4), ("2025-11-09", 1)]
        );
        let t = &r.total;
        assert_eq!(t.volume, 5);
        assert_eq!(t.resolved, 3);
        assert_eq!(t.human_touch_rate, Some(2.0 / 3.0), "c1 and c4");
        assert_eq!(t.automatic_resolution_rate, Some(1.0 / 3.0), "c2");
        assert_eq!(t.auto_send_rate, Some(1.0 / 3.0), "1 of 3 replies");
        pct(t.draft_p50_ms, 4_000);
        pct(t.draft_p95_ms, 8_000);
        pct(t.first_reply_p50_ms, 10 * MIN);
        pct(t.first_reply_p95_ms, 20 * MIN);
        pct(t.resolution_p95_ms, 5 * HOUR);
        assert_eq!(t.escalation_rate, Some(2.0 / 5.0));
        assert_eq!(t.escalation_rate_by_reason.get("handed_over"), Some(&0.2));
        assert_eq!(
            (
                t.draft_unchanged_share,
                t.draft_edited_share,
                t.draft_rewritten_share
            ),
            (Some(0.5), Some(0.5), Some(0.0))
        );
        assert_eq!(
            (t.sla_attainment, t.sla_breaches, t.sla_warnings),
            (Some(0.5), 1, 1)
        );
        let by_cat = summarize(&rows, D - 1, D + 1, GroupBy::Category);
        // The totals rows add up to the same measures, one row a day.
        let totals = db.rollup_totals(D - 1, D + 1, None).await.unwrap();
        assert_eq!(totals.len(), 2);
        assert_eq!(summarize(&totals, D - 1, D + 1, GroupBy::Day), r);
        let alpha = db.rollup_totals(D, D, Some("alpha")).await.unwrap();
        assert_eq!(summarize(&alpha, D, D, GroupBy::Day).total.volume, 4);
        let cats: Vec<_> = by_cat
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.measures.volume))
            .collect();
        assert_eq!(cats, vec![("access", 1), ("refund", 4)]);
        // Fri 7 .. Mon 10 Nov 2025: the week of Mon 3 Nov and the week of Mon 10 Nov.
        let week = summarize(&rows, D - 1, D + 2, GroupBy::Week);
        let weeks: Vec<_> = week
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.measures.volume))
            .collect();
        assert_eq!(weeks, vec![("2025-11-03", 5), ("2025-11-10", 0)]);

        // Re-rolling a day is idempotent; a late event is picked up by the next refresh.
        let before = db.rollups(D, D, None).await.unwrap();
        rollup_day(db, D, now_ms()).await.unwrap();
        assert_eq!(db.rollups(D, D, None).await.unwrap(), before);
        record(
            db,
            &ev(
                "recv:c5:m1",
                K::MessageReceived,
                "alpha",
                "billing",
                "c5",
                T0 + 5 * HOUR,
            ),
        )
        .await
        .unwrap();
        assert!(refresh(db, now_ms()).await.unwrap().contains(&D));
        let m = summarize(&db.rollups(D, D, None).await.unwrap(), D, D, GroupBy::Day).total;
        assert_eq!(m.volume, 5);
    }
}
