//! The durable step runner on the real store: every test runs on SQLite, and on Postgres when
//! `TEST_DATABASE_URL` is set. No sleeps are used for synchronisation: tests wait on
//! conditions with bounded timeouts.
#![allow(clippy::unwrap_used)]

mod steps_common;

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use steps_common::*;
use support_steps::store::{RunStatus, StepStatus};
use support_steps::{Ctx, EngineError, Event, Function, StepError};

async fn run_of(engine: &support_steps::Engine, event: Event) -> String {
    let id = engine.send_one(event).await.unwrap();
    engine.wait_for_runs_of(&id, 1, T).await.unwrap()[0]
        .id
        .clone()
}

async fn wait_status(engine: &support_steps::Engine, run_id: &str, status: RunStatus) {
    engine
        .wait_until(&format!("run {run_id} {status:?}"), T, || async {
            Ok(engine
                .get_run(run_id)
                .await?
                .filter(|d| d.run.status == status)
                .map(|_| ()))
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn serial_steps_are_memoized_and_run_once() {
    each_backend(|db| async move {
        let c = Counter::default();
        let cc = c.clone();
        let f =
            Function::new("serial")
                .on_event("test/serial")
                .handler(move |ctx: Ctx, ev: Event| {
                    let c = cc.clone();
                    async move {
                        c.hit("handler");
                        let c1 = c.clone();
                        let a: i64 = ctx
                            .run("a", move || async move {
                                c1.hit("a");
                                Ok(1)
                            })
                            .await?;
                        let c2 = c.clone();
                        let b: i64 = ctx
                            .run("b", move || async move {
                                c2.hit("b");
                                Ok(a + 1)
                            })
                            .await?;
                        // The same id again: a distinct step (`a:1`).
                        let c3 = c.clone();
                        let a2: i64 = ctx
                            .run("a", move || async move {
                                c3.hit("a-again");
                                Ok(10)
                            })
                            .await?;
                        Ok(json!({"sum": a + b + a2 + ev.data["n"].as_i64().unwrap_or(0)}))
                    }
                });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/serial", json!({"n": 100}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!({"sum": 113})));
        assert_eq!((c.get("a"), c.get("b"), c.get("a-again")), (1, 1, 1));
        assert_eq!(
            c.get("handler"),
            4,
            "re-run from the top once per step, then to the end"
        );
        assert_eq!(d.steps.len(), 3);
        let hashes: Vec<&str> = d.steps.iter().map(|s| s.hash.as_str()).collect();
        assert!(hashes.contains(&support_steps::hash::hash_step_id("a:1").as_str()));
        assert!(
            d.steps
                .iter()
                .all(|s| s.status == StepStatus::Completed && s.ended_at >= s.started_at)
        );
        assert_eq!(d.steps[0].result, json!({"data": 1}));
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn retriable_errors_retry_then_succeed() {
    each_backend(|db| async move {
        let c = Counter::default();
        let cc = c.clone();
        let f = Function::new("flaky")
            .on_event("test/flaky")
            .retries(3)
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .handler(move |ctx: Ctx, _ev: Event| {
                let c = cc.clone();
                async move {
                    let v: String = ctx
                        .run("call", move || async move {
                            if c.hit("call") < 3 {
                                Err(StepError::retriable("upstream 503"))
                            } else {
                                Ok("ok".to_string())
                            }
                        })
                        .await?;
                    Ok(v)
                }
            });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/flaky", json!({}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!("ok")));
        assert_eq!(c.get("call"), 3);
        assert_eq!(d.steps[0].attempt, 2);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn non_retriable_errors_fail_at_once() {
    each_backend(|db| async move {
        let c = Counter::default();
        let cc = c.clone();
        let f = Function::new("strict").on_event("test/strict").retries(5).handler(move |ctx: Ctx, _ev: Event| {
            let c = cc.clone();
            async move {
                let c1 = c.clone();
                let r: Result<i64, StepError> = ctx
                    .run("validate", move || async move {
                        c1.hit("validate");
                        Err(StepError::non_retriable("bad input"))
                    })
                    .await;
                // The handler sees the memoized failure and propagates it.
                let e = r.unwrap_err();
                assert!(matches!(&e, StepError::StepFailed { step, message, .. } if step == "validate" && message == "bad input"));
                Err::<Value, _>(e)
            }
        });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/strict", json!({}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Failed);
        assert_eq!(d.run.error.as_ref().unwrap()["message"], "bad input");
        assert_eq!(d.steps[0].status, StepStatus::Failed);
        assert_eq!(d.steps[0].result["error"]["name"], "NonRetriableError");
        assert_eq!(c.get("validate"), 1);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn sleep_wakes_on_its_timer() {
    each_backend(|db| async move {
        let f = Function::new("sleeper").on_event("test/sleep").handler(
            |ctx: Ctx, _ev: Event| async move {
                let before: i64 = ctx
                    .run("before", || async { Ok(support_steps::now_ms()) })
                    .await?;
                ctx.sleep("nap", Duration::from_millis(300)).await?;
                let after: i64 = ctx
                    .run("after", || async { Ok(support_steps::now_ms()) })
                    .await?;
                Ok(after - before)
            },
        );
        // A long poll interval: the worker must wake on the timer's due time, not by polling.
        let mut config = cfg();
        config.poll_interval = Duration::from_secs(20);
        let engine = engine_with(&db, config, vec![f]);
        let runner = engine.start();
        let started = Instant::now();
        let run = run_of(&engine, Event::new("test/sleep", json!({}))).await;
        wait_status(&engine, &run, RunStatus::Sleeping).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert!(d.run.output.as_ref().unwrap().as_i64().unwrap() >= 300);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woke late: {:?}",
            started.elapsed()
        );
        assert!(d.steps.iter().any(|s| s.kind == "sleep" && s.name == "nap"));
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_manual_clock_fires_long_timers_when_advanced() {
    each_backend(|db| async move {
        let start = 1_800_000_000_000;
        let clock = support_steps::ManualClock::new(start);
        let f = Function::new("month-sleeper")
            .on_event("test/month")
            .handler(|ctx: Ctx, _ev: Event| async move {
                ctx.sleep("a-month", Duration::from_secs(30 * 24 * 3600))
                    .await?;
                let now = ctx.now_ms();
                let woke: i64 = ctx.run("woke", move || async move { Ok(now) }).await?;
                Ok(woke)
            });
        let mut config = cfg();
        config.clock = clock.clone();
        let engine = engine_with(&db, config, vec![f, approval_fn(Duration::from_secs(3600))]);
        let runner = engine.start();
        let sleeper = run_of(&engine, Event::new("test/month", json!({}))).await;
        let waiter = run_of(
            &engine,
            Event::new("test/approval.requested", json!({"action_id": "act_clock"})),
        )
        .await;
        wait_status(&engine, &sleeper, RunStatus::Sleeping).await;
        wait_status(&engine, &waiter, RunStatus::Waiting).await;
        let d = engine.get_run(&sleeper).await.unwrap().unwrap();
        assert_eq!(d.run.status, RunStatus::Sleeping, "the clock has not moved");
        // An hour and a second: the wait times out, the month-long sleep does not end.
        clock.advance(Duration::from_secs(3601));
        let w = engine.wait_for_run(&waiter, T).await.unwrap();
        assert_eq!(w.run.output, Some(json!({"decision": "expired"})));
        assert_eq!(
            engine.get_run(&sleeper).await.unwrap().unwrap().run.status,
            RunStatus::Sleeping
        );
        // Thirty days after the start: the sleep ends, and the run reads the runner's time.
        clock.set(start + 30 * 24 * 3600 * 1000);
        let d = engine.wait_for_run(&sleeper, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!(start + 30 * 24 * 3600 * 1000)));
        runner.shutdown().await;
    })
    .await;
}

fn approval_fn(timeout: Duration) -> Function {
    Function::new("approval")
        .on_event("test/approval.requested")
        .handler(move |ctx: Ctx, _ev: Event| async move {
            let decided = ctx
                .wait_for_event(
                    "wait-decision",
                    "test/approval.decided",
                    timeout,
                    Some("async.data.action_id == event.data.action_id"),
                )
                .await?;
            Ok(match decided {
                Some(ev) => json!({"decision": ev.data["decision"]}),
                None => json!({"decision": "expired"}),
            })
        })
}

#[tokio::test]
async fn wait_for_event_matches_only_later_matching_events() {
    each_backend(|db| async move {
        let engine = engine(&db, vec![approval_fn(Duration::from_secs(60))]);
        let runner = engine.start();
        // Sent before the wait exists: must not match.
        engine
            .send_one(Event::new(
                "test/approval.decided",
                json!({"action_id": "act_1", "decision": "early"}),
            ))
            .await
            .unwrap();
        let run = run_of(
            &engine,
            Event::new("test/approval.requested", json!({"action_id": "act_1"})),
        )
        .await;
        wait_status(&engine, &run, RunStatus::Waiting).await;
        let d = engine.get_run(&run).await.unwrap().unwrap();
        assert_eq!(d.waits.len(), 1);
        assert_eq!(
            d.waits[0].expr.as_deref(),
            Some(r#"async.data.action_id == "act_1""#)
        );
        // Another action's decision does not match; the right one does.
        engine
            .send(vec![
                Event::new(
                    "test/approval.decided",
                    json!({"action_id": "act_2", "decision": "rejected"}),
                ),
                Event::new(
                    "test/approval.decided",
                    json!({"action_id": "act_1", "decision": "approved"}),
                ),
            ])
            .await
            .unwrap();
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!({"decision": "approved"})));
        let step = d.steps.iter().find(|s| s.kind == "wait_for_event").unwrap();
        assert_eq!(step.result["data"]["name"], "test/approval.decided");
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn wait_for_event_times_out_with_none() {
    each_backend(|db| async move {
        let engine = engine(&db, vec![approval_fn(Duration::from_millis(300))]);
        let runner = engine.start();
        let run = run_of(
            &engine,
            Event::new("test/approval.requested", json!({"action_id": "act_9"})),
        )
        .await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.output, Some(json!({"decision": "expired"})));
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn send_event_triggers_another_function_exactly_once() {
    each_backend(|db| async move {
        let c = Counter::default();
        let cc = c.clone();
        let sender = Function::new("sender").on_event("test/start").handler(
            |ctx: Ctx, ev: Event| async move {
                let ids = ctx
                    .send_event(
                        "fan-out",
                        vec![Event::new("test/ping", json!({"n": ev.data["n"]}))],
                    )
                    .await?;
                Ok(json!({"ids": ids}))
            },
        );
        let receiver = Function::new("receiver")
            .on_event_if("test/ping", "event.data.n > 1")
            .handler(move |_ctx: Ctx, ev: Event| {
                let c = cc.clone();
                async move {
                    c.hit("received");
                    Ok(ev.data["n"].clone())
                }
            });
        let engine = engine(&db, vec![sender, receiver]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/start", json!({"n": 2}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        let ping_id = d.run.output.as_ref().unwrap()["ids"][0]
            .as_str()
            .unwrap()
            .to_string();
        let child = engine.wait_for_runs_of(&ping_id, 1, T).await.unwrap();
        let cd = engine.wait_for_run(&child[0].id, T).await.unwrap();
        assert_eq!(cd.run.output, Some(json!(2)));
        assert_eq!(c.get("received"), 1);
        // The trigger expression filters: n = 1 starts nothing.
        let run = run_of(&engine, Event::new("test/start", json!({"n": 1}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        let ping_id = d.run.output.as_ref().unwrap()["ids"][0]
            .as_str()
            .unwrap()
            .to_string();
        let marker = engine
            .send_one(Event::new("test/ping", json!({"n": 5})))
            .await
            .unwrap();
        engine.wait_for_runs_of(&marker, 1, T).await.unwrap(); // events are processed in order
        assert!(engine.runs_for_event(&ping_id).await.unwrap().is_empty());
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn invoke_returns_the_child_result() {
    each_backend(|db| async move {
        let child = Function::new("double").on_event("test/never").handler(
            |ctx: Ctx, ev: Event| async move {
                let x = ev.data["x"].as_i64().unwrap_or(0);
                let y: i64 = ctx.run("double", move || async move { Ok(x * 2) }).await?;
                Ok(y)
            },
        );
        let failing = Function::new("broken")
            .on_event("test/never")
            .retries(0)
            .handler(|_ctx: Ctx, _ev: Event| async move {
                Err::<Value, _>(StepError::non_retriable("nope"))
            });
        let parent = Function::new("parent").on_event("test/invoke").handler(
            |ctx: Ctx, _ev: Event| async move {
                let v = ctx
                    .invoke("call-double", "double", json!({"x": 21}), None)
                    .await?;
                let e = ctx
                    .invoke(
                        "call-broken",
                        "broken",
                        json!({}),
                        Some(Duration::from_secs(30)),
                    )
                    .await;
                Ok(json!({"v": v, "err": e.err().map(|e| e.to_string())}))
            },
        );
        let engine = engine(&db, vec![child, failing, parent]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/invoke", json!({}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output.as_ref().unwrap()["v"], json!(42));
        assert_eq!(
            d.run.output.as_ref().unwrap()["err"],
            json!("step `call-broken` failed: nope")
        );
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn parallel_steps_run_concurrently_once_each() {
    each_backend(|db| async move {
        let c = Counter::default();
        let cc = c.clone();
        let f = Function::new("parallel")
            .on_event("test/parallel")
            .retries(0)
            .handler(move |ctx: Ctx, _ev: Event| {
                let c = cc.clone();
                async move {
                    // Each step waits for the other two: this only finishes if they run together.
                    let barrier = Arc::new(tokio::sync::Barrier::new(3));
                    let step = |i: i64| {
                        let (b, c) = (barrier.clone(), c.clone());
                        ctx.run("part", move || async move {
                            c.hit(&format!("part{i}"));
                            tokio::time::timeout(Duration::from_secs(10), b.wait())
                                .await
                                .map_err(|_| {
                                    StepError::non_retriable("steps did not run in parallel")
                                })?;
                            Ok(i * 10)
                        })
                    };
                    let (a, b, d) = futures::join!(step(1), step(2), step(3));
                    let total: i64 = ctx
                        .run("total", move || async move { Ok(a? + b? + d?) })
                        .await?;
                    Ok(total)
                }
            });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/parallel", json!({}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!(60)));
        assert_eq!((c.get("part1"), c.get("part2"), c.get("part3")), (1, 1, 1));
        assert_eq!(d.steps.len(), 4);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_on_cancels_only_matching_runs() {
    each_backend(|db| async move {
        let f = Function::new("cancellable")
            .on_event("test/job")
            .cancel_on("test/job.cancel", Some("async.data.id == event.data.id"))
            .handler(|ctx: Ctx, _ev: Event| async move {
                ctx.wait_for_event("forever", "test/never", Duration::from_secs(600), None)
                    .await?;
                Ok(())
            });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let a = run_of(&engine, Event::new("test/job", json!({"id": "x"}))).await;
        let b = run_of(&engine, Event::new("test/job", json!({"id": "z"}))).await;
        wait_status(&engine, &a, RunStatus::Waiting).await;
        wait_status(&engine, &b, RunStatus::Waiting).await;
        engine
            .send_one(Event::new("test/job.cancel", json!({"id": "x"})))
            .await
            .unwrap();
        let d = engine.wait_for_run(&a, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Cancelled);
        assert!(d.waits.is_empty());
        let other = engine.get_run(&b).await.unwrap().unwrap();
        assert_eq!(other.run.status, RunStatus::Waiting);
        // Cancel by API too.
        assert!(engine.cancel(&b).await.unwrap());
        assert!(!engine.cancel(&b).await.unwrap());
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn concurrency_key_allows_one_run_per_key() {
    each_backend(|db| async move {
        let active: Arc<std::sync::Mutex<std::collections::HashMap<String, (usize, usize)>>> =
            Default::default();
        let act = active.clone();
        let f = Function::new("serialized")
            .on_event("test/conv")
            .concurrency(1, Some("event.data.conversation_id"))
            .handler(move |ctx: Ctx, ev: Event| {
                let act = act.clone();
                async move {
                    let key = ev.data["conversation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    for step in ["one", "two"] {
                        let (act, key) = (act.clone(), key.clone());
                        ctx.run(step, move || async move {
                            {
                                let mut m = act.lock().unwrap();
                                let e = m.entry(key.clone()).or_insert((0, 0));
                                e.0 += 1;
                                e.1 = e.1.max(e.0);
                            }
                            tokio::task::yield_now().await;
                            tokio::time::sleep(Duration::from_millis(20)).await; // simulated work
                            act.lock().unwrap().entry(key).or_insert((0, 0)).0 -= 1;
                            Ok(())
                        })
                        .await?;
                    }
                    Ok(())
                }
            });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let mut events = Vec::new();
        for i in 0..8 {
            events.push(Event::new(
                "test/conv",
                json!({"conversation_id": if i % 2 == 0 { "cnv_a" } else { "cnv_b" }}),
            ));
        }
        let ids = engine.send(events).await.unwrap();
        for id in &ids {
            let runs = engine.wait_for_runs_of(id, 1, T).await.unwrap();
            let d = engine.wait_for_run(&runs[0].id, T).await.unwrap();
            assert_eq!(d.run.status, RunStatus::Completed);
            assert!(
                d.run
                    .concurrency_key
                    .as_deref()
                    .unwrap()
                    .starts_with("serialized:cnv_")
            );
        }
        let peaks = {
            let m = active.lock().unwrap();
            (m["cnv_a"].1, m["cnv_b"].1)
        };
        assert_eq!(peaks, (1, 1), "at most one run of a conversation at a time");
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn idempotency_key_dedupes_runs() {
    each_backend(|db| async move {
        let f = Function::new("once-per-user")
            .on_event("test/signup")
            .idempotency("event.data.user_id")
            .handler(|_ctx: Ctx, ev: Event| async move { Ok(ev.data) });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let first = engine
            .send_one(Event::new("test/signup", json!({"user_id": "u1"})))
            .await
            .unwrap();
        let second = engine
            .send_one(Event::new("test/signup", json!({"user_id": "u1"})))
            .await
            .unwrap();
        let third = engine
            .send_one(Event::new("test/signup", json!({"user_id": "u2"})))
            .await
            .unwrap();
        engine.wait_for_runs_of(&third, 1, T).await.unwrap(); // processed in order
        assert_eq!(engine.runs_for_event(&first).await.unwrap().len(), 1);
        assert!(engine.runs_for_event(&second).await.unwrap().is_empty());
        // The same event id sent twice is stored once.
        let dup = Event::new("test/signup", json!({"user_id": "u3"})).with_id("evt-fixed");
        engine.send(vec![dup.clone(), dup]).await.unwrap();
        let runs = engine.wait_for_runs_of("evt-fixed", 1, T).await.unwrap();
        assert_eq!(runs.len(), 1);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn failed_runs_are_dead_lettered_and_replayable() {
    each_backend(|db| async move {
        let c = Counter::default();
        let broken = Arc::new(AtomicBool::new(true));
        let (cc, bb) = (c.clone(), broken.clone());
        let f = Function::new("dlq")
            .on_event("test/dlq")
            .retries(1)
            .backoff(Duration::from_millis(10), Duration::from_millis(10))
            .handler(move |ctx: Ctx, _ev: Event| {
                let (c, broken) = (cc.clone(), bb.clone());
                async move {
                    let c1 = c.clone();
                    ctx.run("before", move || async move {
                        c1.hit("before");
                        Ok(())
                    })
                    .await?;
                    let c2 = c.clone();
                    let v: String = ctx
                        .run("charge", move || async move {
                            c2.hit("charge");
                            if broken.load(Ordering::SeqCst) {
                                Err(StepError::retriable("gateway down"))
                            } else {
                                Ok("charged".into())
                            }
                        })
                        .await?;
                    Ok(v)
                }
            });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let run = run_of(&engine, Event::new("test/dlq", json!({}))).await;
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Failed);
        assert_eq!(d.run.error.as_ref().unwrap()["message"], "gateway down");
        assert_eq!(c.get("charge"), 2, "first try + 1 retry");
        // The failure is announced as Inngest does, in the same commit.
        let announced: Vec<String> = sqlx::query_scalar(
            "SELECT payload FROM steps_events WHERE name = 'inngest/function.failed'",
        )
        .fetch_all(db.read_pool())
        .await
        .unwrap();
        assert_eq!(announced.len(), 1);
        let announced: Value = serde_json::from_str(&announced[0]).unwrap();
        assert_eq!(announced["data"]["run_id"], run.as_str());
        assert_eq!(announced["data"]["function_id"], "dlq");
        assert_eq!(announced["data"]["error"]["message"], "gateway down");
        assert_eq!(announced["data"]["event"]["name"], "test/dlq");
        let failed = engine
            .list_runs(&support_steps::RunFilter {
                status: Some(RunStatus::Failed),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        broken.store(false, Ordering::SeqCst);
        assert!(engine.replay(&run).await.unwrap());
        assert!(
            !engine.replay(&run).await.unwrap(),
            "only failed runs replay"
        );
        let d = engine.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        assert_eq!(d.run.output, Some(json!("charged")));
        assert_eq!(
            c.get("before"),
            1,
            "memoized steps are not re-run by a replay"
        );
        assert!(matches!(
            engine.replay("nope").await,
            Err(EngineError::NotFound(_))
        ));
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_steps() {
    each_backend(|db| async move {
        let started = Arc::new(tokio::sync::Notify::new());
        let s = started.clone();
        let f = Function::new("slow")
            .on_event("test/slow")
            .handler(move |ctx: Ctx, _ev: Event| {
                let s = s.clone();
                async move {
                    ctx.run("slow-step", move || async move {
                        s.notify_one();
                        tokio::time::sleep(Duration::from_millis(200)).await; // the work being drained
                        Ok(1)
                    })
                    .await?;
                    ctx.run("next", || async { Ok(2) }).await?;
                    Ok(())
                }
            });
        let engine = engine(&db, vec![f.clone()]);
        let runner = engine.start();
        let id = engine
            .send_one(Event::new("test/slow", json!({})))
            .await
            .unwrap();
        tokio::time::timeout(T, started.notified()).await.unwrap();
        runner.shutdown().await;
        let run = engine.runs_for_event(&id).await.unwrap().remove(0);
        let d = engine.get_run(&run.id).await.unwrap().unwrap();
        assert_eq!(d.steps.len(), 1, "the in-flight step was committed: {d:?}");
        assert_eq!(d.run.status, RunStatus::Queued);
        // A new worker finishes it.
        let runner = engine.start();
        let d = engine.wait_for_run(&run.id, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn timers_survive_a_restart() {
    each_backend(|db| async move {
        let f = Function::new("napper").on_event("test/nap").handler(
            |ctx: Ctx, _ev: Event| async move {
                ctx.sleep("nap", Duration::from_millis(400)).await?;
                Ok("rested")
            },
        );
        let engine1 = engine(&db, vec![f.clone()]);
        let runner = engine1.start();
        let run = run_of(&engine1, Event::new("test/nap", json!({}))).await;
        wait_status(&engine1, &run, RunStatus::Sleeping).await;
        runner.shutdown().await;
        drop(engine1);
        let engine2 = engine(&db, vec![f]);
        let runner = engine2.start();
        let d = engine2.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.output, Some(json!("rested")));
        runner.shutdown().await;
    })
    .await;
}

async fn ledger(db: &support_store::Db, run_id: &str, step: &str) {
    sqlx::query("INSERT INTO test_ledger (run_id, step) VALUES ($1, $2)")
        .bind(run_id)
        .bind(step)
        .execute(db.write_pool())
        .await
        .map_err(|e| StepError::retriable(e.to_string()))
        .unwrap();
}

#[tokio::test]
async fn a_crashed_worker_is_recovered_with_every_effect_once() {
    each_backend(|db| async move {
        sqlx::query("CREATE TABLE test_ledger (run_id TEXT NOT NULL, step TEXT NOT NULL)")
            .execute(db.write_pool())
            .await
            .unwrap();
        let block = Arc::new(AtomicBool::new(true));
        let reached = Arc::new(tokio::sync::Notify::new());
        let make =
            |block: Arc<AtomicBool>, reached: Arc<tokio::sync::Notify>, db: support_store::Db| {
                Function::new("ledgered").on_event("test/ledger").handler(
                    move |ctx: Ctx, _ev: Event| {
                        let (block, reached, db) = (block.clone(), reached.clone(), db.clone());
                        async move {
                            let run_id = ctx.run_id().to_string();
                            for step in ["s1", "s2", "s3"] {
                                let (block, reached, db, run_id) =
                                    (block.clone(), reached.clone(), db.clone(), run_id.clone());
                                ctx.run(step, move || async move {
                                    if step == "s2" && block.load(Ordering::SeqCst) {
                                        reached.notify_one();
                                        std::future::pending::<()>().await; // the worker dies here
                                    }
                                    ledger(&db, &run_id, step).await;
                                    Ok(())
                                })
                                .await?;
                            }
                            Ok(())
                        }
                    },
                )
            };
        let mut config = cfg();
        config.lease = Duration::from_millis(600);
        let engine1 = engine_with(
            &db,
            config.clone(),
            vec![make(block.clone(), reached.clone(), db.clone())],
        );
        let runner = engine1.start();
        let run = run_of(&engine1, Event::new("test/ledger", json!({}))).await;
        tokio::time::timeout(T, reached.notified()).await.unwrap();
        runner.abort(); // crash: no commit, the lease is left to expire
        drop(engine1);
        block.store(false, Ordering::SeqCst);
        let mut config2 = config.clone();
        config2.worker_id = "second-worker".into();
        let engine2 = engine_with(
            &db,
            config2,
            vec![make(block.clone(), reached.clone(), db.clone())],
        );
        let runner = engine2.start();
        let d = engine2.wait_for_run(&run, T).await.unwrap();
        assert_eq!(d.run.status, RunStatus::Completed, "{d:?}");
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT step, COUNT(*) FROM test_ledger WHERE run_id = $1 GROUP BY step ORDER BY step",
        )
        .bind(&run)
        .fetch_all(db.read_pool())
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![("s1".into(), 1), ("s2".into(), 1), ("s3".into(), 1)]
        );
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn debounce_keeps_the_last_event() {
    each_backend(|db| async move {
        let f = Function::new("debounced")
            .on_event("test/typing")
            .debounce(Duration::from_millis(300), Some("event.data.user"))
            .handler(|_ctx: Ctx, ev: Event| async move { Ok(ev.data["n"].clone()) });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        let ids = engine
            .send(vec![
                Event::new("test/typing", json!({"user": "u", "n": 1})),
                Event::new("test/typing", json!({"user": "u", "n": 2})),
                Event::new("test/typing", json!({"user": "u", "n": 3})),
            ])
            .await
            .unwrap();
        let runs = engine.wait_for_runs_of(&ids[2], 1, T).await.unwrap();
        let d = engine.wait_for_run(&runs[0].id, T).await.unwrap();
        assert_eq!(d.run.output, Some(json!(3)));
        let all = engine.list_runs(&Default::default()).await.unwrap();
        assert_eq!(all.len(), 1);
        runner.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_definitions_are_clear_errors() {
    let db = support_testkit::TestDb::sqlite().await.unwrap();
    let bad = Function::new("bad")
        .on_event_if("test/x", "event.data. ==")
        .handler(|_c: Ctx, _e: Event| async { Ok(()) });
    let err = support_steps::Engine::builder(Arc::new(db.db.clone()))
        .function(bad)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("invalid CEL"), "{err}");
    let no_handler = Function::new("nh").on_event("test/x");
    assert!(
        support_steps::Engine::builder(Arc::new(db.db.clone()))
            .function(no_handler)
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn concurrent_sends_share_commits_and_each_event_starts_one_run() {
    each_backend(|db| async move {
        let f = Function::new("per-event")
            .on_event("test/burst")
            .handler(|_ctx: Ctx, ev: Event| async move { Ok(ev.data) });
        let engine = engine(&db, vec![f]);
        let runner = engine.start();
        // 64 callers at once, each sending its own event; every 8th one also repeats the
        // event of caller 0 (a webhook retried while the first delivery is in flight).
        let sends = (0..64).map(|i| {
            let engine = engine.clone();
            async move {
                let mut evs =
                    vec![Event::new("test/burst", json!({"i": i})).with_id(format!("burst-{i}"))];
                if i % 8 == 0 {
                    evs.push(Event::new("test/burst", json!({"i": 0})).with_id("burst-0"));
                }
                engine.send(evs).await.unwrap()
            }
        });
        let ids = futures::future::join_all(sends).await;
        assert_eq!(ids.len(), 64);
        assert_eq!(ids[5], vec!["burst-5".to_string()]);
        for i in 0..64 {
            let runs = engine
                .wait_for_runs_of(&format!("burst-{i}"), 1, T)
                .await
                .unwrap();
            assert_eq!(runs.len(), 1, "event burst-{i}");
        }
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM steps_events WHERE name = 'test/burst'")
                .fetch_one(db.read_pool())
                .await
                .unwrap();
        assert_eq!(stored, 64);
        runner.shutdown().await;
    })
    .await;
}
