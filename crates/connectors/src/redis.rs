//! The cache port on Redis, for several instances sharing the work (`redis_url`). One
//! multiplexed connection per process (`ConnectionManager`), re-established after a drop; every
//! call has a deadline, so a Redis that hangs costs a lookup its deadline, then the store is read.

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use support_core::cache::{Cache, CacheError};
use support_core::settings::Secret;

/// How long one command may take before the caller falls back to the store.
const DEADLINE: Duration = Duration::from_millis(500);

/// The Redis cache. Its `Debug` names no URL (it may hold a password).
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> CacheError {
    CacheError {
        backend: "redis",
        message: e.to_string(),
    }
}

impl RedisCache {
    /// Connect to `url` (`redis://[:password@]host:port[/db]`). Fails when the URL is invalid
    /// or the server cannot be reached now; later drops are reconnected.
    pub async fn connect(url: &Secret) -> Result<Self, CacheError> {
        let client = redis::Client::open(url.expose()).map_err(|e| {
            // The URL may hold a password: name the problem, not the URL.
            err(format!("invalid redis_url: {:?}", e.kind()))
        })?;
        Self::with_client(client).await
    }

    /// [`Self::connect`] to a `rediss://` server whose certificate chains to `root_pem` (PEM)
    /// instead of the webpki roots: a private CA, or the test kit's self-signed relay.
    pub async fn connect_trusting(url: &Secret, root_pem: &[u8]) -> Result<Self, CacheError> {
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_pem.to_vec()),
        };
        let client = redis::Client::build_with_tls(url.expose(), certs)
            .map_err(|e| err(format!("invalid redis_url or root: {:?}", e.kind())))?;
        Self::with_client(client).await
    }

    async fn with_client(client: redis::Client) -> Result<Self, CacheError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEADLINE))
            .set_response_timeout(Some(DEADLINE))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(
            DEADLINE * 4,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| err("connection timed out"))?
        .map_err(err)?;
        Ok(Self { conn })
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut c = self.conn.clone();
        c.get(key).await.map_err(err)
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        c.pset_ex(key, value, ms).await.map_err(err)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut c = self.conn.clone();
        c.del(key).await.map_err(err)
    }
}

/// The shared cache the settings ask for: Redis when `redis_url` is set, else `None` (one
/// process: the in-memory default).
pub async fn from_settings(
    settings: &support_core::Settings,
) -> Result<Option<RedisCache>, CacheError> {
    match &settings.redis_url {
        Some(url) => RedisCache::connect(url).await.map(Some),
        None => Ok(None),
    }
}
