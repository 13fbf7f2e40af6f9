//! The cache port: small shared values with a lifetime. One process uses [`MemoryCache`]; several
//! instances share Redis (`connectors::redis`), so that what one instance changes (an app's
//! policy, its approvers, a disconnected Stripe account) is seen by the others at once.
//!
//! The cache is never the source of truth: every value can be rebuilt from the store, and a
//! cache that fails is read around (the registry reads the store directly), never trusted.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a cache call failed (the caller falls back to the store).
#[derive(Debug, thiserror::Error)]
#[error("cache ({backend}): {message}")]
pub struct CacheError {
    pub backend: &'static str,
    pub message: String,
}

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// `memory` or `redis`.
    fn backend(&self) -> &'static str;
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError>;
    /// Store `value` under `key` for `ttl` (at least a millisecond).
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError>;
    /// Forget `key`; forgetting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
}

/// Values by key, each with the instant it expires.
type Entries = HashMap<String, (Instant, String)>;

/// The in-process cache: the embedded default, for one instance.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<Entries>,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn locked(&self) -> Result<std::sync::MutexGuard<'_, Entries>, CacheError> {
        self.entries.lock().map_err(|_| CacheError {
            backend: "memory",
            message: "poisoned".into(),
        })
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut entries = self.locked()?;
        match entries.get(key) {
            Some((until, v)) if *until > Instant::now() => Ok(Some(v.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let until = Instant::now() + ttl.max(Duration::from_millis(1));
        self.locked()?
            .insert(key.to_string(), (until, value.to_string()));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.locked()?.remove(key);
        Ok(())
    }
}

/// The behaviour every [`Cache`] must have; `connectors` runs it against Redis too.
pub mod conformance {
    use super::Cache;
    use std::time::Duration;

    /// Set, get, overwrite, delete and expiry, under keys that start with `prefix` (so runs
    /// against a shared server do not collide). Panics with what differed.
    pub async fn check(cache: &dyn Cache, prefix: &str) {
        let k = |s: &str| format!("{prefix}{s}");
        let long = Duration::from_secs(60);
        assert_eq!(
            cache.get(&k("missing")).await.ok(),
            Some(None),
            "a missing key"
        );
        cache.set(&k("a"), "1", long).await.expect("set");
        assert_eq!(
            cache.get(&k("a")).await.ok(),
            Some(Some("1".into())),
            "set then get"
        );
        cache
            .set(&k("a"), "two words", long)
            .await
            .expect("overwrite");
        assert_eq!(
            cache.get(&k("a")).await.ok(),
            Some(Some("two words".into())),
            "overwrite"
        );
        cache.delete(&k("a")).await.expect("delete");
        assert_eq!(cache.get(&k("a")).await.ok(), Some(None), "deleted");
        cache.delete(&k("a")).await.expect("delete a missing key");
        // Expiry: a one-millisecond value is gone within a bounded number of reads.
        cache
            .set(&k("short"), "x", Duration::from_millis(1))
            .await
            .expect("set short");
        let mut gone = false;
        for _ in 0..1_000_000 {
            if cache.get(&k("short")).await.ok() == Some(None) {
                gone = true;
                break;
            }
        }
        assert!(gone, "a 1 ms value expires");
        assert_eq!(
            cache.get(&k("missing")).await.ok(),
            Some(None),
            "other keys are untouched"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_cache_conforms() {
        conformance::check(&MemoryCache::new(), "t:").await;
    }
}
