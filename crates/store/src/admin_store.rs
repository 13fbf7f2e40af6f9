//! `impl AdminStore for Db`: the admin pages' keyset queries (see
//! `support_core::store::AdminStore` for the indexes they use).
//!
//! SQL is assembled from constant fragments and numbered placeholders only; every value is
//! bound. Date bounds on the audit log are compared as `+at` so that neither database picks
//! `audit_log_at` for the row scan (the date range becomes a `seq` range first).

use crate::rows;
use crate::store_impl::placeholders;
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;
use support_core::time::Millis;

type R<T> = StoreResult<T>;

const AUDIT_COLS: &str =
    "seq, at, kind, app, conversation_id, actor, trace_id, data, prev_hash, hash";
const ACTION_COLS: &str = "id, conversation_id, app, kind, params, category, confidence, reasoning, risk, status, idempotency_key, result, error, trace_id, created_at, updated_at";
const APPROVAL_COLS: &str = "id, action_id, channel, slack_channel, slack_ts, status, decided_by, reason, expires_at, created_at, decided_at, approvers_required, amount_cents, currency, capability, draft";
const DEAD_COLS: &str = "id, kind, ref_id, error, payload, created_at, resolved_at";

/// The most rows one page or batch reads.
const MAX_LIMIT: i64 = 1000;

fn clamp(limit: i64) -> i64 {
    limit.clamp(1, MAX_LIMIT)
}

#[derive(Debug, Clone)]
enum Bind {
    I(i64),
    S(String),
}

/// A `WHERE` clause under construction: conditions with `$n` placeholders and their values.
#[derive(Default)]
struct Where {
    conds: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    /// `template` with `{}` standing for the next placeholder(s).
    fn push(&mut self, template: &str, values: Vec<Bind>) {
        let mut out = String::new();
        let mut parts = template.split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for (n, part) in (self.next()..).zip(parts) {
            out.push_str(&format!("${n}"));
            out.push_str(part);
        }
        self.conds.push(out);
        self.binds.extend(values);
    }

    fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }

    fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &self.binds {
            q = match b {
                Bind::I(i) => q.bind(*i),
                Bind::S(s) => q.bind(s.clone()),
            };
        }
        q
    }
}

/// The keyset condition and `ORDER BY` of a [`ListPage`] over `(col, id)` for a list ordered
/// descending (`desc`) or ascending; `true` when the rows come back reversed (a page before
/// the cursor is read towards it, then turned round).
fn keyset(w: &mut Where, col: &str, desc: bool, page: &ListPage) -> (String, bool) {
    let (forward, back) = if desc {
        ("DESC", "ASC")
    } else {
        ("ASC", "DESC")
    };
    let (c, down) = match page {
        ListPage::First => return (format!("{col} {forward}, id {forward}"), false),
        ListPage::After(c) => (c, true),
        ListPage::Before(c) => (c, false),
    };
    // Further down a descending list is smaller; further up is larger.
    let op = if down == desc { "<" } else { ">" };
    w.push(
        &format!("({col} {op} {{}} OR ({col} = {{}} AND id {op} {{}}))"),
        vec![Bind::I(c.at), Bind::I(c.at), Bind::S(c.id.clone())],
    );
    if down {
        (format!("{col} {forward}, id {forward}"), false)
    } else {
        (format!("{col} {back}, id {back}"), true)
    }
}

impl Db {
    /// The seq of the first row written at or after `at` (by `audit_log_at`).
    async fn first_seq_at(&self, at: Millis) -> R<Option<i64>> {
        sqlx::query_scalar::<_, i64>(
            "SELECT seq FROM audit_log WHERE at >= $1 ORDER BY at, seq LIMIT 1",
        )
        .bind(at)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)
    }

    /// The conditions of an audit query; `None` when nothing can match.
    async fn audit_where(&self, q: &AuditQuery) -> R<Option<Where>> {
        let mut w = Where::default();
        if let (Some(from), Some(to)) = (q.from, q.to)
            && from >= to
        {
            return Ok(None);
        }
        if let Some(from) = q.from {
            match self.first_seq_at(from).await? {
                Some(lo) => w.push("seq >= {}", vec![Bind::I(lo)]),
                None => return Ok(None),
            }
            w.push("+at >= {}", vec![Bind::I(from)]);
        }
        if let Some(to) = q.to {
            if let Some(hi) = self.first_seq_at(to).await? {
                w.push("seq < {}", vec![Bind::I(hi)]);
            }
            w.push("+at < {}", vec![Bind::I(to)]);
        }
        for (col, v) in [
            ("kind", &q.kind),
            ("app", &q.app),
            ("actor", &q.actor),
            ("conversation_id", &q.conversation_id),
        ] {
            if let Some(v) = v {
                w.push(&format!("{col} = {{}}"), vec![Bind::S(v.clone())]);
            }
        }
        Ok(Some(w))
    }

    async fn audit_rows(&self, w: &Where, order: &str, limit: i64) -> R<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log{} ORDER BY seq {order} LIMIT {}",
            w.sql(),
            clamp(limit)
        );
        w.query(sql)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::audit)
            .collect()
    }

    async fn approvals_where(&self, w: &Where, order: &str, limit: i64) -> R<Vec<ApprovalRow>> {
        let sql = format!(
            "SELECT {APPROVAL_COLS} FROM approvals{} ORDER BY {order} LIMIT {}",
            w.sql(),
            clamp(limit)
        );
        w.query(sql)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::approval)
            .collect()
    }
}

#[async_trait]
impl AdminStore for Db {
    async fn audit_search(
        &self,
        q: &AuditQuery,
        cursor: SeqCursor,
        limit: i64,
    ) -> R<Vec<AuditRecord>> {
        let Some(mut w) = self.audit_where(q).await? else {
            return Ok(Vec::new());
        };
        match cursor {
            SeqCursor::Newest => self.audit_rows(&w, "DESC", limit).await,
            SeqCursor::Before(seq) => {
                w.push("seq < {}", vec![Bind::I(seq)]);
                self.audit_rows(&w, "DESC", limit).await
            }
            SeqCursor::After(seq) => {
                w.push("seq > {}", vec![Bind::I(seq)]);
                let mut rows = self.audit_rows(&w, "ASC", limit).await?;
                rows.reverse();
                Ok(rows)
            }
        }
    }

    async fn audit_export_batch(
        &self,
        q: &AuditQuery,
        after_seq: i64,
        limit: i64,
    ) -> R<Vec<AuditRecord>> {
        let Some(mut w) = self.audit_where(q).await? else {
            return Ok(Vec::new());
        };
        w.push("seq > {}", vec![Bind::I(after_seq)]);
        self.audit_rows(&w, "ASC", limit).await
    }

    async fn pending_approvals_page(
        &self,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> R<Vec<ApprovalRow>> {
        self.approvals_list(&ApprovalsQuery {
            decided: false,
            app: None,
            page: after.map_or(ListPage::First, |c| ListPage::After(c.clone())),
            limit,
        })
        .await
    }

    async fn decided_approvals_page(
        &self,
        before: Option<&TimeCursor>,
        limit: i64,
    ) -> R<Vec<ApprovalRow>> {
        self.approvals_list(&ApprovalsQuery {
            decided: true,
            app: None,
            page: before.map_or(ListPage::First, |c| ListPage::After(c.clone())),
            limit,
        })
        .await
    }

    async fn approvals_list(&self, q: &ApprovalsQuery) -> R<Vec<ApprovalRow>> {
        let mut w = Where::default();
        let col = if q.decided {
            w.conds.push("decided_at IS NOT NULL".into());
            w.push("status <> {}", vec![Bind::S("pending".into())]);
            "decided_at"
        } else {
            w.push("status = {}", vec![Bind::S("pending".into())]);
            "created_at"
        };
        if let Some(app) = &q.app {
            // Walks the queue's index and looks each action up by its key.
            w.push(
                "EXISTS (SELECT 1 FROM actions a WHERE a.id = approvals.action_id AND a.app = {})",
                vec![Bind::S(app.clone())],
            );
        }
        let (order, reversed) = keyset(&mut w, col, q.decided, &q.page);
        let mut rows = self.approvals_where(&w, &order, q.limit).await?;
        if reversed {
            rows.reverse();
        }
        Ok(rows)
    }

    async fn actions_by_ids(&self, ids: &[String]) -> R<Vec<ActionRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &ids[..ids.len().min(MAX_LIMIT as usize)];
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTION_COLS} FROM actions WHERE id IN ({})",
            placeholders(1, ids.len())
        )));
        for id in ids {
            q = q.bind(id.clone());
        }
        q.fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::action)
            .collect()
    }

    async fn votes_of_approvals(&self, approval_ids: &[String]) -> R<Vec<ApprovalVote>> {
        if approval_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &approval_ids[..approval_ids.len().min(MAX_LIMIT as usize)];
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT approval_id, approver, user_id, actor, channel, voted_at FROM approval_votes \
             WHERE approval_id IN ({}) ORDER BY voted_at, voter",
            placeholders(1, ids.len())
        )));
        for id in ids {
            q = q.bind(id.clone());
        }
        let rows = q.fetch_all(&self.read).await.map_err(backend_err)?;
        rows.iter().map(rows::approval_vote).collect()
    }

    async fn dead_letters_page(
        &self,
        include_resolved: bool,
        before: Option<&TimeCursor>,
        limit: i64,
    ) -> R<Vec<DeadLetter>> {
        let page = before.map_or(ListPage::First, |c| ListPage::After(c.clone()));
        self.dead_letters_list(include_resolved, &page, limit).await
    }

    async fn dead_letters_list(
        &self,
        include_resolved: bool,
        page: &ListPage,
        limit: i64,
    ) -> R<Vec<DeadLetter>> {
        let mut w = Where::default();
        if !include_resolved {
            w.conds.push("resolved_at IS NULL".into());
        }
        let (order, reversed) = keyset(&mut w, "created_at", true, page);
        let sql = format!(
            "SELECT {DEAD_COLS} FROM dead_letters{} ORDER BY {order} LIMIT {}",
            w.sql(),
            clamp(limit)
        );
        let mut rows = w
            .query(sql)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::dead_letter)
            .collect::<R<Vec<_>>>()?;
        if reversed {
            rows.reverse();
        }
        Ok(rows)
    }
}
