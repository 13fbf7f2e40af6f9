//! The Front webhook intake and the event API, driven by the Front sandbox (Front's wire
//! format) against the whole platform.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use support_front::sandbox::{Faults, NewMessage};
use support_testkit::TestApp;

fn inbound(inbox: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: None,
        inbox_id: inbox.into(),
        from: "jane@example.com".into(),
        from_name: Some("Jane Doe".into()),
        reply_to: None,
        subject: "Can't log in".into(),
        body: body.into(),
        inbound: true,
    }
}

async fn stored_events(app: &TestApp, id: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM steps_events WHERE id = $1")
        .bind(id)
        .fetch_one(app.platform.db.read_pool())
        .await
        .unwrap()
}

fn signed(app: &TestApp, body: &str, ts: i64, secret: &str) -> reqwest::RequestBuilder {
    let ts = ts.to_string();
    let sig = support_core::front::webhook_signature(secret, &ts, body.as_bytes());
    app.client
        .post(app.url("/webhooks/front"))
        .header("content-type", "application/json")
        .header("x-front-signature", sig)
        .header("x-front-request-timestamp", ts)
        .body(body.to_string())
}

#[tokio::test]
async fn a_signed_inbound_webhook_is_enqueued_once() {
    for app in TestApp::each_backend().await {
        let inbox = app.demo.apps[0].front_inbox_id.clone();
        let d = app
            .front
            .deliver(inbound(&inbox, "I never got my login link"))
            .await
            .unwrap();
        assert_eq!(d.webhook_status, Some(200));
        let id = format!("front:{}", d.event_id);
        assert_eq!(stored_events(&app, &id).await, 1);
        let stored: String = sqlx::query_scalar("SELECT payload FROM steps_events WHERE id = $1")
            .bind(&id)
            .fetch_one(app.platform.db.read_pool())
            .await
            .unwrap();
        let ev: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(ev["name"], "support/inbound.received");
        assert_eq!(ev["data"]["app_id"], app.demo.apps[0].slug.as_str());
        assert_eq!(ev["data"]["conversation_id"], d.conversation_id.as_str());
        assert_eq!(ev["data"]["message_id"], d.message_id.as_str());

        // Front retries the same delivery: acknowledged, not enqueued again.
        let again = app.front.emit(&d.event).await.unwrap();
        assert_eq!(again, Some(200));
        assert_eq!(stored_events(&app, &id).await, 1);
    }
}

#[tokio::test]
async fn preview_payloads_are_accepted_for_refetching() {
    let app = TestApp::spawn().await;
    app.front.set_faults(Faults {
        preview_only: true,
        ..Faults::default()
    });
    let inbox = app.demo.apps[1].front_inbox_id.clone();
    let d = app.front.deliver(inbound(&inbox, "hello")).await.unwrap();
    assert_eq!(d.webhook_status, Some(200));
    assert!(
        d.event["payload"]["conversation"]["subject"].is_null(),
        "a preview carries ids only"
    );
    assert_eq!(
        stored_events(&app, &format!("front:{}", d.event_id)).await,
        1
    );
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let inbox = app.demo.apps[0].front_inbox_id.clone();
    let body = json!({"type": "inbound_received", "authorization": {"id": "cmp_1"},
        "payload": {"id": "evt_forged", "type": "inbound", "conversation": {"id": "cnv_1"},
                    "source": {"_meta": {"type": "inboxes"}, "data": [{"id": inbox}]}}})
    .to_string();
    let now = support_core::time::now_ms();
    let secret = app.demo.front_signing_secret.clone();
    for (label, req) in [
        ("wrong secret", signed(&app, &body, now, "not-the-secret")),
        ("expired", signed(&app, &body, now - 6 * 60 * 1000, &secret)),
        ("future", signed(&app, &body, now + 6 * 60 * 1000, &secret)),
        (
            "unsigned",
            app.client
                .post(app.url("/webhooks/front"))
                .body(body.clone()),
        ),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{label}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_signature", "{label}");
    }
    assert!(
        !app.platform
            .store
            .receipt_exists("front", "evt_forged")
            .await
            .unwrap()
    );
    assert_eq!(stored_events(&app, "front:evt_forged").await, 0);
    // Tampering with a signed body is caught too.
    let res = signed(&app, &body, now, &secret)
        .body(body.replace("evt_forged", "evt_other"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Correctly signed but not JSON: 400.
    let res = signed(&app, "{not json", now, &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // The same body correctly signed is accepted.
    let res = signed(&app, &body, now, &secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn challenge_unknown_inbox_and_ignored_types() {
    let app = TestApp::spawn().await;
    let secret = app.demo.front_signing_secret.clone();
    let now = support_core::time::now_ms();
    let sync = r#"{"type":"sync","authorization":{"id":"cmp_123"}}"#;
    let res = signed(&app, sync, now, &secret)
        .header("x-front-challenge", "ch_42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"challenge": "ch_42"})
    );

    let d = app
        .front
        .deliver(inbound("inb_nobody", "hi"))
        .await
        .unwrap();
    assert_eq!(d.webhook_status, Some(200));
    assert_eq!(
        stored_events(&app, &format!("front:{}", d.event_id)).await,
        0
    );
    let audit = app
        .api_get("/api/v1/audit?kind=webhook.ignored")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["data"]["reason"], "unknown inbox");

    let tag = json!({"type": "tag_added", "authorization": {"id": "cmp_1"}, "payload": {"id": "evt_tag"}}).to_string();
    let res = signed(&app, &tag, now, &secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ignored");
}

#[tokio::test]
async fn the_event_api_answers_like_inngest() {
    let app = TestApp::spawn().await;
    let key = app.demo.inngest_event_key.clone();
    let res = app
        .client
        .post(app.url(&format!("/e/{key}")))
        .json(&json!([{"name": "support/test.one", "data": {"a": 1}}, {"name": "support/test.two", "data": {}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["ids"].as_array().unwrap().len(), 2);
    let res = app
        .client
        .post(app.url("/e/wrong-key"))
        .json(&json!({"name": "x", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url(&format!("/e/{key}")))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
