//! `AutoSendStore` on SQLite, and on Postgres when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use support_core::autosend::Mode;
use support_core::store::*;
use support_testkit::TestDb;

#[tokio::test]
async fn modes_certificates_switches_and_send_intents() {
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        assert_eq!(db.get_mode("a", "access").await.unwrap(), None);
        let mut m = ModeRow {
            app: "a".into(),
            category: "access".into(),
            mode: Mode::Auto,
            reason: Some("the gate holds".into()),
            changed_by: "cli:test".into(),
            changed_at: 1,
            demoted_at: None,
            demotion_reason: None,
        };
        db.put_mode(&m).await.unwrap();
        m.mode = Mode::Draft;
        m.demoted_at = Some(2);
        m.demotion_reason = Some("reopened".into());
        db.put_mode(&m).await.unwrap();
        assert_eq!(db.get_mode("a", "access").await.unwrap(), Some(m.clone()));
        db.put_mode(&ModeRow {
            app: "b".into(),
            mode: Mode::Shadow,
            ..m.clone()
        })
        .await
        .unwrap();
        assert_eq!(db.list_modes(Some("a")).await.unwrap(), vec![m.clone()]);
        assert_eq!(db.list_modes(None).await.unwrap().len(), 2);

        let mut c = CertificateRow {
            app: "a".into(),
            category: "access".into(),
            passed: true,
            inputs_hash: "h1".into(),
            scenarios: 4,
            failures: json!([]),
            certified_at: 10,
        };
        db.put_certificate(&c).await.unwrap();
        c.passed = false;
        c.inputs_hash = "h2".into();
        c.failures = json!(["x: category unknown"]);
        db.put_certificate(&c).await.unwrap();
        assert_eq!(
            db.get_certificate("a", "access").await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(db.list_certificates(None).await.unwrap(), vec![c]);
        assert!(db.list_certificates(Some("b")).await.unwrap().is_empty());

        let mut s = SwitchRow {
            scope: "*".into(),
            enabled: false,
            reason: Some("incident".into()),
            changed_by: "cli:test".into(),
            changed_at: 3,
        };
        db.put_switch(&s).await.unwrap();
        s.enabled = true;
        db.put_switch(&s).await.unwrap();
        assert_eq!(db.list_switches().await.unwrap(), vec![s]);

        let intent = AutoSendRow {
            run_id: "run_1".into(),
            app: "a".into(),
            category: "access".into(),
            conversation_id: "cnv_1".into(),
            marker: "<!-- support-draft:run_1 -->".into(),
            status: AutoSendStatus::Intent,
            front_message: None,
            gate: json!({"allowed": true}),
            created_at: 5,
            sent_at: None,
        };
        assert!(db.record_send_intent(&intent).await.unwrap());
        assert!(
            !db.record_send_intent(&intent).await.unwrap(),
            "one intent per run"
        );
        db.mark_sent("run_1", "uid_1", 6).await.unwrap();
        let sent = db.get_send("run_1").await.unwrap().unwrap();
        assert_eq!(
            (
                sent.status.as_str(),
                sent.front_message.as_deref(),
                sent.sent_at
            ),
            ("sent", Some("uid_1"), Some(6))
        );
        assert_eq!(
            db.sends_for_conversation("cnv_1").await.unwrap(),
            vec![sent]
        );
        assert!(db.sends_for_conversation("cnv_2").await.unwrap().is_empty());
    }
}
