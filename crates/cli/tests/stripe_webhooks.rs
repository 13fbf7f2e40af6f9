//! Stripe end to end on TestApp: `POST /webhooks/stripe` (signature with rotation and the
//! 300 s window, dedupe by event id, deauthorization, disputes alerted in Slack, refunds
//! reconciled with our actions), Connect onboarding (authorize link from the API and from
//! `skill apps connect-stripe`, callback against the fake's `/oauth/token`, forged, expired and
//! reused states refused) and the query-on-demand tools (`listCharges`, `listRefunds`,
//! `listSubscriptions`) on the fake's list endpoints.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use support_core::auth::Role;
use support_core::events;
use support_core::pipeline::tools::{ToolCall, ToolExecutor, ToolName};
use support_core::settings::Secret;
use support_core::signing::stripe_signature_header;
use support_core::store::ApprovalRow;
use support_core::stripe_connect;
use support_core::time::now_ms;
use support_front::sandbox::Delivered;
use support_steps::{RunDetail, RunStatus};
use support_testkit::{Fakes, SLACK_CHANNEL, TestApp, TestBackend};

const WAIT: Duration = Duration::from_secs(30);
const SKILL: &str = env!("CARGO_BIN_EXE_skill");
const NEW_SECRET: &str = "whsec_test_new_secret";
const OLD_SECRET: &str = "whsec_test_old_secret";
const CLIENT_ID: &str = "ca_test_platform";

/// The platform with the given fakes, two webhook secrets (rotation) and Connect pointed at the
/// fake Stripe.
async fn spawn(fakes: Fakes) -> TestApp {
    TestApp::spawn_with_fakes(TestBackend::Sqlite, fakes, |s| {
        s.stripe.webhook_secrets = vec![Secret::new(NEW_SECRET), Secret::new(OLD_SECRET)];
        s.stripe.connect_client_id = Some(CLIENT_ID.into());
        s.stripe.connect_url = s.stripe.api_url.clone();
    })
    .await
    .unwrap()
}

fn stripe_fakes() -> Fakes {
    Fakes {
        stripe: true,
        ..Fakes::default()
    }
}

fn event(id: &str, kind: &str, account: Option<&str>, object: Value) -> Value {
    let mut e = json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": now_ms() / 1000,
                       "livemode": false, "pending_webhooks": 1, "type": kind, "data": {"object": object}});
    if let Some(a) = account {
        e["account"] = json!(a);
    }
    e
}

/// POST a raw body with an optional `Stripe-Signature`.
async fn post_raw(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// POST `event` signed now with `secret`.
async fn deliver(app: &TestApp, secret: &str, event: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let header = stripe_signature_header(secret, now_ms() / 1000, &body);
    post_raw(app, &body, Some(header)).await
}

/// Wait (on the engine's change feed, with a timeout) until `kind` has been audited `n` times.
async fn audited(app: &TestApp, kind: &str, n: usize) -> Vec<Value> {
    let store = app.platform.store.clone();
    app.platform
        .engine
        .wait_until(kind, WAIT, || {
            let store = store.clone();
            async move {
                let rows = store
                    .list_audit(&support_core::store::AuditFilter {
                        kind: Some(kind.to_string()),
                        limit: 1000,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                Ok((rows.len() >= n).then(|| {
                    rows.into_iter()
                        .map(|r| serde_json::to_value(r).unwrap())
                        .collect::<Vec<_>>()
                }))
            }
        })
        .await
        .unwrap()
}

/// A refund made in Stripe's dashboard (straight on the fake, no metadata of ours).
async fn outside_refund(app: &TestApp, charge: &str, amount: i64) -> Value {
    let res = app.stripe_dashboard_refund(charge, amount).await;
    res.json().await.unwrap()
}

async fn set_account(app: &TestApp, slug: &str, account: &str) {
    let reg = &app.platform.registry;
    let mut a = reg.require(slug).await.unwrap();
    a.stripe_account = Some(account.into());
    reg.update(&a).await.unwrap();
}

/// Approve through the dashboard API and wait for the run to end.
async fn approve(app: &TestApp, d: &Delivered, approval: &ApprovalRow) -> RunDetail {
    let agent = app.token("alice", Role::Agent).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/approvals/{}/approve", approval.id)))
        .bearer_auth(&agent)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    app.finished_run(&d.event_id, WAIT).await
}

#[tokio::test]
async fn signatures_rotation_expiry_and_duplicates() {
    let app = spawn(Fakes::default()).await;
    let slug = app.demo.apps[0].slug.clone();
    set_account(&app, &slug, "acct_sig_test").await;
    let ev = event(
        "evt_sig_1",
        "account.application.deauthorized",
        Some("acct_sig_test"),
        json!({"id": "ca_test", "object": "application"}),
    );
    let body = serde_json::to_vec(&ev).unwrap();
    let now = now_ms() / 1000;

    // Missing, signed with an unknown secret, expired (301 s old), from the future, malformed.
    let (s, b) = post_raw(&app, &body, None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("missing_signature"))
    );
    let (s, b) = post_raw(
        &app,
        &body,
        Some(stripe_signature_header("whsec_attacker", now, &body)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    let (s, b) = post_raw(
        &app,
        &body,
        Some(stripe_signature_header(NEW_SECRET, now - 301, &body)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("signature_expired"))
    );
    let (s, b) = post_raw(
        &app,
        &body,
        Some(stripe_signature_header(NEW_SECRET, now + 400, &body)),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("signature_expired"))
    );
    let (s, b) = post_raw(&app, &body, Some("v1=abc".into())).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("malformed_signature"))
    );
    // A tampered body under a valid signature.
    let mut tampered = body.clone();
    let header = stripe_signature_header(NEW_SECRET, now, &body);
    tampered.extend_from_slice(b" ");
    let (s, _) = post_raw(&app, &tampered, Some(header)).await;
    assert_eq!(s, 401);
    // Nothing was processed: the app is still connected, and every refusal is audited.
    let a = app.platform.store.get_app(&slug).await.unwrap().unwrap();
    assert_eq!(
        (a.status.as_str(), a.stripe_account.as_deref()),
        ("connected", Some("acct_sig_test"))
    );
    assert!(app.audit_of("stripe.account_deauthorized").await.is_empty());
    let refused = app.audit_of("stripe.webhook_refused").await;
    let codes: Vec<&str> = refused
        .iter()
        .map(|r| r["data"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "missing_signature",
            "invalid_signature",
            "signature_expired",
            "signature_expired",
            "malformed_signature",
            "invalid_signature"
        ]
    );

    // Rotation: signed with the old secret, next to a stale v1 → accepted (any v1 matches).
    let good_old = stripe_connect_sig(OLD_SECRET, now, &body);
    let header = format!("t={now},v1={},v1={good_old}", "0".repeat(64));
    let (s, b) = post_raw(&app, &body, Some(header)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "processed");
    // The same event again, even signed with the new secret: acknowledged, not processed.
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(app.audit_of("stripe.account_deauthorized").await.len(), 1);
    assert_eq!(
        app.runner_events(events::STRIPE_ACCOUNT_DEAUTHORIZED)
            .await
            .len(),
        1
    );

    // Another type: acknowledged and ignored.
    let other = event(
        "evt_other_1",
        "customer.created",
        None,
        json!({"id": "cus_1"}),
    );
    let (s, b) = deliver(&app, NEW_SECRET, &other).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")));
}

fn stripe_connect_sig(secret: &str, t: i64, body: &[u8]) -> String {
    support_core::signing::stripe_signature(secret, t, body)
}

#[tokio::test]
async fn deauthorization_disconnects_the_app_and_refunds_fail_without_calling_stripe() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    let slug = app.demo.apps[1].slug.clone();
    set_account(&app, &slug, "acct_tailwind").await;
    // Paul's charge is a direct charge on the connected account.
    let charge = course_app::seeded_charges()
        .into_iter()
        .find(|c| c.email == "paul.ferguson@example.net")
        .unwrap();
    stripe.set_charge(
        Some("acct_tailwind"),
        &charge.id,
        charge.amount_cents,
        charge.currency,
    );
    // A refund waits for approval, read from the connected account.
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.amount_cents, Some(charge.amount_cents));

    let ev = event(
        "evt_deauth_1",
        "account.application.deauthorized",
        Some("acct_tailwind"),
        json!({"id": "ca_test", "object": "application", "name": "Support platform"}),
    );
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["app"], slug.as_str());
    let a = app.platform.store.get_app(&slug).await.unwrap().unwrap();
    assert_eq!(a.status, "disconnected");
    assert_eq!(a.stripe_account, None);
    let rows = app.audit_of("stripe.account_deauthorized").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["app"], slug.as_str());
    assert_eq!(rows[0]["data"]["account"], "acct_tailwind");
    assert_eq!(rows[0]["data"]["event_id"], "evt_deauth_1");
    let emitted = app.runner_events(events::STRIPE_ACCOUNT_DEAUTHORIZED).await;
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(emitted[0]["data"]["app_id"], slug.as_str());
    assert_eq!(emitted[0]["id"], "stripe:evt_deauth_1");

    // The approved refund for that app fails clearly and never reaches Stripe.
    let before = stripe.calls().len();
    let run = approve(&app, &d, &approval).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    let decision = &run.run.output.as_ref().unwrap()["decisions"][0];
    assert_eq!(decision["status"], "failed", "{decision}");
    assert!(
        decision["error"]
            .as_str()
            .unwrap()
            .contains("stripe_disconnected"),
        "{decision}"
    );
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "failed");
    assert_eq!(stripe.calls().len(), before, "{:?}", stripe.calls());
    assert!(stripe.refunds().is_empty());

    // A new refund for that app cannot be read from (or made on) Stripe: it is not put up
    // for approval, the conversation goes to a human with the reason, and Stripe is never
    // called.
    let d = app
        .front
        .deliver(app.inbound(
            1,
            "paul.ferguson@example.net",
            "Refund",
            "Hello, could I get a refund please? It isn't what I needed.",
        ))
        .await
        .unwrap();
    let run = app.run_at_rest(&d.event_id, Duration::from_secs(30)).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(
        run.run.output.as_ref().unwrap()["pending_actions"],
        json!([])
    );
    let actions = app
        .platform
        .store
        .list_actions(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].status, "rejected");
    assert!(
        actions[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("stripe_disconnected"),
        "{actions:?}"
    );
    let conv = app.conversation(&d.conversation_id).await;
    assert!(
        conv.escalation_reason
            .as_deref()
            .unwrap_or_default()
            .contains("stripe_disconnected"),
        "{conv:?}"
    );
    assert_eq!(stripe.calls().len(), before, "{:?}", stripe.calls());
    assert!(stripe.refunds().is_empty());
}

#[tokio::test]
async fn a_dispute_is_audited_and_alerted_in_the_approval_channel() {
    let app = spawn(Fakes {
        slack: true,
        stripe: true,
    })
    .await;
    let slack = app.slack.clone().unwrap();
    let slug = app.demo.apps[0].slug.clone();
    set_account(&app, &slug, "acct_typewise").await;
    app.set_app_policy(&slug, |p| p.approval_channel = Some(SLACK_CHANNEL.into()))
        .await;

    let dispute = json!({"id": "dp_fake1", "object": "dispute", "amount": 4900, "currency": "usd",
                         "charge": "ch_disputed1", "reason": "fraudulent", "status": "needs_response",
                         "evidence_details": {"due_by": 1_800_000_000}});
    let ev = event(
        "evt_dispute_1",
        "charge.dispute.created",
        Some("acct_typewise"),
        dispute,
    );
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["alert"], true);
    let rows = app.audit_of("stripe.dispute_created").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["app"], slug.as_str());
    assert_eq!(rows[0]["data"]["charge"], "ch_disputed1");
    assert_eq!(rows[0]["data"]["amount_cents"], 4900);
    let sent = audited(&app, "stripe.dispute_alert_sent", 1).await;
    assert_eq!(sent[0]["data"]["channel"], SLACK_CHANNEL);
    let posts = slack.calls_of("chat.postMessage");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].args["channel"], SLACK_CHANNEL);
    let text = posts[0].args.to_string();
    assert!(text.contains("$49.00"), "{text}");
    assert!(
        text.contains("ch_disputed1") && text.contains("fraudulent"),
        "{text}"
    );
    let ts = sent[0]["data"]["ts"].as_str().unwrap();
    assert!(slack.message(SLACK_CHANNEL, ts).is_some());
    let emitted = app.runner_events(events::STRIPE_DISPUTE_CREATED).await;
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0]["data"]["dispute_id"], "dp_fake1");

    // The same event again: no second alert.
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(app.audit_of("stripe.dispute_created").await.len(), 1);
    assert_eq!(slack.calls_of("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn without_slack_a_dispute_alert_is_audited_as_not_sent() {
    let app = spawn(Fakes::default()).await;
    let slug = app.demo.apps[2].slug.clone();
    set_account(&app, &slug, "acct_ai").await;
    app.set_app_policy(&slug, |p| p.approval_channel = Some("C0SOMEWHERE".into()))
        .await;
    let ev = event(
        "evt_dispute_2",
        "charge.dispute.created",
        Some("acct_ai"),
        json!({"id": "dp_2", "object": "dispute", "amount": 100, "currency": "usd", "charge": "ch_2", "reason": "general"}),
    );
    let (s, _) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!(s, 200);
    let rows = audited(&app, "stripe.dispute_alert_not_sent", 1).await;
    assert_eq!(rows[0]["app"], slug.as_str());
    assert!(
        rows[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("Slack is not configured")
    );
    assert_eq!(app.audit_of("stripe.dispute_created").await.len(), 1);
}

#[tokio::test]
async fn charge_refunded_reconciles_our_action_and_audits_outside_refunds() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    let (d, action, approval) = app.pending_refund(0).await;
    let run = approve(&app, &d, &approval).await;
    assert_eq!(
        run.run.output.as_ref().unwrap()["decisions"][0]["status"],
        "executed"
    );
    let refund = stripe.refunds()[0].clone();
    assert_eq!(refund["metadata"]["idempotency_key"], action.id.as_str());
    let charge_id = refund["charge"].as_str().unwrap().to_string();

    // Stripe reports the refund (the charge embeds it, as older API versions do).
    let charge = json!({"id": charge_id, "object": "charge", "amount": 100_000, "currency": "usd",
                        "amount_refunded": refund["amount"], "refunded": false,
                        "refunds": {"object": "list", "data": [refund], "has_more": false}});
    let (s, b) = deliver(
        &app,
        NEW_SECRET,
        &event("evt_refunded_1", "charge.refunded", None, charge),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reconciled"][0]["action_id"], action.id.as_str());
    assert_eq!(b["reconciled"][0]["outcome"], "confirmed");
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "executed");
    let result = got.result.unwrap();
    assert_eq!(result["reconciled"]["refund_id"], refund["id"]);
    assert_eq!(result["reconciled"]["event_id"], "evt_refunded_1");
    assert_eq!(result["refund"]["status"], "succeeded");
    let rows = app.audit_of("stripe.refund_reconciled").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["data"]["action_id"], action.id.as_str());
    assert_eq!(rows[0]["data"]["outcome"], "confirmed");
    assert_eq!(rows[0]["conversation_id"], d.conversation_id.as_str());
    assert!(app.audit_of("stripe.refund_external").await.is_empty());

    // A refund made in Stripe's dashboard (no metadata of ours); the event's charge does not
    // embed its refunds (current API versions), so the platform lists them from Stripe.
    let outside = outside_refund(&app, "ch_outside1", 500).await;
    let charge = json!({"id": "ch_outside1", "object": "charge", "amount": 100_000, "currency": "usd",
                        "amount_refunded": 500, "refunded": false});
    let (s, b) = deliver(
        &app,
        NEW_SECRET,
        &event("evt_refunded_2", "charge.refunded", None, charge),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["external"][0]["refund_id"], outside["id"]);
    let rows = app.audit_of("stripe.refund_external").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["data"]["charge"], "ch_outside1");
    assert_eq!(rows[0]["data"]["refunds"][0]["refund_id"], outside["id"]);
    assert!(
        stripe
            .calls()
            .iter()
            .any(|c| c.method == "GET" && c.path == "/v1/refunds")
    );
    let emitted = app.runner_events(events::STRIPE_CHARGE_REFUNDED).await;
    assert_eq!(emitted.len(), 2);
}

fn state_of(url: &str) -> String {
    url.split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap()
        .to_string()
}

async fn callback(app: &TestApp, code: &str, state: &str) -> (u16, String) {
    let res = app
        .client
        .get(app.url("/stripe/oauth/callback"))
        .query(&[("code", code), ("state", state)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn connect_onboarding_against_the_fake_and_refused_states() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    let slug = app.demo.apps[0].slug.clone();
    let fake = app
        .platform
        .settings
        .stripe
        .api_url
        .trim_end_matches('/')
        .to_string();
    let path = format!("/api/v1/apps/{slug}/stripe/connect");

    // Admin only.
    let anon = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let viewer = app.token("viewer", Role::Viewer).await;
    let res = app
        .client
        .get(app.url(&path))
        .bearer_auth(viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let v: Value = app.api_json(&path).await;
    let url = v["url"].as_str().unwrap();
    let redirect = format!("{}/stripe/oauth/callback", app.base_url);
    assert!(
        url.starts_with(&format!(
            "{fake}/oauth/authorize?response_type=code&client_id={CLIENT_ID}&scope=read_write&state="
        )),
        "{url}"
    );
    assert!(
        url.ends_with(&format!(
            "&redirect_uri={}",
            redirect.replace(':', "%3A").replace('/', "%2F")
        )),
        "{url}"
    );
    assert_eq!(v["redirect_uri"], redirect.as_str());
    let state = state_of(url);

    // The user accepts on Stripe; Stripe redirects with a code.
    stripe.authorize("ac_good1", "acct_connected1");
    let (s, html) = callback(&app, "ac_good1", &state).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("acct_connected1") && html.contains("Stripe connected"));
    let a = app.platform.store.get_app(&slug).await.unwrap().unwrap();
    assert_eq!(a.stripe_account.as_deref(), Some("acct_connected1"));
    assert_eq!(a.status, "connected");
    let token_calls: Vec<_> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.path == "/oauth/token")
        .collect();
    assert_eq!(token_calls.len(), 1);
    assert_eq!(
        token_calls[0].param("grant_type"),
        Some("authorization_code")
    );
    assert_eq!(token_calls[0].param("code"), Some("ac_good1"));
    let connected = app.audit_of("stripe.connected").await;
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0]["app"], slug.as_str());
    assert_eq!(connected[0]["data"]["account"], "acct_connected1");

    // The same state again (even with a fresh code): refused, nothing exchanged.
    stripe.authorize("ac_good2", "acct_attacker");
    let (s, body) = callback(&app, "ac_good2", &state).await;
    assert_eq!((s, code_of(&body).as_str()), (409, "state_reused"));
    // Forged: signed with another key, or edited.
    let other_key = support_core::crypto::MasterKey::generate().0;
    let forged = stripe_connect::mint_state(&other_key, &slug, now_ms(), 60_000);
    let (s, body) = callback(&app, "ac_good2", &forged).await;
    assert_eq!((s, code_of(&body).as_str()), (400, "state_invalid"));
    let mut edited = state.clone();
    edited.insert(8, 'x');
    let (s, body) = callback(&app, "ac_good2", &edited).await;
    assert_eq!((s, code_of(&body).as_str()), (400, "state_invalid"));
    // Expired: minted by the platform's key two hours ago.
    let old = stripe_connect::mint_state(
        &app.platform.master_key,
        &slug,
        now_ms() - 2 * 3_600_000,
        stripe_connect::STATE_TTL_MS,
    );
    let (s, body) = callback(&app, "ac_good2", &old).await;
    assert_eq!((s, code_of(&body).as_str()), (400, "state_expired"));
    assert_eq!(
        stripe
            .calls()
            .iter()
            .filter(|c| c.path == "/oauth/token")
            .count(),
        1
    );
    let a = app.platform.store.get_app(&slug).await.unwrap().unwrap();
    assert_eq!(a.stripe_account.as_deref(), Some("acct_connected1"));
    let refused: Vec<String> = app
        .audit_of("stripe.oauth_refused")
        .await
        .iter()
        .map(|r| r["data"]["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        [
            "state_reused",
            "state_invalid",
            "state_invalid",
            "state_expired"
        ]
    );

    // A code Stripe does not know: its invalid_grant is surfaced, nothing changes.
    let v: Value = app.api_json(&path).await;
    let (s, body) = callback(&app, "ac_unknown", &state_of(v["url"].as_str().unwrap())).await;
    assert_eq!((s, code_of(&body).as_str()), (502, "stripe_oauth_failed"));
    assert!(body.contains("invalid_grant"), "{body}");

    // `skill apps connect-stripe` prints a link minted under the same master key: it works.
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(SKILL);
    cmd.current_dir(cwd.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("SUPPORT_") || k.starts_with("INNGEST_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--json", "apps", "connect-stripe", &slug])
        .env("SUPPORT_DATABASE_URL", app.database_url())
        .env("SUPPORT_DATA_DIR", app.data_dir())
        .env("SUPPORT_PUBLIC_URL", &app.base_url)
        .env("SUPPORT_STRIPE__CONNECT_CLIENT_ID", CLIENT_ID)
        .env("SUPPORT_STRIPE__CONNECT_URL", &fake)
        .env("SUPPORT_LOG__FILTER", "error")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["app"], slug.as_str());
    assert_eq!(v["stripe_account"], "acct_connected1");
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{fake}/oauth/authorize?")),
        "{url}"
    );
    stripe.authorize("ac_cli", "acct_connected2");
    let (s, html) = callback(&app, "ac_cli", &state_of(url)).await;
    assert_eq!(s, 200, "{html}");
    let a = app.platform.store.get_app(&slug).await.unwrap().unwrap();
    assert_eq!(a.stripe_account.as_deref(), Some("acct_connected2"));
    // Without a client id the command says what to set.
    let out = tokio::process::Command::new(SKILL)
        .current_dir(cwd.path())
        .args(["apps", "connect-stripe", &slug])
        .env_remove("SUPPORT_STRIPE__CONNECT_CLIENT_ID")
        .env("SUPPORT_DATABASE_URL", app.database_url())
        .env("SUPPORT_DATA_DIR", app.data_dir())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect_client_id"));
}

#[tokio::test]
async fn query_tools_read_the_connected_account_live_and_are_audited() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    let slug = app.demo.apps[0].slug.clone();
    set_account(&app, &slug, "acct_typewise").await;
    stripe.add_charge(Some("acct_typewise"), "ch_q1", "cus_q1", 4900);
    stripe.add_charge(Some("acct_typewise"), "ch_q2", "cus_q1", 9900);
    stripe.add_charge(None, "ch_platform", "cus_q1", 100);
    stripe.add_subscription(Some("acct_typewise"), "cus_q1", "sub_q1", "active");

    let s = &app.platform.services;
    let deps = support_host::functions::inbound_deps(s).unwrap();
    let row = s.registry.require(&slug).await.unwrap();
    let tools = support_workflow::PlatformTools::new(&deps, &row, "run_tools_test", "cnv_tools")
        .await
        .unwrap();

    let charges = tools
        .execute(&ToolCall::new(
            ToolName::ListCharges,
            json!({"customerId": "cus_q1"}),
        ))
        .await
        .unwrap();
    let ids: Vec<&str> = charges
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ch_q2", "ch_q1"], "{charges}");
    assert_eq!(charges[0]["amount_cents"], 9900);
    let call = stripe
        .calls()
        .into_iter()
        .rfind(|c| c.path == "/v1/charges")
        .unwrap();
    assert_eq!(call.stripe_account.as_deref(), Some("acct_typewise"));

    let subs = tools
        .execute(&ToolCall::new(
            ToolName::ListSubscriptions,
            json!({"customerId": "cus_q1", "limit": 5}),
        ))
        .await
        .unwrap();
    assert_eq!(subs[0]["id"], "sub_q1");
    assert_eq!(subs[0]["status"], "active");

    // Refunds by charge: one made on the connected account shows up.
    let refunds = tools
        .execute(&ToolCall::new(
            ToolName::ListRefunds,
            json!({"chargeId": "ch_q1"}),
        ))
        .await
        .unwrap();
    assert_eq!(refunds, json!([]));
    // Neither a charge nor a customer: refused before any call.
    let before = stripe.calls().len();
    let err = tools
        .execute(&ToolCall::new(ToolName::ListRefunds, json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("chargeId or customerId"), "{err}");
    let err = tools
        .execute(&ToolCall::new(
            ToolName::ListCharges,
            json!({"customerId": "cus_1&limit=100"}),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a Stripe id"), "{err}");
    assert_eq!(stripe.calls().len(), before);

    // Each call is audited as a tool call; nothing is stored beyond the audit.
    let rows = app.audit_of("tool.called").await;
    let tools_called: Vec<&str> = rows
        .iter()
        .map(|r| r["data"]["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools_called,
        [
            "listCharges",
            "listSubscriptions",
            "listRefunds",
            "listRefunds",
            "listCharges"
        ]
    );
    assert_eq!(rows[0]["data"]["ok"], true);
    assert_eq!(rows[3]["data"]["ok"], false);
}

#[tokio::test]
async fn a_refund_stripe_reports_for_a_failed_action_is_recorded_without_hiding_the_failure() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    stripe.fail_next_refund("card_declined", "Your card was declined.");
    let (d, action, approval) = app.pending_refund(0).await;
    let run = approve(&app, &d, &approval).await;
    assert_eq!(
        run.run.output.as_ref().unwrap()["decisions"][0]["status"],
        "failed"
    );
    assert!(stripe.refunds().is_empty());

    // Stripe later reports a refund carrying our key (e.g. made by a retry elsewhere).
    let refund = json!({"id": "re_late1", "object": "refund", "amount": approval.amount_cents, "currency": "usd",
                        "status": "succeeded", "charge": "ch_late1",
                        "metadata": {"idempotency_key": action.id, "app": app.demo.apps[1].slug}});
    let charge = json!({"id": "ch_late1", "object": "charge", "amount": approval.amount_cents,
                        "amount_refunded": approval.amount_cents, "refunded": true, "currency": "usd",
                        "refunds": {"object": "list", "data": [refund], "has_more": false}});
    let (s, b) = deliver(
        &app,
        NEW_SECRET,
        &event("evt_late_1", "charge.refunded", None, charge),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reconciled"][0]["outcome"], "refunded_but_failed");
    let got = app.action(&action.id).await;
    // Still failed (the dead letter stays for the retry), with the refund recorded.
    assert_eq!(got.status, "failed");
    assert!(got.error.unwrap().contains("declined"));
    assert_eq!(got.result.unwrap()["refundId"], "re_late1");
    let rows = app.audit_of("stripe.refund_reconciled").await;
    assert_eq!(rows[0]["data"]["outcome"], "refunded_but_failed");
    assert_eq!(rows[0]["data"]["action_status"], "failed");
}

/// A delivery that cannot be applied (Stripe is down when the platform lists the charge's
/// refunds) is answered 500 and dead-lettered; Stripe's own retry is a duplicate, so only the
/// letter keeps the event. Once Stripe is back an admin replays it and it is applied.
#[tokio::test]
async fn a_delivery_that_fails_is_dead_lettered_and_replayed() {
    let app = spawn(stripe_fakes()).await;
    let stripe = app.stripe.clone().unwrap();
    let outside = outside_refund(&app, "ch_outage1", 700).await;
    let charge = json!({"id": "ch_outage1", "object": "charge", "amount": 100_000, "currency": "usd",
                        "amount_refunded": 700, "refunded": false});
    let ev = event("evt_outage_1", "charge.refunded", None, charge);
    stripe.fail_next_requests(1);
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (500, Some("webhook_failed")),
        "{b}"
    );
    let (s, b) = deliver(&app, NEW_SECRET, &ev).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("duplicate")), "{b}");
    assert!(app.audit_of("stripe.refund_external").await.is_empty());

    let open: Value = app.api_json("/api/v1/dead-letters").await;
    let letter = open["items"][0].clone();
    assert_eq!(letter["kind"], "webhook", "{open}");
    assert_eq!(letter["ref_id"], "stripe:evt_outage_1");
    assert!(
        letter["error"].as_str().unwrap().contains("refunds"),
        "{letter}"
    );
    let path = format!(
        "/api/v1/dead-letters/{}/replay",
        letter["id"].as_str().unwrap()
    );

    // Viewers and agents may not replay.
    let agent = app.token("alice", Role::Agent).await;
    let (status, _) = app.post_json(&agent, &path, json!({})).await;
    assert_eq!(status, 403);
    // While Stripe is still down the replay fails and the letter stays open.
    stripe.fail_next_requests(1);
    let (status, body) = app.post_json(&app.demo.api_token, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("replay_failed")),
        "{body}"
    );
    // Back up: applied once.
    let (status, body) = app.post_json(&app.demo.api_token, &path, json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "applied");
    let rows = app.audit_of("stripe.refund_external").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["data"]["refunds"][0]["refund_id"], outside["id"]);
    let replayed = app.audit_of("dead_letter.replayed").await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["actor"], "token:demo");
    let (status, body) = app.post_json(&app.demo.api_token, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("dead_letter_resolved"))
    );
    let open: Value = app.api_json("/api/v1/dead-letters").await;
    assert_eq!(open["items"], json!([]));
}
