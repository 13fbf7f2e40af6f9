//! Timestamps from outside at the extremes, over HTTP against the whole platform: `i64::MIN`,
//! `i64::MAX`, out-of-range and garbage values in `x-front-request-timestamp`,
//! `X-Slack-Request-Timestamp` and `Stripe-Signature: t=`, each correctly signed over itself,
//! are refused with the routes' stable codes (never a panic, never a 500), and the server keeps
//! serving. The verifiers' property tests are in `crates/*/tests/prop_*.rs`.
#![allow(clippy::unwrap_used)]

use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use support_core::settings::Secret;
use support_testkit::{Fakes, SLACK_SIGNING_SECRET, TestApp, TestBackend};

const STRIPE_WEBHOOK_SECRET: &str = "whsec_prop_timestamps";

/// Timestamp header values, as raw bytes (some are not ASCII).
fn timestamps() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        i64::MIN.to_string(),
        (i64::MIN + 1).to_string(),
        i64::MAX.to_string(),
        (i64::MAX - 1).to_string(),
        "-1".into(),
        "0".into(),
        "9223372036854775808".into(),
        "-9223372036854775809".into(),
        "99999999999999999999999999999999".into(),
        "1e3".into(),
        "0x10".into(),
        " 17000 ".into(),
        "abc".into(),
        "".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    out.push("١٢٣".as_bytes().to_vec());
    out.push(vec![0xff, 0xfe, b'1']);
    out
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn extreme_and_garbage_timestamps_are_refused_on_every_signed_route() {
    let app = TestApp::spawn_with_fakes(
        TestBackend::Sqlite,
        Fakes {
            slack: true,
            ..Fakes::default()
        },
        |s| s.stripe.webhook_secrets = vec![Secret::new(STRIPE_WEBHOOK_SECRET)],
    )
    .await
    .unwrap();
    let inbox = app.demo.apps[0].front_inbox_id.clone();
    let front_secret = app.demo.front_signing_secret.clone();
    let front_body = json!({"type": "inbound_received", "payload": {"id": "evt_extreme",
        "conversation": {"id": "cnv_1"},
        "source": {"_meta": {"type": "inboxes"}, "data": [{"id": inbox}]}}})
    .to_string();
    let slack_events = json!({"type": "url_verification", "challenge": "c"}).to_string();
    let slack_interaction = "payload=%7B%22type%22%3A%22view_closed%22%7D";
    let stripe_body = json!({"id": "evt_extreme", "type": "customer.created"}).to_string();

    for ts in timestamps() {
        let shown = String::from_utf8_lossy(&ts).to_string();
        let ts_header = HeaderValue::from_bytes(&ts).unwrap();
        // Signed over the very bytes sent, so only the timestamp can refuse them.
        let front_sig = support_core::front::webhook_signature(
            &front_secret,
            &String::from_utf8_lossy(&ts),
            front_body.as_bytes(),
        );
        let (status, v) = send(
            app.client
                .post(app.url("/webhooks/front"))
                .header("content-type", "application/json")
                .header("x-front-signature", front_sig)
                .header("x-front-request-timestamp", ts_header.clone())
                .body(front_body.clone()),
        )
        .await;
        assert_eq!(status, 401, "front {shown:?}: {v}");
        assert_eq!(v["error"]["code"], "invalid_signature", "front {shown:?}");

        for (path, body) in [
            ("/slack/events", slack_events.as_str()),
            ("/slack/interactions", slack_interaction),
        ] {
            let sig = support_core::signing::slack_signature(
                SLACK_SIGNING_SECRET,
                &String::from_utf8_lossy(&ts),
                body.as_bytes(),
            );
            let (status, v) = send(
                app.client
                    .post(app.url(path))
                    .header("x-slack-request-timestamp", ts_header.clone())
                    .header("x-slack-signature", sig)
                    .body(body.to_string()),
            )
            .await;
            assert_eq!(status, 401, "{path} {shown:?}: {v}");
            assert_eq!(v["error"]["code"], "invalid_signature", "{path} {shown:?}");
        }

        let mut msg = ts.clone();
        msg.push(b'.');
        msg.extend_from_slice(stripe_body.as_bytes());
        let v1: String = support_core::crypto::hmac_sha256(STRIPE_WEBHOOK_SECRET.as_bytes(), &msg)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut header = b"t=".to_vec();
        header.extend_from_slice(&ts);
        header.extend_from_slice(format!(",v1={v1}").as_bytes());
        let (status, v) = send(
            app.client
                .post(app.url("/webhooks/stripe"))
                .header(
                    "stripe-signature",
                    HeaderValue::from_bytes(&header).unwrap(),
                )
                .body(stripe_body.clone()),
        )
        .await;
        let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
        // A padded value (" 17000 ") is trimmed before it is signed, so it may not match; a
        // header that is not visible ASCII is no header at all.
        assert!(
            (status == 400
                && ["malformed_signature", "missing_signature"].contains(&code.as_str()))
                || (status == 401
                    && ["signature_expired", "invalid_signature"].contains(&code.as_str())),
            "stripe {shown:?}: {status} {v}"
        );
    }

    // Still serving: a correctly signed, fresh webhook is accepted.
    let now = support_core::time::now_ms().to_string();
    let sig = support_core::front::webhook_signature(&front_secret, &now, front_body.as_bytes());
    let (status, v) = send(
        app.client
            .post(app.url("/webhooks/front"))
            .header("content-type", "application/json")
            .header("x-front-signature", sig)
            .header("x-front-request-timestamp", now)
            .body(front_body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "accepted");
}
