//! `skill canned …` as a process on the platform's database (SQLite, and Postgres with
//! `TEST_DATABASE_URL`): add (an unknown `{{variable}}` exits 2 with its stable code, in the
//! `--json` error envelope too; nothing written), list, show with versions, edit (a new version; `--base-version` refuses a lost
//! update), a response citing an article goes stale when the article changes, rm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use support_testkit::TestApp;

const APP: &str = "tailwind-course";

async fn skill(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    app.skill_at(env!("CARGO_BIN_EXE_skill"), None, args)
        .await
        .unwrap()
}

async fn skill_json(app: &TestApp, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = skill(app, &a).await;
    assert_eq!(code, 0, "skill {args:?}: {out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn canned_commands_add_list_show_edit_rm() {
    for app in TestApp::each_backend().await {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("seats.md");
        std::fs::write(
            &doc,
            "---\ntitle: Team seats\n---\nSeats can be reassigned.\n",
        )
        .unwrap();
        skill_json(
            &app,
            &["kb", "import", &doc.display().to_string(), "--app", APP],
        )
        .await;
        let arts = skill_json(&app, &["kb", "list", "--app", APP]).await;
        let art = arts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"] == "Team seats")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();

        // An unknown variable: usage error with the stable code, nothing written.
        let (code, out, err) = skill(
            &app,
            &[
                "canned",
                "add",
                "--app",
                APP,
                "--name",
                "Seats",
                "--trigger",
                "seat",
                "--body",
                "Hi {{nick}}",
                "--json",
            ],
        )
        .await;
        assert_eq!(code, 2, "{out}\n{err}");
        let e: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("unknown_template_variable:"),
            "{e}"
        );
        let list = skill_json(&app, &["canned", "list", "--app", APP]).await;
        assert_eq!(support_testkit::own_canned(&list).len(), 0, "{list}");
        let (code, _, err) = skill(
            &app,
            &[
                "canned",
                "add",
                "--name",
                "S",
                "--trigger",
                "seat",
                "--body",
                "b",
                "--source",
                "art_missing@1",
            ],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("unknown_article_version"), "{err}");

        let source = format!("{art}@1");
        let body = dir.path().join("body.txt");
        std::fs::write(
            &body,
            "Hi {{first_name}}, the team owner can reassign seats.",
        )
        .unwrap();
        let added = skill_json(
            &app,
            &[
                "canned",
                "add",
                "--app",
                APP,
                "--name",
                "Seats",
                "--trigger",
                "reassign a seat|move a seat",
                "--body-file",
                &body.display().to_string(),
                "--source",
                &source,
            ],
        )
        .await;
        assert_eq!(
            (added["version"].as_i64(), added["kind"].as_str()),
            (Some(1), Some("created"))
        );
        let id = added["id"].as_str().unwrap().to_string();

        let list = skill_json(&app, &["canned", "list", "--app", APP]).await;
        let items = support_testkit::own_canned(&list);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["variables"], serde_json::json!(["first_name"]));
        assert_eq!(items[0]["sources"][0]["article_id"], art.as_str());

        let edited = skill_json(
            &app,
            &[
                "canned",
                "edit",
                &id,
                "--body",
                "Hi {{first_name}}, ask the owner of {{product}}.",
                "--base-version",
                "1",
            ],
        )
        .await;
        assert_eq!(edited["version"], 2);
        let (code, _, err) = skill(
            &app,
            &[
                "canned",
                "edit",
                &id,
                "--body",
                "lost",
                "--base-version",
                "1",
            ],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("conflict"), "{err}");
        let shown = skill_json(&app, &["canned", "show", &id]).await;
        assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
        assert_eq!(
            shown["canned"]["sources"][0]["version"], 1,
            "sources kept by an edit"
        );
        let v1 = skill_json(&app, &["canned", "show", &id, "--version", "1"]).await;
        assert!(
            v1["version"]["body"]
                .as_str()
                .unwrap()
                .contains("can reassign seats")
        );
        let (code, _, _) = skill(&app, &["canned", "show", "can_nope"]).await;
        assert_eq!(code, 1);

        // The article changes: the canned response is stale.
        std::fs::write(
            &doc,
            "---\ntitle: Team seats\n---\nOnly admins reassign seats.\n",
        )
        .unwrap();
        skill_json(
            &app,
            &["kb", "import", &doc.display().to_string(), "--app", APP],
        )
        .await;
        let shown = skill_json(&app, &["canned", "show", &id]).await;
        assert_eq!(shown["canned"]["stale"], true, "{shown}");
        let (code, out, _) = skill(&app, &["canned", "list", "--app", APP]).await;
        assert_eq!(code, 0);
        assert!(out.contains("stale"), "{out}");

        skill_json(&app, &["canned", "rm", &id]).await;
        let list = skill_json(&app, &["canned", "list", "--app", APP]).await;
        assert_eq!(support_testkit::own_canned(&list).len(), 0);
        let (code, _, _) = skill(&app, &["canned", "rm", &id]).await;
        assert_eq!(code, 1);
    }
}

/// The demo's canned responses are seeded once, citing the demo articles they are written
/// from (each app's copy); a response the team removed or edited is left as they left it.
#[tokio::test]
async fn demo_canned_responses_are_seeded_once_with_their_sources() {
    let app = TestApp::spawn().await;
    let store = app.platform.store.clone();
    let seeded = store.list_canned_rows(None).await.unwrap();
    let demo = support_knowledge::demo::canned().unwrap();
    assert_eq!(seeded.len(), demo.len());
    for c in &seeded {
        assert!(!c.sources.is_empty(), "{} cites nothing", c.id);
        for s in &c.sources {
            let a = store.get_article(&s.article_id).await.unwrap().unwrap();
            assert_eq!(a.current_version, s.version);
            assert!(
                c.app.as_deref().is_none_or(|app| app == a.app),
                "{} cites another app's article",
                c.id
            );
        }
    }
    let removed = seeded[0].id.clone();
    assert!(store.remove_canned(&removed, 1).await.unwrap());
    let edited = seeded[1].clone();
    let input = support_knowledge::canned::input(
        Some(edited.id.clone()),
        Some(edited.current_version),
        support_knowledge::canned::CannedFields {
            app: edited.app.clone(),
            name: edited.name.clone(),
            trigger: edited.trigger.clone(),
            body: "Our own words.".into(),
            sources: edited.sources.clone(),
        },
        "admin",
        2,
    )
    .unwrap();
    store.put_canned(&input).await.unwrap();

    let again = support_knowledge::demo::seed_canned(store.as_ref(), 3)
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert!(store.get_canned(&removed).await.unwrap().is_none());
    let kept = store.get_canned(&edited.id).await.unwrap().unwrap();
    assert_eq!(kept.body, "Our own words.");
}
