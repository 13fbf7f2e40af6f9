//! The dashboard's admin pages, server-side, on SQLite and (with `TEST_DATABASE_URL`)
//! Postgres, for each role: approvals (the demo refund approved from the dashboard, stale and
//! forged forms, reject, edits, two approvers), the audit trail (filters, streamed export,
//! verify and a tampered row), dead letters (replay) and apps (policy diff, secret rotation,
//! Stripe Connect).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::store::{AuditRecord, DeadLetter};
use support_testkit::{Fakes, TestApp, TestBackend};

const WAIT: Duration = Duration::from_secs(60);

/// A signed-in browser without JavaScript: a session cookie, the session's CSRF token, and no
/// redirect following (so a `303` is seen as such).
struct Web {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

struct Answer {
    status: u16,
    body: String,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
}

impl Web {
    /// A new user of `role`, signed in through `/login` ([`TestApp::login_as`]).
    async fn login(app: &TestApp, role: Role) -> Web {
        let s = app.login_as(role).await;
        Web {
            client: s.client,
            base: s.base_url,
            cookie: s.cookie,
            csrf: s.csrf,
        }
    }

    async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            body: res.text().await.unwrap(),
            location,
            headers,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Self::answer(res).await
    }

    /// A form POST with this session's CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A form POST with exactly `fields` (no CSRF token unless given).
    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        Self::answer(res).await
    }
}

/// SQLite, plus Postgres when `TEST_DATABASE_URL` is set.
async fn backends(fakes: Fakes, tweak: fn(&mut support_core::settings::Settings)) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for b in [TestBackend::Sqlite, TestBackend::Postgres] {
        match TestApp::spawn_with_fakes(b, fakes, tweak).await {
            Some(app) => apps.push(app),
            None => eprintln!("SKIPPED: Postgres (set TEST_DATABASE_URL)"),
        }
    }
    apps
}

async fn approval_status(app: &TestApp, id: &str) -> String {
    app.platform
        .store
        .get_approval(id)
        .await
        .unwrap()
        .unwrap()
        .status
        .to_string()
}

#[tokio::test]
async fn approvals_pages_decide_through_the_shared_decision() {
    let fakes = Fakes {
        stripe: true,
        slack: false,
    };
    for app in backends(fakes, |_| {}).await {
        eprintln!("-- {:?}", app.backend);
        let stripe = app.stripe.as_ref().unwrap();
        let (d, action, approval) = app.pending_refund(0).await;
        let viewer = Web::login(&app, Role::Viewer).await;
        let agent = Web::login(&app, Role::Agent).await;
        let admin = Web::login(&app, Role::Admin).await;
        let detail = format!("/approvals/{}", approval.id);
        let approve = format!("{detail}/approve");

        // Everyone reads the queue and the detail; only agents and admins get the forms.
        for w in [&viewer, &agent, &admin] {
            let list = w.get("/approvals").await;
            assert_eq!(list.status, 200, "{}", list.body);
            assert!(list.body.contains(&detail), "{}", list.body);
            assert!(list.body.contains("left"), "the expiry countdown");
        }
        let seen = viewer.get(&detail).await;
        assert_eq!(seen.status, 200);
        assert!(
            !seen.body.contains(&approve),
            "a viewer sees no decision form"
        );
        let charge = action.params["chargeId"].as_str().unwrap().to_string();
        let money = support_core::approvals::format_money(
            approval.amount_cents.unwrap(),
            approval.currency.as_deref(),
        );
        let seen = agent.get(&detail).await;
        assert!(seen.body.contains(&approve));
        assert!(
            seen.body.contains(&format!("refund {money} to {charge}")),
            "the button names amount and target: {}",
            seen.body
        );

        // A viewer's forged POST (with its own valid token) is refused and audited.
        let forged = viewer.post(&approve, &[]).await;
        assert_eq!(forged.status, 403, "{}", forged.body);
        assert!(forged.body.contains("forbidden"));
        // A form without its token changes nothing and shows the current state.
        let no_token = agent.post_raw(&approve, &[]).await;
        assert_eq!(no_token.status, 403);
        assert!(no_token.body.contains("csrf_invalid"));
        assert!(no_token.body.contains("pending"));
        assert_eq!(approval_status(&app, &approval.id).await, "pending");
        let refused = app.audit_of("approval.refused").await;
        assert!(
            refused.iter().any(|r| r["data"]["code"] == "forbidden"),
            "{refused:?}"
        );

        // The agent approves: one refund on Stripe, the draft in Front.
        let done = agent.post(&approve, &[]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some(detail.as_str()));
        let run = app.finished_run(&d.event_id, WAIT).await;
        assert_eq!(
            run.run.status,
            support_steps::RunStatus::Completed,
            "{:?}",
            run.run.error
        );
        assert_eq!(stripe.refunds().len(), 1, "{:?}", stripe.refunds());
        assert!(
            !app.front.drafts(&d.conversation_id).is_empty(),
            "the draft reached Front"
        );
        let approved = app.audit_of("approval.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0]["data"]["via"], "session");
        assert_eq!(approved[0]["data"]["channel"], "dashboard");

        // A stale form: already decided. The user is told, and sees the current state.
        let stale = admin.post(&approve, &[]).await;
        assert_eq!(stale.status, 409, "{}", stale.body);
        assert!(stale.body.contains("approval_already_decided"));
        assert!(stale.body.contains("approved"));
        assert_eq!(stripe.refunds().len(), 1, "still exactly one refund");
        let decided = viewer.get("/approvals").await;
        assert!(decided.body.contains("Decided") && decided.body.contains(&detail));

        // Two approvers, reject with a reason, edits within the charge.
        app.set_policy(0, |p| p.two_approver_above_cents = Some(1))
            .await;
        let (d2, _, second) = app.pending_refund(1).await;
        assert_eq!(second.approvers_required, 2);
        let base = format!("/approvals/{}", second.id);
        let reject = format!("{base}/reject");
        assert_eq!(viewer.post(&reject, &[("reason", "no")]).await.status, 403);
        let no_reason = agent.post(&reject, &[("reason", "  ")]).await;
        assert_eq!(no_reason.status, 422);
        assert!(no_reason.body.contains("reason_required"));
        let too_much = agent
            .post(
                &format!("{base}/edit"),
                &[("amount", "999999.00"), ("draft", "Hi")],
            )
            .await;
        assert_eq!(too_much.status, 422, "{}", too_much.body);
        assert!(too_much.body.contains("invalid_edit"));
        let first_vote = agent.post(&format!("{base}/approve"), &[]).await;
        assert_eq!(first_vote.status, 303);
        let progress = admin.get(&base).await;
        assert!(progress.body.contains("1 of 2"), "{}", progress.body);
        let rejected = admin
            .post(&reject, &[("reason", "duplicate request")])
            .await;
        assert_eq!(rejected.status, 303, "{}", rejected.body);
        assert_eq!(approval_status(&app, &second.id).await, "rejected");
        let run = app.finished_run(&d2.event_id, WAIT).await;
        assert_eq!(run.run.status, support_steps::RunStatus::Completed);
        assert_eq!(stripe.refunds().len(), 1, "no refund on rejection");
        let shown = viewer.get(&base).await;
        assert!(shown.body.contains("duplicate request"));

        // A store failure renders an error panel with its code; the page around it renders.
        if app.backend == TestBackend::Sqlite {
            let db = support_store::Db::connect_lazy(&app.database_url()).unwrap();
            sqlx::query("ALTER TABLE approval_votes RENAME TO approval_votes_away")
                .execute(db.write_pool())
                .await
                .unwrap();
            let broken = viewer.get("/approvals").await;
            assert_eq!(broken.status, 200);
            assert!(broken.body.contains("error-panel"), "{}", broken.body);
            assert!(broken.body.contains("Error code"));
            assert!(broken.body.contains("<nav"), "the shell still renders");
        }
    }
}

async fn append(app: &TestApp, kind: &str, n: usize) {
    for i in 0..n {
        let ev = AuditEvent::new(
            kind,
            "user:test@example.com",
            json!({"i": i, "note": "a, \"quoted\" value"}),
        )
        .app("audit-app");
        app.platform.store.append_audit(&ev).await.unwrap();
    }
}

#[tokio::test]
async fn audit_pages_filter_export_and_verify() {
    for app in backends(Fakes::default(), |_| {}).await {
        eprintln!("-- {:?}", app.backend);
        append(&app, "test.small", 7).await;
        // More than one export batch.
        append(
            &app,
            "test.bulk",
            support_web::pages::audit::EXPORT_BATCH as usize + 20,
        )
        .await;
        let viewer = Web::login(&app, Role::Viewer).await;
        let agent = Web::login(&app, Role::Agent).await;
        let admin = Web::login(&app, Role::Admin).await;

        let page = viewer.get("/audit?kind=test.small").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let last = app
            .platform
            .store
            .audit_search(
                &support_core::store::AuditQuery {
                    kind: Some("test.small".into()),
                    ..Default::default()
                },
                support_core::store::SeqCursor::Newest,
                1,
            )
            .await
            .unwrap()
            .remove(0);
        assert!(page.body.contains(&last.hash[..12]), "the hash is shown");
        assert!(
            page.body.contains(&last.prev_hash[..12]),
            "the previous hash is shown"
        );
        assert!(!page.body.contains("test.bulk"), "filtered by kind");
        let bad = viewer.get("/audit?from=yesterday").await;
        assert!(bad.body.contains("bad_filter"));
        // Pages go by seq: the second page of the bulk rows continues where the first ended.
        let first = viewer.get("/audit?kind=test.bulk").await;
        assert!(first.body.contains("before="), "an Older link");

        // Export and verify are for admins.
        for w in [&viewer, &agent] {
            assert_eq!(w.get("/audit/export.jsonl").await.status, 403);
            assert_eq!(w.get("/audit/export.csv").await.status, 403);
            assert_eq!(w.get("/audit/verify").await.status, 403);
        }
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let jsonl = admin
            .get(&format!(
                "/audit/export.jsonl?kind=test.bulk&from={today}&to={today}"
            ))
            .await;
        assert_eq!(jsonl.status, 200);
        assert_eq!(jsonl.headers["content-type"], "application/x-ndjson");
        let rows: Vec<AuditRecord> = jsonl
            .body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            rows.len(),
            support_web::pages::audit::EXPORT_BATCH as usize + 20
        );
        assert!(
            rows.iter()
                .all(|r| r.kind == "test.bulk" && r.hash_is_valid())
        );
        assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
        let csv = admin
            .get("/audit/export.csv?kind=test.small&app=audit-app")
            .await;
        assert_eq!(csv.status, 200);
        let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], support_web::pages::audit::CSV_HEADER.trim_end());
        assert_eq!(lines.len(), 8, "{}", csv.body);
        assert!(
            lines[1].contains("\"{\"\"i\"\":0"),
            "JSON quoted: {}",
            lines[1]
        );
        let exported = app.audit_of("audit.exported").await;
        assert_eq!(exported.len(), 2);

        let ok = admin.get("/audit/verify").await;
        assert_eq!(ok.status, 200);
        assert!(ok.body.contains("The chain is intact"), "{}", ok.body);

        // Tamper with a row: verify names it.
        let db = support_store::Db::connect_lazy(&app.database_url()).unwrap();
        let unlock = match app.backend {
            TestBackend::Sqlite => "DROP TRIGGER audit_log_no_update",
            TestBackend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        };
        sqlx::query(unlock).execute(db.write_pool()).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = $1")
            .bind(last.seq)
            .execute(db.write_pool())
            .await
            .unwrap();
        let broken = admin.get("/audit/verify").await;
        assert_eq!(broken.status, 200);
        assert!(
            broken.body.contains("audit_chain_broken"),
            "{}",
            broken.body
        );
        assert!(
            broken.body.contains(&format!("seq {}", last.seq)),
            "{}",
            broken.body
        );
    }
}

#[tokio::test]
async fn dead_letters_page_replays_through_the_shared_path() {
    for app in backends(Fakes::default(), |_| {}).await {
        eprintln!("-- {:?}", app.backend);
        let letter: DeadLetter = serde_json::from_value(json!({
            "id": "dl_dash1", "kind": "webhook", "ref_id": "stripe:evt_dash1",
            "error": "the database was away", "created_at": 1_000,
            "payload": {"id": "evt_dash1", "type": "customer.created", "data": {"object": {}}},
            "resolved_at": null
        }))
        .unwrap();
        app.platform
            .store
            .insert_dead_letter(&letter)
            .await
            .unwrap();
        let viewer = Web::login(&app, Role::Viewer).await;
        let agent = Web::login(&app, Role::Agent).await;
        let admin = Web::login(&app, Role::Admin).await;
        let replay = "/dead-letters/dl_dash1/replay";
        for w in [&viewer, &agent] {
            assert_eq!(w.get("/dead-letters").await.status, 403);
            assert_eq!(w.post(replay, &[]).await.status, 403);
        }
        let page = admin.get("/dead-letters").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("the database was away"));
        assert!(page.body.contains("Replay webhook stripe:evt_dash1"));
        let no_token = admin.post_raw(replay, &[]).await;
        assert_eq!(no_token.status, 403);
        assert!(no_token.body.contains("csrf_invalid"));
        let done = admin.post(replay, &[]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let stored = app
            .platform
            .store
            .get_dead_letter("dl_dash1")
            .await
            .unwrap()
            .unwrap();
        assert!(stored.resolved_at.is_some());
        let again = admin.post(replay, &[]).await;
        assert_eq!(again.status, 409);
        assert!(again.body.contains("dead_letter_resolved"));
        let all = admin.get("/dead-letters?status=all").await;
        assert!(all.body.contains("resolved"));
    }
}

fn with_connect(s: &mut support_core::settings::Settings) {
    s.stripe.connect_client_id = Some("ca_dashboard_test".into());
}

#[tokio::test]
async fn apps_pages_edit_policy_rotate_and_connect() {
    for app in backends(Fakes::default(), with_connect).await {
        eprintln!("-- {:?}", app.backend);
        let slug = app.demo.apps[0].slug.clone();
        let viewer = Web::login(&app, Role::Viewer).await;
        let agent = Web::login(&app, Role::Agent).await;
        let admin = Web::login(&app, Role::Admin).await;
        let page = format!("/apps/{slug}");
        let policy = format!("{page}/policy");
        let rotate = format!("{page}/rotate-secret");
        let connect = format!("{page}/stripe/connect");

        let list = viewer.get("/apps").await;
        assert_eq!(list.status, 200);
        assert!(list.body.contains(&page));
        let read = viewer.get(&page).await;
        assert_eq!(read.status, 200);
        assert!(
            read.body.contains("refund_auto_days"),
            "the policy is shown"
        );
        assert!(!read.body.contains(&rotate), "no admin forms for a viewer");
        let own = admin.get(&page).await;
        assert!(own.body.contains(&rotate) && own.body.contains("name=\"policy\""));

        let row = app.platform.store.get_app(&slug).await.unwrap().unwrap();
        let mut pol = support_core::registry::policy_of(&row).unwrap();
        let before = pol.refund_auto_days;
        pol.refund_auto_days = before - 5;
        let text = serde_json::to_string_pretty(&pol).unwrap();
        let updated_at = row.updated_at.to_string();
        for w in [&viewer, &agent] {
            for path in [&policy, &rotate, &connect] {
                let a = w
                    .post(path, &[("policy", &text), ("updated_at", &updated_at)])
                    .await;
                assert_eq!(a.status, 403, "{path}");
            }
        }
        // Validation: bad JSON, unknown fields, windows out of order.
        for (bad, what) in [
            ("{", "not valid JSON"),
            ("{\"refund_auto_dayz\": 3}", "unknown policy field"),
            (
                "{\"refund_auto_days\": 50, \"refund_approval_days\": 10}",
                "refund windows",
            ),
        ] {
            let a = admin
                .post(&policy, &[("policy", bad), ("updated_at", &updated_at)])
                .await;
            assert_eq!(a.status, 422, "{bad}");
            assert!(
                a.body.contains("invalid_policy") && a.body.contains(what),
                "{}",
                a.body
            );
        }
        // The first POST shows the diff; nothing changes yet.
        let preview = admin
            .post(&policy, &[("policy", &text), ("updated_at", &updated_at)])
            .await;
        assert_eq!(preview.status, 200);
        assert!(preview.body.contains("class=\"del\"") && preview.body.contains("class=\"add\""));
        assert!(
            preview.body.contains(&format!(": {before},")),
            "{}",
            preview.body
        );
        assert!(preview.body.contains(&format!(": {},", before - 5)));
        assert!(preview.body.contains("Apply this change"));
        let unchanged = app.platform.store.get_app(&slug).await.unwrap().unwrap();
        assert_eq!(unchanged.updated_at, row.updated_at);
        // A confirmation against an app changed meanwhile is refused and shows the new diff.
        let stale = admin
            .post(
                &policy,
                &[("policy", &text), ("updated_at", "1"), ("confirm", "1")],
            )
            .await;
        assert_eq!(stale.status, 409);
        let saved = admin
            .post(
                &policy,
                &[
                    ("policy", &text),
                    ("updated_at", &updated_at),
                    ("confirm", "1"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let now = app.platform.store.get_app(&slug).await.unwrap().unwrap();
        assert_eq!(
            support_core::registry::policy_of(&now)
                .unwrap()
                .refund_auto_days,
            before - 5
        );
        let audited = app.audit_of("app.policy_updated").await;
        assert_eq!(audited.len(), 1);
        assert!(
            audited[0]["actor"]
                .as_str()
                .unwrap()
                .starts_with("user:admin-")
        );
        assert!(
            audited[0]["data"]["diff"]
                .to_string()
                .contains("refund_auto_days")
        );

        // Rotation: the new secret is shown once.
        let rotated = admin.post(&rotate, &[]).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        assert_eq!(rotated.headers["cache-control"], "no-store");
        let app_row = app.platform.store.get_app(&slug).await.unwrap().unwrap();
        let secrets =
            support_core::registry::Registry::secrets_of(&app.platform.master_key, &app_row)
                .unwrap();
        let newest = secrets.last().unwrap();
        assert!(rotated.body.contains(&newest.secret));
        assert!(
            !admin.get(&page).await.body.contains(&newest.secret),
            "shown once"
        );
        assert_eq!(app.audit_of("app.secret_rotated").await.len(), 1);

        // Stripe Connect: a link to Stripe's authorize page (single use), audited.
        let link = admin.post(&connect, &[]).await;
        assert_eq!(link.status, 200, "{}", link.body);
        let connect_url = &app.platform.settings.stripe.connect_url;
        assert!(
            link.body.contains(&format!("href=\"{connect_url}")),
            "{}",
            link.body
        );
        assert!(link.body.contains("ca_dashboard_test"));
        assert_eq!(app.audit_of("stripe.connect_link_created").await.len(), 1);
    }
}
