//! `skill kb …` as a process on the platform's database (SQLite, and Postgres with
//! `TEST_DATABASE_URL`): import (one transaction, idempotent, a bad file named with its line),
//! list, show with versions, search, rm, reindex; and `skill kb eval` (lexical alone without an
//! embedder, dense and hybrid beside it with an OpenAI-compatible one, here the test kit's fake).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use support_testkit::TestApp;
use support_testkit::fakes::FakeEmbeddings;

const APP: &str = "tailwind-course";

async fn skill(app: &TestApp, config: Option<&str>, args: &[&str]) -> (i32, String, String) {
    app.skill_at(env!("CARGO_BIN_EXE_skill"), config, args)
        .await
        .unwrap()
}

async fn skill_json(app: &TestApp, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = skill(app, None, &a).await;
    assert_eq!(code, 0, "skill {args:?}: {out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn kb_commands_import_list_show_search_rm_reindex() {
    for app in TestApp::each_backend().await {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(docs.join("nested")).unwrap();
        std::fs::write(
            docs.join("gift-cards.md"),
            "---\ntitle: Gift cards\ntags: [billing]\n---\nGift cards never expire and can be used for any course.\n",
        )
        .unwrap();
        std::fs::write(
            docs.join("nested/team-seats.html"),
            "<h1>Team seats</h1><p>Seats can be reassigned by the team owner.</p>",
        )
        .unwrap();
        let path = docs.display().to_string();
        let before = skill_json(&app, &["kb", "list", "--app", APP]).await["items"]
            .as_array()
            .unwrap()
            .len();

        let r = skill_json(&app, &["kb", "import", &path, "--app", APP]).await;
        assert_eq!(
            (r["files"].as_u64(), r["created"].as_u64()),
            (Some(2), Some(2)),
            "{r}"
        );
        let r = skill_json(&app, &["kb", "import", &path, "--app", APP]).await;
        assert_eq!(
            (r["created"].as_u64(), r["unchanged"].as_u64()),
            (Some(0), Some(2)),
            "{r}"
        );

        // A bad file: exit 1, named with its line, nothing written (not even the changed file).
        std::fs::write(
            docs.join("gift-cards.md"),
            "---\ntitle: Gift cards\ntags: [billing]\n---\nGift cards expire after five years.\n",
        )
        .unwrap();
        std::fs::write(docs.join("broken.md"), "---\ntitle: [oops\n---\nx\n").unwrap();
        let (code, out, err) = skill(&app, None, &["kb", "import", &path, "--app", APP]).await;
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(format!("{out}{err}").contains("broken.md:"), "{out}\n{err}");
        std::fs::remove_file(docs.join("broken.md")).unwrap();
        let r = skill_json(&app, &["kb", "import", &path, "--app", APP]).await;
        assert_eq!(
            (r["updated"].as_u64(), r["unchanged"].as_u64()),
            (Some(1), Some(1)),
            "{r}"
        );

        let list = skill_json(&app, &["kb", "list", "--app", APP]).await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), before + 2);
        let gift = items.iter().find(|a| a["title"] == "Gift cards").unwrap();
        let id = gift["id"].as_str().unwrap().to_string();
        assert_eq!(gift["current_version"], 2);

        let shown = skill_json(&app, &["kb", "show", &id]).await;
        assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
        assert!(
            shown["version"]["body"]
                .as_str()
                .unwrap()
                .contains("five years")
        );
        let v1 = skill_json(&app, &["kb", "show", &id, "--version", "1"]).await;
        assert!(
            v1["version"]["body"]
                .as_str()
                .unwrap()
                .contains("never expire")
        );
        let (code, _, _) = skill(&app, None, &["kb", "show", "art_nope"]).await;
        assert_eq!(code, 1);

        let hits = skill_json(
            &app,
            &["kb", "search", "do gift cards expire", "--app", APP],
        )
        .await;
        assert_eq!(hits["items"][0]["article_id"], id.as_str(), "{hits}");
        assert_eq!(hits["items"][0]["version"], 2);

        let r = skill_json(&app, &["kb", "reindex"]).await;
        assert!(r["chunks"].as_u64().unwrap() >= 2);

        skill_json(&app, &["kb", "rm", &id]).await;
        let hits = skill_json(&app, &["kb", "search", "gift cards", "--app", APP]).await;
        assert!(
            hits["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["article_id"] != id.as_str())
        );
        let (code, _, err) = skill(&app, None, &["kb", "import", &path, "--app", "Bad Slug"]).await;
        assert_ne!(code, 0, "{err}");
    }
}

fn eval_set(dir: &std::path::Path) -> (String, String) {
    let kb = dir.join("kb");
    for (app, name, body) in [
        (
            "a",
            "refunds",
            "---\ntitle: Refunds\n---\nYou can get your money back within 30 days of purchase.\n",
        ),
        (
            "a",
            "login",
            "---\ntitle: Signing in\n---\nThe magic sign-in link in the email expires after 24 hours.\n",
        ),
        (
            "a",
            "invoices",
            "---\ntitle: Invoices\n---\nDownload a receipt or invoice with your company address.\n",
        ),
        (
            "b",
            "refunds",
            "---\ntitle: Refunds\n---\nApp b gives refunds for 14 days.\n",
        ),
    ] {
        std::fs::create_dir_all(kb.join(app)).unwrap();
        std::fs::write(kb.join(app).join(format!("{name}.md")), body).unwrap();
    }
    let q = dir.join("questions.jsonl");
    std::fs::write(
        &q,
        [
            r#"{"app":"a","question":"can I get my money back","expected":"refunds","kind":"paraphrase","split":"dev"}"#,
            r#"{"app":"a","question":"the sign-in link expired","expected":"login","kind":"paraphrase","split":"test"}"#,
            r#"{"app":"a","question":"I need an invoice with my company address","expected":"invoices","kind":"typo","split":"dev"}"#,
            r#"{"app":"b","question":"refunds for how many days","expected":"refunds","kind":"paraphrase","split":"test"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    (kb.display().to_string(), q.display().to_string())
}

#[tokio::test]
async fn kb_eval_reports_each_retriever_side_by_side() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let (kb, q) = eval_set(dir.path());

    // No embedder configured (the default build): lexical only, and why the others did not run.
    let r = skill_json(&app, &["kb", "eval", "--kb", &kb, "--questions", &q]).await;
    assert_eq!(
        (r["articles"].as_u64(), r["questions"].as_u64()),
        (Some(4), Some(4))
    );
    assert!(r["embedder"].is_null());
    let methods = r["methods"].as_array().unwrap();
    assert_eq!(
        methods
            .iter()
            .map(|m| m["method"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["lexical", "dense", "hybrid"]
    );
    let lexical = &methods[0]["rows"][0];
    assert_eq!(
        (lexical["set"].as_str(), lexical["n"].as_u64()),
        (Some("all"), Some(4))
    );
    assert_eq!(lexical["recall_at_5"], 1.0, "{r}");
    assert!(
        methods[1]["skipped"]
            .as_str()
            .unwrap()
            .contains("no embedder")
    );
    assert_eq!(methods[1]["rows"], serde_json::json!([]));

    // The human table.
    let (code, out, err) = skill(
        &app,
        None,
        &["kb", "eval", "--kb", &kb, "--questions", &q, "--detail"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("recall@1") && out.contains("MRR"), "{out}");
    assert!(out.contains("lexical  split:dev"), "{out}");
    assert!(out.contains("dense    not run: no embedder"), "{out}");

    // An OpenAI-compatible embedder: dense and hybrid run on it.
    let fake = FakeEmbeddings::start("sk-embed", "text-embedding-3-small", 64)
        .await
        .unwrap();
    let config = format!(
        "[kb.embedder]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-embed\"\nmodel = \"text-embedding-3-small\"\n",
        fake.base_url
    );
    let (code, out, err) = skill(
        &app,
        Some(&config),
        &[
            "kb",
            "eval",
            "--kb",
            &kb,
            "--questions",
            &q,
            "--json",
            "--detail",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["embedder"], "text-embedding-3-small");
    for m in r["methods"].as_array().unwrap() {
        assert!(m.get("skipped").is_none(), "{m}");
        let all = &m["rows"][0];
        assert_eq!(
            (all["set"].as_str(), all["n"].as_u64()),
            (Some("all"), Some(4)),
            "{m}"
        );
        assert!(
            m["rows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|row| row["set"] == "split:test")
        );
    }
    assert!(!fake.requests().is_empty(), "the embedder was asked");
}

#[tokio::test]
async fn a_reindex_whose_embedder_fails_falls_back_to_tantivy_audited_and_shown() {
    let app = TestApp::spawn().await;
    let fake = FakeEmbeddings::start("sk-embed", "text-embedding-3-small", 64)
        .await
        .unwrap();
    let config = |base: &str| {
        format!(
            "[kb.embedder]\nkind = \"openai\"\nbase_url = \"{base}\"\napi_key = \"sk-embed\"\nmodel = \"text-embedding-3-small\"\n"
        )
    };
    let run = |config: String, args: &'static [&'static str]| {
        let app = &app;
        async move {
            let (code, out, err) = skill(app, Some(&config), args).await;
            assert_eq!(code, 0, "skill {args:?}: {out}\n{err}");
            (out, err)
        }
    };
    // The embedder answers: hybrid.
    let (out, _) = run(config(&fake.base_url), &["kb", "reindex", "--json"]).await;
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["mode"], "ok", "{r}");
    assert!(app.audit_of("kb.lexical_fallback").await.is_empty());

    // Nothing listens where the embedder should be: the reindex still succeeds, lexically,
    // says so, and is audited; searches answer from tantivy.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/v1", l.local_addr().unwrap().port())
    };
    let (out, _) = run(config(&closed), &["kb", "reindex", "--json"]).await;
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["mode"], "lexical_fallback", "{r}");
    assert!(r["chunks"].as_u64().unwrap() > 0, "{r}");
    assert!(r["reason"].as_str().unwrap().contains("embed"), "{r}");
    let (out, _) = run(config(&closed), &["kb", "reindex"]).await;
    assert!(out.contains("lexical only: the embedder failed"), "{out}");
    let audited = app.audit_of("kb.lexical_fallback").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited[0]["data"]["reason"].is_string(), "{audited:?}");
    let (out, _) = run(
        config(&closed),
        &["kb", "search", "refund", "--app", APP, "--json"],
    )
    .await;
    let hits: Value = serde_json::from_str(&out).unwrap();
    assert!(!hits["items"].as_array().unwrap().is_empty(), "{hits}");
}
