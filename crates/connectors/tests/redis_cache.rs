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

#[tokio::test]
async fn rediss_urls_are_understood() {
    // The process's one crypto provider, as every binary installs it in `main`.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Without the TLS feature the redis crate refuses a rediss:// URL as a bad URL; with it, a
    // port nothing listens on is a connection error like any other.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = RedisCache::connect(&Secret::new(format!("rediss://:hunter2@127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("invalid redis_url"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A plain Redis spoken to over TLS: the handshake fails, said as a connection error.
    let Some(url) = redis_url() else { return };
    let tls = url.replacen("redis://", "rediss://", 1);
    let err = RedisCache::connect(&Secret::new(tls)).await.unwrap_err();
    eprintln!("TLS to a plain Redis: {err}");
    assert!(!err.to_string().contains("invalid redis_url"), "{err}");
    assert!(
        !err.to_string().to_lowercase().contains("provider"),
        "{err}"
    );
}

#[tokio::test]
async fn the_context_cache_conforms_on_both_caches() {
    use std::sync::Arc;
    use support_core::context_cache::{ContextCache, conformance as ctx};
    ctx::check(ContextCache::new(Arc::new(MemoryCache::new())), "t:").await;
    let Some(url) = redis_url() else { return };
    let cache = RedisCache::connect(&Secret::new(url)).await.unwrap();
    let prefix = format!("support-test:{}:", support_core::ids::new_id("run"));
    ctx::check(ContextCache::new(Arc::new(cache)), &prefix).await;
}

#[tokio::test]
async fn the_context_cache_reads_around_a_redis_that_went_away() {
    use std::sync::Arc;
    use support_core::context_cache::{ContextCache, Lookup, conformance::Versions};
    // A Redis that accepted the connection and then stops answering: a proxy we close.
    let Some(url) = redis_url() else { return };
    let target = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap()
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let tasks = conns.clone();
    let proxy = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            tasks.lock().unwrap().push(tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            }));
        }
    });
    let cache = RedisCache::connect(&Secret::new(format!("redis://127.0.0.1:{port}")))
        .await
        .unwrap();
    let ctx = ContextCache::new(Arc::new(cache));
    let versions = Versions::default();
    let conv = format!("support-test:{}:cnv", support_core::ids::new_id("run"));
    ctx.put(&conv, "hydrated".to_string(), vec![], 1).await;
    assert_eq!(ctx.get::<String>(&versions, &conv).await.1, Lookup::Hit);
    // Redis goes away: the listener and every open connection are closed.
    proxy.abort();
    let _ = proxy.await;
    for t in conns.lock().unwrap().drain(..) {
        t.abort();
    }
    // Reads and writes fail softly: no entry, reported as a failure, nothing panics.
    let (entry, lookup) = ctx.get::<String>(&versions, &conv).await;
    assert_eq!((entry.is_none(), lookup), (true, Lookup::Failed));
    ctx.put(&conv, "again".to_string(), vec![], 2).await;
    ctx.forget(&conv).await;
    assert_eq!(ctx.get::<String>(&versions, &conv).await.1, Lookup::Failed);
}

/// `rediss://` end to end: the local Redis behind the test kit's TLS-terminating relay (a
/// certificate made at test time), spoken to over rustls on ring. The cache and context-cache
/// checks pass through TLS; a client that trusts only the webpki roots refuses the certificate.
#[tokio::test]
async fn rediss_round_trips_through_a_tls_relay() {
    use std::sync::Arc;
    use support_core::context_cache::{ContextCache, conformance as ctx};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(url) = redis_url() else { return };
    let rest = url.trim_start_matches("redis://");
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (format!("{a}@"), r),
        None => (String::new(), rest),
    };
    let (target, db) = match rest.split_once('/') {
        Some((t, d)) => (t.to_string(), format!("/{d}")),
        None => (rest.to_string(), String::new()),
    };
    let relay = support_testkit::tls::TlsRelay::start(&target)
        .await
        .unwrap();
    let tls_url = format!("rediss://{auth}localhost:{}{db}", relay.port);

    let cache = RedisCache::connect_trusting(&Secret::new(tls_url.clone()), &relay.cert_pem)
        .await
        .unwrap();
    let prefix = format!("support-test:{}:", support_core::ids::new_id("run"));
    conformance::check(&cache, &prefix).await;
    ctx::check(ContextCache::new(Arc::new(cache)), &prefix).await;
    assert!(relay.handshakes() >= 1, "the traffic went through TLS");

    // The default client trusts the webpki roots only: a self-signed certificate is refused.
    let err = RedisCache::connect(&Secret::new(tls_url))
        .await
        .unwrap_err();
    eprintln!("untrusted certificate: {err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}
