//! `support-web`: the dashboard, the JSON API and Stripe's webhook,
//! health, metrics and the platform's durable functions (the same in every binary; set
//! `SUPPORT_WORKER=false` for a web-only instance). `support-web --help` lists the routes.

fn main() -> anyhow::Result<()> {
    support_host::run_binary(
        "support-web",
        "the dashboard, the JSON API and Stripe's webhook, with the platform's durable functions",
        &[support_web::SERVICE],
    )
}
