//! Analytics (issue 18): `/analytics?from=&to=&group_by=day|week&app=` (the top bar's app
//! filter applies). A period picker (dates and presets) with the previous period of the same
//! length beside each measure, SVG charts rendered on the server (`ui::chart`: volume against
//! the previous period, draft outcomes and resolutions per day or week, escalations by reason),
//! and the breakdown by app and by category. Each measure's name carries its definition
//! (`core::analytics::DEFINITIONS`) as a tooltip and in the definitions list. `GET
//! /analytics.csv` is the same report as the API's CSV. Works without JavaScript; the figures
//! come from the rollups only, after `analytics::refresh` (see `crate::analytics::load`).

use crate::analytics::{AnalyticsQuery, Range, load, parse_range, to_csv};
use crate::auth::Viewer;
use crate::ui::chart::{Series, bar_chart, line_chart};
use crate::ui::{self, DateField, EmptyState, FilterBar, Nav, Page, PageError, SelectField, Table};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use support_core::analytics::{
    DEFINITIONS, GroupBy, Measures, Report, day_label, definition, summarize,
};
use support_core::auth::Role;
use support_core::time::now_ms;
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/analytics", get(page))
        .route("/analytics.csv", get(csv))
}

fn range_of(viewer: &Viewer, q: &AnalyticsQuery) -> Result<Range, PageError> {
    let mut q = q.clone();
    if q.app.as_deref().is_none_or(str::is_empty) {
        q.app = viewer.app.clone();
    }
    let mut r = parse_range(&q, now_ms()).map_err(PageError::bad_request)?;
    // The page charts over time: by day or week; the breakdowns are their own tables.
    if !matches!(r.group_by, GroupBy::Day | GroupBy::Week) {
        r.group_by = GroupBy::Day;
    }
    Ok(r)
}

async fn csv(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let mut q = q;
    if q.app.as_deref().is_none_or(str::is_empty) {
        q.app = viewer.app.clone();
    }
    let r = parse_range(&q, now_ms()).map_err(PageError::bad_request)?;
    let (report, _) = load(&p, &r).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"analytics-{}-{}.csv\"",
                    report.from, report.to
                ),
            ),
        ],
        to_csv(&report),
    )
        .into_response())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{:.1}%", x * 100.0))
}

/// A duration in ms as people read it (s, min, h, d).
pub fn duration(v: Option<f64>) -> String {
    let Some(ms) = v else {
        return "–".into();
    };
    let s = ms / 1000.0;
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

/// The measures table's rows: (definition key, label, this period, previous period).
fn measure_rows(m: &Measures, prev: &Measures) -> Vec<(&'static str, String, String, String)> {
    let by_reason = |x: &Measures| {
        if x.escalation_rate_by_reason.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = x
            .escalation_rate_by_reason
            .iter()
            .map(|(r, v)| format!("{r} {}", pct(Some(*v))))
            .collect();
        format!(" ({})", parts.join(", "))
    };
    let acceptance = |x: &Measures| {
        format!(
            "{} unchanged · {} edited · {} rewritten (n={})",
            pct(x.draft_unchanged_share),
            pct(x.draft_edited_share),
            pct(x.draft_rewritten_share),
            x.draft_outcomes
        )
    };
    let approvals = |x: &Measures| {
        format!(
            "p50 {} · p95 {} · {} approved, {} rejected, {} expired",
            duration(x.approval_p50_ms),
            duration(x.approval_p95_ms),
            x.approved,
            x.rejected,
            x.expired
        )
    };
    let p50_95 =
        |a: Option<f64>, b: Option<f64>| format!("p50 {} · p95 {}", duration(a), duration(b));
    vec![
        (
            "volume",
            "Volume".into(),
            m.volume.to_string(),
            prev.volume.to_string(),
        ),
        (
            "draft",
            "Time to draft".into(),
            p50_95(m.draft_p50_ms, m.draft_p95_ms),
            p50_95(prev.draft_p50_ms, prev.draft_p95_ms),
        ),
        (
            "first_reply",
            "First reply time".into(),
            p50_95(m.first_reply_p50_ms, m.first_reply_p95_ms),
            p50_95(prev.first_reply_p50_ms, prev.first_reply_p95_ms),
        ),
        (
            "resolution",
            "Resolution time".into(),
            p50_95(m.resolution_p50_ms, m.resolution_p95_ms),
            p50_95(prev.resolution_p50_ms, prev.resolution_p95_ms),
        ),
        (
            "first_reply_business",
            "First reply time (business hours)".into(),
            p50_95(m.first_reply_business_p50_ms, m.first_reply_business_p95_ms),
            p50_95(
                prev.first_reply_business_p50_ms,
                prev.first_reply_business_p95_ms,
            ),
        ),
        (
            "resolution_business",
            "Resolution time (business hours)".into(),
            p50_95(m.resolution_business_p50_ms, m.resolution_business_p95_ms),
            p50_95(
                prev.resolution_business_p50_ms,
                prev.resolution_business_p95_ms,
            ),
        ),
        (
            "human_touch_rate",
            "Human-touch rate".into(),
            pct(m.human_touch_rate),
            pct(prev.human_touch_rate),
        ),
        (
            "automatic_resolution_rate",
            "Automatic resolution rate".into(),
            pct(m.automatic_resolution_rate),
            pct(prev.automatic_resolution_rate),
        ),
        (
            "auto_send_rate",
            "Auto-send rate".into(),
            pct(m.auto_send_rate),
            pct(prev.auto_send_rate),
        ),
        (
            "approval",
            "Approval latency".into(),
            approvals(m),
            approvals(prev),
        ),
        (
            "escalation_rate",
            "Escalation rate".into(),
            format!("{}{}", pct(m.escalation_rate), by_reason(m)),
            format!("{}{}", pct(prev.escalation_rate), by_reason(prev)),
        ),
        (
            "draft_acceptance",
            "Draft acceptance".into(),
            acceptance(m),
            acceptance(prev),
        ),
        (
            "sla_attainment",
            "SLA attainment".into(),
            format!(
                "{} · {} breaches, {} warnings",
                pct(m.sla_attainment),
                m.sla_breaches,
                m.sla_warnings
            ),
            format!(
                "{} · {} breaches",
                pct(prev.sla_attainment),
                prev.sla_breaches
            ),
        ),
    ]
}

fn breakdown_table(caption: &str, first: &'static str, r: &Report) -> AnyView {
    let rows = r
        .groups
        .iter()
        .map(|g| {
            let m = &g.measures;
            view! {
                <tr>
                    <td>{g.key.clone()}</td>
                    <td>{m.volume}</td>
                    <td>{duration(m.draft_p50_ms)}</td>
                    <td>{duration(m.first_reply_p50_ms)}</td>
                    <td>{pct(m.auto_send_rate)}</td>
                    <td>{pct(m.human_touch_rate)}</td>
                    <td>{pct(m.automatic_resolution_rate)}</td>
                    <td>{pct(m.escalation_rate)}</td>
                    <td>{pct(m.draft_unchanged_share)}</td>
                    <td>{pct(m.sla_attainment)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Table
            head=vec![first, "Volume", "Draft p50", "First reply p50", "Auto-send", "Human touch", "Auto resolution", "Escalation", "Unchanged drafts", "SLA"]
            caption=caption.to_string()
        >
            {rows}
        </Table>
    }
    .into_any()
}

async fn page(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let r = range_of(&viewer, &q)?;
    let (report, previous) = load(&p, &r).await?;
    // The previous period by the same grouping, for the comparison line.
    let (pf, pt) = r.previous();
    let rows = p.store.rollups(r.from, r.to, r.app.as_deref()).await?;
    let prev_rows = p.store.rollup_totals(pf, pt, r.app.as_deref()).await?;
    let prev_report = summarize(&prev_rows, pf, pt, r.group_by);
    let by_app = summarize(&rows, r.from, r.to, GroupBy::App);
    let by_category = summarize(&rows, r.from, r.to, GroupBy::Category);

    let labels: Vec<String> = report.groups.iter().map(|g| g.key.clone()).collect();
    let short: Vec<String> = labels
        .iter()
        .map(|l| l.get(5..).unwrap_or(l).to_string())
        .collect();
    let volume = line_chart(
        "Volume: this period and the previous one",
        &short,
        &[
            Series::new(
                "this period",
                report
                    .groups
                    .iter()
                    .map(|g| g.measures.volume as f64)
                    .collect(),
            ),
            Series::new(
                "previous period",
                prev_report
                    .groups
                    .iter()
                    .map(|g| g.measures.volume as f64)
                    .take(labels.len())
                    .collect(),
            ),
        ],
    );
    let resolutions = bar_chart(
        "Resolutions: automatic and with a human",
        &short,
        &[
            Series::new(
                "automatic",
                report
                    .groups
                    .iter()
                    .map(|g| {
                        g.measures.automatic_resolution_rate.unwrap_or(0.0)
                            * g.measures.resolved as f64
                    })
                    .map(f64::round)
                    .collect(),
            ),
            Series::new(
                "human",
                report
                    .groups
                    .iter()
                    .map(|g| {
                        g.measures.human_touch_rate.unwrap_or(0.0) * g.measures.resolved as f64
                    })
                    .map(f64::round)
                    .collect(),
            ),
        ],
    );
    let outcomes = bar_chart(
        "Draft outcomes (shares)",
        &short,
        &[
            Series::new(
                "unchanged",
                report
                    .groups
                    .iter()
                    .map(|g| g.measures.draft_unchanged_share.unwrap_or(0.0))
                    .collect(),
            ),
            Series::new(
                "edited",
                report
                    .groups
                    .iter()
                    .map(|g| g.measures.draft_edited_share.unwrap_or(0.0))
                    .collect(),
            ),
            Series::new(
                "rewritten",
                report
                    .groups
                    .iter()
                    .map(|g| g.measures.draft_rewritten_share.unwrap_or(0.0))
                    .collect(),
            ),
        ],
    );
    let reasons: Vec<(String, f64)> = report
        .total
        .escalation_rate_by_reason
        .iter()
        .map(|(k, v)| (k.clone(), (v * report.total.volume as f64).round()))
        .collect();
    let escalations = bar_chart(
        "Escalations by reason",
        &reasons.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        &[Series::new(
            "escalations",
            reasons.iter().map(|(_, v)| *v).collect(),
        )],
    );

    let measures = measure_rows(&report.total, &previous)
        .into_iter()
        .map(|(key, label, now, before)| {
            let def = definition(key);
            view! {
                <tr class="measure" id=format!("m-{key}")>
                    <th scope="row"><abbr title=def>{label}</abbr></th>
                    <td>{now}</td>
                    <td class="muted">{before}</td>
                </tr>
            }
        })
        .collect_view();
    let definitions = DEFINITIONS
        .iter()
        .map(|(_, name, d)| view! { <dt>{*name}</dt><dd>{*d}</dd> })
        .collect_view();

    let today = support_core::analytics::day_of(now_ms());
    let preset = |days: i64| {
        let mut pairs = vec![
            ("from".to_string(), day_label(today - days + 1)),
            ("to".to_string(), day_label(today)),
        ];
        if let Some(a) = &r.app {
            pairs.push(("app".into(), a.clone()));
        }
        format!(
            "/analytics?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let csv_link = {
        let mut pairs = vec![
            ("from", report.from.clone()),
            ("to", report.to.clone()),
            ("group_by", r.group_by.as_str().to_string()),
        ];
        if let Some(a) = &r.app {
            pairs.push(("app", a.clone()));
        }
        format!(
            "/analytics.csv?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let app_hidden = r
        .app
        .clone()
        .map(|a| view! { <input type="hidden" name="app" value=a/> });
    let empty = report.total.volume == 0 && report.total.resolved == 0 && report.total.replies == 0;
    let charts = if empty {
        view! {
            <EmptyState title="Nothing recorded in this period">
                "Reporting events are written as messages arrive, drafts are written, replies are sent, approvals are decided and conversations are archived; the rollups are refreshed every 10 minutes and when this page loads."
            </EmptyState>
        }
        .into_any()
    } else {
        view! { <div class="charts">{volume}{resolutions}{outcomes}{escalations}</div> }.into_any()
    };
    let period = format!(
        "{} to {} (UTC) compared with {} to {}",
        report.from,
        report.to,
        day_label(pf),
        day_label(pt)
    );
    let body = view! {
        <FilterBar action="/analytics">
            {app_hidden}
            <DateField name="from" label="From" value=report.from.clone()/>
            <DateField name="to" label="To" value=report.to.clone()/>
            <SelectField
                name="group_by"
                label="By"
                options=vec![("day".into(), "Day".into()), ("week".into(), "Week".into())]
                selected=r.group_by.as_str().to_string()
            />
        </FilterBar>
        <nav class="presets" aria-label="Periods">
            <a href=preset(7)>"Last 7 days"</a>
            <a href=preset(30)>"Last 30 days"</a>
            <a href=preset(90)>"Last 90 days"</a>
            <a href=csv_link>"Export CSV"</a>
        </nav>
        <p class="muted" id="period">{period}</p>
        <Table head=vec!["Measure", "This period", "Previous period"] caption="Measures".to_string()>
            {measures}
        </Table>
        <h2>"Charts"</h2>
        {charts}
        <h2>"By app"</h2>
        {breakdown_table("Breakdown by app", "App", &by_app)}
        <h2>"By category"</h2>
        {breakdown_table("Breakdown by category", "Category", &by_category)}
        <details>
            <summary>"Definitions"</summary>
            <dl>{definitions}</dl>
            <p class="muted">"Times are calendar time; business hours are the SLA module's. Percentiles come from daily histograms and are within 9.1% of the exact value."</p>
        </details>
    };
    Ok(ui::render(&p, &viewer, Page::new("Analytics", Nav::Analytics, body)).await)
}
