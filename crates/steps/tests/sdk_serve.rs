//! The SDK side of the Inngest protocol (`/api/inngest`), driven as an Inngest server would.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use support_steps::hash::hash_step_id;
use support_steps::sdk::{InngestConfig, router};
use support_steps::signing::{now_secs, sign};
use support_steps::{Ctx, Event, Function, StepError};
use tower::ServiceExt;

const KEY: &str = "signkey-test-12345678";

fn functions() -> Vec<Function> {
    vec![
        Function::new("serial")
            .on_event("t/serial")
            .handler(|ctx: Ctx, _e: Event| async move {
                let a: i64 = ctx.run("a", || async { Ok(1) }).await?;
                let b: i64 = ctx.run("b", move || async move { Ok(a + 1) }).await?;
                Ok(a + b)
            }),
        Function::new("parallel").on_event("t/parallel").handler(
            |ctx: Ctx, _e: Event| async move {
                let (a, b) = futures::join!(
                    ctx.run("p", || async { Ok::<i64, _>(1) }),
                    ctx.run("p", || async { Ok::<i64, _>(2) })
                );
                Ok(a? + b?)
            },
        ),
        Function::new("waiter")
            .on_event("t/wait")
            .retries(2)
            .handler(|ctx: Ctx, _e: Event| async move {
                ctx.sleep("nap", Duration::from_secs(2)).await?;
                let ev = ctx
                    .wait_for_event(
                        "w",
                        "t/decided",
                        Duration::from_secs(60),
                        Some("async.data.id == event.data.id"),
                    )
                    .await?;
                Ok(json!({"got": ev.map(|e| e.data)}))
            }),
        Function::new("broken")
            .on_event("t/broken")
            .handler(|ctx: Ctx, _e: Event| async move {
                let attempt = ctx.attempt();
                ctx.run("explode", move || async move {
                    if attempt == 0 {
                        Err::<i64, _>(StepError::retriable("boom"))
                    } else {
                        Err(StepError::non_retriable("fatal"))
                    }
                })
                .await?;
                Ok(())
            }),
    ]
}

fn app(dev: bool) -> axum::Router {
    router(
        InngestConfig {
            app_id: "app".into(),
            signing_key: Some(KEY.into()),
            signing_key_fallback: Some("signkey-test-fallback".into()),
            event_key: Some("ek".into()),
            base_url: "http://127.0.0.1:9".into(),
            serve_url: "http://127.0.0.1:3000/api/inngest".into(),
            dev,
        },
        functions(),
    )
    .unwrap()
}

async fn call(
    app: &axum::Router,
    query: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, http::HeaderMap, Value) {
    let raw = serde_json::to_vec(&body).unwrap();
    let mut req = http::Request::post(format!("/api/inngest?{query}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("x-inngest-signature", sign(k, &raw, now_secs()));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(raw)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn body(steps: Value, attempt: u32) -> Value {
    json!({
        "event": {"name": "t/wait", "data": {"id": "x1"}, "id": "e1", "ts": 1},
        "events": [],
        "steps": steps,
        "ctx": {"run_id": "run1", "attempt": attempt, "disable_immediate_execution": false, "use_api": false,
                "stack": {"stack": [], "current": 0}},
        "version": 1,
    })
}

#[tokio::test]
async fn serial_steps_run_one_per_call_then_complete() {
    let app = app(false);
    let (status, headers, ops) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206, "{ops}");
    assert_eq!(headers["x-inngest-req-version"], "2");
    assert_eq!(headers["x-inngest-no-retry"], "false");
    assert!(
        headers["x-inngest-sdk"]
            .to_str()
            .unwrap()
            .starts_with("support-steps:v")
    );
    assert_eq!(
        ops,
        json!([{"id": hash_step_id("a"), "op": "StepRun", "name": "a", "displayName": "a", "data": 1}])
    );
    let steps = json!({ hash_step_id("a"): {"data": 1} });
    let (status, _, ops) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(steps, 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(ops[0]["data"], 2);
    let steps = json!({ hash_step_id("a"): {"data": 1}, hash_step_id("b"): {"data": 2} });
    let (status, _, out) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(steps, 0),
        Some(KEY),
    )
    .await;
    assert_eq!((status, out), (200, json!(3)));
}

#[tokio::test]
async fn parallel_steps_are_planned_then_run_by_id() {
    let app = app(false);
    let (status, _, ops) = call(
        &app,
        "fnId=app-parallel&stepId=step",
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206);
    let ids: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![hash_step_id("p"), hash_step_id("p:1")]);
    assert!(
        ops.as_array()
            .unwrap()
            .iter()
            .all(|o| o["op"] == "StepPlanned")
    );
    let target = hash_step_id("p:1");
    let (status, _, ops) = call(
        &app,
        &format!("fnId=app-parallel&stepId={target}"),
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(
        ops,
        json!([{"id": target, "op": "StepRun", "name": "p", "displayName": "p", "data": 2}])
    );
}

#[tokio::test]
async fn sleep_and_wait_ops_then_memoized_event() {
    let app = app(false);
    let (status, _, ops) = call(
        &app,
        "fnId=app-waiter&stepId=step",
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(ops[0]["op"], "Sleep");
    assert_eq!(ops[0]["opts"]["duration"], "2000ms");
    let steps = json!({ hash_step_id("nap"): null });
    let (_, _, ops) = call(
        &app,
        "fnId=app-waiter&stepId=step",
        body(steps, 0),
        Some(KEY),
    )
    .await;
    assert_eq!(ops[0]["op"], "WaitForEvent");
    assert_eq!(
        ops[0]["opts"],
        json!({"event": "t/decided", "timeout": "60000ms", "if": "async.data.id == event.data.id"})
    );
    // Inngest memoizes the whole event (not nested in data), or null on timeout.
    let ev = json!({"name": "t/decided", "data": {"id": "x1", "ok": true}, "id": "e2", "ts": 2});
    let steps = json!({ hash_step_id("nap"): null, hash_step_id("w"): ev });
    let (status, _, out) = call(
        &app,
        "fnId=app-waiter&stepId=step",
        body(steps, 0),
        Some(KEY),
    )
    .await;
    assert_eq!(
        (status, out),
        (200, json!({"got": {"id": "x1", "ok": true}}))
    );
    let steps = json!({ hash_step_id("nap"): null, hash_step_id("w"): null });
    let (_, _, out) = call(
        &app,
        "fnId=app-waiter&stepId=step",
        body(steps, 0),
        Some(KEY),
    )
    .await;
    assert_eq!(out, json!({"got": null}));
}

#[tokio::test]
async fn step_errors_and_function_failures() {
    let app = app(false);
    let (status, _, ops) = call(
        &app,
        "fnId=app-broken&stepId=step",
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(ops[0]["op"], "StepError");
    assert_eq!(ops[0]["error"]["message"], "boom");
    let (_, _, ops) = call(
        &app,
        "fnId=app-broken&stepId=step",
        body(json!({}), 1),
        Some(KEY),
    )
    .await;
    assert_eq!(ops[0]["op"], "StepFailed");
    assert_eq!(ops[0]["error"]["name"], "NonRetriableError");
    // The memoized failure re-thrown by the handler: 400, no retry.
    let steps = json!({ hash_step_id("explode"): {"error": {"name": "NonRetriableError", "message": "fatal"}} });
    let (status, headers, out) = call(
        &app,
        "fnId=app-broken&stepId=step",
        body(steps, 1),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-inngest-no-retry"], "true");
    assert_eq!(out["message"], "fatal");
}

#[tokio::test]
async fn signatures_are_verified_unless_dev() {
    let dev_app = app(true);
    let app = app(false);
    let (status, _, out) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(json!({}), 0),
        None,
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["code"], "invalid_signature", "{out}");
    let (status, _, _) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(json!({}), 0),
        Some("signkey-test-wrong"),
    )
    .await;
    assert_eq!(status, 401);
    // The fallback key is accepted.
    let (status, _, _) = call(
        &app,
        "fnId=app-serial&stepId=step",
        body(json!({}), 0),
        Some("signkey-test-fallback"),
    )
    .await;
    assert_eq!(status, 206);
    // Dev mode skips verification.
    let (status, _, _) = call(
        &dev_app,
        "fnId=app-serial&stepId=step",
        body(json!({}), 0),
        None,
    )
    .await;
    assert_eq!(status, 206);
    // Unknown function.
    let (status, _, _) = call(
        &app,
        "fnId=app-nope&stepId=step",
        body(json!({}), 0),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn introspection_reveals_hashes_only_when_signed() {
    let app = app(false);
    let get = |sig: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = http::Request::get("/api/inngest");
            if let Some(s) = sig {
                req = req.header("x-inngest-signature", s);
            }
            let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    let open = get(None).await;
    assert_eq!(open["schema_version"], "2024-05-24");
    assert_eq!(open["function_count"], 4);
    assert_eq!(open["mode"], "cloud");
    assert_eq!(open["authentication_succeeded"], false);
    assert!(open.get("signing_key_hash").is_none());
    let signed = get(Some(sign(KEY, b"", now_secs()))).await;
    assert_eq!(signed["authentication_succeeded"], true);
    assert!(signed["signing_key_hash"].is_string());
}

#[tokio::test]
async fn sync_registers_with_the_server() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<(String, Value)>));
    let s2 = seen.clone();
    let fake = axum::Router::new().route(
        "/fn/register",
        axum::routing::post(
            move |headers: http::HeaderMap, axum::Json(v): axum::Json<Value>| {
                let s2 = s2.clone();
                async move {
                    let auth = headers["authorization"].to_str().unwrap().to_string();
                    *s2.lock().unwrap() = Some((auth, v));
                    axum::Json(json!({"ok": true, "modified": true}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await });
    let app = router(
        InngestConfig {
            app_id: "app".into(),
            signing_key: Some(KEY.into()),
            base_url: base,
            serve_url: "http://127.0.0.1:3000/api/inngest".into(),
            ..Default::default()
        },
        functions(),
    )
    .unwrap();
    let res = app
        .oneshot(
            http::Request::put("/api/inngest")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).unwrap(),
        json!({"message": "Successfully synced.", "modified": true})
    );
    let (auth, body) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        auth,
        format!("Bearer {}", support_steps::signing::bearer(KEY))
    );
    assert_eq!(body["appName"], "app");
    assert_eq!(body["deployType"], "ping");
    assert_eq!(body["functions"][0]["id"], "app-serial");
    assert_eq!(
        body["functions"][0]["steps"]["step"]["runtime"]["url"],
        "http://127.0.0.1:3000/api/inngest?fnId=app-serial&stepId=step"
    );
}

/// A call with this raw `X-Inngest-Signature` header.
async fn call_with_header(app: &axum::Router, header: &str) -> (u16, Value) {
    let raw = serde_json::to_vec(&body(json!({}), 0)).unwrap();
    let res = app
        .clone()
        .oneshot(
            http::Request::post("/api/inngest?fnId=app-serial&stepId=step")
                .header("content-type", "application/json")
                .header("x-inngest-signature", header)
                .body(Body::from(raw))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn extreme_or_garbage_signature_timestamps_are_401_not_a_panic() {
    let app = app(false);
    let raw = serde_json::to_vec(&body(json!({}), 0)).unwrap();
    let mut headers: Vec<String> = [i64::MIN, i64::MAX, i64::MIN + 1, -1]
        .iter()
        .map(|t| sign(KEY, &raw, *t))
        .collect();
    headers.extend(
        [
            "t=-9223372036854775808&s=00",
            "t=9223372036854775807&s=zz",
            "t=99999999999999999999&s=00",
            "t=&s=",
            "garbage",
            "",
        ]
        .map(str::to_string),
    );
    for h in headers {
        let (status, out) = call_with_header(&app, &h).await;
        assert_eq!(status, 401, "{h}: {out}");
        assert_eq!(out["code"], "invalid_signature", "{h}: {out}");
        assert!(
            !out.to_string().contains("window"),
            "the reason is logged, not sent: {out}"
        );
    }
}

fn put(signature: Option<&str>) -> http::Request<Body> {
    let mut req = http::Request::put("/api/inngest");
    if let Some(s) = signature {
        req = req.header("x-inngest-signature", s);
    }
    req.body(Body::empty()).unwrap()
}

/// A fake Inngest server whose `/fn/register` counts calls and answers 200.
async fn counting_register() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let fake = axum::Router::new().route(
        "/fn/register",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::Json(json!({"ok": true, "modified": false}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await });
    (base, hits)
}

#[tokio::test]
async fn unsigned_syncs_are_rate_limited_and_signed_ones_are_not() {
    let (base, hits) = counting_register().await;
    let app = router(
        InngestConfig {
            app_id: "app".into(),
            signing_key: Some(KEY.into()),
            base_url: base,
            serve_url: "http://127.0.0.1:3000/api/inngest".into(),
            ..Default::default()
        },
        functions(),
    )
    .unwrap();
    let res = app.clone().oneshot(put(None)).await.unwrap();
    assert_eq!(res.status(), 200);
    for _ in 0..20 {
        let res = app.clone().oneshot(put(None)).await.unwrap();
        assert_eq!(res.status(), 429);
        let secs: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=10).contains(&secs), "{secs}");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["code"], "sync_rate_limited");
    }
    // A request signed with the signing key (as Inngest's in-band sync) always goes through;
    // a wrongly signed one counts as unsigned.
    let res = app
        .clone()
        .oneshot(put(Some(&sign(KEY, b"", now_secs()))))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .clone()
        .oneshot(put(Some(&sign("signkey-test-wrong", b"", now_secs()))))
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sync_transport_errors_are_logged_not_echoed() {
    // Nothing listens on port 9 of loopback (discard), so the register call fails.
    let app = router(
        InngestConfig {
            app_id: "app".into(),
            signing_key: Some(KEY.into()),
            base_url: "http://127.0.0.1:9".into(),
            serve_url: "http://127.0.0.1:3000/api/inngest".into(),
            ..Default::default()
        },
        functions(),
    )
    .unwrap();
    let res = app.oneshot(put(None)).await.unwrap();
    assert_eq!(res.status(), 500);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["code"], "sync_unreachable", "{v}");
    assert_eq!(v["modified"], false);
    let text = v.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("error sending"),
        "{text}"
    );
}
