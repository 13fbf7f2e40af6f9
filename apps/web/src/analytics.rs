//! Analytics in the JSON API (viewer and up): `GET /api/v1/analytics?from=&to=&app=&group_by=`
//! (`day` | `week` | `category` | `app`; days are UTC `YYYY-MM-DD`, both ends included, at most
//! `MAX_RANGE_DAYS`; default the last 30 days by day). JSON, or CSV with `format=csv` or
//! `Accept: text/csv`. The days that got events since the last rollup are rolled up first
//! (`analytics::refresh`), then the report is read from the rollups only
//! (`support_core::analytics::summarize`), with the previous period of the same length.

use crate::api::Caller;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use support_core::analytics::{
    self, DEFINITIONS, GroupBy, MAX_RANGE_DAYS, Measures, Report, day_of, parse_day, summarize,
};
use support_core::auth::Role;
use support_core::time::now_ms;
use support_host::{ApiError, Platform};

pub fn router() -> Router<Platform> {
    Router::new().route("/api/v1/analytics", get(report))
}

/// The query string of the API and of the dashboard page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AnalyticsQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub app: Option<String>,
    pub group_by: Option<String>,
    pub format: Option<String>,
}

/// A validated query: days `from..=to`, the app filter and the grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub app: Option<String>,
    pub group_by: GroupBy,
}

impl Range {
    /// The period of the same length just before.
    pub fn previous(&self) -> (i64, i64) {
        let len = self.to - self.from + 1;
        (self.from - len, self.from - 1)
    }
}

/// Default period: the last 30 days (today included).
pub const DEFAULT_DAYS: i64 = 30;

/// Check a query; a bad one is a message for a `400 bad_request`.
pub fn parse_range(q: &AnalyticsQuery, now: i64) -> Result<Range, String> {
    let blank = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let to = match blank(&q.to) {
        Some(s) => parse_day(&s).ok_or_else(|| format!("to {s:?} is not a date (YYYY-MM-DD)"))?,
        None => day_of(now),
    };
    let from = match blank(&q.from) {
        Some(s) => parse_day(&s).ok_or_else(|| format!("from {s:?} is not a date (YYYY-MM-DD)"))?,
        None => to - (DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err("from is after to".into());
    }
    if to - from + 1 > MAX_RANGE_DAYS {
        return Err(format!("the range is longer than {MAX_RANGE_DAYS} days"));
    }
    let app = blank(&q.app);
    if let Some(a) = &app
        && support_core::AppSlug::parse(a).is_err()
    {
        return Err(format!("app {a:?} is not a valid slug"));
    }
    let group_by = match blank(&q.group_by) {
        Some(g) => GroupBy::parse(&g)
            .ok_or_else(|| format!("group_by {g:?} is not one of day, week, category, app"))?,
        None => GroupBy::Day,
    };
    Ok(Range {
        from,
        to,
        app,
        group_by,
    })
}

/// The report of a range and the total of the previous period, after a refresh of the rollups.
pub async fn load(
    p: &Platform,
    r: &Range,
) -> Result<(Report, Measures), support_core::store::StoreError> {
    analytics::refresh(p.store.as_ref(), now_ms()).await?;
    let (pf, pt) = r.previous();
    // By day or week: one totals row a day (both periods); by category or app: the detailed
    // rows of the period.
    let app = r.app.as_deref();
    let totals = p.store.rollup_totals(pf, r.to, app).await?;
    let report = match r.group_by {
        GroupBy::Day | GroupBy::Week => summarize(&totals, r.from, r.to, r.group_by),
        GroupBy::Category | GroupBy::App => {
            let rows = p.store.rollups(r.from, r.to, app).await?;
            summarize(&rows, r.from, r.to, r.group_by)
        }
    };
    let previous = summarize(&totals, pf, pt, GroupBy::Day).total;
    Ok((report, previous))
}

/// The CSV columns: the group key, then each measure.
pub const CSV_COLUMNS: &[&str] = &[
    "group",
    "volume",
    "draft_p50_ms",
    "draft_p95_ms",
    "first_reply_p50_ms",
    "first_reply_p95_ms",
    "resolution_p50_ms",
    "resolution_p95_ms",
    "resolved",
    "human_touch_rate",
    "automatic_resolution_rate",
    "replies",
    "auto_send_rate",
    "approval_p50_ms",
    "approval_p95_ms",
    "approvals_requested",
    "approved",
    "rejected",
    "expired",
    "escalations",
    "escalation_rate",
    "reopened",
    "draft_outcomes",
    "draft_unchanged_share",
    "draft_edited_share",
    "draft_rewritten_share",
    "sla_attainment",
    "sla_breaches",
    "sla_warnings",
    "first_reply_business_p50_ms",
    "first_reply_business_p95_ms",
    "resolution_business_p50_ms",
    "resolution_business_p95_ms",
];

fn csv_field(s: &str) -> String {
    // A leading =, +, - or @ would be a formula in a spreadsheet.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One CSV line of measures.
fn csv_line(key: &str, m: &Measures) -> String {
    let v = serde_json::to_value(m).unwrap_or_default();
    let mut cells = vec![csv_field(key)];
    for c in &CSV_COLUMNS[1..] {
        cells.push(match &v[*c] {
            serde_json::Value::Null => String::new(),
            x => x.to_string(),
        });
    }
    cells.join(",")
}

/// The report as CSV: a header, one line per group, then `total`.
pub fn to_csv(r: &Report) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for g in &r.groups {
        out.push_str(&csv_line(&g.key, &g.measures));
        out.push('\n');
    }
    out.push_str(&csv_line("total", &r.total));
    out.push('\n');
    out
}

async fn report(
    caller: Caller,
    State(p): State<Platform>,
    headers: HeaderMap,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let range = parse_range(&q, now_ms()).map_err(ApiError::BadRequest)?;
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(f) => {
            return Err(ApiError::BadRequest(format!(
                "format {f:?} is not json or csv"
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let (report, previous) = load(&p, &range).await?;
    if csv {
        return Ok((
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
            .into_response());
    }
    let (pf, pt) = range.previous();
    let definitions: serde_json::Map<String, serde_json::Value> = DEFINITIONS
        .iter()
        .map(|(k, name, d)| ((*k).to_string(), json!({"name": name, "definition": d})))
        .collect();
    Ok(Json(json!({
        "from": report.from,
        "to": report.to,
        "app": range.app,
        "group_by": report.group_by,
        "timezone": "UTC",
        "business_hours": false,
        "total": report.total,
        "groups": report.groups,
        "previous": {"from": analytics::day_label(pf), "to": analytics::day_label(pt), "total": previous},
        "definitions": definitions,
        "percentile_relative_error": analytics::histogram::MAX_RELATIVE_ERROR,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let now = 20_793 * support_core::time::DAY_MS + 5;
        let r = parse_range(&AnalyticsQuery::default(), now).unwrap();
        assert_eq!((r.from, r.to, r.group_by), (20_764, 20_793, GroupBy::Day));
        assert_eq!(r.previous(), (20_734, 20_763));
        let q = |from: &str, to: &str, g: &str| AnalyticsQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            group_by: Some(g.into()),
            ..Default::default()
        };
        assert!(parse_range(&q("2026-12-07", "2026-12-06", "day"), now).is_err());
        assert!(parse_range(&q("2024-01-01", "2026-12-06", "day"), now).is_err());
        assert!(parse_range(&q("2026-12-01", "2026-12-06", "hour"), now).is_err());
        assert!(parse_range(&q("2026-12-1", "2026-12-06", "day"), now).is_err());
        let r = parse_range(&q("2026-12-01", "2026-12-06", "week"), now).unwrap();
        assert_eq!((r.from, r.to, r.group_by), (20_788, 20_793, GroupBy::Week));
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("plain"), "plain");
    }
}
