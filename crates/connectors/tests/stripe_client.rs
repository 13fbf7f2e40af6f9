//! The Stripe adapter (async-stripe) against the test kit's fake of Stripe's API
//! ([`support_testkit::fakes::FakeStripe`]), which speaks Stripe's wire format: form-encoded
//! `POST /v1/refunds`, `GET` lists with `{"object":"list",…}`, `Stripe-Account` for connected
//! accounts, `Idempotency-Key` replay, and error bodies `{"error":{"type","code","message","param"}}`.
//! Objects are Stripe's own API fixtures (`crates/testkit/fixtures/stripe/*.json`, from
//! stripe/openapi `fixtures3.json`) with our ids.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;
use support_connectors::stripe::StripePayments;
use support_core::payments::*;
use support_core::settings::Secret;
use support_testkit::fakes::{FakeStripe, StripeCharge};

const SK: &str = "sk_test_fake_platform_key";

fn get_param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn charge(
    id: &str,
    payment_intent: Option<&str>,
    customer: &str,
    account: Option<&str>,
    amount: i64,
    currency: &str,
) -> StripeCharge {
    StripeCharge {
        id: id.into(),
        account: account.map(str::to_string),
        customer: Some(customer.into()),
        payment_intent: payment_intent.map(str::to_string),
        amount,
        currency: currency.into(),
        card_error: None,
        email: None,
    }
}

/// The fake with a connected account's charges (listed newest first, as Stripe does), a
/// platform (destination) charge and a subscriber.
async fn start() -> (FakeStripe, StripePayments) {
    let (fake, url) = FakeStripe::start(SK).await.unwrap();
    let client = StripePayments::new(&Secret::new(SK), &url, Duration::from_secs(10)).unwrap();
    let acct = Some("acct_product1");
    fake.put_charge(StripeCharge {
        card_error: Some((
            "expired_card".into(),
            "The refund could not be processed because the card has expired.".into(),
        )),
        ..charge("ch_expired_card", None, "cus_jane", acct, 1_000, "usd")
    });
    fake.put_charge(charge(
        "ch_direct1",
        Some("pi_direct1"),
        "cus_jane",
        acct,
        10_000,
        "usd",
    ));
    fake.put_charge(charge(
        "ch_dest1",
        Some("pi_dest1"),
        "cus_jane",
        None,
        5_000,
        "usd",
    ));
    fake.put_charge(charge("ch_yen1", None, "cus_kenji", acct, 12_000, "jpy"));
    fake.add_subscription(acct, "cus_subscriber", "sub_fake1", "active");
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

    let req = fake.calls().pop().unwrap();
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
    let req = fake.calls().pop().unwrap();
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
    let req = fake.calls().pop().unwrap();
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
    let req = fake.calls().pop().unwrap();
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
        fake.calls()
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
    let req = fake.calls().pop().unwrap();
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
    let req = fake.calls().pop().unwrap();
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
    let req = fake.calls().pop().unwrap();
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
    let (_fake, url) = FakeStripe::start(SK).await.unwrap();
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
    let req = fake.calls().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1/charges/ch_direct1")
    );
    assert_eq!(req.stripe_account.as_deref(), Some("acct_product1"));
    assert_eq!(req.idempotency_key, None);
    assert!(req.form.is_empty() && req.query.is_empty());
    assert_eq!(c.email, None, "no billing email on this one");
    // The payer's email comes from `billing_details.email`.
    fake.put_charge(StripeCharge {
        email: Some("jane@example.com".into()),
        ..charge(
            "ch_mailed1",
            None,
            "cus_jane",
            Some("acct_product1"),
            500,
            "usd",
        )
    });
    let mailed = stripe
        .get_charge(Some("acct_product1"), "ch_mailed1")
        .await
        .unwrap();
    assert_eq!(mailed.email.as_deref(), Some("jane@example.com"));

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
    let before = fake.calls().len();
    assert!(matches!(
        stripe.get_charge(None, "ch_1/../../v1/refunds").await,
        Err(PaymentsError::Invalid(_))
    ));
    assert!(matches!(
        stripe.get_charge(None, "re_1").await,
        Err(PaymentsError::Invalid(_))
    ));
    assert_eq!(fake.calls().len(), before);
}
