//! `skill sla list|show|set|rm` against a running platform's database: a schedule from flags, a
//! policy from a TOML file, both listed as JSON and shown; a refusal exits 1 with its code
//! (`unknown_schedule`, `schedule_in_use`, `invalid_sla`); writes are audited as `cli:ops`.
//! `skill sla priority` sets a conversation's priority (human output and `--json`;
//! `invalid_priority`, `not_found`), audited, stored on the clock with who set it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use support_testkit::TestApp;

const SKILL: &str = env!("CARGO_BIN_EXE_skill");

#[tokio::test]
async fn schedules_and_policies_from_flags_and_files() {
    let t = TestApp::spawn().await;
    let slug = t.demo.apps[0].slug.to_string();
    let run = |args: Vec<String>| {
        let t = &t;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            t.skill_at(SKILL, None, &args).await.unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (code, _, err) = run(s(&[
        "sla",
        "set",
        "schedule",
        "--id",
        "office",
        "--timezone",
        "Mars/Olympus",
        "--hours",
        "mon-fri 09:00-17:00",
    ]))
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid_sla"), "{err}");

    let (code, out, err) = run(s(&[
        "--json",
        "sla",
        "set",
        "schedule",
        "--id",
        "office",
        "--name",
        "Berlin office",
        "--timezone",
        "Europe/Berlin",
        "--hours",
        "mon-fri 09:00-17:00",
        "--hours",
        "sat 10:00-12:00",
        "--holiday",
        "2026-12-25",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hours"].as_array().unwrap().len(), 6);
    assert_eq!(v["updated_by"], "cli:ops");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("urgent.toml");
    std::fs::write(
        &file,
        format!(
            "app = \"{slug}\"\nid = \"urgent\"\nname = \"Urgent\"\nposition = 1\nschedule = \"office\"\n\
             [conditions]\npriority = [\"high\"]\n\
             [first_reply]\nminutes = 60\nbusiness_hours = true\nwarn_before_minutes = 15\n"
        ),
    )
    .unwrap();
    let (code, _, err) = run(vec![
        "sla".into(),
        "set".into(),
        "policy".into(),
        "--file".into(),
        file.display().to_string(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(s(&[
        "sla",
        "set",
        "policy",
        "--app",
        &slug,
        "--id",
        "late",
        "--first-reply",
        "30",
        "--schedule",
        "nowhere",
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown_schedule"), "{err}");

    let (code, out, _) = run(s(&["--json", "sla", "list", "--app", &slug])).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policies"][0]["id"], "urgent");
    assert_eq!(v["policies"][0]["first_reply"]["warn_before_minutes"], 15);
    assert_eq!(v["schedules"][0]["id"], "office");
    let (code, out, _) = run(s(&["sla", "show", "policy", "urgent", "--app", &slug])).await;
    assert_eq!(code, 0);
    assert!(out.contains("\"business_hours\": true"), "{out}");

    let (code, _, err) = run(s(&["sla", "rm", "schedule", "office"])).await;
    assert_eq!(code, 1);
    assert!(err.contains("schedule_in_use"), "{err}");
    let (code, _, err) = run(s(&["sla", "rm", "policy", "urgent", "--app", &slug])).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(s(&["sla", "rm", "schedule", "office"])).await;
    assert_eq!(code, 0, "{err}");
    let store = &t.platform.store;
    assert!(store.list_sla_policies(None).await.unwrap().is_empty());
    let kinds: Vec<(String, String)> = store
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind.starts_with("sla."))
        .map(|r| (r.kind, r.actor))
        .collect();
    let ops = |k: &str| (k.to_string(), "cli:ops".to_string());
    assert_eq!(
        kinds,
        [
            ops("sla.schedule_set"),
            ops("sla.policy_set"),
            ops("sla.policy_removed"),
            ops("sla.schedule_removed")
        ]
    );
    t.shutdown().await.unwrap();
}

#[tokio::test]
async fn priority_by_hand_from_the_cli() {
    use support_core::store::{ConversationRow, ConversationStatus};
    let t = TestApp::spawn().await;
    let slug = t.demo.apps[0].slug.to_string();
    let now = support_core::time::now_ms();
    t.platform
        .store
        .upsert_conversation(&ConversationRow {
            id: "conv_cli_prio".into(),
            front_id: "cnv_cli_prio".into(),
            app: Some(slug.clone()),
            customer_email: None,
            subject: None,
            status: ConversationStatus::Open,
            escalation: None,
            escalation_reason: None,
            assignee: None,
            sla_due_at: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let run = |args: &'static [&'static str]| {
        let t = &t;
        async move { t.skill_at(SKILL, None, args).await.unwrap() }
    };
    let (code, _, err) = run(&["sla", "priority", "cnv_cli_prio", "asap"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid_priority"), "{err}");
    let (code, _, err) = run(&["sla", "priority", "cnv_nowhere", "high"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("not_found"), "{err}");
    let (code, out, err) = run(&["sla", "priority", "cnv_cli_prio", "high"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cnv_cli_prio priority high (was unset), set by cli:ops"),
        "{out}"
    );
    let (code, out, err) = run(&["--json", "sla", "priority", "cnv_cli_prio", "low"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["priority"], "low");
    assert_eq!(v["previous"], "high");
    assert_eq!(v["generation"], 2);
    let clock = t
        .platform
        .store
        .get_sla_clock("cnv_cli_prio")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (clock.priority.as_str(), clock.priority_set_by.as_deref()),
        ("low", Some("cli:ops"))
    );
    let audited = t
        .platform
        .store
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "sla.priority_set")
        .map(|r| (r.actor, r.conversation_id, r.data["priority"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        audited,
        [
            (
                "cli:ops".to_string(),
                Some("cnv_cli_prio".to_string()),
                serde_json::json!("high")
            ),
            (
                "cli:ops".to_string(),
                Some("cnv_cli_prio".to_string()),
                serde_json::json!("low")
            )
        ]
    );
    t.shutdown().await.unwrap();
}
