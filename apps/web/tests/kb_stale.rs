//! Answers that know their source, on SQLite and (with `TEST_DATABASE_URL`) Postgres: a real run
//! drafts from the demo knowledge base (a search's passages, or a canned response that cites
//! articles) and records the article versions it cited; a new version of one of them marks the
//! unsent draft stale, which the conversation page shows, and the article's "used by" (API)
//! lists the draft as stale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::time::Duration;
use support_core::auth::Role;
use support_testkit::TestApp;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_changed_source_marks_the_unsent_draft_stale_on_the_conversation_page() {
    // The first is answered by the demo's canned "Offline downloads" response, which cites the
    // offline-viewing article; the second from a knowledge search.
    let messages = [
        (
            "Offline viewing",
            "Hi, can I download the Typewise videos to watch them offline on a plane? I cannot find a download button in the player.",
            true,
        ),
        (
            "Playback speed",
            "Hi, how can I change the playback speed of the Typewise videos? I'd like to watch at 1.5x.",
            false,
        ),
    ];
    for app in TestApp::each_backend().await {
        for (subject, body, canned) in messages {
            let d = app
                .front
                .deliver(app.inbound(0, "kyle.dunmore@example.com", subject, body))
                .await
                .unwrap();
            let run = app.finished_run(&d.event_id, WAIT).await;
            assert_eq!(run.run.status, support_steps::RunStatus::Completed);
            let conv = d.conversation_id;
            let drafts = app.platform.store.list_drafts(&conv).await.unwrap();
            assert_eq!(drafts.len(), 1);
            let cited = drafts[0].knowledge_sources.as_array().unwrap().clone();
            let source = cited
                .iter()
                .find(|s| s["article_id"].is_string())
                .unwrap_or_else(|| panic!("the draft cites no article: {cited:?}"));
            assert_eq!(source["canned_id"].is_string(), canned, "{cited:?}");
            let article = source["article_id"].as_str().unwrap().to_string();
            let version = source["version"].as_i64().unwrap();

            let viewer = app.login_as(Role::Viewer).await;
            let page = viewer.page(&format!("/conversations/{conv}")).await;
            assert!(!page.contains("draft-stale"), "fresh draft shown stale");

            // An agent edits the cited article through the API: a new version.
            let agent = app.token("kb-agent", Role::Agent).await;
            let (_, shown) = {
                let res = app
                    .client
                    .get(app.url(&format!("/api/v1/kb/articles/{article}")))
                    .bearer_auth(&agent)
                    .send()
                    .await
                    .unwrap();
                (
                    res.status().as_u16(),
                    res.json::<serde_json::Value>().await.unwrap(),
                )
            };
            let current = &shown["current"];
            let res = app
            .client
            .put(app.url(&format!("/api/v1/kb/articles/{article}")))
            .bearer_auth(&agent)
            .json(&json!({
                "title": current["title"],
                "body": format!("{}\n\nUpdated: links now last 48 hours.", current["body"].as_str().unwrap()),
                "tags": current["tags"],
                "visibility": current["visibility"],
            }))
            .send()
            .await
            .unwrap();
            assert_eq!(res.status().as_u16(), 200);
            let out: serde_json::Value = res.json().await.unwrap();
            assert_eq!(out["version"].as_i64(), Some(version + 1), "{out}");
            assert!(out["stale_drafts"].as_u64().unwrap() >= 1, "{out}");

            let page = viewer.page(&format!("/conversations/{conv}")).await;
            assert!(page.contains("draft-stale"), "stale draft not shown");
            assert!(page.contains("has changed since it was written"));

            // The Knowledge page lists where the article was used, the draft marked stale.
            let page = viewer.page(&format!("/knowledge/{article}")).await;
            assert!(page.contains(&format!("/conversations/{conv}")), "used by");
            assert!(page.contains(">stale<"), "stale use shown");

            let res = app
                .client
                .get(app.url(&format!("/api/v1/kb/articles/{article}")))
                .bearer_auth(&agent)
                .send()
                .await
                .unwrap();
            let shown: serde_json::Value = res.json().await.unwrap();
            let uses = shown["used_by"].as_array().unwrap();
            assert!(
                uses.iter()
                    .any(|u| u["conversation_id"] == conv.as_str() && u["stale"] == true),
                "{uses:?}"
            );
        }
    }
}
