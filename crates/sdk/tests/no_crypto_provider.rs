//! Without an installed rustls crypto provider, building a client is an error, not a panic.
//! (Its own test binary: no other test may install a provider in this process.)

use support_sdk::{ClientError, IntegrationClient};

#[test]
fn building_a_client_without_crypto_provider_is_an_error() {
    match IntegrationClient::new("https://app.example.com/api/support", "secret") {
        Err(ClientError::Config(message)) => {
            assert!(message.contains("crypto provider"), "{message}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
