//! `course-app`: serve the example course store's support endpoint on its own.
//!
//! ```sh
//! SUPPORT_WEBHOOK_SECRET=<secret from `skill init`> cargo run -p course-app -- \
//!     --db course-app.db --bind 127.0.0.1:4200 --seed
//! ```
//!
//! `SUPPORT_WEBHOOK_SECRET` may hold several secrets separated by commas (rotation).

use anyhow::{Context, bail};
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut db = String::from("course-app.db");
    let mut bind: SocketAddr = ([127, 0, 0, 1], 4200).into();
    let mut seed = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().context("--db needs a path")?,
            "--bind" => {
                bind = args
                    .next()
                    .context("--bind needs an address")?
                    .parse()
                    .context("--bind: expected host:port")?
            }
            "--seed" => seed = true,
            "-h" | "--help" => {
                println!(
                    "usage: course-app [--db PATH] [--bind ADDR] [--seed]  (secrets in SUPPORT_WEBHOOK_SECRET)"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let secrets: Vec<String> = std::env::var("SUPPORT_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if secrets.is_empty() {
        bail!(
            "set SUPPORT_WEBHOOK_SECRET to the app's SDK secret (shown by `skill init` or `skill keys rotate`)"
        );
    }
    let app = course_app::CourseApp::open(&db)
        .await
        .with_context(|| format!("open {db}"))?;
    if seed {
        app.seed().await?;
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("bind {bind}"))?;
    println!(
        "course-app: {} users; support endpoint http://{}{}",
        app.user_count().await?,
        listener.local_addr()?,
        course_app::SUPPORT_PATH
    );
    axum::serve(listener, app.router(secrets)).await?;
    Ok(())
}
