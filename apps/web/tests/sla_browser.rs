//! The SLA page in a real browser with JavaScript off (`support_testkit::browser`): an admin
//! defines a schedule and a business-hours policy with the page's forms (CSRF, no script), sees
//! both listed, sees a bad time zone refused with its code, and a conversation past its
//! `sla_due_at` in the "at risk" list; on that conversation's page it raises the priority with the
//! SLA section's form (stored on the clock with who set it, audited). Screenshot `sla` under `docs/screenshots/`. Skipped (with
//! `SKIPPED:`) where Chromium is not installed, unless `SUPPORT_REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use support_core::auth::Role;
use support_core::sla::Priority;
use support_core::store::{ConversationRow, ConversationStatus};
use support_core::time::now_ms;
use support_testkit::TestApp;
use support_testkit::browser::Browser;

#[tokio::test]
async fn an_admin_defines_a_schedule_and_a_policy_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let t = TestApp::spawn().await;
    let slug = t.demo.apps[0].slug.to_string();

    // A conversation whose first reply is overdue: it is on the "at risk" list.
    let now = now_ms();
    t.platform
        .store
        .upsert_conversation(&ConversationRow {
            id: "conv_risk".into(),
            front_id: "cnv_risk".into(),
            app: Some(slug.clone()),
            customer_email: None,
            subject: Some("Where is my <b>invoice</b>?".into()),
            status: ConversationStatus::Open,
            escalation: None,
            escalation_reason: None,
            assignee: None,
            sla_due_at: Some(now - 60_000),
            created_at: now - 3_600_000,
            updated_at: now,
        })
        .await
        .unwrap();

    let (user, password) = t.user_with_password(Role::Admin).await;
    b.goto(&t.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;

    b.goto(&t.url("/sla")).await;
    b.wait_for("#schedule-form").await;

    // A time zone that does not exist is refused with its code; nothing is stored.
    b.fill("#s-id", "office").await;
    b.fill("#s-name", "Berlin office").await;
    b.fill("#s-tz", "Mars/Olympus").await;
    b.fill("#s-hours", "mon-fri 09:00-17:00").await;
    b.click("#schedule-form button[type='submit']").await;
    b.wait_for_text("body", "invalid_sla").await;
    assert!(
        t.platform
            .store
            .list_sla_schedules()
            .await
            .unwrap()
            .is_empty()
    );

    b.fill("#s-id", "office").await;
    b.fill("#s-name", "Berlin office").await;
    b.fill("#s-tz", "Europe/Berlin").await;
    b.fill("#s-hours", "mon-fri 09:00-17:00").await;
    b.fill("#s-holidays", "2026-12-25").await;
    b.click("#schedule-form button[type='submit']").await;
    b.wait_for_text("body", "Schedule office saved").await;
    b.wait_for("#schedule-office").await;

    b.fill("#p-app", &slug).await;
    b.fill("#p-id", "urgent").await;
    b.fill("#p-name", "Urgent").await;
    b.click("#prio-high").await;
    b.fill("#p-first", "60").await;
    b.fill("#p-warn", "15").await;
    b.click("#p-bh").await;
    b.click("#p-schedule option[value='office']").await;
    b.click("#policy-form button[type='submit']").await;
    b.wait_for_text("body", "Policy urgent saved").await;
    let row_css = format!("#policy-{slug}-urgent");
    b.wait_for_text(&row_css, "60 min (business hours)").await;

    let stored = t
        .platform
        .store
        .get_sla_policy(&slug, "urgent")
        .await
        .unwrap()
        .expect("the policy");
    assert_eq!(stored.conditions.priority, vec![Priority::High]);
    assert_eq!(stored.schedule.as_deref(), Some("office"));
    let first = stored.first_reply.unwrap();
    assert!(first.business_hours);
    assert_eq!((first.minutes, first.warn_before_minutes), (60, 15));
    assert!(!stored.updated_by.is_empty());

    // Escaped customer text, the breached badge.
    let risk = b.wait_for_text("#risk-cnv_risk", "breached").await;
    assert!(risk.contains("Where is my <b>invoice</b>?"), "{risk}");
    b.screenshot("sla").await;

    // The conversation's page: its SLA section, and the priority form (plain POST, CSRF).
    b.click("#risk-cnv_risk a").await;
    b.wait_for_text("#sla-priority-current", "normal (the route (no clock yet))")
        .await;
    b.click("#sla-priority-value option[value='urgent']").await;
    b.click("#sla-priority button[type='submit']").await;
    b.wait_for_text("body", "Priority set to urgent").await;
    b.wait_for_text("#sla-priority-current", "urgent (set by")
        .await;
    b.close().await;
    let clock = t
        .platform
        .store
        .get_sla_clock("cnv_risk")
        .await
        .unwrap()
        .expect("a clock");
    assert_eq!(clock.priority, Priority::Urgent);
    assert_eq!(clock.priority_set_by, Some(format!("user:{}", user.email)));
    let set = t.audit_of("sla.priority_set").await;
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0]["conversation_id"], "cnv_risk");

    let kinds: Vec<String> = t
        .audit_of("sla.policy_set")
        .await
        .into_iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["sla.policy_set"]);
}
