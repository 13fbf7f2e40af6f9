//! `support-host`: the one composition root. Settings → store → registry → ports → functions
//! → routers are assembled here ([`host::build`]) for `skill dev`, the standalone binaries
//! (`support-web`, `support-front`, `support-slack`, through [`host::run_binary`]) and the test
//! harness. Each app crate contributes its routes as a [`Service`] (a name, its route lines and a
//! [`Mount`]); the host never names an app's route modules.
//!
//! Architecture Invariant: handlers hold no state of their own; everything lives in
//! [`Platform`], built once by [`host::build`].

pub mod demo;
pub mod error;
pub mod functions;
pub mod health;
pub mod host;
pub mod knowledge;
pub mod limits;
pub mod models;
pub mod platform;
pub mod runner;
pub mod server;
pub mod services;
pub mod telemetry;

pub use error::ApiError;
pub use host::{BuildOptions, HostError, Mount, Platform, Service, Services, launch, run_binary};
