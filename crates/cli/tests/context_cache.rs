//! The per-conversation context cache in the inbound workflow (`support_workflow::context`), on
//! the memory cache and (with `TEST_REDIS_URL`) on the real Redis: the first run of a message
//! hydrates from the product and keeps the context; a re-run of the same message is served
//! from it; a changed article it quotes drops it; a Redis that goes away is read around. And
//! the rule that money comes from the payment provider: a cached purchase figure never changes
//! a refund's amount.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::context_cache::ContextCache;
use support_core::pipeline::tools::{ToolCall, ToolName};
use support_core::settings::Secret;
use support_core::store::AuditFilter;
use support_steps::RunStatus;
use support_testkit::{Fakes, TestApp, TestBackend};
use support_workflow::context::{self, HydratedContext, StoreVersions};
use support_workflow::conversation_actions::{Requester, request_rerun};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);
/// The demo's refund at 36 days: Paul Ferguson, Tailwind Atelier, $179.00.
const PAUL: &str = "paul.ferguson@example.net";

fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED: Redis variant (TEST_REDIS_URL is not set); the memory cache ran");
    }
    url
}

async fn with_redis(url: String) -> TestApp {
    TestApp::spawn_with_fakes(TestBackend::Sqlite, Fakes::default(), move |s| {
        s.redis_url = Some(Secret::new(url));
    })
    .await
    .unwrap()
}

async fn audit(app: &TestApp, conversation: &str, kind: &str) -> Vec<Value> {
    app.platform
        .store
        .list_audit(&AuditFilter {
            conversation_id: Some(conversation.into()),
            kind: Some(kind.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.data)
        .collect()
}

/// What each `hydrate` of the conversation found in the context cache, oldest first.
async fn lookups(app: &TestApp, conversation: &str) -> Vec<String> {
    // The audit lists oldest first.
    audit(app, conversation, "hydrate.completed")
        .await
        .iter()
        .map(|d| d["context_cache"].as_str().unwrap_or("absent").to_string())
        .collect()
}

/// A re-run of the conversation's newest message (as the dashboard asks for one), waited on.
async fn rerun(app: &TestApp, conversation: &str) {
    let row = app
        .platform
        .store
        .get_conversation(conversation)
        .await
        .unwrap()
        .unwrap();
    let by = Requester {
        actor: "test",
        source: "test",
        attribution: json!({}),
    };
    let event_id = request_rerun(
        app.platform.store.as_ref(),
        app.platform.events.as_ref(),
        &row,
        &by,
    )
    .await
    .unwrap();
    let engine = &app.platform.engine;
    let runs = engine
        .wait_for_runs_of(&format!("test:{event_id}"), 1, WAIT)
        .await
        .unwrap();
    let id = runs[0].id.clone();
    engine
        .wait_until("the re-run to end", WAIT, || async {
            Ok(engine
                .get_run(&id)
                .await?
                .filter(|r| matches!(r.run.status, RunStatus::Completed | RunStatus::Failed)))
        })
        .await
        .unwrap();
}

fn cache_of(app: &TestApp) -> ContextCache {
    ContextCache::new(app.platform.registry.cache().clone())
}

/// Kyle's playback-speed question (answered from a knowledge search): hit on a re-run, the
/// entry holds the articles the answer quoted, dropped when one of them changes.
async fn reruns_are_served_from_the_cache_until_an_article_changes(app: &TestApp) {
    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Playback speed",
            "Hi, how can I change the playback speed of the Typewise videos? I'd like to watch at 1.5x.",
        ))
        .await
        .unwrap();
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed);
    let conv = d.conversation_id.clone();
    assert_eq!(lookups(app, &conv).await, ["miss"]);

    // The entry of this message holds the customer and the knowledge the agent retrieved.
    let hydrated = audit(app, &conv, "hydrate.completed").await;
    let message = hydrated[0]["message_id"].as_str().unwrap().to_string();
    let id = context::context_id(&conv, &message);
    let store = app.platform.store.clone();
    let versions = StoreVersions(store.as_ref());
    let (entry, _) = cache_of(app).get::<HydratedContext>(&versions, &id).await;
    let entry = entry.expect("the first run kept its context");
    assert_eq!(entry.value.facts.email, "kyle.dunmore@example.com");
    assert!(entry.value.facts.user.is_some(), "{entry:?}");
    assert!(!entry.value.searches.is_empty(), "{entry:?}");
    let (article, version) = entry.articles[0].clone();

    // A re-run of the same message: served from the cache, no lookupUser from hydrate.
    let calls = |v: Vec<Value>| v.iter().filter(|c| c["tool"] == "lookupUser").count();
    let before = calls(audit(app, &conv, "tool.called").await);
    rerun(app, &conv).await;
    assert_eq!(lookups(app, &conv).await, ["miss", "hit"]);
    let after = calls(audit(app, &conv, "tool.called").await);
    assert!(
        after - before < before,
        "hydrate's lookup came from the cache ({before} then {after})"
    );

    // The quoted article gets a new version: the entry is dropped, the next run hydrates anew.
    let current = store.get_article(&article).await.unwrap().unwrap();
    assert_eq!(current.current_version, version);
    let agent = app
        .token("ctx-agent", support_core::auth::Role::Agent)
        .await;
    let shown: Value = app
        .client
        .get(app.url(&format!("/api/v1/kb/articles/{article}")))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let current = &shown["current"];
    let res = app
        .client
        .put(app.url(&format!("/api/v1/kb/articles/{article}")))
        .bearer_auth(&agent)
        .json(&json!({
            "title": current["title"],
            "body": format!("{}\n\nUpdated: speeds up to 3x.", current["body"].as_str().unwrap()),
            "tags": current["tags"],
            "visibility": current["visibility"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    rerun(app, &conv).await;
    assert_eq!(lookups(app, &conv).await, ["miss", "hit", "stale"]);
    rerun(app, &conv).await;
    assert_eq!(lookups(app, &conv).await, ["miss", "hit", "stale", "hit"]);
}

#[tokio::test]
async fn reruns_hit_the_memory_cache_and_a_changed_article_drops_the_entry() {
    let app = TestApp::spawn().await;
    assert_eq!(app.platform.registry.cache().backend(), "memory");
    reruns_are_served_from_the_cache_until_an_article_changes(&app).await;
}

#[tokio::test]
async fn reruns_hit_redis_and_a_changed_article_drops_the_entry() {
    let Some(url) = redis_url() else { return };
    let app = with_redis(url).await;
    assert_eq!(app.platform.registry.cache().backend(), "redis");
    reruns_are_served_from_the_cache_until_an_article_changes(&app).await;
}

/// A TCP relay to `target` that can be taken down (its listener and every connection closed).
struct Relay {
    port: u16,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    /// Close the listener and every connection (dropping the task drops them all).
    async fn down(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn a_redis_that_goes_away_is_read_around() {
    let Some(url) = redis_url() else { return };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(6379)
    );
    let relay = Relay::start(target).await;
    let mut relayed = parsed.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.port)).unwrap();
    let app = with_redis(relayed.to_string()).await;
    assert_eq!(app.platform.registry.cache().backend(), "redis");
    relay.down().await;

    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Offline viewing",
            "Hi, can I download the Typewise videos to watch them offline on a plane?",
        ))
        .await
        .unwrap();
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(lookups(&app, &d.conversation_id).await, ["failed"]);
    let drafts = app
        .platform
        .store
        .list_drafts(&d.conversation_id)
        .await
        .unwrap();
    assert_eq!(drafts.len(), 1, "the draft is written without the cache");
}

/// Money comes from the payment provider: Paul's purchase cached at 1 cent (and 2 days old)
/// is what the context serves, yet the refund is quoted at the Stripe charge's 17 900 cents,
/// and without Stripe at the product's figure read now; the refund moves 17 900.
#[tokio::test]
async fn a_cached_purchase_figure_never_changes_a_refund_amount() {
    let app = TestApp::sqlite_with_fakes(Fakes {
        stripe: true,
        slack: false,
    })
    .await;
    let stripe = app.stripe.clone().unwrap();
    let s = &app.platform.services;
    let deps = support_host::functions::inbound_deps(s).unwrap();
    let slug = app.demo.apps[1].slug.clone();
    let row = s.registry.require(&slug).await.unwrap();
    let now = support_core::time::now_ms();
    let live = support_workflow::PlatformTools::new(&deps, &row, "run_ctx_test", "cnv_ctx")
        .await
        .unwrap();
    let mut facts = support_core::pipeline::agent::hydrate(&live, PAUL, now).await;
    let at = facts
        .purchases
        .iter()
        .position(|p| p.amount_cents == 17_900)
        .expect("Paul's $179.00 purchase");
    let purchase = facts.purchases[at].id.clone();
    // The cache is poisoned: a tampered or outdated copy of the purchase.
    facts.purchases[at].amount_cents = 1;
    facts.purchases[at].purchased_at = support_core::pipeline::inbound::format_iso_millis(now);
    let id = context::context_id("cnv_ctx", "msg_ctx");
    let store = app.platform.store.clone();
    let versions = StoreVersions(store.as_ref());
    let ctx = HydratedContext {
        facts,
        searches: Vec::new(),
    };
    context::save(&deps.context, &id, ctx, now).await;
    let (cached, lookup) = context::load(&deps.context, &versions, &id, PAUL, now).await;
    assert_eq!(context::lookup_name(lookup), "hit");
    let cached = cached.unwrap().facts;
    assert_eq!(cached.purchases[at].amount_cents, 1);

    // With Stripe: the charge's amount.
    let tools = support_workflow::PlatformTools::new(&deps, &row, "run_ctx_test", "cnv_ctx")
        .await
        .unwrap()
        .with_facts(cached.clone());
    let quote = tools.quote_refund(&purchase).await.unwrap();
    assert_eq!((quote.amount_cents, quote.verified), (17_900, true));
    // Approved at the quote and run: Stripe refunds 17 900.
    let call = ToolCall::new(
        ToolName::ProcessRefund,
        json!({"purchaseId": purchase, "reason": "test", "chargeId": quote.charge_id}),
    );
    tools
        .execute_approved(&call, "act_ctx_test", Some(quote.amount_cents))
        .await
        .unwrap();
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 17_900);

    // Without Stripe: the product's figure read now, not the cached one.
    let mut no_stripe = deps.clone();
    no_stripe.payments = None;
    let tools = support_workflow::PlatformTools::new(&no_stripe, &row, "run_ctx_test", "cnv_ctx")
        .await
        .unwrap()
        .with_facts(cached);
    let quote = tools.quote_refund(&purchase).await.unwrap();
    assert_eq!((quote.amount_cents, quote.verified), (17_900, false));
}
