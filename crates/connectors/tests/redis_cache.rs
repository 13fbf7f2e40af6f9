//! The cache port's behaviour on the real Redis (`TEST_REDIS_URL`), the same checks the
//! in-memory cache passes; and the errors a bad or unreachable Redis gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use support_connectors::redis::RedisCache;
use support_core::cache::{Cache, MemoryCache, conformance};
use support_core::settings::Secret;

fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED: Redis variant (TEST_REDIS_URL is not set); the memory cache ran");
    }
    url
}

#[tokio::test]
async fn both_caches_conform() {
    conformance::check(&MemoryCache::new(), "t:").await;
    let Some(url) = redis_url() else { return };
    let cache = RedisCache::connect(&Secret::new(url)).await.unwrap();
    assert_eq!(cache.backend(), "redis");
    let prefix = format!("support-test:{}:", support_core::ids::new_id("run"));
    conformance::check(&cache, &prefix).await;
}

#[tokio::test]
async fn two_connections_see_each_others_writes() {
    let Some(url) = redis_url() else { return };
    let a = RedisCache::connect(&Secret::new(url.clone()))
        .await
        .unwrap();
    let b = RedisCache::connect(&Secret::new(url)).await.unwrap();
    let key = format!("support-test:{}:shared", support_core::ids::new_id("run"));
    a.set(&key, "from a", std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.get(&key).await.unwrap().as_deref(), Some("from a"));
    b.delete(&key).await.unwrap();
    assert_eq!(a.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_bad_url_or_a_closed_port_is_a_clear_error_without_the_password() {
    let err = RedisCache::connect(&Secret::new("http://:hunter2@127.0.0.1:6379"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid redis_url"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A port nothing listens on: refused, quickly, and said so.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = RedisCache::connect(&Secret::new(format!("redis://:hunter2@127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert_eq!(err.backend, "redis");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
