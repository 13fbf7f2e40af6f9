//! Cron triggers on the embedded executor: each due minute starts one run, however often the
//! ticks are fired (several workers, restarts).
#![allow(clippy::unwrap_used)]

mod steps_common;

use serde_json::json;
use steps_common::*;
use support_steps::{Ctx, Event, Function, RunFilter, RunStatus, StepError, now_ms};

fn nightly() -> Function {
    Function::new("every-minute")
        .on_cron("* * * * *")
        .handler(|ctx: Ctx, ev: Event| async move {
            let n: u32 = ctx.run("work", || async { Ok::<_, StepError>(1) }).await?;
            Ok(json!({"n": n, "cron": ev.data["cron"]}))
        })
}

#[tokio::test]
async fn each_cron_tick_starts_one_run() {
    each_backend(|db| async move {
        let engine = engine(&db, vec![nightly()]);
        let runner = engine.start();
        let since = now_ms() - 3 * 60_000 - 1;
        engine.fire_crons(since).await;
        // Firing the same window again (another worker, a restart) adds nothing.
        engine.fire_crons(since).await;
        let runs = engine
            .wait_until("three completed runs", T, || async {
                let runs = engine
                    .list_runs(&RunFilter {
                        function_id: Some("every-minute".into()),
                        ..Default::default()
                    })
                    .await?;
                Ok(
                    (runs.len() >= 3 && runs.iter().all(|r| r.status == RunStatus::Completed))
                        .then_some(runs),
                )
            })
            .await
            .unwrap();
        assert_eq!(runs.len(), 3, "one run per minute");
        assert_eq!(runs[0].output.as_ref().unwrap()["cron"], "* * * * *");
        runner.shutdown().await;
    })
    .await;
}

#[test]
fn invalid_cron_is_a_definition_error() {
    let f = Function::new("bad")
        .on_cron("61 * * * *")
        .handler(|_ctx: Ctx, _ev: Event| async move { Ok(json!({})) });
    let built = support_steps::Engine::builder(std::sync::Arc::new(
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { support_testkit::TestDb::sqlite().await.unwrap().db }),
    ))
    .function(f)
    .build();
    assert!(built.is_err());
}
