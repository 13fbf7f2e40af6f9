//! The Analytics page in a real browser with JavaScript off (`support_testkit::browser`), on the
//! demo data (the harness seeds the demo's month of reporting events): a viewer signs in, opens
//! `/analytics`, sees the charts drawn (inline SVG with points and bars), the measures with their
//! definitions as tooltips and the breakdowns, then picks the 7-day preset and the week grouping
//! through the page's own links and form. Screenshot `analytics` under `docs/screenshots/`.
//! Skipped (with `SKIPPED:`) where Chromium is not installed, unless `SUPPORT_REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use support_core::auth::Role;
use support_testkit::TestApp;
use support_testkit::browser::Browser;

#[tokio::test]
async fn the_analytics_page_draws_the_demo_data_without_javascript() {
    let Some(b) = Browser::start_without_javascript().await else {
        return;
    };
    let t = TestApp::spawn().await;
    let (user, password) = t.user_with_password(Role::Viewer).await;
    b.goto(&t.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;

    b.goto(&t.url("/analytics")).await;
    b.wait_for("figure.chart svg polyline").await;
    assert!(
        b.find_all("figure.chart svg circle").await.len() >= 30,
        "a point per day, 2 series"
    );
    assert!(
        !b.find_all("figure.chart svg rect").await.is_empty(),
        "bars drawn"
    );
    b.wait_for_text("#m-volume", "Volume").await;
    let tip = b
        .wait_for("#m-human_touch_rate abbr")
        .await
        .attr("title")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(tip.contains("over all resolved"), "{tip}");
    let slug = t.demo.apps[0].slug.to_string();
    b.wait_for_text("body", &slug).await;
    b.screenshot("analytics").await;

    b.click("nav.presets a:first-child").await;
    b.wait_for_url("the 7-day preset", |u| u.contains("from="))
        .await;
    b.wait_for("#f-group_by")
        .await
        .select_by_value("week")
        .await
        .unwrap();
    b.click("form.filters button[type='submit']").await;
    b.wait_for_url("grouped by week", |u| u.contains("group_by=week"))
        .await;
    b.wait_for("figure.chart svg polyline").await;
    b.close().await;
}
