//! The audit trail: `/audit` (filters by kind, app, actor, conversation and date range in the
//! query string, newest first, cursor by `seq`; every entry with its hash and previous hash),
//! `/audit/verify` (admin: [`support_core::audit::verify`], the same walk as `skill audit
//! verify`: the count, the head and the first broken link), and `/audit/export.jsonl` and
//! `/audit/export.csv` (admin: the filtered range, oldest first, streamed in batches of
//! [`EXPORT_BATCH`] rows from [`support_core::store::AdminStore::audit_export_batch`], never
//! held in memory; each export is audited as `audit.exported`).

use crate::auth::Viewer;
use crate::ui::{
    self, DateField, EmptyState, ErrorPanel, FilterBar, JsonView, Nav, Page, PageAt, PageError,
    PageKeys, Pager, RelTime, Table, TextField,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use support_core::audit::{self, AuditEvent, AuditRecord, ChainError};
use support_core::auth::Role;
use support_core::store::{AuditQuery, SeqCursor, Store};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

/// Rows per page.
const PAGE: i64 = 50;
/// Rows per export batch (one query each).
pub const EXPORT_BATCH: i64 = 500;
/// One day in milliseconds.
const DAY_MS: Millis = 86_400_000;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/audit", get(list))
        .route("/audit/verify", get(verify))
        .route("/audit/export.jsonl", get(export_jsonl))
        .route("/audit/export.csv", get(export_csv))
}

/// `YYYY-MM-DD` as midnight UTC in Unix ms.
pub fn parse_day(s: &str) -> Option<Millis> {
    let date: jiff::civil::Date = s.trim().parse().ok()?;
    let ts: jiff::Timestamp = format!("{date}T00:00:00Z").parse().ok()?;
    Some(ts.as_millisecond())
}

/// The filters of the query string: `kind`, `app`, `actor`, `conversation`, `from` and `to`
/// (days, `to` inclusive). Empty values are no filter; a malformed date is an error.
pub fn audit_query(q: &HashMap<String, String>) -> Result<AuditQuery, String> {
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(200).collect::<String>())
    };
    let day = |k: &str| -> Result<Option<Millis>, String> {
        match text(k) {
            None => Ok(None),
            Some(v) => parse_day(&v)
                .map(Some)
                .ok_or_else(|| format!("{k}: {v:.40} is not a date (YYYY-MM-DD)")),
        }
    };
    Ok(AuditQuery {
        kind: text("kind"),
        app: text("app"),
        actor: text("actor"),
        conversation_id: text("conversation"),
        from: day("from")?,
        to: day("to")?.map(|d| d + DAY_MS),
    })
}

/// The audit list's cursors: `after` (newer rows, one page up) and `before` (older rows).
const KEYS: PageKeys = PageKeys {
    prev: "after",
    next: "before",
};

fn cursor(at: &PageAt) -> SeqCursor {
    let num = |c: &String| c.parse::<i64>().ok();
    match at {
        PageAt::Next(c) => num(c).map_or(SeqCursor::Newest, SeqCursor::Before),
        PageAt::Prev(c) => num(c).map_or(SeqCursor::Newest, SeqCursor::After),
        PageAt::First => SeqCursor::Newest,
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

async fn list(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = now_ms();
    let query: Vec<(String, String)> = {
        let mut v: Vec<(String, String)> = q
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort();
        v
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (kind, app, actor, conv, from, to) = (
        get("kind"),
        get("app"),
        get("actor"),
        get("conversation"),
        get("from"),
        get("to"),
    );
    let filters = view! {
        <FilterBar action="/audit">
            <TextField name="kind" label="Kind" value=kind placeholder="approval.approved"/>
            <TextField name="app" label="App" value=app/>
            <TextField name="actor" label="Actor" value=actor placeholder="user:ann@example.com"/>
            <TextField name="conversation" label="Conversation" value=conv placeholder="cnv_…"/>
            <DateField name="from" label="From" value=from/>
            <DateField name="to" label="To" value=to/>
        </FilterBar>
    };
    // The filters alone, without the page's cursor.
    let filters_only: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "before" && k != "after")
        .cloned()
        .collect();
    let export_links = viewer.can(Role::Admin).then(|| {
        let jsonl = ui::with_query("/audit/export.jsonl", &filters_only, "before", None);
        let csv = ui::with_query("/audit/export.csv", &filters_only, "before", None);
        view! {
            <p class="actions">
                "Export this range: "<a href=jsonl>"JSON lines"</a>" · "<a href=csv>"CSV"</a>
                " · "<a href="/audit/verify">"Verify the chain"</a>
            </p>
        }
    });
    let content = match audit_query(&q) {
        Err(message) => view! { <ErrorPanel code="bad_filter" message=message/> }.into_any(),
        Ok(aq) => {
            let at = KEYS.page_at(&query);
            let c = cursor(&at);
            match p.store.audit_search(&aq, c, PAGE + 1).await {
                Err(e) => super::approvals::section_error(e),
                Ok(rows) if rows.is_empty() && c == SeqCursor::Newest => view! {
                    <EmptyState title="No audit entries match">
                        "Every decision, tool call, approval and admin change is recorded here. Widen the filters, or clear them."
                    </EmptyState>
                }
                .into_any(),
                Ok(rows) => {
                    let (rows, more) = ui::take_page(rows, PAGE as usize, &at);
                    let (newer, older) = ui::pager_links(
                        "/audit",
                        &query,
                        KEYS,
                        &at,
                        rows.first().map(|r| r.seq.to_string()),
                        rows.last().map(|r| r.seq.to_string()),
                        more,
                    );
                    let items = rows.into_iter().map(|r| row(r, now)).collect_view();
                    view! {
                        <Table head=vec!["Seq", "When", "Kind", "App", "Actor", "Conversation", "Data", "Hash / previous"] caption="Audit entries">
                            {items}
                        </Table>
                        <Pager newer=newer older=older/>
                    }
                    .into_any()
                }
            }
        }
    };
    let body = view! {
        {filters}
        {export_links}
        {content}
    };
    ui::render(&p, &viewer, Page::new("Audit trail", Nav::Audit, body)).await
}

fn row(r: AuditRecord, now: Millis) -> impl IntoView + use<> {
    let conv = r.conversation_id.clone().map(|c| {
        let h = format!("/conversations/{c}");
        view! { <a href=h>{c}</a> }
    });
    let kind_href = format!(
        "/audit?{}",
        serde_urlencoded::to_string([("kind", r.kind.as_str())]).unwrap_or_default()
    );
    let hash = short(&r.hash);
    let prev = short(&r.prev_hash);
    view! {
        <tr id=format!("seq-{}", r.seq)>
            <td>{r.seq}</td>
            <td><RelTime at=r.at now=now/></td>
            <td><a href=kind_href>{r.kind.clone()}</a></td>
            <td>{r.app.clone().unwrap_or_default()}</td>
            <td>{r.actor.clone()}</td>
            <td>{conv}</td>
            <td><JsonView value=r.data.clone()/></td>
            <td class="hash">
                <code title=r.hash.clone()>{hash}</code>
                <br/>
                <code class="muted" title=r.prev_hash.clone()>{prev}</code>
            </td>
        </tr>
    }
}

async fn verify(viewer: Viewer, State(p): State<Platform>) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let content = match audit::verify(p.store.as_ref()).await {
        Ok(r) => {
            let since = (r.genesis_seq > 0).then(|| {
                format!(
                    "Rows up to seq {} were archived; the chain starts from their head {}.",
                    r.genesis_seq, r.genesis_hash
                )
            });
            view! {
                <div class="ok-panel" role="status">
                    <strong>"The chain is intact."</strong>
                </div>
                <dl class="facts">
                    <dt>"Rows verified"</dt><dd>{r.rows}</dd>
                    <dt>"Head hash"</dt><dd><code>{r.head_hash}</code></dd>
                </dl>
                {since.map(|s| view! { <p class="muted">{s}</p> })}
            }
            .into_any()
        }
        Err(ChainError::Store(cause)) => {
            let err = PageError::unavailable(cause);
            err.log();
            view! { <ErrorPanel code=err.code message=err.message/> }.into_any()
        }
        Err(e) => {
            let seq = match &e {
                ChainError::Altered { seq }
                | ChainError::Unlinked { seq }
                | ChainError::UnrecordedGenesis { seq } => *seq,
                ChainError::Gap { found, .. } => *found,
                ChainError::Truncated { last_seq, .. } => *last_seq,
                ChainError::Store(_) => 0,
            };
            let head = p.store.audit_head().await.ok();
            let link = format!("/audit?before={}", seq + 1);
            let message = e.to_string();
            view! {
                <ErrorPanel code="audit_chain_broken" message=message/>
                <dl class="facts">
                    <dt>"First broken link"</dt><dd><a href=link>{format!("seq {seq}")}</a></dd>
                    <dt>"Recorded head"</dt>
                    <dd>{head.map(|(s, h)| format!("seq {s}, {h}")).unwrap_or_default()}</dd>
                </dl>
            }
            .into_any()
        }
    };
    let body = view! {
        <p><a href="/audit">"← Audit trail"</a></p>
        <p class="muted">"Every row's hash is recomputed from the recorded genesis and compared with the recorded head, as "<code>"skill audit verify"</code>" does."</p>
        {content}
    };
    ui::render(
        &p,
        &viewer,
        Page::new("Verify the audit chain", Nav::Audit, body),
    )
    .await
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// The CSV header line.
pub const CSV_HEADER: &str =
    "seq,at,at_utc,kind,app,conversation_id,actor,trace_id,data,prev_hash,hash\r\n";

/// One CSV field: quoted when it holds a comma, quote or line break; a cell a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
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

fn csv_line(r: &AuditRecord) -> String {
    let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
    format!(
        "{},{},{},{},{},{},{},{},{},{},{}\r\n",
        r.seq,
        r.at,
        csv_field(&ui::absolute_time(r.at)),
        csv_field(&r.kind),
        opt(&r.app),
        opt(&r.conversation_id),
        csv_field(&r.actor),
        opt(&r.trace_id),
        csv_field(&audit::canonical_json(&r.data)),
        csv_field(&r.prev_hash),
        csv_field(&r.hash),
    )
}

fn encode(format: Format, rows: &[AuditRecord]) -> Bytes {
    let mut out = String::new();
    for r in rows {
        match format {
            Format::Jsonl => {
                out.push_str(&serde_json::to_string(r).unwrap_or_default());
                out.push('\n');
            }
            Format::Csv => out.push_str(&csv_line(r)),
        }
    }
    Bytes::from(out)
}

async fn export_jsonl(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(viewer, p, q, Format::Jsonl).await
}

async fn export_csv(
    viewer: Viewer,
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    export(viewer, p, q, Format::Csv).await
}

/// Where a streamed export is.
struct ExportState {
    store: Arc<dyn Store>,
    query: AuditQuery,
    after: i64,
    format: Format,
    /// The first batch, read before the answer starts (so a failure is a proper error page).
    first: Option<Vec<AuditRecord>>,
    done: bool,
}

async fn export(
    viewer: Viewer,
    p: Platform,
    q: HashMap<String, String>,
    format: Format,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let query = match audit_query(&q) {
        Ok(aq) => aq,
        Err(m) => return PageError::new(StatusCode::BAD_REQUEST, "bad_filter", m).into_response(),
    };
    let first = match p.store.audit_export_batch(&query, 0, EXPORT_BATCH).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).into_response(),
    };
    let ev = AuditEvent::new(
        "audit.exported",
        viewer.actor(),
        json!({"format": format.ext(), "kind": query.kind, "app": query.app, "actor": query.actor,
               "conversation_id": query.conversation_id, "from": query.from, "to": query.to}),
    );
    if let Err(e) = p.store.append_audit(&ev).await {
        return PageError::from(e).into_response();
    }
    let state = ExportState {
        store: p.store.clone(),
        query,
        after: 0,
        format,
        first: Some(first),
        done: false,
    };
    let header = (format == Format::Csv).then(|| Bytes::from_static(CSV_HEADER.as_bytes()));
    let rows = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let batch = match st.first.take() {
            Some(b) => Ok(b),
            None => {
                st.store
                    .audit_export_batch(&st.query, st.after, EXPORT_BATCH)
                    .await
            }
        };
        match batch {
            Ok(rows) => {
                if (rows.len() as i64) < EXPORT_BATCH {
                    st.done = true;
                }
                if let Some(last) = rows.last() {
                    st.after = last.seq;
                }
                if rows.is_empty() {
                    return None;
                }
                let bytes = encode(st.format, &rows);
                Some((Ok::<Bytes, std::io::Error>(bytes), st))
            }
            Err(e) => {
                // The answer has started: cut it off so the file is visibly incomplete.
                tracing::error!(cause = %e, "audit export failed mid-way");
                st.done = true;
                Some((Err(std::io::Error::other(e.to_string())), st))
            }
        }
    });
    let head = futures::stream::iter(header.map(Ok::<Bytes, std::io::Error>));
    use futures::StreamExt as _;
    let body = Body::from_stream(head.chain(rows));
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{}.{}\"",
        now_ms(),
        format.ext()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
