//! The store layer of `cargo xtask bench-dashboard`: the queries behind each dashboard page,
//! called in-process through the store (`DashboardStore`, `AdminStore`) on the seeded
//! database, one at a time, timed from the call to the decoded rows.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::time::Instant;
use support_core::store::{
    AdminStore, AuditQuery, ConversationFilter, DashboardStore, PageCursor, SeqCursor,
};

/// Rows per page, as the pages ask.
pub const PAGE: i64 = 50;

/// What the pages read, with their parameters.
pub struct Params {
    pub front_ids: Vec<String>,
    /// `[from, to)` of the audit date filter (Unix ms).
    pub audit_range: (i64, i64),
    pub deep_rows: usize,
    pub requests: usize,
}

async fn time<F, Fut, T>(label: &str, example: &str, n: usize, mut f: F) -> Result<Value>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    for i in 0..5 {
        f(i).await?;
    }
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        f(i).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut s = super::summarize(ms);
    s["page"] = json!(label);
    s["example"] = json!(example);
    eprintln!(
        "  store  {label:<40} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms",
        s["p50_ms"].as_f64().unwrap_or(0.0),
        s["p95_ms"].as_f64().unwrap_or(0.0),
        s["p99_ms"].as_f64().unwrap_or(0.0)
    );
    Ok(s)
}

fn page(f: ConversationFilter) -> ConversationFilter {
    ConversationFilter { limit: PAGE, ..f }
}

/// Each page's store calls, `p.requests` times.
pub async fn run(db: &support_store::Db, p: &Params) -> Result<Vec<Value>> {
    let n = p.requests;
    let mut out = Vec::new();
    out.push(
        time(
            "conversations: first page",
            "conversation_page()",
            n,
            |_| async {
                let page = db
                    .conversation_page(&page(ConversationFilter::default()))
                    .await?;
                if page.items.len() != PAGE as usize {
                    bail!("the first page has {} rows", page.items.len());
                }
                Ok(())
            },
        )
        .await?,
    );
    out.push(
        time(
            "overview",
            "overview_counts(7 days) + failed_runs",
            n,
            |_| async {
                let now = support_core::time::now_ms();
                let days: Vec<i64> = (0..7).map(|d| now - d * 86_400_000).collect();
                db.overview_counts(&days, now - 86_400_000).await?;
                db.failed_runs(10).await?;
                Ok(())
            },
        )
        .await?,
    );
    let filtered = || {
        page(ConversationFilter {
            app: Some("tailwind-course".into()),
            status: Some("open".into()),
            ..ConversationFilter::default()
        })
    };
    out.push(
        time(
            "conversations: filtered (app + status)",
            "app=tailwind-course, status=open",
            n,
            |_| async { Ok(db.conversation_page(&filtered()).await?) },
        )
        .await?,
    );
    // The cursor of the page `deep_rows` rows down, reached by "Older" like a user would.
    let mut cursor: Option<PageCursor> = None;
    let mut seen = 0;
    while seen < p.deep_rows {
        let page = db
            .conversation_page(&page(ConversationFilter {
                cursor: cursor.clone(),
                ..ConversationFilter::default()
            }))
            .await?;
        seen += page.items.len();
        cursor = Some(page.older.context("the list ended before 10,000 rows")?);
    }
    let deep = page(ConversationFilter {
        cursor,
        ..ConversationFilter::default()
    });
    out.push(
        time(
            "conversations: 10,000 rows deep (cursor)",
            "conversation_page(older cursor)",
            n,
            |_| async { Ok(db.conversation_page(&deep).await?) },
        )
        .await?,
    );
    out.push(
        time(
            "conversation detail",
            "conversation_detail(random seeded id)",
            n,
            |i| async move {
                let id = &p.front_ids[i % p.front_ids.len()];
                let d = db.conversation_detail(id).await?;
                if d.conversation.is_none() {
                    bail!("{id} not found");
                }
                Ok(())
            },
        )
        .await?,
    );
    let (from, to) = p.audit_range;
    let q = AuditQuery {
        kind: Some("route.decided".into()),
        from: Some(from),
        to: Some(to),
        ..AuditQuery::default()
    };
    out.push(
        time(
            "audit: kind + date range",
            "audit_search(kind=route.decided, 30 days)",
            n,
            |_| async {
                let rows = db.audit_search(&q, SeqCursor::Newest, PAGE).await?;
                if rows.is_empty() {
                    bail!("no audit rows in the range");
                }
                Ok(())
            },
        )
        .await?,
    );
    out.push(
        time(
            "approvals queue",
            "pending + decided pages, their actions and votes",
            n,
            |_| async {
                let mut rows = db.pending_approvals_page(None, PAGE).await?;
                rows.extend(db.decided_approvals_page(None, PAGE).await?);
                let actions: Vec<String> = rows.iter().map(|a| a.action_id.clone()).collect();
                let ids: Vec<String> = rows.iter().map(|a| a.id.clone()).collect();
                db.actions_by_ids(&actions).await?;
                db.votes_of_approvals(&ids).await?;
                Ok(())
            },
        )
        .await?,
    );
    Ok(out)
}
