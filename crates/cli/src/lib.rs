//! The `skill` CLI: run the platform (`skill serve` in production, `skill dev` locally),
//! onboard apps (`skill init`, `apps`, `keys`, `doctor`), inspect settings, manage tokens,
//! verify the audit trail. The test harness (`TestApp`) lives in `support-testkit`, a
//! dev-dependency.
//!
//! Exit codes: `0` success; `1` the operation failed; `2` bad usage or settings; `3` a check
//! ran and found a problem (not ready, audit chain broken, an integration unreachable or not
//! conformant).

pub mod args;
pub mod cmd;
#[cfg(feature = "demo")]
pub mod demo_app;
#[cfg(feature = "demo")]
pub mod demo_front;
#[cfg(feature = "demo")]
pub mod eval;
#[cfg(feature = "demo")]
pub mod launch;

use support_host::Service;

/// Every service the platform has, in one process (`skill dev`, the tests).
pub const ALL_SERVICES: &[Service] = &[
    support_web::SERVICE,
    support_slack::SERVICE,
    support_front::SERVICE,
];
