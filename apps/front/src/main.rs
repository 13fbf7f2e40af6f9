//! `support-front`: the Front routes (plus health and metrics) on their own.

fn main() -> anyhow::Result<()> {
    support_web::host::run_binary("support-front", &[support_front::mount])
}
