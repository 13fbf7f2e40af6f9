//! The [`SupportIntegration`] trait an app implements, the wire [`Action`] names and
//! [`IntegrationError`].

use std::fmt;

use async_trait::async_trait;

use crate::types::{
    ActionResult, AppInfo, ClaimedSeat, ContentAccess, ContentSearchRequest, ContentSearchResponse,
    CouponInfo, GenerateMagicLinkParams, LicenseInfo, MagicLink, ProductStatus, Promotion,
    Purchase, RefundPolicy, RevokeAccessParams, Subscription, TransferPurchaseParams,
    UpdateEmailParams, UpdateNameParams, User, UserActivity,
};

/// Every method of the 0.5.0 protocol, by its wire name (the `action` field of the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // required
    LookupUser,
    GetPurchases,
    RevokeAccess,
    TransferPurchase,
    GenerateMagicLink,
    // optional
    GetSubscriptions,
    UpdateEmail,
    UpdateName,
    GetClaimedSeats,
    SearchContent,
    GetProductStatus,
    GetActivePromotions,
    GetCouponInfo,
    GetRefundPolicy,
    GetContentAccess,
    GetRecentActivity,
    GetLicenseInfo,
    GetAppInfo,
}

impl Action {
    /// All actions, required ones first, in the order of the npm handler's `switch`.
    pub const ALL: [Action; 18] = [
        Action::LookupUser,
        Action::GetPurchases,
        Action::RevokeAccess,
        Action::TransferPurchase,
        Action::GenerateMagicLink,
        Action::GetSubscriptions,
        Action::UpdateEmail,
        Action::UpdateName,
        Action::GetClaimedSeats,
        Action::SearchContent,
        Action::GetProductStatus,
        Action::GetActivePromotions,
        Action::GetCouponInfo,
        Action::GetRefundPolicy,
        Action::GetContentAccess,
        Action::GetRecentActivity,
        Action::GetLicenseInfo,
        Action::GetAppInfo,
    ];

    /// The wire name, e.g. `"lookupUser"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::LookupUser => "lookupUser",
            Action::GetPurchases => "getPurchases",
            Action::RevokeAccess => "revokeAccess",
            Action::TransferPurchase => "transferPurchase",
            Action::GenerateMagicLink => "generateMagicLink",
            Action::GetSubscriptions => "getSubscriptions",
            Action::UpdateEmail => "updateEmail",
            Action::UpdateName => "updateName",
            Action::GetClaimedSeats => "getClaimedSeats",
            Action::SearchContent => "searchContent",
            Action::GetProductStatus => "getProductStatus",
            Action::GetActivePromotions => "getActivePromotions",
            Action::GetCouponInfo => "getCouponInfo",
            Action::GetRefundPolicy => "getRefundPolicy",
            Action::GetContentAccess => "getContentAccess",
            Action::GetRecentActivity => "getRecentActivity",
            Action::GetLicenseInfo => "getLicenseInfo",
            Action::GetAppInfo => "getAppInfo",
        }
    }

    /// Parses a wire name (case-sensitive, like the npm handler's `switch`).
    pub fn from_wire(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
    }

    /// Whether apps must implement it (the five methods without `?` in the TypeScript interface).
    pub const fn is_required(self) -> bool {
        matches!(
            self,
            Action::LookupUser
                | Action::GetPurchases
                | Action::RevokeAccess
                | Action::TransferPurchase
                | Action::GenerateMagicLink
        )
    }

    /// Whether it only reads data, so that retrying it is safe.
    pub const fn is_read_only(self) -> bool {
        !matches!(
            self,
            Action::RevokeAccess
                | Action::TransferPurchase
                | Action::GenerateMagicLink
                | Action::UpdateEmail
                | Action::UpdateName
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned by a [`SupportIntegration`] method.
///
/// The handler answers [`IntegrationError::NotImplemented`] with
/// `501 {"error":"Method not implemented: <name>"}` and any other error with
/// `500 {"error":"<Display of the error>"}`, like the npm handler does with `err.message`.
/// That message reaches the support platform, so keep secrets out of it.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The app does not implement this optional method (the default of every optional method).
    #[error("Method not implemented: {0}")]
    NotImplemented(&'static str),
    /// A failure with a message meant for the support platform.
    #[error("{0}")]
    Message(String),
    /// Any other error; its `Display` becomes the message.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl IntegrationError {
    /// An error carrying `message` (the `error` field of the 500 answer).
    pub fn message(message: impl Into<String>) -> Self {
        IntegrationError::Message(message.into())
    }

    /// Wraps any error; its `Display` becomes the message.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        IntegrationError::Other(Box::new(error))
    }

    /// `NotImplemented` for `action`.
    pub fn not_implemented(action: Action) -> Self {
        IntegrationError::NotImplemented(action.as_str())
    }
}

/// The contract an app implements so the support platform can act on its users and purchases.
///
/// Rust equivalent of `SupportIntegration` in `@skillrecordings/sdk/integration` 0.5.0. The five
/// required methods have no default; every optional one defaults to
/// `Err(IntegrationError::NotImplemented("<wireName>"))`, which the handler turns into a 501.
///
/// ```
/// use support_sdk::{async_trait, IntegrationError, SupportIntegration};
/// use support_sdk::types::*;
///
/// struct MyApp;
///
/// #[async_trait]
/// impl SupportIntegration for MyApp {
///     async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
///         Ok((email == "jane@example.com").then(|| User {
///             id: "usr_1".into(),
///             email: email.into(),
///             name: Some("Jane".into()),
///             created_at: "2024-01-01T00:00:00.000Z".into(),
///         }))
///     }
///     async fn get_purchases(&self, _user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
///         Ok(vec![])
///     }
///     async fn revoke_access(&self, _: RevokeAccessParams) -> Result<ActionResult, IntegrationError> {
///         Ok(ActionResult::ok())
///     }
///     async fn transfer_purchase(
///         &self,
///         _: TransferPurchaseParams,
///     ) -> Result<ActionResult, IntegrationError> {
///         Err(IntegrationError::message("transfers are disabled"))
///     }
///     async fn generate_magic_link(
///         &self,
///         params: GenerateMagicLinkParams,
///     ) -> Result<MagicLink, IntegrationError> {
///         Ok(MagicLink { url: format!("https://example.com/magic?e={}", params.email) })
///     }
/// }
/// ```
#[async_trait]
pub trait SupportIntegration: Send + Sync {
    /// `lookupUser(email)`: the user, or `None` (`null` on the wire).
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError>;

    /// `getPurchases(userId)`: all purchases, empty when none.
    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError>;

    /// `revokeAccess({purchaseId, reason, refundId})`: remove access after a refund.
    async fn revoke_access(
        &self,
        params: RevokeAccessParams,
    ) -> Result<ActionResult, IntegrationError>;

    /// `transferPurchase({purchaseId, fromUserId, toEmail})`.
    async fn transfer_purchase(
        &self,
        params: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError>;

    /// `generateMagicLink({email, expiresIn})`: `{url}`.
    async fn generate_magic_link(
        &self,
        params: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError>;

    /// Optional `getSubscriptions(userId)`.
    async fn get_subscriptions(
        &self,
        user_id: &str,
    ) -> Result<Vec<Subscription>, IntegrationError> {
        let _ = user_id;
        Err(IntegrationError::not_implemented(Action::GetSubscriptions))
    }

    /// Optional `updateEmail({userId, newEmail})`.
    async fn update_email(
        &self,
        params: UpdateEmailParams,
    ) -> Result<ActionResult, IntegrationError> {
        let _ = params;
        Err(IntegrationError::not_implemented(Action::UpdateEmail))
    }

    /// Optional `updateName({userId, newName})`.
    async fn update_name(
        &self,
        params: UpdateNameParams,
    ) -> Result<ActionResult, IntegrationError> {
        let _ = params;
        Err(IntegrationError::not_implemented(Action::UpdateName))
    }

    /// Optional `getClaimedSeats(bulkCouponId)`.
    async fn get_claimed_seats(
        &self,
        bulk_coupon_id: &str,
    ) -> Result<Vec<ClaimedSeat>, IntegrationError> {
        let _ = bulk_coupon_id;
        Err(IntegrationError::not_implemented(Action::GetClaimedSeats))
    }

    /// Optional `searchContent(request)` (v0.3.0+).
    async fn search_content(
        &self,
        request: ContentSearchRequest,
    ) -> Result<ContentSearchResponse, IntegrationError> {
        let _ = request;
        Err(IntegrationError::not_implemented(Action::SearchContent))
    }

    /// Optional `getProductStatus(productId)`: `None` when the product is unknown.
    async fn get_product_status(
        &self,
        product_id: &str,
    ) -> Result<Option<ProductStatus>, IntegrationError> {
        let _ = product_id;
        Err(IntegrationError::not_implemented(Action::GetProductStatus))
    }

    /// Optional `getActivePromotions()`.
    async fn get_active_promotions(&self) -> Result<Vec<Promotion>, IntegrationError> {
        Err(IntegrationError::not_implemented(
            Action::GetActivePromotions,
        ))
    }

    /// Optional `getCouponInfo(code)`: `None` when the code does not exist.
    async fn get_coupon_info(&self, code: &str) -> Result<Option<CouponInfo>, IntegrationError> {
        let _ = code;
        Err(IntegrationError::not_implemented(Action::GetCouponInfo))
    }

    /// Optional `getRefundPolicy()`.
    async fn get_refund_policy(&self) -> Result<RefundPolicy, IntegrationError> {
        Err(IntegrationError::not_implemented(Action::GetRefundPolicy))
    }

    /// Optional `getContentAccess(userId)`.
    async fn get_content_access(&self, user_id: &str) -> Result<ContentAccess, IntegrationError> {
        let _ = user_id;
        Err(IntegrationError::not_implemented(Action::GetContentAccess))
    }

    /// Optional `getRecentActivity(userId)`.
    async fn get_recent_activity(&self, user_id: &str) -> Result<UserActivity, IntegrationError> {
        let _ = user_id;
        Err(IntegrationError::not_implemented(Action::GetRecentActivity))
    }

    /// Optional `getLicenseInfo(purchaseId)`: `None` when it is not a team purchase.
    async fn get_license_info(
        &self,
        purchase_id: &str,
    ) -> Result<Option<LicenseInfo>, IntegrationError> {
        let _ = purchase_id;
        Err(IntegrationError::not_implemented(Action::GetLicenseInfo))
    }

    /// Optional `getAppInfo()`.
    async fn get_app_info(&self) -> Result<AppInfo, IntegrationError> {
        Err(IntegrationError::not_implemented(Action::GetAppInfo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_classify() {
        for action in Action::ALL {
            assert_eq!(Action::from_wire(action.as_str()), Some(action));
        }
        assert_eq!(Action::from_wire("LookupUser"), None);
        assert_eq!(Action::ALL.iter().filter(|a| a.is_required()).count(), 5);
        let reads: Vec<_> = Action::ALL
            .iter()
            .filter(|a| a.is_read_only())
            .map(|a| a.as_str())
            .collect();
        for name in [
            "lookupUser",
            "getPurchases",
            "getSubscriptions",
            "getClaimedSeats",
            "searchContent",
            "getRefundPolicy",
        ] {
            assert!(reads.contains(&name), "{name} must be retryable");
        }
        for name in [
            "revokeAccess",
            "transferPurchase",
            "generateMagicLink",
            "updateEmail",
            "updateName",
        ] {
            assert!(!reads.contains(&name), "{name} must not be retried");
        }
    }

    #[test]
    fn errors_display_their_message() {
        assert_eq!(
            IntegrationError::not_implemented(Action::GetSubscriptions).to_string(),
            "Method not implemented: getSubscriptions"
        );
        assert_eq!(IntegrationError::message("boom").to_string(), "boom");
        let io = std::io::Error::other("disk full");
        assert_eq!(IntegrationError::other(io).to_string(), "disk full");
    }
}
