//! The offline agent answers in the customer's language where its templates have one, and
//! otherwise hands over before any action tool runs (issue 17). Messages written for this
//! test, not taken from the scenario sets.

use serde_json::json;
use support_core::pipeline::eval::{self, Scenario, ScenarioOutcome};
use support_core::pipeline::reply;
use support_core::pipeline::{RouteAction, text};
use support_core::registry::AppPolicy;

const NOW: i64 = 1_749_988_800_000;

/// The demo articles in tantivy, indexed once for every test of this file.
static KNOWLEDGE: std::sync::LazyLock<std::sync::Arc<dyn support_core::knowledge::Retriever>> =
    std::sync::LazyLock::new(|| {
        support_knowledge::demo::scenario_index().expect("demo articles index")
    });

fn scenario(id: &str, customer: &str, subject: &str, body: &str, action: &str) -> Scenario {
    serde_json::from_value(json!({
        "id": id,
        "app": "typescript-course",
        "from": format!("{id}@example.test"),
        "subject": subject,
        "body": body,
        "customer": customer,
        "expected": { "category": "unknown", "action": action },
    }))
    .expect("scenario json")
}

async fn run(s: &Scenario) -> ScenarioOutcome {
    eval::run_scenario(s, &AppPolicy::default(), NOW, &KNOWLEDGE).await
}

fn draft(o: &ScenarioOutcome) -> String {
    o.draft.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_refund_in_german_is_made_and_answered_in_german() {
    let s = scenario(
        "klara",
        "recent-purchase",
        "Erstattung",
        "Guten Tag,\n\nich habe den Kurs vor ein paar Tagen gekauft, aber er passt leider nicht \
         zu meinem Projekt. Ich hätte gern mein Geld zurück.\n\nViele Grüße\nKlara",
        "respond",
    );
    let o = run(&s).await;
    assert_eq!(o.action, RouteAction::Respond, "{:?}", o.reasons);
    assert!(
        o.tools.contains(&"processRefund".to_owned()),
        "{:?}",
        o.tools
    );
    let d = draft(&o);
    assert!(d.contains("erstattet"), "{d}");
    assert!(!d.contains("I've refunded"), "{d}");
    assert_eq!(text::detect_language(&d), "de", "{d}");
    assert!(o.scorers.iter().all(|r| r.passed), "{:?}", o.scorers);
}

#[tokio::test]
async fn a_login_request_in_a_language_without_templates_is_handed_over_before_acting() {
    let s = scenario(
        "haruto",
        "recent-purchase",
        "ログインできません",
        "お世話になっております。先日コースを購入しましたが、ログイン用のリンクが届かず、\
         講座を開くことができません。どうすればよいでしょうか。",
        "respond",
    );
    let o = run(&s).await;
    assert_eq!(o.action, RouteAction::EscalateHuman, "{:?}", o.reasons);
    assert!(
        !o.tools.contains(&"generateMagicLink".to_owned()),
        "no action tool runs before the hand-over: {:?}",
        o.tools
    );
    assert!(!reply::can_answer_in("ja", false));
}

#[tokio::test]
async fn escalations_hold_in_the_customers_language() {
    let s = scenario(
        "camille",
        "old-purchase",
        "Mon compte",
        "Bonjour,\n\nJ'ai terminé la formation et je ne m'en servirai plus. Merci de supprimer \
         mon compte et toutes mes données personnelles.\n\nCordialement,\nCamille",
        "escalate_human",
    );
    let o = run(&s).await;
    assert!(o.action.is_escalation(), "{:?}", o.reasons);
    let d = draft(&o);
    assert_eq!(text::detect_language(&d), "fr", "{d}");
    assert!(d.starts_with("Bonjour"), "{d}");
}

#[tokio::test]
async fn english_mail_keeps_the_full_english_templates() {
    let s = scenario(
        "sam",
        "recent-purchase",
        "Can't log in",
        "Hi, I bought the course last week but the login link never arrives. Can you help?",
        "respond",
    );
    let o = run(&s).await;
    assert_eq!(o.action, RouteAction::Respond, "{:?}", o.reasons);
    assert!(o.tools.contains(&"generateMagicLink".to_owned()));
    assert!(draft(&o).contains("fresh login link"), "{}", draft(&o));
}

#[test]
fn every_answer_language_has_a_holding_reply() {
    let holding: Vec<&str> = reply::holding_languages().collect();
    for lang in reply::answer_languages() {
        assert!(holding.contains(&lang), "{lang}");
        assert!(reply::can_answer_in(lang, false));
    }
    // Canned bodies are English: only English answers with one.
    assert!(reply::can_answer_in("en", true));
    assert!(!reply::can_answer_in("de", true));
}
