//! `support-slack`: the Slack routes (plus health and metrics) on their own.

fn main() -> anyhow::Result<()> {
    support_web::host::run_binary("support-slack", &[support_slack::mount])
}
