//! `support-slack`: Slack's interactions and events,
//! health, metrics and the platform's durable functions (the same in every binary; set
//! `SUPPORT_WORKER=false` for a web-only instance). `support-slack --help` lists the routes.

fn main() -> anyhow::Result<()> {
    support_host::run_binary(
        "support-slack",
        "Slack's interactions and events, with the platform's durable functions",
        &[support_slack::SERVICE],
    )
}
