//! The sidebar's customer card and conversation actions, server side: the card comes from the
//! app's SDK endpoint once per conversation and TTL (requests counted at the endpoint, in
//! front of the example app), the TTL is judged by a controllable clock, a purchase's charge
//! comes from Stripe (once per TTL) and only for a purchase on this customer's card; re-run and
//! hand-over need a linked agent and are audited with the user and the teammate id.

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support_core::auth::Role;
use support_core::cache::MemoryCache;
use support_core::retention::{Clock, ManualClock};
use support_front::plugin::auth;
use support_front::plugin::customer::{CARD_TTL_MS, CustomerCards};
use support_testkit::TestApp;

mod common;
use common::{call, page_token, spawn_with_stripe};

/// A counting proxy in front of the example app's SDK endpoint (same path, so the demo
/// endpoint keeps accepting the app's secrets): what the app would see.
#[derive(Clone, Default)]
struct Counter {
    n: Arc<AtomicUsize>,
    actions: Arc<Mutex<Vec<String>>>,
}

impl Counter {
    fn count(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }
}

async fn counting_endpoint(target: String) -> (Counter, String) {
    let counter = Counter::default();
    let c = counter.clone();
    let client = reqwest::Client::new();
    let path = reqwest::Url::parse(&target)
        .expect("endpoint url")
        .path()
        .to_string();
    let route = move |headers: HeaderMap, body: Bytes| {
        let (c, client, target) = (c.clone(), client.clone(), target.clone());
        async move {
            c.n.fetch_add(1, Ordering::SeqCst);
            let action = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["action"].as_str().map(str::to_string))
                .unwrap_or_default();
            c.actions.lock().expect("lock").push(action);
            let mut req = client.post(&target).body(body);
            for (k, v) in headers.iter() {
                if k == "x-support-signature" || k == "content-type" {
                    req = req.header(k, v);
                }
            }
            let res = req.send().await.expect("the example app answers");
            let status = res.status().as_u16();
            let body = res.bytes().await.expect("body");
            (
                axum::http::StatusCode::from_u16(status).expect("status"),
                [("content-type", "application/json")],
                body,
            )
        }
    };
    let app = axum::Router::new().route(&path, axum::routing::post(route));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}{path}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (counter, url)
}

/// Point `slug`'s SDK endpoint at a counting proxy.
async fn count_sdk_requests(app: &TestApp, slug: &str) -> Counter {
    let registry = &app.platform.registry;
    let mut row = registry.require(slug).await.expect("app");
    let (counter, url) = counting_endpoint(row.sdk_base_url.clone()).await;
    row.sdk_base_url = url;
    registry.update(&row).await.expect("update app");
    counter
}

fn stripe_charge_reads(app: &TestApp) -> usize {
    app.stripe
        .as_ref()
        .expect("fake Stripe")
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path.starts_with("/v1/charges/"))
        .count()
}

#[tokio::test]
async fn the_customer_card_is_asked_once_per_ttl_and_charges_come_from_stripe() {
    let app = spawn_with_stripe().await;
    let (refund, action, approval) = app.pending_refund(0).await;
    let conv = refund.conversation_id.clone();
    let slug = app
        .conversation(&conv)
        .await
        .app
        .expect("the conversation's app");
    let sdk = count_sdk_requests(&app, &slug).await;
    let token = page_token(&app).await;
    let path = format!("/plugin/front/api/conversations/{conv}/customer");

    // First load: the app is asked (lookupUser, getPurchases, getSubscriptions).
    let (status, first) = call(&app, &token, "GET", &path, None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["card"]["cached"], false);
    assert_eq!(first["card"]["user"]["email"], "paul.ferguson@example.net");
    let asked = sdk.count();
    assert!(asked >= 2, "lookupUser and getPurchases at least: {asked}");
    assert_eq!(
        sdk.actions.lock().expect("lock")[..2],
        ["lookupUser".to_string(), "getPurchases".to_string()]
    );
    // The app's own figure for the purchase is not shown: money only from Stripe.
    let purchases = first["card"]["purchases"].as_array().expect("purchases");
    assert!(!purchases.is_empty());
    assert!(
        purchases.iter().all(|p| p.get("amount").is_none()),
        "{first}"
    );

    // Second load (and a third, with another token): from the cache, the app is not asked.
    let (_, second) = call(&app, &token, "GET", &path, None).await;
    assert_eq!(second["card"]["cached"], true);
    assert_eq!(second["card"]["purchases"], first["card"]["purchases"]);
    let other_token = page_token(&app).await;
    let (_, third) = call(&app, &other_token, "GET", &path, None).await;
    assert_eq!(third["card"]["cached"], true);
    assert_eq!(sdk.count(), asked, "no second request to the app");

    // The charge of the refunded purchase, on demand, from Stripe, once per TTL.
    let purchase = action.params["purchaseId"]
        .as_str()
        .expect("purchaseId")
        .to_string();
    let charge_path = format!("/plugin/front/api/conversations/{conv}/purchases/{purchase}/charge");
    let before = stripe_charge_reads(&app);
    let (status, charge) = call(&app, &token, "GET", &charge_path, None).await;
    assert_eq!(status, 200, "{charge}");
    assert_eq!(stripe_charge_reads(&app), before + 1);
    // The approval was quoted from the same Stripe charge (nothing refunded yet).
    assert_eq!(
        charge["charge"]["charge_id"].as_str(),
        action.params["chargeId"].as_str()
    );
    assert_eq!(
        charge["charge"]["amount_cents"].as_i64(),
        approval.amount_cents
    );
    let (_, again) = call(&app, &token, "GET", &charge_path, None).await;
    assert_eq!(again["charge"]["cached"], true);
    assert_eq!(stripe_charge_reads(&app), before + 1, "Stripe asked once");
    assert_eq!(sdk.count(), asked, "the card came from the cache");

    // A purchase that is not this customer's: refused, nothing asked of Stripe.
    let (status, refused) = call(
        &app,
        &token,
        "GET",
        &format!("/plugin/front/api/conversations/{conv}/purchases/pur_someone_else/charge"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(refused["error"]["code"], "purchase_not_found");
    assert_eq!(stripe_charge_reads(&app), before + 1);

    // Without a token: nothing.
    let res = app.client.get(app.url(&path)).send().await.expect("GET");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_ttl_is_judged_by_the_clock() {
    let app = spawn_with_stripe().await;
    let (refund, _, _) = app.pending_refund(0).await;
    let conv = refund.conversation_id.clone();
    let slug = app.conversation(&conv).await.app.expect("app");
    let sdk = count_sdk_requests(&app, &slug).await;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let p = &app.platform;
    let cards = CustomerCards::new(
        Arc::new(MemoryCache::new()),
        Arc::new(support_connectors::product::SdkProducts::new(
            p.master_key.clone(),
        )),
        support_connectors::stripe::from_settings(&p.settings.stripe),
        clock.clone(),
        CARD_TTL_MS,
    );
    let load = async || {
        cards
            .card(p.store.as_ref(), &p.registry, &conv)
            .await
            .expect("card")
            .expect("known conversation")
    };
    let first = load().await;
    assert!(!first.cached);
    assert_eq!(first.fetched_at, clock.now_ms());
    let asked = sdk.count();
    assert!(asked >= 2);

    clock.advance(CARD_TTL_MS - 1);
    let still = load().await;
    assert!(still.cached, "fresh until the TTL");
    assert_eq!(sdk.count(), asked);

    clock.advance(1);
    let refreshed = load().await;
    assert!(!refreshed.cached, "expired at the TTL");
    assert_eq!(sdk.count(), 2 * asked, "asked again, once");
    assert_eq!(refreshed.purchases, first.purchases);

    // A clock that went back (another instance's skew) does not make an entry fresh forever.
    clock.advance(-(10 * CARD_TTL_MS));
    let back = load().await;
    assert!(!back.cached);
    assert_eq!(sdk.count(), 3 * asked);
}

#[tokio::test]
async fn rerun_and_hand_over_need_a_linked_agent_and_are_audited() {
    let app = spawn_with_stripe().await;
    let (refund, _, _) = app.pending_refund(0).await;
    let conv = refund.conversation_id.clone();
    let anonymous = page_token(&app).await;

    // Unlinked: refused, audited, nothing queued and nothing tagged.
    for what in ["rerun", "handover"] {
        let (status, body) = call(
            &app,
            &anonymous,
            "POST",
            &format!("/plugin/front/api/conversations/{conv}/{what}"),
            Some(json!({"teammate_id": "tea_forger"})),
        )
        .await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["error"]["code"], "plugin_not_linked");
    }
    let refusals = app.audit_of("front_plugin.refused").await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        app.audit_of("conversation.rerun_requested")
            .await
            .is_empty()
    );
    assert!(app.front.tags(&conv).iter().all(|t| t != "needs-human"));

    // A viewer is linked but may not act.
    let viewer = app
        .add_user("viewer.front@example.com", Role::Viewer, None)
        .await;
    let key = &app.platform.master_key;
    let now = support_core::time::now_ms();
    let viewer_token = auth::session_token(key, Some((viewer.id.as_str(), "tea_viewer")), now);
    let (status, body) = call(
        &app,
        &viewer_token,
        "POST",
        &format!("/plugin/front/api/conversations/{conv}/rerun"),
        Some(json!({"teammate_id": "tea_viewer"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");

    // A linked agent: a new run through the event path, audited with user and teammate.
    let agent = app
        .add_user("agent.front@example.com", Role::Agent, None)
        .await;
    let token = auth::session_token(key, Some((agent.id.as_str(), "tea_agent")), now);
    let (status, body) = call(
        &app,
        &token,
        "POST",
        &format!("/plugin/front/api/conversations/{conv}/rerun"),
        Some(json!({"teammate_id": "tea_agent"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let event_id = body["event_id"].as_str().expect("event id").to_string();
    let runs = app
        .platform
        .engine
        .wait_for_runs_of(
            &format!("front_plugin:{event_id}"),
            1,
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("a new run of the agent");
    assert_eq!(runs.len(), 1);
    let audit = app.audit_of("conversation.rerun_requested").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "user:agent.front@example.com");
    assert_eq!(audit[0]["data"]["user_id"], agent.id.as_str());
    assert_eq!(audit[0]["data"]["teammate_id"], "tea_agent");
    assert_eq!(audit[0]["data"]["event_id"], event_id.as_str());

    // Assign to me: the teammate the account was linked for, not the browser's claim.
    let handover = format!("/plugin/front/api/conversations/{conv}/handover");
    let (status, body) = call(
        &app,
        &token,
        "POST",
        &handover,
        Some(json!({"teammate_id": "tea_claimed", "assign": "me"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(app.front.tags(&conv).contains(&"needs-human".to_string()));
    assert_eq!(app.front.assignee(&conv).as_deref(), Some("tea_agent"));

    // Hand over again, unassigned: a tag in Front, the copy escalated, audited.
    let (status, body) = call(
        &app,
        &token,
        "POST",
        &handover,
        Some(json!({"teammate_id": "tea_agent", "tag": "urgent", "reason": "angry, wants a call"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(app.front.tags(&conv).contains(&"urgent".to_string()));
    assert_eq!(app.front.assignee(&conv), None, "unassigned");
    let c = app.conversation(&conv).await;
    assert_eq!(c.escalation.as_deref(), Some("urgent"));
    assert_eq!(c.escalation_reason.as_deref(), Some("angry, wants a call"));
    let audit = app.audit_of("conversation.handed_over").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    let last = audit
        .iter()
        .find(|a| a["data"]["tag"] == "urgent")
        .expect("handed over as urgent");
    assert_eq!(last["actor"], "user:agent.front@example.com");
    assert_eq!(last["data"]["teammate_id"], "tea_agent");
    assert_eq!(last["data"]["user_id"], agent.id.as_str());
    assert_eq!(last["data"]["unassigned"], true);
    let mine = audit
        .iter()
        .find(|a| a["data"]["tag"] == "needs-human")
        .expect("handed over to me");
    assert_eq!(mine["data"]["assignee"], "tea_agent");
    assert_eq!(
        mine["data"]["teammate_id"], "tea_claimed",
        "attribution only"
    );

    // An unknown tag is refused before anything reaches Front.
    let (status, _) = call(
        &app,
        &token,
        "POST",
        &format!("/plugin/front/api/conversations/{conv}/handover"),
        Some(json!({"tag": "vip"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(app.audit_of("conversation.handed_over").await.len(), 2);
}
