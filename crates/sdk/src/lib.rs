//! Rust equivalent of the npm package [`@skillrecordings/sdk@0.5.0`], wire-compatible with it
//! in both directions: an app written with this crate can be called by the npm
//! `IntegrationClient`, and [`IntegrationClient`] can call an app that uses the npm
//! `createSupportHandler`.
//!
//! The support platform calls each app through one signed `POST` endpoint. The body is
//! `{"action": "<method>", ...params}` with camelCase parameters, and the header
//! `X-Support-Signature: timestamp=<unix s>,v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`
//! authenticates it (see [`signing`]).
//!
//! - [`SupportIntegration`]: the trait an app implements (5 required methods, 13 optional ones
//!   that answer 501 unless implemented), with the typed wire models of [`types`].
//! - [`handler`] (feature `handler`): the app side, an axum endpoint
//!   ([`router`], [`SupportHandler`]) answering exactly like the npm handler.
//! - [`client`] (feature `client`): the platform side, [`IntegrationClient`], with
//!   timeouts, retries of read-only methods and typed errors.
//!
//! Both features are on by default; an app that only serves the endpoint can depend on
//! `support-sdk = { workspace = true, features = ["handler"] }` (the workspace entry disables
//! default features).
//!
//! # App side
//!
//! ```no_run
//! # #[cfg(feature = "handler")]
//! # mod demo {
//! use std::sync::Arc;
//! use support_sdk::types::*;
//! use support_sdk::{async_trait, IntegrationError, SupportIntegration};
//!
//! struct DemoApp;
//!
//! #[async_trait]
//! impl SupportIntegration for DemoApp {
//!     async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
//!         Ok(None)
//!     }
//!     async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
//!         Ok(vec![])
//!     }
//!     async fn revoke_access(&self, p: RevokeAccessParams) -> Result<ActionResult, IntegrationError> {
//!         Ok(ActionResult::ok())
//!     }
//!     async fn transfer_purchase(
//!         &self,
//!         p: TransferPurchaseParams,
//!     ) -> Result<ActionResult, IntegrationError> {
//!         Ok(ActionResult::failed("not supported"))
//!     }
//!     async fn generate_magic_link(
//!         &self,
//!         p: GenerateMagicLinkParams,
//!     ) -> Result<MagicLink, IntegrationError> {
//!         Ok(MagicLink { url: "https://demo.example.com/magic".into() })
//!     }
//!     // Optional methods not overridden answer 501 "Method not implemented: <name>".
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let app = axum::Router::new().route(
//!     "/demo-app/support",
//!     support_sdk::SupportHandler::new(Arc::new(DemoApp), vec!["current".into(), "previous".into()])
//!         .into_method_router(),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! # }
//! ```
//!
//! # Platform side
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn call() -> Result<(), support_sdk::ClientError> {
//! use std::time::Duration;
//! use support_sdk::{ClientResultExt, IntegrationClient};
//!
//! let _ = rustls::crypto::ring::default_provider().install_default();
//! let client = IntegrationClient::builder("https://demo.example.com/demo-app/support", "current")
//!     .timeout(Duration::from_secs(5))
//!     .build()?;
//! let user = client.lookup_user("jane@example.com").await?;
//! // A 501 on an optional method is "not supported", not an error:
//! let policy = client.get_refund_policy().await.supported()?;
//! # let _ = (user, policy);
//! # Ok(())
//! # }
//! ```
//!
//! [`@skillrecordings/sdk@0.5.0`]: https://www.npmjs.com/package/@skillrecordings/sdk

pub mod integration;
pub mod signing;
pub mod types;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "handler")]
pub mod handler;

pub use async_trait::async_trait;
pub use integration::{Action, IntegrationError, SupportIntegration};
pub use signing::{SIGNATURE_HEADER, SignatureError, sign, verify};

#[cfg(feature = "client")]
pub use client::{
    ClientError, ClientResultExt, IntegrationClient, IntegrationClientBuilder, RetryPolicy,
};
#[cfg(feature = "handler")]
pub use handler::{SupportHandler, SupportResponse, router};
