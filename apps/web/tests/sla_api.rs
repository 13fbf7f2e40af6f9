//! `/api/v1/sla/…` on SQLite and (with `TEST_DATABASE_URL`) Postgres: viewers read, only admins
//! write; refusals carry stable codes (`invalid_sla`, `unknown_schedule`, `schedule_in_use`,
//! `not_found`, `payload_too_large`, `bad_request`, `forbidden`, `unauthorized`); writes are
//! audited; the "at risk" list is by `sla_due_at`. Agents and admins set a conversation's
//! priority (viewers cannot; `invalid_priority`; audited with the actor; the clock's next
//! generation carries it and `support/sla.changed` re-evaluates it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use support_core::auth::Role;
use support_core::store::{ConversationRow, ConversationStatus};
use support_core::time::now_ms;
use support_testkit::TestApp;

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    send(app, reqwest::Method::GET, Some(token), path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    send(
        app,
        reqwest::Method::POST,
        Some(token),
        path,
        Some(body.to_string()),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    send(app, reqwest::Method::DELETE, Some(token), path, None).await
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn admins_write_everyone_reads_and_refusals_have_codes() {
    for t in TestApp::each_backend().await {
        let slug = t.demo.apps[0].slug.to_string();
        let admin = t.token("sla-admin", Role::Admin).await;
        let viewer = t.token("sla-viewer", Role::Viewer).await;
        let schedule = json!({"id": "office", "name": "Office", "timezone": "Europe/Berlin",
            "hours": [{"day": "mon", "start": "09:00", "end": "17:00"}], "holidays": ["2026-12-25"]});
        let policy = json!({"app": slug, "id": "urgent", "name": "Urgent", "position": 1,
            "conditions": {"priority": ["high"]},
            "first_reply": {"minutes": 60, "business_hours": true, "warn_before_minutes": 15},
            "schedule": "office"});

        let (s, _) = send(&t, reqwest::Method::GET, None, "/api/v1/sla/policies", None).await;
        assert_eq!(s, 401);
        let (s, v) = post(&t, &viewer, "/api/v1/sla/schedules", schedule.clone()).await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, v) = post(&t, &admin, "/api/v1/sla/policies", policy.clone()).await;
        assert_eq!((s, code(&v)), (400, "unknown_schedule"), "{v}");
        let mut bad = schedule.clone();
        bad["timezone"] = json!("Mars/Olympus");
        let (s, v) = post(&t, &admin, "/api/v1/sla/schedules", bad).await;
        assert_eq!((s, code(&v)), (400, "invalid_sla"), "{v}");
        let mut unknown = schedule.clone();
        unknown["colour"] = json!("red");
        let (s, v) = post(&t, &admin, "/api/v1/sla/schedules", unknown).await;
        assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
        let huge = json!({"id": "x", "name": "x".repeat(70 * 1024)});
        let (s, v) = post(&t, &admin, "/api/v1/sla/schedules", huge).await;
        assert_eq!((s, code(&v)), (413, "payload_too_large"), "{v}");

        let (s, v) = post(&t, &admin, "/api/v1/sla/schedules", schedule.clone()).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["updated_by"], "token:sla-admin");
        let (s, v) = post(&t, &admin, "/api/v1/sla/policies", policy.clone()).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["pause_when_waiting"], true, "the default");

        let (s, v) = get(&t, &viewer, &format!("/api/v1/sla/policies?app={slug}")).await;
        assert_eq!(s, 200);
        assert_eq!(v["items"].as_array().unwrap().len(), 1);
        assert_eq!(v["items"][0]["first_reply"]["warn_before_minutes"], 15);
        let (s, v) = get(&t, &viewer, &format!("/api/v1/sla/policies/{slug}/urgent")).await;
        assert_eq!((s, v["schedule"].as_str()), (200, Some("office")));
        let (s, v) = get(&t, &viewer, "/api/v1/sla/schedules/office").await;
        assert_eq!((s, v["timezone"].as_str()), (200, Some("Europe/Berlin")));

        let (s, v) = delete(&t, &viewer, "/api/v1/sla/schedules/office").await;
        assert_eq!((s, code(&v)), (403, "forbidden"));
        let (s, v) = delete(&t, &admin, "/api/v1/sla/schedules/office").await;
        assert_eq!((s, code(&v)), (409, "schedule_in_use"), "{v}");
        let (s, v) = delete(&t, &admin, &format!("/api/v1/sla/policies/{slug}/nope")).await;
        assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
        let (s, _) = delete(&t, &admin, &format!("/api/v1/sla/policies/{slug}/urgent")).await;
        assert_eq!(s, 204);
        let (s, _) = delete(&t, &admin, "/api/v1/sla/schedules/office").await;
        assert_eq!(s, 204);

        let kinds: Vec<String> = t
            .audit_of("sla.policy_set")
            .await
            .into_iter()
            .chain(t.audit_of("sla.policy_removed").await)
            .chain(t.audit_of("sla.schedule_set").await)
            .chain(t.audit_of("sla.schedule_removed").await)
            .map(|e| {
                format!(
                    "{} {}",
                    e["kind"].as_str().unwrap(),
                    e["actor"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "sla.policy_set token:sla-admin",
                "sla.policy_removed token:sla-admin",
                "sla.schedule_set token:sla-admin",
                "sla.schedule_removed token:sla-admin"
            ]
        );

        // At risk: past due and due within the window, soonest first; later ones not.
        let now = now_ms();
        for (id, due) in [
            ("cnv_late", now - 60_000),
            ("cnv_soon", now + 10 * 60_000),
            ("cnv_later", now + 5 * 3_600_000),
        ] {
            t.platform
                .store
                .upsert_conversation(&ConversationRow {
                    id: format!("conv_{id}"),
                    front_id: id.into(),
                    app: Some(slug.clone()),
                    customer_email: None,
                    subject: Some(id.into()),
                    status: ConversationStatus::Open,
                    escalation: None,
                    escalation_reason: None,
                    assignee: None,
                    sla_due_at: Some(due),
                    created_at: now,
                    updated_at: now,
                })
                .await
                .unwrap();
        }
        let (s, v) = get(&t, &viewer, "/api/v1/sla/at-risk?within_minutes=60").await;
        assert_eq!(s, 200);
        let items = v["items"].as_array().unwrap();
        let ids: Vec<&str> = items
            .iter()
            .map(|i| i["conversation_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["cnv_late", "cnv_soon"]);
        assert_eq!(items[0]["breached"], true);
        assert_eq!(items[1]["breached"], false);
        let (s, v) = get(&t, &viewer, "/api/v1/sla/at-risk?within_minutes=-5").await;
        assert_eq!((s, code(&v)), (400, "bad_request"));
        t.shutdown().await.unwrap();
    }
}

fn conversation(id: &str, app: &str, now: i64) -> ConversationRow {
    ConversationRow {
        id: format!("conv_{id}"),
        front_id: id.into(),
        app: Some(app.into()),
        customer_email: None,
        subject: Some(id.into()),
        status: ConversationStatus::Open,
        escalation: None,
        escalation_reason: None,
        assignee: None,
        sla_due_at: None,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn agents_set_a_conversations_priority_viewers_cannot() {
    for t in TestApp::each_backend().await {
        let slug = t.demo.apps[0].slug.to_string();
        let agent = t.token("sla-agent", Role::Agent).await;
        let viewer = t.token("sla-viewer", Role::Viewer).await;
        let store = t.platform.store.clone();
        store
            .upsert_conversation(&conversation("cnv_prio", &slug, now_ms()))
            .await
            .unwrap();
        let path = "/api/v1/sla/conversations/cnv_prio/priority";

        let (s, v) = send(
            &t,
            reqwest::Method::POST,
            None,
            path,
            Some(json!({"priority": "high"}).to_string()),
        )
        .await;
        assert_eq!((s, code(&v)), (401, "unauthorized"), "{v}");
        let (s, v) = post(&t, &viewer, path, json!({"priority": "high"})).await;
        assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
        let (s, v) = post(&t, &agent, path, json!({"priority": "asap"})).await;
        assert_eq!((s, code(&v)), (400, "invalid_priority"), "{v}");
        let (s, v) = post(&t, &agent, path, json!({"level": "high"})).await;
        assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
        let (s, v) = post(
            &t,
            &agent,
            "/api/v1/sla/conversations/cnv_nope/priority",
            json!({"priority": "high"}),
        )
        .await;
        assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
        assert!(store.get_sla_clock("cnv_prio").await.unwrap().is_none());

        let (s, v) = post(&t, &agent, path, json!({"priority": "high"})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["priority"], "high");
        assert_eq!(v["previous"], Value::Null, "no clock before");
        assert_eq!(v["set_by"], "token:sla-agent");
        let (s, v) = post(&t, &agent, path, json!({"priority": "urgent"})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["previous"], "high");

        let (s, v) = get(&t, &viewer, "/api/v1/sla/conversations/cnv_prio").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["clock"]["priority"], "urgent");
        assert_eq!(v["clock"]["priority_set_by"], "token:sla-agent");
        let entries = t.audit_of("sla.priority_set").await;
        let mut seen: Vec<(String, String, String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap_or_default().to_string(),
                    e["data"]["priority"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["conversation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["app"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        seen.sort();
        let row = |p: &str| {
            (
                "token:sla-agent".to_string(),
                p.to_string(),
                "cnv_prio".to_string(),
                slug.clone(),
            )
        };
        assert_eq!(seen, [row("high"), row("urgent")], "{entries:?}");
        t.shutdown().await.unwrap();
    }
}
