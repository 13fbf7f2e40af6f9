//! Wire models, mirroring `@skillrecordings/sdk@0.5.0` `dist/types.d.ts` field for field.
//!
//! Conventions, all chosen for byte-level compatibility with the npm package:
//!
//! - Field names are camelCase on the wire (`rename_all = "camelCase"`), in the same order as
//!   the TypeScript interfaces (JSON output order matters for byte-for-byte comparisons).
//! - TypeScript optional properties (`name?: string`) are `Option`s that are omitted when
//!   `None` (as `JSON.stringify` omits `undefined`) and accept both a missing key and `null`.
//! - TypeScript `Date` values (`createdAt`, `purchasedAt`, ...) travel as ISO-8601 strings,
//!   exactly what `JSON.stringify(new Date())` produces (`"2024-01-15T10:30:00.000Z"`); they
//!   are kept as `String` so they round-trip unchanged.
//! - String-literal unions (`'active' | 'refunded' | ...`) are enums with an extra
//!   `Other(String)` variant, so a value added by a newer app never breaks deserialization
//!   and is re-serialized verbatim.
//! - JavaScript numbers that may carry fractions (amounts, scores, percentages) are `f64`
//!   serialized like JavaScript does (`4900`, not `4900.0`); counts are `i64`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes `f64` the way `JSON.stringify` does for the values that matter on this wire:
/// integral values without a fractional part (`4900` rather than `4900.0`).
pub(crate) mod js_number {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Largest integer a JavaScript number represents exactly (`Number.MAX_SAFE_INTEGER`).
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

    pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        let v = *value;
        if v.is_finite() && v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER {
            // Exact: integral and |v| <= 2^53.
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        f64::deserialize(deserializer)
    }

    pub(crate) mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            value: &Option<f64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<f64>, D::Error> {
            Option::<f64>::deserialize(deserializer)
        }
    }
}

/// Declares a string-literal union as an enum with an `Other(String)` fallback variant.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`\"", $wire, "\"`")] $variant, )+
            /// A value this version of the SDK does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire representation.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match Self::from(value.as_str()) {
                    Self::Other(_) => Self::Other(value),
                    known => known,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

// ── Core entities ───────────────────────────────────────────────────────────────────────────

/// A user of the app (`User`). Returned by `lookupUser`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO-8601 timestamp (a `Date` on the TypeScript side).
    pub created_at: String,
}

string_enum! {
    /// `Purchase.status`.
    pub enum PurchaseStatus {
        Active => "active",
        Refunded => "refunded",
        Transferred => "transferred",
    }
}

/// A purchase (`Purchase`). Returned by `getPurchases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    /// ISO-8601 timestamp (a `Date` on the TypeScript side).
    pub purchased_at: String,
    /// What the customer paid, in **major units** of `currency`, as a decimal: `179` or
    /// `179.00` for $179.00, `49.99` for $49.99, `1000` for ¥1,000 (never cents: `17900` would
    /// read as $17,900.00). The npm types only say `amount: number`; this is what the platform
    /// expects. The support platform never refunds this figure: a refund's amount and currency
    /// come from the Stripe charge named by `stripe_charge_id`, and this figure is only
    /// cross-checked against it (a mismatch beyond rounding hands the refund to a human and
    /// nothing is refunded).
    #[serde(with = "js_number")]
    pub amount: f64,
    /// ISO 4217 currency code (`usd`; either case).
    pub currency: String,
    /// The Stripe charge (`ch_…`/`py_…`) that paid for it: refunds are made on it, for the
    /// amount Stripe reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_charge_id: Option<String>,
    pub status: PurchaseStatus,
}

string_enum! {
    /// `Subscription.status`.
    pub enum SubscriptionStatus {
        Active => "active",
        Cancelled => "cancelled",
        Expired => "expired",
        Paused => "paused",
    }
}

/// A recurring subscription (`Subscription`). Returned by `getSubscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    pub status: SubscriptionStatus,
    /// ISO-8601 timestamp.
    pub current_period_start: String,
    /// ISO-8601 timestamp.
    pub current_period_end: String,
    pub cancel_at_period_end: bool,
}

/// Result of a mutation (`ActionResult`): `{ success, error? }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ActionResult {
    /// `{ "success": true }`.
    pub fn ok() -> Self {
        Self {
            success: true,
            error: None,
        }
    }

    /// `{ "success": false, "error": message }`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            success: false,
            error: Some(message.into()),
        }
    }
}

/// Result of `generateMagicLink`: `{ url }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MagicLink {
    pub url: String,
}

/// A claimed seat of a team/bulk purchase (`ClaimedSeat`). Returned by `getClaimedSeats`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedSeat {
    pub user_id: String,
    pub email: String,
    /// ISO-8601 timestamp.
    pub claimed_at: String,
}

// ── Method parameters ───────────────────────────────────────────────────────────────────────

/// Parameters of `revokeAccess`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAccessParams {
    pub purchase_id: String,
    pub reason: String,
    /// Stripe refund id.
    pub refund_id: String,
}

/// Parameters of `transferPurchase`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferPurchaseParams {
    pub purchase_id: String,
    pub from_user_id: String,
    pub to_email: String,
}

/// Parameters of `generateMagicLink`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateMagicLinkParams {
    pub email: String,
    /// Expiry in seconds (the npm docs suggest 3600).
    pub expires_in: i64,
}

/// Parameters of `updateEmail`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEmailParams {
    pub user_id: String,
    pub new_email: String,
}

/// Parameters of `updateName`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateNameParams {
    pub user_id: String,
    pub new_name: String,
}

// ── Content search (v0.3.0+) ────────────────────────────────────────────────────────────────

string_enum! {
    /// `ContentSearchResult.type`.
    pub enum ContentType {
        Course => "course",
        Module => "module",
        Lesson => "lesson",
        Article => "article",
        Exercise => "exercise",
        Resource => "resource",
        Social => "social",
    }
}

string_enum! {
    /// `ContentSearchResult.metadata.difficulty`.
    pub enum Difficulty {
        Beginner => "beginner",
        Intermediate => "intermediate",
        Advanced => "advanced",
    }
}

string_enum! {
    /// `ContentSearchResult.metadata.accessLevel`.
    pub enum SearchAccessLevel {
        Free => "free",
        Paid => "paid",
        Preview => "preview",
    }
}

/// `ContentSearchResult.metadata`: known keys plus arbitrary product-specific ones.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSearchMetadata {
    /// Duration in minutes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "js_number::option"
    )]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<Difficulty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// ISO-8601 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<SearchAccessLevel>,
    /// Any other product-specific keys (`[key: string]: unknown`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One search hit (`ContentSearchResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSearchResult {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ContentType,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub url: String,
    /// Relevance 0-1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "js_number::option"
    )]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ContentSearchMetadata>,
}

/// `ContentSearchRequest.customer`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_purchased: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchased_products: Option<Vec<String>>,
}

/// Parameters of `searchContent` (`ContentSearchRequest`). They are sent flat, next to `action`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSearchRequest {
    /// Natural-language query.
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<ContentType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<SearchCustomer>,
}

/// `ContentSearchResponse.meta`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_results: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "js_number::option"
    )]
    pub search_time_ms: Option<f64>,
}

/// Result of `searchContent` (`ContentSearchResponse`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSearchResponse {
    pub results: Vec<ContentSearchResult>,
    /// Links always returned (social, support, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_links: Option<Vec<ContentSearchResult>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<SearchMeta>,
}

// ── Agent intelligence (0.5.0) ──────────────────────────────────────────────────────────────

string_enum! {
    /// `ProductStatus.productType` (an open union in TypeScript: any string is allowed).
    pub enum ProductType {
        SelfPaced => "self-paced",
        Live => "live",
        Cohort => "cohort",
        Membership => "membership",
        SourceCodeAccess => "source-code-access",
    }
}

string_enum! {
    /// `ProductStatus.state`.
    pub enum ProductState {
        Draft => "draft",
        Active => "active",
        Unavailable => "unavailable",
        Archived => "archived",
    }
}

/// Availability of a product (`ProductStatus`). Returned by `getProductStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductStatus {
    pub product_id: String,
    pub product_type: ProductType,
    pub available: bool,
    pub sold_out: bool,
    /// `-1` means unlimited.
    pub quantity_available: i64,
    pub quantity_remaining: i64,
    pub state: ProductState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_open: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_close: Option<String>,
}

string_enum! {
    /// `Promotion.discountType` / `CouponInfo.discountType`.
    pub enum DiscountType {
        Percent => "percent",
        Fixed => "fixed",
    }
}

/// An active sale (`Promotion`). Returned by `getActivePromotions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub discount_type: DiscountType,
    /// Percentage (0-100) or fixed amount in cents.
    #[serde(with = "js_number")]
    pub discount_amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<String>,
}

string_enum! {
    /// `CouponInfo.restrictionType`.
    pub enum RestrictionType {
        Ppp => "ppp",
        Student => "student",
        Bulk => "bulk",
        General => "general",
    }
}

/// A coupon code (`CouponInfo`). Returned by `getCouponInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponInfo {
    pub code: String,
    pub valid: bool,
    pub discount_type: DiscountType,
    /// Percentage (0-100) or fixed amount in cents.
    #[serde(with = "js_number")]
    pub discount_amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction_type: Option<RestrictionType>,
    pub usage_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The app's refund policy (`RefundPolicy`). Returned by `getRefundPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPolicy {
    pub auto_approve_window_days: i64,
    pub manual_approve_window_days: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_refund_after_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_conditions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_url: Option<String>,
}

string_enum! {
    /// `ContentAccess.products[].accessLevel`.
    pub enum ProductAccessLevel {
        Full => "full",
        Partial => "partial",
        Preview => "preview",
        Expired => "expired",
    }
}

/// `ContentAccess.products[].modules[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleAccess {
    pub id: String,
    pub title: String,
    pub accessible: bool,
}

/// `ContentAccess.products[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductAccess {
    pub product_id: String,
    pub product_name: String,
    pub access_level: ProductAccessLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<ModuleAccess>>,
    /// ISO-8601; absent means lifetime access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

string_enum! {
    /// `ContentAccess.teamMembership.role`.
    pub enum TeamRole {
        Member => "member",
        Admin => "admin",
        Owner => "owner",
    }
}

/// `ContentAccess.teamMembership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMembership {
    pub team_id: String,
    pub team_name: String,
    pub role: TeamRole,
    /// ISO-8601 timestamp.
    pub seat_claimed_at: String,
}

/// What a user can access (`ContentAccess`). Returned by `getContentAccess`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentAccess {
    pub user_id: String,
    pub products: Vec<ProductAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_membership: Option<TeamMembership>,
}

string_enum! {
    /// `UserActivity.recentItems[].type`.
    pub enum ActivityType {
        LessonCompleted => "lesson_completed",
        ExerciseSubmitted => "exercise_submitted",
        Login => "login",
        Download => "download",
    }
}

/// `UserActivity.recentItems[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    #[serde(rename = "type")]
    pub kind: ActivityType,
    pub title: String,
    /// ISO-8601 timestamp.
    pub timestamp: String,
}

/// Recent activity and progress (`UserActivity`). Returned by `getRecentActivity`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserActivity {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
    pub lessons_completed: i64,
    pub total_lessons: i64,
    /// 0-100.
    #[serde(with = "js_number")]
    pub completion_percent: f64,
    pub recent_items: Vec<ActivityItem>,
}

string_enum! {
    /// `LicenseInfo.licenseType`.
    pub enum LicenseType {
        Individual => "individual",
        Team => "team",
        Enterprise => "enterprise",
        Site => "site",
    }
}

/// `LicenseInfo.claimedBy[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseSeat {
    pub email: String,
    /// ISO-8601 timestamp.
    pub claimed_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
}

/// Team license and seats (`LicenseInfo`). Returned by `getLicenseInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseInfo {
    pub purchase_id: String,
    pub license_type: LicenseType,
    pub total_seats: i64,
    pub claimed_seats: i64,
    pub available_seats: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub claimed_by: Vec<LicenseSeat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
}

/// App metadata (`AppInfo`). Returned by `getAppInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub name: String,
    pub instructor_name: String,
    pub support_email: String,
    pub website_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoices_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_policy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn purchase_round_trips_with_js_number_formatting() {
        let wire = r#"{"id":"pur_1","productId":"prod_1","productName":"Total TypeScript","purchasedAt":"2024-01-15T10:30:00.000Z","amount":4900,"currency":"usd","status":"active"}"#;
        let purchase: Purchase = serde_json::from_str(wire).unwrap();
        assert_eq!(purchase.amount, 4900.0);
        assert_eq!(purchase.status, PurchaseStatus::Active);
        assert_eq!(purchase.stripe_charge_id, None);
        assert_eq!(serde_json::to_string(&purchase).unwrap(), wire);

        let fractional = Purchase {
            amount: 49.99,
            ..purchase
        };
        assert!(
            serde_json::to_string(&fractional)
                .unwrap()
                .contains(r#""amount":49.99"#)
        );
    }

    #[test]
    fn unknown_enum_values_are_kept_verbatim() {
        let status: PurchaseStatus = serde_json::from_value(json!("disputed")).unwrap();
        assert_eq!(status, PurchaseStatus::Other("disputed".into()));
        assert_eq!(serde_json::to_value(&status).unwrap(), json!("disputed"));
        assert_eq!(
            ProductType::from("source-code-access"),
            ProductType::SourceCodeAccess
        );
        assert_eq!(
            ProductType::from(String::from("self-paced")),
            ProductType::SelfPaced
        );
        assert_eq!(
            ActivityType::LessonCompleted.to_string(),
            "lesson_completed"
        );
    }

    #[test]
    fn optional_fields_accept_null_and_are_omitted_when_none() {
        let user: User = serde_json::from_value(json!({
            "id": "usr_1", "email": "jane@example.com", "name": null,
            "createdAt": "2024-01-01T00:00:00.000Z"
        }))
        .unwrap();
        assert_eq!(user.name, None);
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            r#"{"id":"usr_1","email":"jane@example.com","createdAt":"2024-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(
            serde_json::to_string(&ActionResult::ok()).unwrap(),
            r#"{"success":true}"#
        );
        assert_eq!(
            serde_json::to_string(&ActionResult::failed("nope")).unwrap(),
            r#"{"success":false,"error":"nope"}"#
        );
    }

    #[test]
    fn search_metadata_keeps_extra_keys() {
        let wire = json!({
            "id": "les_1", "type": "lesson", "title": "Generics", "url": "https://x/l/1",
            "score": 0.92,
            "metadata": {"duration": 12, "difficulty": "beginner", "tags": ["ts"], "accessLevel": "free", "moduleSlug": "generics"}
        });
        let result: ContentSearchResult = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(result.kind, ContentType::Lesson);
        let metadata = result.metadata.clone().unwrap();
        assert_eq!(metadata.duration, Some(12.0));
        assert_eq!(metadata.extra.get("moduleSlug"), Some(&json!("generics")));
        assert_eq!(serde_json::to_value(&result).unwrap(), wire);
    }

    #[test]
    fn search_request_serializes_only_present_fields() {
        let request = ContentSearchRequest {
            query: "generics".into(),
            types: Some(vec![ContentType::Lesson]),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"query":"generics","types":["lesson"]}"#
        );
    }
}
