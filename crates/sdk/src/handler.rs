//! The app side: an axum endpoint that verifies signed requests and routes them to a
//! [`SupportIntegration`], answering exactly like `createSupportHandler` of
//! `@skillrecordings/sdk/handler` 0.5.0.
//!
//! Checks, in this order (status, then the `error` of the JSON body):
//!
//! | condition                                     | status | body                                          |
//! |-----------------------------------------------|--------|-----------------------------------------------|
//! | no `X-Support-Signature` header               | 401    | `{"error":"Missing signature header"}`        |
//! | no `timestamp=` or `v1=` part (or empty)      | 401    | `{"error":"Invalid signature format"}`        |
//! | timestamp older than 300 s                    | 401    | `{"error":"Signature expired"}`               |
//! | body is not JSON                              | 400    | `{"error":"Invalid JSON body"}`               |
//! | no `v1=` matches any secret (any length)      | 401    | `{"error":"Invalid signature"}`               |
//! | `action` missing, empty or not a string       | 400    | `{"error":"Missing action field"}`            |
//! | unknown `action`                              | 400    | `{"error":"Unknown action: X"}`               |
//! | optional method not implemented               | 501    | `{"error":"Method not implemented: X"}`       |
//! | method returned an error                      | 500    | `{"error":"<message>"}`                       |
//! | success                                       | 200    | the method's result as JSON (`null` for none) |
//!
//! Beyond npm: several secrets (rotation), a body size limit (413
//! `{"error":"Request body too large"}`, checked after the expiry check) and parameters of the
//! wrong type/missing (400 `{"error":"Invalid parameters for X: ..."}`, npm passes
//! `undefined` to the method instead).
//!
//! Mount it anywhere:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use support_sdk::SupportIntegration;
//! # fn app(integration: Arc<dyn SupportIntegration>) -> axum::Router {
//! use support_sdk::handler::{router, SupportHandler};
//!
//! let secrets = vec![std::env::var("SUPPORT_WEBHOOK_SECRET").unwrap_or_default()];
//! axum::Router::new()
//!     // as a route of your app
//!     .route(
//!         "/demo-app/support",
//!         SupportHandler::new(integration.clone(), secrets.clone()).into_method_router(),
//!     )
//!     // or as a nested router
//!     .nest("/api/support", router(integration, secrets))
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::integration::{Action, IntegrationError, SupportIntegration};
use crate::signing::{
    DEFAULT_TOLERANCE, SIGNATURE_HEADER, SignatureError, SignatureHeader, unix_now,
};

/// Default maximum request body size (2 MiB, axum's default).
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Builds the endpoint as a [`Router`] answering `POST /`; `nest` it at any path.
pub fn router(integration: Arc<dyn SupportIntegration>, secrets: Vec<String>) -> Router {
    SupportHandler::new(integration, secrets).into_router()
}

/// The support endpoint: an integration plus the accepted secrets. Cheap to clone.
#[derive(Clone)]
pub struct SupportHandler {
    integration: Arc<dyn SupportIntegration>,
    secrets: Arc<[String]>,
    tolerance: Duration,
    body_limit: usize,
}

impl fmt::Debug for SupportHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupportHandler")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("tolerance", &self.tolerance)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// A JSON answer of the handler, independent of any web framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportResponse {
    pub status: StatusCode,
    /// JSON bytes.
    pub body: Vec<u8>,
}

impl SupportResponse {
    fn json(status: StatusCode, body: Vec<u8>) -> Self {
        SupportResponse { status, body }
    }

    fn error(status: StatusCode, message: &str) -> Self {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
            .unwrap_or_else(|_| br#"{"error":"Unknown error"}"#.to_vec());
        SupportResponse { status, body }
    }

    fn rejected(error: SignatureError) -> Self {
        tracing::debug!(%error, "support request rejected");
        Self::error(StatusCode::UNAUTHORIZED, &error.to_string())
    }
}

impl IntoResponse for SupportResponse {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Why dispatching failed after authentication.
enum DispatchError {
    Params(String),
    Integration(IntegrationError),
    Serialize(serde_json::Error),
}

impl SupportHandler {
    /// An endpoint for `integration` accepting requests signed with any of `secrets`
    /// (empty secrets are ignored, so a missing configuration never accepts anything).
    pub fn new(integration: Arc<dyn SupportIntegration>, secrets: Vec<String>) -> Self {
        let secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        if secrets.is_empty() {
            tracing::warn!(
                "support handler configured without any secret: every request will be rejected"
            );
        }
        SupportHandler {
            integration,
            secrets: secrets.into(),
            tolerance: DEFAULT_TOLERANCE,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Maximum signature age (default 300 s).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Maximum body size in bytes (default [`DEFAULT_BODY_LIMIT`]).
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// A `POST` [`MethodRouter`] for `Router::route("/your/path", ...)`. It is also a tower
    /// `Service`.
    pub fn into_method_router<S>(self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        post(move |request: Request| {
            let handler = self.clone();
            async move { handler.handle(request).await }
        })
    }

    /// A [`Router`] answering `POST /`, to `nest` at any path.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new().route("/", self.into_method_router())
    }

    /// Handles one HTTP request. The body is only read once the header passed the format and
    /// expiry checks.
    pub async fn handle(&self, request: Request) -> Response {
        let header = signature_header(&request);
        let signature = match self.check_header(header.as_deref(), unix_now()) {
            Ok(signature) => signature,
            Err(response) => return response.into_response(),
        };
        let declared_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > self.body_limit as u64) {
            return too_large().into_response();
        }
        let body = match axum::body::to_bytes(request.into_body(), self.body_limit).await {
            Ok(body) => body,
            Err(error) if is_length_limit(&error) => return too_large().into_response(),
            Err(error) => {
                return SupportResponse::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("Internal error: {error}"),
                )
                .into_response();
            }
        };
        self.respond(signature, &body).await.into_response()
    }

    /// Handles a request given its `X-Support-Signature` header (if any) and raw body, for use
    /// outside axum. Uses the current time.
    pub async fn process(&self, signature_header: Option<&str>, body: &[u8]) -> SupportResponse {
        match self.check_header(signature_header, unix_now()) {
            Ok(signature) => self.respond(signature, body).await,
            Err(response) => response,
        }
    }

    fn check_header(
        &self,
        header: Option<&str>,
        now: i64,
    ) -> Result<SignatureHeader, SupportResponse> {
        let header = header
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SupportResponse::rejected(SignatureError::Missing))?;
        let signature = SignatureHeader::parse(header).map_err(SupportResponse::rejected)?;
        signature
            .check_age(now, self.tolerance)
            .map_err(SupportResponse::rejected)?;
        Ok(signature)
    }

    async fn respond(&self, signature: SignatureHeader, body: &[u8]) -> SupportResponse {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return SupportResponse::error(StatusCode::BAD_REQUEST, "Invalid JSON body");
        };
        if let Err(error) = signature.verify_body(body, &self.secrets[..]) {
            return SupportResponse::rejected(error);
        }
        let name = match json.get("action") {
            Some(Value::String(name)) if !name.is_empty() => name.as_str(),
            _ => return SupportResponse::error(StatusCode::BAD_REQUEST, "Missing action field"),
        };
        let Some(action) = Action::from_wire(name) else {
            return SupportResponse::error(
                StatusCode::BAD_REQUEST,
                &format!("Unknown action: {name}"),
            );
        };
        match dispatch(self.integration.as_ref(), action, &json).await {
            Ok(result) => SupportResponse::json(StatusCode::OK, result),
            Err(DispatchError::Integration(IntegrationError::NotImplemented(_))) => {
                SupportResponse::error(
                    StatusCode::NOT_IMPLEMENTED,
                    &format!("Method not implemented: {action}"),
                )
            }
            Err(DispatchError::Integration(error)) => {
                tracing::warn!(action = action.as_str(), %error, "support integration method failed");
                SupportResponse::error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
            }
            Err(DispatchError::Params(error)) => SupportResponse::error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid parameters for {action}: {error}"),
            ),
            Err(DispatchError::Serialize(error)) => SupportResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Internal error: {error}"),
            ),
        }
    }
}

/// All `X-Support-Signature` values, joined like the Fetch API's `Headers.get` does.
fn signature_header(request: &Request) -> Option<String> {
    let values: Vec<String> = request
        .headers()
        .get_all(SIGNATURE_HEADER)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn too_large() -> SupportResponse {
    SupportResponse::error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

fn params<T: DeserializeOwned>(body: &Value) -> Result<T, DispatchError> {
    T::deserialize(body).map_err(|e| DispatchError::Params(e.to_string()))
}

fn string_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, DispatchError> {
    match body.get(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(DispatchError::Params(format!("`{name}` must be a string"))),
        None => Err(DispatchError::Params(format!("missing field `{name}`"))),
    }
}

fn encode<T: Serialize>(result: Result<T, IntegrationError>) -> Result<Vec<u8>, DispatchError> {
    let value = result.map_err(DispatchError::Integration)?;
    serde_json::to_vec(&value).map_err(DispatchError::Serialize)
}

/// Calls the method of `action` with the parameters found in `body` (the whole request body,
/// as the npm handler reads them).
async fn dispatch(
    integration: &dyn SupportIntegration,
    action: Action,
    body: &Value,
) -> Result<Vec<u8>, DispatchError> {
    let i = integration;
    match action {
        Action::LookupUser => encode(i.lookup_user(string_field(body, "email")?).await),
        Action::GetPurchases => encode(i.get_purchases(string_field(body, "userId")?).await),
        Action::RevokeAccess => encode(i.revoke_access(params(body)?).await),
        Action::TransferPurchase => encode(i.transfer_purchase(params(body)?).await),
        Action::GenerateMagicLink => encode(i.generate_magic_link(params(body)?).await),
        Action::GetSubscriptions => {
            encode(i.get_subscriptions(string_field(body, "userId")?).await)
        }
        Action::UpdateEmail => encode(i.update_email(params(body)?).await),
        Action::UpdateName => encode(i.update_name(params(body)?).await),
        Action::GetClaimedSeats => encode(
            i.get_claimed_seats(string_field(body, "bulkCouponId")?)
                .await,
        ),
        Action::SearchContent => encode(i.search_content(params(body)?).await),
        Action::GetProductStatus => {
            encode(i.get_product_status(string_field(body, "productId")?).await)
        }
        Action::GetActivePromotions => encode(i.get_active_promotions().await),
        Action::GetCouponInfo => encode(i.get_coupon_info(string_field(body, "code")?).await),
        Action::GetRefundPolicy => encode(i.get_refund_policy().await),
        Action::GetContentAccess => {
            encode(i.get_content_access(string_field(body, "userId")?).await)
        }
        Action::GetRecentActivity => {
            encode(i.get_recent_activity(string_field(body, "userId")?).await)
        }
        Action::GetLicenseInfo => {
            encode(i.get_license_info(string_field(body, "purchaseId")?).await)
        }
        Action::GetAppInfo => encode(i.get_app_info().await),
    }
}
