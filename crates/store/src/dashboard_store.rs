//! `impl DashboardStore for Db`: drafts, the conversation list (keyset pages on
//! `(updated_at, id)`, SQL assembled from the filters present so each one can use its index:
//! `conversations_*_recent` of migration `20261206000200`), the detail of one conversation in a
//! fixed number of queries, and the overview's counts.
//!
//! SQL is assembled from constant fragments and numbered placeholders only; every value is
//! bound.

use crate::rows::{self, corrupt};
use crate::store_impl::placeholders;
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::pipeline::router::RouteAction;
use support_core::store::*;
use support_core::time::Millis;

type R<T> = StoreResult<T>;

const CONV_COLS: &str = "id, front_id, app, customer_email, subject, status, escalation, escalation_reason, assignee, sla_due_at, created_at, updated_at, route_action, route_category, route_flags";
const MESSAGE_COLS: &str =
    "id, front_id, conversation_id, direction, author, body, raw_body, sent_at, purged_at";
const DRAFT_COLS: &str = "id, conversation_id, app, run_id, front_draft_id, body_text, body_html, knowledge_sources, created_at, sent_text, sent_at";
const AUDIT_COLS: &str =
    "seq, at, kind, app, conversation_id, actor, trace_id, data, prev_hash, hash";
const DEAD_COLS: &str = "id, kind, ref_id, error, payload, created_at, resolved_at";
const RUN_COLS: &str = "id, function_id, status, attempt, error, created_at, started_at, ended_at";

/// The biggest page of the list.
const MAX_PAGE: i64 = 200;

#[derive(Debug, Clone)]
enum Bind {
    I(i64),
    S(String),
}

/// Conditions with `$n` placeholders and their values, in order.
#[derive(Default)]
struct Where {
    conds: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    /// `template` with each `?` standing for the next placeholder.
    fn push(&mut self, template: &str, values: Vec<Bind>) {
        let mut out = String::new();
        let mut n = self.binds.len() + 1;
        for ch in template.chars() {
            if ch == '?' {
                out.push_str(&format!("${n}"));
                n += 1;
            } else {
                out.push(ch);
            }
        }
        self.conds.push(out);
        self.binds.extend(values);
    }

    fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conds.join(" AND "))
        }
    }

    fn placeholder(&self) -> String {
        format!("${}", self.binds.len() + 1)
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::I(i) => q.bind(*i),
            Bind::S(s) => q.bind(s.clone()),
        };
    }
    q
}

fn flags_text(flags: &[String]) -> Option<String> {
    (!flags.is_empty()).then(|| format!(",{},", flags.join(",")))
}

fn route_of(row: &AnyRow) -> R<Option<RouteSummary>> {
    let action: Option<String> = row.try_get("route_action").map_err(corrupt)?;
    let category: Option<String> = row.try_get("route_category").map_err(corrupt)?;
    let flags: Option<String> = row.try_get("route_flags").map_err(corrupt)?;
    let action = action
        .map(|a| {
            RouteAction::parse(&a)
                .ok_or_else(|| corrupt(format!("column route_action: unknown route action {a:?}")))
        })
        .transpose()?;
    Ok(action.map(|action| RouteSummary {
        action,
        category: category.unwrap_or_default(),
        flags: flags
            .unwrap_or_default()
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

fn summary(row: &AnyRow) -> R<ConversationSummary> {
    Ok(ConversationSummary {
        conversation: rows::conversation(row)?,
        route: route_of(row)?,
    })
}

fn draft(row: &AnyRow) -> R<DraftRow> {
    let sources: String = row.try_get("knowledge_sources").map_err(corrupt)?;
    Ok(DraftRow {
        id: row.try_get("id").map_err(corrupt)?,
        conversation_id: row.try_get("conversation_id").map_err(corrupt)?,
        app: row.try_get("app").map_err(corrupt)?,
        run_id: row.try_get("run_id").map_err(corrupt)?,
        front_draft_id: row.try_get("front_draft_id").map_err(corrupt)?,
        text: row.try_get("body_text").map_err(corrupt)?,
        html: row.try_get("body_html").map_err(corrupt)?,
        knowledge_sources: serde_json::from_str(&sources).map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        sent_text: row.try_get("sent_text").map_err(corrupt)?,
        sent_at: row.try_get("sent_at").map_err(corrupt)?,
    })
}

fn run(row: &AnyRow) -> R<RunSummary> {
    Ok(RunSummary {
        id: row.try_get("id").map_err(corrupt)?,
        function_id: row.try_get("function_id").map_err(corrupt)?,
        status: rows::parsed(row, "status", RunStatus::parse)?,
        attempt: row.try_get("attempt").map_err(corrupt)?,
        error: row.try_get("error").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        started_at: row.try_get("started_at").map_err(corrupt)?,
        ended_at: row.try_get("ended_at").map_err(corrupt)?,
    })
}

fn step(row: &AnyRow) -> R<RunStepRow> {
    let error: Option<String> = row.try_get("error").map_err(corrupt)?;
    Ok(RunStepRow {
        run_id: row.try_get("run_id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        kind: rows::parsed(row, "kind", StepKind::parse)?,
        status: rows::parsed(row, "status", StepStatus::parse)?,
        attempt: row.try_get("attempt").map_err(corrupt)?,
        started_at: row.try_get("started_at").map_err(corrupt)?,
        ended_at: row.try_get("ended_at").map_err(corrupt)?,
        error: error.map(|e| serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))),
    })
}

fn cursor_of(c: &ConversationRow, newer: bool) -> PageCursor {
    if newer {
        PageCursor::Newer {
            updated_at: c.updated_at,
            id: c.id.clone(),
        }
    } else {
        PageCursor::Older {
            updated_at: c.updated_at,
            id: c.id.clone(),
        }
    }
}

impl Db {
    async fn count(&self, sql: &str, binds: &[Bind]) -> R<i64> {
        let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), binds);
        let row = q.fetch_one(&self.read).await.map_err(backend_err)?;
        row.try_get::<i64, _>(0).map_err(corrupt)
    }
}

#[async_trait]
impl DashboardStore for Db {
    async fn insert_draft(&self, d: &DraftRow) -> R<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO drafts ({DRAFT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (run_id) DO NOTHING"
        )))
        .bind(&d.id)
        .bind(&d.conversation_id)
        .bind(&d.app)
        .bind(&d.run_id)
        .bind(&d.front_draft_id)
        .bind(&d.text)
        .bind(&d.html)
        .bind(d.knowledge_sources.to_string())
        .bind(d.created_at)
        .bind(&d.sent_text)
        .bind(d.sent_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_drafts(&self, conversation_id: &str) -> R<Vec<DraftRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAFT_COLS} FROM drafts WHERE conversation_id = $1 ORDER BY created_at, id"
        )))
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(draft)
        .collect()
    }

    async fn set_draft_sent(&self, run_id: &str, text: &str, at: Millis) -> R<bool> {
        let done = sqlx::query("UPDATE drafts SET sent_text = $2, sent_at = $3 WHERE run_id = $1")
            .bind(run_id)
            .bind(text)
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_conversation_route(&self, front_id: &str, route: &RouteSummary) -> R<()> {
        sqlx::query(
            "UPDATE conversations SET route_action = $2, route_category = $3, route_flags = $4 \
             WHERE front_id = $1",
        )
        .bind(front_id)
        .bind(route.action.as_str())
        .bind(&route.category)
        .bind(flags_text(&route.flags))
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn conversation_page(&self, f: &ConversationFilter) -> R<ConversationPage> {
        let limit = f.limit.clamp(1, MAX_PAGE);
        let mut w = Where::default();
        let s = |v: &str| vec![Bind::S(v.to_string())];
        if let Some(app) = &f.app {
            w.push("app = ?", s(app));
        }
        if let Some(status) = &f.status {
            w.push("status = ?", s(status));
        }
        if let Some(action) = &f.route_action {
            w.push("route_action = ?", s(action));
        }
        if let Some(category) = &f.category {
            w.push("route_category = ?", s(category));
        }
        match f.escalation.as_deref() {
            None => {}
            Some("any") => w.push("escalation IS NOT NULL", vec![]),
            Some("none") => w.push("escalation IS NULL", vec![]),
            Some(tag) => w.push("escalation = ?", s(tag)),
        }
        if let Some(flag) = &f.flag {
            w.push("route_flags LIKE ?", s(&format!("%,{flag},%")));
        }
        if let Some(from) = f.from {
            w.push("updated_at >= ?", vec![Bind::I(from)]);
        }
        if let Some(to) = f.to {
            w.push("updated_at < ?", vec![Bind::I(to)]);
        }
        if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            if q.contains('@') {
                w.push("customer_email = ?", s(&q.to_lowercase()));
            } else {
                // A substring of the subject: LIKE's wildcards in the text are matched literally.
                let escaped = q
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                w.push(
                    "LOWER(subject) LIKE ? ESCAPE '\\'",
                    s(&format!("%{}%", escaped.to_lowercase())),
                );
            }
        }
        let newer = matches!(f.cursor, Some(PageCursor::Newer { .. }));
        match &f.cursor {
            None => {}
            Some(PageCursor::Older { updated_at, id }) => w.push(
                "(updated_at, id) < (?, ?)",
                vec![Bind::I(*updated_at), Bind::S(id.clone())],
            ),
            Some(PageCursor::Newer { updated_at, id }) => w.push(
                "(updated_at, id) > (?, ?)",
                vec![Bind::I(*updated_at), Bind::S(id.clone())],
            ),
        }
        let order = if newer {
            "updated_at ASC, id ASC"
        } else {
            "updated_at DESC, id DESC"
        };
        let sql = format!(
            "SELECT {CONV_COLS} FROM conversations {} ORDER BY {order} LIMIT {}",
            w.sql(),
            w.placeholder()
        );
        let q = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &w.binds).bind(limit + 1);
        let rows = q.fetch_all(&self.read).await.map_err(backend_err)?;
        let mut items = rows.iter().map(summary).collect::<R<Vec<_>>>()?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        if newer {
            items.reverse();
        }
        let first = items.first().map(|i| &i.conversation);
        let last = items.last().map(|i| &i.conversation);
        let (newer_cursor, older_cursor) = if newer {
            (
                first.filter(|_| more).map(|c| cursor_of(c, true)),
                last.map(|c| cursor_of(c, false)),
            )
        } else {
            (
                first
                    .filter(|_| f.cursor.is_some())
                    .map(|c| cursor_of(c, true)),
                last.filter(|_| more).map(|c| cursor_of(c, false)),
            )
        };
        // A page reached by "Newer" that came back empty: offer the way back.
        let (newer_cursor, older_cursor) = match (&f.cursor, items.is_empty()) {
            (Some(PageCursor::Newer { updated_at, id }), true) => (
                None,
                Some(PageCursor::Older {
                    updated_at: *updated_at + 1,
                    id: id.clone(),
                }),
            ),
            _ => (newer_cursor, older_cursor),
        };
        Ok(ConversationPage {
            items,
            newer: newer_cursor,
            older: older_cursor,
        })
    }

    async fn conversation_detail(&self, front_id: &str) -> R<ConversationDetail> {
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONV_COLS} FROM conversations WHERE front_id = $1"
        )))
        .bind(front_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        else {
            return Ok(ConversationDetail::default());
        };
        let summary = summary(&row)?;
        let messages = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE conversation_id = $1 ORDER BY sent_at, id"
        )))
        .bind(front_id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::message)
        .collect::<R<Vec<_>>>()?;
        let drafts = self.list_drafts(front_id).await?;
        let actions = ApprovalStore::list_actions(self, front_id).await?;
        let approvals = ApprovalStore::approvals_for_conversation(self, front_id).await?;
        let mut audit = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2"
        )))
        .bind(front_id)
        .bind(DETAIL_AUDIT_LIMIT)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(rows::audit)
        .collect::<R<Vec<_>>>()?;
        audit.reverse();

        // The runs: named by the audit entries (their trace id) and the drafts, newest first.
        let mut run_ids: Vec<String> = Vec::new();
        let named = audit
            .iter()
            .rev()
            .filter_map(|a| a.trace_id.clone())
            .chain(drafts.iter().rev().map(|d| d.run_id.clone()));
        for id in named {
            if !run_ids.contains(&id) && run_ids.len() < DETAIL_RUN_LIMIT {
                run_ids.push(id);
            }
        }
        let mut refs: Vec<String> = actions.iter().map(|a| a.id.clone()).collect();
        refs.extend(run_ids.iter().cloned());
        let (runs, steps) = if run_ids.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLS} FROM steps_runs WHERE id IN ({}) ORDER BY created_at DESC, id DESC",
                placeholders(1, run_ids.len())
            )));
            for id in &run_ids {
                q = q.bind(id.clone());
            }
            let runs = q
                .fetch_all(&self.read)
                .await
                .map_err(backend_err)?
                .iter()
                .map(run)
                .collect::<R<Vec<_>>>()?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT run_id, name, kind, status, attempt, started_at, ended_at, \
                 CASE WHEN status = 'completed' THEN NULL ELSE result END AS error \
                 FROM steps_steps WHERE run_id IN ({}) ORDER BY run_id, started_at, name",
                placeholders(1, run_ids.len())
            )));
            for id in &run_ids {
                q = q.bind(id.clone());
            }
            let steps = q
                .fetch_all(&self.read)
                .await
                .map_err(backend_err)?
                .iter()
                .map(step)
                .collect::<R<Vec<_>>>()?;
            (runs, steps)
        };
        let dead_letters = if refs.is_empty() {
            Vec::new()
        } else {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DEAD_COLS} FROM dead_letters WHERE ref_id IN ({}) ORDER BY created_at, id",
                placeholders(1, refs.len())
            )));
            for r in &refs {
                q = q.bind(r.clone());
            }
            q.fetch_all(&self.read)
                .await
                .map_err(backend_err)?
                .iter()
                .map(rows::dead_letter)
                .collect::<R<Vec<_>>>()?
        };
        Ok(ConversationDetail {
            conversation: Some(summary.conversation),
            route: summary.route,
            messages,
            drafts,
            actions,
            approvals,
            dead_letters,
            audit,
            runs,
            steps,
        })
    }

    async fn overview_counts(
        &self,
        day_starts: &[Millis],
        failed_since: Millis,
    ) -> R<OverviewCounts> {
        let pending_approvals = self
            .count(
                "SELECT COUNT(*) FROM approvals WHERE status = 'pending'",
                &[],
            )
            .await?;
        // The open statuses are listed (not `NOT IN` the closed ones) so that both columns are
        // equalities and SQLite, like Postgres, counts from `conversations_escalation_status`
        // alone instead of reading every urgent conversation ever from the table (keep the list in
        // step with `ConversationStatus` and the column's CHECK).
        let urgent_escalations = self
            .count(
                "SELECT COUNT(*) FROM conversations WHERE escalation = 'urgent' \
                 AND status IN ('new', 'open', 'pending', 'on_hold')",
                &[],
            )
            .await?;
        let open_dead_letters = self
            .count(
                "SELECT COUNT(*) FROM dead_letters WHERE resolved_at IS NULL",
                &[],
            )
            .await?;
        let failed_runs = self
            .count(
                "SELECT COUNT(*) FROM steps_runs WHERE status = 'failed' AND ended_at >= $1",
                &[Bind::I(failed_since)],
            )
            .await?;
        let retrying_runs = self
            .count(
                "SELECT COUNT(*) FROM steps_runs WHERE status = 'queued' AND attempt > 0",
                &[],
            )
            .await?;
        let mut per_day = Vec::with_capacity(day_starts.len());
        let mut upper: Option<Millis> = None;
        for start in day_starts {
            let n = match upper {
                None => {
                    self.count(
                        "SELECT COUNT(*) FROM conversations WHERE created_at >= $1",
                        &[Bind::I(*start)],
                    )
                    .await?
                }
                Some(end) => {
                    self.count(
                        "SELECT COUNT(*) FROM conversations WHERE created_at >= $1 AND created_at < $2",
                        &[Bind::I(*start), Bind::I(end)],
                    )
                    .await?
                }
            };
            per_day.push(n);
            upper = Some(*start);
        }
        Ok(OverviewCounts {
            pending_approvals,
            urgent_escalations,
            open_dead_letters,
            failed_runs,
            retrying_runs,
            per_day,
        })
    }

    async fn failed_runs(&self, limit: i64) -> R<Vec<RunSummary>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLS} FROM steps_runs WHERE status = 'failed' \
             ORDER BY ended_at DESC, id DESC LIMIT $1"
        )))
        .bind(limit.clamp(1, 100))
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(run)
        .collect()
    }

    async fn latest_audit_of(
        &self,
        kind: &str,
        app: Option<&str>,
        data_contains: Option<&str>,
        scan: i64,
    ) -> R<Option<AuditRecord>> {
        let mut w = Where::default();
        w.push("kind = ?", vec![Bind::S(kind.to_string())]);
        if let Some(app) = app {
            w.push("app = ?", vec![Bind::S(app.to_string())]);
        }
        let inner = format!(
            "SELECT {AUDIT_COLS} FROM audit_log {} ORDER BY seq DESC LIMIT {}",
            w.sql(),
            w.placeholder()
        );
        let mut binds = w.binds.clone();
        binds.push(Bind::I(scan.clamp(1, 100_000)));
        let sql = match data_contains {
            // No data filter: the newest entry's seq straight from `audit_log_kind (kind, seq)`,
            // then that row. (`WHERE kind = $1 ORDER BY seq DESC LIMIT 1` let Postgres' generic
            // plan walk the primary key backwards through every row for a kind that has none:
            // 1.5 s on 5M rows; MAX(seq) is 0.1 ms.)
            None => {
                binds.pop();
                format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE seq = \
                     (SELECT MAX(seq) FROM audit_log {})",
                    w.sql()
                )
            }
            Some(needle) => {
                let n = binds.len() + 1;
                binds.push(Bind::S(format!("%{needle}%")));
                format!(
                    "SELECT {AUDIT_COLS} FROM ({inner}) recent WHERE data LIKE ${n} ORDER BY seq DESC LIMIT 1"
                )
            }
        };
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::audit(&r))
            .transpose()
    }

    async fn sdk_endpoint_health(&self, app: &str) -> R<SdkEndpointHealth> {
        let mut out = SdkEndpointHealth::default();
        for (col, slot) in [
            ("ok_seq", &mut out.success),
            ("failed_seq", &mut out.failure),
        ] {
            *slot = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq = \
                 (SELECT {col} FROM sdk_endpoint_health WHERE app = $1)"
            )))
            .bind(app)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::audit(&r))
            .transpose()?;
        }
        Ok(out)
    }
}
