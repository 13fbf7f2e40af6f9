//! The Overview and Conversations pages, server-side, on SQLite and (with `TEST_DATABASE_URL`)
//! Postgres: real runs through the Front sandbox, the pages read as a viewer, the actions
//! (re-run, hand over, note) with the role matrix (viewer refused, agent acts, no CSRF refused).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use support_core::auth::Role;
use support_testkit::{TestApp, WebSession};

const WAIT: Duration = Duration::from_secs(30);

/// A login problem from a demo customer: the agent answers with a draft.
async fn answered(app: &TestApp) -> (String, String) {
    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Login link",
            "Hi, I bought Typewise but the login link never arrives. Can you send a new one?",
        ))
        .await
        .unwrap();
    let run = app.finished_run(&d.event_id, WAIT).await;
    assert_eq!(
        run.run.status,
        support_steps::RunStatus::Completed,
        "{:?}",
        run.run.error
    );
    (d.conversation_id, run.run.id)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn status_of(s: &WebSession, path: &str) -> (u16, String) {
    let res = s.get(path).await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn the_list_and_the_detail_show_what_the_run_did() {
    for app in TestApp::each_backend().await {
        let (conv, run) = answered(&app).await;
        // Our copy of the draft: one row for the run, the text Front got.
        let drafts = app.platform.store.list_drafts(&conv).await.unwrap();
        assert_eq!(drafts.len(), 1, "{drafts:?}");
        assert_eq!(drafts[0].run_id, run);
        let in_front: Vec<String> = app
            .front
            .drafts(&conv)
            .iter()
            .filter_map(|d| d["body"].as_str().map(str::to_string))
            .collect();
        assert_eq!(in_front.len(), 1);
        assert!(in_front[0].contains(&format!("support-draft:{run}")));
        let first_line = drafts[0].text.lines().next().unwrap().to_string();
        assert!(!first_line.is_empty());
        let stored = app.conversation(&conv).await;
        assert_eq!(
            app.platform
                .store
                .conversation_detail(&conv)
                .await
                .unwrap()
                .route
                .unwrap()
                .action,
            "respond"
        );

        let s = app.login_as(Role::Viewer).await;
        let list = s.page("/conversations").await;
        assert!(list.contains(&format!("/conversations/{conv}")), "{list}");
        assert!(list.contains("Login link"));
        assert!(list.contains("kyle.dunmore@example.com"));
        // Filters live in the query string.
        let slug = &app.demo.apps[0].slug;
        let other = &app.demo.apps[1].slug;
        for (query, shown) in [
            (format!("app={slug}"), true),
            (format!("app={other}"), false),
            ("q=kyle.dunmore%40example.com".to_string(), true),
            ("q=login".to_string(), true),
            ("q=nothing-like-this".to_string(), false),
            ("action=respond".to_string(), true),
            ("action=silence".to_string(), false),
            ("escalation=none".to_string(), true),
            ("escalation=urgent".to_string(), false),
            ("status=closed".to_string(), false),
            ("from=2000-01-01&to=2999-12-31".to_string(), true),
            ("to=2000-01-01".to_string(), false),
        ] {
            let html = s.page(&format!("/conversations?{query}")).await;
            assert_eq!(
                html.contains(&format!("/conversations/{conv}")),
                shown,
                "{query}"
            );
        }
        // Bad filters: a 400 with an error panel and its code; the filters still render.
        for bad in ["from=yesterday", "status=lost", "older=not-a-cursor"] {
            let (status, html) = status_of(&s, &format!("/conversations?{bad}")).await;
            assert_eq!(status, 400, "{bad}");
            assert!(html.contains("bad_request"), "{html}");
            assert!(html.contains("role=\"search\""), "the filter bar renders");
        }

        let detail = s.page(&format!("/conversations/{conv}")).await;
        let escaped_line = support_core::pipeline::text::escape_html(&first_line);
        assert!(
            detail.contains(&escaped_line) || detail.contains(&first_line),
            "the draft text: {first_line}\n{detail}"
        );
        assert!(detail.contains(&run), "the run that wrote it");
        assert!(detail.contains("Route decision"));
        assert!(detail.contains("Reasons"));
        assert!(detail.contains("tool.called") || detail.contains("Tool calls"));
        assert!(detail.contains("hydrate"), "the run's steps");
        assert!(detail.contains("kyle.dunmore@example.com"));
        assert!(
            !detail.contains("Re-run the agent"),
            "a viewer gets no buttons"
        );
        assert_eq!(stored.front_id, conv);

        let (status, html) = status_of(&s, "/conversations/cnv_does_not_exist").await;
        assert_eq!(status, 404, "{html}");

        let overview = s.page("/").await;
        assert!(overview.contains("Needs a human now"), "{overview}");
        assert!(overview.contains("Health"));
        assert!(overview.contains(slug.as_str()), "SDK endpoint per app");
        assert!(overview.contains("new conversations today"));
    }
}

#[tokio::test]
async fn customer_text_renders_as_text() {
    let app = TestApp::spawn().await;
    let d = app
        .front
        .deliver(app.inbound(
            0,
            "kyle.dunmore@example.com",
            "Hello <script>alert('subject')</script>",
            "Hi <script>alert('body')</script><img src=x onerror=alert(2)> my login link never arrives.",
        ))
        .await
        .unwrap();
    app.finished_run(&d.event_id, WAIT).await;
    let s = app.login_as(Role::Viewer).await;
    for path in [
        "/conversations".to_string(),
        format!("/conversations/{}", d.conversation_id),
    ] {
        let html = s.page(&path).await;
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(html.contains("&lt;script&gt;alert("), "{path}: {html}");
    }
}

#[tokio::test]
async fn only_agents_act_and_every_action_is_audited() {
    for app in TestApp::each_backend().await {
        let (conv, _run) = answered(&app).await;
        let base = format!("/conversations/{conv}");
        let comments_before = app.front.comments(&conv).len();

        // A viewer: no buttons, and a forged POST (with a valid CSRF token) is refused.
        let viewer = app.login_as(Role::Viewer).await;
        for (path, fields) in [
            (format!("{base}/rerun"), vec![]),
            (
                format!("{base}/escalate"),
                vec![("tag", "urgent"), ("reason", "forged")],
            ),
            (format!("{base}/note"), vec![("body", "forged")]),
        ] {
            let res = viewer.post_form(&path, &fields).await;
            assert_eq!(res.status().as_u16(), 403, "{path}");
            let html = res.text().await.unwrap();
            assert!(html.contains("forbidden"), "{html}");
        }
        assert_eq!(app.front.comments(&conv).len(), comments_before);
        assert!(app.front.tags(&conv).iter().all(|t| t != "urgent"));
        for kind in [
            "conversation.rerun_requested",
            "conversation.handed_over",
            "conversation.note_added",
        ] {
            assert!(app.audit_of(kind).await.is_empty(), "{kind}");
        }

        // An agent without the CSRF token: refused; without a session: 401.
        let agent = app.login_as(Role::Agent).await;
        let res = agent
            .post_raw(&format!("{base}/note"), &[("body", "no token")])
            .await;
        assert_eq!(res.status().as_u16(), 403);
        assert!(res.text().await.unwrap().contains("csrf_invalid"));
        let res = support_testkit::web_client()
            .post(app.url(&format!("{base}/note")))
            .form(&[("body", "anonymous"), ("_csrf", agent.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
        assert_eq!(app.front.comments(&conv).len(), comments_before);

        // The agent sees the buttons and acts.
        let detail = agent.page(&base).await;
        assert!(detail.contains("Re-run the agent"));
        assert!(detail.contains("Add note"));

        let res = agent
            .post_form(
                &format!("{base}/note"),
                &[("body", "Called the customer <b>today</b>")],
            )
            .await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(location(&res), base);
        let comments = app.front.comments(&conv);
        assert_eq!(comments.len(), comments_before + 1);
        assert!(
            comments
                .iter()
                .any(|c| c.to_string().contains("Called the customer")),
            "{comments:?}"
        );
        let noted = app.audit_of("conversation.note_added").await;
        assert_eq!(noted.len(), 1);
        assert_eq!(
            noted[0]["actor"],
            format!("user:{}", agent.user.email).as_str()
        );

        let res = agent
            .post_form(
                &format!("{base}/escalate"),
                &[
                    ("tag", "urgent"),
                    ("reason", "VIP customer"),
                    ("assignee", "tea_42"),
                ],
            )
            .await;
        assert_eq!(res.status().as_u16(), 303);
        assert!(app.front.tags(&conv).iter().any(|t| t == "urgent"));
        assert_eq!(app.front.assignee(&conv).as_deref(), Some("tea_42"));
        let c = app.conversation(&conv).await;
        assert_eq!(c.escalation.as_deref(), Some("urgent"));
        assert_eq!(c.escalation_reason.as_deref(), Some("VIP customer"));
        assert_eq!(app.audit_of("conversation.handed_over").await.len(), 1);
        // The list and the overview show it as urgent now.
        let urgent = agent.page("/conversations?escalation=urgent").await;
        assert!(urgent.contains(&base));
        let overview = agent.page("/").await;
        assert!(overview.contains(&base), "urgent escalations list it");

        // A bad hand-over: back to the page with the error; nothing changes.
        let res = agent
            .post_form(&format!("{base}/escalate"), &[("tag", "sideways")])
            .await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(app.audit_of("conversation.handed_over").await.len(), 1);

        // Re-run: a new run through the event path, audited, which writes its own draft.
        let res = agent.post_form(&format!("{base}/rerun"), &[]).await;
        assert_eq!(res.status().as_u16(), 303);
        let asked = app.audit_of("conversation.rerun_requested").await;
        assert_eq!(asked.len(), 1);
        let event_id = asked[0]["data"]["event_id"].as_str().unwrap().to_string();
        let engine = &app.platform.engine;
        let runs = engine
            .wait_for_runs_of(&format!("dashboard:{event_id}"), 1, WAIT)
            .await
            .unwrap();
        let rerun = runs[0].id.clone();
        engine
            .wait_until("the re-run to end", WAIT, || async {
                Ok(engine.get_run(&rerun).await?.filter(|r| {
                    matches!(
                        r.run.status,
                        support_steps::RunStatus::Completed | support_steps::RunStatus::Failed
                    )
                }))
            })
            .await
            .unwrap();
        let drafts = app.platform.store.list_drafts(&conv).await.unwrap();
        assert!(
            drafts.iter().any(|d| d.run_id == rerun),
            "the re-run's draft: {drafts:?}"
        );
    }
}
