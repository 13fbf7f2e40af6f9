//! `skill serve`: the production verb. The same composition root as `skill dev`
//! (`support_host::host::build` and `serve_with`, every service in one process) without demo
//! data, the Front sandbox, the example app or generated secrets. It refuses to start (exit 2,
//! one line naming the setting) without a master key and real Front settings.

use super::context::{Failure, load_settings, usage};
use super::dev::host_failure;
use crate::ALL_SERVICES;
use crate::args::{Cli, ServeArgs};
use support_core::settings::Settings;

/// What production cannot run without; the first missing setting, named, as a usage failure.
fn require_production_settings(settings: &Settings) -> Result<(), Failure> {
    let blank = |s: &support_core::settings::Secret| s.expose().trim().is_empty();
    if settings.master_key.as_ref().is_none_or(blank) {
        return Err(usage(
            "master_key is not set: `skill serve` needs the server's key in SUPPORT_MASTER_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`); `skill dev --demo` generates one for local use",
        ));
    }
    if settings.front.api_token.as_ref().is_none_or(blank) {
        return Err(usage(
            "front.api_token is not set: `skill serve` needs the Front Core API token in SUPPORT_FRONT__API_TOKEN",
        ));
    }
    if !settings.front.signing_secrets.iter().any(|s| !blank(s)) {
        return Err(usage(
            "front.signing_secrets is empty: `skill serve` needs at least one Front webhook signing secret in SUPPORT_FRONT__SIGNING_SECRETS (e.g. \"[secret]\")",
        ));
    }
    Ok(())
}

pub(crate) async fn run(cli: &Cli, args: &ServeArgs) -> Result<(), Failure> {
    let mut settings = load_settings(cli)?;
    if let Some(dir) = &args.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(bind) = args.bind {
        settings.bind = bind;
    }
    require_production_settings(&settings)?;
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| {
            usage(format!(
                "cannot bind {}: {e} (choose another with --bind)",
                settings.bind
            ))
        })?;
    let opts = support_host::BuildOptions {
        demo: false,
        functions: Some(support_host::functions::platform_functions()),
        runner: None,
    };
    let addr = listener.local_addr()?;
    let (notify, rx) = tokio::sync::watch::channel(false);
    let platform = support_host::host::build(settings, addr, rx, opts)
        .await
        .map_err(host_failure)?;
    support_host::host::announce(&platform, ALL_SERVICES);
    support_host::host::serve_with(
        platform,
        listener,
        ALL_SERVICES,
        Vec::new(),
        support_host::host::shutdown_signal(),
        notify,
    )
    .await
    .map_err(host_failure)
}
