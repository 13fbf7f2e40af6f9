//! The sqlx adapters of the storage port: SQLite (the default) and Postgres.
//!
//! One implementation serves both through sqlx's `Any` driver. SQL is plain and portable
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING`); each dialect has its own migration folder
//! (`migrations/sqlite`, `migrations/postgres`), embedded at build time and run at start-up.
//!
//! SQLite runs in WAL mode with a busy timeout and a single writer connection; reads use a
//! separate pool.

mod rows;
mod steps;
mod store_impl;
pub mod testing;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;
use support_core::store::{MigrationStatus, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The database backend behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Backend(
                "database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// A connection to the platform database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

pub(crate) fn backend_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Strip credentials from a URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[redacted]@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connect lazily: no connection is made until first use, so an unreachable database
    /// does not stop the process (readiness reports it instead).
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        let opts = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
        let base = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                        }
                        Ok(())
                    })
                })
        };
        let (read, write) = match backend {
            Backend::Sqlite => (
                base(8).connect_lazy_with(opts.clone()),
                base(1).connect_lazy_with(opts),
            ),
            Backend::Postgres => {
                let pool = base(16).connect_lazy_with(opts);
                (pool.clone(), pool)
            }
        };
        Ok(Self {
            backend,
            read,
            write,
        })
    }

    /// Connect and apply migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let db = Self::connect_lazy(url)?;
        db.migrate().await?;
        Ok(db)
    }

    pub fn kind(&self) -> Backend {
        self.backend
    }

    /// Apply pending migrations of this backend's dialect.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.backend
            .migrator()
            .run(&self.write)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => backend_err(inner),
                other => StoreError::Backend(format!("migration failed: {other}")),
            })
    }

    pub(crate) async fn status(&self) -> Result<MigrationStatus, StoreError> {
        let migrator = self.backend.migrator();
        let applied: Vec<i64> = match sqlx::query_scalar::<_, i64>(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_all(&self.read)
        .await
        {
            Ok(v) => v,
            Err(sqlx::Error::Database(_)) => Vec::new(), // no migrations table yet
            Err(e) => return Err(backend_err(e)),
        };
        let pending: Vec<String> = migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{}_{}", m.version, m.description))
            .collect();
        Ok(MigrationStatus {
            backend: self.backend.name().into(),
            expected: migrator.iter().count(),
            applied: applied.len(),
            pending,
        })
    }

    /// The pool for writes (a single connection on SQLite).
    pub fn write_pool(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads.
    pub fn read_pool(&self) -> &AnyPool {
        &self.read
    }

    /// Close both pools, waiting for checked-out connections.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    Ok(())
}
