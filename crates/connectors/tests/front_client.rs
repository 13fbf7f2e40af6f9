//! The Front client against the Front sandbox, which speaks Front's wire format.
#![allow(clippy::unwrap_used)]

use support_connectors::front::{FrontClient, FrontConfig};
use support_core::front::{FrontApi, FrontError, NewDraft};
use support_core::settings::Secret;
use support_front::sandbox::{Faults, NewMessage, Sandbox};

async fn start(cfg: FrontConfig) -> (Sandbox, FrontClient) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::new("front-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    sandbox.set_base_url(base.clone());
    let sb = sandbox.clone();
    tokio::spawn(async move { support_front::sandbox::serve(sb, listener).await });
    let client = FrontClient::new(
        Secret::new("front-token"),
        FrontConfig {
            base_url: base,
            ..cfg
        },
    )
    .unwrap();
    (sandbox, client)
}

fn inbound(conv: Option<&str>, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: conv.map(str::to_string),
        inbox_id: "inb_1".into(),
        from: "jane@example.com".into(),
        from_name: Some("Jane".into()),
        reply_to: None,
        subject: "Help".into(),
        body: body.into(),
        inbound: true,
    }
}

#[tokio::test]
async fn messages_are_paginated_newest_first() {
    let (sb, client) = start(FrontConfig {
        page_size: 3,
        ..FrontConfig::default()
    })
    .await;
    let first = sb.deliver(inbound(None, "message 0")).await.unwrap();
    for i in 1..7 {
        sb.deliver(inbound(
            Some(&first.conversation_id),
            &format!("message {i}"),
        ))
        .await
        .unwrap();
    }
    let msgs = client
        .list_messages(&first.conversation_id, 7)
        .await
        .unwrap();
    let texts: Vec<String> = msgs.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(
        texts,
        (0..7)
            .rev()
            .map(|i| format!("message {i}"))
            .collect::<Vec<_>>()
    );
    let pages = sb
        .request_log()
        .iter()
        .filter(|l| l.contains("/messages"))
        .count();
    assert_eq!(pages, 3, "7 messages in pages of 3");
    let newest = client
        .list_messages(&first.conversation_id, 2)
        .await
        .unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].recipient("from"), Some("jane@example.com"));
    assert!(newest[0].is_inbound);
    let conv = client
        .get_conversation(&first.conversation_id)
        .await
        .unwrap();
    assert_eq!(conv.subject.as_deref(), Some("Help"));
}

#[tokio::test]
async fn rate_limits_are_retried_then_reported() {
    let (sb, client) = start(FrontConfig::default()).await;
    let d = sb.deliver(inbound(None, "hi")).await.unwrap();
    sb.set_faults(Faults {
        rate_limit_next: 2,
        retry_after: 0,
        ..Faults::default()
    });
    let before = sb.request_log().len();
    client.get_conversation(&d.conversation_id).await.unwrap();
    assert_eq!(sb.request_log().len() - before, 3, "two 429s, then success");

    sb.set_faults(Faults {
        rate_limit_next: 10,
        retry_after: 0,
        ..Faults::default()
    });
    let err = client
        .get_conversation(&d.conversation_id)
        .await
        .unwrap_err();
    assert!(matches!(err, FrontError::RateLimited { .. }), "{err}");
    assert!(err.is_retriable());

    sb.set_faults(Faults {
        server_error_next: 1,
        ..Faults::default()
    });
    let err = client
        .get_conversation(&d.conversation_id)
        .await
        .unwrap_err();
    assert!(matches!(err, FrontError::Server { status: 503 }), "{err}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn drafts_comments_tags_and_assignee() {
    let (sb, client) = start(FrontConfig::default()).await;
    let d = sb.deliver(inbound(None, "refund please")).await.unwrap();
    let draft = client
        .create_draft(
            &d.conversation_id,
            &NewDraft {
                body: "Hi Jane".into(),
                channel_id: "cha_1".into(),
                mode: "shared".into(),
                author_id: None,
            },
        )
        .await
        .unwrap();
    assert!(draft.is_draft);
    assert_eq!(sb.drafts(&d.conversation_id).len(), 1);
    let version = draft.version.clone().unwrap();
    assert!(matches!(
        client.delete_draft(&draft.id, "wrong").await,
        Err(FrontError::Conflict)
    ));
    client.delete_draft(&draft.id, &version).await.unwrap();
    assert!(sb.drafts(&d.conversation_id).is_empty());

    client
        .add_comment(&d.conversation_id, "context for the team")
        .await
        .unwrap();
    assert_eq!(
        sb.comments(&d.conversation_id)[0]["body"],
        "context for the team"
    );
    client
        .add_tags(&d.conversation_id, &["urgent".into(), "legal".into()])
        .await
        .unwrap();
    client
        .remove_tags(&d.conversation_id, &["legal".into()])
        .await
        .unwrap();
    assert_eq!(sb.tags(&d.conversation_id), vec!["urgent".to_string()]);
    client
        .set_assignee(&d.conversation_id, Some("tea_1"))
        .await
        .unwrap();
    assert_eq!(sb.assignee(&d.conversation_id).as_deref(), Some("tea_1"));
}

#[tokio::test]
async fn errors_are_typed() {
    let (_sb, client) = start(FrontConfig::default()).await;
    assert!(matches!(
        client.get_conversation("cnv_missing").await,
        Err(FrontError::NotFound(_))
    ));
    assert!(matches!(
        client.get_conversation("../etc").await,
        Err(FrontError::Invalid(_))
    ));
    let (sb2, _) = start(FrontConfig::default()).await;
    let d = sb2.deliver(inbound(None, "x")).await.unwrap();
    let wrong = FrontClient::new(
        Secret::new("nope"),
        FrontConfig {
            base_url: sb2.base_url(),
            ..FrontConfig::default()
        },
    )
    .unwrap();
    let err = wrong
        .get_conversation(&d.conversation_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FrontError::Rejected { status: 401, .. }),
        "{err}"
    );
    assert!(!err.is_retriable());
}
