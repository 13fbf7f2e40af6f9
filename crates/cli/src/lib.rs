//! The `skill` CLI: run the platform (`skill dev`), onboard apps (`skill init`, `apps`, `keys`,
//! `doctor`), inspect settings, manage tokens, verify the audit trail. Also home of
//! [`testing::TestApp`], the harness every integration test uses.
//!
//! Exit codes: `0` success; `1` the operation failed; `2` bad usage or settings; `3` a check
//! ran and found a problem (not ready, audit chain broken, an integration unreachable or not
//! conformant).

pub mod approvals_cmd;
pub mod cli;
pub mod demo_app;
pub mod demo_front;
pub mod eval;
pub mod functions;
pub mod models;
pub mod onboard;
pub mod replay;
pub mod testing;

use support_web::Mount;

/// Every router the platform serves, in one process.
pub const ALL_MOUNTS: &[Mount] = &[support_slack::mount, support_front::mount];
