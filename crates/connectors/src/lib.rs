//! The real adapters of the domain's ports: Front's Core API, Slack as the approval channel
//! (slack-morphism), Stripe Connect refunds and queries (async-stripe), chat models (`llm`:
//! OpenAI-compatible and Anthropic) and the shared cache on Redis (`redis`); Upstash Vector arrives
//! with the retrieval issue. Each is tested against a local server that speaks the vendor's exact
//! wire format, and `redis` against the real Redis when `TEST_REDIS_URL` is set.

pub mod embed;
pub mod front;
pub mod llm;
pub mod product;
pub mod redis;
pub mod slack;
pub mod stripe;
pub mod upstash;

/// Install rustls' ring provider for this process if none is installed yet. reqwest is built
/// without a provider of its own (one provider for sqlx, reqwest and the vendor SDKs).
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
