//! The per-conversation context cache (issue 15): the hydrated context of a conversation
//! (customer, purchases, retrieved knowledge; any serializable value) kept for [`TTL`] (7 days)
//! behind the [`Cache`] port (memory in one process, Redis in a fleet), with the article
//! versions it holds.
//!
//! Architecture Invariant: the cache is never the truth. A read checks every article version an
//! entry holds against the store's current versions and drops the entry when one changed or was
//! removed; a cache that fails (or answers garbage) is read around: the caller rebuilds the
//! context from the truth, and the failure is logged (`context cache failed; read around`),
//! never returned.

use crate::cache::Cache;
use crate::store::{KnowledgeStore, StoreError};
use crate::time::Millis;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long an entry lives.
pub const TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The current version of articles, as a read checks an entry against (the store).
#[async_trait]
pub trait CurrentVersions: Send + Sync {
    /// The current version of `article_id`; `None` when it is removed or unknown.
    async fn current_version(&self, article_id: &str) -> Result<Option<i64>, StoreError>;
}

#[async_trait]
impl<T: KnowledgeStore + ?Sized> CurrentVersions for T {
    async fn current_version(&self, article_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .get_article(article_id)
            .await?
            .map(|a| a.current_version))
    }
}

/// One entry: the context and the article versions it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub value: T,
    /// `(article id, version)` of every article the context quotes.
    pub articles: Vec<(String, i64)>,
    pub cached_at: Millis,
}

/// What a read found (for logs and tests; callers only look at the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
    /// An article the entry holds changed or was removed: the entry was dropped.
    Stale,
    /// The cache failed, or answered what does not parse, or the store could not say whether
    /// the articles are current: read around.
    Failed,
}

/// The context cache of every conversation, on one [`Cache`].
#[derive(Clone)]
pub struct ContextCache {
    cache: Arc<dyn Cache>,
}

impl std::fmt::Debug for ContextCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextCache")
            .field("backend", &self.cache.backend())
            .finish()
    }
}

fn key(conversation_id: &str) -> String {
    format!("ctx:v1:{conversation_id}")
}

fn failed(what: &str, cause: &dyn std::fmt::Display) {
    tracing::warn!(op = what, cause = %cause, "context cache failed; read around");
}

impl ContextCache {
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Self { cache }
    }

    /// The cached context of `conversation_id`, when there is one and every article it holds is
    /// still at the same version.
    pub async fn get<T: DeserializeOwned>(
        &self,
        versions: &dyn CurrentVersions,
        conversation_id: &str,
    ) -> (Option<Entry<T>>, Lookup) {
        let k = key(conversation_id);
        let raw = match self.cache.get(&k).await {
            Ok(Some(raw)) => raw,
            Ok(None) => return (None, Lookup::Miss),
            Err(e) => {
                failed("get", &e);
                return (None, Lookup::Failed);
            }
        };
        let entry: Entry<T> = match serde_json::from_str(&raw) {
            Ok(e) => e,
            Err(e) => {
                failed("parse", &e);
                self.forget(conversation_id).await;
                return (None, Lookup::Failed);
            }
        };
        for (article, version) in &entry.articles {
            match versions.current_version(article).await {
                Ok(Some(v)) if v == *version => {}
                Ok(_) => {
                    self.forget(conversation_id).await;
                    return (None, Lookup::Stale);
                }
                Err(e) => {
                    failed("versions", &e);
                    return (None, Lookup::Failed);
                }
            }
        }
        (Some(entry), Lookup::Hit)
    }

    /// Keep `value` (holding `articles`) for [`TTL`]; a failing cache is logged, not returned.
    pub async fn put<T: Serialize>(
        &self,
        conversation_id: &str,
        value: T,
        articles: Vec<(String, i64)>,
        now: Millis,
    ) {
        let entry = Entry {
            value,
            articles,
            cached_at: now,
        };
        let raw = match serde_json::to_string(&entry) {
            Ok(r) => r,
            Err(e) => return failed("serialize", &e),
        };
        if let Err(e) = self.cache.set(&key(conversation_id), &raw, TTL).await {
            failed("set", &e);
        }
    }

    /// Drop the entry of `conversation_id` (e.g. when its conversation changed).
    pub async fn forget(&self, conversation_id: &str) {
        if let Err(e) = self.cache.delete(&key(conversation_id)).await {
            failed("delete", &e);
        }
    }
}

/// The behaviour every cache backend gives the context cache; `connectors` runs it on Redis.
pub mod conformance {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Article versions in memory, changed by the checks.
    #[derive(Debug, Default)]
    pub struct Versions(pub Mutex<HashMap<String, i64>>);

    impl Versions {
        pub fn set(&self, id: &str, v: Option<i64>) {
            if let Ok(mut m) = self.0.lock() {
                match v {
                    Some(v) => m.insert(id.to_owned(), v),
                    None => m.remove(id),
                };
            }
        }
    }

    #[async_trait]
    impl CurrentVersions for Versions {
        async fn current_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
            self.0
                .lock()
                .map(|m| m.get(id).copied())
                .map_err(|_| StoreError::Backend("poisoned".into()))
        }
    }

    /// A cache that fails every call (the read-around checks).
    #[derive(Debug)]
    pub struct Broken;

    #[async_trait]
    impl crate::cache::Cache for Broken {
        fn backend(&self) -> &'static str {
            "broken"
        }
        async fn get(&self, _: &str) -> Result<Option<String>, crate::cache::CacheError> {
            Err(crate::cache::CacheError {
                backend: "broken",
                message: "down".into(),
            })
        }
        async fn set(&self, _: &str, _: &str, _: Duration) -> Result<(), crate::cache::CacheError> {
            Err(crate::cache::CacheError {
                backend: "broken",
                message: "down".into(),
            })
        }
        async fn delete(&self, _: &str) -> Result<(), crate::cache::CacheError> {
            Err(crate::cache::CacheError {
                backend: "broken",
                message: "down".into(),
            })
        }
    }

    /// Hit, miss, an entry dropped when an article it holds changes or is removed, another
    /// conversation untouched; conversation ids start with `prefix`. Panics with what differed.
    pub async fn check(cache: ContextCache, prefix: &str) {
        let versions = Versions::default();
        versions.set("art_a", Some(1));
        versions.set("art_b", Some(3));
        let (one, two) = (format!("{prefix}cnv_1"), format!("{prefix}cnv_2"));
        let (e, l) = cache.get::<String>(&versions, &one).await;
        assert_eq!((e, l), (None, Lookup::Miss), "nothing cached yet");
        let arts = vec![("art_a".to_string(), 1), ("art_b".to_string(), 3)];
        cache
            .put(&one, "ctx one".to_string(), arts.clone(), 7)
            .await;
        cache
            .put(
                &two,
                "ctx two".to_string(),
                vec![("art_b".to_string(), 3)],
                7,
            )
            .await;
        let (e, l) = cache.get::<String>(&versions, &one).await;
        assert_eq!(l, Lookup::Hit);
        let e = e.expect("a hit has an entry");
        assert_eq!(
            (e.value.as_str(), e.articles, e.cached_at),
            ("ctx one", arts, 7)
        );

        // art_a changes: the entry that holds it goes (and stays gone), the other stays.
        versions.set("art_a", Some(2));
        assert_eq!(cache.get::<String>(&versions, &one).await.1, Lookup::Stale);
        versions.set("art_a", Some(1));
        assert_eq!(
            cache.get::<String>(&versions, &one).await.1,
            Lookup::Miss,
            "a stale entry is dropped, not kept for later"
        );
        assert_eq!(cache.get::<String>(&versions, &two).await.1, Lookup::Hit);
        // art_b is removed: the second entry goes too.
        versions.set("art_b", None);
        assert_eq!(cache.get::<String>(&versions, &two).await.1, Lookup::Stale);
        // Forget.
        cache.put(&one, "again".to_string(), vec![], 8).await;
        assert_eq!(cache.get::<String>(&versions, &one).await.1, Lookup::Hit);
        cache.forget(&one).await;
        assert_eq!(cache.get::<String>(&versions, &one).await.1, Lookup::Miss);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::conformance::{Broken, Versions, check};
    use super::*;
    use crate::cache::{CacheError, MemoryCache};

    #[tokio::test]
    async fn memory_backend_conforms() {
        check(ContextCache::new(Arc::new(MemoryCache::new())), "t:").await;
    }

    #[tokio::test]
    async fn a_broken_cache_is_read_around() {
        let c = ContextCache::new(Arc::new(Broken));
        let v = Versions::default();
        c.put("cnv", 1u32, vec![], 1).await;
        assert_eq!(c.get::<u32>(&v, "cnv").await, (None, Lookup::Failed));
        c.forget("cnv").await;
    }

    #[tokio::test]
    async fn garbage_in_the_cache_is_dropped() {
        let mem = Arc::new(MemoryCache::new());
        mem.set("ctx:v1:cnv", "{not json", TTL).await.unwrap();
        let c = ContextCache::new(mem.clone());
        let v = Versions::default();
        assert_eq!(c.get::<u32>(&v, "cnv").await, (None, Lookup::Failed));
        assert_eq!(mem.get("ctx:v1:cnv").await.unwrap(), None);
    }

    /// Records the lifetime of every value set.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<Duration>>);

    #[async_trait]
    impl Cache for Recording {
        fn backend(&self) -> &'static str {
            "recording"
        }
        async fn get(&self, _: &str) -> Result<Option<String>, CacheError> {
            Ok(None)
        }
        async fn set(&self, _: &str, _: &str, ttl: Duration) -> Result<(), CacheError> {
            self.0.lock().unwrap().push(ttl);
            Ok(())
        }
        async fn delete(&self, _: &str) -> Result<(), CacheError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn entries_are_kept_for_seven_days() {
        let rec = Arc::new(Recording::default());
        ContextCache::new(rec.clone())
            .put("cnv", 1u32, vec![], 1)
            .await;
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![Duration::from_secs(7 * 24 * 3600)]
        );
    }
}
