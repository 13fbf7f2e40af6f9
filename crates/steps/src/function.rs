//! Function definitions: triggers, retries, concurrency, idempotency, cancellation, debounce,
//! and the Rust handler.

use crate::ctx::Ctx;
use crate::error::{EngineError, StepError};
use crate::event::Event;
use crate::expr::Expr;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A boxed handler: `async fn(ctx, event) -> Result<Value, StepError>`.
pub type Handler =
    Arc<dyn Fn(Ctx, Event) -> BoxFuture<'static, Result<Value, StepError>> + Send + Sync>;

/// What starts a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    /// An event by name, optionally filtered by a CEL `expression` over `event`.
    Event {
        event: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// A cron schedule (five fields, UTC); the embedded executor fires it.
    Cron { cron: String },
}

/// Exponential backoff between attempts (with ±10% jitter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial.as_millis() as f64 * 2f64.powi(attempt.min(30) as i32);
        let capped = base.min(self.max.as_millis() as f64);
        let jitter = 1.0 + (rand::random::<f64>() - 0.5) * 0.2;
        Duration::from_millis((capped * jitter).max(0.0) as u64)
    }
}

/// At most `limit` runs execute at once per value of `key` (a CEL expression over `event`);
/// without a key, per function. Sleeping and waiting runs do not count (as in Inngest).
#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    pub limit: u32,
    pub key: Option<String>,
}

/// Cancel a run when a matching event arrives (`if_expr` sees `event` = the run's trigger and
/// `async` = the incoming event).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelOn {
    pub event: String,
    pub if_expr: Option<String>,
    pub timeout: Option<Duration>,
}

/// Delay the start until no new matching event arrived for `period`; the last event wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Debounce {
    pub period: Duration,
    pub key: Option<String>,
}

/// A durable function.
#[derive(Clone)]
pub struct Function {
    pub id: String,
    pub name: String,
    pub triggers: Vec<Trigger>,
    /// Retries after the first attempt (Inngest's `retries`; default 4).
    pub retries: u32,
    pub backoff: Backoff,
    pub concurrency: Option<Concurrency>,
    /// A CEL expression over `event`; a second run with the same key is not started.
    pub idempotency: Option<String>,
    pub cancel_on: Vec<CancelOn>,
    pub debounce: Option<Debounce>,
    pub(crate) handler: Option<Handler>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("id", &self.id)
            .field("triggers", &self.triggers)
            .field("retries", &self.retries)
            .field("concurrency", &self.concurrency)
            .field("idempotency", &self.idempotency)
            .field("cancel_on", &self.cancel_on)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function with id `id` (also its name until [`Function::name`] is called).
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            triggers: Vec::new(),
            retries: 4,
            backoff: Backoff::default(),
            concurrency: None,
            idempotency: None,
            cancel_on: Vec::new(),
            debounce: None,
            handler: None,
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Triggered by every event named `event`.
    pub fn on_event(mut self, event: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Event {
            event: event.into(),
            expression: None,
        });
        self
    }

    /// Triggered by events named `event` for which the CEL `expression` is true.
    pub fn on_event_if(mut self, event: impl Into<String>, expression: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Event {
            event: event.into(),
            expression: Some(expression.into()),
        });
        self
    }

    pub fn on_cron(mut self, cron: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Cron { cron: cron.into() });
        self
    }

    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max };
        self
    }

    pub fn concurrency(mut self, limit: u32, key: Option<&str>) -> Self {
        self.concurrency = Some(Concurrency {
            limit: limit.max(1),
            key: key.map(str::to_string),
        });
        self
    }

    pub fn idempotency(mut self, key_expr: impl Into<String>) -> Self {
        self.idempotency = Some(key_expr.into());
        self
    }

    pub fn cancel_on(mut self, event: impl Into<String>, if_expr: Option<&str>) -> Self {
        self.cancel_on.push(CancelOn {
            event: event.into(),
            if_expr: if_expr.map(str::to_string),
            timeout: None,
        });
        self
    }

    pub fn debounce(mut self, period: Duration, key: Option<&str>) -> Self {
        self.debounce = Some(Debounce {
            period,
            key: key.map(str::to_string),
        });
        self
    }

    /// The Rust handler. It is re-run from the top on every step; see [`Ctx`].
    pub fn handler<F, Fut, T>(mut self, f: F) -> Self
    where
        F: Fn(Ctx, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, StepError>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let f = Arc::new(f);
        self.handler = Some(Arc::new(move |ctx, ev| {
            let fut = f(ctx, ev);
            Box::pin(async move {
                let out = fut.await?;
                serde_json::to_value(out)
                    .map_err(|e| StepError::non_retriable(format!("output is not JSON: {e}")))
            })
        }));
        self
    }

    /// The total number of attempts (first try + retries).
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// Inngest's config JSON for this function (used by `/fn/register` and introspection).
    pub fn to_config(&self, app_id: &str, url: &str) -> Value {
        let full_id = format!("{app_id}-{}", self.id);
        let mut cfg = serde_json::json!({
            "id": full_id,
            "name": self.name,
            "triggers": self.triggers,
            "steps": {"step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": format!("{url}?fnId={full_id}&stepId=step")},
                "retries": {"attempts": self.retries},
            }},
        });
        if let Some(c) = &self.concurrency {
            let mut limit = serde_json::json!({"limit": c.limit});
            if let Some(k) = &c.key {
                limit["key"] = Value::String(k.clone());
            }
            cfg["concurrency"] = Value::Array(vec![limit]);
        }
        if let Some(k) = &self.idempotency {
            cfg["idempotency"] = Value::String(k.clone());
        }
        if !self.cancel_on.is_empty() {
            cfg["cancel"] = Value::Array(
                self.cancel_on
                    .iter()
                    .map(|c| {
                        let mut v = serde_json::json!({"event": c.event});
                        if let Some(e) = &c.if_expr {
                            v["if"] = Value::String(e.clone());
                        }
                        v
                    })
                    .collect(),
            );
        }
        if let Some(d) = &self.debounce {
            let mut v = serde_json::json!({"period": format!("{}ms", d.period.as_millis())});
            if let Some(k) = &d.key {
                v["key"] = Value::String(k.clone());
            }
            cfg["debounce"] = v;
        }
        cfg
    }
}

/// A definition with its expressions compiled.
pub(crate) struct Compiled {
    pub def: Function,
    pub trigger_exprs: Vec<Option<Expr>>,
    pub concurrency_key: Option<Expr>,
    pub idempotency: Option<Expr>,
    pub debounce_key: Option<Expr>,
    /// For functions served by an SDK: the URL to call.
    pub remote: Option<String>,
    /// Parsed cron triggers (the embedded executor fires them).
    pub crons: Vec<crate::cron::CronSpec>,
}

fn bad(function: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::Definition {
        function: function.to_string(),
        message: message.to_string(),
    }
}

impl Compiled {
    pub fn new(def: Function) -> Result<Self, EngineError> {
        let fid = def.id.clone();
        if fid.trim().is_empty() {
            return Err(bad(&fid, "id is empty"));
        }
        if def.triggers.is_empty() {
            return Err(bad(&fid, "no trigger"));
        }
        let compile = |src: &Option<String>| -> Result<Option<Expr>, EngineError> {
            src.as_deref()
                .map(Expr::compile)
                .transpose()
                .map_err(|e| bad(&fid, e))
        };
        let mut trigger_exprs = Vec::new();
        let mut crons = Vec::new();
        for t in &def.triggers {
            match t {
                Trigger::Event { event, expression } => {
                    if event.trim().is_empty() {
                        return Err(bad(&fid, "empty trigger event name"));
                    }
                    trigger_exprs.push(compile(expression)?);
                }
                Trigger::Cron { cron } => {
                    crons.push(crate::cron::CronSpec::parse(cron).map_err(|e| bad(&fid, e))?);
                    trigger_exprs.push(None);
                }
            }
        }
        for c in &def.cancel_on {
            compile(&c.if_expr)?;
        }
        Ok(Self {
            concurrency_key: compile(&def.concurrency.as_ref().and_then(|c| c.key.clone()))?,
            idempotency: compile(&def.idempotency)?,
            debounce_key: compile(&def.debounce.as_ref().and_then(|d| d.key.clone()))?,
            trigger_exprs,
            def,
            remote: None,
            crons,
        })
    }

    /// Whether `event` triggers this function.
    pub fn triggered_by(&self, event: &Event, event_json: &Value) -> bool {
        self.def.triggers.iter().zip(&self.trigger_exprs).any(|(t, expr)| match t {
            Trigger::Event { event: name, .. } if name == &event.name => match expr {
                None => true,
                Some(e) => match e.matches(&[("event", event_json)]) {
                    Ok(b) => b,
                    Err(err) => {
                        tracing::warn!(function = %self.def.id, error = %err, "trigger expression failed");
                        false
                    }
                },
            },
            Trigger::Cron { .. } => {
                event.name == crate::cron::SCHEDULED_EVENT && event.data["function_id"] == self.def.id.as_str()
            }
            _ => false,
        })
    }
}
