//! The handler's status table (CONTRACTS.md "Support SDK", npm handler.js), row by row, over
//! real HTTP on 127.0.0.1.

mod common;

use std::sync::Arc;

use common::{FakeApp, MinimalApp, fixtures, serve};
use reqwest::StatusCode;
use support_sdk::signing::{SIGNATURE_HEADER, sign, unix_now};
use support_sdk::{Action, SupportHandler, SupportIntegration, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server {
    base: String,
    primary: String,
    http: reqwest::Client,
}

impl Server {
    async fn start() -> Server {
        common::install_crypto();
        let f = fixtures();
        let addr = serve(common::rust_app(&f)).await;
        Server {
            base: format!("http://{addr}"),
            primary: f.secrets.primary.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` to `path` with the given raw signature header (or none).
    async fn post(&self, path: &str, header: Option<&str>, body: &str) -> (StatusCode, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(header) = header {
            request = request.header(SIGNATURE_HEADER, header);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{path} {body}"
        );
        (status, response.text().await.expect("body"))
    }

    /// POSTs `body` signed now with the primary secret.
    async fn signed(&self, path: &str, body: &str) -> (StatusCode, String) {
        let header = sign(&self.primary, unix_now(), body.as_bytes());
        self.post(path, Some(&header), body).await
    }
}

fn error(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

const LOOKUP: &str = r#"{"action":"lookupUser","email":"jane@example.com"}"#;
const JANE: &str = r#"{"id":"usr_1","email":"jane@example.com","name":"Jane Doe","createdAt":"2024-01-15T10:30:00.000Z"}"#;

#[tokio::test]
async fn row_1_missing_signature_header() {
    let s = Server::start().await;
    let expected = (StatusCode::UNAUTHORIZED, error("Missing signature header"));
    assert_eq!(s.post("/full", None, LOOKUP).await, expected);
    // an empty header is falsy in npm, too
    assert_eq!(s.post("/full", Some(""), LOOKUP).await, expected);
    // checked before anything else: an invalid body does not matter
    assert_eq!(s.post("/full", None, "not json").await, expected);
}

#[tokio::test]
async fn row_2_invalid_signature_format() {
    let s = Server::start().await;
    let now = unix_now();
    let sig = sign(&s.primary, now, LOOKUP.as_bytes());
    let v1 = sig.split_once(",v1=").expect("v1").1.to_owned();
    for header in [
        "garbage".to_owned(),
        format!("timestamp={now}"),
        format!("v1={v1}"),
        format!("timestamp=,v1={v1}"),
        format!("timestamp={now},v1="),
        format!("timestamp={now}, v1={v1}"),
    ] {
        assert_eq!(
            s.post("/full", Some(&header), LOOKUP).await,
            (StatusCode::UNAUTHORIZED, error("Invalid signature format")),
            "{header}"
        );
    }
}

#[tokio::test]
async fn row_3_signature_expired() {
    let s = Server::start().await;
    let old = unix_now() - 400;
    let expected = (StatusCode::UNAUTHORIZED, error("Signature expired"));
    let header = sign(&s.primary, old, LOOKUP.as_bytes());
    assert_eq!(s.post("/full", Some(&header), LOOKUP).await, expected);
    // expiry comes before the JSON and HMAC checks
    let forged = format!("timestamp={old},v1=00");
    assert_eq!(s.post("/full", Some(&forged), "not json").await, expected);
    // well within the window is fine
    let recent = sign(&s.primary, unix_now() - 200, LOOKUP.as_bytes());
    assert_eq!(
        s.post("/full", Some(&recent), LOOKUP).await,
        (StatusCode::OK, JANE.to_owned())
    );
}

#[tokio::test]
async fn row_4_invalid_json_body() {
    let s = Server::start().await;
    let expected = (StatusCode::BAD_REQUEST, error("Invalid JSON body"));
    for body in ["not json", "", "{\"action\":", "<html></html>"] {
        assert_eq!(s.signed("/full", body).await, expected, "{body:?}");
    }
    // the JSON check comes before the HMAC check
    let bad = format!("timestamp={},v1=00", unix_now());
    assert_eq!(s.post("/full", Some(&bad), "not json").await, expected);
}

#[tokio::test]
async fn row_5_invalid_signature() {
    let s = Server::start().await;
    let now = unix_now();
    let expected = (StatusCode::UNAUTHORIZED, error("Invalid signature"));
    let wrong = sign("not-the-secret", now, LOOKUP.as_bytes());
    let good = sign(&s.primary, now, LOOKUP.as_bytes());
    let v1 = good.split_once(",v1=").expect("v1").1.to_owned();
    for header in [
        wrong,
        // wrong length: a 401, not a 500 (npm answers 500 here)
        format!("timestamp={now},v1=abc"),
        format!("timestamp={now},v1={v1}00"),
        format!("timestamp={now},v1={}", v1.to_uppercase()),
        // signed for another timestamp
        format!("timestamp={},v1={v1}", now + 1),
        // timestamp without digits (npm NaN)
        format!("timestamp=abc,v1={v1}"),
    ] {
        assert_eq!(
            s.post("/full", Some(&header), LOOKUP).await,
            expected,
            "{header}"
        );
    }
    // the body is part of the signature
    let other_body = r#"{"action":"lookupUser","email":"eve@example.com"}"#;
    assert_eq!(s.post("/full", Some(&good), other_body).await, expected);
}

#[tokio::test]
async fn row_6_missing_action_field() {
    let s = Server::start().await;
    let expected = (StatusCode::BAD_REQUEST, error("Missing action field"));
    for body in [
        "{}",
        r#"{"action":""}"#,
        r#"{"action":42}"#,
        r#"{"action":null}"#,
        r#"{"email":"jane@example.com"}"#,
        "[]",
        "\"lookupUser\"",
        "null",
        "7",
    ] {
        assert_eq!(s.signed("/full", body).await, expected, "{body}");
    }
}

#[tokio::test]
async fn row_7_unknown_action() {
    let s = Server::start().await;
    for action in ["deleteEverything", "LookupUser", "toString", "lookup User"] {
        let body = serde_json::json!({ "action": action }).to_string();
        assert_eq!(
            s.signed("/full", &body).await,
            (
                StatusCode::BAD_REQUEST,
                error(&format!("Unknown action: {action}"))
            )
        );
    }
}

#[tokio::test]
async fn row_8_optional_method_not_implemented() {
    let s = Server::start().await;
    let mut optional = 0;
    for action in Action::ALL.into_iter().filter(|a| !a.is_required()) {
        optional += 1;
        let body = serde_json::json!({
            "action": action.as_str(), "userId": "usr_1", "newEmail": "a@b.c", "newName": "A",
            "bulkCouponId": "bulk_1", "query": "x", "productId": "p", "code": "C", "purchaseId": "pur_1",
        })
        .to_string();
        assert_eq!(
            s.signed("/minimal", &body).await,
            (
                StatusCode::NOT_IMPLEMENTED,
                error(&format!("Method not implemented: {action}"))
            )
        );
    }
    assert_eq!(optional, 13);
    // the required ones work on the minimal app
    assert_eq!(
        s.signed("/minimal", LOOKUP).await,
        (StatusCode::OK, JANE.to_owned())
    );
}

#[tokio::test]
async fn row_9_method_error() {
    let s = Server::start().await;
    let body = r#"{"action":"lookupUser","email":"boom@example.com"}"#;
    assert_eq!(
        s.signed("/full", body).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"database unavailable"}"#.to_owned()
        )
    );
}

#[tokio::test]
async fn row_10_success() {
    let s = Server::start().await;
    assert_eq!(
        s.signed("/full", LOOKUP).await,
        (StatusCode::OK, JANE.to_owned())
    );
    assert_eq!(
        s.signed(
            "/full",
            r#"{"action":"lookupUser","email":"nobody@example.com"}"#
        )
        .await,
        (StatusCode::OK, "null".to_owned())
    );
    // numbers are written as JavaScript writes them
    let (status, body) = s
        .signed("/full", r#"{"action":"getPurchases","userId":"usr_1"}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""amount":49900,"#), "{body}");
    assert!(body.contains(r#""amount":49.99,"#), "{body}");
    assert!(body.contains(r#""status":"disputed""#), "{body}");
    // the exact bytes are signed, whatever their formatting
    let pretty = "{\n  \"action\": \"revokeAccess\",\n  \"purchaseId\": \"pur_1\",\n  \"reason\": \"r\",\n  \"refundId\": \"re_1\"\n}";
    assert_eq!(
        s.signed("/full", pretty).await,
        (StatusCode::OK, r#"{"success":true}"#.to_owned())
    );
}

#[tokio::test]
async fn invalid_parameters_are_a_400() {
    let s = Server::start().await;
    assert_eq!(
        s.signed("/full", r#"{"action":"lookupUser"}"#).await,
        (
            StatusCode::BAD_REQUEST,
            error("Invalid parameters for lookupUser: missing field `email`")
        )
    );
    assert_eq!(
        s.signed("/full", r#"{"action":"getPurchases","userId":5}"#)
            .await,
        (
            StatusCode::BAD_REQUEST,
            error("Invalid parameters for getPurchases: `userId` must be a string")
        )
    );
    let (status, body) = s
        .signed("/full", r#"{"action":"revokeAccess","purchaseId":"pur_1"}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with(r#"{"error":"Invalid parameters for revokeAccess: missing field"#),
        "{body}"
    );
}

#[tokio::test]
async fn key_rotation_accepts_every_configured_secret_and_every_v1_part() {
    let s = Server::start().await;
    let f = fixtures();
    let now = unix_now();
    let jane = (StatusCode::OK, JANE.to_owned());
    for secret in [&f.secrets.primary, &f.secrets.previous] {
        let header = sign(secret, now, LOOKUP.as_bytes());
        assert_eq!(s.post("/rotated", Some(&header), LOOKUP).await, jane);
    }
    let header = sign(&f.secrets.previous, now, LOOKUP.as_bytes());
    assert_eq!(
        s.post("/full", Some(&header), LOOKUP).await,
        (StatusCode::UNAUTHORIZED, error("Invalid signature"))
    );
    // a sender signing with both secrets: one v1 part each, the first one unknown to /full
    let v1 = |secret: &str| support_sdk::signing::signature_hex(secret, now, LOOKUP.as_bytes());
    let both = format!(
        "timestamp={now},v1={},v1={}",
        v1(&f.secrets.wrong),
        v1(&f.secrets.primary)
    );
    assert_eq!(s.post("/full", Some(&both), LOOKUP).await, jane);
}

#[tokio::test]
async fn mounts_at_any_path_and_only_answers_post() {
    common::install_crypto();
    let f = fixtures();
    let app: Arc<dyn SupportIntegration> = Arc::new(FakeApp {
        fixtures: f.clone(),
    });
    let secrets = vec![f.secrets.primary.clone()];
    let routed = axum::Router::new().route(
        "/demo-app/support",
        SupportHandler::new(app.clone(), secrets.clone()).into_method_router(),
    );
    let nested = axum::Router::new().nest("/demo-app/support", router(app, secrets));
    for app in [routed, nested] {
        let addr = serve(app).await;
        let url = format!("http://{addr}/demo-app/support");
        let header = sign(&f.secrets.primary, unix_now(), LOOKUP.as_bytes());
        let http = reqwest::Client::new();
        let response = http
            .post(&url)
            .header(SIGNATURE_HEADER, &header)
            .body(LOOKUP)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.expect("body"), JANE);
        let get = http.get(&url).send().await.expect("get");
        assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn body_limit_is_enforced_after_the_header_checks() {
    common::install_crypto();
    let f = fixtures();
    let app: Arc<dyn SupportIntegration> = Arc::new(MinimalApp(FakeApp {
        fixtures: f.clone(),
    }));
    let handler = SupportHandler::new(app, vec![f.secrets.primary.clone()]).with_body_limit(64);
    let addr = serve(handler.into_router()).await;
    let url = format!("http://{addr}/");
    let http = reqwest::Client::new();
    let big = format!(r#"{{"action":"lookupUser","email":"{}"}}"#, "x".repeat(100));
    let header = sign(&f.secrets.primary, unix_now(), big.as_bytes());

    let response = http
        .post(&url)
        .header(SIGNATURE_HEADER, &header)
        .body(big.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.text().await.expect("body"),
        error("Request body too large")
    );
    // streamed without content-length (chunked), over a raw connection
    let raw = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         {SIGNATURE_HEADER}: {header}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         {:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // the header is checked first
    let response = http.post(&url).body(big).send().await.expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn process_works_without_http() {
    let f = fixtures();
    let app: Arc<dyn SupportIntegration> = Arc::new(FakeApp {
        fixtures: f.clone(),
    });
    let handler = SupportHandler::new(app, vec![String::new(), f.secrets.primary.clone()]);
    assert!(!format!("{handler:?}").contains(&f.secrets.primary));
    let header = sign(&f.secrets.primary, unix_now(), LOOKUP.as_bytes());
    let response = handler.process(Some(&header), LOOKUP.as_bytes()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, JANE.as_bytes());
    let response = handler.process(None, LOOKUP.as_bytes()).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    // an empty secret never verifies anything
    let empty = sign("", unix_now(), LOOKUP.as_bytes());
    let response = handler.process(Some(&empty), LOOKUP.as_bytes()).await;
    assert_eq!(response.body, error("Invalid signature").as_bytes());
}
