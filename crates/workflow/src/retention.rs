//! The `support-retention` durable function: runs the retention plan of
//! [`support_core::retention`] in bounded, memoized batches (see that module for what is purged
//! and when). One run at a time; a run that hits `max_batches_per_run` asks for a follow-up run.

use serde_json::{Value, json};
use std::sync::Arc;
use support_steps::{Ctx, Event, Function, StepError};

use support_core::audit::AuditEvent;
pub use support_core::retention::*;
use support_core::settings::RetentionSettings;
use support_core::store::{RetentionScope, Store, StoreError};
use support_core::time::Millis;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Messages,
    Approvals,
    Runs,
    Events,
}

/// One kind of purge over one scope, in batches.
struct Task {
    kind: Kind,
    scope: RetentionScope,
    label: String,
    before: Millis,
}

fn store_err(e: StoreError) -> StepError {
    StepError::retriable(format!("store: {e}"))
}

/// The retention function: `settings.schedule` and [`RETENTION_REQUESTED`]; one run at a time.
pub fn retention_function(
    store: Arc<dyn Store>,
    settings: RetentionSettings,
    clock: Arc<dyn Clock>,
) -> Function {
    let schedule = settings.schedule.clone();
    let settings = Arc::new(settings);
    Function::new(RETENTION_FN)
        .name("Retention")
        .on_cron(schedule)
        .on_event(RETENTION_REQUESTED)
        .concurrency(1, None)
        .retries(5)
        .handler(move |ctx: Ctx, _ev: Event| {
            let (store, settings, clock) = (store.clone(), settings.clone(), clock.clone());
            async move { run(&ctx, store, &settings, clock).await }
        })
}

async fn run(
    ctx: &Ctx,
    store: Arc<dyn Store>,
    settings: &RetentionSettings,
    clock: Arc<dyn Clock>,
) -> Result<RetentionReport, StepError> {
    let (s, d) = (store.clone(), settings.clone());
    let plan: Plan = ctx
        .run("plan", move || async move {
            let apps = s.list_apps().await.map_err(store_err)?;
            Ok(plan(&apps, &d, clock.now_ms()))
        })
        .await?;
    let batch = settings.batch_size.max(1);
    let mut budget = settings.max_batches_per_run.max(1);
    let mut report = RetentionReport {
        now: plan.now,
        complete: true,
        skipped_apps: plan.skipped.clone(),
        ..Default::default()
    };
    let mut tasks = Vec::new();
    for sp in &plan.scopes {
        for (kind, before) in [
            (Kind::Messages, sp.messages_before),
            (Kind::Approvals, sp.approvals_before),
        ] {
            tasks.push(Task {
                kind,
                scope: sp.scope.clone(),
                label: sp.label().to_string(),
                before,
            });
        }
    }
    for kind in [Kind::Runs, Kind::Events] {
        tasks.push(Task {
            kind,
            scope: RetentionScope::Unowned,
            label: "_runner".into(),
            before: plan.runs_before,
        });
    }
    'all: for task in tasks {
        let mut i = 0;
        loop {
            if budget == 0 {
                report.complete = false;
                break 'all;
            }
            let (s, scope, at, before, kind) = (
                store.clone(),
                task.scope.clone(),
                plan.now,
                task.before,
                task.kind,
            );
            let name = match kind {
                Kind::Messages => "messages",
                Kind::Approvals => "approvals",
                Kind::Runs => "runs",
                Kind::Events => "events",
            };
            let n: u64 = ctx
                .run(&format!("{name}:{}:{i}", task.label), move || async move {
                    match kind {
                        Kind::Messages => s.purge_message_batch(&scope, before, at, batch).await,
                        Kind::Approvals => s.purge_approval_batch(&scope, before, at, batch).await,
                        Kind::Runs => s.purge_run_batch(before, at, batch).await,
                        Kind::Events => s.purge_event_batch(before, at, batch).await,
                    }
                    .map_err(store_err)
                })
                .await?;
            // Only a full batch may leave work behind, so only full batches spend the budget:
            // a run stops early only after purging `max_batches_per_run` full batches, and the
            // chain of follow-up runs ends with the backlog. A run costs at most
            // `max_batches_per_run` statements plus one per task.
            if n as i64 >= batch {
                budget -= 1;
            }
            report.batches += 1;
            i += 1;
            match kind {
                Kind::Messages | Kind::Approvals if n > 0 => {
                    let c = report.by_app.entry(task.label.clone()).or_default();
                    if matches!(kind, Kind::Messages) {
                        c.messages += n;
                        report.messages += n;
                    } else {
                        c.approvals += n;
                        report.approvals += n;
                    }
                }
                Kind::Runs => report.runs += n,
                Kind::Events => report.events += n,
                _ => {}
            }
            if (n as i64) < batch {
                break;
            }
        }
    }
    let (s, data) = (
        store.clone(),
        serde_json::to_value(&report).unwrap_or(Value::Null),
    );
    let _: Value = ctx
        .run("audit", move || async move {
            let rec = s
                .append_audit(&AuditEvent::new(PURGED_KIND, "system", data))
                .await
                .map_err(store_err)?;
            Ok(json!({"seq": rec.seq}))
        })
        .await?;
    if !report.complete {
        let run_id = ctx.run_id().to_string();
        ctx.send_event(
            "continue",
            vec![
                Event::new(RETENTION_REQUESTED, json!({"after_run": run_id}))
                    .with_id(format!("retention-continue:{run_id}")),
            ],
        )
        .await?;
    }
    Ok(report)
}
