//! Analytics end to end, on SQLite and (with `TEST_DATABASE_URL`) Postgres:
//! - the workflow writes reporting events where things happen: a message through the Front
//!   sandbox gives `message_received` (under the route's category) and `draft_written` (webhook
//!   → draft ms) once each, a teammate sending the draft unchanged gives `reply_human`,
//!   `first_reply` and `draft_unchanged`, Front's `conversation_archived` gives `resolved`
//!   (human-touched: a human replied); a replayed webhook adds nothing;
//! - `GET /api/v1/analytics`: bearer auth like the rest of `/api/v1` (401 without, viewer
//!   allowed), bad input `400 bad_request`, JSON with the measures of the demo history and the
//!   event above, CSV by `format=csv` or `Accept: text/csv`;
//! - first reply and resolution times in business hours come from the app's SLA schedule
//!   (a weekend in the API's JSON and CSV, values by hand);
//! - `/metrics` carries the analytics gauges; `/analytics` renders the page (measures with
//!   their definitions as tooltips, charts, breakdowns) and `/analytics.csv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use support_core::analytics::EventKind as K;
use support_core::auth::Role;
use support_testkit::TestApp;

const WAIT: Duration = Duration::from_secs(30);

async fn runs_done(t: &TestApp, event_id: &str) {
    let engine = &t.platform.engine;
    let runs = engine.wait_for_runs_of(event_id, 1, WAIT).await.unwrap();
    for r in runs {
        engine
            .wait_until("run to finish", WAIT, || async {
                Ok(engine.get_run(&r.id).await?.filter(|d| {
                    matches!(
                        d.run.status,
                        support_steps::RunStatus::Completed | support_steps::RunStatus::Failed
                    )
                }))
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_workflow_records_events_and_the_api_reports_them() {
    for t in TestApp::each_backend().await {
        let slug = t.demo.apps[0].slug.to_string();
        let d = t
            .front
            .deliver(t.inbound(
                0,
                "kyle.dunmore@example.com",
                "Login link",
                "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
            ))
            .await
            .unwrap();
        t.finished_run(&d.event_id, WAIT).await;
        let conv = d.conversation_id.clone();
        let events = t
            .platform
            .store
            .reporting_events_for_conversation(&conv)
            .await
            .unwrap();
        let kinds: Vec<K> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![K::MessageReceived, K::DraftWritten],
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .all(|e| e.app == slug && e.category != "unknown")
        );
        let draft_ms = events[1].value.expect("webhook → draft ms");
        assert!((0..WAIT.as_millis() as i64).contains(&draft_ms));

        // Front retries the same webhook: nothing more is counted.
        t.front.emit(&d.event).await.unwrap();
        // A teammate sends our draft as it is; then the conversation is archived.
        let drafts = t.platform.store.list_drafts(&conv).await.unwrap();
        let front_draft = drafts[0].front_draft_id.clone().expect("a Front draft");
        let sent = t.front.send_draft(&front_draft, None).await.unwrap();
        runs_done(&t, &format!("front:{}", sent.event_id)).await;
        let archived = json!({
            "type": "conversation_archived",
            "authorization": {"id": "cmp_sandbox"},
            "payload": {
                "id": "evt_archive_1",
                "type": "archive",
                "emitted_at": 1,
                "conversation": {"id": conv},
                "source": {"_meta": {"type": "inboxes"}, "data": [{"id": t.demo.apps[0].front_inbox_id}]},
            }
        });
        t.front.emit(&archived).await.unwrap();
        runs_done(&t, "front:evt_archive_1").await;
        let events = t
            .platform
            .store
            .reporting_events_for_conversation(&conv)
            .await
            .unwrap();
        let mut kinds: Vec<K> = events.iter().map(|e| e.kind).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                K::MessageReceived,
                K::DraftWritten,
                K::ReplyHuman,
                K::FirstReply,
                K::Resolved,
                K::DraftUnchanged
            ],
            "{events:?}"
        );
        let resolved = events.iter().find(|e| e.kind == K::Resolved).unwrap();
        assert_eq!(resolved.reason.as_deref(), Some("human"));
        assert_eq!(
            (resolved.app.as_str(), resolved.category.as_str()),
            (slug.as_str(), events[0].category.as_str())
        );

        // The API.
        let anon = t
            .client
            .get(t.url("/api/v1/analytics"))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status().as_u16(), 401);
        let viewer = t.token("analytics-viewer", Role::Viewer).await;
        let get = |q: &str, accept: Option<&str>| {
            let mut r = t
                .client
                .get(t.url(&format!("/api/v1/analytics{q}")))
                .bearer_auth(&viewer);
            if let Some(a) = accept {
                r = r.header("accept", a);
            }
            r.send()
        };
        for bad in [
            "?group_by=hour",
            "?from=2026-13-01",
            "?from=2026-12-05&to=2026-12-01",
            "?app=Not%20A%20Slug",
            "?format=xml",
        ] {
            let res = get(bad, None).await.unwrap();
            assert_eq!(res.status().as_u16(), 400, "{bad}");
            let v: serde_json::Value = res.json().await.unwrap();
            assert_eq!(v["error"]["code"], "bad_request", "{bad}");
        }
        let today = support_core::analytics::day_label(support_core::analytics::day_of(
            support_core::time::now_ms(),
        ));
        let res = get(
            &format!("?from={today}&to={today}&app={slug}&group_by=category"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["group_by"], "category");
        // Today: every message of this app recorded today (the demo history's so far and ours),
        // counted from the raw events.
        let day = support_core::analytics::day_of(support_core::time::now_ms());
        let raw = t.platform.store.reporting_events_of_day(day).await.unwrap();
        let demo_today = raw
            .iter()
            .filter(|e| e.kind == K::MessageReceived && e.app == slug && e.id.starts_with("demo:"))
            .count() as u64;
        assert_eq!(v["total"]["volume"], demo_today + 1, "{v}");
        assert!(
            v["definitions"]["human_touch_rate"]["definition"]
                .as_str()
                .unwrap()
                .contains("over all resolved")
        );
        assert!(
            v["previous"]["total"]["volume"].as_u64().unwrap() > 0,
            "the demo's yesterday"
        );
        let csv = get("?format=csv", None).await.unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("group,volume,draft_p50_ms"));
        assert_eq!(text.lines().count(), 1 + 30 + 1, "header, 30 days, total");
        let by_accept = get("", Some("text/csv"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(by_accept, text);

        // Prometheus gauges on the metrics endpoint.
        let metrics = t
            .client
            .get(t.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("support_analytics_auto_send_rate{app=\"all\"}"),
            "{metrics}"
        );
        assert!(metrics.contains(&format!("support_analytics_volume_7d{{app=\"{slug}\"}}")));

        // The page and its CSV, as a viewer.
        let web = t.login_as(Role::Viewer).await;
        let html = web.page("/analytics?group_by=week").await;
        assert!(html.contains("<svg"), "charts are inline SVG");
        assert!(html.contains("Volume: this period and the previous one"));
        assert!(
            html.contains("title=\"Resolved conversations in which a human wrote"),
            "tooltips"
        );
        assert!(
            html.contains(&format!("<td>{slug}</td>")),
            "breakdown by app"
        );
        let res = web.get("/analytics?from=nope").await;
        assert_eq!(res.status().as_u16(), 400);
        let csv = web
            .get("/analytics.csv?group_by=app")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("{slug},"))),
            "{csv}"
        );
    }
}

/// A refund waits for approval and an admin approves it: `approval_requested` when the gate
/// parks it, `approval_decided` (`approved`, with the stored request → decision latency) when
/// the run applies the decision.
#[tokio::test]
async fn approvals_are_recorded_with_their_latency() {
    let t = TestApp::spawn().await;
    let (d, action, approval) = t.pending_refund(0).await;
    let conv = d.conversation_id.clone();
    let events = t
        .platform
        .store
        .reporting_events_for_conversation(&conv)
        .await
        .unwrap();
    let requested: Vec<_> = events
        .iter()
        .filter(|e| e.kind == K::ApprovalRequested)
        .collect();
    assert_eq!(requested.len(), 1, "{events:?}");
    assert_eq!(requested[0].id, format!("approval_requested:{}", action.id));
    t.approve_as_admin(&d.event_id, &approval, WAIT).await;
    let events = t
        .platform
        .store
        .reporting_events_for_conversation(&conv)
        .await
        .unwrap();
    let decided: Vec<_> = events
        .iter()
        .filter(|e| e.kind == K::ApprovalDecided)
        .collect();
    assert_eq!(decided.len(), 1, "{events:?}");
    let stored = t
        .platform
        .store
        .approval_for_action(&action.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decided[0].reason.as_deref(), Some("approved"));
    assert_eq!(
        decided[0].value,
        Some(stored.decided_at.unwrap() - stored.created_at)
    );
}

/// Business hours from the app's SLA schedule (Berlin, Mon–Fri 09:00–17:00; November is UTC+1),
/// over a weekend before the demo's month: a message on Friday 30 October 2026 at 16:00, the
/// first reply on Monday 2 November at 10:00 (66 h; in business hours 1 h + 1 h), archived
/// that Monday at 15:30 (71.5 h; 1 h + 6.5 h).
#[tokio::test]
async fn business_hours_come_from_the_apps_schedule() {
    use support_core::analytics::{ReportingEvent, histogram::Histogram};
    use support_core::sla::{Day, Hours, Schedule, SlaPolicy, Target, admin};
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    for t in TestApp::each_backend().await {
        let slug = t.demo.apps[0].slug.to_string();
        let store = t.platform.store.as_ref();
        let office = Schedule {
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
            holidays: vec![],
            updated_at: 0,
            updated_by: String::new(),
        };
        admin::put_schedule(store, office, "test", 0).await.unwrap();
        let target = Target {
            minutes: 240,
            business_hours: true,
            warn_before_minutes: 0,
        };
        let policy = SlaPolicy {
            app: slug.clone(),
            id: "office-hours".into(),
            name: "Office hours".into(),
            position: 0,
            conditions: Default::default(),
            first_reply: Some(target),
            next_reply: None,
            resolution: None,
            schedule: Some("office".into()),
            pause_when_waiting: true,
            updated_at: 0,
            updated_by: String::new(),
        };
        admin::put_policy(store, policy, "test", 0).await.unwrap();

        let day = |d: &str| support_core::analytics::parse_day(d).unwrap() * 86_400_000;
        let msg = day("2026-10-30") + 15 * HOUR;
        let reply = day("2026-11-02") + 9 * HOUR;
        let done = day("2026-11-02") + 14 * HOUR + 30 * MIN;
        for (id, kind, at) in [
            ("bh:fr", K::FirstReply, reply),
            ("bh:res", K::Resolved, done),
        ] {
            let e = ReportingEvent::new(id, kind, slug.clone(), "billing", "cnv_bh", at)
                .value(at - msg);
            store.insert_reporting_event(&e).await.unwrap();
        }
        let viewer = t.token("bh-viewer", Role::Viewer).await;
        let q = format!("/api/v1/analytics?from=2026-10-30&to=2026-11-02&app={slug}");
        let v: serde_json::Value = t
            .client
            .get(t.url(&q))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let read = |ms: i64| {
            let mut h = Histogram::default();
            h.add(ms);
            json!(h.quantile(0.5).unwrap())
        };
        let m = &v["total"];
        assert_eq!(m["first_reply_p50_ms"], read(66 * HOUR), "{v}");
        assert_eq!(m["first_reply_business_p50_ms"], read(2 * HOUR), "{v}");
        assert_eq!(m["first_reply_business_p95_ms"], read(2 * HOUR), "{v}");
        assert_eq!(m["resolution_p50_ms"], read(71 * HOUR + 30 * MIN), "{v}");
        assert_eq!(
            m["resolution_business_p50_ms"],
            read(7 * HOUR + 30 * MIN),
            "{v}"
        );
        assert!(
            v["definitions"]["first_reply_business"]["definition"]
                .as_str()
                .unwrap()
                .contains("business schedule")
        );
        let csv = t
            .client
            .get(t.url(&format!("{q}&format=csv")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let header = csv.lines().next().unwrap();
        assert!(
            header.ends_with(
                "first_reply_business_p50_ms,first_reply_business_p95_ms,\
                 resolution_business_p50_ms,resolution_business_p95_ms"
            ),
            "{header}"
        );
        t.shutdown().await.unwrap();
    }
}
