//! `support-web`: the dashboard, JSON API, health and metrics on their own.

fn main() -> anyhow::Result<()> {
    support_web::host::run_binary("support-web", &[])
}
