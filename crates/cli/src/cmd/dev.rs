//! `skill dev`: every router and the runner in one process, on the embedded defaults (and, with
//! `--demo`, generated secrets, seeded demo apps, the Front sandbox and the example app).

use super::context::{Failure, load_settings, usage};
use crate::ALL_SERVICES;
use crate::args::{Cli, DevArgs};

pub(crate) async fn run(cli: &Cli, args: &DevArgs) -> Result<(), Failure> {
    let mut settings = load_settings(cli)?;
    if let Some(dir) = &args.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(bind) = args.bind {
        settings.bind = bind;
    }
    if args.demo && !settings.bind.ip().is_loopback() && !args.allow_remote {
        return Err(usage(format!(
            "--demo refuses to listen on {}: the demo generates an admin API token and signing secrets (written to demo.json), seeds sample customers and runs a Front sandbox, so it is meant for this machine only. Bind a loopback address (e.g. --bind 127.0.0.1:4100), or pass --allow-remote to expose it anyway",
            settings.bind
        )));
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| {
            usage(format!(
                "cannot bind {}: {e} (choose another with --bind)",
                settings.bind
            ))
        })?;
    #[cfg(not(feature = "demo"))]
    if args.demo {
        return Err(usage(
            "--demo needs a `skill` built with the `demo` feature (the default)",
        ));
    }
    let opts = support_host::BuildOptions {
        demo: args.demo,
        functions: Some(support_host::functions::platform_functions()),
        runner: None,
    };
    // In --demo without a Front token, the Front sandbox stands in for Front.
    #[cfg(feature = "demo")]
    let sandbox = if args.demo {
        let base_url = settings.public_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            )
        });
        crate::demo_front::prepare(&mut settings, base_url.trim_end_matches('/'))
    } else {
        None
    };
    let addr = listener.local_addr()?;
    let (notify, rx) = tokio::sync::watch::channel(false);
    let platform = support_host::host::build(settings, addr, rx, opts)
        .await
        .map_err(host_failure)?;
    #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
    let mut extra = Vec::new();
    #[cfg(feature = "demo")]
    if args.demo {
        // The example product answers the demo apps' SDK calls, in --demo only.
        extra.push(
            crate::demo_app::router(&platform)
                .await
                .map_err(host_failure)?,
        );
        let n = crate::demo_front::import_kb(&platform).await?;
        tracing::info!(chunks = n, "demo knowledge base imported");
        if let Some(sb) = &sandbox {
            extra.push(crate::demo_front::router(sb));
            let (p, sb) = (platform.clone(), sb.clone());
            // Delivered once the server accepts connections (the listener is already bound).
            tokio::spawn(async move { crate::demo_front::replay_samples(&p, &sb).await });
        }
    }
    support_host::host::announce(&platform, ALL_SERVICES);
    #[cfg(feature = "demo")]
    if args.demo {
        println!(
            "  demo app:  {}{}",
            platform.base_url(),
            crate::demo_app::PATH
        );
    }
    support_host::host::serve_with(
        platform,
        listener,
        ALL_SERVICES,
        extra,
        support_host::host::shutdown_signal(),
        notify,
    )
    .await
    .map_err(host_failure)
}

/// A host error as a failure: bad settings are usage errors (exit 2).
pub(crate) fn host_failure(e: support_host::host::HostError) -> Failure {
    match e {
        support_host::host::HostError::Settings(s) => usage(s.to_string()),
        other => Failure::from(other),
    }
}
