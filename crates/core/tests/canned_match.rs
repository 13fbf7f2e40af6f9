//! The router's canned match (issue 15): the knowledge base's retrieval
//! (`support_knowledge::canned::CannedIndex`) scores every trigger alternative, and the best
//! one answers from `CANNED_MIN_SCORE`, within the router's guards.

use support_core::corpus::CannedResponse;
use support_core::pipeline::inbound::{Direction, Inbound, ThreadMessage};
use support_core::pipeline::router::{CANNED_MIN_SCORE, CannedSet, match_canned};
use support_core::pipeline::{AppProfile, RouteAction, RouteDecision, RouteInput, route};
use support_core::registry::AppPolicy;
use support_knowledge::canned::CannedIndex;

const APP: &str = "typescript-course";

fn canned(id: &str, app: Option<&str>, trigger: &str) -> CannedResponse {
    CannedResponse {
        id: id.into(),
        app: app.map(str::to_owned),
        name: format!("{id} name"),
        trigger: trigger.into(),
        body: format!("The {id} answer for {{{{product}}}}."),
        updated_at: 0,
        sources: vec![],
    }
}

fn responses() -> Vec<CannedResponse> {
    vec![
        canned("downloads", None, "download the videos | watch offline"),
        canned("captions", Some(APP), "subtitles | captions"),
        canned("other-app", Some("tailwind-course"), "dark mode"),
        canned("login", None, "login link | magic link"),
    ]
}

fn inbound(subject: &str, body: &str) -> Inbound {
    Inbound {
        app: APP.into(),
        from: "reader@example.com".into(),
        subject: subject.into(),
        body: body.into(),
        ..Inbound::default()
    }
}

fn run(inbound: &Inbound, canned: &[CannedResponse], scorer: &CannedIndex) -> RouteDecision {
    let policy = AppPolicy::default();
    let profile = AppProfile::for_app(&inbound.app);
    route(RouteInput {
        inbound,
        facts: None,
        policy: &policy,
        profile: &profile,
        canned: CannedSet::new(canned, scorer),
    })
}

#[test]
fn the_best_alternative_above_the_threshold_answers_with_its_score() {
    let scorer = CannedIndex::new();
    let all = responses();
    let d = run(
        &inbound(
            "Offline?",
            "Hi! I fly to Lima next week. Can I download the videos to watch on the plane?",
        ),
        &all,
        &scorer,
    );
    assert_eq!(d.action, RouteAction::Respond);
    assert_eq!(d.rule, "canned.downloads");
    let m = d.canned.expect("a canned match");
    assert_eq!(m.phrase, "download the videos");
    assert!(m.score >= CANNED_MIN_SCORE, "{}", m.score);
    assert!(
        d.reasons[0].contains("score") && d.reasons[0].contains("download the videos"),
        "{:?}",
        d.reasons
    );

    // Every app's and this app's responses are candidates; another app's never are.
    let m = match_canned(
        "Do the lessons have captions?",
        CannedSet::new(&all, &scorer),
        APP,
    );
    assert_eq!(m.map(|m| m.id).as_deref(), Some("captions"));
    assert!(
        match_canned(
            "Is there a dark mode module?",
            CannedSet::new(&all, &scorer),
            APP
        )
        .is_none()
    );
    // Nothing to score with, or nothing to score: no match.
    assert!(match_canned("captions?", CannedSet::NONE, APP).is_none());
    assert!(match_canned("captions?", CannedSet::new(&[], &scorer), APP).is_none());
}

#[test]
fn a_partial_or_scattered_match_stays_below_the_threshold() {
    let scorer = CannedIndex::new();
    let all = responses();
    // One word of a two-word alternative.
    let m = match_canned(
        "Where do I download the workbook?",
        CannedSet::new(&all, &scorer),
        APP,
    );
    assert!(m.is_none(), "{m:?}");
    // The same words spread over two sentences.
    let m = match_canned(
        "I like to watch lessons at night. Being offline on weekends is my rule.",
        CannedSet::new(&all, &scorer),
        APP,
    );
    assert!(m.is_none(), "{m:?}");
    // The eval's sweep lowers the threshold and the partial match shows with its score.
    let m = match_canned(
        "Where do I download the workbook?",
        CannedSet::new(&all, &scorer).with_min_score(0.0),
        APP,
    )
    .expect("a partial match");
    assert!(m.score > 0.0 && m.score < CANNED_MIN_SCORE, "{}", m.score);
}

#[test]
fn guards_keep_canned_replies_off_actions_anger_and_old_subjects() {
    let scorer = CannedIndex::new();
    let all = responses();
    // A request the agent acts on (a new login link) is not answered with a canned reply,
    // even though a trigger matches word for word.
    let d = run(
        &inbound(
            "Login",
            "The magic link you sent has expired. Please send me a new login link.",
        ),
        &all,
        &scorer,
    );
    assert!(d.canned.is_none(), "{:?}", d.reasons);
    // Angry mail goes to a human.
    let d = run(
        &inbound(
            "UNACCEPTABLE",
            "This is the THIRD time I ask. Can I download the videos or not?! Worst service ever, I am furious.",
        ),
        &all,
        &scorer,
    );
    assert!(d.canned.is_none(), "{:?}", d.reasons);
    // In a reply on a thread the subject is the thread's first topic: not matched.
    let mut reply = inbound(
        "Re: captions",
        "Thanks, found them. One more thing: how long does the course take?",
    );
    reply.thread = vec![
        ThreadMessage {
            direction: Direction::Inbound,
            body: "Do the lessons have captions?".into(),
            author: None,
        },
        ThreadMessage {
            direction: Direction::Outbound,
            body: "Yes, from the CC menu.".into(),
            author: None,
        },
    ];
    let d = run(&reply, &all, &scorer);
    assert!(d.canned.is_none(), "{:?}", d.reasons);
    // The same words as a new message's subject do count.
    let d = run(
        &inbound("Captions", "Are they available for every lesson?"),
        &all,
        &scorer,
    );
    assert_eq!(d.canned.map(|c| c.id).as_deref(), Some("captions"));
}

#[test]
fn a_template_missing_a_value_or_a_message_in_another_language_never_matches() {
    let scorer = CannedIndex::new();
    let mut greeting = canned("greeting", None, "download the videos");
    greeting.body = "Hi {{first_name}}, use the download button.".into();
    let both = [greeting.clone()];
    // No name on record and none signed: `{{first_name}}` has no value, so no match.
    let d = run(
        &inbound("Videos", "Can I download the videos for a flight?"),
        &both,
        &scorer,
    );
    assert!(d.canned.is_none(), "{:?}", d.reasons);
    // Signed with a name: it fills, so it matches.
    let d = run(
        &inbound(
            "Videos",
            "Can I download the videos for a flight?\n\nThanks,\nAmara",
        ),
        &both,
        &scorer,
    );
    assert_eq!(d.canned.map(|c| c.id).as_deref(), Some("greeting"));

    // Canned bodies are English: a German message with the same words gets no canned reply.
    let offline = [canned("offline", None, "videos offline")];
    let d = run(
        &inbound(
            "Videos offline",
            "Hallo, kann ich die Videos herunterladen und offline ansehen? Ich fliege nächste Woche nach Lima und habe dort kein Internet. Vielen Dank!",
        ),
        &offline,
        &scorer,
    );
    assert_eq!(d.analysis.language, "de");
    assert!(d.canned.is_none(), "{:?}", d.reasons);
    let d = run(
        &inbound("Videos offline", "Can I watch the videos offline?"),
        &offline,
        &scorer,
    );
    assert_eq!(d.canned.map(|c| c.id).as_deref(), Some("offline"));
}
