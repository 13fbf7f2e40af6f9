//! The Stripe adapter (async-stripe) against a local fake of Stripe's API that speaks Stripe's
//! wire format: form-encoded `POST /v1/refunds`, `GET` lists with `{"object":"list",…}`,
//! `Stripe-Account` for connected accounts, `Idempotency-Key` replay, and error bodies
//! `{"error":{"type","code","message","param"}}`. Objects are Stripe's own API fixtures
//! (`crates/testkit/fixtures/stripe/*.json`, from stripe/openapi `fixtures3.json`) with our ids.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support_connectors::stripe::StripePayments;
use support_core::payments::*;
use support_core::settings::Secret;

const SK: &str = "sk_test_fake_platform_key";
const CHARGE_FIXTURE: &str = include_str!("../../testkit/fixtures/stripe/charge.json");
const REFUND_FIXTURE: &str = include_str!("../../testkit/fixtures/stripe/refund.json");
const SUBSCRIPTION_FIXTURE: &str = include_str!("../../testkit/fixtures/stripe/subscription.json");

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    stripe_account: Option<String>,
    idempotency_key: Option<String>,
    authorization: Option<String>,
    content_type: Option<String>,
    stripe_version: Option<String>,
}

#[derive(Debug, Clone)]
struct FakeCharge {
    id: String,
    payment_intent: Option<String>,
    customer: String,
    /// `None` = on the platform.
    account: Option<String>,
    amount: i64,
    /// Lowercase ISO code (`usd`, `jpy`).
    currency: &'static str,
    refunded: i64,
    /// Refunds of this charge fail with this card error.
    card_error: Option<(&'static str, &'static str)>,
}

/// (account, key) -> (sorted params, status, body): what Stripe replays for a key.
type IdempotencyStore = BTreeMap<(Option<String>, String), (Vec<(String, String)>, u16, Value)>;

#[derive(Default)]
struct Fake {
    requests: Vec<Recorded>,
    charges: Vec<FakeCharge>,
    refunds: Vec<(Option<String>, Value)>,
    idempotency: IdempotencyStore,
    next: u32,
}

#[derive(Clone, Default)]
struct FakeStripe(Arc<Mutex<Fake>>);

impl FakeStripe {
    fn requests(&self) -> Vec<Recorded> {
        self.0.lock().unwrap().requests.clone()
    }
    fn add_charge(&self, c: FakeCharge) {
        self.0.lock().unwrap().charges.push(c);
    }
}

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
        e["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{c}"));
    }
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (status, json!({"error": e}))
}

fn respond(status: u16, body: &Value, replayed: bool) -> Response {
    let mut res = (
        StatusCode::from_u16(status).unwrap(),
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("request-id"), "req_fake"),
        ],
        body.to_string(),
    )
        .into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", "true".parse().unwrap());
    }
    res
}

fn list(url: &str, data: Vec<Value>) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

fn charge_json(c: &FakeCharge) -> Value {
    let mut v: Value = serde_json::from_str(CHARGE_FIXTURE).unwrap();
    v["id"] = json!(c.id);
    v["amount"] = json!(c.amount);
    v["currency"] = json!(c.currency);
    v["amount_captured"] = json!(c.amount);
    v["amount_refunded"] = json!(c.refunded);
    v["refunded"] = json!(c.refunded >= c.amount);
    v["captured"] = json!(true);
    v["customer"] = json!(c.customer);
    v["payment_intent"] = json!(c.payment_intent);
    v["created"] = json!(1_700_000_000);
    v["refunds"]["url"] = json!(format!("/v1/charges/{}/refunds", c.id));
    v
}

fn pairs(s: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(s).unwrap_or_default()
}

fn get_param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn create_refund(
    st: &mut Fake,
    account: Option<&String>,
    form: &[(String, String)],
) -> (u16, Value) {
    let charge_id = get_param(form, "charge");
    let pi = get_param(form, "payment_intent");
    let found = match (charge_id, pi) {
        (Some(id), None) => st.charges.iter_mut().find(|c| c.id == id),
        (None, Some(id)) => st
            .charges
            .iter_mut()
            .find(|c| c.payment_intent.as_deref() == Some(id)),
        (Some(_), Some(_)) => {
            return stripe_error(
                400,
                "invalid_request_error",
                None,
                "You cannot specify both `charge` and `payment_intent`.",
                Some("payment_intent"),
            );
        }
        (None, None) => {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                "One of the following params should be provided for this request: payment_intent or charge.",
                None,
            );
        }
    };
    let (param, id) = match (charge_id, pi) {
        (Some(c), _) => ("charge", c),
        (_, Some(p)) => ("payment_intent", p),
        _ => unreachable!(),
    };
    let Some(c) = found.filter(|c| c.account.as_ref() == account) else {
        let what = if param == "charge" {
            "charge"
        } else {
            "payment_intent"
        };
        return stripe_error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {what}: '{id}'"),
            Some(param),
        );
    };
    if let Some((code, message)) = c.card_error {
        return stripe_error(402, "card_error", Some(code), message, None);
    }
    let left = c.amount - c.refunded;
    if left <= 0 {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            &format!("Charge {} has already been refunded.", c.id),
            None,
        );
    }
    let amount = match get_param(form, "amount") {
        Some(a) => match a.parse::<i64>() {
            Ok(a) if a > 0 && a <= left => a,
            Ok(a) if a > left => {
                return stripe_error(
                    400,
                    "invalid_request_error",
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
                return stripe_error(
                    400,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    "Invalid integer",
                    Some("amount"),
                );
            }
        },
        None => left,
    };
    for flag in ["reverse_transfer", "refund_application_fee"] {
        if get_param(form, flag).is_some() && account.is_some() {
            return stripe_error(
                400,
                "invalid_request_error",
                None,
                &format!("`{flag}` can only be used by the platform for destination charges."),
                Some(flag),
            );
        }
    }
    c.refunded += amount;
    let (charge, payment_intent) = (c.id.clone(), c.payment_intent.clone());
    st.next += 1;
    let mut r: Value = serde_json::from_str(REFUND_FIXTURE).unwrap();
    r["id"] = json!(format!("re_fake{:04}", st.next));
    r["amount"] = json!(amount);
    r["charge"] = json!(charge);
    r["payment_intent"] = json!(payment_intent);
    r["created"] = json!(1_700_000_000 + i64::from(st.next));
    r["reason"] = json!(get_param(form, "reason"));
    r["status"] = json!("succeeded");
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    r["metadata"] = Value::Object(metadata);
    if get_param(form, "reverse_transfer") == Some("true") {
        r["transfer_reversal"] = json!(format!("trr_fake{:04}", st.next));
    }
    st.refunds.push((account.cloned(), r.clone()));
    (200, r)
}

async fn handle(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let query = pairs(query.unwrap_or_default().as_bytes());
    let form = pairs(&body);
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: query.clone(),
        form: form.clone(),
        stripe_account: h("stripe-account"),
        idempotency_key: h("idempotency-key"),
        authorization: h("authorization"),
        content_type: h("content-type"),
        stripe_version: h("stripe-version"),
    };
    let mut st = fake.0.lock().unwrap();
    st.requests.push(rec.clone());
    if rec.authorization.as_deref() != Some(&format!("Bearer {SK}")) {
        let (s, b) = stripe_error(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided: sk_test_****",
            None,
        );
        return respond(s, &b, false);
    }
    let account = rec.stripe_account.clone();
    match (method.as_str(), uri.path()) {
        ("POST", "/v1/refunds") => {
            if let Some(key) = rec.idempotency_key.clone() {
                let mut sorted = form.clone();
                sorted.sort();
                if let Some((params, status, body)) =
                    st.idempotency.get(&(account.clone(), key.clone())).cloned()
                {
                    if params == sorted {
                        return respond(status, &body, true);
                    }
                    let (s, b) = stripe_error(
                        400,
                        "idempotency_error",
                        None,
                        &format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                        ),
                        None,
                    );
                    return respond(s, &b, false);
                }
                let (status, body) = create_refund(&mut st, account.as_ref(), &form);
                st.idempotency
                    .insert((account, key), (sorted, status, body.clone()));
                return respond(status, &body, false);
            }
            let (status, body) = create_refund(&mut st, account.as_ref(), &form);
            respond(status, &body, false)
        }
        ("GET", "/v1/charges") => {
            let customer = get_param(&query, "customer");
            let data: Vec<Value> = st
                .charges
                .iter()
                .filter(|c| c.account == account && Some(c.customer.as_str()) == customer)
                .map(charge_json)
                .collect();
            respond(200, &list("/v1/charges", data), false)
        }
        ("GET", "/v1/refunds") => {
            let charge = get_param(&query, "charge");
            let pi = get_param(&query, "payment_intent");
            let data: Vec<Value> = st
                .refunds
                .iter()
                .rev()
                .filter(|(a, r)| {
                    *a == account
                        && (charge.is_some_and(|c| r["charge"] == c)
                            || pi.is_some_and(|p| r["payment_intent"] == p))
                })
                .map(|(_, r)| r.clone())
                .collect();
            respond(200, &list("/v1/refunds", data), false)
        }
        ("GET", path) if path.starts_with("/v1/charges/") => {
            // Retrieve a charge: only on the account it lives on (`Stripe-Account`).
            let id = &path["/v1/charges/".len()..];
            match st
                .charges
                .iter()
                .find(|c| c.id == id && c.account == account)
            {
                Some(c) => respond(200, &charge_json(c), false),
                None => {
                    let (s, b) = stripe_error(
                        404,
                        "invalid_request_error",
                        Some("resource_missing"),
                        &format!("No such charge: '{id}'"),
                        Some("id"),
                    );
                    respond(s, &b, false)
                }
            }
        }
        ("GET", "/v1/subscriptions") => {
            let customer = get_param(&query, "customer").unwrap_or_default();
            let data = if customer == "cus_subscriber" && account.is_some() {
                let mut s: Value = serde_json::from_str(SUBSCRIPTION_FIXTURE).unwrap();
                s["id"] = json!("sub_fake1");
                s["customer"] = json!(customer);
                s["status"] = json!("active");
                s["cancel_at_period_end"] = json!(false);
                vec![s]
            } else {
                vec![]
            };
            respond(200, &list("/v1/subscriptions", data), false)
        }
        _ => {
            let (s, b) = stripe_error(
                404,
                "invalid_request_error",
                None,
                &format!("Unrecognized request URL ({} {}).", method, uri.path()),
                None,
            );
            respond(s, &b, false)
        }
    }
}

async fn start() -> (FakeStripe, StripePayments) {
    let fake = FakeStripe::default();
    let app = Router::new()
        .route("/v1/refunds", post(handle).get(handle))
        .route("/v1/charges", get(handle))
        .route("/v1/subscriptions", get(handle))
        .fallback(handle)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = StripePayments::new(&Secret::new(SK), &url, Duration::from_secs(10)).unwrap();
    fake.add_charge(FakeCharge {
        id: "ch_direct1".into(),
        payment_intent: Some("pi_direct1".into()),
        customer: "cus_jane".into(),
        account: Some("acct_product1".into()),
        amount: 10_000,
        currency: "usd",
        refunded: 0,
        card_error: None,
    });
    fake.add_charge(FakeCharge {
        id: "ch_dest1".into(),
        payment_intent: Some("pi_dest1".into()),
        customer: "cus_jane".into(),
        account: None,
        amount: 5_000,
        currency: "usd",
        refunded: 0,
        card_error: None,
    });
    fake.add_charge(FakeCharge {
        id: "ch_yen1".into(),
        payment_intent: None,
        customer: "cus_kenji".into(),
        account: Some("acct_product1".into()),
        amount: 12_000,
        currency: "jpy",
        refunded: 0,
        card_error: None,
    });
    fake.add_charge(FakeCharge {
        id: "ch_expired_card".into(),
        payment_intent: None,
        customer: "cus_jane".into(),
        account: Some("acct_product1".into()),
        amount: 1_000,
        currency: "usd",
        refunded: 0,
        card_error: Some((
            "expired_card",
            "The refund could not be processed because the card has expired.",
        )),
    });
    (fake, client)
}

fn refund(
    target: RefundTarget,
    location: ChargeLocation,
    amount: Option<i64>,
    key: &str,
) -> RefundRequest {
    RefundRequest {
        target,
        location,
        amount_cents: amount,
        reason: Some(RefundReason::RequestedByCustomer),
        metadata: BTreeMap::from([("action_id".to_string(), "act_1".to_string())]),
        idempotency_key: key.into(),
    }
}

fn direct() -> ChargeLocation {
    ChargeLocation::Direct {
        account: "acct_product1".into(),
    }
}

#[tokio::test]
async fn refund_a_direct_charge_on_the_connected_account() {
    let (fake, stripe) = start().await;
    let r = stripe
        .refund(&refund(
            RefundTarget::Charge("ch_direct1".into()),
            direct(),
            Some(2500),
            "act_1:refund",
        ))
        .await
        .unwrap();
    assert!(r.id.starts_with("re_fake"));
    assert_eq!(r.amount_cents, 2500);
    assert_eq!(r.currency, "usd");
    assert_eq!(r.status.as_deref(), Some("succeeded"));
    assert_eq!(r.charge.as_deref(), Some("ch_direct1"));
    assert_eq!(r.reason.as_deref(), Some("requested_by_customer"));
    assert_eq!(
        r.metadata.get("action_id").map(String::as_str),
        Some("act_1")
    );

    let req = fake.requests().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/refunds")
    );
    assert_eq!(req.stripe_account.as_deref(), Some("acct_product1"));
    assert_eq!(req.idempotency_key.as_deref(), Some("act_1:refund"));
    assert_eq!(
        req.authorization.as_deref(),
        Some("Bearer sk_test_fake_platform_key")
    );
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(req.stripe_version.is_some());
    let mut form = req.form.clone();
    form.sort();
    assert_eq!(
        form,
        [
            ("amount", "2500"),
            ("charge", "ch_direct1"),
            ("metadata[action_id]", "act_1"),
            ("reason", "requested_by_customer"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test]
async fn refund_by_payment_intent_without_amount_refunds_the_rest() {
    let (fake, stripe) = start().await;
    let r = stripe
        .refund(&refund(
            RefundTarget::PaymentIntent("pi_direct1".into()),
            direct(),
            None,
            "k-pi-1",
        ))
        .await
        .unwrap();
    assert_eq!(r.amount_cents, 10_000);
    assert_eq!(r.payment_intent.as_deref(), Some("pi_direct1"));
    let req = fake.requests().pop().unwrap();
    assert_eq!(get_param(&req.form, "payment_intent"), Some("pi_direct1"));
    assert_eq!(get_param(&req.form, "charge"), None);
    assert_eq!(get_param(&req.form, "amount"), None);

    // Now fully refunded: Stripe's error comes back typed.
    let e = stripe
        .refund(&refund(
            RefundTarget::PaymentIntent("pi_direct1".into()),
            direct(),
            None,
            "k-pi-2",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("charge_already_refunded"), "{e:?}");
    assert!(matches!(
        e,
        PaymentsError::InvalidRequest { status: 400, .. }
    ));
}

#[tokio::test]
async fn destination_charges_reverse_the_transfer_on_the_platform() {
    let (fake, stripe) = start().await;
    stripe
        .refund(&refund(
            RefundTarget::Charge("ch_dest1".into()),
            ChargeLocation::Destination {
                refund_application_fee: true,
            },
            Some(1000),
            "k-dest-1",
        ))
        .await
        .unwrap();
    let req = fake.requests().pop().unwrap();
    assert_eq!(
        req.stripe_account, None,
        "destination refunds are made on the platform"
    );
    assert_eq!(get_param(&req.form, "reverse_transfer"), Some("true"));
    assert_eq!(get_param(&req.form, "refund_application_fee"), Some("true"));

    stripe
        .refund(&refund(
            RefundTarget::Charge("ch_dest1".into()),
            ChargeLocation::Destination {
                refund_application_fee: false,
            },
            Some(1000),
            "k-dest-2",
        ))
        .await
        .unwrap();
    let req = fake.requests().pop().unwrap();
    assert_eq!(get_param(&req.form, "reverse_transfer"), Some("true"));
    assert_eq!(get_param(&req.form, "refund_application_fee"), None);

    // A direct charge refunded as if it were on the platform is not found there.
    let e = stripe
        .refund(&refund(
            RefundTarget::Charge("ch_direct1".into()),
            ChargeLocation::Platform,
            Some(100),
            "k-wrong-place",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("resource_missing"));
    assert!(
        matches!(
            &e,
            PaymentsError::InvalidRequest { status: 404, param: Some(p), message, .. }
                if p == "charge" && message == "No such charge: 'ch_direct1'"
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn card_errors_carry_stripes_message() {
    let (_fake, stripe) = start().await;
    let e = stripe
        .refund(&refund(
            RefundTarget::Charge("ch_expired_card".into()),
            direct(),
            None,
            "k-card",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PaymentsError::Card {
            code: Some("expired_card".into()),
            decline_code: None,
            message: "The refund could not be processed because the card has expired.".into(),
        }
    );
    assert!(e.to_string().contains("card has expired"));
    assert!(!e.is_retriable());

    let e = stripe
        .refund(&refund(
            RefundTarget::Charge("ch_direct1".into()),
            direct(),
            Some(1_000_000),
            "k-too-much",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("amount_too_large"));
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_first_refund() {
    let (fake, stripe) = start().await;
    let req = refund(
        RefundTarget::Charge("ch_direct1".into()),
        direct(),
        Some(2500),
        "act_42:processRefund",
    );
    let first = stripe.refund(&req).await.unwrap();
    let again = stripe.refund(&req).await.unwrap();
    assert_eq!(first, again, "a retried refund is the same refund");
    let charges = stripe
        .list_charges(Some("acct_product1"), "cus_jane", 10)
        .await
        .unwrap();
    let ch = charges.iter().find(|c| c.id == "ch_direct1").unwrap();
    assert_eq!(ch.amount_refunded_cents, 2500, "money moved once");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.idempotency_key.as_deref() == Some("act_42:processRefund"))
            .count(),
        2
    );

    // The same key with other parameters is refused by Stripe.
    let mut other = req.clone();
    other.amount_cents = Some(5000);
    let e = stripe.refund(&other).await.unwrap_err();
    assert!(
        matches!(&e, PaymentsError::IdempotencyConflict { message } if message.contains("same parameters")),
        "{e:?}"
    );

    // A key is required and must be a valid one.
    let mut bad = req.clone();
    bad.idempotency_key = String::new();
    assert!(matches!(
        stripe.refund(&bad).await,
        Err(PaymentsError::Invalid(_))
    ));
}

#[tokio::test]
async fn lists_charges_refunds_and_subscriptions() {
    let (fake, stripe) = start().await;
    let charges = stripe
        .list_charges(Some("acct_product1"), "cus_jane", 10)
        .await
        .unwrap();
    assert_eq!(
        charges.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["ch_direct1", "ch_expired_card"]
    );
    let c = &charges[0];
    assert_eq!((c.amount_cents, c.amount_refunded_cents), (10_000, 0));
    assert_eq!(c.currency, "usd");
    assert_eq!(c.status, "succeeded");
    assert!(c.paid && !c.refunded && !c.disputed);
    assert_eq!(c.customer.as_deref(), Some("cus_jane"));
    assert_eq!(c.payment_intent.as_deref(), Some("pi_direct1"));
    let req = fake.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/charges");
    assert_eq!(get_param(&req.query, "customer"), Some("cus_jane"));
    assert_eq!(get_param(&req.query, "limit"), Some("10"));
    assert_eq!(req.stripe_account.as_deref(), Some("acct_product1"));
    assert_eq!(req.idempotency_key, None, "GETs carry no idempotency key");

    // Platform charges are another list.
    let platform = stripe.list_charges(None, "cus_jane", 10).await.unwrap();
    assert_eq!(platform.len(), 1);
    assert_eq!(platform[0].id, "ch_dest1");

    for (amount, key) in [(1000, "k1"), (1500, "k2")] {
        stripe
            .refund(&refund(
                RefundTarget::Charge("ch_direct1".into()),
                direct(),
                Some(amount),
                key,
            ))
            .await
            .unwrap();
    }
    let refunds = stripe
        .list_refunds(
            Some("acct_product1"),
            &RefundTarget::PaymentIntent("pi_direct1".into()),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        refunds.iter().map(|r| r.amount_cents).collect::<Vec<_>>(),
        [1500, 1000],
        "newest first"
    );
    let req = fake.requests().pop().unwrap();
    assert_eq!(get_param(&req.query, "payment_intent"), Some("pi_direct1"));
    let by_customer = stripe
        .customer_refunds(Some("acct_product1"), "cus_jane", 10)
        .await
        .unwrap();
    assert_eq!(by_customer, refunds);

    let subs = stripe
        .list_subscriptions(Some("acct_product1"), "cus_subscriber", 5)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(s.id, "sub_fake1");
    assert_eq!(s.status, "active");
    assert_eq!(s.customer, "cus_subscriber");
    assert_eq!(s.price_ids, ["price_1PgafmB7WZ01zgkW6dKueIc5"]);
    assert!(s.current_period_end.is_some());
    let req = fake.requests().pop().unwrap();
    assert_eq!(get_param(&req.query, "status"), Some("all"));
    assert!(
        stripe
            .list_subscriptions(Some("acct_product1"), "cus_nobody", 5)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_keys_ids_and_unreachable_hosts() {
    let (_fake, stripe) = start().await;
    assert!(matches!(
        stripe.list_charges(None, "cus_1&limit=100", 10).await,
        Err(PaymentsError::Invalid(_))
    ));
    assert!(matches!(
        stripe
            .refund(&refund(
                RefundTarget::Charge("re_1".into()),
                direct(),
                None,
                "k"
            ))
            .await,
        Err(PaymentsError::Invalid(_))
    ));
    assert!(matches!(
        stripe
            .refund(&refund(
                RefundTarget::Charge("ch_direct1".into()),
                direct(),
                Some(0),
                "k"
            ))
            .await,
        Err(PaymentsError::Invalid(_))
    ));

    let down = StripePayments::new(
        &Secret::new(SK),
        "http://127.0.0.1:1/",
        Duration::from_secs(5),
    )
    .unwrap();
    let e = down.list_charges(None, "cus_jane", 1).await.unwrap_err();
    assert!(matches!(e, PaymentsError::Transport(_)), "{e:?}");
    assert!(e.is_retriable());
}

#[tokio::test]
async fn a_wrong_secret_key_is_an_auth_error() {
    let fake = FakeStripe::default();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let wrong =
        StripePayments::new(&Secret::new("sk_test_wrong"), &url, Duration::from_secs(5)).unwrap();
    let e = wrong.list_charges(None, "cus_jane", 1).await.unwrap_err();
    assert!(
        matches!(&e, PaymentsError::Auth { message } if message.contains("Invalid API Key")),
        "{e:?}"
    );
}

#[tokio::test]
async fn retrieve_a_charge_on_its_account_with_amount_refunded_and_currency() {
    let (fake, stripe) = start().await;
    stripe
        .refund(&refund(
            RefundTarget::Charge("ch_direct1".into()),
            direct(),
            Some(2_500),
            "k_partial",
        ))
        .await
        .unwrap();
    let c = stripe
        .get_charge(Some("acct_product1"), "ch_direct1")
        .await
        .unwrap();
    assert_eq!(c.id, "ch_direct1");
    assert_eq!((c.amount_cents, c.amount_refunded_cents), (10_000, 2_500));
    assert_eq!(c.remaining_cents(), 7_500);
    assert_eq!(c.currency, "usd");
    assert!(c.paid && !c.refunded);
    let req = fake.requests().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1/charges/ch_direct1")
    );
    assert_eq!(req.stripe_account.as_deref(), Some("acct_product1"));
    assert_eq!(req.idempotency_key, None);
    assert!(req.form.is_empty() && req.query.is_empty());

    // Zero-decimal currencies come back as they are (12 000 yen, not 120.00).
    let yen = stripe
        .get_charge(Some("acct_product1"), "ch_yen1")
        .await
        .unwrap();
    assert_eq!((yen.amount_cents, yen.currency.as_str()), (12_000, "jpy"));
    assert_eq!(format_amount(yen.amount_cents, &yen.currency), "¥12000 JPY");

    // A direct charge is not on the platform, and a platform charge not on the account.
    let e = stripe.get_charge(None, "ch_direct1").await.unwrap_err();
    assert!(
        matches!(&e, PaymentsError::InvalidRequest { status: 404, code: Some(c), .. } if c == "resource_missing"),
        "{e:?}"
    );
    assert!(
        stripe
            .get_charge(Some("acct_product1"), "ch_dest1")
            .await
            .is_err()
    );
    // Ids are checked before they reach the URL.
    let before = fake.requests().len();
    assert!(matches!(
        stripe.get_charge(None, "ch_1/../../v1/refunds").await,
        Err(PaymentsError::Invalid(_))
    ));
    assert!(matches!(
        stripe.get_charge(None, "re_1").await,
        Err(PaymentsError::Invalid(_))
    ));
    assert_eq!(fake.requests().len(), before);
}
