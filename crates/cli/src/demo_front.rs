//! `--demo` without a Front token: the Front sandbox runs in-process at `/sandbox/front`, the
//! platform's Front client points at it, its webhooks go to the platform's own intake (signed
//! like Front's), and a few sample conversations are replayed through that path. The demo
//! knowledge base is imported too.

use axum::Router;
use support_core::settings::{Secret, Settings};
use support_core::time::now_ms;
use support_front::sandbox::{NewMessage, Sandbox, WebhookTarget};
use support_host::Platform;

/// Where the in-process sandbox is mounted.
pub const PREFIX: &str = "/sandbox/front";

/// Point the Front settings at the in-process sandbox (when no real token is configured).
/// Returns the sandbox to mount, or `None` when a real Front is configured.
pub fn prepare(settings: &mut Settings, base_url: &str) -> Option<Sandbox> {
    if settings.front.api_token.is_some() {
        return None;
    }
    let token = support_core::crypto::random_hex(16);
    let sandbox = Sandbox::new(token.clone());
    sandbox.set_base_url(format!("{base_url}{PREFIX}"));
    settings.front.api_token = Some(Secret::new(token));
    settings.front.api_url = format!("{base_url}{PREFIX}");
    Some(sandbox)
}

/// The sandbox's routes under [`PREFIX`].
pub fn router(sandbox: &Sandbox) -> Router {
    Router::new().nest(PREFIX, sandbox.router())
}

/// Import the demo knowledge base of each demo app through the import path
/// (`support_knowledge::demo`: markdown files embedded in the binary; idempotent, an unchanged
/// article changes nothing), and the demo's canned responses that never existed
/// (`support_knowledge::demo::seed_canned`). Returns the chunks written.
pub async fn import_kb(p: &Platform) -> Result<usize, support_core::store::StoreError> {
    let mut n = 0;
    for (slug, _) in support_host::demo::DEMO_APPS {
        let report = support_knowledge::demo::import(&p.knowledge, slug, now_ms())
            .await
            .map_err(|e| match e {
                support_knowledge::KnowledgeError::Store(e) => e,
                other => support_core::store::StoreError::Backend(other.to_string()),
            })?;
        if let Some(e) = report.errors.first() {
            return Err(support_core::store::StoreError::Corrupt(e.to_string()));
        }
        n += report.chunks;
    }
    support_knowledge::demo::seed_canned(p.store.as_ref(), now_ms()).await?;
    Ok(n)
}

/// A few sample conversations that show each path: a draft, an approval, an escalation, silence.
const SAMPLES: &[(usize, &str, &str, &str, &str)] = &[
    (
        0,
        "kyle.dunmore@example.com",
        "Kyle Dunmore",
        "Login link never arrives",
        "Hi, I bought Typewise last week but the login link never shows up in my inbox. Can you send a new one?",
    ),
    (
        1,
        "paul.ferguson@example.net",
        "Paul Ferguson",
        "Refund request",
        "Hello, the course isn't what I expected. I bought it about five weeks ago, could I get a refund please?",
    ),
    (
        0,
        "tomas.herrera@example.com",
        "Tomás Herrera",
        "Formal complaint",
        "This is unacceptable. If I don't get my money back this week my lawyer will file in small claims court.",
    ),
    (
        2,
        "auto-reply@example.org",
        "Auto Reply",
        "Out of office",
        "I am out of the office until Monday with limited access to email. I will reply when I return.",
    ),
];

/// Point the sandbox's webhooks at the intake and replay the samples (first run only).
pub async fn replay_samples(p: &Platform, sandbox: &Sandbox) {
    let Some(demo) = &p.demo else { return };
    sandbox.set_webhook(WebhookTarget {
        url: format!("{}/webhooks/front", p.base_url()),
        secret: demo.front_signing_secret.clone(),
    });
    if p.store
        .list_conversations(None, 1)
        .await
        .map(|c| !c.is_empty())
        .unwrap_or(true)
    {
        return;
    }
    for (app, from, name, subject, body) in SAMPLES {
        let Some(inbox) = demo.apps.get(*app).map(|a| a.front_inbox_id.clone()) else {
            continue;
        };
        let msg = NewMessage {
            conversation_id: None,
            inbox_id: inbox,
            from: (*from).into(),
            from_name: Some((*name).into()),
            reply_to: None,
            subject: (*subject).into(),
            body: (*body).into(),
            inbound: true,
        };
        match sandbox.deliver(msg).await {
            Ok(d) => {
                tracing::info!(conversation = %d.conversation_id, status = ?d.webhook_status, "demo conversation sent")
            }
            Err(e) => tracing::warn!(cause = %e, "demo conversation not delivered"),
        }
    }
}
