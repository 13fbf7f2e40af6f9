//! The store conformance suite: every test runs on SQLite, and on Postgres when
//! `TEST_DATABASE_URL` is set (each test in a brand-new database).
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use serde_json::json;
use std::sync::Arc;
use support_core::audit::{self, AuditEvent, ChainError};
use support_core::auth::Role;
use support_core::pipeline::inbound::Direction;
use support_core::pipeline::tools::{RiskClass, ToolName};
use support_core::store::*;
use support_store::{Backend, Db};
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

fn app(slug: &str, inboxes: &[&str]) -> AppRow {
    AppRow {
        id: support_core::ids::new_id("app"),
        slug: slug.into(),
        name: format!("App {slug}"),
        front_inbox_ids: inboxes.iter().map(|s| s.to_string()).collect(),
        sdk_base_url: "http://127.0.0.1:1/support".into(),
        secrets_enc: "enc:v1:abcd:xyz".into(),
        stripe_account: None,
        policy: json!({"refund_auto_days": 30}),
        capabilities: json!({}),
        status: AppStatus::Connected,
        created_at: 1,
        updated_at: 1,
    }
}

#[tokio::test]
async fn migrations_are_applied_and_ping_works() {
    each_backend(|db| async move {
        db.ping().await.unwrap();
        let st = db.migration_status().await.unwrap();
        assert!(st.up_to_date(), "{st:?}");
        assert!(st.expected >= 1);
        assert_eq!(st.applied, st.expected);
        // Running migrations again is a no-op.
        db.migrate().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn apps_crud_and_inbox_lookup() {
    each_backend(|db| async move {
        let a = app("typescript-course", &["inb_1", "inb_2"]);
        db.insert_app(&a).await.unwrap();
        assert_eq!(
            db.get_app("typescript-course").await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            db.find_app_by_inbox("inb_2").await.unwrap().map(|x| x.slug),
            Some(a.slug.clone())
        );
        assert!(db.find_app_by_inbox("inb_9").await.unwrap().is_none());

        // Duplicate slug: a conflict.
        let dup = app("typescript-course", &["inb_3"]);
        assert!(matches!(
            db.insert_app(&dup).await,
            Err(StoreError::Conflict(_))
        ));
        // An inbox owned by another app: conflict, and nothing half-written.
        let other = app("tailwind-course", &["inb_1"]);
        assert!(matches!(
            db.insert_app(&other).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(db.get_app("tailwind-course").await.unwrap().is_none());

        let mut changed = a.clone();
        changed.front_inbox_ids = vec!["inb_2".into(), "inb_4".into()];
        changed.name = "Typewise".into();
        changed.updated_at = 2;
        db.update_app(&changed).await.unwrap();
        assert!(db.find_app_by_inbox("inb_1").await.unwrap().is_none());
        assert_eq!(
            db.find_app_by_inbox("inb_4").await.unwrap().map(|x| x.name),
            Some("Typewise".into())
        );
        assert!(matches!(
            db.update_app(&app("nope-app", &[])).await,
            Err(StoreError::NotFound(_))
        ));

        db.insert_app(&app("tailwind-course", &["inb_1"]))
            .await
            .unwrap();
        let slugs: Vec<String> = db
            .list_apps()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.slug)
            .collect();
        assert_eq!(slugs, ["tailwind-course", "typescript-course"]);
        assert!(db.delete_app("tailwind-course").await.unwrap());
        assert!(!db.delete_app("tailwind-course").await.unwrap());
        assert!(db.find_app_by_inbox("inb_1").await.unwrap().is_none());
    })
    .await;
}

async fn seed_audit(db: &Db, n: usize) {
    for i in 0..n {
        let ev = AuditEvent::new(
            "tool.called",
            "agent",
            json!({"tool": "lookupUser", "i": i, "args": {"email": "a@example.com"}}),
        )
        .app("typescript-course")
        .conversation(if i % 2 == 0 { "cnv_even" } else { "cnv_odd" })
        .trace(format!("trace-{i}"));
        db.append_audit(&ev).await.unwrap();
    }
}

#[tokio::test]
async fn audit_chain_verifies_and_filters() {
    each_backend(|db| async move {
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(report.rows, 0);
        seed_audit(&db, 7).await;
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(report.rows, 7);
        assert_eq!(
            db.audit_head().await.unwrap(),
            (7, report.head_hash.clone())
        );

        let even = db
            .list_audit(&AuditFilter {
                conversation_id: Some("cnv_even".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(even.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3, 5, 7]);
        let page = db
            .list_audit(&AuditFilter {
                conversation_id: Some("cnv_even".into()),
                after_seq: 3,
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [5]);
        let none = db
            .list_audit(&AuditFilter {
                kind: Some("route.decided".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(even[0].data["args"]["email"], "a@example.com");
    })
    .await;
}

#[tokio::test]
async fn audit_log_rejects_updates_and_deletes() {
    each_backend(|db| async move {
        seed_audit(&db, 2).await;
        for sql in [
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 2",
        ] {
            let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(db.write_pool())
                .await;
            assert!(err.is_err(), "{sql} should be refused");
            assert!(err.unwrap_err().to_string().contains("append-only"));
        }
        assert_eq!(audit::verify(&db).await.unwrap().rows, 2);
    })
    .await;
}

async fn drop_guards(db: &Db) {
    match db.kind() {
        Backend::Sqlite => {
            raw(db, "DROP TRIGGER audit_log_no_update").await;
            raw(db, "DROP TRIGGER audit_log_no_delete").await;
        }
        Backend::Postgres => raw(db, "DROP TRIGGER audit_log_append_only ON audit_log").await,
    }
}

#[tokio::test]
async fn audit_verification_finds_an_edited_row() {
    each_backend(|db| async move {
        seed_audit(&db, 5).await;
        drop_guards(&db).await; // an attacker with database access
        raw(
            &db,
            "UPDATE audit_log SET data = '{\"tool\":\"processRefund\"}' WHERE seq = 3",
        )
        .await;
        assert_eq!(
            audit::verify(&db).await,
            Err(ChainError::Altered { seq: 3 })
        );
    })
    .await;
}

#[tokio::test]
async fn audit_verification_finds_a_deleted_row() {
    each_backend(|db| async move {
        seed_audit(&db, 5).await;
        drop_guards(&db).await;
        raw(&db, "DELETE FROM audit_log WHERE seq = 2").await;
        assert_eq!(
            audit::verify(&db).await,
            Err(ChainError::Gap {
                expected: 2,
                found: 3
            })
        );
    })
    .await;
}

#[tokio::test]
async fn audit_verification_finds_a_deleted_tail_and_a_rechained_row() {
    each_backend(|db| async move {
        seed_audit(&db, 4).await;
        drop_guards(&db).await;
        raw(&db, "DELETE FROM audit_log WHERE seq = 4").await;
        assert_eq!(
            audit::verify(&db).await,
            Err(ChainError::Truncated {
                head_seq: 4,
                last_seq: 3
            })
        );
        // Re-hashing a row consistently with its own contents still breaks the link after it.
        raw(&db, "UPDATE audit_log SET hash = 'f00d' WHERE seq = 2").await;
        assert!(matches!(
            audit::verify(&db).await,
            Err(ChainError::Altered { seq: 2 } | ChainError::Unlinked { seq: 3 })
        ));
    })
    .await;
}

#[tokio::test]
async fn concurrent_audit_appends_form_one_chain() {
    each_backend(|db| async move {
        let db = Arc::new(db);
        let mut tasks = Vec::new();
        for t in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    db.append_audit(&AuditEvent::new(
                        "test.concurrent",
                        format!("task-{t}"),
                        json!({"i": i}),
                    ))
                    .await
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let report = audit::verify(db.as_ref()).await.unwrap();
        assert_eq!(report.rows, 80);
    })
    .await;
}

#[tokio::test]
async fn tokens_users_sessions() {
    each_backend(|db| async move {
        db.insert_user(&user("usr_ci", "ci@example.com", Role::Agent))
            .await
            .unwrap();
        let t = ApiTokenRow {
            id: "tok_1".into(),
            name: "ci".into(),
            role: Role::Agent,
            token_hash: "h1".into(),
            created_at: 5,
            revoked_at: None,
            user_id: "usr_ci".into(),
        };
        db.insert_api_token(&t).await.unwrap();
        assert_eq!(db.find_api_token("h1").await.unwrap(), Some(t.clone()));
        assert!(db.find_api_token("h2").await.unwrap().is_none());
        assert!(db.revoke_api_token("tok_1", 9).await.unwrap());
        assert!(!db.revoke_api_token("tok_1", 10).await.unwrap());
        assert_eq!(
            db.find_api_token("h1")
                .await
                .unwrap()
                .and_then(|t| t.revoked_at),
            Some(9)
        );
        assert_eq!(db.list_api_tokens().await.unwrap().len(), 1);

        let mut u = UserRow {
            id: "usr_1".into(),
            email: "admin@example.com".into(),
            name: None,
            role: Role::Admin,
            password_hash: Some("x".into()),
            slack_user_id: None,
            created_at: 1,
            deactivated_at: None,
        };
        db.upsert_user(&u).await.unwrap();
        u.slack_user_id = Some("U123".into());
        u.id = "usr_other".into(); // the email is the identity; the id stays
        db.upsert_user(&u).await.unwrap();
        let got = db
            .get_user_by_email("admin@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.id, "usr_1");
        assert_eq!(got.slack_user_id.as_deref(), Some("U123"));

        db.insert_session(&SessionRow {
            token_hash: "s1".into(),
            user_id: "usr_1".into(),
            created_at: 1,
            expires_at: 100,
        })
        .await
        .unwrap();
        assert!(db.get_session("s1", 50).await.unwrap().is_some());
        assert!(
            db.get_session("s1", 100).await.unwrap().is_none(),
            "expired sessions are not returned"
        );
        db.delete_session("s1").await.unwrap();
        assert!(db.get_session("s1", 50).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn webhook_receipts_dedupe() {
    each_backend(|db| async move {
        assert!(
            db.record_webhook_receipt("front", "evt_1", 1)
                .await
                .unwrap()
        );
        assert!(
            !db.record_webhook_receipt("front", "evt_1", 2)
                .await
                .unwrap()
        );
        assert!(
            db.record_webhook_receipt("stripe", "evt_1", 2)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys() {
    each_backend(|db| async move {
        assert_eq!(
            db.idempotency_begin("act_1", "refund", 1).await.unwrap(),
            IdempotencyState::Started
        );
        assert_eq!(
            db.idempotency_begin("act_1", "refund", 2).await.unwrap(),
            IdempotencyState::InProgress
        );
        db.idempotency_complete("act_1", &json!({"refund": "re_1"}), 3)
            .await
            .unwrap();
        assert_eq!(
            db.idempotency_begin("act_1", "refund", 4).await.unwrap(),
            IdempotencyState::Completed(json!({"refund": "re_1"}))
        );
        // Abandon only forgets unfinished keys.
        db.idempotency_abandon("act_1").await.unwrap();
        assert!(matches!(
            db.idempotency_begin("act_1", "refund", 5).await.unwrap(),
            IdempotencyState::Completed(_)
        ));
        assert_eq!(
            db.idempotency_begin("act_2", "refund", 1).await.unwrap(),
            IdempotencyState::Started
        );
        db.idempotency_abandon("act_2").await.unwrap();
        assert_eq!(
            db.idempotency_begin("act_2", "refund", 1).await.unwrap(),
            IdempotencyState::Started
        );
        assert!(matches!(
            db.idempotency_complete("act_404", &json!(1), 1).await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn unknown_stored_kinds_are_corrupt_rows_not_panics() {
    each_backend(|db| async move {
        // Columns without a CHECK constraint can hold what no enum names (an older or newer
        // writer, a hand edit): reading them is a `Corrupt` error naming the column.
        raw(
            &db,
            "INSERT INTO dead_letters (id, kind, ref_id, error, payload, created_at) \
             VALUES ('dl_bad', 'bogus', 'run_1', 'e', '{}', 1)",
        )
        .await;
        match db.get_dead_letter("dl_bad").await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("kind"), "{m}"),
            other => panic!("expected a corrupt row, got {other:?}"),
        }
        assert!(matches!(
            db.list_dead_letters(true).await,
            Err(StoreError::Corrupt(_))
        ));
        raw(
            &db,
            "INSERT INTO actions (id, kind, params, risk, status, idempotency_key, created_at, updated_at) \
             VALUES ('act_bad', 'launchRockets', '{}', 'read', 'proposed', 'k_bad', 1, 1)",
        )
        .await;
        match db.get_action("act_bad").await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("launchRockets"), "{m}"),
            other => panic!("expected a corrupt row, got {other:?}"),
        }
        // A vote's channel has no CHECK constraint either.
        raw(
            &db,
            "INSERT INTO approvals (id, action_id, channel, status, expires_at, created_at) \
             VALUES ('apr_bad', 'act_bad', 'dashboard', 'pending', 100, 1)",
        )
        .await;
        raw(
            &db,
            "INSERT INTO approval_votes (approval_id, voter, approver, actor, channel, voted_at) \
             VALUES ('apr_bad', 'x', 'x', 'x', 'carrier-pigeon', 1)",
        )
        .await;
        match db.list_approval_votes("apr_bad").await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("channel"), "{m}"),
            other => panic!("expected a corrupt row, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn dead_letters() {
    each_backend(|db| async move {
        let d = DeadLetter {
            id: "dl_1".into(),
            kind: DeadLetterKind::Run,
            ref_id: "run_1".into(),
            error: "Front 503".into(),
            payload: json!({"a": 1}),
            created_at: 1,
            resolved_at: None,
        };
        db.insert_dead_letter(&d).await.unwrap();
        assert_eq!(db.list_dead_letters(false).await.unwrap(), vec![d.clone()]);
        assert!(db.resolve_dead_letter("dl_1", 2).await.unwrap());
        assert!(!db.resolve_dead_letter("dl_1", 3).await.unwrap());
        assert!(db.list_dead_letters(false).await.unwrap().is_empty());
        assert_eq!(
            db.list_dead_letters(true).await.unwrap()[0].resolved_at,
            Some(2)
        );
        // By id and by what it is about (resolved letters included, oldest first).
        let later = DeadLetter {
            id: "dl_0".into(),
            created_at: 5,
            ..d.clone()
        };
        db.insert_dead_letter(&later).await.unwrap();
        db.insert_dead_letter(&DeadLetter {
            id: "dl_other".into(),
            ref_id: "run_2".into(),
            ..d.clone()
        })
        .await
        .unwrap();
        let of: Vec<_> = db
            .dead_letters_of("run_1")
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.id, l.resolved_at))
            .collect();
        assert_eq!(
            of,
            vec![("dl_1".to_string(), Some(2)), ("dl_0".to_string(), None)]
        );
        assert_eq!(db.get_dead_letter("dl_0").await.unwrap(), Some(later));
        assert_eq!(db.get_dead_letter("dl_missing").await.unwrap(), None);
        // The same id twice is a conflict (how re-entrant steps write a letter once).
        assert!(matches!(
            db.insert_dead_letter(&d).await,
            Err(support_core::store::StoreError::Conflict(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn conversations_messages_and_purge() {
    each_backend(|db| async move {
        let mut c = ConversationRow {
            id: "conv_1".into(),
            front_id: "cnv_1".into(),
            app: Some("typescript-course".into()),
            customer_email: Some("jane@example.com".into()),
            subject: Some("Refund".into()),
            status: ConversationStatus::New,
            escalation: None,
            escalation_reason: None,
            assignee: None,
            sla_due_at: Some(99),
            created_at: 1,
            updated_at: 1,
        };
        db.upsert_conversation(&c).await.unwrap();
        c.status = ConversationStatus::Open;
        c.escalation = Some("urgent".into());
        c.escalation_reason = Some("legal threat".into());
        c.updated_at = 2;
        db.upsert_conversation(&c).await.unwrap();
        assert_eq!(db.get_conversation("cnv_1").await.unwrap(), Some(c.clone()));
        // The type allows no other status; the database refuses one written around it.
        assert!(
            sqlx::query("UPDATE conversations SET status = 'bogus' WHERE front_id = 'cnv_1'")
                .execute(db.write_pool())
                .await
                .is_err(),
            "status is constrained"
        );
        assert_eq!(
            db.list_conversations(Some("typescript-course"), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            db.list_conversations(Some("other"), 10)
                .await
                .unwrap()
                .len(),
            0
        );

        for (i, at) in [(1, 10), (2, 20), (3, 30)] {
            db.upsert_message(&MessageRow {
                id: format!("msg_{i}"),
                front_id: format!("fmsg_{i}"),
                conversation_id: "conv_1".into(),
                direction: Direction::Inbound,
                author: Some("jane@example.com".into()),
                body: Some(format!("body {i}")),
                raw_body: Some(format!("<p>body {i}</p>")),
                sent_at: at,
                purged_at: None,
            })
            .await
            .unwrap();
        }
        assert_eq!(db.purge_message_bodies(25, 40).await.unwrap(), 2);
        assert_eq!(db.purge_message_bodies(25, 41).await.unwrap(), 0);
        let msgs = db.list_messages("conv_1").await.unwrap();
        assert_eq!(msgs.len(), 3, "purging keeps the metadata");
        assert_eq!(msgs[0].body, None);
        assert_eq!(msgs[0].raw_body, None);
        assert_eq!(msgs[0].purged_at, Some(40));
        assert_eq!(msgs[2].body.as_deref(), Some("body 3"));
    })
    .await;
}

#[tokio::test]
async fn actions_and_approvals_transition_once() {
    each_backend(|db| async move {
        let a = ActionRow {
            id: "act_1".into(),
            conversation_id: Some("conv_1".into()),
            app: Some("typescript-course".into()),
            kind: ToolName::ProcessRefund,
            params: json!({"purchase_id": "pur_1", "amount_cents": 4900}),
            category: Some("refund".into()),
            confidence: Some(0.93),
            reasoning: Some("35 days since purchase".into()),
            risk: RiskClass::ApprovalRequired,
            status: ActionStatus::PendingApproval,
            idempotency_key: "act_1".into(),
            result: None,
            error: None,
            trace_id: Some("tr".into()),
            created_at: 1,
            updated_at: 1,
        };
        db.insert_action(&a).await.unwrap();
        assert_eq!(db.get_action("act_1").await.unwrap(), Some(a.clone()));
        let mut dup = a.clone();
        dup.id = "act_2".into();
        assert!(
            matches!(db.insert_action(&dup).await, Err(StoreError::Conflict(_))),
            "idempotency keys are unique"
        );

        assert!(
            db.transition_action(
                "act_1",
                &[ActionStatus::PendingApproval],
                ActionStatus::Approved,
                &ActionPatch::default(),
                2
            )
            .await
            .unwrap()
        );
        assert!(
            !db.transition_action(
                "act_1",
                &[ActionStatus::PendingApproval],
                ActionStatus::Approved,
                &ActionPatch::default(),
                3
            )
            .await
            .unwrap()
        );
        assert!(
            db.transition_action(
                "act_1",
                &[ActionStatus::Approved],
                ActionStatus::Executing,
                &ActionPatch::default(),
                3
            )
            .await
            .unwrap()
        );
        let patch = ActionPatch {
            result: Some(json!({"refund_id": "re_1"})),
            ..Default::default()
        };
        assert!(
            db.transition_action(
                "act_1",
                &[ActionStatus::Executing, ActionStatus::Approved],
                ActionStatus::Executed,
                &patch,
                4
            )
            .await
            .unwrap()
        );
        let got = db.get_action("act_1").await.unwrap().unwrap();
        assert_eq!(got.status, "executed");
        assert_eq!(got.result, Some(json!({"refund_id": "re_1"})));
        assert_eq!(
            got.params, a.params,
            "params untouched when the patch has none"
        );
        assert_eq!(db.list_actions("conv_1").await.unwrap().len(), 1);

        let ap = ApprovalRow {
            id: "apr_1".into(),
            action_id: "act_1".into(),
            channel: DecisionChannel::Slack,
            slack_channel: Some("C1".into()),
            slack_ts: Some("1.2".into()),
            status: ApprovalStatus::Pending,
            decided_by: None,
            reason: None,
            expires_at: 100,
            created_at: 1,
            decided_at: None,
            approvers_required: 2,
            amount_cents: Some(2500),
            currency: Some("usd".into()),
            capability: None,
            draft: Some("Hi Jane,\n\nYour refund is on its way.".into()),
        };
        db.insert_approval(&ap).await.unwrap();
        assert_eq!(
            db.list_approvals(Some(ApprovalStatus::Pending))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            db.decide_approval("apr_1", ApprovalStatus::Approved, "slack:U1", None, 5)
                .await
                .unwrap()
        );
        assert!(
            !db.decide_approval("apr_1", ApprovalStatus::Rejected, "slack:U2", Some("no"), 6)
                .await
                .unwrap(),
            "a second decision changes nothing"
        );
        let got = db.get_approval("apr_1").await.unwrap().unwrap();
        assert_eq!(got.draft, ap.draft, "the draft round-trips");
        assert_eq!(
            (
                got.status.as_str(),
                got.decided_by.as_deref(),
                got.decided_at
            ),
            ("approved", Some("slack:U1"), Some(5))
        );
        assert!(
            db.list_approvals(Some(ApprovalStatus::Pending))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.list_approvals(None).await.unwrap().len(), 1);
        assert_eq!(got.approvers_required, 2);
        assert_eq!(got.amount_cents, Some(2500));

        // Votes: one per approver.
        let vote = |who: &str, at| ApprovalVote {
            approval_id: "apr_1".into(),
            approver: who.into(),
            user_id: None,
            actor: who.into(),
            channel: DecisionChannel::Dashboard,
            voted_at: at,
        };
        assert!(db.add_approval_vote(&vote("token:a", 7)).await.unwrap());
        assert!(!db.add_approval_vote(&vote("token:a", 8)).await.unwrap());
        assert!(db.add_approval_vote(&vote("token:b", 9)).await.unwrap());
        let votes = db.list_approval_votes("apr_1").await.unwrap();
        assert_eq!(
            votes
                .iter()
                .map(|v| v.approver.as_str())
                .collect::<Vec<_>>(),
            ["token:a", "token:b"]
        );

        // Capability and message references.
        db.set_approval_capability("apr_1", "cap1.x.y")
            .await
            .unwrap();
        db.set_approval_message("apr_1", DecisionChannel::Slack, "C2", "3.4")
            .await
            .unwrap();
        let got = db.approval_for_action("act_1").await.unwrap().unwrap();
        assert_eq!(got.capability.as_deref(), Some("cap1.x.y"));
        assert_eq!(
            (got.slack_channel.as_deref(), got.slack_ts.as_deref()),
            (Some("C2"), Some("3.4"))
        );
        assert!(db.approval_for_action("act_none").await.unwrap().is_none());

        // A capability nonce is consumed once.
        assert!(db.consume_capability("n1", "act_1", 10).await.unwrap());
        assert!(!db.consume_capability("n1", "act_1", 11).await.unwrap());
        assert!(!db.consume_capability("n1", "act_2", 12).await.unwrap());
        assert!(db.consume_capability("n2", "act_1", 13).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn trust_knowledge_and_canned() {
    each_backend(|db| async move {
        let t = TrustRow {
            app: "a1".into(),
            category: "refund".into(),
            score: 0.75,
            samples: 12,
            updated_at: 3,
        };
        db.upsert_trust(&t).await.unwrap();
        let t2 = TrustRow {
            score: 0.5,
            samples: 13,
            updated_at: 4,
            ..t.clone()
        };
        db.upsert_trust(&t2).await.unwrap();
        assert_eq!(db.get_trust("a1", "refund").await.unwrap(), Some(t2));
        assert_eq!(db.list_trust(Some("a1")).await.unwrap().len(), 1);

        let doc = KbDocument {
            id: "doc_1".into(),
            app: "a1".into(),
            title: "Refund policy".into(),
            source: None,
            body: "30 days".into(),
            created_at: 1,
        };
        let chunks: Vec<KbChunk> = (0..3)
            .map(|i| KbChunk {
                id: format!("chk_{i}"),
                document_id: "doc_1".into(),
                app: "a1".into(),
                ordinal: i,
                text: format!("part {i}"),
            })
            .collect();
        db.insert_kb_document(&doc, &chunks).await.unwrap();
        assert_eq!(db.list_kb_chunks("a1").await.unwrap(), chunks);
        assert!(db.list_kb_chunks("a2").await.unwrap().is_empty());

        let c = CannedResponse {
            id: "can_1".into(),
            app: None,
            name: "magic link".into(),
            trigger: "login link".into(),
            body: "Hi {{name}}".into(),
            updated_at: 1,
            sources: vec![],
        };
        db.upsert_canned(&c).await.unwrap();
        let c2 = CannedResponse {
            id: "can_2".into(),
            app: Some("a2".into()),
            ..c.clone()
        };
        db.upsert_canned(&c2).await.unwrap();
        assert_eq!(
            db.list_canned(Some("a1")).await.unwrap(),
            vec![c.clone()],
            "global plus own app only"
        );
        assert_eq!(db.list_canned(None).await.unwrap().len(), 2);
    })
    .await;
}

// ---- retention and audit archives (issue 11) ----

async fn conversation_of(db: &Db, front_id: &str, app: Option<&str>) {
    db.upsert_conversation(&ConversationRow {
        id: format!("conv_{front_id}"),
        front_id: front_id.into(),
        app: app.map(str::to_string),
        customer_email: None,
        subject: None,
        status: ConversationStatus::Open,
        escalation: None,
        escalation_reason: None,
        assignee: None,
        sla_due_at: None,
        created_at: 1,
        updated_at: 1,
    })
    .await
    .unwrap();
}

async fn message_in(db: &Db, id: &str, conversation: &str, sent_at: i64) {
    db.upsert_message(&MessageRow {
        id: format!("msg_{id}"),
        front_id: id.into(),
        conversation_id: conversation.into(),
        direction: Direction::Inbound,
        author: Some("jane@example.com".into()),
        body: Some(format!("body {id}")),
        raw_body: Some(format!("<p>body {id}</p>")),
        sent_at,
        purged_at: None,
    })
    .await
    .unwrap();
}

async fn bodies(db: &Db, conversation: &str) -> Vec<(String, bool, Option<i64>)> {
    db.list_messages(conversation)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            assert_eq!(m.body.is_some(), m.raw_body.is_some(), "{m:?}");
            (m.front_id, m.body.is_some(), m.purged_at)
        })
        .collect()
}

#[tokio::test]
async fn retention_purges_message_bodies_per_scope_in_batches() {
    each_backend(|db| async move {
        db.insert_app(&app("alpha", &[])).await.unwrap();
        db.insert_app(&app("beta", &[])).await.unwrap();
        conversation_of(&db, "cnv_a", Some("alpha")).await;
        conversation_of(&db, "cnv_b", Some("beta")).await;
        conversation_of(&db, "cnv_none", None).await;
        conversation_of(&db, "cnv_gone", Some("removed-app")).await;
        for (i, at) in [(1, 10), (2, 20), (3, 30), (4, 200)] {
            message_in(&db, &format!("a{i}"), "cnv_a", at).await;
        }
        message_in(&db, "b1", "cnv_b", 10).await;
        message_in(&db, "n1", "cnv_none", 10).await;
        message_in(&db, "g1", "cnv_gone", 10).await;
        message_in(&db, "g2", "cnv_gone", 300).await;
        // A message whose conversation was never stored: no registered app.
        message_in(&db, "o1", "cnv_orphan", 10).await;

        let alpha = RetentionScope::App("alpha".into());
        // Batches are bounded and oldest first.
        assert_eq!(
            db.purge_message_batch(&alpha, 100, 500, 2).await.unwrap(),
            2
        );
        assert_eq!(
            bodies(&db, "cnv_a").await,
            [
                ("a1".into(), false, Some(500)),
                ("a2".into(), false, Some(500)),
                ("a3".into(), true, None),
                ("a4".into(), true, None)
            ]
        );
        assert_eq!(
            db.purge_message_batch(&alpha, 100, 501, 2).await.unwrap(),
            1
        );
        assert_eq!(
            db.purge_message_batch(&alpha, 100, 502, 2).await.unwrap(),
            0
        );
        let a = bodies(&db, "cnv_a").await;
        assert_eq!(a[2], ("a3".into(), false, Some(501)));
        assert_eq!(a[3], ("a4".into(), true, None), "newer than the cutoff");
        // Other apps are untouched by alpha's batches.
        assert_eq!(bodies(&db, "cnv_b").await, [("b1".into(), true, None)]);

        // No registered app: no app, a removed app, no conversation row.
        let unowned = RetentionScope::Unowned;
        assert_eq!(
            db.purge_message_batch(&unowned, 100, 600, 10)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            db.purge_message_batch(&unowned, 100, 601, 10)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            bodies(&db, "cnv_none").await,
            [("n1".into(), false, Some(600))]
        );
        assert_eq!(
            bodies(&db, "cnv_gone").await,
            [("g1".into(), false, Some(600)), ("g2".into(), true, None)]
        );
        assert_eq!(
            bodies(&db, "cnv_orphan").await,
            [("o1".into(), false, Some(600))]
        );
        assert_eq!(bodies(&db, "cnv_b").await, [("b1".into(), true, None)]);

        // Storing a purged message again (the thread re-hydrated from Front) keeps it purged.
        message_in(&db, "a1", "cnv_a", 10).await;
        assert_eq!(
            bodies(&db, "cnv_a").await[0],
            ("a1".into(), false, Some(500))
        );
    })
    .await;
}

async fn action_with_approval(
    db: &Db,
    id: &str,
    app_slug: Option<&str>,
    action_status: &str,
    approval_status: &str,
    decided_at: Option<i64>,
) {
    let action: ActionRow = serde_json::from_value(json!({
        "id": format!("act_{id}"), "conversation_id": "cnv_1", "app": app_slug,
        "kind": "processRefund", "params": {"purchaseId": "pur_1", "amountCents": 17900},
        "category": "refund", "confidence": 0.9, "reasoning": "asked within the window",
        "risk": "approval_required", "status": action_status,
        "idempotency_key": format!("key_{id}"), "result": {"refund": "re_1"}, "error": null,
        "trace_id": null, "created_at": 1, "updated_at": 1
    }))
    .unwrap();
    db.insert_action(&action).await.unwrap();
    let approval: ApprovalRow = serde_json::from_value(json!({
        "id": format!("apr_{id}"), "action_id": format!("act_{id}"), "channel": "dashboard",
        "slack_channel": null, "slack_ts": null, "status": approval_status,
        "decided_by": decided_at.map(|_| "token:ops"), "reason": "checked",
        "expires_at": 1_000_000, "created_at": 1, "decided_at": decided_at,
        "approvers_required": 1, "amount_cents": 17900, "currency": "usd",
        "capability": decided_at.map(|_| "cap.v1.token"), "draft": "Hi Jane, your refund is on its way."
    }))
    .unwrap();
    db.insert_approval(&approval).await.unwrap();
}

async fn payload_kept(db: &Db, id: &str) -> bool {
    let ap = db
        .get_approval(&format!("apr_{id}"))
        .await
        .unwrap()
        .unwrap();
    let ac = db.get_action(&format!("act_{id}")).await.unwrap().unwrap();
    let purged = db.approval_purged_at(&ap.id).await.unwrap();
    // Metadata always stays.
    assert_eq!(ap.amount_cents, Some(17900));
    assert_eq!(ap.reason.as_deref(), Some("checked"));
    assert_eq!(ac.kind, "processRefund");
    if ap.draft.is_some() {
        assert_eq!(ac.params["amountCents"], 17900);
        assert!(ac.reasoning.is_some());
        assert_eq!(purged, None);
        true
    } else {
        assert_eq!(ap.capability, None);
        assert_eq!(ac.params, json!({}));
        assert_eq!(ac.reasoning, None);
        assert_eq!(ac.result, None);
        assert!(purged.is_some());
        false
    }
}

#[tokio::test]
async fn retention_purges_decided_approval_payloads_only() {
    each_backend(|db| async move {
        db.insert_app(&app("alpha", &[])).await.unwrap();
        let a = Some("alpha");
        action_with_approval(&db, "approved", a, "executed", "approved", Some(10)).await;
        action_with_approval(&db, "rejected", a, "rejected", "rejected", Some(20)).await;
        action_with_approval(&db, "expired", a, "expired", "expired", Some(30)).await;
        action_with_approval(&db, "recent", a, "executed", "approved", Some(200)).await;
        action_with_approval(&db, "pending", a, "pending_approval", "pending", None).await;
        action_with_approval(&db, "inflight", a, "executing", "approved", Some(10)).await;
        action_with_approval(&db, "dead", a, "failed", "approved", Some(10)).await;
        action_with_approval(&db, "unowned", None, "executed", "approved", Some(10)).await;
        db.insert_dead_letter(&DeadLetter {
            id: "dl_1".into(),
            kind: DeadLetterKind::Action,
            ref_id: "act_dead".into(),
            error: "Stripe down".into(),
            payload: json!({}),
            created_at: 11,
            resolved_at: None,
        })
        .await
        .unwrap();

        let alpha = RetentionScope::App("alpha".into());
        assert_eq!(
            db.purge_approval_batch(&alpha, 100, 500, 2).await.unwrap(),
            2
        );
        assert_eq!(
            db.purge_approval_batch(&alpha, 100, 501, 2).await.unwrap(),
            1
        );
        assert_eq!(
            db.purge_approval_batch(&alpha, 100, 502, 2).await.unwrap(),
            0
        );
        for id in ["approved", "rejected", "expired"] {
            assert!(!payload_kept(&db, id).await, "{id}");
        }
        assert_eq!(
            db.approval_purged_at("apr_approved").await.unwrap(),
            Some(500)
        );
        assert_eq!(
            db.approval_purged_at("apr_expired").await.unwrap(),
            Some(501)
        );
        for id in ["recent", "pending", "inflight", "dead", "unowned"] {
            assert!(payload_kept(&db, id).await, "{id}");
        }
        // Even with a cutoff far in the future, pending approvals are never purged.
        assert_eq!(
            db.purge_approval_batch(&alpha, i64::MAX, 503, 100)
                .await
                .unwrap(),
            1,
            "only `recent`"
        );
        assert!(payload_kept(&db, "pending").await);
        assert!(
            payload_kept(&db, "dead").await,
            "a retry still needs the params"
        );
        assert_eq!(
            db.purge_approval_batch(&RetentionScope::Unowned, 100, 504, 10)
                .await
                .unwrap(),
            1
        );
        assert!(!payload_kept(&db, "unowned").await);
    })
    .await;
}

#[tokio::test]
async fn audit_archive_moves_the_genesis_and_keeps_the_rest_verifiable() {
    each_backend(|db| async move {
        seed_audit(&db, 6).await;
        let rows = db.audit_page(0, 100).await.unwrap();
        let row = |through: &audit::AuditRecord, from: i64| AuditArchiveRow {
            through_seq: through.seq,
            through_hash: through.hash.clone(),
            from_seq: from,
            row_count: through.seq - from + 1,
            before_at: through.at + 1,
            archived_at: 1,
            actor: "cli:ops".into(),
        };
        let entry = |a: &AuditArchiveRow| {
            AuditEvent::new(
                audit::ARCHIVED_KIND,
                "cli:ops",
                json!({"through_seq": a.through_seq, "through_hash": a.through_hash}),
            )
        };
        // A wrong head hash, or a range that does not start at the genesis: refused, nothing
        // deleted.
        let mut wrong = row(&rows[3], 1);
        wrong.through_hash = rows[2].hash.clone();
        assert!(matches!(
            db.archive_audit(&wrong, &entry(&wrong)).await,
            Err(StoreError::Conflict(_))
        ));
        let gap = row(&rows[3], 2);
        assert!(matches!(
            db.archive_audit(&gap, &entry(&gap)).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(audit::verify(&db).await.unwrap().rows, 6);

        let first = row(&rows[3], 1);
        let rec = db.archive_audit(&first, &entry(&first)).await.unwrap();
        assert_eq!(rec.seq, 7);
        assert_eq!(db.audit_genesis().await.unwrap(), (4, rows[3].hash.clone()));
        assert_eq!(
            db.list_audit_archives().await.unwrap(),
            std::slice::from_ref(&first)
        );
        let report = audit::verify(&db).await.unwrap();
        assert_eq!((report.rows, report.genesis_seq), (3, 4));
        assert_eq!(report.genesis_hash, rows[3].hash);
        assert_eq!(
            db.audit_page(0, 100)
                .await
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>(),
            [5, 6, 7]
        );
        // The remaining rows are still append-only; archive records too.
        for sql in [
            "DELETE FROM audit_log WHERE seq = 5",
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 6",
            "DELETE FROM audit_archives",
        ] {
            let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(db.write_pool())
                .await;
            assert!(err.is_err(), "{sql} should be refused");
            assert!(err.unwrap_err().to_string().contains("append-only"));
        }
        // A second archive starts where the first ended.
        let rows2 = db.audit_page(4, 100).await.unwrap();
        let second = row(&rows2[1], 5);
        db.archive_audit(&second, &entry(&second)).await.unwrap();
        let report = audit::verify(&db).await.unwrap();
        assert_eq!((report.rows, report.genesis_seq), (2, 6));
        seed_audit(&db, 2).await;
        assert_eq!(audit::verify(&db).await.unwrap().rows, 4);
    })
    .await;
}

#[tokio::test]
async fn audit_verification_needs_the_archive_entry_of_its_genesis() {
    each_backend(|db| async move {
        seed_audit(&db, 4).await;
        let rows = db.audit_page(0, 100).await.unwrap();
        // An archive recorded with an entry that does not name it (an attacker with database
        // access hiding a deleted prefix).
        let a = AuditArchiveRow {
            through_seq: 2,
            through_hash: rows[1].hash.clone(),
            from_seq: 1,
            row_count: 2,
            before_at: 1,
            archived_at: 1,
            actor: "mallory".into(),
        };
        db.archive_audit(&a, &AuditEvent::new("tool.called", "agent", json!({})))
            .await
            .unwrap();
        assert_eq!(
            audit::verify(&db).await,
            Err(ChainError::UnrecordedGenesis { seq: 2 })
        );
    })
    .await;
}

fn user(id: &str, email: &str, role: Role) -> UserRow {
    UserRow {
        id: id.into(),
        email: email.into(),
        name: None,
        role,
        password_hash: None,
        slack_user_id: None,
        created_at: 1,
        deactivated_at: None,
    }
}

/// Users for approver identity: unique emails, Slack ids linked to at most one user, roles,
/// passwords, deactivation, and tokens that belong to users.
#[tokio::test]
async fn users_slack_links_roles_and_deactivation() {
    each_backend(|db| async move {
        let alice = user("usr_alice", "alice@example.com", Role::Agent);
        let bob = UserRow {
            created_at: 2,
            ..user("usr_bob", "bob@example.com", Role::Viewer)
        };
        db.insert_user(&alice).await.unwrap();
        db.insert_user(&bob).await.unwrap();
        assert!(
            matches!(
                db.insert_user(&user("usr_other", "alice@example.com", Role::Admin))
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "an email names one user"
        );
        assert_eq!(db.get_user("usr_alice").await.unwrap(), Some(alice.clone()));
        assert!(db.get_user("usr_none").await.unwrap().is_none());
        let ids: Vec<String> = db
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(ids, ["usr_alice", "usr_bob"]);

        // Slack links: explicit, one user per Slack id, removable.
        assert!(db.find_user_by_slack_id("U0ALICE").await.unwrap().is_none());
        assert!(
            db.set_user_slack_id("usr_alice", Some("U0ALICE"))
                .await
                .unwrap()
        );
        assert_eq!(
            db.find_user_by_slack_id("U0ALICE")
                .await
                .unwrap()
                .map(|u| u.id),
            Some("usr_alice".into())
        );
        assert!(matches!(
            db.set_user_slack_id("usr_bob", Some("U0ALICE")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(!db.set_user_slack_id("usr_none", Some("U0X")).await.unwrap());
        assert!(db.set_user_slack_id("usr_alice", None).await.unwrap());
        assert!(db.find_user_by_slack_id("U0ALICE").await.unwrap().is_none());
        assert!(
            db.set_user_slack_id("usr_bob", Some("U0ALICE"))
                .await
                .unwrap()
        );

        // Role, password, deactivation.
        assert!(db.set_user_role("usr_bob", Role::Agent).await.unwrap());
        assert!(
            db.set_user_password("usr_bob", "$argon2id$x")
                .await
                .unwrap()
        );
        let got = db.get_user("usr_bob").await.unwrap().unwrap();
        assert_eq!(
            (got.role, got.password_hash.as_deref(), got.is_active()),
            (Role::Agent, Some("$argon2id$x"), true)
        );
        assert!(db.deactivate_user("usr_bob", 50).await.unwrap());
        assert!(!db.deactivate_user("usr_bob", 60).await.unwrap(), "once");
        let got = db
            .get_user_by_email("bob@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.deactivated_at, Some(50));
        assert!(!got.is_active());

        // Tokens belong to users; two tokens may belong to one.
        for (id, hash) in [("tok_a1", "ha1"), ("tok_a2", "ha2")] {
            db.insert_api_token(&ApiTokenRow {
                id: id.into(),
                name: "laptop".into(),
                role: Role::Agent,
                token_hash: hash.into(),
                created_at: 3,
                revoked_at: None,
                user_id: "usr_alice".into(),
            })
            .await
            .unwrap();
        }
        let owners: Vec<String> = db
            .list_api_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.user_id)
            .collect();
        assert_eq!(owners, ["usr_alice", "usr_alice"]);
        assert_eq!(
            db.find_api_token("ha2").await.unwrap().map(|t| t.user_id),
            Some("usr_alice".into())
        );
    })
    .await;
}

/// Votes are unique per user, whatever label (token, Slack id) they came through; a vote
/// without a user (the command line) is unique by its label.
#[tokio::test]
async fn approval_votes_count_once_per_user() {
    each_backend(|db| async move {
        let action = ActionRow {
            id: "act_v".into(),
            conversation_id: None,
            app: None,
            kind: ToolName::ProcessRefund,
            params: json!({}),
            category: None,
            confidence: None,
            reasoning: None,
            risk: RiskClass::ApprovalRequired,
            status: ActionStatus::PendingApproval,
            idempotency_key: "act_v".into(),
            result: None,
            error: None,
            trace_id: None,
            created_at: 1,
            updated_at: 1,
        };
        db.insert_action(&action).await.unwrap();
        db.insert_approval(&ApprovalRow {
            id: "apr_v".into(),
            action_id: "act_v".into(),
            channel: DecisionChannel::Dashboard,
            slack_channel: None,
            slack_ts: None,
            status: ApprovalStatus::Pending,
            decided_by: None,
            reason: None,
            expires_at: 1_000,
            created_at: 1,
            decided_at: None,
            approvers_required: 2,
            amount_cents: Some(50_000),
            currency: Some("usd".into()),
            capability: None,
            draft: None,
        })
        .await
        .unwrap();
        let vote = |label: &str, user: Option<&str>, at| ApprovalVote {
            approval_id: "apr_v".into(),
            approver: label.into(),
            user_id: user.map(str::to_string),
            actor: label.into(),
            channel: DecisionChannel::Dashboard,
            voted_at: at,
        };
        assert!(
            db.add_approval_vote(&vote("token:alice-laptop", Some("usr_alice"), 2))
                .await
                .unwrap()
        );
        // The same user through another token, then through their Slack id: no second vote.
        assert!(
            !db.add_approval_vote(&vote("token:alice-phone", Some("usr_alice"), 3))
                .await
                .unwrap()
        );
        assert!(
            !db.add_approval_vote(&vote("slack:U0ALICE", Some("usr_alice"), 4))
                .await
                .unwrap()
        );
        // Another user, even through a label spelled like alice's: a second vote.
        assert!(
            db.add_approval_vote(&vote("token:alice-laptop", Some("usr_bob"), 5))
                .await
                .unwrap()
        );
        // The command line: unique by its label.
        assert!(
            db.add_approval_vote(&vote("cli:ops", None, 6))
                .await
                .unwrap()
        );
        assert!(
            !db.add_approval_vote(&vote("cli:ops", None, 7))
                .await
                .unwrap()
        );
        let votes = db.list_approval_votes("apr_v").await.unwrap();
        assert_eq!(
            votes
                .iter()
                .map(|v| (v.approver.as_str(), v.user_id.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("token:alice-laptop", Some("usr_alice")),
                ("token:alice-laptop", Some("usr_bob")),
                ("cli:ops", None)
            ]
        );
    })
    .await;
}

/// Migration 20261205000100 on a database written before it: the demo token goes to the demo
/// admin, every other token to a user of its own (role kept, no password), votes keep their
/// label as their key, and a Slack id can no longer be linked to two users. Runs the SQL files
/// on an empty database (SQLite in memory; a fresh schema on Postgres).
#[tokio::test]
async fn the_identity_migration_gives_earlier_tokens_users() {
    use sqlx::{Connection, Row};
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let (dialect, mut c) = match t.backend() {
            Backend::Sqlite => (
                "sqlite",
                sqlx::AnyConnection::connect("sqlite::memory:")
                    .await
                    .unwrap(),
            ),
            Backend::Postgres => {
                let mut c = sqlx::AnyConnection::connect(&t.url).await.unwrap();
                sqlx::raw_sql("CREATE SCHEMA before_identity; SET search_path TO before_identity")
                    .execute(&mut c)
                    .await
                    .unwrap();
                ("postgres", c)
            }
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(dialect);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        let ours = "20261205000100_approver_identity.sql";
        for f in files
            .iter()
            .filter(|f| f.file_name().unwrap().to_str().unwrap() < "20261205000100")
        {
            run(std::fs::read_to_string(f).unwrap())
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        run("INSERT INTO users (id, email, name, role, password_hash, slack_user_id, created_at) VALUES \
             ('usr_admin', 'admin@demo.test', 'Demo admin', 'admin', 'x', NULL, 1); \
             INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at) VALUES \
             ('tok_demo', 'demo', 'admin', 'h0', 2, NULL), ('tok_ci', 'ci', 'agent', 'h1', 3, NULL), \
             ('tok_u', 'U0ALICE', 'viewer', 'h2', 4, 9); \
             INSERT INTO actions (id, kind, params, risk, status, idempotency_key, created_at, updated_at) VALUES \
             ('act_1', 'processRefund', '{}', 'approval_required', 'pending_approval', 'act_1', 1, 1); \
             INSERT INTO approvals (id, action_id, channel, status, expires_at, created_at, approvers_required) VALUES \
             ('apr_1', 'act_1', 'dashboard', 'pending', 100, 1, 2); \
             INSERT INTO approval_votes (approval_id, approver, actor, channel, voted_at) VALUES \
             ('apr_1', 'token:ci', 'token:ci', 'dashboard', 5)"
            .into())
        .execute(&mut c)
        .await
        .unwrap();
        run(std::fs::read_to_string(dir.join(ours)).unwrap())
            .execute(&mut c)
            .await
            .unwrap();

        let owner = |rows: Vec<sqlx::any::AnyRow>| -> Vec<(String, String)> {
            rows.iter()
                .map(|r| (r.try_get("id").unwrap(), r.try_get("user_id").unwrap()))
                .collect()
        };
        let tokens = sqlx::query("SELECT id, user_id FROM api_tokens ORDER BY id")
            .fetch_all(&mut c)
            .await
            .unwrap();
        assert_eq!(
            owner(tokens),
            [
                ("tok_ci".to_string(), "usr_tok_ci".to_string()),
                ("tok_demo".into(), "usr_admin".into()),
                ("tok_u".into(), "usr_tok_u".into()),
            ]
        );
        let u = sqlx::query(
            "SELECT email, name, role, password_hash, slack_user_id, deactivated_at FROM users WHERE id = 'usr_tok_ci'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(
            u.try_get::<String, _>("email").unwrap(),
            "tok_ci@tokens.invalid"
        );
        assert_eq!(u.try_get::<String, _>("name").unwrap(), "token ci");
        assert_eq!(u.try_get::<String, _>("role").unwrap(), "agent");
        assert!(
            u.try_get::<Option<String>, _>("password_hash")
                .unwrap()
                .is_none()
        );
        assert!(
            u.try_get::<Option<String>, _>("slack_user_id")
                .unwrap()
                .is_none()
        );
        assert!(
            u.try_get::<Option<i64>, _>("deactivated_at")
                .unwrap()
                .is_none()
        );
        // A token named like a Slack id is not linked to that Slack user.
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE slack_user_id IS NOT NULL")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(n, 0);

        // The earlier vote keeps its label as its key; votes are now unique per voter.
        let v = sqlx::query("SELECT voter, approver, user_id FROM approval_votes")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(v.try_get::<String, _>("voter").unwrap(), "token:ci");
        assert_eq!(v.try_get::<String, _>("approver").unwrap(), "token:ci");
        assert!(v.try_get::<Option<String>, _>("user_id").unwrap().is_none());
        let vote = |voter: &str| {
            format!(
                "INSERT INTO approval_votes (approval_id, voter, user_id, approver, actor, channel, voted_at) \
                 VALUES ('apr_1', '{voter}', '{voter}', 'token:ci', 'x', 'dashboard', 6)"
            )
        };
        run(vote("usr_admin")).execute(&mut c).await.unwrap();
        assert!(run(vote("usr_admin")).execute(&mut c).await.is_err());

        // One Slack id, one user.
        run("UPDATE users SET slack_user_id = 'U0ALICE' WHERE id = 'usr_admin'".into())
            .execute(&mut c)
            .await
            .unwrap();
        assert!(
            run("UPDATE users SET slack_user_id = 'U0ALICE' WHERE id = 'usr_tok_ci'".into())
                .execute(&mut c)
                .await
                .is_err()
        );
        c.close().await.unwrap();
    }
}
