//! The SVG charts (`support_web::ui::chart`) are byte-stable: the same data renders to the
//! bytes in `tests/snapshots/analytics_charts.html` (regenerate with `UPDATE_SNAPSHOTS=1` and
//! review the diff like code). Labels are escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use support_web::ui::chart::{Series, bar_chart, line_chart};
use support_web::ui::to_html;

fn render() -> String {
    let labels: Vec<String> = ["12-01", "12-02", "12-03", "12-04"]
        .map(String::from)
        .to_vec();
    let line = line_chart(
        "Volume <by day>",
        &labels,
        &[
            Series::new("this period", vec![3.0, 7.0, 0.0, 12.0]),
            Series::new("previous period", vec![5.0, 4.0, 6.0, 2.0]),
        ],
    );
    let stacked = bar_chart(
        "Draft outcomes",
        &labels,
        &[
            Series::new("unchanged", vec![0.5, 0.25, 0.0, 1.0]),
            Series::new("edited", vec![0.25, 0.5, 0.0, 0.0]),
            Series::new("rewritten", vec![0.25, 0.25, 0.0, 0.0]),
        ],
    );
    let bars = bar_chart(
        "Escalations by reason",
        &["needs-human".to_string(), "urgent & \"other\"".to_string()],
        &[Series::new("escalations", vec![4.0, 1.0])],
    );
    format!(
        "{}\n{}\n{}\n",
        to_html(line),
        to_html(stacked),
        to_html(bars)
    )
}

#[test]
fn charts_render_the_same_bytes() {
    let html = render();
    assert_eq!(html, render(), "deterministic");
    assert!(html.contains("Volume &lt;by day&gt;"), "escaped");
    assert!(!html.contains("<by day>"));
    assert!(!html.contains("style="), "no inline styles (CSP)");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/analytics_charts.html");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &html).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("the snapshot (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(
        html, want,
        "the charts changed: review and UPDATE_SNAPSHOTS=1"
    );
}
