//! `DashboardStore` on SQLite, and on Postgres when `TEST_DATABASE_URL` is set: drafts once per
//! run, the conversation list's filters and keyset pages, the detail in one assembly, and the
//! overview's counts. Rows are written with plain SQL where the dashboard only reads them.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::audit::AuditEvent;
use support_core::pipeline::router::RouteAction;
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

async fn raw(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(db.write_pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Conversation `n` (`cnv_{n:03}`, Front id `fr_{n:03}`).
#[allow(clippy::too_many_arguments)]
async fn conversation(
    db: &Db,
    n: usize,
    app: &str,
    status: &str,
    email: &str,
    subject: &str,
    escalation: Option<&str>,
    updated_at: i64,
) {
    let esc = escalation.map_or("NULL".to_string(), |e| format!("'{e}'"));
    raw(
        db,
        &format!(
            "INSERT INTO conversations (id, front_id, app, customer_email, subject, status, escalation, \
             created_at, updated_at) VALUES ('cnv_{n:03}', 'fr_{n:03}', '{app}', '{email}', '{subject}', \
             '{status}', {esc}, {updated_at}, {updated_at})"
        ),
    )
    .await;
}

fn draft(run: &str, conv: &str, text: &str) -> DraftRow {
    DraftRow {
        id: support_core::ids::new_id("drf"),
        conversation_id: conv.into(),
        app: Some("alpha".into()),
        run_id: run.into(),
        front_draft_id: Some(format!("drf_front_{run}")),
        text: text.into(),
        html: Some(format!("<p>{text}</p>")),
        knowledge_sources: json!([{"document_id": "doc_1"}]),
        created_at: 10,
        sent_text: None,
        sent_at: None,
    }
}

#[tokio::test]
async fn a_draft_is_recorded_once_per_run() {
    each_backend(|db| async move {
        assert!(
            db.insert_draft(&draft("run_1", "fr_1", "Hello"))
                .await
                .unwrap()
        );
        // The same run again (a retried step): nothing new.
        assert!(
            !db.insert_draft(&draft("run_1", "fr_1", "Hello again"))
                .await
                .unwrap()
        );
        assert!(
            db.insert_draft(&draft("run_2", "fr_1", "Second"))
                .await
                .unwrap()
        );
        let drafts = db.list_drafts("fr_1").await.unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!(drafts[0].text, "Hello");
        assert_eq!(drafts[0].html.as_deref(), Some("<p>Hello</p>"));
        assert_eq!(
            drafts[0].knowledge_sources,
            json!([{"document_id": "doc_1"}])
        );
        assert!(db.list_drafts("fr_2").await.unwrap().is_empty());

        assert!(
            db.set_draft_sent("run_2", "Second, edited", 99)
                .await
                .unwrap()
        );
        assert!(!db.set_draft_sent("run_9", "x", 99).await.unwrap());
        let drafts = db.list_drafts("fr_1").await.unwrap();
        assert_eq!(drafts[1].sent_text.as_deref(), Some("Second, edited"));
        assert_eq!(drafts[1].sent_at, Some(99));
    })
    .await;
}

/// 30 conversations: app alpha (even) / beta (odd), one every 10 ms, and pairs sharing a time
/// (so the id breaks ties).
async fn seed_list(db: &Db) {
    for n in 0..30 {
        let app = if n % 2 == 0 { "alpha" } else { "beta" };
        let status = if n % 3 == 0 { "solved" } else { "open" };
        let escalation = match n % 5 {
            0 => Some("urgent"),
            1 => Some("needs-human"),
            _ => None,
        };
        let subject = if n == 7 {
            "Refund 100% please"
        } else {
            "Question"
        };
        let at = 1_000 + (n as i64 / 2) * 10;
        conversation(
            db,
            n,
            app,
            status,
            &format!("c{n}@example.com"),
            subject,
            escalation,
            at,
        )
        .await;
        let flags = if n % 4 == 0 {
            vec!["angry".to_string()]
        } else {
            vec![]
        };
        db.set_conversation_route(
            &format!("fr_{n:03}"),
            &RouteSummary {
                action: if n % 2 == 0 {
                    RouteAction::Respond
                } else {
                    RouteAction::EscalateHuman
                },
                category: if n < 10 { "refund" } else { "access" }.into(),
                flags,
            },
        )
        .await
        .unwrap();
    }
}

fn ids(page: &ConversationPage) -> Vec<String> {
    page.items
        .iter()
        .map(|i| i.conversation.front_id.clone())
        .collect()
}

async fn page(db: &Db, f: ConversationFilter) -> ConversationPage {
    db.conversation_page(&f).await.unwrap()
}

#[tokio::test]
async fn the_list_pages_by_cursor_both_ways_without_gaps() {
    each_backend(|db| async move {
        seed_list(&db).await;
        let mut seen = Vec::new();
        let mut f = ConversationFilter {
            limit: 7,
            ..ConversationFilter::default()
        };
        let first = page(&db, f.clone()).await;
        assert!(first.newer.is_none(), "the first page has nothing newer");
        // Newest first; ties on updated_at broken by id, descending.
        assert_eq!(ids(&first)[..3], ["fr_029", "fr_028", "fr_027"]);
        let mut pages = vec![first.clone()];
        let mut current = first;
        while let Some(older) = current.older.clone() {
            f.cursor = Some(older);
            current = page(&db, f.clone()).await;
            assert!(current.newer.is_some());
            pages.push(current.clone());
        }
        for p in &pages {
            seen.extend(ids(p));
        }
        let expected: Vec<String> = (0..30).rev().map(|n| format!("fr_{n:03}")).collect();
        assert_eq!(seen, expected, "every row once, in order");
        assert_eq!(pages.len(), 5);

        // "Newer" from the third page gives the second page back.
        f.cursor = pages[2].newer.clone();
        let back = page(&db, f.clone()).await;
        assert_eq!(ids(&back), ids(&pages[1]));
        assert!(back.newer.is_some());
        f.cursor = back.newer.clone();
        let top = page(&db, f.clone()).await;
        assert_eq!(ids(&top), ids(&pages[0]));
        assert!(top.newer.is_none(), "back at the top");
    })
    .await;
}

#[tokio::test]
async fn the_list_filters() {
    each_backend(|db| async move {
        seed_list(&db).await;
        let all = |f: ConversationFilter| {
            let db = db.clone();
            async move {
                page(&db, ConversationFilter { limit: 200, ..f })
                    .await
                    .items
            }
        };
        let by_app = all(ConversationFilter {
            app: Some("beta".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_app.len(), 15);
        assert!(
            by_app
                .iter()
                .all(|i| i.conversation.app.as_deref() == Some("beta"))
        );

        let solved = all(ConversationFilter {
            status: Some("solved".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(solved.len(), 10);

        let escalated = all(ConversationFilter {
            route_action: Some("escalate_human".into()),
            category: Some("refund".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(escalated.len(), 5);
        let route = escalated[0].route.clone().unwrap();
        assert_eq!(route.action, "escalate_human");
        assert_eq!(route.category, "refund");

        let urgent = all(ConversationFilter {
            escalation: Some("urgent".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(urgent.len(), 6);
        let any = all(ConversationFilter {
            escalation: Some("any".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(any.len(), 12);
        let none = all(ConversationFilter {
            escalation: Some("none".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(none.len(), 18);

        let angry = all(ConversationFilter {
            flag: Some("angry".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(angry.len(), 8);
        assert_eq!(angry[0].route.clone().unwrap().flags, vec!["angry"]);

        let window = all(ConversationFilter {
            from: Some(1_050),
            to: Some(1_100),
            ..Default::default()
        })
        .await;
        assert_eq!(window.len(), 10, "times 1050..1090, two rows each");

        let by_email = all(ConversationFilter {
            q: Some(" C7@Example.com ".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_email.len(), 1);
        assert_eq!(by_email[0].conversation.front_id, "fr_007");
        // A subject search takes % literally.
        let by_subject = all(ConversationFilter {
            q: Some("100%".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_subject.len(), 1);
        assert_eq!(by_subject[0].conversation.front_id, "fr_007");
        let nothing = all(ConversationFilter {
            q: Some("0%".into()),
            app: Some("alpha".into()),
            ..Default::default()
        })
        .await;
        assert!(nothing.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_detail_is_assembled_from_every_table() {
    each_backend(|db| async move {
        conversation(&db, 1, "alpha", "open", "c@example.com", "Refund", Some("urgent"), 500).await;
        conversation(&db, 2, "alpha", "open", "d@example.com", "Other", None, 600).await;
        db.set_conversation_route(
            "fr_001",
            &RouteSummary {
                action: RouteAction::Respond,
                category: "refund".into(),
                flags: vec!["legal".into(), "angry".into()],
            },
        )
        .await
        .unwrap();
        for (id, conv, at) in [("m1", "fr_001", 1), ("m2", "fr_001", 2), ("m3", "fr_002", 3)] {
            raw(
                &db,
                &format!(
                    "INSERT INTO messages (id, front_id, conversation_id, direction, body, sent_at) \
                     VALUES ('{id}', 'f{id}', '{conv}', 'inbound', '<script>alert(1)</script>', {at})"
                ),
            )
            .await;
        }
        db.insert_draft(&draft("run_a", "fr_001", "Our reply")).await.unwrap();
        raw(
            &db,
            "INSERT INTO actions (id, conversation_id, app, kind, params, risk, status, idempotency_key, \
             created_at, updated_at) VALUES ('act_1', 'fr_001', 'alpha', 'processRefund', '{}', \
             'approval_required', 'pending_approval', 'idem_1', 5, 5)",
        )
        .await;
        raw(
            &db,
            "INSERT INTO approvals (id, action_id, channel, status, expires_at, created_at) \
             VALUES ('apr_1', 'act_1', 'dashboard', 'pending', 99999, 6)",
        )
        .await;
        raw(
            &db,
            "INSERT INTO dead_letters (id, kind, ref_id, error, payload, created_at) \
             VALUES ('dl_1', 'action', 'act_1', 'boom', '{}', 7)",
        )
        .await;
        for (id, status, created) in [("run_a", "waiting", 1), ("run_b", "failed", 2), ("run_x", "completed", 3)] {
            raw(
                &db,
                &format!(
                    "INSERT INTO steps_runs (id, function_id, event, event_id, status, attempt, available_at, \
                     error, created_at, updated_at, started_at, ended_at) VALUES ('{id}', 'support-inbound', '{{}}', \
                     'ev_{id}', '{status}', 1, 0, NULL, {created}, {created}, {created}, {created})"
                ),
            )
            .await;
        }
        raw(
            &db,
            "INSERT INTO steps_steps (run_id, hash, name, kind, status, result, attempt, started_at, ended_at) \
             VALUES ('run_a', 'h1', 'hydrate', 'run', 'completed', '{\"big\":\"snapshot\"}', 0, 10, 20), \
             ('run_a', 'h2', 'route', 'run', 'retrying', '{\"error\":\"Front 503\"}', 2, 21, 30), \
             ('run_x', 'h3', 'hydrate', 'run', 'completed', '{}', 0, 1, 2)",
        )
        .await;
        for (kind, trace) in [("hydrate.completed", "run_a"), ("route.decided", "run_a"), ("tool.called", "run_b")] {
            db.append_audit(
                &AuditEvent::new(kind, "agent", json!({"k": kind}))
                    .app("alpha")
                    .conversation("fr_001")
                    .trace(trace),
            )
            .await
            .unwrap();
        }
        db.append_audit(&AuditEvent::new("other", "agent", json!({})).conversation("fr_002").trace("run_x"))
            .await
            .unwrap();

        let d = db.conversation_detail("fr_001").await.unwrap();
        assert_eq!(d.conversation.as_ref().unwrap().front_id, "fr_001");
        assert_eq!(d.route.as_ref().unwrap().flags, vec!["legal", "angry"]);
        assert_eq!(d.messages.len(), 2);
        assert_eq!(d.messages[0].body.as_deref(), Some("<script>alert(1)</script>"));
        assert_eq!(d.drafts.len(), 1);
        assert_eq!(d.actions.len(), 1);
        assert_eq!(d.actions[0].idempotency_key, "idem_1");
        assert_eq!(d.approvals.len(), 1);
        assert_eq!(d.approvals[0].id, "apr_1");
        assert_eq!(d.dead_letters.len(), 1);
        let kinds: Vec<&str> = d.audit.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["hydrate.completed", "route.decided", "tool.called"]);
        let runs: Vec<&str> = d.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(runs, ["run_b", "run_a"], "its runs only, newest first");
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.steps[0].name, "hydrate");
        assert!(d.steps[0].error.is_none(), "a completed step's result is not read");
        assert_eq!(d.steps[1].status, "retrying");
        assert_eq!(d.steps[1].attempt, 2);
        assert_eq!(d.steps[1].error, Some(json!({"error": "Front 503"})));

        let none = db.conversation_detail("fr_404").await.unwrap();
        assert!(none.conversation.is_none());
    })
    .await;
}

#[tokio::test]
async fn the_overview_counts_what_needs_a_human() {
    each_backend(|db| async move {
        let day = 86_400_000;
        let today = 10 * day;
        conversation(&db, 1, "alpha", "open", "a@x.com", "s", Some("urgent"), today + 5).await;
        conversation(&db, 2, "alpha", "solved", "b@x.com", "s", Some("urgent"), today + 6).await;
        conversation(&db, 3, "alpha", "open", "c@x.com", "s", None, today - day + 1).await;
        conversation(&db, 4, "alpha", "open", "d@x.com", "s", None, today - 3 * day).await;
        conversation(&db, 5, "alpha", "open", "e@x.com", "s", None, today - 30 * day).await;
        raw(
            &db,
            "INSERT INTO actions (id, conversation_id, app, kind, params, risk, status, idempotency_key, \
             created_at, updated_at) VALUES ('act_1', 'fr_001', 'alpha', 'processRefund', '{}', \
             'approval_required', 'pending_approval', 'idem_1', 5, 5)",
        )
        .await;
        raw(
            &db,
            "INSERT INTO approvals (id, action_id, channel, status, expires_at, created_at) \
             VALUES ('apr_1', 'act_1', 'dashboard', 'pending', 99999, 6), \
             ('apr_2', 'act_1', 'dashboard', 'rejected', 99999, 7)",
        )
        .await;
        raw(
            &db,
            "INSERT INTO dead_letters (id, kind, ref_id, error, payload, created_at, resolved_at) \
             VALUES ('dl_1', 'action', 'act_1', 'boom', '{}', 7, NULL), \
             ('dl_2', 'run', 'run_1', 'boom', '{}', 8, 9)",
        )
        .await;
        for (id, status, attempt, ended) in [
            ("run_1", "failed", 4, today - 1),
            ("run_2", "failed", 4, today - 3 * day),
            ("run_3", "queued", 2, 0),
            ("run_4", "queued", 0, 0),
        ] {
            raw(
                &db,
                &format!(
                    "INSERT INTO steps_runs (id, function_id, event, event_id, status, attempt, available_at, \
                     error, created_at, updated_at, ended_at) VALUES ('{id}', 'support-inbound', '{{}}', \
                     'ev_{id}', '{status}', {attempt}, 0, 'Front said 500', 1, 1, {ended})"
                ),
            )
            .await;
        }
        let starts: Vec<i64> = (0..7).map(|i| today - i * day).collect();
        let c = db.overview_counts(&starts, today - day).await.unwrap();
        assert_eq!(c.pending_approvals, 1);
        assert_eq!(c.urgent_escalations, 1, "the solved one does not count");
        assert_eq!(c.open_dead_letters, 1);
        assert_eq!(c.failed_runs, 1, "within the last day");
        assert_eq!(c.retrying_runs, 1);
        assert_eq!(c.per_day, vec![2, 1, 0, 1, 0, 0, 0]);
        let failed = db.failed_runs(10).await.unwrap();
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0].id, "run_1");
        assert_eq!(failed[0].error.as_deref(), Some("Front said 500"));

        for (app, ok) in [("alpha", true), ("alpha", false), ("beta", true), ("alpha", true)] {
            db.append_audit(&AuditEvent::new("tool.called", "agent", json!({"ok": ok})).app(app))
                .await
                .unwrap();
        }
        let last = db.latest_audit_of("tool.called", Some("alpha"), None, 1000).await.unwrap().unwrap();
        assert_eq!(last.seq, 4);
        let err = db
            .latest_audit_of("tool.called", Some("alpha"), Some("\"ok\":false"), 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(err.seq, 2);
        assert!(
            db.latest_audit_of("tool.called", Some("alpha"), Some("\"ok\":false"), 1)
                .await
                .unwrap()
                .is_none(),
            "only the newest `scan` entries are looked at"
        );
        assert!(db.latest_audit_of("tool.called", Some("gamma"), None, 10).await.unwrap().is_none());

        // The stored SDK endpoint health follows the appends, per app and outcome.
        let alpha = db.sdk_endpoint_health("alpha").await.unwrap();
        assert_eq!(alpha.success.map(|r| r.seq), Some(4));
        assert_eq!(alpha.failure.as_ref().map(|r| r.seq), Some(2));
        assert_eq!(alpha.failure.map(|r| r.kind).as_deref(), Some("tool.called"));
        let beta = db.sdk_endpoint_health("beta").await.unwrap();
        assert_eq!((beta.success.map(|r| r.seq), beta.failure), (Some(3), None));
        assert_eq!(db.sdk_endpoint_health("gamma").await.unwrap(), SdkEndpointHealth::default());
        // Other kinds, entries without an app and without a boolean `ok` leave it alone.
        db.append_audit(&AuditEvent::new("route.decided", "agent", json!({"ok": false})).app("beta"))
            .await
            .unwrap();
        db.append_audit(&AuditEvent::new("tool.called", "agent", json!({"ok": false})))
            .await
            .unwrap();
        db.append_audit(&AuditEvent::new("tool.called", "agent", json!({"ok": "no"})).app("beta"))
            .await
            .unwrap();
        assert!(db.sdk_endpoint_health("beta").await.unwrap().failure.is_none());
        db.append_audit(&AuditEvent::new("tool.called", "agent", json!({"ok": false})).app("beta"))
            .await
            .unwrap();
        assert_eq!(db.sdk_endpoint_health("beta").await.unwrap().failure.map(|r| r.seq), Some(8));
    })
    .await;
}
