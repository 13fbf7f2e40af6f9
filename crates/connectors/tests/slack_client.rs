//! The Slack approval channel against a local fake of Slack's Web API that speaks Slack's wire
//! format: `POST /api/{method}` with `Authorization: Bearer xoxb-…`, JSON or form bodies, and
//! answers `{"ok":true,…}` / HTTP 200 `{"ok":false,"error":"…"}` / 429 with `Retry-After`.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use support_connectors::slack::SlackApprovals;
use support_core::approvals::*;
use support_core::settings::Secret;
use support_testkit::fakes::FakeSlack;

const TOKEN: &str = "xoxb-1234-5678-fake";
const CHANNEL: &str = "C0APPROVALS";

async fn start() -> (FakeSlack, String) {
    FakeSlack::start(TOKEN, CHANNEL).await.unwrap()
}

fn request() -> ApprovalRequest {
    ApprovalRequest {
        action_id: "act_01HXAPPROVE".into(),
        app_slug: "total-typescript".into(),
        app_name: "Total TypeScript".into(),
        customer_email: Some("jane@example.com".into()),
        customer_name: Some("Jane Doe".into()),
        inbox: Some("inb_1".into()),
        conversation_id: "cnv_1".into(),
        front_url: Some("https://app.frontapp.com/open/cnv_1".into()),
        tool: "processRefund".into(),
        params: json!({"purchaseId": "pur_1", "amount": 2500}),
        amount_cents: Some(2500),
        currency: Some("usd".into()),
        reasoning: "Bought 40 days ago.".into(),
        draft: Some("Hi Jane, your refund is on its way.".into()),
        approvers_required: 1,
        expires_at: 1_700_086_400_000,
    }
}

#[tokio::test]
async fn posts_and_updates_through_every_transition() {
    let (fake, url) = start().await;
    let slack = SlackApprovals::new(&Secret::new(TOKEN), &url).unwrap();
    let msg = slack.post_request(CHANNEL, &request()).await.unwrap();
    assert_eq!(msg.channel, CHANNEL);
    assert_eq!(msg.ts, "1700000000.000001");

    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.method, "chat.postMessage");
    assert_eq!(
        c.authorization.as_deref(),
        Some("Bearer xoxb-1234-5678-fake")
    );
    assert!(
        c.content_type
            .as_deref()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(c.args["channel"], CHANNEL);
    assert_eq!(c.args["unfurl_links"], false);
    assert!(
        c.args["text"]
            .as_str()
            .unwrap()
            .contains("processRefund $25.00")
    );
    let actions = c.args["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    let buttons: Vec<(&str, &str)> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action_id"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        buttons,
        [
            (ids::APPROVE, "act_01HXAPPROVE"),
            (ids::REJECT, "act_01HXAPPROVE"),
            (ids::EDIT, "act_01HXAPPROVE"),
            (ids::OPEN_IN_FRONT, "act_01HXAPPROVE"),
        ]
    );

    let by = vec![Approver::new("U0ALICE")];
    let states = [
        ApprovalState::Approved {
            approved_by: by.clone(),
        },
        ApprovalState::Executing {
            approved_by: by.clone(),
        },
        ApprovalState::Executed {
            approved_by: by.clone(),
            result: "Refunded $25.00 (re_123)".into(),
        },
    ];
    for state in &states {
        slack.update_request(&msg, &request(), state).await.unwrap();
        let stored = fake.message(CHANNEL, &msg.ts).unwrap();
        let text = stored["blocks"].to_string();
        assert!(
            !text.contains(ids::APPROVE),
            "no buttons once decided ({})",
            state.as_str()
        );
        assert!(text.contains("<@U0ALICE>"));
    }
    let last = fake.calls().pop().unwrap();
    assert_eq!(last.method, "chat.update");
    assert_eq!(last.args["ts"], msg.ts.as_str());
    assert_eq!(last.args["channel"], CHANNEL);
    assert!(
        fake.message(CHANNEL, &msg.ts).unwrap()["blocks"]
            .to_string()
            .contains("Executed: Refunded $25.00 (re_123)")
    );
}

#[tokio::test]
async fn rejected_failed_and_expired_are_rendered() {
    let (fake, url) = start().await;
    let slack = SlackApprovals::new(&Secret::new(TOKEN), &format!("{url}/")).unwrap();
    for (state, needle) in [
        (
            ApprovalState::Rejected {
                by: Approver::new("U0BOB"),
                reason: Some("Outside the refund window".into()),
            },
            "Rejected by <@U0BOB>: Outside the refund window",
        ),
        (
            ApprovalState::Failed {
                approved_by: vec![Approver::new("U0BOB")],
                error: "Your card was declined.".into(),
            },
            "Failed: Your card was declined.",
        ),
        (ApprovalState::Expired, "Expired without a decision"),
    ] {
        let msg = slack.post_request(CHANNEL, &request()).await.unwrap();
        slack
            .update_request(&msg, &request(), &state)
            .await
            .unwrap();
        let stored = fake.message(CHANNEL, &msg.ts).unwrap();
        assert!(stored["blocks"].to_string().contains(needle), "{stored}");
        assert!(stored["text"].as_str().unwrap().starts_with(match state {
            ApprovalState::Rejected { .. } => "Rejected",
            ApprovalState::Failed { .. } => "Failed",
            _ => "Expired",
        }));
    }
}

#[tokio::test]
async fn opens_modals_and_posts_ephemeral_replies() {
    let (fake, url) = start().await;
    let slack = SlackApprovals::new(&Secret::new(TOKEN), &url).unwrap();
    slack
        .open_modal(
            "123.456.abc",
            &ApprovalModal::Reject {
                action_id: "act_1".into(),
                summary: "processRefund $25.00".into(),
            },
        )
        .await
        .unwrap();
    slack
        .open_modal(
            "123.456.def",
            &ApprovalModal::Edit {
                action_id: "act_1".into(),
                draft: Some("Hi Jane".into()),
                amount_cents: Some(2500),
                currency: Some("usd".into()),
            },
        )
        .await
        .unwrap();
    slack
        .ephemeral(CHANNEL, "U0ALICE", "You already approved this action.")
        .await
        .unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().map(|c| c.method.as_str()).collect::<Vec<_>>(),
        ["views.open", "views.open", "chat.postEphemeral"]
    );
    assert_eq!(calls[0].args["trigger_id"], "123.456.abc");
    assert_eq!(calls[0].args["view"]["callback_id"], ids::REJECT_MODAL);
    assert_eq!(calls[0].args["view"]["private_metadata"], "act_1");
    assert_eq!(calls[1].args["view"]["callback_id"], ids::EDIT_MODAL);
    assert_eq!(
        calls[1].args["view"]["blocks"][1]["element"]["initial_value"],
        "25.00"
    );
    assert_eq!(calls[2].args["user"], "U0ALICE");
    assert_eq!(calls[2].args["text"], "You already approved this action.");
}

#[tokio::test]
async fn slack_errors_are_typed() {
    let (fake, url) = start().await;
    let slack = SlackApprovals::new(&Secret::new(TOKEN), &url).unwrap();
    let e = slack.post_request("C0NOPE", &request()).await.unwrap_err();
    assert!(
        matches!(&e, ApprovalChannelError::Api { code } if code == "channel_not_found"),
        "{e:?}"
    );
    assert!(!e.is_retriable());

    let e = slack
        .update_request(
            &MessageRef {
                channel: CHANNEL.into(),
                ts: "1.2".into(),
            },
            &request(),
            &ApprovalState::Expired,
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, ApprovalChannelError::Api { code } if code == "message_not_found"));

    let e = slack
        .open_modal(
            "expired.trigger",
            &ApprovalModal::Reject {
                action_id: "act_1".into(),
                summary: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, ApprovalChannelError::Api { code } if code == "expired_trigger_id"));

    let wrong = SlackApprovals::new(&Secret::new("xoxb-wrong"), &url).unwrap();
    let e = wrong.post_request(CHANNEL, &request()).await.unwrap_err();
    assert!(matches!(&e, ApprovalChannelError::Api { code } if code == "invalid_auth"));

    fake.rate_limit_next(1);
    let e = slack.post_request(CHANNEL, &request()).await.unwrap_err();
    assert!(
        matches!(
            e,
            ApprovalChannelError::RateLimited {
                retry_after_secs: 7
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retriable());
    // The next call goes through.
    slack.post_request(CHANNEL, &request()).await.unwrap();

    // Nothing listens on port 1.
    let down = SlackApprovals::new(&Secret::new(TOKEN), "http://127.0.0.1:1/api").unwrap();
    let e = down.post_request(CHANNEL, &request()).await.unwrap_err();
    assert!(matches!(e, ApprovalChannelError::Transport(_)), "{e:?}");
}

#[tokio::test]
async fn the_fake_also_takes_form_bodies_like_slack() {
    // Slack's Web API accepts form-encoded arguments with structured ones as JSON strings; the
    // fake must too, so it stays a faithful stand-in for clients other than slack-morphism.
    support_connectors::ensure_crypto_provider();
    let (fake, url) = start().await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]);
    let res: Value = reqwest::Client::new()
        .post(format!("{url}/chat.postMessage"))
        .bearer_auth(TOKEN)
        .form(&[
            ("channel", CHANNEL),
            ("text", "hello"),
            ("blocks", &blocks.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["ok"], true);
    let call = fake.calls().pop().unwrap();
    assert_eq!(call.args["blocks"], blocks);
    let res: Value = reqwest::Client::new()
        .post(format!("{url}/chat.postMessage"))
        .form(&[("channel", CHANNEL), ("text", "hello")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res, json!({"ok": false, "error": "not_authed"}));
}
