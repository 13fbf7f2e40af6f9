//! Shared test support: the in-memory demo product (`FakeApp`, the app side), fixtures, the
//! call matrix of `tests/npm/calls.json` and small HTTP helpers.
//!
//! `FakeApp` mirrors `tests/npm/app.mjs` exactly, so the same calls give the same answers from
//! the Rust handler and from the npm handler.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use support_sdk::types::*;
use support_sdk::{
    ClientError, IntegrationClient, IntegrationError, SupportHandler, SupportIntegration,
    async_trait, router,
};
use tokio::net::TcpListener;

pub const FIXTURES_JSON: &str = include_str!("../npm/fixtures.json");
pub const CALLS_JSON: &str = include_str!("../npm/calls.json");

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug, Deserialize)]
pub struct Secrets {
    pub primary: String,
    pub previous: String,
    pub wrong: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    pub secrets: Secrets,
    pub failing_email: String,
    pub failure_message: String,
    pub magic_link_base: String,
    pub users: Vec<User>,
    pub purchases: HashMap<String, Vec<Purchase>>,
    pub subscriptions: HashMap<String, Vec<Subscription>>,
    pub claimed_seats: HashMap<String, Vec<ClaimedSeat>>,
    pub search_index: Vec<ContentSearchResult>,
    pub quick_links: Vec<ContentSearchResult>,
    pub product_status: HashMap<String, ProductStatus>,
    pub promotions: Vec<Promotion>,
    pub coupons: HashMap<String, CouponInfo>,
    pub refund_policy: RefundPolicy,
    pub content_access: HashMap<String, ContentAccess>,
    pub activity: HashMap<String, UserActivity>,
    pub licenses: HashMap<String, LicenseInfo>,
    pub app_info: AppInfo,
}

pub fn fixtures() -> Arc<Fixtures> {
    Arc::new(serde_json::from_str(FIXTURES_JSON).expect("fixtures.json matches the SDK types"))
}

pub fn raw_fixtures() -> Value {
    serde_json::from_str(FIXTURES_JSON).expect("fixtures.json is JSON")
}

/// The demo product with every method implemented.
pub struct FakeApp {
    pub fixtures: Arc<Fixtures>,
}

/// The demo product with only the five required methods.
pub struct MinimalApp(pub FakeApp);

#[async_trait]
impl SupportIntegration for FakeApp {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        let f = &self.fixtures;
        if email == f.failing_email {
            return Err(IntegrationError::message(f.failure_message.clone()));
        }
        Ok(f.users.iter().find(|u| u.email == email).cloned())
    }

    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
        Ok(self
            .fixtures
            .purchases
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn revoke_access(&self, p: RevokeAccessParams) -> Result<ActionResult, IntegrationError> {
        if p.reason.is_empty() || p.refund_id.is_empty() {
            return Ok(ActionResult::failed("reason and refundId are required"));
        }
        let exists = self
            .fixtures
            .purchases
            .values()
            .flatten()
            .any(|x| x.id == p.purchase_id);
        Ok(if exists {
            ActionResult::ok()
        } else {
            ActionResult::failed(format!("Purchase not found: {}", p.purchase_id))
        })
    }

    async fn transfer_purchase(
        &self,
        p: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        if !p.to_email.contains('@') {
            return Ok(ActionResult::failed(format!(
                "Invalid email: {}",
                p.to_email
            )));
        }
        let owned = self
            .fixtures
            .purchases
            .get(&p.from_user_id)
            .is_some_and(|list| list.iter().any(|x| x.id == p.purchase_id));
        Ok(if owned {
            ActionResult::ok()
        } else {
            ActionResult::failed(format!(
                "Purchase {} is not owned by {}",
                p.purchase_id, p.from_user_id
            ))
        })
    }

    async fn generate_magic_link(
        &self,
        p: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        Ok(MagicLink {
            url: format!(
                "{}?email={}&expiresIn={}",
                self.fixtures.magic_link_base, p.email, p.expires_in
            ),
        })
    }

    async fn get_subscriptions(
        &self,
        user_id: &str,
    ) -> Result<Vec<Subscription>, IntegrationError> {
        Ok(self
            .fixtures
            .subscriptions
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn update_email(&self, p: UpdateEmailParams) -> Result<ActionResult, IntegrationError> {
        if !p.new_email.contains('@') {
            return Ok(ActionResult::failed(format!(
                "Invalid email: {}",
                p.new_email
            )));
        }
        Ok(self.user_exists(&p.user_id))
    }

    async fn update_name(&self, p: UpdateNameParams) -> Result<ActionResult, IntegrationError> {
        if p.new_name.is_empty() {
            return Ok(ActionResult::failed("Name must not be empty"));
        }
        Ok(self.user_exists(&p.user_id))
    }

    async fn get_claimed_seats(&self, id: &str) -> Result<Vec<ClaimedSeat>, IntegrationError> {
        Ok(self
            .fixtures
            .claimed_seats
            .get(id)
            .cloned()
            .unwrap_or_default())
    }

    async fn search_content(
        &self,
        request: ContentSearchRequest,
    ) -> Result<ContentSearchResponse, IntegrationError> {
        let q = request.query.to_lowercase();
        let mut results: Vec<ContentSearchResult> = self
            .fixtures
            .search_index
            .iter()
            .filter(|r| request.types.as_ref().is_none_or(|t| t.contains(&r.kind)))
            .filter(|r| {
                r.title.to_lowercase().contains(&q)
                    || r.description
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&q)
            })
            .cloned()
            .collect();
        if let Some(limit) = request.limit {
            results.truncate(usize::try_from(limit).unwrap_or(0));
        }
        let total = results.len() as i64;
        Ok(ContentSearchResponse {
            results,
            quick_links: Some(self.fixtures.quick_links.clone()),
            meta: Some(SearchMeta {
                total_results: Some(total),
                search_time_ms: None,
            }),
        })
    }

    async fn get_product_status(
        &self,
        product_id: &str,
    ) -> Result<Option<ProductStatus>, IntegrationError> {
        Ok(self.fixtures.product_status.get(product_id).cloned())
    }

    async fn get_active_promotions(&self) -> Result<Vec<Promotion>, IntegrationError> {
        Ok(self.fixtures.promotions.clone())
    }

    async fn get_coupon_info(&self, code: &str) -> Result<Option<CouponInfo>, IntegrationError> {
        Ok(self.fixtures.coupons.get(code).cloned())
    }

    async fn get_refund_policy(&self) -> Result<RefundPolicy, IntegrationError> {
        Ok(self.fixtures.refund_policy.clone())
    }

    async fn get_content_access(&self, user_id: &str) -> Result<ContentAccess, IntegrationError> {
        Ok(self
            .fixtures
            .content_access
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| ContentAccess {
                user_id: user_id.into(),
                products: vec![],
                team_membership: None,
            }))
    }

    async fn get_recent_activity(&self, user_id: &str) -> Result<UserActivity, IntegrationError> {
        Ok(self
            .fixtures
            .activity
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| UserActivity {
                user_id: user_id.into(),
                ..Default::default()
            }))
    }

    async fn get_license_info(
        &self,
        purchase_id: &str,
    ) -> Result<Option<LicenseInfo>, IntegrationError> {
        Ok(self.fixtures.licenses.get(purchase_id).cloned())
    }

    async fn get_app_info(&self) -> Result<AppInfo, IntegrationError> {
        Ok(self.fixtures.app_info.clone())
    }
}

impl FakeApp {
    fn user_exists(&self, user_id: &str) -> ActionResult {
        if self.fixtures.users.iter().any(|u| u.id == user_id) {
            ActionResult::ok()
        } else {
            ActionResult::failed(format!("User not found: {user_id}"))
        }
    }
}

#[async_trait]
impl SupportIntegration for MinimalApp {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        self.0.lookup_user(email).await
    }
    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
        self.0.get_purchases(user_id).await
    }
    async fn revoke_access(&self, p: RevokeAccessParams) -> Result<ActionResult, IntegrationError> {
        self.0.revoke_access(p).await
    }
    async fn transfer_purchase(
        &self,
        p: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        self.0.transfer_purchase(p).await
    }
    async fn generate_magic_link(
        &self,
        p: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        self.0.generate_magic_link(p).await
    }
}

/// The Rust side of the cross-tests, mounted three ways:
/// `/full` (route), `/minimal` (nested router) and `/rotated` (secrets `[primary, previous]`).
pub fn rust_app(fixtures: &Arc<Fixtures>) -> axum::Router {
    let full: Arc<dyn SupportIntegration> = Arc::new(FakeApp {
        fixtures: fixtures.clone(),
    });
    let minimal: Arc<dyn SupportIntegration> = Arc::new(MinimalApp(FakeApp {
        fixtures: fixtures.clone(),
    }));
    let s = &fixtures.secrets;
    axum::Router::new()
        .route(
            "/full",
            SupportHandler::new(full.clone(), vec![s.primary.clone()]).into_method_router(),
        )
        .nest("/minimal", router(minimal, vec![s.primary.clone()]))
        .route(
            "/rotated",
            SupportHandler::new(full, vec![s.primary.clone(), s.previous.clone()])
                .into_method_router(),
        )
}

/// Serves `app` on 127.0.0.1:0; the listener is bound before this returns.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

// ── The call matrix (tests/npm/calls.json) ──────────────────────────────────────────────────

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: String,
    pub target: String,
    pub secret: String,
    pub method: String,
    pub args: Vec<Value>,
    pub expect: Expect,
    #[serde(default)]
    pub rust_handler_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expect {
    /// Success with this value (`{"$fixture": "/json/pointer"}` nodes resolved).
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Value>,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// What the npm client returns instead of throwing on 501 (`requestOptional`).
    #[serde(default, deserialize_with = "present")]
    pub npm_fallback: Option<Value>,
}

/// Distinguishes `"value": null` (Some(Null)) from a missing key (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub fn calls() -> Vec<Call> {
    serde_json::from_str(CALLS_JSON).expect("calls.json")
}

/// Replaces every `{"$fixture": "/pointer"}` by the fixture it points to.
pub fn resolve(value: &Value, fixtures: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("$fixture") => {
            let pointer = map["$fixture"].as_str().expect("pointer string");
            fixtures
                .pointer(pointer)
                .unwrap_or_else(|| panic!("no fixture at {pointer}"))
                .clone()
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, fixtures)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, fixtures)).collect()),
        other => other.clone(),
    }
}

pub fn secret_of<'a>(fixtures: &'a Fixtures, name: &str) -> &'a str {
    match name {
        "primary" => &fixtures.secrets.primary,
        "previous" => &fixtures.secrets.previous,
        "wrong" => &fixtures.secrets.wrong,
        other => panic!("unknown secret {other}"),
    }
}

fn arg<T: DeserializeOwned>(call: &Call, index: usize) -> T {
    serde_json::from_value(call.args[index].clone())
        .unwrap_or_else(|e| panic!("{}: bad argument {index}: {e}", call.id))
}

fn json<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

/// Runs one call of the matrix with the Rust `IntegrationClient`.
pub async fn rust_call(client: &IntegrationClient, call: &Call) -> Result<Value, ClientError> {
    let s = |i| arg::<String>(call, i);
    Ok(match call.method.as_str() {
        "lookupUser" => json(client.lookup_user(&s(0)).await?),
        "getPurchases" => json(client.get_purchases(&s(0)).await?),
        "getSubscriptions" => json(client.get_subscriptions(&s(0)).await?),
        "revokeAccess" => json(client.revoke_access(&arg(call, 0)).await?),
        "transferPurchase" => json(client.transfer_purchase(&arg(call, 0)).await?),
        "generateMagicLink" => json(client.generate_magic_link(&arg(call, 0)).await?),
        "updateEmail" => json(client.update_email(&arg(call, 0)).await?),
        "updateName" => json(client.update_name(&arg(call, 0)).await?),
        "getClaimedSeats" => json(client.get_claimed_seats(&s(0)).await?),
        "searchContent" => json(client.search_content(&arg(call, 0)).await?),
        "getProductStatus" => json(client.get_product_status(&s(0)).await?),
        "getActivePromotions" => json(client.get_active_promotions().await?),
        "getCouponInfo" => json(client.get_coupon_info(&s(0)).await?),
        "getRefundPolicy" => json(client.get_refund_policy().await?),
        "getContentAccess" => json(client.get_content_access(&s(0)).await?),
        "getRecentActivity" => json(client.get_recent_activity(&s(0)).await?),
        "getLicenseInfo" => json(client.get_license_info(&s(0)).await?),
        "getAppInfo" => json(client.get_app_info().await?),
        other => panic!("{}: unknown method {other}", call.id),
    })
}

/// Checks a Rust client result against the expectation of `call`.
pub fn check_rust_result(call: &Call, result: Result<Value, ClientError>, fixtures: &Value) {
    let id = &call.id;
    let e = &call.expect;
    match (&e.value, e.status, result) {
        (Some(expected), _, Ok(value)) => {
            assert_eq!(value, resolve(expected, fixtures), "{id}: value");
        }
        (None, Some(501), Err(ClientError::Unsupported(action))) => {
            assert_eq!(action, call.method, "{id}");
        }
        (None, Some(401), Err(ClientError::Unauthorized { action, message })) => {
            assert_eq!(action, call.method, "{id}");
            assert_eq!(message, e.error, "{id}");
        }
        (
            None,
            Some(status),
            Err(ClientError::Status {
                action,
                status: got,
                message,
            }),
        ) => {
            assert_eq!(action, call.method, "{id}");
            assert_eq!(got, status, "{id}");
            assert_eq!(message, e.error, "{id}");
        }
        (_, _, other) => panic!("{id}: expected {e:?}, got {other:?}"),
    }
}

/// A Rust client for `base + call.target` with the call's secret.
pub fn rust_client(base: &str, call: &Call, fixtures: &Fixtures) -> IntegrationClient {
    IntegrationClient::new(
        &format!("{base}{}", call.target),
        secret_of(fixtures, &call.secret),
    )
    .expect("client")
}

/// The name of the single positional parameter of a method, as the npm client sends it.
pub fn single_param_name(method: &str) -> Option<&'static str> {
    Some(match method {
        "lookupUser" => "email",
        "getPurchases" | "getSubscriptions" | "getContentAccess" | "getRecentActivity" => "userId",
        "getClaimedSeats" => "bulkCouponId",
        "getProductStatus" => "productId",
        "getCouponInfo" => "code",
        "getLicenseInfo" => "purchaseId",
        _ => return None,
    })
}

/// The raw body the npm client sends for a call: `JSON.stringify({action, ...payload})`.
pub fn npm_body(call: &Call) -> String {
    let mut object = serde_json::Map::new();
    object.insert("action".into(), Value::String(call.method.clone()));
    match (single_param_name(&call.method), call.args.first()) {
        (Some(name), Some(value)) => {
            object.insert(name.into(), value.clone());
        }
        (None, Some(Value::Object(params))) => {
            object.extend(params.clone());
        }
        (None, None) => {}
        other => panic!("{}: unexpected args {other:?}", call.id),
    }
    Value::Object(object).to_string()
}
