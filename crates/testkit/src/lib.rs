//! `support-testkit`: what the integration tests share, kept out of the product (it is only
//! ever a dev-dependency).
//!
//! - [`TestApp`] ([`app`]): the whole platform on port 0 with a fresh database, the Front
//!   sandbox and, on request, fake Slack and Stripe; [`SkillProcess`] runs a binary as a child.
//! - [`TestDb`] ([`db`]): a fresh migrated SQLite database, and a Postgres one when
//!   `TEST_DATABASE_URL` is set.
//! - [`fakes`]: local fakes of the Slack Web API, Stripe and the LLM providers (OpenAI,
//!   Anthropic), on the vendors' wire formats.
//! - [`browser`]: headless Debian Chromium through chromedriver and `fantoccini` (skipped with
//!   `SKIPPED:` when not installed, required when `SUPPORT_REQUIRE_BROWSER=1`), screenshots to
//!   `docs/screenshots/`.
//! - [`front_plugin_host`]: a fake Front host page for the sidebar plugin's browser tests.
//! - [`tls`]: a TLS-terminating relay in front of a plain TCP service (the local Redis, for
//!   `rediss://`), its certificate made at test time.
//! - [`prop`]: the strategies and runner the `prop_*` property suites share (proptest only;
//!   suites of crates that must stay light include the same file by `#[path]`).

pub mod app;
pub mod browser;
pub mod db;
pub mod fakes;
pub mod front_plugin_host;
#[path = "prop_common.rs"]
pub mod prop;
pub mod tls;
pub mod web;

pub use app::*;
pub use db::*;
pub use web::{WebSession, web_client};
