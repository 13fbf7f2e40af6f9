//! [`FakeStripe`]: a local fake of Stripe's API speaking Stripe's wire format, for the platform's
//! tests (`TestApp`) and the Stripe adapter's own tests (crates/connectors/tests/stripe_client.rs).
//!
//! - Form-encoded `POST /v1/refunds` by `charge` or `payment_intent` (both or neither refused as
//!   Stripe does), with `Idempotency-Key` replay per account (same key and parameters → the stored
//!   answer with `Idempotent-Replayed: true`; other parameters → `idempotency_error`),
//!   `reverse_transfer` / `refund_application_fee` only on the platform (a reversal id when the
//!   transfer is reversed), amounts checked against what is left (`amount_too_large`,
//!   `charge_already_refunded`, `parameter_invalid_integer`).
//! - Charges live on their account only (`Stripe-Account`; elsewhere `resource_missing`) with
//!   their amount, currency, customer and payment intent ([`FakeStripe::put_charge`],
//!   [`FakeStripe::add_charge`], [`FakeStripe::set_charge`]); any other `ch_…` is known with
//!   [`FakeStripe::charge_amount`] cents in `usd`. Card errors per charge or for the next refund.
//! - `GET /v1/charges/{id}` and the lists `GET /v1/charges?customer=`,
//!   `/v1/refunds?charge=|payment_intent=`, `/v1/subscriptions?customer=` in Stripe's list format
//!   (`{"object":"list","data":[…],"has_more":…,"url"}`, newest first, on the caller's account).
//! - Connect's `POST /oauth/token` exchanges a code registered with [`FakeStripe::authorize`] once.
//! - Errors are Stripe's body `{"error":{"type","code","message","param","doc_url",…}}`; a wrong
//!   secret key is 401; outages ([`FakeStripe::fail_next_requests`]) and lost answers
//!   ([`FakeStripe::hold_refund_responses`]) on request. Every request is recorded
//!   ([`StripeCall`]) with its query, form and headers.
//!
//! Objects are Stripe's own API fixtures (`crates/testkit/fixtures/stripe/*.json`, from
//! stripe/openapi `fixtures3.json`) with our ids.

use super::{lock, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct StripeCall {
    pub method: String,
    pub path: String,
    /// The query string's pairs.
    pub query: Vec<(String, String)>,
    /// The form body's pairs.
    pub form: Vec<(String, String)>,
    pub stripe_account: Option<String>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub stripe_version: Option<String>,
}

impl StripeCall {
    /// A form parameter.
    pub fn param(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Stripe's own refund fixture (stripe/openapi `fixtures3.json`).
const REFUND_FIXTURE: &str = include_str!("../../fixtures/stripe/refund.json");
/// Stripe's own charge and subscription fixtures, for the charge and the list endpoints.
const CHARGE_FIXTURE: &str = include_str!("../../fixtures/stripe/charge.json");
const SUBSCRIPTION_FIXTURE: &str = include_str!("../../fixtures/stripe/subscription.json");

/// A charge the fake knows ([`FakeStripe::put_charge`]).
#[derive(Debug, Clone, Default)]
pub struct StripeCharge {
    pub id: String,
    /// `None`: on the platform; otherwise the connected account it lives on.
    pub account: Option<String>,
    /// Listed by `GET /v1/charges?customer=` only when set.
    pub customer: Option<String>,
    /// Refunds may name the charge by this payment intent.
    pub payment_intent: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// Lowercase ISO code (`usd`, `jpy`).
    pub currency: String,
    /// Every refund of this charge fails with this card error `(code, message)` (HTTP 402).
    pub card_error: Option<(String, String)>,
    /// `billing_details.email`.
    pub email: Option<String>,
}

type Replays = BTreeMap<(Option<String>, String), (Vec<(String, String)>, u16, Value)>;

#[derive(Default)]
struct StripeState {
    secret_key: String,
    charge_amount: i64,
    calls: Vec<StripeCall>,
    /// `(account, refund)`.
    refunds: Vec<(Option<String>, Value)>,
    refunded: BTreeMap<String, i64>,
    idempotency: Replays,
    card_errors: Vec<(String, String)>,
    next: u32,
    charges: Vec<StripeCharge>,
    /// `(account, customer, subscription id, status)`.
    subscriptions: Vec<(Option<String>, String, String, String)>,
    /// Connect OAuth authorization codes not yet exchanged → the account they connect.
    oauth_codes: BTreeMap<String, String>,
    /// While set, refund requests are processed (the refund exists, the idempotent replay is
    /// stored) but not answered: the caller never learns the outcome ([`FakeStripe::hold_refund_responses`]).
    hold: bool,
    /// Answer the next N authenticated API requests with Stripe's 500 `api_error`.
    outage: u32,
    /// Bumped on every request and on release, for tests that wait.
    signal: Signal,
}

/// A change counter tests can wait on.
struct Signal(tokio::sync::watch::Sender<u64>);

impl Default for Signal {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(0).0)
    }
}

impl Signal {
    fn bump(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// A fake of Stripe's refunds, charges, subscriptions and Connect OAuth APIs (see the module).
#[derive(Clone, Default)]
pub struct FakeStripe(Arc<Mutex<StripeState>>);

/// Stripe's error body; `doc_url` follows the code as Stripe's does.
fn stripe_error(
    status: u16,
    type_: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> (u16, Value) {
    let mut e = json!({
        "type": type_,
        "message": message,
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_fake",
    });
    if let Some(c) = code {
        e["code"] = json!(c);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            c.replace('_', "-")
        ));
    }
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (status, json!({"error": e}))
}

fn invalid(code: Option<&str>, message: &str, param: Option<&str>) -> (u16, Value) {
    stripe_error(400, "invalid_request_error", code, message, param)
}

fn stripe_respond(status: u16, body: &Value, replayed: bool) -> Response {
    let mut res = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("request-id"), "req_fake"),
        ],
        body.to_string(),
    )
        .into_response();
    if replayed {
        res.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    res
}

impl FakeStripe {
    /// Start on a free port; returns the fake and its base URL (`http://127.0.0.1:PORT/`).
    /// Only `Bearer <secret_key>` is accepted.
    pub async fn start(secret_key: &str) -> std::io::Result<(Self, String)> {
        let fake = Self::default();
        {
            let mut st = lock(&fake.0);
            st.secret_key = secret_key.into();
            st.charge_amount = 100_000;
        }
        let app = Router::new().fallback(stripe_api).with_state(fake.clone());
        let url = serve(app).await?;
        Ok((fake, format!("{url}/")))
    }

    pub fn calls(&self) -> Vec<StripeCall> {
        lock(&self.0).calls.clone()
    }

    /// Refunds created (replays excluded), on any account.
    pub fn refunds(&self) -> Vec<Value> {
        lock(&self.0)
            .refunds
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// From now on refunds are made but their responses are held back until
    /// [`release_refund_responses`](Self::release_refund_responses): as when Stripe did the work
    /// and the connection died before the answer (a crash, a timeout).
    pub fn hold_refund_responses(&self) {
        lock(&self.0).hold = true;
    }

    /// Answer the held refund requests (if their callers are still there) and stop holding.
    pub fn release_refund_responses(&self) {
        let mut st = lock(&self.0);
        st.hold = false;
        st.signal.bump();
    }

    /// Wait until `POST /v1/refunds` has been requested `n` times (replays included).
    pub async fn wait_for_refund_requests(
        &self,
        n: usize,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        let mut rx = lock(&self.0).signal.0.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self
                .calls()
                .iter()
                .filter(|c| c.method == "POST" && c.path == "/v1/refunds")
                .count();
            if seen >= n {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(format!("{seen} of {n} refund requests arrived")),
            }
        }
    }

    /// The next refund creation fails with this card error (`card_error`, HTTP 402).
    pub fn fail_next_refund(&self, code: &str, message: &str) {
        lock(&self.0)
            .card_errors
            .push((code.to_string(), message.to_string()));
    }

    /// The next `n` API requests fail with Stripe's 500 `api_error` (an outage).
    pub fn fail_next_requests(&self, n: u32) {
        lock(&self.0).outage = n;
    }

    /// The amount of every charge not registered, in cents (100 000 unless set).
    pub fn charge_amount(&self, cents: i64) {
        lock(&self.0).charge_amount = cents;
    }

    /// Register `charge` (replacing an earlier one with its id); the newest is listed first.
    pub fn put_charge(&self, mut charge: StripeCharge) {
        charge.currency = charge.currency.to_ascii_lowercase();
        let mut st = lock(&self.0);
        st.charges.retain(|c| c.id != charge.id);
        st.charges.push(charge);
    }

    /// A charge of `customer` on `account` (`None`: the platform) that `GET /v1/charges` lists,
    /// of `amount` cents in `usd`.
    pub fn add_charge(&self, account: Option<&str>, id: &str, customer: &str, amount: i64) {
        self.put_charge(StripeCharge {
            id: id.into(),
            account: account.map(str::to_string),
            customer: Some(customer.into()),
            amount,
            currency: "usd".into(),
            ..StripeCharge::default()
        });
    }

    /// The charge `id` on `account` (`None`: the platform), of `amount` minor units of
    /// `currency`, without a customer; replaces an earlier registration of the same id.
    pub fn set_charge(&self, account: Option<&str>, id: &str, amount: i64, currency: &str) {
        self.put_charge(StripeCharge {
            id: id.into(),
            account: account.map(str::to_string),
            amount,
            currency: currency.into(),
            ..StripeCharge::default()
        });
    }

    /// Minor units refunded so far on `charge` (by anyone).
    pub fn refunded(&self, charge: &str) -> i64 {
        lock(&self.0).refunded.get(charge).copied().unwrap_or(0)
    }

    /// A subscription of `customer` on `account` that `GET /v1/subscriptions` lists.
    pub fn add_subscription(&self, account: Option<&str>, customer: &str, id: &str, status: &str) {
        lock(&self.0).subscriptions.push((
            account.map(str::to_string),
            customer.into(),
            id.into(),
            status.into(),
        ));
    }

    /// A Connect OAuth authorization code (what Stripe puts on the redirect after the user
    /// accepts) that `POST /oauth/token` exchanges, once, for `account`.
    pub fn authorize(&self, code: &str, account: &str) {
        lock(&self.0)
            .oauth_codes
            .insert(code.into(), account.into());
    }
}

fn stripe_list(url: &str, data: Vec<Value>) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

fn query_param(query: &[(String, String)], k: &str) -> Option<String> {
    query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

/// The charge `id` as seen from `account`: a registered one on its own account only; any
/// other `ch_…` is known with the default amount, in `usd`.
fn find_charge(st: &StripeState, account: Option<&String>, id: &str) -> Option<StripeCharge> {
    match st.charges.iter().rev().find(|c| c.id == id) {
        Some(c) if c.account.as_ref() == account => Some(c.clone()),
        Some(_) => None,
        None => id.starts_with("ch_").then(|| StripeCharge {
            account: account.cloned(),
            id: id.into(),
            amount: st.charge_amount,
            currency: "usd".into(),
            ..StripeCharge::default()
        }),
    }
}

/// The charge behind `payment_intent`, on `account` only.
fn find_by_payment_intent(
    st: &StripeState,
    account: Option<&String>,
    pi: &str,
) -> Option<StripeCharge> {
    st.charges
        .iter()
        .rev()
        .find(|c| c.payment_intent.as_deref() == Some(pi) && c.account.as_ref() == account)
        .cloned()
}

fn no_such(what: &str, id: &str, param: &str) -> (u16, Value) {
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {what}: '{id}'"),
        Some(param),
    )
}

fn charge_json(st: &StripeState, c: &StripeCharge) -> Value {
    let mut v: Value = serde_json::from_str(CHARGE_FIXTURE).unwrap_or_else(|_| json!({}));
    let refunded = st.refunded.get(&c.id).copied().unwrap_or(0);
    v["id"] = json!(c.id);
    v["amount"] = json!(c.amount);
    v["currency"] = json!(c.currency);
    v["amount_captured"] = json!(c.amount);
    v["amount_refunded"] = json!(refunded);
    v["refunded"] = json!(refunded >= c.amount);
    v["captured"] = json!(true);
    v["paid"] = json!(true);
    v["status"] = json!("succeeded");
    v["customer"] = json!(c.customer);
    v["payment_intent"] = json!(c.payment_intent);
    v["billing_details"]["email"] = json!(c.email);
    v["created"] = json!(1_700_000_000);
    v["refunds"]["url"] = json!(format!("/v1/charges/{}/refunds", c.id));
    v
}

/// `GET /v1/charges|refunds|subscriptions` in Stripe's list format and `GET /v1/charges/{id}`.
fn list_endpoint(
    st: &StripeState,
    path: &str,
    account: Option<&String>,
    query: &[(String, String)],
) -> Option<(u16, Value)> {
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let data: Vec<Value> = match path {
        "/v1/charges" => {
            let customer = query_param(query, "customer");
            st.charges
                .iter()
                .rev()
                .filter(|c| {
                    c.account.as_ref() == account && c.customer.is_some() && c.customer == customer
                })
                .map(|c| charge_json(st, c))
                .collect()
        }
        "/v1/refunds" => {
            let charge = query_param(query, "charge");
            let pi = query_param(query, "payment_intent");
            st.refunds
                .iter()
                .rev()
                .filter(|(a, r)| {
                    a.as_ref() == account
                        && (charge.as_deref().is_some_and(|c| r["charge"] == c)
                            || pi.as_deref().is_some_and(|p| r["payment_intent"] == p))
                })
                .map(|(_, r)| r.clone())
                .collect()
        }
        "/v1/subscriptions" => {
            let customer = query_param(query, "customer");
            st.subscriptions
                .iter()
                .rev()
                .filter(|(a, c, _, _)| a.as_ref() == account && Some(c) == customer.as_ref())
                .map(|(_, c, id, status)| {
                    let mut v: Value =
                        serde_json::from_str(SUBSCRIPTION_FIXTURE).unwrap_or_else(|_| json!({}));
                    v["id"] = json!(id);
                    v["customer"] = json!(c);
                    v["status"] = json!(status);
                    v["cancel_at_period_end"] = json!(false);
                    v
                })
                .collect()
        }
        _ => {
            let id = path.strip_prefix("/v1/charges/")?;
            if id.is_empty() || id.contains('/') {
                return None;
            }
            return Some(match find_charge(st, account, id) {
                Some(c) => (200, charge_json(st, &c)),
                None => no_such("charge", id, "id"),
            });
        }
    };
    let has_more = data.len() > limit;
    let mut body = stripe_list(path, data.into_iter().take(limit).collect());
    body["has_more"] = json!(has_more);
    Some((200, body))
}

/// `POST /oauth/token` (Connect): the platform's secret key as HTTP Basic user (or Bearer);
/// `grant_type=authorization_code&code=…`. Errors are OAuth's `{"error","error_description"}`.
fn oauth_token(
    st: &mut StripeState,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> (u16, Value) {
    let oauth_err = |status: u16, code: &str, description: &str| {
        (
            status,
            json!({"error": code, "error_description": description}),
        )
    };
    let key_ok = match authorization {
        Some(a) if a.starts_with("Bearer ") => a["Bearer ".len()..] == st.secret_key,
        Some(a) if a.starts_with("Basic ") => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(a["Basic ".len()..].trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|userpass| userpass == format!("{}:", st.secret_key))
        }
        _ => false,
    };
    let client_secret_ok = form
        .iter()
        .any(|(k, v)| k == "client_secret" && *v == st.secret_key);
    if !key_ok && !client_secret_ok {
        return oauth_err(
            401,
            "invalid_client",
            "No authentication was provided. Send your secret API key using the Authorization header, or as a client_secret POST parameter.",
        );
    }
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("authorization_code") {
        return oauth_err(
            400,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token grant types are supported.",
        );
    }
    let Some(code) = get("code") else {
        return oauth_err(400, "invalid_request", "No authorization code provided");
    };
    let Some(account) = st.oauth_codes.remove(&code) else {
        return oauth_err(
            400,
            "invalid_grant",
            &format!("Authorization code does not exist: {code}"),
        );
    };
    (
        200,
        json!({
            "access_token": format!("sk_test_fake_access_{account}"),
            "livemode": false,
            "refresh_token": format!("rt_fake_{account}"),
            "token_type": "bearer",
            "stripe_publishable_key": format!("pk_test_fake_{account}"),
            "stripe_user_id": account,
            "scope": "read_write"
        }),
    )
}

fn create_refund(
    st: &mut StripeState,
    account: Option<&String>,
    form: &[(String, String)],
) -> (u16, Value) {
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let found = match (get("charge"), get("payment_intent")) {
        (Some(id), None) => {
            find_charge(st, account, &id).ok_or_else(|| no_such("charge", &id, "charge"))
        }
        (None, Some(id)) => find_by_payment_intent(st, account, &id)
            .ok_or_else(|| no_such("payment_intent", &id, "payment_intent")),
        (Some(_), Some(_)) => {
            return invalid(
                None,
                "You cannot specify both `charge` and `payment_intent`.",
                Some("payment_intent"),
            );
        }
        (None, None) => {
            return invalid(
                Some("parameter_missing"),
                "One of the following params should be provided for this request: payment_intent or charge.",
                None,
            );
        }
    };
    let known = match found {
        Ok(c) => c,
        Err(e) => return e,
    };
    if let Some((code, message)) = &known.card_error {
        return stripe_error(402, "card_error", Some(code), message, None);
    }
    if !st.card_errors.is_empty() {
        let (code, message) = st.card_errors.remove(0);
        return stripe_error(402, "card_error", Some(&code), &message, None);
    }
    let charge = known.id.clone();
    let left = known.amount - st.refunded.get(&charge).copied().unwrap_or(0);
    if left <= 0 {
        return invalid(
            Some("charge_already_refunded"),
            &format!("Charge {charge} has already been refunded."),
            None,
        );
    }
    let amount = match get("amount").map(|a| a.parse::<i64>()) {
        None => left,
        Some(Ok(a)) if a > 0 && a <= left => a,
        Some(Ok(a)) if a > left => {
            return invalid(
                Some("amount_too_large"),
                &format!(
                    "Refund amount (${:.2}) is greater than unrefunded amount on charge (${:.2})",
                    a as f64 / 100.0,
                    left as f64 / 100.0
                ),
                Some("amount"),
            );
        }
        _ => {
            return invalid(
                Some("parameter_invalid_integer"),
                "Invalid integer",
                Some("amount"),
            );
        }
    };
    for flag in ["reverse_transfer", "refund_application_fee"] {
        if get(flag).is_some() && account.is_some() {
            return invalid(
                None,
                &format!("`{flag}` can only be used by the platform for destination charges."),
                Some(flag),
            );
        }
    }
    *st.refunded.entry(charge.clone()).or_default() += amount;
    st.next += 1;
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let mut r: Value = serde_json::from_str(REFUND_FIXTURE).unwrap_or_else(|_| json!({}));
    r["id"] = json!(format!("re_fake{:04}", st.next));
    r["amount"] = json!(amount);
    r["charge"] = json!(charge);
    r["currency"] = json!(known.currency);
    r["payment_intent"] = json!(known.payment_intent);
    r["created"] = json!(1_700_000_000 + i64::from(st.next));
    r["reason"] = json!(get("reason"));
    r["status"] = json!("succeeded");
    r["metadata"] = Value::Object(metadata);
    if get("reverse_transfer").as_deref() == Some("true") {
        r["transfer_reversal"] = json!(format!("trr_fake{:04}", st.next));
    }
    st.refunds.push((account.cloned(), r.clone()));
    (200, r)
}

async fn stripe_api(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match stripe_answer(&fake, &method, &uri, &headers, &body) {
        Answer::Now(res) => res,
        Answer::Held(status, body, rx) => {
            // The refund exists; the answer waits (and is lost if the caller dies meanwhile).
            wait_for_release(&fake, rx).await;
            stripe_respond(status, &body, false)
        }
    }
}

/// What the fake Stripe answers: now, or once held responses are released.
enum Answer {
    Now(Response),
    Held(u16, Value, tokio::sync::watch::Receiver<u64>),
}

fn stripe_answer(
    fake: &FakeStripe,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let call = StripeCall {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        form: form.clone(),
        stripe_account: h("stripe-account"),
        idempotency_key: h("idempotency-key"),
        authorization: h("authorization"),
        content_type: h("content-type"),
        stripe_version: h("stripe-version"),
    };
    let now = |(s, b): (u16, Value)| Answer::Now(stripe_respond(s, &b, false));
    let mut st = lock(&fake.0);
    st.calls.push(call.clone());
    st.signal.bump();
    if (method.as_str(), uri.path()) == ("POST", "/oauth/token") {
        return now(oauth_token(&mut st, call.authorization.as_deref(), &form));
    }
    if call.authorization != Some(format!("Bearer {}", st.secret_key)) {
        return now(stripe_error(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided: sk_test_****",
            None,
        ));
    }
    if st.outage > 0 {
        st.outage -= 1;
        return now(stripe_error(
            500,
            "api_error",
            None,
            "An unknown error occurred while processing your request.",
            None,
        ));
    }
    let account = call.stripe_account.clone();
    if method == Method::GET
        && let Some(answer) = list_endpoint(&st, uri.path(), account.as_ref(), &call.query)
    {
        return now(answer);
    }
    if (method.as_str(), uri.path()) != ("POST", "/v1/refunds") {
        return now(stripe_error(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({method} {}).", uri.path()),
            None,
        ));
    }
    let Some(key) = call.idempotency_key.clone() else {
        return now(create_refund(&mut st, account.as_ref(), &form));
    };
    let mut sorted = form.clone();
    sorted.sort();
    let slot = (account.clone(), key.clone());
    if let Some((params, status, body)) = st.idempotency.get(&slot).cloned() {
        if params == sorted {
            return Answer::Now(stripe_respond(status, &body, true));
        }
        return now(stripe_error(
            400,
            "idempotency_error",
            None,
            &format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
            None,
        ));
    }
    let (status, body) = create_refund(&mut st, account.as_ref(), &form);
    st.idempotency.insert(slot, (sorted, status, body.clone()));
    if st.hold {
        return Answer::Held(status, body, st.signal.0.subscribe());
    }
    Answer::Now(stripe_respond(status, &body, false))
}

async fn wait_for_release(fake: &FakeStripe, mut rx: tokio::sync::watch::Receiver<u64>) {
    loop {
        let holding = lock(&fake.0).hold;
        if !holding || rx.changed().await.is_err() {
            return;
        }
    }
}
