//! What one invocation commits: its steps, waits, events and child runs, and what happens
//! to the run next (done, retried, waiting, failed for good).

use super::*;

impl Engine {
    pub(super) fn build_commit(
        &self,
        def: &Compiled,
        run: &RunSummary,
        driven: Driven,
        ops: Vec<Op>,
    ) -> Commit {
        let now = self.now();
        let attempts = def.def.attempts();
        let mut c = Commit {
            steps: vec![],
            waits: vec![],
            events: vec![],
            runs: vec![],
            next: Next::Pending,
        };
        let mut retry: Option<(Millis, Value)> = None;
        let mut progress = false;
        let run_event = run.event.to_value();
        for op in ops.into_iter().filter(|o| o.fresh) {
            let write = |status: StepStatus, result: Value| StepWrite {
                hash: op.hash.clone(),
                name: op.id.clone(),
                kind: op.kind.name().to_string(),
                status,
                result,
                attempt: run.attempt,
                started_at: if op.started_at == 0 {
                    now
                } else {
                    op.started_at
                },
                ended_at: if op.ended_at == 0 { now } else { op.ended_at },
            };
            match &op.kind {
                OpKind::Run => match &op.outcome {
                    None => {}
                    Some(Ok(v)) => {
                        c.steps
                            .push(write(StepStatus::Completed, json!({ "data": v })));
                        progress = true;
                    }
                    Some(Err(e)) => {
                        if !e.is_retriable() || run.attempt + 1 >= attempts {
                            tracing::warn!(step = %op.id, error = %e, "step failed");
                            c.steps
                                .push(write(StepStatus::Failed, json!({ "error": e.to_json() })));
                            progress = true;
                        } else {
                            tracing::info!(step = %op.id, error = %e, "step error; will retry");
                            c.steps
                                .push(write(StepStatus::Retrying, json!({ "error": e.to_json() })));
                            let at = retry_at(def, run.attempt, e, now);
                            retry = Some((retry.map_or(at, |(t, _)| t.max(at)), e.to_json()));
                        }
                    }
                },
                OpKind::Sleep { until, .. } => c.waits.push(NewWait {
                    id: ulid::Ulid::new().to_string(),
                    kind: WaitKind::Sleep,
                    hash: Some(op.hash.clone()),
                    step_name: Some(op.id.clone()),
                    event_name: None,
                    expr: None,
                    correlation: None,
                    expires_at: Some(*until),
                }),
                OpKind::WaitForEvent {
                    event,
                    if_expr,
                    until,
                    ..
                } => {
                    let expr = if_expr.as_deref().map(|e| substitute_event(e, &run_event));
                    if let Some(Err(e)) = expr.as_deref().map(Expr::compile) {
                        c.steps.push(write(
                            StepStatus::Failed,
                            json!({ "error": StepError::non_retriable(e).to_json() }),
                        ));
                        progress = true;
                        continue;
                    }
                    c.waits.push(NewWait {
                        id: ulid::Ulid::new().to_string(),
                        kind: WaitKind::Event,
                        hash: Some(op.hash.clone()),
                        step_name: Some(op.id.clone()),
                        event_name: Some(event.clone()),
                        expr,
                        correlation: None,
                        expires_at: Some(*until),
                    });
                }
                OpKind::SendEvent { events } => {
                    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
                    c.events.extend(events.iter().cloned());
                    c.steps.push(write(
                        StepStatus::Completed,
                        json!({ "data": { "ids": ids } }),
                    ));
                    progress = true;
                }
                OpKind::Invoke {
                    function_id,
                    payload,
                    until,
                    ..
                } => match self.function(function_id) {
                    None => {
                        let e = StepError::non_retriable(format!(
                            "cannot invoke unknown function `{function_id}`"
                        ));
                        c.steps
                            .push(write(StepStatus::Failed, json!({ "error": e.to_json() })));
                        progress = true;
                    }
                    Some(target) => {
                        let mut ev = Event::new(INVOKED_EVENT, payload.clone()).normalized(now);
                        if !ev.data.is_object() {
                            ev.data = json!({ "payload": payload });
                        }
                        let child = new_run(&target, ev, Some(run.id.clone()), now);
                        c.waits.push(NewWait {
                            id: ulid::Ulid::new().to_string(),
                            kind: WaitKind::Invoke,
                            hash: Some(op.hash.clone()),
                            step_name: Some(op.id.clone()),
                            event_name: None,
                            expr: None,
                            correlation: Some(child.id.clone()),
                            expires_at: *until,
                        });
                        c.runs.push(child);
                    }
                },
            }
        }
        c.next = match driven {
            Driven::Done(Ok(v)) => Next::Complete(v),
            Driven::Done(Err(e)) => {
                let final_error = matches!(
                    e,
                    StepError::NonRetriable { .. } | StepError::StepFailed { .. }
                );
                if final_error || run.attempt + 1 >= attempts {
                    Next::Fail(e.to_json())
                } else {
                    tracing::info!(error = %e, "function error; will retry");
                    Next::Retry {
                        at: retry_at(def, run.attempt, &e, now),
                        attempt: run.attempt + 1,
                        error: e.to_json(),
                    }
                }
            }
            Driven::Interrupted => match retry {
                Some((at, error)) => Next::Retry {
                    at,
                    attempt: run.attempt + 1,
                    error,
                },
                None if progress => Next::Continue,
                None => Next::Pending,
            },
        };
        // A run that handled a failure does not announce its own (no chains).
        if let Next::Fail(error) = &c.next
            && run.event.name != FAILED_EVENT
        {
            c.events.push(
                Event::new(
                    FAILED_EVENT,
                    json!({"function_id": run.function_id, "run_id": run.id,
                           "error": error, "event": run.event.to_value()}),
                )
                .normalized(now),
            );
        }
        c
    }
}

fn retry_at(def: &Compiled, attempt: u32, e: &StepError, now: Millis) -> Millis {
    if let StepError::Retriable {
        retry_after_ms: Some(ms),
        ..
    } = e
    {
        return now + ms;
    }
    now + def.def.backoff.delay(attempt).as_millis() as i64
}
