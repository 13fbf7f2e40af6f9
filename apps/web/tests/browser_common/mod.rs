//! What the browser tests share: the demo platform (fake Stripe, the demo's 36-day refund
//! waiting for approval, another demo conversation, one whose customer wrote a `<script>`),
//! signing in through the login form, and the checks after an approval.
#![allow(dead_code)]

use std::time::Duration;
use support_core::auth::Role;
use support_core::store::{ActionRow, ApprovalRow};
use support_testkit::browser::Browser;
use support_testkit::{Fakes, TestApp};

pub const WAIT: Duration = Duration::from_secs(60);
pub const SCRIPT_SUBJECT: &str = "Invoice <script>document.title='pwned'</script>";
pub const SCRIPT_BODY: &str = "Hi <script>document.body.setAttribute('data-xss','1')</script><b>bold?</b> where is my invoice?";

/// A delivered conversation: its Front id and the event that started its run.
pub struct Conv {
    pub conversation_id: String,
    pub event_id: String,
}

pub struct Demo {
    pub app: TestApp,
    pub refund: (Conv, ActionRow, ApprovalRow),
    pub script: Conv,
}

/// The platform with fake Stripe, the demo's refund request (Paul, 36 days: waiting for
/// approval), another demo conversation and one whose customer wrote a `<script>`.
pub async fn demo() -> Demo {
    let app = TestApp::sqlite_with_fakes(Fakes {
        stripe: true,
        ..Fakes::default()
    })
    .await;
    let (d, action, approval) = app.pending_refund(0).await;
    let refund = (
        Conv {
            conversation_id: d.conversation_id,
            event_id: d.event_id,
        },
        action,
        approval,
    );
    let other = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Login link never arrives",
            "Hi, I bought Typewise last week but the login link never shows up in my inbox.",
        ))
        .await
        .expect("deliver");
    let script = app
        .front
        .deliver(app.inbound(0, "mallory@example.com", SCRIPT_SUBJECT, SCRIPT_BODY))
        .await
        .expect("deliver");
    for d in [&other, &script] {
        app.run_at_rest(&d.event_id, WAIT).await;
    }
    Demo {
        app,
        refund,
        script: Conv {
            conversation_id: script.conversation_id,
            event_id: script.event_id,
        },
    }
}

/// Sign in through the login form as a new user of `role`.
pub async fn sign_in(b: &Browser, app: &TestApp, role: Role) -> String {
    let (user, password) = app.user_with_password(role).await;
    b.goto(&app.url("/login")).await;
    b.fill("#email", &user.email).await;
    b.fill("#password", &password).await;
    b.click("form[action='/login'] button[type='submit']").await;
    b.wait_for_url("the dashboard", |u| !u.contains("/login"))
        .await;
    user.email
}

/// A phrase of our draft that reads the same in Front's HTML and on the page: the first words
/// of its longest line.
pub fn draft_phrase(approval: &ApprovalRow) -> String {
    let draft = approval
        .draft
        .clone()
        .expect("the approval carries the draft");
    let line = draft
        .lines()
        .max_by_key(|l| l.len())
        .unwrap_or_default()
        .to_string();
    line.split_whitespace()
        .take(5)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn approve_form(approval: &ApprovalRow) -> String {
    format!("form[action='/approvals/{}/approve']", approval.id)
}

/// After the click: the run finishes, Stripe saw exactly one refund, Front holds the draft.
pub async fn assert_refunded_once(demo: &Demo) {
    let (d, action, approval) = &demo.refund;
    let run = demo.app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(
        format!("{:?}", run.run.status),
        "Completed",
        "{:?}",
        run.run.error
    );
    let stripe = demo.app.stripe.as_ref().expect("fake Stripe");
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(
        refunds[0]["charge"].as_str(),
        action.params["chargeId"].as_str()
    );
    let drafts = demo.app.front.drafts(&d.conversation_id);
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    let first_words = draft_phrase(approval);
    assert!(
        drafts[0].to_string().contains(&first_words),
        "{first_words:?} in {drafts:?}"
    );
    assert_eq!(demo.app.action(&action.id).await.status, "executed");
}
