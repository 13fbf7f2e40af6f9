//! `SignalStore` on SQLite, and on Postgres when `TEST_DATABASE_URL` is set: signals are
//! appended once per id and read back exactly (kind, value, weight, detail), by app × category
//! and by conversation; trust recomputed from the stored rows equals the in-memory computation;
//! the trust cache is replaced per app × category.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::store::*;
use support_core::trust::{DAY_MS, HALF_LIFE_DAYS, Signal, SignalKind, trust_at};
use support_testkit::TestDb;

fn sig(id: &str, kind: SignalKind, app: &str, cat: &str, conv: &str, at: i64) -> Signal {
    Signal::new(id, kind, app, cat, conv, at, "test")
}

#[tokio::test]
async fn signals_append_once_and_trust_is_recomputable_from_rows() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let t0 = 200 * DAY_MS;
        let mut first = sig(
            "sig_1",
            SignalKind::Edited,
            "alpha",
            "access",
            "cnv_1",
            t0 - 30 * DAY_MS,
        );
        first.run_id = Some("run_1".into());
        first.actor = Some("usr_1".into());
        first.note = Some("tone".into());
        first.detail = json!({"similarity": 0.61});
        let written = vec![
            first.clone(),
            sig(
                "sig_2",
                SignalKind::Unchanged,
                "alpha",
                "access",
                "cnv_2",
                t0 - DAY_MS,
            ),
            sig(
                "sig_3",
                SignalKind::Disputed,
                "alpha",
                "access",
                "cnv_1",
                t0 - 2 * DAY_MS,
            )
            .with_bad_outcome_weight(2.0),
            sig(
                "sig_4",
                SignalKind::RatingGood,
                "alpha",
                "billing",
                "cnv_3",
                t0,
            ),
            sig(
                "sig_5",
                SignalKind::RatingBad,
                "beta",
                "access",
                "cnv_4",
                t0,
            ),
        ];
        for s in &written {
            assert!(db.record_signal(s).await.unwrap(), "{}", s.id);
        }
        // Idempotent by id: the second write (even with other content) changes nothing.
        let mut again = first.clone();
        again.kind = SignalKind::Rewritten;
        assert!(!db.record_signal(&again).await.unwrap());

        let access = db.signals_for("alpha", "access").await.unwrap();
        assert_eq!(
            access.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["sig_1", "sig_3", "sig_2"]
        );
        assert_eq!(access[0], first);
        assert_eq!(access[1].weight, 3.0);
        let from_rows = trust_at(&access, t0, HALF_LIFE_DAYS);
        let in_memory = trust_at(&written[..3], t0, HALF_LIFE_DAYS);
        assert_eq!(from_rows, in_memory);

        let conv = db.signals_for_conversation("cnv_1").await.unwrap();
        assert_eq!(conv.len(), 2);
        assert_eq!(
            db.signal_categories(None).await.unwrap(),
            vec![
                ("alpha".to_string(), "access".to_string()),
                ("alpha".to_string(), "billing".to_string()),
                ("beta".to_string(), "access".to_string()),
            ]
        );
        assert_eq!(db.signal_categories(Some("beta")).await.unwrap().len(), 1);

        let mut row = TrustCacheRow {
            app: "alpha".into(),
            category: "access".into(),
            score: from_rows.score,
            effective_samples: from_rows.effective_samples,
            signals: from_rows.signals as i64,
            trend: 0.25,
            computed_at: t0,
        };
        db.put_trust_cache(&row).await.unwrap();
        row.score = 0.9;
        row.computed_at = t0 + 1;
        db.put_trust_cache(&row).await.unwrap();
        db.put_trust_cache(&TrustCacheRow {
            app: "beta".into(),
            ..row.clone()
        })
        .await
        .unwrap();
        let cached = db.trust_cache(Some("alpha")).await.unwrap();
        assert_eq!(cached, vec![row.clone()]);
        assert_eq!(db.trust_cache(None).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn conversations_for_email_are_the_customers_newest_first_per_app() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        for (front, app, email, updated) in [
            ("cnv_e1", "alpha", Some("ana@example.com"), 10),
            ("cnv_e2", "alpha", Some("ana@example.com"), 30),
            ("cnv_e3", "beta", Some("ana@example.com"), 20),
            ("cnv_e4", "alpha", Some("bob@example.com"), 40),
            ("cnv_e5", "alpha", None, 50),
        ] {
            db.upsert_conversation(&ConversationRow {
                id: format!("conv_{front}"),
                front_id: front.into(),
                app: Some(app.into()),
                customer_email: email.map(str::to_string),
                subject: None,
                status: ConversationStatus::Open,
                escalation: None,
                escalation_reason: None,
                assignee: None,
                sla_due_at: None,
                created_at: 1,
                updated_at: updated,
            })
            .await
            .unwrap();
        }
        let ids =
            |rows: Vec<ConversationRow>| rows.into_iter().map(|c| c.front_id).collect::<Vec<_>>();
        assert_eq!(
            ids(db
                .conversations_for_email(" Ana@Example.com ", None, 10)
                .await
                .unwrap()),
            ["cnv_e2", "cnv_e3", "cnv_e1"],
            "compared lowercased, newest first"
        );
        assert_eq!(
            ids(db
                .conversations_for_email("ana@example.com", Some("alpha"), 10)
                .await
                .unwrap()),
            ["cnv_e2", "cnv_e1"]
        );
        assert_eq!(
            ids(db
                .conversations_for_email("ana@example.com", None, 1)
                .await
                .unwrap()),
            ["cnv_e2"]
        );
        assert!(
            db.conversations_for_email("", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            db.conversations_for_email("carl@example.com", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
