//! `SlaStore` on SQLite, and on Postgres when `TEST_DATABASE_URL` is set: policies and
//! schedules round-trip through core's validated, audited writes (refusals with their codes);
//! the clock is a compare-and-set on its generation that also sets the conversation's
//! `sla_due_at`; an alarm is claimed once; the "at risk" list is by due time.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::sla::admin::{self, AdminError};
use support_core::sla::clock::{ClockEvent, ClockEventKind};
use support_core::sla::{Conditions, Day, Hours, Priority, Schedule, SlaPolicy, Target};
use support_core::store::*;
use support_testkit::TestDb;

fn app(slug: &str) -> AppRow {
    AppRow {
        id: support_core::ids::new_id("app"),
        slug: slug.into(),
        name: format!("App {slug}"),
        front_inbox_ids: vec![format!("inb_{slug}")],
        sdk_base_url: "http://127.0.0.1:1/support".into(),
        secrets_enc: "enc:v1:abcd:xyz".into(),
        stripe_account: None,
        policy: json!({}),
        capabilities: json!({}),
        status: AppStatus::Connected,
        created_at: 1,
        updated_at: 1,
    }
}

fn schedule() -> Schedule {
    Schedule {
        id: "office".into(),
        name: "Office".into(),
        timezone: "Europe/Berlin".into(),
        hours: vec![Hours {
            day: Day::Mon,
            start: "09:00".into(),
            end: "17:00".into(),
        }],
        holidays: vec!["2026-12-25".into()],
        updated_at: 0,
        updated_by: String::new(),
    }
}

fn policy(app: &str, id: &str, position: i64) -> SlaPolicy {
    SlaPolicy {
        app: app.into(),
        id: id.into(),
        name: format!("Policy {id}"),
        position,
        conditions: Conditions {
            priority: vec![Priority::High],
            ..Default::default()
        },
        first_reply: Some(Target {
            minutes: 60,
            business_hours: true,
            warn_before_minutes: 15,
        }),
        next_reply: None,
        resolution: Some(Target {
            minutes: 1440,
            business_hours: false,
            warn_before_minutes: 0,
        }),
        schedule: Some("office".into()),
        pause_when_waiting: true,
        updated_at: 0,
        updated_by: String::new(),
    }
}

async fn conversation(db: &support_store::Db, front_id: &str, app: &str) {
    db.upsert_conversation(&ConversationRow {
        id: format!("conv_{front_id}"),
        front_id: front_id.into(),
        app: Some(app.into()),
        customer_email: None,
        subject: Some(format!("Subject {front_id}")),
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

fn code(r: Result<impl std::fmt::Debug, AdminError>) -> &'static str {
    r.unwrap_err().code()
}

#[tokio::test]
async fn policies_and_schedules_are_validated_stored_and_audited() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let store: &dyn Store = &db;
        db.insert_app(&app("alpha")).await.unwrap();

        // The schedule must exist before a policy names it.
        assert_eq!(
            code(admin::put_policy(store, policy("alpha", "vip", 1), "usr_admin", 10).await),
            "unknown_schedule"
        );
        assert_eq!(
            code(admin::put_policy(store, policy("nobody", "vip", 1), "usr_admin", 10).await),
            "unknown_app"
        );
        let mut bad = schedule();
        bad.timezone = "Nowhere/Land".into();
        assert_eq!(
            code(admin::put_schedule(store, bad, "usr_admin", 10).await),
            "invalid_sla"
        );
        let s = admin::put_schedule(store, schedule(), "usr_admin", 10)
            .await
            .unwrap();
        assert_eq!(db.get_sla_schedule("office").await.unwrap(), Some(s));

        admin::put_policy(store, policy("alpha", "vip", 5), "usr_admin", 11)
            .await
            .unwrap();
        admin::put_policy(store, policy("alpha", "all", 9), "usr_admin", 12)
            .await
            .unwrap();
        // Replaced by (app, id): the new position orders it first.
        let stored = admin::put_policy(store, policy("alpha", "all", 1), "usr_ops", 13)
            .await
            .unwrap();
        let list = db.list_sla_policies(Some("alpha")).await.unwrap();
        assert_eq!(
            list.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["all", "vip"]
        );
        assert_eq!(list[0], stored);
        assert_eq!(
            (list[0].updated_by.as_str(), list[0].updated_at),
            ("usr_ops", 13)
        );
        assert!(db.list_sla_policies(Some("beta")).await.unwrap().is_empty());

        // A schedule in use cannot go; a missing policy is not_found.
        assert_eq!(
            code(admin::remove_schedule(store, "office", "usr_admin").await),
            "schedule_in_use"
        );
        assert_eq!(
            code(admin::remove_policy(store, "alpha", "ghost", "usr_admin").await),
            "not_found"
        );
        admin::remove_policy(store, "alpha", "vip", "usr_admin")
            .await
            .unwrap();
        admin::remove_policy(store, "alpha", "all", "usr_admin")
            .await
            .unwrap();
        admin::remove_schedule(store, "office", "usr_admin")
            .await
            .unwrap();
        assert!(db.list_sla_schedules().await.unwrap().is_empty());

        let kinds: Vec<String> = db
            .audit_page(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .filter(|k| k.starts_with("sla."))
            .collect();
        assert_eq!(
            kinds,
            [
                "sla.schedule_set",
                "sla.policy_set",
                "sla.policy_set",
                "sla.policy_set",
                "sla.policy_removed",
                "sla.policy_removed",
                "sla.schedule_removed"
            ]
        );
    }
}

#[tokio::test]
async fn the_clock_is_compare_and_set_and_alarms_fire_once() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        conversation(&db, "cnv_a", "alpha").await;
        conversation(&db, "cnv_b", "alpha").await;
        conversation(&db, "cnv_c", "beta").await;
        let mut row = SlaClockRow {
            conversation_id: "cnv_a".into(),
            app: "alpha".into(),
            policy_id: Some("all".into()),
            priority: Priority::High,
            priority_set_by: None,
            events: vec![ClockEvent::new(ClockEventKind::Inbound, 1_000)],
            generation: 1,
            due_at: Some(5_000),
            updated_at: 1_000,
        };
        assert!(db.put_sla_clock(&row).await.unwrap());
        assert!(
            !db.put_sla_clock(&row).await.unwrap(),
            "a second first write loses"
        );
        assert_eq!(db.get_sla_clock("cnv_a").await.unwrap(), Some(row.clone()));
        assert_eq!(
            db.get_conversation("cnv_a")
                .await
                .unwrap()
                .unwrap()
                .sla_due_at,
            Some(5_000)
        );

        row.generation = 2;
        row.events
            .push(ClockEvent::new(ClockEventKind::Reply, 2_000));
        row.due_at = None;
        row.priority = Priority::Low;
        row.priority_set_by = Some("usr_lead".into());
        let stale = SlaClockRow {
            generation: 3,
            ..row.clone()
        };
        assert!(
            !db.put_sla_clock(&stale).await.unwrap(),
            "skips a generation"
        );
        assert!(db.put_sla_clock(&row).await.unwrap());
        assert!(!db.put_sla_clock(&row).await.unwrap(), "generation 2 taken");
        assert_eq!(db.get_sla_clock("cnv_a").await.unwrap(), Some(row));
        assert_eq!(
            db.get_conversation("cnv_a")
                .await
                .unwrap()
                .unwrap()
                .sla_due_at,
            None
        );

        let claim = |conv: &'static str, at: i64, owner: &'static str| {
            let db = db.clone();
            async move {
                db.claim_sla_alarm(conv, "first_reply:0:breach", at, owner)
                    .await
                    .unwrap()
            }
        };
        assert!(claim("cnv_a", 7, "run_1").await);
        assert!(
            claim("cnv_a", 7, "run_1").await,
            "the owner's retry keeps it"
        );
        assert!(!claim("cnv_a", 8, "run_2").await, "another run does not");
        assert!(claim("cnv_b", 9, "run_2").await);
        let alarms = db.sla_alarms("cnv_a").await.unwrap();
        assert_eq!(alarms.len(), 1);
        assert_eq!(
            (
                alarms[0].key.as_str(),
                alarms[0].fired_at,
                alarms[0].owner.as_str()
            ),
            ("first_reply:0:breach", 7, "run_1")
        );

        // At risk: due before the horizon, soonest first, per app.
        for (conv, app, due) in [("cnv_b", "alpha", 9_000), ("cnv_c", "beta", 3_000)] {
            let r = SlaClockRow {
                conversation_id: conv.into(),
                app: app.into(),
                policy_id: None,
                priority: Priority::Normal,
                priority_set_by: None,
                events: vec![],
                generation: 1,
                due_at: Some(due),
                updated_at: 1,
            };
            assert!(db.put_sla_clock(&r).await.unwrap());
        }
        let ids = |v: Vec<ConversationRow>| v.into_iter().map(|c| c.front_id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.sla_at_risk(None, 10_000, 50).await.unwrap()),
            ["cnv_c", "cnv_b"]
        );
        assert_eq!(
            ids(db.sla_at_risk(Some("alpha"), 10_000, 50).await.unwrap()),
            ["cnv_b"]
        );
        assert!(db.sla_at_risk(None, 2_000, 50).await.unwrap().is_empty());
    }
}
