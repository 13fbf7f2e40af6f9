//! [`SupportIntegration`] on the course store's tables.

use rand::RngCore;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use support_sdk::types::*;
use support_sdk::{IntegrationError, SupportIntegration, async_trait};

use crate::CourseApp;
use crate::time::{iso, now_ms};

fn db(e: sqlx::Error) -> IntegrationError {
    tracing::warn!(error = %e, "course store query failed");
    IntegrationError::message(format!("course store database error: {e}"))
}

fn normalize_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

fn plausible_email(email: &str) -> bool {
    let email = email.trim();
    email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace)
}

fn user(row: &SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        created_at: iso(row.try_get("created_at")?),
    })
}

/// A purchase row on the SDK's wire. The store keeps cents; `Purchase.amount` is in major
/// units (dollars, as a decimal), which is what the platform expects and cross-checks against
/// the Stripe charge.
fn purchase(row: &SqliteRow) -> Result<Purchase, sqlx::Error> {
    let amount: i64 = row.try_get("amount_cents")?;
    Ok(Purchase {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        product_name: row.try_get("product_name")?,
        purchased_at: iso(row.try_get("purchased_at")?),
        amount: amount as f64 / 100.0,
        currency: row.try_get("currency")?,
        stripe_charge_id: row.try_get("stripe_charge_id")?,
        status: PurchaseStatus::from(row.try_get::<String, _>("status")?),
    })
}

const PURCHASE_COLS: &str = "p.id, p.product_id, pr.name AS product_name, p.purchased_at, \
     p.amount_cents, p.currency, p.stripe_charge_id, p.status";

impl CourseApp {
    async fn user_by_id(&self, user_id: &str) -> Result<Option<User>, IntegrationError> {
        sqlx::query("SELECT id, email, name, created_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .map(|r| user(&r))
            .transpose()
            .map_err(db)
    }

    fn random_token() -> String {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    }
}

#[async_trait]
impl SupportIntegration for CourseApp {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        sqlx::query("SELECT id, email, name, created_at FROM users WHERE email = $1")
            .bind(normalize_email(email))
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .map(|r| user(&r))
            .transpose()
            .map_err(db)
    }

    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
        let sql = format!(
            "SELECT {PURCHASE_COLS} FROM purchases p JOIN products pr ON pr.id = p.product_id \
             WHERE p.user_id = $1 ORDER BY p.purchased_at DESC"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(self.pool())
            .await
            .map_err(db)?
            .iter()
            .map(purchase)
            .collect::<Result<_, _>>()
            .map_err(db)
    }

    async fn revoke_access(
        &self,
        params: RevokeAccessParams,
    ) -> Result<ActionResult, IntegrationError> {
        if params.reason.trim().is_empty() || params.refund_id.trim().is_empty() {
            return Ok(ActionResult::failed("reason and refundId are required"));
        }
        let status: Option<String> = sqlx::query("SELECT status FROM purchases WHERE id = $1")
            .bind(&params.purchase_id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .map(|r| r.try_get("status"))
            .transpose()
            .map_err(db)?;
        match status.as_deref() {
            None => Ok(ActionResult::failed(format!(
                "Purchase not found: {}",
                params.purchase_id
            ))),
            Some("refunded") => Ok(ActionResult::failed(format!(
                "Purchase {} is already refunded",
                params.purchase_id
            ))),
            Some(_) => {
                let mut tx = self.pool().begin().await.map_err(db)?;
                sqlx::query(
                    "UPDATE purchases SET status = 'refunded', refund_id = $2, revoke_reason = $3 WHERE id = $1",
                )
                .bind(&params.purchase_id)
                .bind(&params.refund_id)
                .bind(&params.reason)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                // A refunded membership stops renewing.
                sqlx::query(
                    "UPDATE subscriptions SET status = 'cancelled', cancel_at_period_end = 1
                     WHERE (user_id, product_id) IN (SELECT user_id, product_id FROM purchases WHERE id = $1)",
                )
                .bind(&params.purchase_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok(ActionResult::ok())
            }
        }
    }

    async fn transfer_purchase(
        &self,
        params: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        if !plausible_email(&params.to_email) {
            return Ok(ActionResult::failed(format!(
                "Invalid email: {}",
                params.to_email
            )));
        }
        let to_email = normalize_email(&params.to_email);
        let mut tx = self.pool().begin().await.map_err(db)?;
        let row = sqlx::query(
            "SELECT p.user_id, p.status, p.product_id, p.amount_cents, p.currency, p.stripe_charge_id,
                    p.purchased_at, p.bulk_coupon_id, p.seats, p.redeemed_coupon_id
             FROM purchases p WHERE p.id = $1",
        )
        .bind(&params.purchase_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(ActionResult::failed(format!(
                "Purchase not found: {}",
                params.purchase_id
            )));
        };
        let owner: String = row.try_get("user_id").map_err(db)?;
        let status: String = row.try_get("status").map_err(db)?;
        if owner != params.from_user_id {
            return Ok(ActionResult::failed(format!(
                "Purchase {} is not owned by {}",
                params.purchase_id, params.from_user_id
            )));
        }
        if status != "active" {
            return Ok(ActionResult::failed(format!(
                "Purchase {} is {status} and cannot be transferred",
                params.purchase_id
            )));
        }
        let now = now_ms();
        let existing: Option<String> = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(&to_email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get("id"))
            .transpose()
            .map_err(db)?;
        let to_user = match existing {
            Some(id) if id == owner => {
                return Ok(ActionResult::failed(
                    "The purchase already belongs to that email",
                ));
            }
            Some(id) => id,
            None => {
                let id = format!("usr_{}", &Self::random_token()[..16]);
                sqlx::query(
                    "INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, NULL, $3)",
                )
                .bind(&id)
                .bind(&to_email)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                id
            }
        };
        let new_purchase = format!("pur_{}", &Self::random_token()[..16]);
        sqlx::query(
            "INSERT INTO purchases (id, user_id, product_id, purchased_at, amount_cents, currency,
               stripe_charge_id, status, bulk_coupon_id, seats, redeemed_coupon_id)
             SELECT $1, $2, product_id, purchased_at, amount_cents, currency, stripe_charge_id, 'active',
               bulk_coupon_id, seats, redeemed_coupon_id FROM purchases WHERE id = $3",
        )
        .bind(&new_purchase)
        .bind(&to_user)
        .bind(&params.purchase_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE purchases SET status = 'transferred', bulk_coupon_id = NULL WHERE id = $1",
        )
        .bind(&params.purchase_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE subscriptions SET user_id = $2 WHERE user_id = $1 AND product_id = $3")
            .bind(&owner)
            .bind(&to_user)
            .bind(row.try_get::<String, _>("product_id").map_err(db)?)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO transfers (id, purchase_id, new_purchase_id, from_user_id, to_user_id, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("trf_{}", &Self::random_token()[..16]))
        .bind(&params.purchase_id)
        .bind(&new_purchase)
        .bind(&owner)
        .bind(&to_user)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ActionResult::ok())
    }

    async fn generate_magic_link(
        &self,
        params: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        if !plausible_email(&params.email) {
            return Err(IntegrationError::message(format!(
                "Invalid email: {}",
                params.email
            )));
        }
        let expires_in = params.expires_in.clamp(60, 7 * 24 * 3600);
        let token = Self::random_token();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO magic_links (token, email, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&token)
        .bind(normalize_email(&params.email))
        .bind(now)
        .bind(now + expires_in * 1000)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(MagicLink {
            url: format!("{}?token={token}", self.magic_link_base),
        })
    }

    async fn get_subscriptions(
        &self,
        user_id: &str,
    ) -> Result<Vec<Subscription>, IntegrationError> {
        sqlx::query(
            "SELECT s.id, s.product_id, p.name, s.status, s.period_start, s.period_end, s.cancel_at_period_end
             FROM subscriptions s JOIN products p ON p.id = s.product_id WHERE s.user_id = $1 ORDER BY s.period_start DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(Subscription {
                id: r.try_get("id")?,
                product_id: r.try_get("product_id")?,
                product_name: r.try_get("name")?,
                status: SubscriptionStatus::from(r.try_get::<String, _>("status")?),
                current_period_start: iso(r.try_get("period_start")?),
                current_period_end: iso(r.try_get("period_end")?),
                cancel_at_period_end: r.try_get("cancel_at_period_end")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)
    }

    async fn update_email(
        &self,
        params: UpdateEmailParams,
    ) -> Result<ActionResult, IntegrationError> {
        if !plausible_email(&params.new_email) {
            return Ok(ActionResult::failed(format!(
                "Invalid email: {}",
                params.new_email
            )));
        }
        if self.user_by_id(&params.user_id).await?.is_none() {
            return Ok(ActionResult::failed(format!(
                "User not found: {}",
                params.user_id
            )));
        }
        let new_email = normalize_email(&params.new_email);
        if self.lookup_user(&new_email).await?.is_some() {
            return Ok(ActionResult::failed(format!(
                "{new_email} already belongs to another account"
            )));
        }
        sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
            .bind(&params.user_id)
            .bind(&new_email)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(ActionResult::ok())
    }

    async fn update_name(
        &self,
        params: UpdateNameParams,
    ) -> Result<ActionResult, IntegrationError> {
        let name = params.new_name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Ok(ActionResult::failed("Name must be 1-120 characters"));
        }
        let done = sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
            .bind(&params.user_id)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(if done.rows_affected() == 0 {
            ActionResult::failed(format!("User not found: {}", params.user_id))
        } else {
            ActionResult::ok()
        })
    }

    async fn get_claimed_seats(
        &self,
        bulk_coupon_id: &str,
    ) -> Result<Vec<ClaimedSeat>, IntegrationError> {
        sqlx::query(
            "SELECT s.user_id, u.email, s.claimed_at FROM seats s JOIN users u ON u.id = s.user_id
             WHERE s.bulk_coupon_id = $1 ORDER BY s.claimed_at",
        )
        .bind(bulk_coupon_id)
        .fetch_all(self.pool())
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(ClaimedSeat {
                user_id: r.try_get("user_id")?,
                email: r.try_get("email")?,
                claimed_at: iso(r.try_get("claimed_at")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)
    }

    async fn search_content(
        &self,
        request: ContentSearchRequest,
    ) -> Result<ContentSearchResponse, IntegrationError> {
        let started = std::time::Instant::now();
        let words: Vec<String> = request
            .query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_lowercase)
            .collect();
        let wants_lessons = request
            .types
            .as_ref()
            .is_none_or(|t| t.contains(&ContentType::Lesson));
        let rows = if wants_lessons {
            sqlx::query(
                "SELECT l.id, l.title, l.description, l.module, l.minutes, l.free, p.name AS product
                 FROM lessons l JOIN products p ON p.id = l.product_id ORDER BY l.position",
            )
            .fetch_all(self.pool())
            .await
            .map_err(db)?
        } else {
            Vec::new()
        };
        let mut scored = Vec::new();
        for r in &rows {
            let title: String = r.try_get("title").map_err(db)?;
            let description: String = r.try_get("description").map_err(db)?;
            let module: String = r.try_get("module").map_err(db)?;
            let haystack = format!("{title} {description} {module}").to_lowercase();
            let hits = words
                .iter()
                .filter(|w| haystack.contains(w.as_str()))
                .count();
            if hits == 0 {
                continue;
            }
            let id: String = r.try_get("id").map_err(db)?;
            let free: bool = r.try_get("free").map_err(db)?;
            let minutes: i64 = r.try_get("minutes").map_err(db)?;
            let product: String = r.try_get("product").map_err(db)?;
            let mut extra = serde_json::Map::new();
            extra.insert("product".into(), product.into());
            scored.push(ContentSearchResult {
                url: format!("https://courses.demo.test/lessons/{id}"),
                id,
                kind: ContentType::Lesson,
                title,
                description: Some(description),
                score: Some(hits as f64 / words.len().max(1) as f64),
                metadata: Some(ContentSearchMetadata {
                    duration: Some(minutes as f64),
                    tags: Some(vec![module]),
                    access_level: Some(if free {
                        SearchAccessLevel::Free
                    } else {
                        SearchAccessLevel::Paid
                    }),
                    extra,
                    ..Default::default()
                }),
            });
        }
        scored.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let total = scored.len() as i64;
        scored.truncate(request.limit.unwrap_or(10).clamp(1, 50) as usize);
        Ok(ContentSearchResponse {
            results: scored,
            quick_links: Some(vec![ContentSearchResult {
                id: "support".into(),
                kind: ContentType::Resource,
                title: "Help center".into(),
                description: Some("Invoices, refunds, team seats and login help".into()),
                url: "https://courses.demo.test/help".into(),
                score: None,
                metadata: None,
            }]),
            meta: Some(SearchMeta {
                total_results: Some(total),
                search_time_ms: Some(started.elapsed().as_millis() as f64),
            }),
        })
    }

    async fn get_product_status(
        &self,
        product_id: &str,
    ) -> Result<Option<ProductStatus>, IntegrationError> {
        let row = sqlx::query("SELECT kind, state, seats FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(db)?;
        let state: String = row.try_get("state").map_err(db)?;
        Ok(Some(ProductStatus {
            product_id: product_id.into(),
            product_type: ProductType::from(kind),
            available: state == "active",
            sold_out: false,
            quantity_available: -1,
            quantity_remaining: -1,
            state: ProductState::from(state),
            starts_at: None,
            ends_at: None,
            enrollment_open: None,
            enrollment_close: None,
        }))
    }

    async fn get_active_promotions(&self) -> Result<Vec<Promotion>, IntegrationError> {
        sqlx::query(
            "SELECT code, name, discount_type, amount, expires_at FROM coupons
             WHERE public = 1 AND (expires_at IS NULL OR expires_at > $1) ORDER BY code",
        )
        .bind(now_ms())
        .fetch_all(self.pool())
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let code: String = r.try_get("code")?;
            Ok(Promotion {
                id: format!("promo_{}", code.to_lowercase()),
                name: r.try_get("name")?,
                code: Some(code),
                discount_type: DiscountType::from(r.try_get::<String, _>("discount_type")?),
                discount_amount: r.try_get::<i64, _>("amount")? as f64,
                valid_from: None,
                valid_until: r.try_get::<Option<i64>, _>("expires_at")?.map(iso),
                active: true,
                conditions: Some("Individual licences only".into()),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)
    }

    async fn get_coupon_info(&self, code: &str) -> Result<Option<CouponInfo>, IntegrationError> {
        let row = sqlx::query(
            "SELECT code, discount_type, amount, restriction, usage_count, max_uses, expires_at
             FROM coupons WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let seats_used: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM seats WHERE bulk_coupon_id = $1")
                .bind(code)
                .fetch_one(self.pool())
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(db)?;
        let usage: i64 = r.try_get::<i64, _>("usage_count").map_err(db)? + seats_used;
        let max_uses: Option<i64> = r.try_get("max_uses").map_err(db)?;
        let expires_at: Option<i64> = r.try_get("expires_at").map_err(db)?;
        let valid = max_uses.is_none_or(|m| usage < m) && expires_at.is_none_or(|e| e > now_ms());
        Ok(Some(CouponInfo {
            code: r.try_get("code").map_err(db)?,
            valid,
            discount_type: DiscountType::from(r.try_get::<String, _>("discount_type").map_err(db)?),
            discount_amount: r.try_get::<i64, _>("amount").map_err(db)? as f64,
            restriction_type: r
                .try_get::<Option<String>, _>("restriction")
                .map_err(db)?
                .map(RestrictionType::from),
            usage_count: usage,
            max_uses,
            expires_at: expires_at.map(iso),
        }))
    }

    async fn get_refund_policy(&self) -> Result<RefundPolicy, IntegrationError> {
        Ok(RefundPolicy {
            auto_approve_window_days: 30,
            manual_approve_window_days: 45,
            no_refund_after_days: None,
            special_conditions: Some(vec![
                "Team licences follow the same windows as individual purchases.".into(),
                "Membership refunds cover the current billing period.".into(),
                "Requests after 45 days are reviewed by the team case by case.".into(),
            ]),
            policy_url: Some("https://courses.demo.test/refunds".into()),
        })
    }

    async fn get_content_access(&self, user_id: &str) -> Result<ContentAccess, IntegrationError> {
        let rows = sqlx::query(
            "SELECT p.product_id, pr.name, p.status, pr.billing_interval,
                    (SELECT MAX(s.period_end) FROM subscriptions s WHERE s.user_id = p.user_id AND s.product_id = p.product_id) AS period_end
             FROM purchases p JOIN products pr ON pr.id = p.product_id
             WHERE p.user_id = $1 AND p.status IN ('active', 'refunded') ORDER BY p.purchased_at",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut products = Vec::new();
        for r in &rows {
            let status: String = r.try_get("status").map_err(db)?;
            let period_end: Option<i64> = r.try_get("period_end").map_err(db)?;
            let level = if status == "refunded" || period_end.is_some_and(|e| e < now_ms()) {
                ProductAccessLevel::Expired
            } else {
                ProductAccessLevel::Full
            };
            products.push(ProductAccess {
                product_id: r.try_get("product_id").map_err(db)?,
                product_name: r.try_get("name").map_err(db)?,
                access_level: level,
                modules: None,
                expires_at: period_end.map(iso),
            });
        }
        let team = sqlx::query(
            "SELECT s.bulk_coupon_id, s.claimed_at, c.name FROM seats s JOIN coupons c ON c.code = s.bulk_coupon_id
             WHERE s.user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        let admin = sqlx::query(
            "SELECT p.bulk_coupon_id, p.purchased_at, c.name FROM purchases p JOIN coupons c ON c.code = p.bulk_coupon_id
             WHERE p.user_id = $1 AND p.status = 'active'",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        let team_membership = match (admin, team) {
            (Some(r), _) => Some((r, TeamRole::Admin, "purchased_at")),
            (None, Some(r)) => Some((r, TeamRole::Member, "claimed_at")),
            (None, None) => None,
        }
        .map(|(r, role, at)| {
            Ok::<_, sqlx::Error>(TeamMembership {
                team_id: r.try_get("bulk_coupon_id")?,
                team_name: r.try_get("name")?,
                role,
                seat_claimed_at: iso(r.try_get(at)?),
            })
        })
        .transpose()
        .map_err(db)?;
        Ok(ContentAccess {
            user_id: user_id.into(),
            products,
            team_membership,
        })
    }

    async fn get_recent_activity(&self, user_id: &str) -> Result<UserActivity, IntegrationError> {
        let rows = sqlx::query(
            "SELECT kind, title, at FROM activity WHERE user_id = $1 ORDER BY at DESC LIMIT 20",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut items = Vec::new();
        for r in &rows {
            items.push(ActivityItem {
                kind: ActivityType::from(r.try_get::<String, _>("kind").map_err(db)?),
                title: r.try_get("title").map_err(db)?,
                timestamp: iso(r.try_get("at").map_err(db)?),
            });
        }
        let completed = items
            .iter()
            .filter(|i| i.kind == ActivityType::LessonCompleted)
            .count() as i64;
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM lessons WHERE product_id IN
               (SELECT product_id FROM purchases WHERE user_id = $1 AND status = 'active')",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(db)?;
        let last_login = items
            .iter()
            .find(|i| i.kind == ActivityType::Login)
            .map(|i| i.timestamp.clone());
        Ok(UserActivity {
            user_id: user_id.into(),
            last_login_at: last_login,
            last_active_at: items.first().map(|i| i.timestamp.clone()),
            lessons_completed: completed,
            total_lessons: total,
            completion_percent: if total > 0 {
                (completed as f64 * 100.0 / total as f64).min(100.0).round()
            } else {
                0.0
            },
            recent_items: items,
        })
    }

    async fn get_license_info(
        &self,
        purchase_id: &str,
    ) -> Result<Option<LicenseInfo>, IntegrationError> {
        let row = sqlx::query(
            "SELECT p.bulk_coupon_id, p.seats, p.purchased_at, u.email, pr.billing_interval
             FROM purchases p JOIN users u ON u.id = p.user_id JOIN products pr ON pr.id = p.product_id
             WHERE p.id = $1",
        )
        .bind(purchase_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let coupon: Option<String> = r.try_get("bulk_coupon_id").map_err(db)?;
        let email: String = r.try_get("email").map_err(db)?;
        let purchased_at: i64 = r.try_get("purchased_at").map_err(db)?;
        let interval: Option<String> = r.try_get("billing_interval").map_err(db)?;
        let expires_at = interval.map(|i| {
            let (_, end) = crate::seed::period(purchased_at, now_ms(), &i);
            iso(end)
        });
        let Some(coupon) = coupon else {
            return Ok(Some(LicenseInfo {
                purchase_id: purchase_id.into(),
                license_type: LicenseType::Individual,
                total_seats: 1,
                claimed_seats: 1,
                available_seats: 0,
                expires_at,
                claimed_by: vec![LicenseSeat {
                    email: email.clone(),
                    claimed_at: iso(purchased_at),
                    last_active_at: None,
                }],
                admin_email: None,
            }));
        };
        let seats = self.get_claimed_seats(&coupon).await?;
        let total: i64 = r
            .try_get::<Option<i64>, _>("seats")
            .map_err(db)?
            .unwrap_or(1);
        let claimed = seats.len() as i64;
        Ok(Some(LicenseInfo {
            purchase_id: purchase_id.into(),
            license_type: LicenseType::Team,
            total_seats: total,
            claimed_seats: claimed,
            available_seats: (total - claimed).max(0),
            expires_at,
            claimed_by: seats
                .into_iter()
                .map(|s| LicenseSeat {
                    email: s.email,
                    claimed_at: s.claimed_at,
                    last_active_at: None,
                })
                .collect(),
            admin_email: Some(email),
        }))
    }

    async fn get_app_info(&self) -> Result<AppInfo, IntegrationError> {
        Ok(AppInfo {
            name: "Demo course store (Typewise, Tailwind Atelier, Applied AI Workshops)".into(),
            instructor_name: "Milo, Anneke and Ravi".into(),
            support_email: "support@courses.demo.test".into(),
            website_url: "https://courses.demo.test".into(),
            invoices_url: Some("https://courses.demo.test/invoices".into()),
            discord_url: None,
            refund_policy_url: Some("https://courses.demo.test/refunds".into()),
            privacy_policy_url: Some("https://courses.demo.test/privacy".into()),
            terms_url: Some("https://courses.demo.test/terms".into()),
        })
    }
}
