//! A fleet of workers on one store fans events out with the functions of the whole fleet: an
//! SDK app registered (stored) after a worker started still gets its runs from that worker.
//! Runs on SQLite, and on Postgres when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used)]

mod steps_common;

use serde_json::json;
use steps_common::*;
use support_steps::server::ServerConfig;
use support_steps::store::{AppRecord, RunStore};
use support_steps::{Ctx, Event, Function};

fn local() -> Function {
    Function::new("local-fn")
        .on_event("local/ping")
        .handler(|_ctx: Ctx, _ev: Event| async move { Ok(json!({"ok": true})) })
}

#[tokio::test]
async fn a_worker_fans_out_to_sdk_apps_registered_after_it_started() {
    each_backend(|db| async move {
        // This worker serves SDK apps and has loaded none: the store has none yet.
        let worker = engine(&db, vec![local()]);
        let _router = worker
            .serve_sdk_apps(ServerConfig {
                dev: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let runner = worker.start();
        // Another instance registers an app: its record is stored.
        let store: &dyn RunStore = &db;
        store
            .upsert_app(&AppRecord {
                id: "shop".into(),
                url: "http://127.0.0.1:9/api/inngest".into(),
                sdk: Some("js:v3".into()),
                framework: None,
                functions: json!([{
                    "id": "shop-on-order",
                    "name": "on order",
                    "triggers": [{"event": "shop/order.created"}],
                    "steps": {"step": {"id": "step", "name": "step", "runtime": {
                        "type": "http",
                        "url": "http://127.0.0.1:9/api/inngest?fnId=shop-on-order&stepId=step"
                    }}}
                }]),
                updated_at: 1,
            })
            .await
            .unwrap();
        let id = worker
            .send_one(Event::new("shop/order.created", json!({"order": 7})))
            .await
            .unwrap();
        let runs = worker.wait_for_runs_of(&id, 1, T).await.unwrap();
        assert_eq!(runs[0].function_id, "shop-on-order");
        // Local functions are unaffected.
        let id = worker
            .send_one(Event::new("local/ping", json!({})))
            .await
            .unwrap();
        let runs = worker.wait_for_runs_of(&id, 1, T).await.unwrap();
        assert_eq!(runs[0].function_id, "local-fn");
        runner.shutdown().await;
    })
    .await;
}
