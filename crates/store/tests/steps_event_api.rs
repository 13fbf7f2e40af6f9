//! Inngest's Event API (`POST /e/{event_key}`) on the real store.
#![allow(clippy::unwrap_used)]

mod steps_common;

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use steps_common::*;
use support_steps::event_api::{EventApiConfig, router};
use support_steps::{Ctx, Event, Function};
use tower::ServiceExt;

async fn post(app: &axum::Router, path: &str, body: &str) -> (u16, Value) {
    let req = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn event_api_accepts_one_or_many_and_rejects_bad_input() {
    each_backend(|db| async move {
        let f = Function::new("echo")
            .on_event("test/api")
            .handler(|_c: Ctx, ev: Event| async move { Ok(ev.data) });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let app = router(
            engine.clone(),
            EventApiConfig {
                event_keys: vec!["key_123".into()],
                dev: false,
            },
        );
        let (status, body) =
            post(&app, "/e/key_123", r#"{"name":"test/api","data":{"n":1}}"#).await;
        assert_eq!(status, 200);
        let ids = body["ids"].as_array().unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(body, json!({"ids": ids, "status": 200}));
        let runs = engine
            .wait_for_runs_of(ids[0].as_str().unwrap(), 1, T)
            .await
            .unwrap();
        let d = engine.wait_for_run(&runs[0].id, T).await.unwrap();
        assert_eq!(d.run.output, Some(json!({"n": 1})));

        let (status, body) = post(
            &app,
            "/e/key_123",
            r#"[{"name":"test/api"},{"name":"test/other","data":{},"id":"given"}]"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["ids"].as_array().unwrap().len(), 2);
        assert_eq!(body["ids"][1], "given");

        let (status, body) = post(&app, "/e/key_123", "{not json").await;
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("invalid JSON"),
            "{body}"
        );
        let (status, body) = post(&app, "/e/key_123", r#"{"data":{}}"#).await;
        assert_eq!(status, 400, "{body}");

        let (status, _) = post(&app, "/e/wrong_key", r#"{"name":"test/api"}"#).await;
        assert_eq!(status, 401);
        runner.shutdown().await;
    })
    .await;
}
