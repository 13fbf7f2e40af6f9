//! `support-front`: Front's webhook and sidebar plugin,
//! health, metrics and the platform's durable functions (the same in every binary; set
//! `SUPPORT_WORKER=false` for a web-only instance). `support-front --help` lists the routes.

fn main() -> anyhow::Result<()> {
    support_host::run_binary(
        "support-front",
        "Front's webhook and sidebar plugin, with the platform's durable functions",
        &[support_front::SERVICE],
    )
}
