//! The Front sidebar plugin in headless Chromium, framed by a fake Front host page
//! (`support_testkit::front_plugin_host`) that speaks Front's side of the plugin protocol and
//! records every function call; plus the official npm `@frontapp/plugin-sdk` run against the
//! same host page (installed for the tests only in `tests/plugin-sdk`; required when
//! `SUPPORT_REQUIRE_NPM=1`, as in CI).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use support_core::auth::{Role, hash_password};
use support_core::store::UserRow;
use support_core::time::now_ms;
use support_testkit::TestApp;
use support_testkit::browser::Browser;
use support_testkit::front_plugin_host::{FakeFrontHost, FrontPluginHost};

mod common;
use common::spawn_with_stripe;

fn context(id: &str, conversation: &str, subject: &str, teammate: &str) -> Value {
    json!({
        "id": id, "type": "singleConversation", "entryPointId": "ep_sidebar", "hostId": "host_1",
        "functionArities": {"createDraft": 2, "openUrl": 2, "listMessages": 2, "tag": 2, "addLink": 3},
        "preferences": {}, "authentication": {},
        "teammate": {"id": teammate, "name": "Tess Mate", "username": "tess", "email": "tess@example.com"},
        "company": {"id": "cmp_1", "name": "Demo"}, "entryPoint": {"type": "sidebar"},
        "conversation": {"id": conversation, "status": "assigned", "subject": subject, "blurb": "",
                          "tags": [], "links": [], "inboxes": []}
    })
}

async fn set_context(b: &Browser, ctx: &Value) {
    b.client.enter_parent_frame().await.ok();
    b.client
        .execute("window.hostSetContext(arguments[0]);", vec![ctx.clone()])
        .await
        .expect("set context");
    b.client
        .enter_frame(0)
        .await
        .expect("enter the plugin frame");
}

async fn host_calls(b: &Browser) -> Vec<Value> {
    b.client.enter_parent_frame().await.ok();
    let v = b
        .client
        .execute("return window.hostCalls;", vec![])
        .await
        .expect("calls");
    b.client
        .enter_frame(0)
        .await
        .expect("enter the plugin frame");
    v.as_array().cloned().unwrap_or_default()
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    support_testkit::browser::poll(what, Duration::from_secs(20), f).await
}

fn plugin_url(app: &TestApp, secret: &str) -> String {
    app.url(&format!("/plugin/front?auth_secret={secret}"))
}

#[tokio::test]
async fn the_sidebar_in_front_shows_inserts_switches_links_and_approves() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_with_stripe().await;
    let host = FrontPluginHost::start(None).await.expect("fake Front host");
    // The demo's 36-day refund (pending approval) and a second conversation.
    let (refund, _action, approval) = app.pending_refund(0).await;
    let (other, _, _) = app.pending_refund(1).await;
    let store = &app.platform.store;

    // A wrong secret: the 401 page and nothing else.
    b.goto(&host.page(&plugin_url(&app, "wrong-secret"))).await;
    b.client.enter_frame(0).await.expect("frame");
    b.wait_for_text("h1", "Unauthorized").await;
    assert!(b.find_all("#suggestion").await.is_empty());
    assert!(!b.source().await.contains(&refund.conversation_id));

    // The real page, for an unlinked teammate.
    b.goto(&host.page(&plugin_url(&app, &app.demo.front_plugin_auth_secret)))
        .await;
    b.client.enter_frame(0).await.expect("frame");
    b.wait_for("#plugin-status").await;
    set_context(
        &b,
        &context("ctx_1", &refund.conversation_id, "Refund", "tea_unlinked"),
    )
    .await;
    b.wait_for("#route-reasons li").await;
    let detail = store
        .conversation_detail(&refund.conversation_id)
        .await
        .expect("detail");
    if let Some(draft) = detail.drafts.last() {
        let shown = b.wait_for("#draft-text").await.text().await.expect("text");
        assert_eq!(shown.trim(), draft.text.trim());
        b.click("#insert-draft").await;
        let drafts = poll("one createDraft", async || {
            let c: Vec<Value> = host_calls(&b)
                .await
                .into_iter()
                .filter(|c| c["name"] == "createDraft")
                .collect();
            (!c.is_empty()).then_some(c)
        })
        .await;
        assert_eq!(drafts.len(), 1, "{drafts:?}");
        assert_eq!(drafts[0]["args"][0]["content"]["body"], draft.text.as_str());
        assert_eq!(drafts[0]["args"][0]["replyOptions"]["type"], "reply");
        assert_eq!(drafts[0]["contextId"], "ctx_1");
    } else {
        println!("note: the refund conversation has no draft; insert is covered by the second one");
    }
    // Unlinked: the approval is shown without buttons, and a forged approve is refused.
    b.wait_for(&format!("li.approval[data-id='{}']", approval.id))
        .await;
    assert!(
        b.find_all(".approve").await.is_empty(),
        "no approve button when unlinked"
    );
    b.wait_for("#link-account").await;
    let forged = b
        .client
        .execute_async(
            "var done = arguments[arguments.length - 1];\
             var t = document.querySelector('meta[name=plugin-token]').content;\
             fetch('/plugin/front/api/approvals/' + arguments[0] + '/approve', {method: 'POST',\
               headers: {'Authorization': 'Bearer ' + t, 'Content-Type': 'application/json'},\
               body: JSON.stringify({teammate_id: 'tea_admin'})})\
             .then(function (r) { return r.json().then(function (j) { done([r.status, j]); }); });",
            vec![json!(approval.id)],
        )
        .await
        .expect("forged approve");
    assert_eq!(forged[0], 403, "{forged}");
    assert_eq!(forged[1]["error"]["code"], "plugin_not_linked");

    // Switching the selection updates the sidebar.
    set_context(
        &b,
        &context("ctx_2", &other.conversation_id, "Refund", "tea_unlinked"),
    )
    .await;
    let other_detail = store
        .conversation_detail(&other.conversation_id)
        .await
        .expect("detail");
    let other_approval = other_detail
        .approvals
        .first()
        .expect("an approval")
        .id
        .clone();
    b.wait_for(&format!("li.approval[data-id='{other_approval}']"))
        .await;
    assert!(
        b.find_all(&format!("li.approval[data-id='{}']", approval.id))
            .await
            .is_empty()
    );
    if detail.drafts.is_empty()
        && let Some(draft) = other_detail.drafts.last()
    {
        let shown = b.wait_for("#draft-text").await.text().await.expect("text");
        assert_eq!(shown.trim(), draft.text.trim());
        b.click("#insert-draft").await;
        let drafts = poll("one createDraft", async || {
            let c: Vec<Value> = host_calls(&b)
                .await
                .into_iter()
                .filter(|c| c["name"] == "createDraft")
                .collect();
            (!c.is_empty()).then_some(c)
        })
        .await;
        assert_eq!(drafts.len(), 1);
        assert_eq!(drafts[0]["args"][0]["content"]["body"], draft.text.as_str());
    }
    b.screenshot("front-plugin").await;

    // Link as an agent: the plugin opens our link page through Front's openUrl; the agent signs
    // in there (the dashboard's login) and confirms; the plugin redeems the ticket by itself.
    set_context(
        &b,
        &context("ctx_3", &refund.conversation_id, "Refund", "tea_agent"),
    )
    .await;
    b.wait_for(&format!("li.approval[data-id='{}']", approval.id))
        .await;
    b.click("#link-account").await;
    let open = poll("openUrl", async || {
        host_calls(&b)
            .await
            .into_iter()
            .find(|c| c["name"] == "openUrl")
    })
    .await;
    let link = open["args"][0].as_str().expect("url").to_string();
    assert!(
        link.starts_with(&app.url("/plugin/front/link?state=")),
        "{link}"
    );
    let password = "pw-front-plugin-agent";
    let agent = UserRow {
        id: support_core::ids::new_id("usr"),
        email: "agent.front@example.com".into(),
        name: Some("Agent Front".into()),
        role: Role::Agent,
        password_hash: Some(hash_password(password).expect("hash")),
        slack_user_id: None,
        created_at: now_ms(),
        deactivated_at: None,
    };
    store.insert_user(&agent).await.expect("agent");
    let plugin_window = b.client.window().await.expect("window");
    let w = b.client.new_window(true).await.expect("new window");
    b.client.switch_to_window(w.handle).await.expect("switch");
    b.goto(&link).await;
    b.fill("#email", &agent.email).await;
    b.fill("#password", password).await;
    b.click("button[type=submit]").await;
    b.wait_for("#link-confirm").await;
    b.click("#link-confirm").await;
    b.wait_for("#linked").await;
    b.client.close_window().await.expect("close");
    b.client
        .switch_to_window(plugin_window)
        .await
        .expect("back");
    b.client.enter_frame(0).await.expect("frame");
    b.wait_for_text("#plugin-identity", &agent.email).await;
    let approve = format!("li.approval[data-id='{}'] .approve", approval.id);
    b.wait_for(&approve).await;
    b.click(&approve).await;
    b.wait_for_text("#plugin-flash", "approved").await;
    let stripe = app.stripe.as_ref().expect("fake Stripe");
    poll("the refund", async || {
        (!stripe.refunds().is_empty()).then_some(())
    })
    .await;
    app.finished_run(&refund.event_id, Duration::from_secs(30))
        .await;
    assert_eq!(stripe.refunds().len(), 1, "exactly one refund");
    let decided = store
        .get_approval(&approval.id)
        .await
        .expect("store")
        .expect("approval");
    assert_eq!(
        decided.decided_by.as_deref(),
        Some("user:agent.front@example.com")
    );
    b.close().await;
}

fn sdk_bundle() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/plugin-sdk/node_modules/@frontapp/plugin-sdk/dist/index.umd.js");
    if p.exists() {
        return Some(p);
    }
    if std::env::var("SUPPORT_REQUIRE_NPM").is_ok_and(|v| v == "1") {
        panic!(
            "SUPPORT_REQUIRE_NPM=1 but {} is missing: run `npm ci` in apps/front/tests/plugin-sdk (cargo xtask test does)",
            p.display()
        );
    }
    println!(
        "SKIPPED: the official @frontapp/plugin-sdk is not installed (npm ci in apps/front/tests/plugin-sdk)"
    );
    None
}

#[tokio::test]
async fn the_official_sdk_speaks_to_the_same_host() {
    let Some(bundle) = sdk_bundle() else { return };
    let Some(b) = Browser::start().await else {
        return;
    };
    let host: FakeFrontHost = FrontPluginHost::start(Some(bundle)).await.expect("host");
    b.goto(&format!("{}/sdk", host.base_url)).await;
    poll("the SDK's handshake", async || {
        let n = b
            .client
            .execute("return window.handshakes;", vec![])
            .await
            .ok()?;
        (n.as_i64() == Some(1)).then_some(())
    })
    .await;
    b.client
        .execute(
            "window.hostSetContext(arguments[0]);",
            vec![context("ctx_sdk", "cnv_sdk1", "SDK", "tea_sdk")],
        )
        .await
        .expect("context");
    let log = poll("the SDK's createDraft result", async || {
        let v = b
            .client
            .execute("return window.sdkLog;", vec![])
            .await
            .ok()?;
        v.as_array()?
            .iter()
            .any(|e| e["kind"] == "result")
            .then_some(v)
    })
    .await;
    let log = log.as_array().expect("log");
    assert!(
        log.iter().any(|e| e["kind"] == "context"
            && e["conversation"] == "cnv_sdk1"
            && e["teammate"] == "tea_sdk"),
        "{log:?}"
    );
    let result = log.iter().find(|e| e["kind"] == "result").expect("result");
    assert!(
        result["value"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("dft_fake_")),
        "{log:?}"
    );
    let calls = b
        .client
        .execute("return window.hostCalls;", vec![])
        .await
        .expect("calls");
    let calls = calls.as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["name"], "createDraft");
    assert_eq!(calls[0]["contextId"], "ctx_sdk");
    assert_eq!(
        calls[0]["args"][0]["content"]["body"],
        "from the official sdk"
    );
    b.close().await;
}

fn other_context(id: &str, kind: &str, conversations: &[&str], teammate: &str) -> Value {
    let mut ctx = context(id, "cnv_unused", "", teammate);
    let obj = ctx.as_object_mut().expect("object");
    obj.remove("conversation");
    obj.insert("type".into(), json!(kind));
    if kind == "multiConversations" {
        obj.insert(
            "conversations".into(),
            json!(
                conversations
                    .iter()
                    .map(|c| json!({"id": c, "status": "assigned", "subject": "Refund"}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    ctx
}

#[tokio::test]
async fn the_sidebar_shows_the_customer_a_selection_the_inbox_and_acts_for_a_linked_agent() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_with_stripe().await;
    let host = FrontPluginHost::start(None).await.expect("fake Front host");
    let (refund, action, approval) = app.pending_refund(0).await;
    let (other, _, other_approval) = app.pending_refund(1).await;
    let conv = refund.conversation_id.clone();

    b.goto(&host.page(&plugin_url(&app, &app.demo.front_plugin_auth_secret)))
        .await;
    b.client.enter_frame(0).await.expect("frame");
    b.wait_for("#plugin-status").await;

    // Several conversations selected: a short state of each.
    set_context(
        &b,
        &other_context(
            "ctx_m",
            "multiConversations",
            &[conv.as_str(), other.conversation_id.as_str()],
            "tea_unlinked",
        ),
    )
    .await;
    for id in [&conv, &other.conversation_id] {
        let li = b.wait_for(&format!("#multi-list li[data-id='{id}']")).await;
        let text = li.text().await.expect("text");
        assert!(text.contains("1 pending"), "{text}");
    }
    b.screenshot("front-plugin-multi").await;

    // No conversation: the inbox's pending approvals.
    set_context(
        &b,
        &other_context("ctx_n", "noConversation", &[], "tea_unlinked"),
    )
    .await;
    for id in [&approval.id, &other_approval.id] {
        b.wait_for(&format!("#inbox li.approval[data-id='{id}']"))
            .await;
    }
    assert!(b.find_all("#inbox .approve").await.is_empty(), "unlinked");

    // One conversation: the customer card from the app, the charge from Stripe on demand.
    set_context(&b, &context("ctx_c", &conv, "Refund", "tea_unlinked")).await;
    b.wait_for_text("#customer-email", "paul.ferguson@example.net")
        .await;
    assert!(
        b.find_all("#agent-actions").await.is_empty(),
        "no agent actions when unlinked"
    );
    let purchase = action.params["purchaseId"].as_str().expect("purchase");
    b.click(&format!("li.purchase[data-id='{purchase}'] .show-charge"))
        .await;
    let amount = support_core::payments::format_amount(
        approval.amount_cents.expect("quoted from Stripe"),
        approval.currency.as_deref().unwrap_or("usd"),
    );
    b.wait_for_text(
        &format!("li.purchase[data-id='{purchase}'] .charge"),
        &amount,
    )
    .await;
    b.screenshot("front-plugin-customer").await;

    // A linked agent (the credential the link flow hands out, put where the page keeps it):
    // re-run and hand over, audited with the user and the teammate.
    let agent = app
        .add_user("agent.card@example.com", Role::Agent, None)
        .await;
    let cred = support_front::plugin::auth::credential(
        &app.platform.master_key,
        &agent.id,
        "tea_agent",
        now_ms(),
    );
    b.client
        .execute(
            "localStorage.setItem('support.frontPlugin.credential', arguments[0]);",
            vec![json!(cred)],
        )
        .await
        .expect("store the credential");
    b.goto(&host.page(&plugin_url(&app, &app.demo.front_plugin_auth_secret)))
        .await;
    b.client.enter_frame(0).await.expect("frame");
    b.wait_for("#plugin-status").await;
    set_context(&b, &context("ctx_a", &conv, "Refund", "tea_agent")).await;
    b.wait_for_text("#plugin-identity", "agent.card@example.com")
        .await;
    b.wait_for("#customer-fetched").await;
    let fetched = b
        .wait_for("#customer-fetched")
        .await
        .text()
        .await
        .expect("text");
    assert!(fetched.starts_with("From the cache"), "{fetched}");
    b.click("#rerun").await;
    b.wait_for_text("#plugin-flash", "runs again").await;
    let reruns = app.audit_of("conversation.rerun_requested").await;
    assert_eq!(reruns.len(), 1, "{reruns:?}");
    assert_eq!(reruns[0]["data"]["teammate_id"], "tea_agent");
    assert_eq!(reruns[0]["data"]["user_id"], agent.id.as_str());
    b.click("#handover").await;
    b.wait_for_text("#plugin-flash", "Handed over").await;
    assert!(app.front.tags(&conv).contains(&"needs-human".to_string()));
    let handed = app.audit_of("conversation.handed_over").await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["actor"], "user:agent.card@example.com");
    b.close().await;
}
