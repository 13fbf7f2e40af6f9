//! Helpers shared by the step runner tests (included with `mod`).
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support_steps::{Engine, Function, RunnerConfig};
use support_store::Db;
use support_testkit::TestDb;

pub const T: Duration = Duration::from_secs(30);

pub fn cfg() -> RunnerConfig {
    RunnerConfig {
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
        drain_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

pub fn engine_with(db: &Db, config: RunnerConfig, fns: Vec<Function>) -> Engine {
    let mut b = Engine::builder(Arc::new(db.clone())).config(config);
    for f in fns {
        b = b.function(f);
    }
    b.build().expect("valid functions")
}

pub fn engine(db: &Db, fns: Vec<Function>) -> Engine {
    engine_with(db, cfg(), fns)
}

/// Runs `f` on SQLite, and on Postgres when TEST_DATABASE_URL is set.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for t in TestDb::all().await.expect("test databases") {
        eprintln!("-- backend {:?}", t.backend());
        f(t.db.clone()).await;
        drop(t);
    }
}

/// Side-effect counters keyed by name.
#[derive(Clone, Default)]
pub struct Counter(Arc<Mutex<HashMap<String, u32>>>);

impl Counter {
    pub fn hit(&self, k: &str) -> u32 {
        let mut m = self.0.lock().unwrap();
        let n = m.entry(k.to_string()).or_insert(0);
        *n += 1;
        *n
    }
    pub fn get(&self, k: &str) -> u32 {
        self.0.lock().unwrap().get(k).copied().unwrap_or(0)
    }
}
