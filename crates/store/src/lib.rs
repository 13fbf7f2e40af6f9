//! The sqlx adapters of the storage port: SQLite (the default) and Postgres.
//!
//! One implementation serves both through sqlx's `Any` driver. SQL is plain and portable
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING`); each dialect has its own migration folder
//! (`migrations/sqlite`, `migrations/postgres`), embedded at build time and run at start-up.
//!
//! SQLite runs in WAL mode with a busy timeout and a single writer connection; reads use a
//! separate pool.

mod admin_store;
mod analytics_store;
mod approval_store;
mod apps_store;
mod audit_store;
mod autosend_store;
mod conversation_store;
mod dashboard_store;
mod delivery_store;
mod identity_store;
mod knowledge_store;
mod plugin_store;
mod retention_store;
mod rows;
mod session_store;
mod signals_store;
mod sla_store;
mod steps;
mod store_impl;
mod vector_store;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
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
    /// SQLite: the background WAL checkpointer, stopped when the last clone is dropped.
    _checkpointer: Option<Arc<AbortOnDrop>>,
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the background checkpointer copies the SQLite WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// With the background checkpointer, the writer checkpoints by itself only past 20,000 WAL
/// pages (a safety net; SQLite's default is 1,000).
const WRITER_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 20000";

/// Checkpoints the WAL in the background (`PASSIVE`: never blocks the writer). A checkpoint
/// is the only fsync in WAL mode with `synchronous = NORMAL`; left to the writer, it would stall
/// whichever commit crosses the threshold (the intake's p99).
fn spawn_checkpointer(read: AnyPool) -> Option<Arc<AbortOnDrop>> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    Some(Arc::new(AbortOnDrop(handle.spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if read.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&read)
                .await
            {
                tracing::debug!(error = %e, "WAL checkpoint skipped");
            }
        }
    }))))
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

/// Replace the database name (the path) of a Postgres URL, keeping any query string (the test
/// kit's and the benches' fresh databases next to the one the URL names).
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut out = match path_start {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => format!("{base}/{name}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
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
        let background_checkpoints =
            backend == Backend::Sqlite && tokio::runtime::Handle::try_current().is_ok();
        let base = |max: u32, lazy_checkpoints: bool| {
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
                            if lazy_checkpoints {
                                conn.execute(WRITER_AUTOCHECKPOINT).await?;
                            }
                        }
                        Ok(())
                    })
                })
        };
        let (read, write) = match backend {
            Backend::Sqlite => (
                base(8, false).connect_lazy_with(opts.clone()),
                base(1, background_checkpoints).connect_lazy_with(opts),
            ),
            Backend::Postgres => {
                let pool = base(16, false).connect_lazy_with(opts);
                (pool.clone(), pool)
            }
        };
        let _checkpointer = if background_checkpoints {
            spawn_checkpointer(read.clone())
        } else {
            None
        };
        Ok(Self {
            backend,
            read,
            write,
            _checkpointer,
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
    // sqlx creates a missing database only with `mode=rwc`; so do we.
    private_sqlite_files(std::path::Path::new(path), url.contains("mode=rwc"))
}

/// The database holds sealed secrets, tokens' hashes and customer mail: create it `0600`
/// before SQLite opens it (SQLite gives its `-wal` and `-shm` files the database file's mode),
/// and tighten the files of an existing database to `0600`.
#[cfg(unix)]
fn private_sqlite_files(db: &std::path::Path, create: bool) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |p: &std::path::Path, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot secure {}: {e}", p.display()))
    };
    if create && !db.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db)
            .map_err(|e| fail(db, e))?;
    }
    let mut files = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        files.push(std::path::PathBuf::from(name));
    }
    for file in files {
        match std::fs::metadata(&file) {
            Ok(md) if md.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail(&file, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(&file, e)),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_sqlite_files(_: &std::path::Path, _: bool) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::replace_db_name;

    #[test]
    fn replaces_db_name() {
        assert_eq!(
            replace_db_name("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_db_name("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(replace_db_name("postgres://h", "x"), "postgres://h/x");
    }
}
