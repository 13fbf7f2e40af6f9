//! `course-app`: an example product for the support platform. A small course store (users,
//! purchases, team licences with bulk coupons and seats, memberships, transfers, magic links,
//! lessons, coupons) on SQLite, serving the support SDK endpoint with axum.
//!
//! It is what a product team writes to onboard: implement [`support_sdk::SupportIntegration`]
//! on top of the app's own database and mount [`support_sdk::SupportHandler`]. `skill dev --demo`
//! mounts it at `POST /demo-app/support` with the demo data of the scenario world
//! ([`seed`](CourseApp::seed)): for each of `typescript-course`, `tailwind-course` and
//! `ai-workshops`, customers with a recent (< 30 days), old (30–45 days) and very old
//! (> 45 days) purchase, team-licence admins and seat holders, and users without a purchase.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let app = course_app::CourseApp::open("course-app.db").await?;
//! app.seed().await?;
//! let router = app.router(vec![std::env::var("SUPPORT_WEBHOOK_SECRET")?]);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4200").await?;
//! axum::serve(listener, router).await?;
//! # Ok(())
//! # }
//! ```

mod integration;
pub mod seed;
pub mod time;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use support_sdk::SupportHandler;

pub use sqlx::SqlitePool as Pool;

/// The path `skill dev --demo` serves the endpoint at, and the one [`CourseApp::router`] uses.
pub const SUPPORT_PATH: &str = "/demo-app/support";

/// Where magic links point.
pub const DEFAULT_MAGIC_LINK_BASE: &str = "https://courses.demo.test/auth/magic";

#[derive(Debug, thiserror::Error)]
pub enum CourseAppError {
    #[error("course store database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Create `path` with mode `0600` if missing; make it `0600` if it is readable by others.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
    }
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The course store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct CourseApp {
    pool: SqlitePool,
    magic_link_base: String,
}

impl std::fmt::Debug for CourseApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourseApp").finish_non_exhaustive()
    }
}

impl CourseApp {
    /// Opens (creating if needed) the SQLite database at `path` and creates the schema. The
    /// database holds customers' purchases: it is created `0600` (SQLite gives its `-wal` and
    /// `-shm` files the same mode), and an existing one is tightened to `0600`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, CourseAppError> {
        let path = path.as_ref();
        private_file(path).map_err(|e| CourseAppError::Db(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// A private in-memory store (one connection), for tests and benchmarks.
    pub async fn in_memory() -> Result<Self, CourseAppError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and creates the schema.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, CourseAppError> {
        for statement in seed::SCHEMA {
            sqlx::query(*statement).execute(&pool).await?;
        }
        Ok(CourseApp {
            pool,
            magic_link_base: DEFAULT_MAGIC_LINK_BASE.into(),
        })
    }

    /// Magic links point at `base` (default [`DEFAULT_MAGIC_LINK_BASE`]).
    pub fn with_magic_link_base(mut self, base: impl Into<String>) -> Self {
        self.magic_link_base = base.into();
        self
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Inserts the demo products, customers, lessons and coupons. Idempotent: rows that exist
    /// are left alone. Purchase dates are relative to now.
    pub async fn seed(&self) -> Result<(), CourseAppError> {
        let now = time::now_ms();
        let mut tx = self.pool.begin().await?;
        for p in seed::PRODUCTS {
            sqlx::query(
                "INSERT OR IGNORE INTO products (id, app, name, kind, price_cents, currency, seats, billing_interval)
                 VALUES ($1, $2, $3, $4, $5, 'usd', $6, $7)",
            )
            .bind(p.id)
            .bind(p.app)
            .bind(p.name)
            .bind(p.kind)
            .bind(p.price_cents)
            .bind(p.seats)
            .bind(p.billing_interval)
            .execute(&mut *tx)
            .await?;
        }
        for (position, (id, product, module, title, description, minutes, free)) in
            seed::LESSONS.iter().enumerate()
        {
            sqlx::query(
                "INSERT OR IGNORE INTO lessons (id, product_id, module, title, description, minutes, free, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(product)
            .bind(module)
            .bind(title)
            .bind(description)
            .bind(minutes)
            .bind(free)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        for (code, name, kind, amount, restriction, max_uses, public) in seed::COUPONS {
            sqlx::query(
                "INSERT OR IGNORE INTO coupons (code, name, discount_type, amount, restriction, max_uses, expires_at, public)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(code)
            .bind(name)
            .bind(kind)
            .bind(amount)
            .bind(restriction)
            .bind(max_uses)
            .bind(public.then_some(now + 21 * time::DAY_MS))
            .bind(public)
            .execute(&mut *tx)
            .await?;
        }
        // Users first: seat holders refer to their admin's bulk coupon.
        for (i, c) in seed::CUSTOMERS.iter().enumerate() {
            let days = match c.role {
                seed::Role::Buyer { days, .. }
                | seed::Role::TeamAdmin { days, .. }
                | seed::Role::Seat { days, .. } => days,
                seed::Role::NoPurchase => 90,
            };
            sqlx::query(
                "INSERT OR IGNORE INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(seed::user_id(i))
            .bind(c.email)
            .bind(c.name)
            .bind(now - (days + 1) * time::DAY_MS)
            .execute(&mut *tx)
            .await?;
        }
        for (i, c) in seed::CUSTOMERS.iter().enumerate() {
            let user = seed::user_id(i);
            let purchase = format!("pur_demo_{i:03}");
            let (product, days, amount, bulk, seats, redeemed) = match c.role {
                seed::Role::Buyer { product, days } => (product, days, None, None, None, None),
                seed::Role::TeamAdmin {
                    product,
                    days,
                    coupon,
                } => (
                    product,
                    days,
                    None,
                    Some(coupon),
                    seed::product_by_id(product).and_then(|p| p.seats),
                    None,
                ),
                seed::Role::Seat { coupon, days } => {
                    let product = seed::CUSTOMERS
                        .iter()
                        .find_map(|a| match a.role {
                            seed::Role::TeamAdmin {
                                product, coupon: c, ..
                            } if c == coupon => Some(product),
                            _ => None,
                        })
                        .unwrap_or("typewise-pro-team");
                    sqlx::query(
                        "INSERT OR IGNORE INTO seats (bulk_coupon_id, user_id, claimed_at) VALUES ($1, $2, $3)",
                    )
                    .bind(coupon)
                    .bind(&user)
                    .bind(now - days * time::DAY_MS)
                    .execute(&mut *tx)
                    .await?;
                    (product, days, Some(0), None, None, Some(coupon))
                }
                seed::Role::NoPurchase => continue,
            };
            let Some(p) = seed::product_by_id(product) else {
                continue;
            };
            let purchased_at = now - days * time::DAY_MS - (i as i64 % 7) * 3_600_000;
            let amount = amount.unwrap_or(p.price_cents);
            let charge = (amount > 0).then(|| format!("ch_demo_{i:03}"));
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO purchases (id, user_id, product_id, purchased_at, amount_cents, currency,
                   stripe_charge_id, status, bulk_coupon_id, seats, redeemed_coupon_id)
                 VALUES ($1, $2, $3, $4, $5, 'usd', $6, 'active', $7, $8, $9)",
            )
            .bind(&purchase)
            .bind(&user)
            .bind(p.id)
            .bind(purchased_at)
            .bind(amount)
            .bind(charge)
            .bind(bulk)
            .bind(seats)
            .bind(redeemed)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            if let Some(interval) = p.billing_interval {
                let (start, end) = seed::period(purchased_at, now, interval);
                sqlx::query(
                    "INSERT OR IGNORE INTO subscriptions (id, user_id, product_id, status, period_start, period_end, cancel_at_period_end)
                     VALUES ($1, $2, $3, 'active', $4, $5, $6)",
                )
                .bind(format!("sub_demo_{i:03}"))
                .bind(&user)
                .bind(p.id)
                .bind(start)
                .bind(end)
                .bind(c.email == "d.friedman@example.com")
                .execute(&mut *tx)
                .await?;
            }
            let first_lesson = seed::LESSONS
                .iter()
                .find(|l| l.1 == p.id || (redeemed.is_some() && l.1 == "typewise-core"))
                .map(|l| l.3)
                .unwrap_or("Welcome");
            for (kind, title, at) in [
                (
                    "login",
                    "Signed in with a magic link",
                    purchased_at + 3_600_000,
                ),
                (
                    "lesson_completed",
                    first_lesson,
                    purchased_at + 2 * 3_600_000,
                ),
            ] {
                sqlx::query(
                    "INSERT INTO activity (user_id, kind, title, at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&user)
                .bind(kind)
                .bind(title)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The SDK endpoint at `POST /demo-app/support` accepting any of `secrets`, plus
    /// `GET /healthz`.
    pub fn router(&self, secrets: Vec<String>) -> Router {
        Router::new()
            .route(SUPPORT_PATH, self.handler(secrets).into_method_router())
            .route("/healthz", get(|| async { "ok" }))
    }

    /// The SDK handler for this store, to mount anywhere.
    pub fn handler(&self, secrets: Vec<String>) -> SupportHandler {
        SupportHandler::new(Arc::new(self.clone()), secrets)
    }

    /// How many users the store has (for logs and tests).
    pub async fn user_count(&self) -> Result<i64, CourseAppError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

/// A Stripe charge the seeded store names (`Purchase.stripe_charge_id`): what Stripe would
/// report for it. Tests mirror these on their fake Stripe, since a refund's amount is always
/// read from the charge, never from the store's own figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededCharge {
    /// `ch_demo_NNN`.
    pub id: String,
    /// The buyer.
    pub email: &'static str,
    /// Minor units (cents).
    pub amount_cents: i64,
    /// Lowercase ISO code.
    pub currency: &'static str,
}

/// Every charge [`CourseApp::seed`] records, with its amount (the same rules as the seed:
/// seat holders paid nothing and have no charge).
pub fn seeded_charges() -> Vec<SeededCharge> {
    seed::CUSTOMERS
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let product = match c.role {
                seed::Role::Buyer { product, .. } | seed::Role::TeamAdmin { product, .. } => {
                    product
                }
                seed::Role::Seat { .. } | seed::Role::NoPurchase => return None,
            };
            let p = seed::product_by_id(product)?;
            (p.price_cents > 0).then(|| SeededCharge {
                id: format!("ch_demo_{i:03}"),
                email: c.email,
                amount_cents: p.price_cents,
                currency: "usd",
            })
        })
        .collect()
}

/// A customer's relation to an app, as the scenario set labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerState {
    /// A purchase 10 days ago.
    RecentPurchase,
    /// A purchase 36 days ago (30–45).
    OldPurchase,
    /// A purchase 60 days ago (> 45).
    VeryOldPurchase,
    /// Bought and administers the app's team licence, 20 days ago.
    TeamLicense,
    /// Known, with no purchase.
    NoPurchase,
}

impl CustomerState {
    /// Parse a scenario label; `unknown` (or anything else) is `None`.
    pub fn parse(label: &str) -> Option<Self> {
        Some(match label {
            "recent-purchase" => Self::RecentPurchase,
            "old-purchase" => Self::OldPurchase,
            "very-old-purchase" => Self::VeryOldPurchase,
            "team-license" => Self::TeamLicense,
            "no-purchase" => Self::NoPurchase,
            _ => return None,
        })
    }
}

impl CourseApp {
    /// Make sure `email` exists for `app` in `state` (the eval's policy-faithful customer
    /// state). An existing user is left as it is. Returns whether anything was created.
    pub async fn ensure_customer(
        &self,
        app: &str,
        email: &str,
        name: &str,
        state: CustomerState,
    ) -> Result<bool, CourseAppError> {
        let email = email.trim().to_lowercase();
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
                .bind(&email)
                .fetch_optional(&self.pool)
                .await?;
        if exists.is_some() {
            return Ok(false);
        }
        let now = time::now_ms();
        let digest = format!("{:016x}", fnv1a(&email));
        let user = format!("usr_eval_{digest}");
        let (single, team) = match app {
            "tailwind-course" => ("atelier", "atelier-team"),
            "ai-workshops" => ("aiw-annual", "aiw-team-annual"),
            _ => ("typewise-pro", "typewise-pro-team"),
        };
        let (product, days, bulk) = match state {
            CustomerState::RecentPurchase => (single, 10, None),
            CustomerState::OldPurchase => (single, 36, None),
            CustomerState::VeryOldPurchase => (single, 60, None),
            CustomerState::TeamLicense => (team, 20, Some(format!("bulk_eval_{digest}"))),
            CustomerState::NoPurchase => ("", 0, None),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&user)
            .bind(&email)
            .bind(name)
            .bind(now - (days + 1) * time::DAY_MS)
            .execute(&mut *tx)
            .await?;
        if let Some(p) = seed::product_by_id(product) {
            let purchased_at = now - days * time::DAY_MS;
            sqlx::query(
                "INSERT INTO purchases (id, user_id, product_id, purchased_at, amount_cents, currency,
                   stripe_charge_id, status, bulk_coupon_id, seats, redeemed_coupon_id)
                 VALUES ($1, $2, $3, $4, $5, 'usd', $6, 'active', $7, $8, NULL)",
            )
            .bind(format!("pur_eval_{digest}"))
            .bind(&user)
            .bind(p.id)
            .bind(purchased_at)
            .bind(p.price_cents)
            .bind(format!("ch_eval_{digest}"))
            .bind(&bulk)
            .bind(p.seats)
            .execute(&mut *tx)
            .await?;
            if let Some(interval) = p.billing_interval {
                let (start, end) = seed::period(purchased_at, now, interval);
                sqlx::query(
                    "INSERT INTO subscriptions (id, user_id, product_id, status, period_start, period_end, cancel_at_period_end)
                     VALUES ($1, $2, $3, 'active', $4, $5, 0)",
                )
                .bind(format!("sub_eval_{digest}"))
                .bind(&user)
                .bind(p.id)
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// A stable 64-bit FNV-1a hash, for ids derived from an email.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
