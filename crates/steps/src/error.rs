//! Error types: what handlers return ([`StepError`]), what the storage port reports
//! ([`RunStoreError`]), and what the engine reports ([`EngineError`]).

use crate::expr::ExprError;
use serde_json::{Value, json};

/// The error of a step or of a whole function handler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Retried with backoff until the function's retries run out (the default).
    #[error("{message}")]
    Retriable {
        message: String,
        /// Retry no sooner than this (overrides the backoff).
        retry_after_ms: Option<i64>,
    },
    /// Not retried: the step (or function) fails at once.
    #[error("{message}")]
    NonRetriable { message: String },
    /// A step that failed for good, as its memoized error is handed back to the handler.
    /// Returning it from the handler fails the run without further retries.
    #[error("step `{step}` failed: {message}")]
    StepFailed {
        step: String,
        name: String,
        message: String,
    },
}

impl StepError {
    pub fn retriable(message: impl std::fmt::Display) -> Self {
        Self::Retriable {
            message: message.to_string(),
            retry_after_ms: None,
        }
    }

    pub fn non_retriable(message: impl std::fmt::Display) -> Self {
        Self::NonRetriable {
            message: message.to_string(),
        }
    }

    pub fn retry_after(message: impl std::fmt::Display, after: std::time::Duration) -> Self {
        Self::Retriable {
            message: message.to_string(),
            retry_after_ms: Some(after.as_millis() as i64),
        }
    }

    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Retriable { .. })
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Retriable { message, .. }
            | Self::NonRetriable { message }
            | Self::StepFailed { message, .. } => message,
        }
    }

    /// Inngest's serialized error: `{name, message}`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Retriable { message, .. } => json!({"name": "Error", "message": message}),
            Self::NonRetriable { message } => {
                json!({"name": "NonRetriableError", "message": message})
            }
            Self::StepFailed { name, message, .. } => json!({"name": name, "message": message}),
        }
    }

    /// Read a serialized error back as the failure of step `step`.
    pub fn from_step_json(step: &str, v: &Value) -> Self {
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("Error")
            .to_string();
        Self::StepFailed {
            step: step.to_string(),
            name,
            message,
        }
    }
}

impl From<serde_json::Error> for StepError {
    fn from(e: serde_json::Error) -> Self {
        Self::non_retriable(format!("JSON: {e}"))
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        Self::retriable(message)
    }
}

impl From<&str> for StepError {
    fn from(message: &str) -> Self {
        Self::retriable(message)
    }
}

impl From<ExprError> for StepError {
    fn from(e: ExprError) -> Self {
        Self::non_retriable(e)
    }
}

/// Turn any displayable error into a [`StepError`] with `?`.
pub trait ResultExt<T> {
    fn retriable(self) -> Result<T, StepError>;
    fn non_retriable(self) -> Result<T, StepError>;
}

impl<T, E: std::fmt::Display> ResultExt<T> for Result<T, E> {
    fn retriable(self) -> Result<T, StepError> {
        self.map_err(StepError::retriable)
    }
    fn non_retriable(self) -> Result<T, StepError> {
        self.map_err(StepError::non_retriable)
    }
}

/// Errors of the storage port.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunStoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Errors of the engine's API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] RunStoreError),
    #[error("invalid function `{function}`: {message}")]
    Definition { function: String, message: String },
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("http: {0}")]
    Http(String),
}
