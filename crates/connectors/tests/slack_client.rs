//! The Slack approval channel against a local fake of Slack's Web API that speaks Slack's wire
//! format: `POST /api/{method}` with `Authorization: Bearer xoxb-…`, JSON or form bodies, and
//! answers `{"ok":true,…}` / HTTP 200 `{"ok":false,"error":"…"}` / 429 with `Retry-After`.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support_connectors::slack::SlackApprovals;
use support_core::approvals::*;
use support_core::settings::Secret;

const TOKEN: &str = "xoxb-1234-5678-fake";
const CHANNEL: &str = "C0APPROVALS";

/// One call as the fake saw it.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    authorization: Option<String>,
    content_type: Option<String>,
    /// The arguments, from a JSON body or a form body (form values that hold JSON, like
    /// `blocks`, are decoded).
    args: Value,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    /// `ts` -> message, per channel.
    messages: Vec<(String, String, Value)>,
    next_ts: u64,
    rate_limit_next: u32,
}

#[derive(Clone, Default)]
struct FakeSlack(Arc<Mutex<FakeState>>);

impl FakeSlack {
    fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }
    fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap()
            .messages
            .iter()
            .find(|(c, t, _)| c == channel && t == ts)
            .map(|(_, _, m)| m.clone())
    }
}

fn slack_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    slack_json(StatusCode::OK, body)
}

fn err(code: &str) -> Response {
    slack_json(StatusCode::OK, json!({"ok": false, "error": code}))
}

/// Parse a Web API body the way Slack does: JSON (`application/json`) or form
/// (`application/x-www-form-urlencoded`, where structured arguments are JSON strings).
fn parse_args(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    let ct = content_type.unwrap_or("");
    if ct.starts_with("application/json") {
        return serde_json::from_slice(body).ok();
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body);
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            let parsed = match k.as_str() {
                "blocks" | "attachments" | "view" => serde_json::from_str(&v).ok()?,
                _ => Value::String(v),
            };
            map.insert(k, parsed);
        }
        return Some(Value::Object(map));
    }
    None
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// Slack's checks on a message's blocks (the ones we can get wrong).
fn blocks_valid(blocks: &Value) -> bool {
    let Some(list) = blocks.as_array() else {
        return false;
    };
    if list.len() > 50 {
        return false;
    }
    list.iter().all(|b| {
        let elements = b["elements"].as_array().cloned().unwrap_or_default();
        elements.iter().all(|e| {
            e["type"] != "button"
                || (e["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= 75)
                    && e["value"]
                        .as_str()
                        .is_none_or(|v| v.chars().count() <= 2000)
                    && e["style"]
                        .as_str()
                        .is_none_or(|s| s == "primary" || s == "danger"))
        }) && b["text"]["text"]
            .as_str()
            .is_none_or(|t| t.chars().count() <= if b["type"] == "header" { 150 } else { 3000 })
    })
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: header::HeaderName| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = h(header::AUTHORIZATION);
    let content_type = h(header::CONTENT_TYPE);
    let args = parse_args(content_type.as_deref(), &body);
    let mut st = fake.0.lock().unwrap();
    st.calls.push(Call {
        method: method.clone(),
        authorization: authorization.clone(),
        content_type: content_type.clone(),
        args: args.clone().unwrap_or(Value::Null),
    });
    if st.rate_limit_next > 0 {
        st.rate_limit_next -= 1;
        let mut res = slack_json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error": "ratelimited"}),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, "7".parse().unwrap());
        return res;
    }
    match authorization.as_deref() {
        None => return err("not_authed"),
        Some(a) if a != format!("Bearer {TOKEN}") => return err("invalid_auth"),
        Some(_) => {}
    }
    let Some(args) = args else {
        return err("invalid_arguments");
    };
    let s = |k: &str| args[k].as_str().unwrap_or("").to_string();
    match method.as_str() {
        "chat.postMessage" => {
            let channel = s("channel");
            if channel.is_empty() {
                return err("channel_not_found");
            }
            if channel != CHANNEL {
                return err("channel_not_found");
            }
            if args["blocks"].is_null() && s("text").is_empty() {
                return err("no_text");
            }
            if !args["blocks"].is_null() && !blocks_valid(&args["blocks"]) {
                return err("invalid_blocks");
            }
            st.next_ts += 1;
            let ts = format!("1700000000.{:06}", st.next_ts);
            let message = json!({
                "type": "message",
                "subtype": "bot_message",
                "text": s("text"),
                "ts": ts,
                "username": "Support",
                "bot_id": "B0FAKEBOT",
                "app_id": "A0FAKEAPP",
                "team": "T0FAKETEAM",
                "blocks": args["blocks"],
            });
            st.messages
                .push((channel.clone(), ts.clone(), message.clone()));
            ok(json!({"channel": channel, "ts": ts, "message": message}))
        }
        "chat.update" => {
            let (channel, ts) = (s("channel"), s("ts"));
            if channel != CHANNEL {
                return err("channel_not_found");
            }
            if !args["blocks"].is_null() && !blocks_valid(&args["blocks"]) {
                return err("invalid_blocks");
            }
            let Some(entry) = st
                .messages
                .iter_mut()
                .find(|(c, t, _)| *c == channel && *t == ts)
            else {
                return err("message_not_found");
            };
            entry.2["text"] = args["text"].clone();
            entry.2["blocks"] = args["blocks"].clone();
            entry.2["edited"] = json!({"user": "B0FAKEBOT", "ts": "1700000100.000000"});
            ok(json!({
                "channel": channel,
                "ts": ts,
                "text": args["text"],
                "message": {"text": args["text"], "blocks": args["blocks"], "bot_id": "B0FAKEBOT"},
            }))
        }
        "views.open" => {
            let trigger = s("trigger_id");
            if trigger.is_empty() {
                return err("invalid_arguments");
            }
            if trigger.starts_with("expired") {
                return err("expired_trigger_id");
            }
            let view = &args["view"];
            if view["type"] != "modal"
                || view["title"]["text"]
                    .as_str()
                    .is_none_or(|t| t.chars().count() > 24)
            {
                return err("invalid_arguments");
            }
            let mut stored = view.clone();
            for (k, v) in [
                ("id", json!("V0FAKEVIEW")),
                ("team_id", json!("T0FAKETEAM")),
                ("state", json!({"values": {}})),
                ("hash", json!("1700000000.abcdef")),
                ("previous_view_id", Value::Null),
                ("root_view_id", json!("V0FAKEVIEW")),
                ("app_id", json!("A0FAKEAPP")),
                ("external_id", json!("")),
                ("app_installed_team_id", json!("T0FAKETEAM")),
                ("bot_id", json!("B0FAKEBOT")),
                ("clear_on_close", json!(false)),
                ("notify_on_close", json!(false)),
            ] {
                stored[k] = v;
            }
            ok(json!({"view": stored}))
        }
        "chat.postEphemeral" => {
            if s("channel") != CHANNEL {
                return err("channel_not_found");
            }
            if s("user").is_empty() {
                return err("user_not_in_channel");
            }
            ok(json!({"message_ts": "1700000000.999999"}))
        }
        _ => err("unknown_method"),
    }
}

async fn start() -> (FakeSlack, String) {
    let fake = FakeSlack::default();
    let app = Router::new()
        .route("/api/{method}", post(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
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

    fake.0.lock().unwrap().rate_limit_next = 1;
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
