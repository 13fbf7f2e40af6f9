//! [`PageError`]: what a dashboard page or action answers when it cannot do what was asked,
//! as an HTML page with an error panel and a stable `code` (never a stack trace; the cause is
//! logged).

use super::components::ErrorPanel;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use support_core::auth::Role;
use support_core::store::StoreError;
use support_host::ApiError;

#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    /// Stable, machine-readable (`forbidden`, `csrf_invalid`, `not_found`, ...).
    pub code: &'static str,
    /// What the user is told.
    pub message: String,
    /// The cause, logged only.
    cause: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// `401 unauthorized`: no session (a POST; a GET is sent to the login page instead).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "You are not signed in (or your session ended). Sign in and try again.",
        )
    }

    /// `403 forbidden`: the viewer's role may not do this.
    pub fn forbidden(required: Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "Your role may not do this; it needs the {} role.",
                required.as_str()
            ),
        )
    }

    /// `403 csrf_invalid`: the form's token is missing or not this session's.
    pub fn csrf_invalid() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_invalid",
            "This form was not accepted: its security token is missing or expired (for example \
             after signing out, or from another site). Nothing was changed. Go back, reload the \
             page and submit it again.",
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// `503 unavailable`: the store failed; `cause` is logged.
    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is unavailable; try again in a moment.",
            )
        }
    }

    /// `500 internal`: `cause` is logged.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side; it was logged.",
            )
        }
    }

    /// Log the cause (if any) once.
    pub fn log(&self) {
        match &self.cause {
            Some(cause) => tracing::error!(code = self.code, %cause, "dashboard request failed"),
            None => tracing::debug!(code = self.code, message = %self.message, "dashboard refusal"),
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match &e {
            ApiError::Unavailable(cause) => Self::unavailable(cause.clone()),
            ApiError::Internal(cause) => Self::internal(cause.clone()),
            _ => Self::new(e.status(), e.code(), e.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.log();
        let title = match self.status.as_u16() {
            401 => "Sign in required",
            403 => "Not allowed",
            404 => "Not found",
            400..=499 => "Request refused",
            _ => "Something went wrong",
        };
        let code = self.code;
        let message = self.message.clone();
        let body = view! {
            <main class="narrow">
                <h1>{title}</h1>
                <ErrorPanel code=code message=message/>
                <p><a href="/">"Back to the dashboard"</a>" · "<a href="/login">"Sign in"</a></p>
            </main>
        }
        .into_any();
        let mut res = super::document(title, body, None).into_response();
        *res.status_mut() = self.status;
        res
    }
}
