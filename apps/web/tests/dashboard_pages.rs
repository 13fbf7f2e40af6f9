//! The dashboard's gaps closed in #13, server-side, on SQLite and (with `TEST_DATABASE_URL`)
//! Postgres, with viewer/agent/admin: the approvals queue follows the top bar's app filter and
//! its pager goes one page up (not back to the first page); a conversation's action shows what
//! Stripe reported later (the refund confirmed, then reversed, by `charge.refunded`, and a
//! dispute of its charge); the Apps pages show each SDK endpoint's health live; HSTS on https.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::settings::Secret;
use support_core::signing::stripe_signature_header;
use support_core::store::{ActionRow, ApprovalRow};
use support_core::time::now_ms;
use support_testkit::{Fakes, TestApp, TestBackend, WebSession, web_client};

const WAIT: Duration = Duration::from_secs(60);
const WEBHOOK_SECRET: &str = "whsec_dashboard_pages";

fn with_webhook(s: &mut support_core::settings::Settings) {
    s.stripe.webhook_secrets = vec![Secret::new(WEBHOOK_SECRET)];
}

/// SQLite, plus Postgres when `TEST_DATABASE_URL` is set.
async fn backends(fakes: Fakes) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for b in [TestBackend::Sqlite, TestBackend::Postgres] {
        match TestApp::spawn_with_fakes(b, fakes, with_webhook).await {
            Some(app) => apps.push(app),
            None => eprintln!("SKIPPED: Postgres (set TEST_DATABASE_URL)"),
        }
    }
    apps
}

async fn page(s: &WebSession, path: &str) -> String {
    let res = s.get(path).await;
    assert_eq!(res.status().as_u16(), 200, "GET {path}");
    res.text().await.unwrap()
}

/// The href of the pager link `rel` (`prev` or `next`), unescaped.
fn pager_href(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..at].rfind("href=\"")? + 6;
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

/// An action of `app` and its approval, written to the store directly.
async fn approval(app: &TestApp, slug: &str, id: &str, decided_at: Option<i64>) {
    let store = &app.platform.store;
    let action: ActionRow = serde_json::from_value(json!({
        "id": format!("act_{id}"), "conversation_id": format!("cnv_{id}"), "app": slug,
        "kind": "processRefund", "params": {"purchaseId": "pur_1", "chargeId": format!("ch_{id}")},
        "category": "refund", "confidence": 0.9, "reasoning": "asked",
        "risk": "approval_required", "status": "pending_approval",
        "idempotency_key": format!("key_{id}"), "result": null, "error": null,
        "trace_id": null, "created_at": 1_000, "updated_at": 1_000
    }))
    .unwrap();
    store.insert_action(&action).await.unwrap();
    let row: ApprovalRow = serde_json::from_value(json!({
        "id": format!("apr_{id}"), "action_id": format!("act_{id}"), "channel": "dashboard",
        "slack_channel": null, "slack_ts": null,
        "status": if decided_at.is_some() { "rejected" } else { "pending" },
        "decided_by": decided_at.map(|_| "user:a@example.com"), "reason": decided_at.map(|_| "test"),
        "expires_at": now_ms() + 3_600_000, "created_at": 1_000, "decided_at": decided_at,
        "approvers_required": 1, "amount_cents": 1000, "currency": "usd",
        "capability": null, "draft": null
    }))
    .unwrap();
    store.insert_approval(&row).await.unwrap();
}

#[tokio::test]
async fn approvals_follow_the_app_filter_and_newer_goes_one_page_up() {
    for app in backends(Fakes::default()).await {
        eprintln!("-- {:?}", app.backend);
        let (a, b) = (app.demo.apps[0].slug.clone(), app.demo.apps[1].slug.clone());
        // 120 decided approvals of app a (decided in order), 2 of app b; pending: 1 each.
        for i in 0..120 {
            approval(&app, &a, &format!("a{i:03}"), Some(10_000 + i)).await;
        }
        for i in 0..2 {
            approval(&app, &b, &format!("b{i:03}"), Some(10_000 + i)).await;
        }
        approval(&app, &a, "apend", None).await;
        approval(&app, &b, "bpend", None).await;

        for role in [Role::Viewer, Role::Agent, Role::Admin] {
            let s = app.login_as(role).await;
            // The top bar's filter: app b's approvals only, in both sections.
            let only_b = page(&s, &format!("/approvals?app={b}")).await;
            assert!(
                only_b.contains("/approvals/apr_b000") && only_b.contains("/approvals/apr_bpend")
            );
            assert!(
                !only_b.contains("apr_a"),
                "app a's approvals are filtered out"
            );
            assert!(pager_href(&only_b, "next").is_none(), "one page only");

            // App a: 50 a page, newest decision first. Older, Older, then Newer: page 2.
            let first = page(&s, &format!("/approvals?app={a}")).await;
            assert!(first.contains("apr_a119") && first.contains("apr_a070"));
            assert!(!first.contains("apr_a069") && !first.contains("apr_b"));
            assert!(
                pager_href(&first, "prev").is_none(),
                "no page above the first"
            );
            let older = pager_href(&first, "next").expect("an Older link");
            assert!(older.contains(&format!("app={a}")), "{older}");
            let second = page(&s, &older).await;
            assert!(second.contains("apr_a069") && second.contains("apr_a020"));
            assert!(!second.contains("apr_a070") && !second.contains("apr_a019"));
            let third = page(&s, &pager_href(&second, "next").unwrap()).await;
            assert!(third.contains("apr_a019") && third.contains("apr_a000"));
            assert!(pager_href(&third, "next").is_none(), "the last page");
            let up = pager_href(&third, "prev").expect("a Newer link");
            assert!(up.contains(&format!("app={a}")), "{up}");
            let back = page(&s, &up).await;
            assert!(
                back.contains("apr_a069") && back.contains("apr_a020"),
                "Newer from page 3 is page 2, not page 1"
            );
            assert!(!back.contains("apr_a070") && !back.contains("apr_a019"));
            // ...and from page 2 up again: the first page, with nothing above it.
            let top = page(&s, &pager_href(&back, "prev").unwrap()).await;
            assert!(top.contains("apr_a119") && top.contains("apr_a070"));
            assert!(pager_href(&top, "prev").is_none());
            assert!(pager_href(&top, "next").is_some());
        }
    }
}

/// POST a Stripe event signed with the test secret; its answer.
async fn deliver(
    app: &TestApp,
    id: &str,
    kind: &str,
    account: Option<&str>,
    object: Value,
) -> Value {
    let mut event = json!({"id": id, "object": "event", "type": kind, "api_version": "2024-06-20",
                           "created": now_ms() / 1000, "data": {"object": object}});
    if let Some(a) = account {
        event["account"] = json!(a);
    }
    let body = serde_json::to_vec(&event).unwrap();
    let res = web_client()
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            stripe_signature_header(WEBHOOK_SECRET, now_ms() / 1000, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or_default();
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn an_action_shows_its_later_reconciliation_reversal_and_dispute() {
    let fakes = Fakes {
        stripe: true,
        slack: false,
    };
    for app in backends(fakes).await {
        eprintln!("-- {:?}", app.backend);
        let stripe = app.stripe.clone().unwrap();
        let (d, action, approval) = app.pending_refund(0).await;
        let agent = app.login_as(Role::Agent).await;
        let res = agent
            .post_form(&format!("/approvals/{}/approve", approval.id), &[])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        let run = app.finished_run(&d.event_id, WAIT).await;
        assert_eq!(run.run.status, support_steps::RunStatus::Completed);
        let refund = stripe.refunds()[0].clone();
        let charge = action.params["chargeId"].as_str().unwrap().to_string();
        assert_eq!(refund["charge"].as_str(), Some(charge.as_str()));
        let detail = format!("/conversations/{}", d.conversation_id);
        let viewer = app.login_as(Role::Viewer).await;
        let before = page(&viewer, &detail).await;
        assert!(!before.contains("Disputed") && !before.contains("Reversed"));

        // Stripe confirms the refund, later reports it failed, and the customer disputes.
        let charged = |refund: &Value, n: &str| {
            json!({"id": charge, "object": "charge", "amount": 100_000, "currency": "usd",
                   "amount_refunded": refund["amount"], "refunded": false,
                   "refunds": {"object": "list", "data": [refund], "has_more": false}, "n": n})
        };
        let ok = deliver(
            &app,
            "evt_pages_1",
            "charge.refunded",
            None,
            charged(&refund, "1"),
        )
        .await;
        assert_eq!(ok["reconciled"][0]["outcome"], "confirmed", "{ok}");
        let mut failed = refund.clone();
        failed["status"] = json!("failed");
        deliver(
            &app,
            "evt_pages_2",
            "charge.refunded",
            None,
            charged(&failed, "2"),
        )
        .await;
        let dispute = json!({"id": "dp_pages1", "object": "dispute", "amount": 4900, "currency": "usd",
                             "charge": charge, "reason": "fraudulent", "status": "needs_response",
                             "evidence_details": {"due_by": 1_800_000_000}});
        deliver(&app, "evt_pages_3", "charge.dispute.created", None, dispute).await;
        // A dispute of another charge is not this action's.
        let other = json!({"id": "dp_other", "object": "dispute", "amount": 100, "currency": "usd",
                           "charge": "ch_someone_else", "reason": "general", "status": "needs_response"});
        deliver(&app, "evt_pages_4", "charge.dispute.created", None, other).await;

        for s in [&viewer, &agent] {
            let html = page(s, &detail).await;
            let refund_id = refund["id"].as_str().unwrap();
            assert!(html.contains("Refund and later"), "{html}");
            assert!(
                html.contains(&format!("Stripe reported refund {refund_id}"))
                    && html.contains("confirmed"),
                "the charge.refunded reconciliation: {html}"
            );
            assert!(
                html.contains(&format!(
                    "Reversed: Stripe reports refund {refund_id} failed"
                )),
                "the later reversal: {html}"
            );
            assert!(
                html.contains("Disputed: the customer disputed $49.00")
                    && html.contains("fraudulent")
                    && html.contains("dp_pages1"),
                "the dispute: {html}"
            );
            assert!(!html.contains("dp_other"), "another charge's dispute");
        }
    }
}

#[tokio::test]
async fn apps_pages_show_each_sdk_endpoint_live() {
    let fakes = Fakes {
        stripe: true,
        slack: false,
    };
    for app in backends(fakes).await {
        eprintln!("-- {:?}", app.backend);
        // A run of the agent calls app 1's SDK (its tool calls are audited).
        let _ = app.pending_refund(0).await;
        let slug = app.demo.apps[1].slug.clone();
        let idle = app.demo.apps[2].slug.clone();
        for role in [Role::Viewer, Role::Agent, Role::Admin] {
            let s = app.login_as(role).await;
            let list = page(&s, "/apps").await;
            assert!(list.contains("SDK endpoint (live)"), "{list}");
            assert!(list.contains("last success"), "{list}");
            let detail = page(&s, &format!("/apps/{slug}")).await;
            assert!(detail.contains("Live, from the agent"), "{detail}");
            assert!(detail.contains(&format!("SDK endpoint of {slug}")));
            assert!(detail.contains("tool.called"), "the last success: {detail}");
            assert!(detail.contains("Last doctor run"));
            let quiet = page(&s, &format!("/apps/{idle}")).await;
            assert!(quiet.contains("not recorded"), "{quiet}");
        }
        // A failing call afterwards: the endpoint shows failed, with what it said.
        let ev = AuditEvent::new(
            "tool.called",
            "agent",
            json!({"tool": "lookupUser", "ok": false, "error": "SDK endpoint answered 502", "duration_ms": 12}),
        )
        .app(&slug);
        app.platform.store.append_audit(&ev).await.unwrap();
        let s = app.login_as(Role::Viewer).await;
        let detail = page(&s, &format!("/apps/{slug}")).await;
        assert!(detail.contains("SDK endpoint answered 502"), "{detail}");
        assert!(detail.contains("badge-failed"), "{detail}");
        let list = page(&s, "/apps").await;
        assert!(list.contains("last error"), "{list}");
    }
}

#[tokio::test]
async fn hsts_only_when_the_dashboard_is_on_https() {
    let app = TestApp::spawn_with_fakes(TestBackend::Sqlite, Fakes::default(), |s| {
        s.public_url = Some("https://support.example.com".into());
    })
    .await
    .unwrap();
    let res = web_client().get(app.url("/login")).send().await.unwrap();
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(hsts.starts_with("max-age="), "{hsts:?}");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}
