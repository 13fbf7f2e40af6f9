//! `AdminStore` (the dashboard's approvals, audit and dead-letter queries) on SQLite, and on
//! Postgres when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::audit::AuditEvent;
use support_core::store::*;
use support_store::Db;
use support_testkit::TestDb;

async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        f(t.db.clone()).await;
    }
}

/// 30 rows: kinds alternate a/b/c, apps x/y, actors by i % 5, conversations by i % 3.
async fn seed_audit(db: &Db) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    for i in 0..30 {
        let kind = ["k.a", "k.b", "k.c"][i % 3];
        let ev = AuditEvent::new(kind, format!("user:{}", i % 5), json!({"i": i}))
            .app(["x", "y"][i % 2])
            .conversation(format!("cnv_{}", i % 3));
        out.push(db.append_audit(&ev).await.unwrap());
    }
    out
}

#[tokio::test]
async fn audit_search_filters_pages_and_dates() {
    each_backend(|db| async move {
        let all = seed_audit(&db).await;
        let q = AuditQuery::default();
        let page = db.audit_search(&q, SeqCursor::Newest, 10).await.unwrap();
        let seqs: Vec<i64> = page.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (21..=30).rev().collect::<Vec<_>>(), "newest first");
        let older = db
            .audit_search(&q, SeqCursor::Before(21), 10)
            .await
            .unwrap();
        assert_eq!(older.first().unwrap().seq, 20);
        assert_eq!(older.last().unwrap().seq, 11);
        let newer = db.audit_search(&q, SeqCursor::After(20), 5).await.unwrap();
        let seqs: Vec<i64> = newer.iter().map(|r| r.seq).collect();
        assert_eq!(
            seqs,
            vec![25, 24, 23, 22, 21],
            "the page just above, newest first"
        );

        // Every filter, alone and combined, returns exactly the matching rows.
        let q = AuditQuery {
            kind: Some("k.b".into()),
            app: Some("x".into()),
            ..AuditQuery::default()
        };
        let got = db.audit_search(&q, SeqCursor::Newest, 100).await.unwrap();
        let want: Vec<i64> = all
            .iter()
            .rev()
            .filter(|r| r.kind == "k.b" && r.app.as_deref() == Some("x"))
            .map(|r| r.seq)
            .collect();
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), want);
        assert!(!want.is_empty());
        let q = AuditQuery {
            actor: Some("user:3".into()),
            conversation_id: Some("cnv_0".into()),
            ..AuditQuery::default()
        };
        let got = db.audit_search(&q, SeqCursor::Newest, 100).await.unwrap();
        assert!(!got.is_empty());
        assert!(
            got.iter()
                .all(|r| r.actor == "user:3" && r.conversation_id.as_deref() == Some("cnv_0"))
        );
        assert_eq!(
            got.len(),
            all.iter()
                .filter(|r| r.actor == "user:3" && r.conversation_id.as_deref() == Some("cnv_0"))
                .count()
        );

        // Dates: [from, to).
        let from = all[10].at;
        let q = AuditQuery {
            from: Some(from),
            ..AuditQuery::default()
        };
        let got = db.audit_search(&q, SeqCursor::Newest, 100).await.unwrap();
        assert_eq!(got.len(), all.iter().filter(|r| r.at >= from).count());
        let q = AuditQuery {
            to: Some(from),
            ..AuditQuery::default()
        };
        let got = db.audit_search(&q, SeqCursor::Newest, 100).await.unwrap();
        assert_eq!(got.len(), all.iter().filter(|r| r.at < from).count());
        let future = AuditQuery {
            from: Some(all[29].at + 60_000),
            ..AuditQuery::default()
        };
        assert!(
            db.audit_search(&future, SeqCursor::Newest, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let empty_range = AuditQuery {
            from: Some(5),
            to: Some(5),
            ..AuditQuery::default()
        };
        assert!(
            db.audit_search(&empty_range, SeqCursor::Newest, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // Export batches: oldest first, resuming after the last seq, nothing missed.
        let q = AuditQuery {
            kind: Some("k.a".into()),
            ..AuditQuery::default()
        };
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let batch = db.audit_export_batch(&q, after, 3).await.unwrap();
            if batch.is_empty() {
                break;
            }
            after = batch.last().unwrap().seq;
            seen.extend(batch.into_iter().map(|r| r.seq));
        }
        let want: Vec<i64> = all
            .iter()
            .filter(|r| r.kind == "k.a")
            .map(|r| r.seq)
            .collect();
        assert_eq!(seen, want);
    })
    .await;
}

async fn approval(db: &Db, id: &str, status: &str, created_at: i64, decided_at: Option<i64>) {
    let action: ActionRow = serde_json::from_value(json!({
        "id": format!("act_{id}"), "conversation_id": "cnv_1",
        "app": if id.starts_with('y') { "y" } else { "x" },
        "kind": "processRefund", "params": {"purchaseId": "pur_1", "chargeId": "ch_1"},
        "category": "refund", "confidence": 0.9, "reasoning": "asked",
        "risk": "approval_required", "status": "pending_approval",
        "idempotency_key": format!("key_{id}"), "result": null, "error": null,
        "trace_id": null, "created_at": created_at, "updated_at": created_at
    }))
    .unwrap();
    db.insert_action(&action).await.unwrap();
    let approval: ApprovalRow = serde_json::from_value(json!({
        "id": format!("apr_{id}"), "action_id": format!("act_{id}"), "channel": "dashboard",
        "slack_channel": null, "slack_ts": null, "status": status,
        "decided_by": decided_at.map(|_| "user:a@example.com"), "reason": null,
        "expires_at": 9_000_000_000_000i64, "created_at": created_at, "decided_at": decided_at,
        "approvers_required": 2, "amount_cents": 17900, "currency": "usd",
        "capability": null, "draft": null
    }))
    .unwrap();
    db.insert_approval(&approval).await.unwrap();
}

#[tokio::test]
async fn approvals_queue_pages_pending_then_decided() {
    each_backend(|db| async move {
        for i in 0..5 {
            approval(&db, &format!("p{i}"), "pending", 100 + i, None).await;
        }
        for i in 0..5 {
            let status = ["approved", "rejected", "expired"][i as usize % 3];
            approval(&db, &format!("d{i}"), status, 10 + i, Some(1000 + i)).await;
        }
        let first = db.pending_approvals_page(None, 3).await.unwrap();
        let ids: Vec<&str> = first.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["apr_p0", "apr_p1", "apr_p2"],
            "oldest waiting first"
        );
        let last = first.last().unwrap();
        let cursor = TimeCursor {
            at: last.created_at,
            id: last.id.clone(),
        };
        let rest = db.pending_approvals_page(Some(&cursor), 3).await.unwrap();
        let ids: Vec<&str> = rest.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, vec!["apr_p3", "apr_p4"]);

        let decided = db.decided_approvals_page(None, 3).await.unwrap();
        let ids: Vec<&str> = decided.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["apr_d4", "apr_d3", "apr_d2"],
            "most recently decided first"
        );
        let last = decided.last().unwrap();
        let cursor = TimeCursor {
            at: last.decided_at.unwrap(),
            id: last.id.clone(),
        };
        let rest = db.decided_approvals_page(Some(&cursor), 3).await.unwrap();
        let ids: Vec<&str> = rest.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, vec!["apr_d1", "apr_d0"]);

        // Actions and votes of a page in one query each.
        let actions = db
            .actions_by_ids(&["act_p0".into(), "act_d1".into(), "act_missing".into()])
            .await
            .unwrap();
        let mut ids: Vec<&str> = actions.iter().map(|a| a.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, vec!["act_d1", "act_p0"]);
        assert!(db.actions_by_ids(&[]).await.unwrap().is_empty());
        for (apr, who) in [("apr_p0", "u1"), ("apr_p1", "u2"), ("apr_p0", "u3")] {
            let vote: ApprovalVote = serde_json::from_value(json!({
                "approval_id": apr, "approver": format!("user:{who}"), "user_id": who,
                "actor": format!("user:{who}"), "channel": "dashboard", "voted_at": 5
            }))
            .unwrap();
            assert!(db.add_approval_vote(&vote).await.unwrap());
        }
        let votes = db
            .votes_of_approvals(&["apr_p0".into(), "apr_p2".into()])
            .await
            .unwrap();
        assert_eq!(votes.len(), 2);
        assert!(votes.iter().all(|v| v.approval_id == "apr_p0"));
    })
    .await;
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|r| id(r).to_string()).collect()
}

#[tokio::test]
async fn approvals_list_pages_both_ways_and_filters_by_app() {
    each_backend(|db| async move {
        // Decided d0..d6 (app x) interleaved with y0..y2 (app y); pending p0..p4.
        for i in 0..7 {
            approval(
                &db,
                &format!("d{i}"),
                "approved",
                10 + i,
                Some(1000 + 2 * i),
            )
            .await;
        }
        for i in 0..3 {
            approval(
                &db,
                &format!("y{i}"),
                "rejected",
                10 + i,
                Some(1007 + 2 * i),
            )
            .await;
        }
        for i in 0..5 {
            approval(&db, &format!("p{i}"), "pending", 100 + i, None).await;
        }
        let page = |decided: bool, app: Option<&str>, page: ListPage| ApprovalsQuery {
            decided,
            app: app.map(str::to_string),
            page,
            limit: 3,
        };
        let at = |r: &ApprovalRow, decided: bool| TimeCursor {
            at: if decided {
                r.decided_at.unwrap()
            } else {
                r.created_at
            },
            id: r.id.clone(),
        };
        fn id(a: &ApprovalRow) -> &str {
            a.id.as_str()
        }
        let first = db
            .approvals_list(&page(true, Some("x"), ListPage::First))
            .await
            .unwrap();
        assert_eq!(
            ids(&first, id),
            ["apr_d6", "apr_d5", "apr_d4"],
            "app x only"
        );
        let second = db
            .approvals_list(&page(true, Some("x"), ListPage::After(at(&first[2], true))))
            .await
            .unwrap();
        assert_eq!(ids(&second, id), ["apr_d3", "apr_d2", "apr_d1"]);
        let third = db
            .approvals_list(&page(
                true,
                Some("x"),
                ListPage::After(at(&second[2], true)),
            ))
            .await
            .unwrap();
        assert_eq!(ids(&third, id), ["apr_d0"]);
        // One page up from the third is the second, in the list's order (not the first).
        let back = db
            .approvals_list(&page(
                true,
                Some("x"),
                ListPage::Before(at(&third[0], true)),
            ))
            .await
            .unwrap();
        assert_eq!(back, second);
        let back = db
            .approvals_list(&page(
                true,
                Some("x"),
                ListPage::Before(at(&second[0], true)),
            ))
            .await
            .unwrap();
        assert_eq!(back, first);
        let ys = db
            .approvals_list(&page(true, Some("y"), ListPage::First))
            .await
            .unwrap();
        assert_eq!(ids(&ys, id), ["apr_y2", "apr_y1", "apr_y0"]);
        let all = db
            .approvals_list(&page(true, None, ListPage::First))
            .await
            .unwrap();
        assert_eq!(ids(&all, id), ["apr_d6", "apr_y2", "apr_d5"], "every app");
        // Pending: oldest first, both ways; no pending approval of app y.
        let p1 = db
            .approvals_list(&page(false, None, ListPage::First))
            .await
            .unwrap();
        assert_eq!(ids(&p1, id), ["apr_p0", "apr_p1", "apr_p2"]);
        let p2 = db
            .approvals_list(&page(false, None, ListPage::After(at(&p1[2], false))))
            .await
            .unwrap();
        assert_eq!(ids(&p2, id), ["apr_p3", "apr_p4"]);
        let up = db
            .approvals_list(&page(false, None, ListPage::Before(at(&p2[0], false))))
            .await
            .unwrap();
        assert_eq!(up, p1);
        assert!(
            db.approvals_list(&page(false, Some("y"), ListPage::First))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn dead_letters_page_newest_first() {
    each_backend(|db| async move {
        for i in 0..4 {
            let letter: DeadLetter = serde_json::from_value(json!({
                "id": format!("dl_{i}"), "kind": "action", "ref_id": format!("act_{i}"),
                "error": "boom", "payload": {"i": i}, "created_at": 10 + i, "resolved_at": null
            }))
            .unwrap();
            db.insert_dead_letter(&letter).await.unwrap();
        }
        assert!(db.resolve_dead_letter("dl_3", 99).await.unwrap());
        let open = db.dead_letters_page(false, None, 10).await.unwrap();
        let ids: Vec<&str> = open.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, vec!["dl_2", "dl_1", "dl_0"]);
        let all = db.dead_letters_page(true, None, 2).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, vec!["dl_3", "dl_2"]);
        let cursor = TimeCursor {
            at: all[1].created_at,
            id: all[1].id.clone(),
        };
        let rest = db.dead_letters_page(true, Some(&cursor), 2).await.unwrap();
        let ids: Vec<&str> = rest.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, vec!["dl_1", "dl_0"]);
        // One page up from the last page: the page before it, newest first.
        let cursor = TimeCursor {
            at: rest[0].created_at,
            id: rest[0].id.clone(),
        };
        let up = db
            .dead_letters_list(true, &ListPage::Before(cursor), 2)
            .await
            .unwrap();
        assert_eq!(up, all);
    })
    .await;
}
