//! The simulated product of the offline scenarios: its records follow the scenario's customer
//! state and its help centre is the demo articles, searched through tantivy as the platform
//! searches an app's knowledge (public articles of that app only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use support_core::knowledge::Visibility;
use support_core::pipeline::fixtures::{CustomerState, ScenarioWorld};
use support_core::pipeline::tools::{ToolCall, ToolError, ToolExecutor, ToolName};

const NOW: i64 = 1_750_000_000_000;

#[tokio::test]
async fn the_world_follows_the_customer_state_and_searches_the_demo_articles() {
    let kb = support_knowledge::demo::scenario_index().unwrap();
    let world = ScenarioWorld::new(
        "tailwind-course",
        "a@x.test",
        CustomerState::OldPurchase,
        NOW,
        kb.clone(),
    );
    let user = world
        .execute(&ToolCall::new(
            ToolName::LookupUser,
            json!({"email": "A@x.test"}),
        ))
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    let purchases = world
        .execute(&ToolCall::new(
            ToolName::GetPurchases,
            json!({"userId": id}),
        ))
        .await
        .unwrap();
    assert_eq!(purchases[0]["productName"], "Tailwind Atelier");
    let unknown = ScenarioWorld::new(
        "tailwind-course",
        "a@x.test",
        CustomerState::Unknown,
        NOW,
        kb.clone(),
    );
    let none = unknown
        .execute(&ToolCall::new(
            ToolName::LookupUser,
            json!({"email": "a@x.test"}),
        ))
        .await
        .unwrap();
    assert!(none.is_null());

    let hits = world
        .execute(&ToolCall::new(
            ToolName::SearchKnowledge,
            json!({"query": "can I download the videos to watch offline on a flight", "limit": 2}),
        ))
        .await
        .unwrap();
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 2, "{hits:?}");
    assert!(
        hits[0]["text"].as_str().unwrap().contains("download"),
        "{hits:?}"
    );
    // Each hit names the demo article and version it came from (for the draft's sources).
    assert!(
        hits[0]["article_id"].as_str().unwrap().starts_with("demo:"),
        "{hits:?}"
    );
    assert_eq!(hits[0]["version"], 1);
    assert_eq!(world.executed().len(), 3);

    // Only the app's own articles answer: the Tailwind subtitles article is not Typewise's.
    let typewise = ScenarioWorld::new(
        "typescript-course",
        "a@x.test",
        CustomerState::OldPurchase,
        NOW,
        kb.clone(),
    );
    let subtitles = json!({"query": "sous-titres subtitles CC menu"});
    let mine = world
        .execute(&ToolCall::new(ToolName::SearchKnowledge, subtitles.clone()))
        .await
        .unwrap();
    assert!(
        mine[0]["text"].as_str().unwrap().contains("subtitles"),
        "{mine}"
    );
    let theirs = typewise
        .execute(&ToolCall::new(ToolName::SearchKnowledge, subtitles))
        .await
        .unwrap();
    assert!(
        theirs.as_array().unwrap().iter().all(|h| !h["article_id"]
            .as_str()
            .unwrap()
            .contains("tailwind-course/")),
        "{theirs}"
    );
    // The index holds every demo app's articles, all public.
    assert!(
        kb.search("ai-workshops", "Node 20", 3, Visibility::Public)
            .await
            .unwrap()
            .iter()
            .any(|h| h.text.contains("Node"))
    );
}

#[tokio::test]
async fn a_world_without_knowledge_says_so() {
    let world = ScenarioWorld::records_only(
        "tailwind-course",
        "a@x.test",
        CustomerState::RecentPurchase,
        NOW,
    );
    let e = world
        .execute(&ToolCall::new(
            ToolName::SearchKnowledge,
            json!({"query": "refund"}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::NotImplemented(_)), "{e:?}");
}
