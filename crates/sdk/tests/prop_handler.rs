//! Property tests of the SDK request handler (`SupportHandler::process`, the same path as the
//! axum route): arbitrary signature headers and bodies are refused (400 or 401, never a panic,
//! never a 200); correctly signed bodies of any shape are parsed and dispatched without a panic
//! and never refused as unsigned; one flipped byte of a signed body is refused.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `cargo xtask fuzz` runs 100,000 in
//! release and reads the `prop-cases …` lines printed here.

#[path = "../../testkit/src/prop_common.rs"]
mod prop_common;
use prop_common::*;

mod common;

use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use support_sdk::signing::{sign, sign_now, unix_now};
use support_sdk::{Action, SupportHandler, SupportIntegration};

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::from),
        "[a-z]{1,8}@example\\.com".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Request bodies: the actions with arbitrary parameters, other JSON, and raw bytes.
fn request_body() -> impl Strategy<Value = Vec<u8>> {
    let names: Vec<String> = Action::ALL
        .iter()
        .map(|a| a.as_str().to_string())
        .chain(["".to_string(), "unknown".to_string()])
        .collect();
    let action = prop_oneof![
        prop::sample::select(names).prop_map(Value::from),
        json_value(),
    ];
    let field = || prop_oneof![json_value(), ".{0,12}".prop_map(Value::from)];
    prop_oneof![
        body(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            action,
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "email",
                    "userId",
                    "purchaseId",
                    "reason",
                    "fromUserId",
                    "toEmail",
                    "expiresIn",
                    "query",
                    "productId",
                    "code",
                    "newEmail",
                    "name",
                    "limit",
                    "types",
                    "licenseId",
                    "currentEmail",
                    "newName",
                ]),
                field(),
                0..6,
            ),
        )
            .prop_map(|(action, fields)| {
                let mut o = serde_json::Map::new();
                o.insert("action".into(), action);
                o.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
                Value::Object(o).to_string().into_bytes()
            }),
    ]
}

fn handler() -> (SupportHandler, String) {
    let f = common::fixtures();
    let secret = f.secrets.primary.clone();
    let app: Arc<dyn SupportIntegration> = Arc::new(common::FakeApp { fixtures: f });
    (SupportHandler::new(app, vec![secret.clone()]), secret)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn sdk_handler_refuses_unsigned_requests() {
    let (handler, _) = handler();
    let rt = runtime();
    let strategy = (
        prop::option::of(prop_oneof![
            ".{0,120}",
            (timestamp_text(), "[0-9a-f]{64}").prop_map(|(t, s)| format!("timestamp={t},v1={s}")),
        ]),
        request_body(),
        any::<bool>(),
        "[0-9a-f]{64}",
    );
    check(
        "sdk_request_parser",
        "unsigned_refused",
        strategy,
        |(header, body, near, hex)| {
            let header = if near {
                Some(format!("timestamp={},v1={hex}", unix_now()))
            } else {
                header
            };
            let r = rt.block_on(handler.process(header.as_deref(), &body));
            prop_assert!(
                r.status.as_u16() == 400 || r.status.as_u16() == 401,
                "{} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            let answer: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            prop_assert!(answer["error"].is_string());
            Ok(())
        },
    );
}

#[test]
fn sdk_handler_parses_signed_requests_of_any_shape() {
    let (handler, secret) = handler();
    let rt = runtime();
    check(
        "sdk_request_parser",
        "signed_any_shape",
        (request_body(), any::<usize>(), 1_u8..=255),
        |(body, at, mask)| {
            let header = sign_now(&secret, &body);
            let r = rt.block_on(handler.process(Some(&header), &body));
            let status = r.status.as_u16();
            let json_body = serde_json::from_slice::<Value>(&body).is_ok();
            // Signed: never refused as unsigned; not JSON: 400; else dispatched.
            prop_assert_ne!(status, 401);
            prop_assert!(json_body || status == 400);
            prop_assert!([200, 400, 500, 501].contains(&status), "{status}");
            prop_assert!(serde_json::from_slice::<Value>(&r.body).is_ok());
            if !body.is_empty() {
                let flipped = flip(&body, at, mask);
                let r = rt.block_on(handler.process(Some(&header), &flipped));
                prop_assert!(
                    [400, 401].contains(&r.status.as_u16()),
                    "a flipped body got {}",
                    r.status
                );
            }
            // Signed with an extreme or stale timestamp: refused, no panic.
            for t in [i64::MIN, 0, unix_now().saturating_sub(301)] {
                let r = rt.block_on(handler.process(Some(&sign(&secret, t, &body)), &body));
                prop_assert!([400, 401].contains(&r.status.as_u16()), "{}", r.status);
            }
            Ok(())
        },
    );
}
