//! The course store through its SDK endpoint: the seeded scenario world, every method over
//! signed HTTP with the SDK's own client, and the writes (refund, transfer, email/name change).
#![allow(clippy::unwrap_used)]

use course_app::CourseApp;
use course_app::seed::{CUSTOMERS, Role};
use course_app::time::{DAY_MS, now_ms};
use support_sdk::types::*;
use support_sdk::{ClientError, IntegrationClient, SupportIntegration};

const SECRET: &str = "course_app_test_secret";

async fn seeded() -> CourseApp {
    let app = CourseApp::in_memory().await.unwrap();
    app.seed().await.unwrap();
    app
}

/// The app served on a loopback port; returns a client signing with `secret`.
async fn serve(app: &CourseApp, secrets: Vec<String>, secret: &str) -> IntegrationClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router(secrets);
    tokio::spawn(async move { axum::serve(listener, router).await });
    IntegrationClient::new(
        &format!("http://{addr}{}", course_app::SUPPORT_PATH),
        secret,
    )
    .unwrap()
}

fn age_days(iso: &str, now: i64) -> i64 {
    // Parse "YYYY-MM-DDTHH:MM:SS.mmmZ" back by comparing with formatted candidates is heavy;
    // instead find the day offset whose formatted date matches.
    (0..400)
        .find(|d| course_app::time::iso(now - d * DAY_MS)[..10] == iso[..10])
        .unwrap_or(-1)
}

#[tokio::test]
async fn seeded_customers_match_their_scenario_state() {
    let app = seeded().await;
    let now = now_ms();
    for app_slug in ["typescript-course", "tailwind-course", "ai-workshops"] {
        let states: std::collections::BTreeSet<&str> = CUSTOMERS
            .iter()
            .filter(|c| c.app == app_slug)
            .map(|c| c.state)
            .collect();
        for state in [
            "recent-purchase",
            "old-purchase",
            "very-old-purchase",
            "team-license",
            "no-purchase",
        ] {
            assert!(states.contains(state), "{app_slug} has no {state} customer");
        }
    }
    for c in CUSTOMERS {
        let user = app
            .lookup_user(&c.email.to_uppercase())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} is seeded", c.email));
        let purchases = app.get_purchases(&user.id).await.unwrap();
        match c.state {
            "no-purchase" => assert!(purchases.is_empty(), "{}", c.email),
            state => {
                let p = purchases.first().unwrap_or_else(|| panic!("{}", c.email));
                let days = age_days(&p.purchased_at, now);
                let ok = match state {
                    "recent-purchase" => days < 30,
                    "old-purchase" => (30..=45).contains(&days),
                    "very-old-purchase" => days > 45,
                    _ => days < 30,
                };
                assert!(ok, "{} ({state}) bought {days} days ago", c.email);
                assert_eq!(p.status, PurchaseStatus::Active);
            }
        }
    }
    // The product names and prices of the scenario world.
    let jana = app
        .lookup_user("j.schreiber@example.com")
        .await
        .unwrap()
        .unwrap();
    let p = &app.get_purchases(&jana.id).await.unwrap()[0];
    assert_eq!(
        (p.product_name.as_str(), p.amount, p.currency.as_str()),
        ("Typewise Pro", 449.0, "usd")
    );
    assert!(
        app.lookup_user("stranger@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn team_licences_have_an_admin_and_claimed_seats() {
    let app = seeded().await;
    for c in CUSTOMERS {
        let Role::TeamAdmin { coupon, .. } = c.role else {
            continue;
        };
        let admin = app.lookup_user(c.email).await.unwrap().unwrap();
        let purchase = &app.get_purchases(&admin.id).await.unwrap()[0];
        let seats = app.get_claimed_seats(coupon).await.unwrap();
        let licence = app.get_license_info(&purchase.id).await.unwrap().unwrap();
        assert_eq!(licence.license_type, LicenseType::Team);
        assert_eq!(licence.admin_email.as_deref(), Some(c.email));
        assert_eq!(licence.claimed_seats, seats.len() as i64);
        assert!(licence.total_seats >= 5);
        let access = app.get_content_access(&admin.id).await.unwrap();
        assert_eq!(
            access.team_membership.map(|t| t.role),
            Some(TeamRole::Admin)
        );
        for seat in seats {
            let access = app.get_content_access(&seat.user_id).await.unwrap();
            assert_eq!(
                access.team_membership.map(|t| t.team_id),
                Some(coupon.to_owned())
            );
            assert_eq!(access.products[0].access_level, ProductAccessLevel::Full);
        }
    }
    let coupon = app.get_coupon_info("bulk_halcyon").await.unwrap().unwrap();
    assert_eq!(coupon.restriction_type, Some(RestrictionType::Bulk));
    assert_eq!((coupon.usage_count, coupon.max_uses), (2, Some(10)));
}

#[tokio::test]
async fn every_method_answers_over_signed_http() {
    let app = seeded().await;
    let client = serve(&app, vec![SECRET.into()], SECRET).await;
    let user = client
        .lookup_user("dmitri.k@example.org")
        .await
        .unwrap()
        .unwrap();
    let purchases = client.get_purchases(&user.id).await.unwrap();
    assert_eq!(purchases.len(), 1);
    let subs = client.get_subscriptions(&user.id).await.unwrap();
    assert_eq!(subs[0].status, SubscriptionStatus::Active);
    assert!(subs[0].product_name.contains("annual membership"));
    let link = client
        .generate_magic_link(&GenerateMagicLinkParams {
            email: "dmitri.k@example.org".into(),
            expires_in: 3600,
        })
        .await
        .unwrap();
    assert!(link.url.starts_with(course_app::DEFAULT_MAGIC_LINK_BASE));
    let hits = client
        .search_content(&ContentSearchRequest {
            query: "tool-using agents".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.results[0].id, "les_ai_agents");
    let policy = client.get_refund_policy().await.unwrap();
    assert_eq!(
        (
            policy.auto_approve_window_days,
            policy.manual_approve_window_days
        ),
        (30, 45)
    );
    assert!(
        client
            .get_product_status("atelier")
            .await
            .unwrap()
            .unwrap()
            .available
    );
    assert_eq!(client.get_active_promotions().await.unwrap().len(), 1);
    let activity = client.get_recent_activity(&user.id).await.unwrap();
    assert_eq!(activity.lessons_completed, 1);
    assert!(activity.last_login_at.is_some());
    assert!(
        !client
            .get_app_info()
            .await
            .unwrap()
            .support_email
            .is_empty()
    );
    // Unknown ids answer "nothing", not errors.
    assert!(client.get_purchases("usr_nope").await.unwrap().is_empty());
    assert!(client.get_license_info("pur_nope").await.unwrap().is_none());
    assert!(
        client
            .get_content_access("usr_nope")
            .await
            .unwrap()
            .products
            .is_empty()
    );

    // A wrong secret is a 401.
    let wrong = serve(&app, vec![SECRET.into()], "not_the_secret").await;
    assert!(matches!(
        wrong.lookup_user("dmitri.k@example.org").await,
        Err(ClientError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn refunds_transfers_and_account_changes_are_written() {
    let app = seeded().await;
    let owner = app
        .lookup_user("kyle.dunmore@example.com")
        .await
        .unwrap()
        .unwrap();
    let purchase = app.get_purchases(&owner.id).await.unwrap()[0].clone();

    // Only the owner can transfer; the recipient gets an account and an active purchase.
    let refused = app
        .transfer_purchase(TransferPurchaseParams {
            purchase_id: purchase.id.clone(),
            from_user_id: "usr_someone_else".into(),
            to_email: "new.owner@example.com".into(),
        })
        .await
        .unwrap();
    assert!(!refused.success);
    let done = app
        .transfer_purchase(TransferPurchaseParams {
            purchase_id: purchase.id.clone(),
            from_user_id: owner.id.clone(),
            to_email: "New.Owner@example.com".into(),
        })
        .await
        .unwrap();
    assert!(done.success, "{done:?}");
    assert_eq!(
        app.get_purchases(&owner.id).await.unwrap()[0].status,
        PurchaseStatus::Transferred
    );
    let recipient = app
        .lookup_user("new.owner@example.com")
        .await
        .unwrap()
        .unwrap();
    let moved = &app.get_purchases(&recipient.id).await.unwrap()[0];
    assert_eq!(
        (moved.status.clone(), moved.product_id.as_str()),
        (PurchaseStatus::Active, "typewise-core")
    );

    // Refund: access revoked once; a second revoke says so.
    let revoke = RevokeAccessParams {
        purchase_id: moved.id.clone(),
        reason: "refund within 30 days".into(),
        refund_id: "re_123".into(),
    };
    assert!(app.revoke_access(revoke.clone()).await.unwrap().success);
    assert!(!app.revoke_access(revoke).await.unwrap().success);
    assert_eq!(
        app.get_purchases(&recipient.id).await.unwrap()[0].status,
        PurchaseStatus::Refunded
    );

    // Email and name changes.
    let taken = app
        .update_email(UpdateEmailParams {
            user_id: recipient.id.clone(),
            new_email: "j.schreiber@example.com".into(),
        })
        .await
        .unwrap();
    assert!(!taken.success);
    assert!(
        app.update_email(UpdateEmailParams {
            user_id: recipient.id.clone(),
            new_email: "renamed@example.com".into(),
        })
        .await
        .unwrap()
        .success
    );
    assert!(
        app.update_name(UpdateNameParams {
            user_id: recipient.id.clone(),
            new_name: "Renée Owner".into(),
        })
        .await
        .unwrap()
        .success
    );
    let renamed = app
        .lookup_user("renamed@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Renée Owner"));
}

#[tokio::test]
async fn seeding_twice_changes_nothing_and_the_file_store_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("course-app.db");
    let app = CourseApp::open(&path).await.unwrap();
    app.seed().await.unwrap();
    let n = app.user_count().await.unwrap();
    assert_eq!(n, CUSTOMERS.len() as i64);
    app.seed().await.unwrap();
    assert_eq!(app.user_count().await.unwrap(), n);
    app.pool().close().await;
    let reopened = CourseApp::open(&path).await.unwrap();
    assert_eq!(reopened.user_count().await.unwrap(), n);
}

#[tokio::test]
async fn purchases_report_major_units_and_the_seeded_charges_match_them() {
    let app = seeded().await;
    let charges = course_app::seeded_charges();
    assert!(!charges.is_empty());
    let paul = charges
        .iter()
        .find(|c| c.email == "paul.ferguson@example.net")
        .unwrap();
    assert_eq!(paul.amount_cents, 17_900);
    // Every seeded charge is named by exactly the purchase of its buyer, whose amount is the
    // charge's in major units (dollars), as the SDK defines `Purchase.amount`.
    for c in &charges {
        let user = app.lookup_user(c.email).await.unwrap().unwrap();
        let purchases = app.get_purchases(&user.id).await.unwrap();
        let p = purchases
            .iter()
            .find(|p| p.stripe_charge_id.as_deref() == Some(c.id.as_str()))
            .unwrap_or_else(|| panic!("{} names {}", c.email, c.id));
        assert_eq!(p.currency, c.currency);
        assert_eq!(p.amount, c.amount_cents as f64 / 100.0, "{}", c.id);
    }
    // And no purchase names a charge the list lacks.
    let mut named = 0;
    for c in CUSTOMERS {
        let Some(user) = app.lookup_user(c.email).await.unwrap() else {
            continue;
        };
        for p in app.get_purchases(&user.id).await.unwrap() {
            if let Some(id) = p.stripe_charge_id
                && p.amount > 0.0
                && c.role != Role::NoPurchase
            {
                assert!(charges.iter().any(|x| x.id == id), "{id}");
                named += 1;
            }
        }
    }
    assert!(named >= charges.len());
}
