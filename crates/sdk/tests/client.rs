//! `IntegrationClient` behaviour over real HTTP on 127.0.0.1: the whole call matrix against the
//! Rust handler, retries, timeouts, error mapping and secret hygiene.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{calls, check_rust_result, fixtures, raw_fixtures, rust_call, rust_client, serve};
use support_sdk::types::{RevokeAccessParams, UpdateEmailParams};
use support_sdk::{ClientError, ClientResultExt, IntegrationClient, RetryPolicy};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const SECRET: &str = "client_test_secret_do_not_leak";

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

fn client(addr: SocketAddr, retry: RetryPolicy) -> IntegrationClient {
    common::install_crypto();
    IntegrationClient::builder(&format!("http://{addr}/support"), SECRET)
        .retry(retry)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

fn assert_no_secret(error: &ClientError) {
    let text = format!("{error} {error:?}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
}

/// A server answering every POST /support with `status` and `body`, counting requests and
/// checking that each one is correctly signed.
async fn canned(
    status: StatusCode,
    content_type: &'static str,
    body: &'static str,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/support",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body_bytes: axum::body::Bytes| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let header = headers
                        .get(support_sdk::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let verified = support_sdk::verify(
                        header,
                        &body_bytes,
                        &[SECRET],
                        support_sdk::signing::unix_now(),
                        support_sdk::signing::DEFAULT_TOLERANCE,
                    );
                    assert_eq!(verified, Ok(()), "client requests are signed");
                    (status, [("content-type", content_type)], body).into_response()
                }
            },
        ),
    );
    (serve(app).await, hits)
}

#[tokio::test]
async fn every_method_against_the_rust_handler() {
    common::install_crypto();
    let f = fixtures();
    let raw = raw_fixtures();
    let addr = serve(common::rust_app(&f)).await;
    let base = format!("http://{addr}");
    let all = calls();
    assert!(all.len() > 50);
    for call in &all {
        let client = rust_client(&base, call, &f);
        let result = rust_call(&client, call).await;
        if let Err(error) = &result {
            assert!(!format!("{error} {error:?}").contains(&f.secrets.primary));
        }
        check_rust_result(call, result, &raw);
    }
}

#[tokio::test]
async fn reads_are_retried_on_5xx_then_succeed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/support",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response()
                } else {
                    (
                        [("content-type", "application/json")],
                        r#"{"autoApproveWindowDays":30,"manualApproveWindowDays":60}"#,
                    )
                        .into_response()
                }
            }
        }),
    );
    let addr = serve(app).await;
    let policy = client(addr, fast_retries(2))
        .get_refund_policy()
        .await
        .expect("third attempt succeeds");
    assert_eq!(policy.auto_approve_window_days, 30);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn reads_give_up_after_max_retries_and_writes_are_never_retried() {
    let (addr, hits) = canned(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        r#"{"error":"database unavailable"}"#,
    )
    .await;
    let c = client(addr, fast_retries(3));

    let error = c.lookup_user("jane@example.com").await.expect_err("500");
    assert!(
        matches!(&error, ClientError::Status { action: "lookupUser", status: 500, message: Some(m) } if m == "database unavailable"),
        "{error:?}"
    );
    assert_eq!(hits.swap(0, Ordering::SeqCst), 4, "1 attempt + 3 retries");
    assert_no_secret(&error);

    let revoke = RevokeAccessParams {
        purchase_id: "pur_1".into(),
        reason: "r".into(),
        refund_id: "re_1".into(),
    };
    let error = c.revoke_access(&revoke).await.expect_err("500");
    assert!(
        matches!(error, ClientError::Status { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(hits.swap(0, Ordering::SeqCst), 1, "writes are sent once");

    for write in [
        "updateEmail",
        "transferPurchase",
        "generateMagicLink",
        "updateName",
    ] {
        let result: Result<serde_json::Value, _> = c
            .call(
                support_sdk::Action::from_wire(write).expect("action"),
                &serde_json::json!({}),
            )
            .await;
        assert!(result.is_err());
        assert_eq!(hits.swap(0, Ordering::SeqCst), 1, "{write} is sent once");
    }
}

#[tokio::test]
async fn not_implemented_is_unsupported_and_not_retried() {
    let (addr, hits) = canned(
        StatusCode::NOT_IMPLEMENTED,
        "application/json",
        r#"{"error":"Method not implemented: getSubscriptions"}"#,
    )
    .await;
    let c = client(addr, fast_retries(3));
    let error = c.get_subscriptions("usr_1").await.expect_err("501");
    assert!(
        matches!(error, ClientError::Unsupported("getSubscriptions")),
        "{error:?}"
    );
    assert_eq!(hits.swap(0, Ordering::SeqCst), 1);
    assert_eq!(
        c.get_refund_policy()
            .await
            .supported()
            .expect("501 is not an error"),
        None
    );
    let error = c
        .update_email(&UpdateEmailParams {
            user_id: "u".into(),
            new_email: "a@b.c".into(),
        })
        .await
        .expect_err("501");
    assert!(matches!(error, ClientError::Unsupported("updateEmail")));
}

#[tokio::test]
async fn unauthorized_is_its_own_error_and_not_retried() {
    let (addr, hits) = canned(
        StatusCode::UNAUTHORIZED,
        "application/json",
        r#"{"error":"Invalid signature"}"#,
    )
    .await;
    let error = client(addr, fast_retries(3))
        .lookup_user("jane@example.com")
        .await
        .expect_err("401");
    assert!(
        matches!(&error, ClientError::Unauthorized { action: "lookupUser", message: Some(m) } if m == "Invalid signature"),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_no_secret(&error);
}

#[tokio::test]
async fn other_statuses_carry_status_and_message() {
    let (addr, _) = canned(
        StatusCode::BAD_REQUEST,
        "application/json",
        r#"{"error":"Unknown action: getPurchases"}"#,
    )
    .await;
    let error = client(addr, fast_retries(3))
        .get_purchases("usr_1")
        .await
        .expect_err("400");
    assert!(
        matches!(&error, ClientError::Status { status: 400, message: Some(m), .. } if m == "Unknown action: getPurchases"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "getPurchases failed with HTTP 400: Unknown action: getPurchases"
    );

    let (addr, hits) = canned(
        StatusCode::BAD_GATEWAY,
        "text/html",
        "<html>bad gateway</html>",
    )
    .await;
    let error = client(addr, fast_retries(1))
        .get_purchases("usr_1")
        .await
        .expect_err("502");
    assert!(
        matches!(
            error,
            ClientError::Status {
                status: 502,
                message: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "502 is retried");
}

#[tokio::test]
async fn html_or_wrong_json_is_an_invalid_response() {
    let (addr, hits) = canned(
        StatusCode::OK,
        "text/html",
        "<!DOCTYPE html><html>Login</html>",
    )
    .await;
    let error = client(addr, fast_retries(3))
        .lookup_user("jane@example.com")
        .await
        .expect_err("html");
    match &error {
        ClientError::InvalidResponse {
            action,
            status,
            reason,
        } => {
            assert_eq!((*action, *status), ("lookupUser", 200));
            assert!(reason.contains("not JSON"), "{reason}");
            assert!(reason.contains("<!DOCTYPE html>"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    assert_no_secret(&error);

    let (addr, _) = canned(StatusCode::OK, "application/json", r#"{"users":[]}"#).await;
    let error = client(addr, fast_retries(0))
        .get_purchases("usr_1")
        .await
        .expect_err("shape");
    assert!(
        matches!(&error, ClientError::InvalidResponse { reason, .. } if reason.contains("unexpected JSON shape")),
        "{error:?}"
    );
}

/// A TCP server that accepts connections and never answers; reports each accepted peer.
async fn black_hole() -> (SocketAddr, mpsc::UnboundedReceiver<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, peer)) = listener.accept().await {
            held.push(socket);
            if tx.send(peer).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

/// Counts the connections accepted before a sentinel connection made now. The accept queue is
/// FIFO, so every connection the client opened is counted, without waiting on time.
async fn connections_so_far(
    addr: SocketAddr,
    rx: &mut mpsc::UnboundedReceiver<SocketAddr>,
) -> usize {
    let sentinel = TcpStream::connect(addr).await.expect("sentinel");
    let sentinel_addr = sentinel.local_addr().expect("sentinel addr");
    let mut count = 0;
    while let Some(peer) = rx.recv().await {
        if peer == sentinel_addr {
            return count;
        }
        count += 1;
    }
    panic!("accept loop ended");
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_only() {
    let (addr, mut accepted) = black_hole().await;
    common::install_crypto();
    let c = IntegrationClient::builder(&format!("http://{addr}/support"), SECRET)
        .timeout(Duration::from_millis(200))
        .retry(fast_retries(2))
        .build()
        .expect("client");

    let error = c.get_claimed_seats("bulk_1").await.expect_err("timeout");
    assert!(
        matches!(error, ClientError::Timeout { action: "getClaimedSeats", timeout } if timeout == Duration::from_millis(200)),
        "{error:?}"
    );
    assert_eq!(connections_so_far(addr, &mut accepted).await, 3);
    assert_no_secret(&error);

    let error = c
        .revoke_access(&RevokeAccessParams::default())
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                action: "revokeAccess",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(connections_so_far(addr, &mut accepted).await, 1);
}

#[tokio::test]
async fn connection_errors_are_transport_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let error = client(addr, fast_retries(2))
        .lookup_user("jane@example.com")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            error,
            ClientError::Transport {
                action: "lookupUser",
                ..
            }
        ),
        "{error:?}"
    );
    assert_no_secret(&error);
    assert!(
        error.to_string().starts_with("lookupUser failed: "),
        "{error}"
    );
}

#[tokio::test]
async fn the_client_is_a_support_integration() {
    use support_sdk::{IntegrationError, SupportIntegration};
    common::install_crypto();
    let f = fixtures();
    let addr = serve(common::rust_app(&f)).await;
    let full = IntegrationClient::new(&format!("http://{addr}/full"), f.secrets.primary.clone())
        .expect("client");
    let minimal =
        IntegrationClient::new(&format!("http://{addr}/minimal"), f.secrets.primary.clone())
            .expect("client");
    let remote: &dyn SupportIntegration = &full;
    let user = remote.lookup_user("jane@example.com").await.expect("user");
    assert_eq!(user.map(|u| u.id), Some("usr_1".to_owned()));
    let error = remote
        .lookup_user("boom@example.com")
        .await
        .expect_err("500");
    assert!(matches!(&error, IntegrationError::Message(m) if m == "database unavailable"));
    let remote: &dyn SupportIntegration = &minimal;
    assert!(matches!(
        remote.get_app_info().await,
        Err(IntegrationError::NotImplemented("getAppInfo"))
    ));
}
