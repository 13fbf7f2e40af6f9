//! [`IntegrationClient`]: calls an app's support endpoint with signed requests.
//!
//! Rust equivalent of `IntegrationClient` in `@skillrecordings/sdk/client` 0.5.0, with:
//!
//! - a per-request timeout ([`DEFAULT_TIMEOUT`], 10 s, configurable);
//! - retries with exponential backoff for read-only methods ([`Action::is_read_only`]) on
//!   connection errors, timeouts and 5xx answers other than 501; writes (`revokeAccess`,
//!   `transferPurchase`, `generateMagicLink`, `updateEmail`, `updateName`) are sent once;
//! - typed errors: 501 is [`ClientError::Unsupported`] (use [`ClientResultExt::supported`] to
//!   turn it into `Ok(None)`), 401 [`ClientError::Unauthorized`], other non-2xx
//!   [`ClientError::Status`] with the `error` message, a body that is not the expected JSON
//!   [`ClientError::InvalidResponse`].
//!
//! The secret never leaves the client (only HMACs are sent) and never appears in errors or in
//! `Debug` output.
//!
//! reqwest is built with `rustls-no-provider`: install a rustls crypto provider once at startup
//! (`rustls::crypto::ring::default_provider().install_default()`) before building a client,
//! or pass your own `reqwest::Client` with [`IntegrationClientBuilder::http_client`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::integration::{Action, IntegrationError, SupportIntegration};
use crate::signing::{SIGNATURE_HEADER, sign, unix_now};
use crate::types::{
    ActionResult, AppInfo, ClaimedSeat, ContentAccess, ContentSearchRequest, ContentSearchResponse,
    CouponInfo, GenerateMagicLinkParams, LicenseInfo, MagicLink, ProductStatus, Promotion,
    Purchase, RefundPolicy, RevokeAccessParams, Subscription, TransferPurchaseParams,
    UpdateEmailParams, UpdateNameParams, User, UserActivity,
};

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many characters of an unexpected body are quoted in [`ClientError::InvalidResponse`].
const SNIPPET_CHARS: usize = 200;

/// Error of an [`IntegrationClient`] call. Never contains the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The app answered 501: it does not implement this optional method.
    #[error("the app does not implement {0} (HTTP 501)")]
    Unsupported(&'static str),
    /// The app answered 401: it rejected the signature (wrong secret, clock skew, ...).
    #[error("the app rejected the signature of {action} (HTTP 401){}", fmt_message(.message))]
    Unauthorized {
        action: &'static str,
        /// The `error` field of the answer, e.g. `Invalid signature`.
        message: Option<String>,
    },
    /// Any other non-2xx answer.
    #[error("{action} failed with HTTP {status}{}", fmt_message(.message))]
    Status {
        action: &'static str,
        status: u16,
        /// The `error` field of the answer, when it had one.
        message: Option<String>,
    },
    /// A 2xx answer whose body is not the expected JSON (e.g. an HTML page).
    #[error("invalid response to {action} (HTTP {status}): {reason}")]
    InvalidResponse {
        action: &'static str,
        status: u16,
        /// What was wrong, with the start of the body.
        reason: String,
    },
    /// No complete answer within the per-request timeout.
    #[error("{action} timed out after {timeout:?}")]
    Timeout {
        action: &'static str,
        timeout: Duration,
    },
    /// Connection or protocol error.
    #[error("{action} failed: {source}")]
    Transport {
        action: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// The parameters could not be serialized.
    #[error("could not serialize the parameters of {action}: {source}")]
    Serialize {
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Invalid configuration (base URL, HTTP client).
    #[error("invalid integration client configuration: {0}")]
    Config(String),
}

fn fmt_message(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

impl ClientError {
    /// Whether a read-only call may be retried after this error.
    fn is_retryable(&self) -> bool {
        match self {
            ClientError::Timeout { .. } | ClientError::Transport { .. } => true,
            ClientError::Status { status, .. } => *status >= 500 && *status != 501,
            _ => false,
        }
    }
}

/// Turns [`ClientError::Unsupported`] into `Ok(None)`, for callers that treat a 501 on an
/// optional method as "not supported" rather than as an error.
pub trait ClientResultExt<T> {
    /// `Ok(v)` → `Ok(Some(v))`, `Err(Unsupported)` → `Ok(None)`, other errors unchanged.
    fn supported(self) -> Result<Option<T>, ClientError>;
}

impl<T> ClientResultExt<T> for Result<T, ClientError> {
    fn supported(self) -> Result<Option<T>, ClientError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(ClientError::Unsupported(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Retry policy for read-only methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 2 retries (3 attempts), 200 ms then 400 ms, at most 2 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `retry` (0-based).
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2_u32.saturating_pow(retry);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The shared secret; `Debug` never shows it.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Builder of [`IntegrationClient`].
#[derive(Debug)]
pub struct IntegrationClientBuilder {
    base_url: String,
    secret: Secret,
    timeout: Duration,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
}

impl IntegrationClientBuilder {
    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]), covering connect, send and reading
    /// the answer of each attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retry policy for read-only methods (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Use this HTTP client (shares its connection pool and TLS configuration).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client. Fails on an invalid base URL, or when no HTTP client was given and
    /// no rustls crypto provider is installed.
    pub fn build(self) -> Result<IntegrationClient, ClientError> {
        // Like the npm client, drop one trailing slash and POST to the URL as given.
        let trimmed = self.base_url.strip_suffix('/').unwrap_or(&self.base_url);
        let url = reqwest::Url::parse(trimmed)
            .map_err(|e| ClientError::Config(format!("invalid base URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "unsupported base URL scheme {:?}",
                url.scheme()
            )));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                if rustls::crypto::CryptoProvider::get_default().is_none() {
                    return Err(ClientError::Config(
                        "no rustls crypto provider installed; call \
                         rustls::crypto::ring::default_provider().install_default() at startup"
                            .into(),
                    ));
                }
                reqwest::Client::builder()
                    .build()
                    .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?
            }
        };
        Ok(IntegrationClient {
            http,
            url,
            secret: self.secret,
            timeout: self.timeout,
            retry: self.retry,
        })
    }
}

/// Calls an app's support endpoint (`integration_base_url`) with HMAC-signed requests.
///
/// ```no_run
/// # async fn run() -> Result<(), support_sdk::ClientError> {
/// use support_sdk::{ClientResultExt, IntegrationClient};
///
/// let _ = rustls::crypto::ring::default_provider().install_default();
/// let client = IntegrationClient::new("https://app.example.com/api/support", "whsec_...")?;
/// let user = client.lookup_user("jane@example.com").await?;
/// let subscriptions = client.get_subscriptions("usr_1").await.supported()?; // None on 501
/// # let _ = (user, subscriptions);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IntegrationClient {
    http: reqwest::Client,
    url: reqwest::Url,
    secret: Secret,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for IntegrationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationClient")
            .field("url", &self.url.as_str())
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The request body: `{"action": ..., ...params}` (action first, as npm sends it).
#[derive(Serialize)]
struct Envelope<'a, P: Serialize> {
    action: &'static str,
    #[serde(flatten)]
    params: &'a P,
}

/// No parameters: `{"action": ...}`.
#[derive(Serialize)]
struct NoParams {}

macro_rules! single_param {
    ($name:ident, $field:literal) => {
        #[derive(Serialize)]
        struct $name<'a> {
            #[serde(rename = $field)]
            value: &'a str,
        }
    };
}
single_param!(EmailParam, "email");
single_param!(UserIdParam, "userId");
single_param!(BulkCouponIdParam, "bulkCouponId");
single_param!(ProductIdParam, "productId");
single_param!(CodeParam, "code");
single_param!(PurchaseIdParam, "purchaseId");

impl IntegrationClient {
    /// A client for the endpoint at `base_url` with default settings.
    pub fn new(base_url: &str, secret: impl Into<String>) -> Result<Self, ClientError> {
        Self::builder(base_url, secret).build()
    }

    /// A builder for the endpoint at `base_url`.
    pub fn builder(base_url: &str, secret: impl Into<String>) -> IntegrationClientBuilder {
        IntegrationClientBuilder {
            base_url: base_url.to_owned(),
            secret: Secret(secret.into()),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            http: None,
        }
    }

    /// The endpoint URL requests are POSTed to.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Calls `action` with `params` (serialized flat next to `action`) and decodes the answer.
    /// The typed methods below are thin wrappers around this.
    pub async fn call<P, R>(&self, action: Action, params: &P) -> Result<R, ClientError>
    where
        P: Serialize + Sync,
        R: DeserializeOwned,
    {
        let name = action.as_str();
        let body = serde_json::to_vec(&Envelope {
            action: name,
            params,
        })
        .map_err(|source| ClientError::Serialize {
            action: name,
            source,
        })?;
        let max_retries = if action.is_read_only() {
            self.retry.max_retries
        } else {
            0
        };
        let mut retry = 0;
        loop {
            match self.attempt(name, &body).await {
                Err(error) if retry < max_retries && error.is_retryable() => {
                    let delay = self.retry.backoff(retry);
                    tracing::debug!(action = name, %error, ?delay, "retrying support call");
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                result => return result,
            }
        }
    }

    async fn attempt<R: DeserializeOwned>(
        &self,
        action: &'static str,
        body: &[u8],
    ) -> Result<R, ClientError> {
        // Signed per attempt, so that a retry carries a fresh timestamp.
        let signature = sign(&self.secret.0, unix_now(), body);
        let signature = HeaderValue::from_str(&signature)
            .map_err(|_| ClientError::Config("signature is not a valid header value".into()))?;
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                ClientError::Timeout {
                    action,
                    timeout: self.timeout,
                }
            } else {
                ClientError::Transport {
                    action,
                    source: source.without_url(),
                }
            }
        };
        let response = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(SIGNATURE_HEADER, signature)
            .timeout(self.timeout)
            .body(body.to_vec())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;

        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::InvalidResponse {
                action,
                status: status.as_u16(),
                reason: describe_invalid_body(&e, &bytes),
            });
        }
        let message = error_message(&bytes);
        Err(match status.as_u16() {
            501 => ClientError::Unsupported(action),
            401 => ClientError::Unauthorized { action, message },
            code => ClientError::Status {
                action,
                status: code,
                message,
            },
        })
    }

    /// `lookupUser(email)`.
    pub async fn lookup_user(&self, email: &str) -> Result<Option<User>, ClientError> {
        self.call(Action::LookupUser, &EmailParam { value: email })
            .await
    }

    /// `getPurchases(userId)`.
    pub async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, ClientError> {
        self.call(Action::GetPurchases, &UserIdParam { value: user_id })
            .await
    }

    /// `getSubscriptions(userId)` (optional: 501 → [`ClientError::Unsupported`]).
    pub async fn get_subscriptions(&self, user_id: &str) -> Result<Vec<Subscription>, ClientError> {
        self.call(Action::GetSubscriptions, &UserIdParam { value: user_id })
            .await
    }

    /// `revokeAccess({purchaseId, reason, refundId})`. Never retried.
    pub async fn revoke_access(
        &self,
        params: &RevokeAccessParams,
    ) -> Result<ActionResult, ClientError> {
        self.call(Action::RevokeAccess, params).await
    }

    /// `transferPurchase({purchaseId, fromUserId, toEmail})`. Never retried.
    pub async fn transfer_purchase(
        &self,
        params: &TransferPurchaseParams,
    ) -> Result<ActionResult, ClientError> {
        self.call(Action::TransferPurchase, params).await
    }

    /// `generateMagicLink({email, expiresIn})`. Never retried.
    pub async fn generate_magic_link(
        &self,
        params: &GenerateMagicLinkParams,
    ) -> Result<MagicLink, ClientError> {
        self.call(Action::GenerateMagicLink, params).await
    }

    /// `updateEmail({userId, newEmail})` (optional). Never retried.
    pub async fn update_email(
        &self,
        params: &UpdateEmailParams,
    ) -> Result<ActionResult, ClientError> {
        self.call(Action::UpdateEmail, params).await
    }

    /// `updateName({userId, newName})` (optional). Never retried.
    pub async fn update_name(
        &self,
        params: &UpdateNameParams,
    ) -> Result<ActionResult, ClientError> {
        self.call(Action::UpdateName, params).await
    }

    /// `getClaimedSeats(bulkCouponId)` (optional).
    pub async fn get_claimed_seats(
        &self,
        bulk_coupon_id: &str,
    ) -> Result<Vec<ClaimedSeat>, ClientError> {
        self.call(
            Action::GetClaimedSeats,
            &BulkCouponIdParam {
                value: bulk_coupon_id,
            },
        )
        .await
    }

    /// `searchContent(request)` (optional).
    pub async fn search_content(
        &self,
        request: &ContentSearchRequest,
    ) -> Result<ContentSearchResponse, ClientError> {
        self.call(Action::SearchContent, request).await
    }

    /// `getProductStatus(productId)` (optional).
    pub async fn get_product_status(
        &self,
        product_id: &str,
    ) -> Result<Option<ProductStatus>, ClientError> {
        self.call(
            Action::GetProductStatus,
            &ProductIdParam { value: product_id },
        )
        .await
    }

    /// `getActivePromotions()` (optional; the npm client falls back to `[]` on 501).
    pub async fn get_active_promotions(&self) -> Result<Vec<Promotion>, ClientError> {
        self.call(Action::GetActivePromotions, &NoParams {}).await
    }

    /// `getCouponInfo(code)` (optional; the npm client falls back to `null` on 501).
    pub async fn get_coupon_info(&self, code: &str) -> Result<Option<CouponInfo>, ClientError> {
        self.call(Action::GetCouponInfo, &CodeParam { value: code })
            .await
    }

    /// `getRefundPolicy()` (optional).
    pub async fn get_refund_policy(&self) -> Result<RefundPolicy, ClientError> {
        self.call(Action::GetRefundPolicy, &NoParams {}).await
    }

    /// `getContentAccess(userId)` (optional).
    pub async fn get_content_access(&self, user_id: &str) -> Result<ContentAccess, ClientError> {
        self.call(Action::GetContentAccess, &UserIdParam { value: user_id })
            .await
    }

    /// `getRecentActivity(userId)` (optional).
    pub async fn get_recent_activity(&self, user_id: &str) -> Result<UserActivity, ClientError> {
        self.call(Action::GetRecentActivity, &UserIdParam { value: user_id })
            .await
    }

    /// `getLicenseInfo(purchaseId)` (optional; the npm client falls back to `null` on 501).
    pub async fn get_license_info(
        &self,
        purchase_id: &str,
    ) -> Result<Option<LicenseInfo>, ClientError> {
        self.call(
            Action::GetLicenseInfo,
            &PurchaseIdParam { value: purchase_id },
        )
        .await
    }

    /// `getAppInfo()` (optional).
    pub async fn get_app_info(&self) -> Result<AppInfo, ClientError> {
        self.call(Action::GetAppInfo, &NoParams {}).await
    }
}

/// The `error` string of a JSON error body, if any.
fn error_message(bytes: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    match body.get("error")? {
        serde_json::Value::String(message) if !message.is_empty() => Some(message.clone()),
        serde_json::Value::String(_) | serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn describe_invalid_body(error: &serde_json::Error, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    let ellipsis = if text.chars().count() > SNIPPET_CHARS {
        "…"
    } else {
        ""
    };
    if error.is_syntax() || error.is_eof() {
        format!("body is not JSON ({error}): {snippet:?}{ellipsis}")
    } else {
        format!("unexpected JSON shape ({error}): {snippet:?}{ellipsis}")
    }
}

impl From<ClientError> for IntegrationError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Unsupported(action) => IntegrationError::NotImplemented(action),
            ClientError::Status {
                message: Some(message),
                ..
            } => IntegrationError::Message(message),
            other => IntegrationError::other(other),
        }
    }
}

/// The client is itself a [`SupportIntegration`] (like the npm `IntegrationClient`), so code
/// can be generic over a local integration and a remote app, or proxy one endpoint to another.
#[async_trait]
impl SupportIntegration for IntegrationClient {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        Ok(IntegrationClient::lookup_user(self, email).await?)
    }
    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
        Ok(IntegrationClient::get_purchases(self, user_id).await?)
    }
    async fn revoke_access(
        &self,
        params: RevokeAccessParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(IntegrationClient::revoke_access(self, &params).await?)
    }
    async fn transfer_purchase(
        &self,
        params: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(IntegrationClient::transfer_purchase(self, &params).await?)
    }
    async fn generate_magic_link(
        &self,
        params: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        Ok(IntegrationClient::generate_magic_link(self, &params).await?)
    }
    async fn get_subscriptions(
        &self,
        user_id: &str,
    ) -> Result<Vec<Subscription>, IntegrationError> {
        Ok(IntegrationClient::get_subscriptions(self, user_id).await?)
    }
    async fn update_email(
        &self,
        params: UpdateEmailParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(IntegrationClient::update_email(self, &params).await?)
    }
    async fn update_name(
        &self,
        params: UpdateNameParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(IntegrationClient::update_name(self, &params).await?)
    }
    async fn get_claimed_seats(
        &self,
        bulk_coupon_id: &str,
    ) -> Result<Vec<ClaimedSeat>, IntegrationError> {
        Ok(IntegrationClient::get_claimed_seats(self, bulk_coupon_id).await?)
    }
    async fn search_content(
        &self,
        request: ContentSearchRequest,
    ) -> Result<ContentSearchResponse, IntegrationError> {
        Ok(IntegrationClient::search_content(self, &request).await?)
    }
    async fn get_product_status(
        &self,
        product_id: &str,
    ) -> Result<Option<ProductStatus>, IntegrationError> {
        Ok(IntegrationClient::get_product_status(self, product_id).await?)
    }
    async fn get_active_promotions(&self) -> Result<Vec<Promotion>, IntegrationError> {
        Ok(IntegrationClient::get_active_promotions(self).await?)
    }
    async fn get_coupon_info(&self, code: &str) -> Result<Option<CouponInfo>, IntegrationError> {
        Ok(IntegrationClient::get_coupon_info(self, code).await?)
    }
    async fn get_refund_policy(&self) -> Result<RefundPolicy, IntegrationError> {
        Ok(IntegrationClient::get_refund_policy(self).await?)
    }
    async fn get_content_access(&self, user_id: &str) -> Result<ContentAccess, IntegrationError> {
        Ok(IntegrationClient::get_content_access(self, user_id).await?)
    }
    async fn get_recent_activity(&self, user_id: &str) -> Result<UserActivity, IntegrationError> {
        Ok(IntegrationClient::get_recent_activity(self, user_id).await?)
    }
    async fn get_license_info(
        &self,
        purchase_id: &str,
    ) -> Result<Option<LicenseInfo>, IntegrationError> {
        Ok(IntegrationClient::get_license_info(self, purchase_id).await?)
    }
    async fn get_app_info(&self) -> Result<AppInfo, IntegrationError> {
        Ok(IntegrationClient::get_app_info(self).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_puts_action_first_and_flattens_params() {
        let body = serde_json::to_string(&Envelope {
            action: "lookupUser",
            params: &EmailParam {
                value: "jane@example.com",
            },
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"action":"lookupUser","email":"jane@example.com"}"#
        );
        let body = serde_json::to_string(&Envelope {
            action: "getAppInfo",
            params: &NoParams {},
        })
        .unwrap();
        assert_eq!(body, r#"{"action":"getAppInfo"}"#);
        let body = serde_json::to_string(&Envelope {
            action: "revokeAccess",
            params: &RevokeAccessParams {
                purchase_id: "pur_1".into(),
                reason: "r".into(),
                refund_id: "re_1".into(),
            },
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"action":"revokeAccess","purchaseId":"pur_1","reason":"r","refundId":"re_1"}"#
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(2), Duration::from_millis(350));
        assert_eq!(policy.backoff(40), Duration::from_millis(350));
    }

    #[test]
    fn error_messages_are_extracted() {
        assert_eq!(
            error_message(br#"{"error":"Invalid signature"}"#),
            Some("Invalid signature".into())
        );
        assert_eq!(error_message(b"<html>"), None);
        assert_eq!(error_message(br#"{"error":""}"#), None);
        assert_eq!(error_message(br#"[1]"#), None);
    }

    #[test]
    fn builder_rejects_bad_urls_and_debug_redacts_the_secret() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = IntegrationClient::new("http://127.0.0.1:9/api/support/", "s3cr3t").unwrap();
        assert_eq!(client.url().as_str(), "http://127.0.0.1:9/api/support");
        let debug = format!("{client:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert!(matches!(
            IntegrationClient::new("not a url", "s"),
            Err(ClientError::Config(_))
        ));
        assert!(matches!(
            IntegrationClient::new("ftp://x", "s"),
            Err(ClientError::Config(_))
        ));
    }
}
