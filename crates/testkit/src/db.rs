//! Fresh databases for tests: a temporary SQLite file always, and a new Postgres database per
//! test when `TEST_DATABASE_URL` is set.

use support_core::store::StoreError;
use support_store::{Backend, Db, replace_db_name};

/// A database that lives as long as this value (the SQLite file is deleted on drop; Postgres
/// databases are named `support_test_*` and dropped by [`TestDb::cleanup`] or the next run).
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> Result<Self, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let db = Db::connect(&url).await?;
        Ok(Self {
            db,
            url,
            _dir: Some(dir),
        })
    }

    /// A migrated, brand-new Postgres database, or `None` when `TEST_DATABASE_URL` is unset.
    pub async fn postgres() -> Result<Option<Self>, StoreError> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            return Ok(None);
        };
        let admin = Db::connect_lazy(&admin_url)?;
        drop_stale_databases(&admin).await;
        let name = format!(
            "support_test_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.write_pool())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        admin.close().await;
        let url = replace_db_name(&admin_url, &name);
        let db = Db::connect(&url).await?;
        Ok(Some(Self {
            db,
            url,
            _dir: None,
        }))
    }

    /// SQLite always, plus Postgres when `TEST_DATABASE_URL` is set. Prints what it skipped.
    pub async fn all() -> Result<Vec<Self>, StoreError> {
        let mut dbs = vec![Self::sqlite().await?];
        match Self::postgres().await? {
            Some(pg) => dbs.push(pg),
            None => skip_notice("Postgres", "TEST_DATABASE_URL"),
        }
        Ok(dbs)
    }

    pub fn backend(&self) -> Backend {
        self.db.kind()
    }
}

/// Drop `support_test_*` databases created more than an hour ago (names carry a ULID, whose
/// first 48 bits are the creation time), so repeated runs do not pile them up.
async fn drop_stale_databases(admin: &Db) {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(|| async {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'support_test_%'",
        )
        .fetch_all(admin.write_pool())
        .await
        .unwrap_or_default();
        let cutoff = support_core::time::now_ms() - 3_600_000;
        for name in names {
            let Some(id) = name.strip_prefix("support_test_") else {
                continue;
            };
            let Ok(ulid) = ulid::Ulid::from_string(&id.to_ascii_uppercase()) else {
                continue;
            };
            if (ulid.timestamp_ms() as i64) < cutoff {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(admin.write_pool())
                .await;
            }
        }
    })
    .await;
}

/// Say, once per process, that a backend was skipped.
pub fn skip_notice(what: &str, var: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let msg = format!("SKIPPED: {what} variants of these tests ({var} is not set)");
    ONCE.call_once(|| eprintln!("{msg}"));
}
