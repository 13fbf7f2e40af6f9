//! `support-testkit`: what the integration tests share, kept out of the product (it is only
//! ever a dev-dependency).
//!
//! - [`TestApp`] ([`app`]): the whole platform on port 0 with a fresh database, the Front
//!   sandbox and, on request, fake Slack and Stripe; [`SkillProcess`] runs a binary as a child.
//! - [`TestDb`] ([`db`]): a fresh migrated SQLite database, and a Postgres one when
//!   `TEST_DATABASE_URL` is set.
//! - [`fakes`]: local fakes of the Slack Web API, Stripe and the LLM providers (OpenAI,
//!   Anthropic), on the vendors' wire formats.

pub mod app;
pub mod db;
pub mod fakes;

pub use app::*;
pub use db::*;
