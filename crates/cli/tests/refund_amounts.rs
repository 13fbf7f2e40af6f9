//! A refund's amount and currency come from the Stripe charge (fake Stripe, Stripe's wire
//! format for `GET /v1/charges/{id}`), never from the product: the example product reports
//! `Purchase.amount` in major units ($179.00 is `179`), which is only cross-checked. A charge
//! that disagrees escalates and nothing is refunded; an approver's edited amount never exceeds
//! what is left on the charge, checked against Stripe when the refund runs.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::store::AuditFilter;
use support_steps::RunStatus;
use support_testkit::fakes::FakeStripe;
use support_testkit::{Fakes, SLACK_CHANNEL, TestApp};

const WAIT: Duration = Duration::from_secs(30);
/// The demo's refund at 36 days: Paul Ferguson, Tailwind Atelier, $179.00.
const PAUL: &str = "paul.ferguson@example.net";

async fn spawn(slack: bool) -> TestApp {
    let app = TestApp::sqlite_with_fakes(Fakes {
        stripe: true,
        slack,
    })
    .await;
    if slack {
        app.set_policy(1, |p| p.approval_channel = Some(SLACK_CHANNEL.into()))
            .await;
    }
    app
}

/// Paul's charge as the example product names it.
fn pauls_charge() -> course_app::SeededCharge {
    course_app::seeded_charges()
        .into_iter()
        .find(|c| c.email == PAUL)
        .unwrap()
}

/// `POST /v1/refunds` requests the platform made (ours carry an idempotency key).
fn our_refund_requests(stripe: &FakeStripe) -> usize {
    stripe
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/refunds" && c.idempotency_key.is_some())
        .count()
}

/// A refund made in Stripe's dashboard (straight on the fake, no metadata of ours).
async fn outside_refund(app: &TestApp, charge: &str, amount: i64) {
    let res = app.stripe_dashboard_refund(charge, amount).await;
    assert_eq!(res.status(), 200);
}

async fn audit_of(app: &TestApp, conversation: &str, kind: &str) -> Vec<Value> {
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

#[tokio::test]
async fn the_demo_refund_approval_reads_17900_cents_from_the_stripe_charge() {
    let app = spawn(true).await;
    let stripe = app.stripe.clone().unwrap();
    let charge = pauls_charge();
    assert_eq!(charge.amount_cents, 17_900);
    let (d, action, approval) = app.pending_refund(0).await;

    // The approval is the charge's: 17 900 cents in usd (not 179), read from Stripe.
    assert_eq!(approval.amount_cents, Some(17_900));
    assert_eq!(approval.currency.as_deref(), Some("usd"));
    assert_eq!(action.params["chargeId"], charge.id.as_str());
    let reads: Vec<_> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path == format!("/v1/charges/{}", charge.id))
        .collect();
    assert!(!reads.is_empty(), "the charge is read from Stripe");
    assert_eq!(
        reads[0].stripe_account, None,
        "demo apps charge on the platform"
    );

    // The dashboard API and the Slack message show the charge's amount, currency and id.
    let item: Value = app
        .api_json(&format!("/api/v1/approvals/{}", approval.id))
        .await;
    assert_eq!(item["amount_cents"], 17_900, "{item}");
    assert_eq!(item["amount"], "$179.00 USD");
    assert_eq!(item["charge_id"], charge.id.as_str());
    assert_eq!(item["amount_source"], "stripe_charge");
    let message = app.slack_message(&approval);
    assert!(message.contains("processRefund $179.00 USD"), "{message}");
    assert!(
        message.contains(&format!("from Stripe charge `{}`", charge.id)),
        "{message}"
    );

    // Approved, Stripe refunds exactly the charge's 17 900 cents.
    app.approve_as_admin(&d.event_id, &approval, WAIT).await;
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 17_900);
    assert_eq!(refunds[0]["charge"], charge.id.as_str());
    assert_eq!(stripe.refunded(&charge.id), 17_900);
}

#[tokio::test]
async fn a_charge_that_disagrees_with_the_product_escalates_and_nothing_is_refunded() {
    let app = spawn(false).await;
    let stripe = app.stripe.clone().unwrap();
    let charge = pauls_charge();
    // Stripe says $150.00; the product says $179.00.
    stripe.set_charge(None, &charge.id, 15_000, "usd");
    let d = app
        .front
        .deliver(app.inbound(
            1,
            PAUL,
            "Refund",
            "Hello, could I get a refund please? It isn't what I needed.",
        ))
        .await
        .unwrap();
    let run = app.run_at_rest(&d.event_id, WAIT).await;
    assert_eq!(
        run.run.status,
        RunStatus::Completed,
        "no approval to wait for: {:?} {:?}",
        run.run.output,
        run.run.error
    );
    let output = run.run.output.unwrap();
    assert_eq!(output["pending_actions"], json!([]));
    assert_eq!(
        output["draft_id"],
        Value::Null,
        "no reply promising a refund"
    );

    // The action is refused with the reason; there is no approval.
    let store = &app.platform.store;
    let actions = store.list_actions(&d.conversation_id).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].kind, "processRefund");
    assert_eq!(actions[0].status, "rejected");
    let error = actions[0].error.clone().unwrap_or_default();
    assert!(error.contains("refund_amount_mismatch"), "{error}");
    assert!(
        error.contains("$150.00 USD") && error.contains(&charge.id),
        "{error}"
    );
    assert!(
        store
            .approval_for_action(&actions[0].id)
            .await
            .unwrap()
            .is_none()
    );

    // Escalated with the reason, audited.
    let escalated = audit_of(&app, &d.conversation_id, "conversation.escalated").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["tag"], "needs-human");
    assert!(
        escalated[0]["reason"]
            .as_str()
            .unwrap()
            .contains("refund_amount_mismatch"),
        "{}",
        escalated[0]
    );
    let refused = audit_of(&app, &d.conversation_id, "refund.refused").await;
    assert_eq!(refused.len(), 1);
    let conv = store
        .get_conversation(&d.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.escalation.as_deref(), Some("needs-human"));

    // Stripe saw no refund request at all.
    assert!(
        stripe
            .calls()
            .iter()
            .all(|c| !(c.method == "POST" && c.path == "/v1/refunds"))
    );
    assert!(stripe.refunds().is_empty());
}

#[tokio::test]
async fn an_edited_amount_above_what_is_left_on_the_charge_is_refused_at_execution() {
    let app = spawn(false).await;
    let stripe = app.stripe.clone().unwrap();
    let charge = pauls_charge();
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.amount_cents, Some(17_900));

    // Meanwhile $100.00 is refunded in Stripe's dashboard: $79.00 is left.
    outside_refund(&app, &charge.id, 10_000).await;

    // An approver edits the amount to $100.00: within the approval, above what is left.
    let (status, body) = app
        .post_json(
            &app.demo.api_token,
            &format!("/api/v1/approvals/{}/edit", approval.id),
            json!({"amount_cents": 10_000}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(
        run.run.output.as_ref().unwrap()["decisions"][0]["status"],
        "failed",
        "{:?}",
        run.run.output
    );

    // Refused before Stripe was asked: only the dashboard's refund is on the charge.
    assert_eq!(our_refund_requests(&stripe), 0);
    assert_eq!(stripe.refunded(&charge.id), 10_000);
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "failed");
    let error = got.error.unwrap_or_default();
    assert!(error.contains("refund_exceeds_remaining"), "{error}");
    assert!(
        error.contains("$100.00 USD asked") && error.contains("$79.00 USD left"),
        "{error}"
    );
}

#[tokio::test]
async fn the_two_approver_limit_compares_the_charges_minor_units() {
    let app = spawn(false).await;
    // $179.00 is 17 900 cents: above a $100.00 limit (179 cents would not be).
    app.set_policy(1, |p| p.two_approver_above_cents = Some(10_000))
        .await;
    let (_d, _action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.amount_cents, Some(17_900));
    assert_eq!(approval.approvers_required, 2);
}

#[tokio::test]
async fn the_approval_is_what_is_left_on_the_charge_not_the_products_figure() {
    let app = spawn(false).await;
    let stripe = app.stripe.clone().unwrap();
    let charge = pauls_charge();
    // $20.00 of the $179.00 was refunded in Stripe's dashboard before Paul wrote.
    outside_refund(&app, &charge.id, 2_000).await;
    let (d, _action, approval) = app.pending_refund(0).await;
    // The product still says $179.00 (it agrees with the charge's amount), but only
    // $159.00 is left on the charge: that is what the approval is for.
    assert_eq!(approval.amount_cents, Some(15_900));
    let gate = audit_of(&app, &d.conversation_id, "gate.decided").await;
    assert_eq!(gate[0]["refund"]["charge_amount_cents"], 17_900);
    assert_eq!(gate[0]["refund"]["refunded_cents"], 2_000);
    assert_eq!(gate[0]["refund"]["verified"], true);

    app.approve_as_admin(&d.event_id, &approval, WAIT).await;
    assert_eq!(our_refund_requests(&stripe), 1);
    assert_eq!(
        stripe.refunded(&charge.id),
        17_900,
        "the whole charge, no more"
    );
}

#[tokio::test]
async fn refunds_inside_the_auto_window_are_cross_checked_too() {
    let app = spawn(false).await;
    let stripe = app.stripe.clone().unwrap();
    let refund = |email: &'static str| {
        app.front.deliver(app.inbound(
            1,
            email,
            "Refund",
            "Hello, could I get a refund please? It isn't what I needed.",
        ))
    };
    let charge_of = |email: &str| {
        course_app::seeded_charges()
            .into_iter()
            .find(|c| c.email == email)
            .unwrap()
    };

    // Rosa (4 days): the charge agrees, the whole charge is refunded at once.
    let rosa = charge_of("r.grant@example.net");
    let d = refund("r.grant@example.net").await.unwrap();
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(stripe.refunded(&rosa.id), rosa.amount_cents);

    // Rhys (11 days): Stripe says $1,790.00 where the product says $179.00 (cents sent as
    // dollars somewhere): nothing is refunded and a human gets the conversation, with why.
    let rhys = charge_of("rhys.evans@example.com");
    stripe.set_charge(None, &rhys.id, 179_000, "usd");
    let before = our_refund_requests(&stripe);
    let d = refund("rhys.evans@example.com").await.unwrap();
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
    assert_eq!(our_refund_requests(&stripe), before, "no refund request");
    assert_eq!(stripe.refunded(&rhys.id), 0);
    let conv = app.conversation(&d.conversation_id).await;
    let reason = conv.escalation_reason.unwrap_or_default();
    assert!(
        reason.contains("refund_amount_mismatch") && reason.contains("$1790.00 USD"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_charge_that_changed_after_approval_is_checked_again_and_nothing_is_refunded() {
    let app = spawn(false).await;
    let stripe = app.stripe.clone().unwrap();
    let charge = pauls_charge();
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.amount_cents, Some(17_900));
    // After the approval was requested, Stripe's charge no longer agrees with the product.
    stripe.set_charge(None, &charge.id, 20_000, "eur");
    app.approve_as_admin(&d.event_id, &approval, WAIT).await;
    assert_eq!(our_refund_requests(&stripe), 0);
    let got = app.action(&action.id).await;
    assert_eq!(got.status, "failed");
    let error = got.error.unwrap_or_default();
    assert!(
        error.contains("refund_amount_mismatch") && error.contains("€200.00 EUR"),
        "{error}"
    );
}
