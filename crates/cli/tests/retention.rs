//! Retention (issue 11): the `support-retention` durable function on the embedded runner with a
//! manual clock (no sleeps), and `skill audit archive`, on SQLite and on Postgres when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support_core::audit::{self, AuditEvent};
use support_core::registry::{AppPolicy, AppRetention};
use support_core::settings::RetentionSettings;
use support_core::store::*;
use support_core::time::{DAY_MS, now_ms};
use support_steps::{Engine, Event, Runner, RunnerConfig};
use support_store::Db;
use support_testkit::TestDb;
use support_workflow::retention::{
    Clock, ManualClock, PURGED_KIND, RETENTION_FN, RETENTION_REQUESTED, RetentionReport,
    retention_function,
};

const T: Duration = Duration::from_secs(30);
/// The manual clock starts here: 2025-12-05T00:00:00Z.
const NOW: i64 = 1_764_892_800_000;

fn day(n: i64) -> i64 {
    n * DAY_MS
}

fn app_row(slug: &str, retention: AppRetention) -> AppRow {
    AppRow {
        id: format!("app_{slug}"),
        slug: slug.into(),
        name: slug.into(),
        front_inbox_ids: vec![],
        sdk_base_url: "http://127.0.0.1:1/support".into(),
        secrets_enc: "enc:v1:abcd:xyz".into(),
        stripe_account: None,
        policy: serde_json::to_value(AppPolicy {
            retention,
            ..AppPolicy::default()
        })
        .unwrap(),
        capabilities: json!({}),
        status: support_core::store::AppStatus::Connected,
        created_at: 1,
        updated_at: 1,
    }
}

async fn conversation(db: &Db, front_id: &str, app: Option<&str>) {
    db.upsert_conversation(&ConversationRow {
        id: format!("conv_{front_id}"),
        front_id: front_id.into(),
        app: app.map(str::to_string),
        customer_email: Some("jane@example.com".into()),
        subject: Some("Refund please".into()),
        status: support_core::store::ConversationStatus::Open,
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

async fn message(db: &Db, id: &str, conversation: &str, sent_at: i64) {
    db.upsert_message(&MessageRow {
        id: format!("msg_{id}"),
        front_id: id.into(),
        conversation_id: conversation.into(),
        direction: support_core::pipeline::inbound::Direction::Inbound,
        author: Some("jane@example.com".into()),
        body: Some(format!("I bought the course, message {id}")),
        raw_body: Some(format!("<p>I bought the course, message {id}</p>")),
        sent_at,
        purged_at: None,
    })
    .await
    .unwrap();
}

/// An approval-required refund and its approval; `decided_at: None` leaves it pending.
async fn approval(db: &Db, id: &str, app: &str, created_at: i64, decided_at: Option<i64>) {
    let (action_status, approval_status) = match decided_at {
        Some(_) => ("executed", "approved"),
        None => ("pending_approval", "pending"),
    };
    let action: ActionRow = serde_json::from_value(json!({
        "id": format!("act_{id}"), "conversation_id": "cnv_a", "app": app,
        "kind": "processRefund", "params": {"purchaseId": "pur_1", "reason": "asked at day 20"},
        "category": "refund", "confidence": 0.9, "reasoning": "inside the approval window",
        "risk": "approval_required", "status": action_status,
        "idempotency_key": format!("key_{id}"), "result": {"refund": "re_1"}, "error": null,
        "trace_id": null, "created_at": created_at, "updated_at": created_at
    }))
    .unwrap();
    db.insert_action(&action).await.unwrap();
    let row: ApprovalRow = serde_json::from_value(json!({
        "id": format!("apr_{id}"), "action_id": format!("act_{id}"), "channel": "dashboard",
        "slack_channel": null, "slack_ts": null, "status": approval_status,
        "decided_by": decided_at.map(|_| "token:ops"), "reason": null,
        "expires_at": created_at + DAY_MS, "created_at": created_at, "decided_at": decided_at,
        "approvers_required": 1, "amount_cents": 17900, "currency": "usd",
        "capability": decided_at.map(|_| "cap.v1.token"),
        "draft": "Hi Jane, your refund of $179.00 is on its way."
    }))
    .unwrap();
    db.insert_approval(&row).await.unwrap();
}

/// Whether a message still has its body (plain and raw agree).
async fn has_body(db: &Db, conversation: &str, id: &str) -> bool {
    let m = db
        .list_messages(conversation)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.front_id == id)
        .unwrap();
    assert_eq!(m.body.is_some(), m.raw_body.is_some(), "{m:?}");
    assert_eq!(m.body.is_none(), m.purged_at.is_some(), "{m:?}");
    m.body.is_some()
}

/// Whether an approval still has its payload (draft, capability, the action's params).
async fn has_payload(db: &Db, id: &str) -> bool {
    let ap = db
        .get_approval(&format!("apr_{id}"))
        .await
        .unwrap()
        .unwrap();
    let ac = db.get_action(&format!("act_{id}")).await.unwrap().unwrap();
    assert_eq!(ap.amount_cents, Some(17900), "metadata stays");
    let purged = db.approval_purged_at(&ap.id).await.unwrap();
    if ap.draft.is_some() {
        assert!(ac.params["purchaseId"].is_string());
        assert!(purged.is_none());
        true
    } else {
        assert_eq!(ac.params, json!({}));
        assert_eq!((ac.reasoning, ac.result, ap.capability), (None, None, None));
        assert!(purged.is_some());
        false
    }
}

/// Everything retention may touch, to compare before and after a run.
async fn snapshot(db: &Db) -> Value {
    let mut out = json!({});
    for c in ["cnv_a", "cnv_b", "cnv_x"] {
        out[c] = serde_json::to_value(db.list_messages(c).await.unwrap()).unwrap();
    }
    out["approvals"] = serde_json::to_value(db.list_approvals(None).await.unwrap()).unwrap();
    let mut actions = Vec::new();
    for a in db.list_approvals(None).await.unwrap() {
        actions.push(db.get_action(&a.action_id).await.unwrap());
    }
    out["actions"] = serde_json::to_value(actions).unwrap();
    out
}

struct Harness {
    engine: Engine,
    runner: Runner,
    n: u32,
}

impl Harness {
    fn start(db: &Db, settings: RetentionSettings, clock: Arc<dyn Clock>) -> Self {
        Self::start_with(db, settings, clock, vec![])
    }

    fn start_with(
        db: &Db,
        settings: RetentionSettings,
        clock: Arc<dyn Clock>,
        others: Vec<support_steps::Function>,
    ) -> Self {
        let mut b = Engine::builder(Arc::new(db.clone()))
            .config(RunnerConfig {
                poll_interval: Duration::from_millis(50),
                ..Default::default()
            })
            .function(retention_function(Arc::new(db.clone()), settings, clock));
        for f in others {
            b = b.function(f);
        }
        let engine = b.build().unwrap();
        let runner = engine.start();
        Self {
            engine,
            runner,
            n: 0,
        }
    }

    /// The report of the run started by event `id`, once it completed.
    async fn report_of(&self, event_id: &str) -> (String, RetentionReport) {
        let runs = self.engine.wait_for_runs_of(event_id, 1, T).await.unwrap();
        let done = self.engine.wait_for_run(&runs[0].id, T).await.unwrap();
        assert_eq!(
            done.run.status,
            support_steps::RunStatus::Completed,
            "{:?}",
            done.run.error
        );
        let report = serde_json::from_value(done.run.output.unwrap()).unwrap();
        (done.run.id, report)
    }

    /// Ask for a run (as an admin or a follow-up would) and wait for its report.
    async fn run(&mut self) -> RetentionReport {
        self.n += 1;
        let id = self
            .engine
            .send_one(
                Event::new(RETENTION_REQUESTED, json!({})).with_id(format!("test-{}", self.n)),
            )
            .await
            .unwrap();
        self.report_of(&id).await.1
    }
}

async fn purge_entries(db: &Db) -> Vec<Value> {
    db.list_audit(&AuditFilter {
        kind: Some(PURGED_KIND.into()),
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.data)
    .collect()
}

#[tokio::test]
async fn retention_purges_by_age_per_app_and_a_second_run_changes_nothing() {
    for t in TestDb::all().await.unwrap() {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        db.insert_app(&app_row("alpha", AppRetention::default()))
            .await
            .unwrap();
        db.insert_app(&app_row(
            "beta",
            AppRetention {
                message_body_days: Some(7),
                approval_payload_days: Some(10),
            },
        ))
        .await
        .unwrap();
        conversation(&db, "cnv_a", Some("alpha")).await;
        conversation(&db, "cnv_b", Some("beta")).await;
        conversation(&db, "cnv_x", None).await;
        message(&db, "a_old", "cnv_a", NOW - day(31)).await;
        message(&db, "a_edge", "cnv_a", NOW - day(30) + 1).await;
        message(&db, "a_new", "cnv_a", NOW - day(29)).await;
        message(&db, "b_old", "cnv_b", NOW - day(8)).await;
        message(&db, "b_new", "cnv_b", NOW - day(6)).await;
        message(&db, "x_old", "cnv_x", NOW - day(31)).await;
        message(&db, "x_new", "cnv_x", NOW - day(1)).await;
        approval(&db, "a_old", "alpha", NOW - day(92), Some(NOW - day(91))).await;
        approval(&db, "a_new", "alpha", NOW - day(90), Some(NOW - day(89))).await;
        approval(&db, "a_pending", "alpha", NOW - day(200), None).await;
        approval(&db, "b_old", "beta", NOW - day(12), Some(NOW - day(11))).await;
        approval(&db, "b_new", "beta", NOW - day(10), Some(NOW - day(9))).await;
        let audit_before = audit::verify(&db).await.unwrap().rows;

        let clock = Arc::new(ManualClock::new(NOW));
        let mut h = Harness::start(&db, RetentionSettings::default(), clock.clone());
        let first = h.run().await;
        assert!(first.complete);
        assert_eq!(first.now, NOW);
        assert_eq!((first.messages, first.approvals), (3, 2));
        assert_eq!(
            serde_json::to_value(&first.by_app).unwrap(),
            json!({"alpha": {"messages": 1, "approvals": 1}, "beta": {"messages": 1, "approvals": 1},
                   "_unowned": {"messages": 1, "approvals": 0}})
        );
        // Older than 30 days lose their bodies, newer keep them; beta's 7-day override.
        for (c, id, kept) in [
            ("cnv_a", "a_old", false),
            ("cnv_a", "a_edge", true),
            ("cnv_a", "a_new", true),
            ("cnv_b", "b_old", false),
            ("cnv_b", "b_new", true),
            ("cnv_x", "x_old", false),
            ("cnv_x", "x_new", true),
        ] {
            assert_eq!(has_body(&db, c, id).await, kept, "{id}");
        }
        // Decided approvals lose their payload after 90 days (beta: 10), pending ones never.
        for (id, kept) in [
            ("a_old", false),
            ("a_new", true),
            ("a_pending", true),
            ("b_old", false),
            ("b_new", true),
        ] {
            assert_eq!(has_payload(&db, id).await, kept, "{id}");
        }
        // The rows stay.
        assert_eq!(db.list_messages("cnv_a").await.unwrap().len(), 3);
        assert_eq!(db.list_approvals(None).await.unwrap().len(), 5);
        // One audit entry with the counts, and the chain still verifies.
        let entries = purge_entries(&db).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (
                entries[0]["messages"].clone(),
                entries[0]["approvals"].clone()
            ),
            (json!(3), json!(2))
        );
        assert_eq!(audit::verify(&db).await.unwrap().rows, audit_before + 1);

        // A second run changes nothing (but says so in its own entry).
        let before = snapshot(&db).await;
        let second = h.run().await;
        assert_eq!((second.messages, second.approvals), (0, 0));
        assert!(second.by_app.is_empty() && second.complete);
        assert_eq!(snapshot(&db).await, before);
        assert_eq!(purge_entries(&db).await.len(), 2);
        audit::verify(&db).await.unwrap();

        // Two days later the edge cases age out; the pending approval still never does.
        clock.advance(day(2));
        let third = h.run().await;
        assert_eq!(third.now, NOW + day(2));
        assert_eq!((third.messages, third.approvals), (3, 2), "{third:?}");
        for (c, id) in [("cnv_a", "a_edge"), ("cnv_a", "a_new"), ("cnv_b", "b_new")] {
            assert!(!has_body(&db, c, id).await, "{id}");
        }
        assert!(has_body(&db, "cnv_x", "x_new").await);
        assert!(!has_payload(&db, "a_new").await);
        assert!(!has_payload(&db, "b_new").await);
        assert!(has_payload(&db, "a_pending").await);
        clock.advance(day(3650));
        assert_eq!(h.run().await.approvals, 0);
        assert!(has_payload(&db, "a_pending").await);
        audit::verify(&db).await.unwrap();
        h.runner.shutdown().await;
    }
}

#[tokio::test]
async fn retention_work_is_bounded_and_a_follow_up_run_finishes_it() {
    for t in TestDb::all().await.unwrap() {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        db.insert_app(&app_row("alpha", AppRetention::default()))
            .await
            .unwrap();
        conversation(&db, "cnv_a", Some("alpha")).await;
        for i in 0..5 {
            message(&db, &format!("m{i}"), "cnv_a", NOW - day(40) + i).await;
        }
        let settings = RetentionSettings {
            batch_size: 2,
            max_batches_per_run: 2,
            ..RetentionSettings::default()
        };
        let mut h = Harness::start(&db, settings, Arc::new(ManualClock::new(NOW)));
        let first = h.run().await;
        assert_eq!((first.messages, first.complete), (4, false), "{first:?}");
        assert_eq!(first.batches, 2);
        // The run asked for a follow-up, which finishes the backlog.
        let runs = h
            .engine
            .list_runs(&support_steps::RunFilter {
                function_id: Some(RETENTION_FN.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let first_id = runs
            .iter()
            .find(|r| r.event.id == "test-1")
            .unwrap()
            .id
            .clone();
        let (_, follow) = h.report_of(&format!("retention-continue:{first_id}")).await;
        assert_eq!((follow.messages, follow.complete), (1, true), "{follow:?}");
        assert!(!has_body(&db, "cnv_a", "m4").await);
        assert_eq!(purge_entries(&db).await.len(), 2);
        audit::verify(&db).await.unwrap();
        h.runner.shutdown().await;
    }
}

/// Stands in for the inbound workflow: memoizes the customer's text and returns a draft.
fn echo() -> support_steps::Function {
    support_steps::Function::new("echo")
        .on_event("test/inbound")
        .handler(|ctx: support_steps::Ctx, ev: Event| async move {
            let text = ev.data["text"].as_str().unwrap_or_default().to_string();
            let t = text.clone();
            let thread: String = ctx.run("hydrate", move || async move { Ok(t) }).await?;
            if ev.data["wait"] == true {
                ctx.sleep("nap", Duration::from_secs(3600)).await?;
            }
            Ok(json!({"draft": format!("Re: {thread}")}))
        })
}

async fn event_payload(db: &Db, id: &str) -> Value {
    let text: String = sqlx::query_scalar("SELECT payload FROM steps_events WHERE id = $1")
        .bind(id)
        .fetch_one(db.write_pool())
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn retention_purges_the_runners_copies_of_finished_runs() {
    for t in TestDb::all().await.unwrap() {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        // The clock is 31 days ahead of the runner's (real) timestamps.
        let clock = Arc::new(ManualClock::new(now_ms() + day(31)));
        let mut h = Harness::start_with(
            &db,
            RetentionSettings::default(),
            clock.clone(),
            vec![echo()],
        );
        let secret = "my card number is in this message";
        let done_id = h
            .engine
            .send_one(Event::new("test/inbound", json!({"text": secret})).with_id("ev-done"))
            .await
            .unwrap();
        let waiting_id = h
            .engine
            .send_one(
                Event::new("test/inbound", json!({"text": secret, "wait": true}))
                    .with_id("ev-waiting"),
            )
            .await
            .unwrap();
        let done = h.engine.wait_for_runs_of(&done_id, 1, T).await.unwrap()[0]
            .id
            .clone();
        h.engine.wait_for_run(&done, T).await.unwrap();
        let waiting = h.engine.wait_for_runs_of(&waiting_id, 1, T).await.unwrap()[0]
            .id
            .clone();
        h.engine
            .wait_until("the second run to sleep", T, || async {
                Ok(h.engine
                    .get_run(&waiting)
                    .await?
                    .filter(|d| d.run.status == support_steps::RunStatus::Sleeping))
            })
            .await
            .unwrap();

        let report = h.run().await;
        assert_eq!((report.runs, report.events), (1, 1), "{report:?}");
        let d = h.engine.get_run(&done).await.unwrap().unwrap();
        assert_eq!(
            d.run.status,
            support_steps::RunStatus::Completed,
            "the row stays"
        );
        assert_eq!(d.run.output, None);
        assert_eq!(d.run.event.data, json!({"purged": true}));
        assert_eq!(d.run.event.id, "ev-done");
        assert!(!d.steps.is_empty());
        for st in &d.steps {
            assert_eq!(
                serde_json::to_value(st).unwrap()["result"],
                json!({"purged": true})
            );
        }
        assert_eq!(
            event_payload(&db, "ev-done").await["data"],
            json!({"purged": true})
        );
        assert_eq!(event_payload(&db, "ev-done").await["name"], "test/inbound");
        // A run still in flight keeps everything, and so does its event.
        let w = h.engine.get_run(&waiting).await.unwrap().unwrap();
        assert_eq!(w.run.event.data["text"], secret);
        assert!(serde_json::to_string(&w.steps).unwrap().contains(secret));
        assert_eq!(
            event_payload(&db, "ev-waiting").await["data"]["text"],
            secret
        );
        // Nothing of the finished run's text is left anywhere in the runner's tables.
        for (table, col) in [
            ("steps_steps", "result"),
            ("steps_runs", "event"),
            ("steps_runs", "output"),
            ("steps_events", "payload"),
        ] {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE {col} LIKE $1 AND {} <> $2",
                if table == "steps_steps" {
                    "run_id"
                } else {
                    "id"
                }
            )))
            .bind(format!("%{secret}%"))
            .bind(if table == "steps_events" {
                "ev-waiting"
            } else {
                waiting.as_str()
            })
            .fetch_one(db.write_pool())
            .await
            .unwrap();
            assert_eq!(n, 0, "{table}.{col}");
        }
        // Idempotent: a second run leaves the purged run as it is; the only new run it finds
        // is the first retention run (it ended before the clock's cutoff too).
        let before = serde_json::to_value(&d.steps).unwrap();
        let again = h.run().await;
        assert_eq!((again.runs, again.events), (1, 1), "{again:?}");
        let d2 = h.engine.get_run(&done).await.unwrap().unwrap();
        assert_eq!(serde_json::to_value(&d2.steps).unwrap(), before);
        assert_eq!(d2.run.event, d.run.event);
        audit::verify(&db).await.unwrap();
        h.runner.shutdown().await;
    }
}

#[tokio::test]
async fn retention_fires_on_its_cron_schedule() {
    let t = TestDb::sqlite().await.unwrap();
    let db = t.db.clone();
    conversation(&db, "cnv_x", None).await;
    message(&db, "x_old", "cnv_x", NOW - day(31)).await;
    let settings = RetentionSettings {
        schedule: "* * * * *".into(),
        ..RetentionSettings::default()
    };
    let h = Harness::start(&db, settings, Arc::new(ManualClock::new(NOW)));
    // One due minute in the window: one tick, one run.
    h.engine.fire_crons(now_ms() - 61_000).await;
    let runs = h
        .engine
        .wait_until("a completed retention run", T, || async {
            let runs = h
                .engine
                .list_runs(&support_steps::RunFilter {
                    function_id: Some(RETENTION_FN.into()),
                    ..Default::default()
                })
                .await?;
            Ok(runs
                .iter()
                .any(|r| r.status == support_steps::RunStatus::Completed)
                .then_some(runs))
        })
        .await
        .unwrap();
    assert_eq!(runs[0].event.name, support_steps::cron::SCHEDULED_EVENT);
    assert!(!has_body(&db, "cnv_x", "x_old").await);
    h.runner.shutdown().await;
}

// ---- skill audit archive ----

async fn skill(db_url: &str, cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    skill_env(db_url, cwd, args, &[]).await
}

async fn skill_env(
    db_url: &str,
    cwd: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skill"));
    cmd.envs(env.iter().copied());
    for (k, _) in std::env::vars() {
        if (k.starts_with("SUPPORT_") || k.starts_with("INNGEST_"))
            && !env.iter().any(|(e, _)| *e == k)
        {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(cwd)
        .args(args)
        .env("SUPPORT_DATABASE_URL", db_url)
        .env("SUPPORT_DATA_DIR", cwd)
        .env("SUPPORT_LOG__FILTER", "error")
        .env("USER", "ops")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn append(db: &Db, i: usize) -> audit::AuditRecord {
    db.append_audit(
        &AuditEvent::new(
            "tool.called",
            "agent",
            json!({"tool": "lookupUser", "i": i}),
        )
        .app("alpha")
        .conversation("cnv_a"),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn audit_archive_exports_deletes_and_records_the_new_genesis() {
    for t in TestDb::all().await.unwrap() {
        eprintln!("-- backend {:?}", t.backend());
        let db = t.db.clone();
        let dir = tempfile::tempdir().unwrap();
        // Rows written in two different milliseconds at least, so a date splits them: append
        // until the clock has moved past the first rows (work, not sleep; bounded).
        let mut rows = Vec::new();
        for i in 0..3 {
            rows.push(append(&db, i).await);
        }
        let split = rows[2].at + 1;
        for i in 3..100_000 {
            let r = append(&db, i).await;
            let later = r.at >= split;
            rows.push(r);
            if later && rows.len() >= 6 {
                break;
            }
        }
        assert!(rows.last().unwrap().at >= split, "the clock never moved");
        let expected: Vec<_> = rows.iter().take_while(|r| r.at < split).cloned().collect();
        let through = expected.last().unwrap().clone();
        let before = support_cli::cmd::audit::format_utc(split);
        let out = dir.path().join("archive.jsonl");

        // Bad input: a clear usage error, nothing changed.
        let (code, _, err) = skill(
            &t.url,
            dir.path(),
            &["audit", "archive", "--before", "last week"],
        )
        .await;
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        let (code, _, err) = skill(
            &t.url,
            dir.path(),
            &["audit", "archive", "--before", "2999-01-01"],
        )
        .await;
        assert_eq!(code, 2, "{err}");
        // A dry run says what would go and changes nothing.
        let (code, stdout, err) = skill(
            &t.url,
            dir.path(),
            &[
                "--json",
                "audit",
                "archive",
                "--before",
                &before,
                "--dry-run",
            ],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["through_seq"], through.seq);
        assert!(!out.exists());
        assert_eq!(audit::verify(&db).await.unwrap().rows, rows.len() as i64);

        let (code, stdout, err) = skill(
            &t.url,
            dir.path(),
            &[
                "--json",
                "audit",
                "archive",
                "--before",
                &before,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["archived"], true);
        assert_eq!(v["from_seq"], 1);
        assert_eq!(v["through_seq"], through.seq);
        assert_eq!(v["rows"], expected.len());
        assert_eq!(v["head_hash"], through.hash);

        // The file holds the range and its head hash, and checks on its own.
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), expected.len() + 1);
        assert_eq!(lines[0]["archive"]["head_hash"], through.hash);
        assert_eq!(lines[0]["archive"]["prev_hash"], audit::GENESIS);
        for (line, row) in lines[1..].iter().zip(&expected) {
            assert_eq!(line, &serde_json::to_value(row).unwrap());
        }
        let header =
            audit::verify_archive(std::io::BufReader::new(std::fs::File::open(&out).unwrap()))
                .unwrap();
        assert_eq!((header.from_seq, header.through_seq), (1, through.seq));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (code, stdout, err) = skill(
            &t.url,
            dir.path(),
            &["audit", "verify-archive", out.to_str().unwrap()],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("archive intact"), "{stdout}");

        // The rows are gone, the rest verifies from the recorded genesis, and the archive wrote
        // its own entry.
        let left = db.audit_page(0, 1000).await.unwrap();
        assert_eq!(left[0].seq, through.seq + 1);
        let entry = left.last().unwrap();
        assert_eq!(entry.kind, audit::ARCHIVED_KIND);
        assert_eq!(entry.actor, "cli:ops");
        assert_eq!(entry.data["through_hash"], through.hash);
        assert_eq!(entry.data["rows"], expected.len());
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(
            (report.genesis_seq, report.genesis_hash.clone()),
            (through.seq, through.hash.clone())
        );
        let (code, stdout, err) = skill(&t.url, dir.path(), &["--json", "audit", "verify"]).await;
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            (v["ok"].clone(), v["genesis_seq"].clone()),
            (json!(true), json!(through.seq))
        );
        // Human-readable by default.
        let (code, stdout, _) = skill(&t.url, dir.path(), &["audit", "verify"]).await;
        assert_eq!(code, 0);
        assert!(
            stdout.contains(&format!("after archived seq {}", through.seq)),
            "{stdout}"
        );

        // The same date again: nothing to archive, no entry, no file; the file is never
        // overwritten.
        let (code, stdout, err) = skill(
            &t.url,
            dir.path(),
            &["audit", "archive", "--before", &before],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("nothing to archive"), "{stdout}");
        assert_eq!(db.audit_page(0, 1000).await.unwrap().len(), left.len());
        // Everything so far, into the existing file: refused before anything is deleted.
        let now = support_cli::cmd::audit::format_utc(now_ms());
        let (code, _, err) = skill(
            &t.url,
            dir.path(),
            &[
                "audit",
                "archive",
                "--before",
                &now,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("never overwritten"), "{err}");
        assert_eq!(db.audit_page(0, 1000).await.unwrap().len(), left.len());
        // A second archive (default file name) continues from the first one's genesis.
        let (code, stdout, err) =
            skill(&t.url, dir.path(), &["audit", "archive", "--before", &now]).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            stdout.contains(&format!("archived audit rows {}..=", through.seq + 1)),
            "{stdout}"
        );
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(
            report.rows, 1,
            "only the second archive's own entry is left"
        );
        // Verification after a purge run and an archive together.
        let mut h = Harness::start(
            &db,
            RetentionSettings::default(),
            Arc::new(ManualClock::new(NOW)),
        );
        h.run().await;
        assert_eq!(audit::verify(&db).await.unwrap().rows, 2);
        h.runner.shutdown().await;
    }
}

#[tokio::test]
async fn audit_archive_refuses_a_broken_chain() {
    let t = TestDb::sqlite().await.unwrap();
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        append(&db, i).await;
    }
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(db.write_pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .execute(db.write_pool())
        .await
        .unwrap();
    let now = support_cli::cmd::audit::format_utc(now_ms());
    let (code, _, err) = skill(&t.url, dir.path(), &["audit", "archive", "--before", &now]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("altered"), "{err}");
    assert_eq!(
        db.audit_page(0, 100).await.unwrap().len(),
        3,
        "nothing deleted"
    );
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("audit-archive")
            })
            .count(),
        0
    );
}

#[tokio::test]
async fn every_platform_runs_the_retention_function() {
    for app in support_testkit::TestApp::each_backend().await {
        let engine = &app.platform.engine;
        let def = engine
            .functions()
            .into_iter()
            .find(|f| f.id == RETENTION_FN)
            .expect("platform_functions() registers support-retention");
        assert!(def.triggers.iter().any(|t| matches!(
            t,
            support_steps::Trigger::Cron { cron } if cron == "17 3 * * *"
        )));
        // A message of the demo's conversations stored 40 days ago loses its body on request.
        conversation(&app.platform.services.db, "cnv_old", None).await;
        message(
            &app.platform.services.db,
            "m_old",
            "cnv_old",
            now_ms() - day(40),
        )
        .await;
        let id = engine
            .send_one(Event::new(RETENTION_REQUESTED, json!({})).with_id("admin-request"))
            .await
            .unwrap();
        let run = engine.wait_for_runs_of(&id, 1, T).await.unwrap()[0]
            .id
            .clone();
        let done = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(done.run.output.unwrap()["messages"], 1);
        assert!(!has_body(&app.platform.services.db, "cnv_old", "m_old").await);
        audit::verify(&app.platform.services.db).await.unwrap();
        app.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn retention_settings_are_checked_and_shown() {
    let t = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, err) = skill_env(
        &t.url,
        dir.path(),
        &["--json", "config", "show"],
        &[("SUPPORT_RETENTION__MESSAGE_BODY_DAYS", "14")],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["retention"]["message_body_days"], 14);
    assert_eq!(v["retention"]["approval_payload_days"], 90);
    for (var, value, key) in [
        (
            "SUPPORT_RETENTION__MESSAGE_BODY_DAYS",
            "0",
            "retention.message_body_days",
        ),
        (
            "SUPPORT_RETENTION__SCHEDULE",
            "every day",
            "retention.schedule",
        ),
    ] {
        let (code, _, err) =
            skill_env(&t.url, dir.path(), &["config", "show"], &[(var, value)]).await;
        assert_eq!(code, 2, "{var}={value}: {err}");
        assert!(err.contains(key), "{err}");
    }
}
