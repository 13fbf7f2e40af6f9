//! Approver identity (issue 11, item 4): approvals count distinct *users*. A token acts for its
//! user, a Slack click counts as the user its Slack id is linked to (`skill users link-slack`),
//! an unlinked Slack user decides nothing, and an approver list names users. Also the
//! dashboard page at `/`, which answers 401 without a token.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::time::Duration;
use support_core::auth::Role;
use support_core::store::{AuditFilter, UserRow};
use support_steps::RunStatus;
use support_testkit::{Fakes, SLACK_CHANNEL, TestApp, TestBackend};

const WAIT: Duration = Duration::from_secs(30);

/// Both backends when Postgres is configured (`TEST_DATABASE_URL`), SQLite always.
async fn apps(fakes: Fakes) -> Vec<TestApp> {
    let mut out = Vec::new();
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        let fakes = Fakes {
            slack: fakes.slack,
            stripe: fakes.stripe,
        };
        if let Some(app) = TestApp::spawn_with_fakes(backend, fakes, |_| {}).await {
            out.push(app);
        }
    }
    out
}

async fn token_for(app: &TestApp, user: &UserRow, name: &str) -> String {
    support_web::api::create_user_token(&app.platform, &user.id, name, Role::Agent, "test")
        .await
        .unwrap()
        .1
}

/// Paul's refund pending approval with two approvers required (the rule's limit is $1.00).
async fn two_approver_refund(
    app: &TestApp,
) -> (
    support_front::sandbox::Delivered,
    support_core::store::ActionRow,
    support_core::store::ApprovalRow,
) {
    app.set_policy(1, |p| p.two_approver_above_cents = Some(100))
        .await;
    let (d, action, approval) = app.pending_refund(0).await;
    assert_eq!(approval.approvers_required, 2);
    (d, action, approval)
}

/// Audit rows of `kind`, oldest first, straight from the store.
async fn audit(app: &TestApp, kind: &str) -> Vec<support_core::audit::AuditRecord> {
    app.platform
        .store
        .list_audit(&AuditFilter {
            kind: Some(kind.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Click `button` as Slack user `user` and wait for the refusal's audit entry with `code`
/// (bounded polling); returns that entry's data and the ephemeral text the user was sent.
async fn refused_click(
    app: &TestApp,
    action_id: &str,
    button: &str,
    user: &str,
    ts: &str,
    code: &str,
) -> (Value, String) {
    let slack = app.slack.clone().unwrap();
    let before = slack.calls_of("chat.postEphemeral").len();
    let actor = format!("slack:{user}");
    let matching = |rows: Vec<support_core::audit::AuditRecord>| -> Vec<Value> {
        rows.into_iter()
            .filter(|r| r.actor == actor && r.data["code"] == code)
            .map(|r| r.data)
            .collect()
    };
    let seen = matching(audit(app, "approval.refused").await).len();
    let res = app.click_in_slack(action_id, button, user, ts).await;
    assert_eq!(res.status().as_u16(), 200);
    let data = app
        .platform
        .engine
        .wait_until("the refused click", WAIT, || {
            let slack = slack.clone();
            let matching = &matching;
            async move {
                let rows = matching(audit(app, "approval.refused").await);
                let told = slack.calls_of("chat.postEphemeral").len() > before;
                Ok((told && rows.len() > seen).then(|| rows[seen].clone()))
            }
        })
        .await
        .unwrap();
    let ephemeral = slack.calls_of("chat.postEphemeral").pop().unwrap();
    assert_eq!(ephemeral.args["user"], user, "{:?}", ephemeral.args);
    (
        data,
        ephemeral.args["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// One user with two tokens approves once: the second token's vote is refused with
/// `approver_already_approved`, and only a different user completes a two-approver approval.
#[tokio::test]
async fn one_user_with_two_tokens_counts_once_and_two_users_satisfy_the_rule() {
    for app in apps(Fakes::default()).await {
        eprintln!("-- backend {:?}", app.backend);
        let (d, action, approval) = two_approver_refund(&app).await;
        let alice = app.add_user("alice@example.com", Role::Agent, None).await;
        let laptop = token_for(&app, &alice, "alice-laptop").await;
        let phone = token_for(&app, &alice, "alice-phone").await;
        let path = format!("/api/v1/approvals/{}/approve", approval.id);

        let (status, body) = app.post_json(&laptop, &path, json!({})).await;
        assert_eq!(
            (status, body["decision"].as_str()),
            (200, Some("pending")),
            "{body}"
        );
        let (status, body) = app.post_json(&phone, &path, json!({})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("approver_already_approved")),
            "alice's second token is still alice: {body}"
        );
        let votes = app
            .platform
            .store
            .list_approval_votes(&approval.id)
            .await
            .unwrap();
        assert_eq!(votes.len(), 1, "{votes:?}");
        assert_eq!(votes[0].user_id.as_deref(), Some(alice.id.as_str()));
        let still = app.action(&action.id).await;
        assert_eq!(still.status, "pending_approval");
        let refused = audit(&app, "approval.refused").await;
        let r = refused
            .iter()
            .find(|r| r.data["code"] == "approver_already_approved")
            .expect("the second vote is audited");
        assert_eq!(r.data["via"], "token");
        assert_eq!(r.data["principal"]["user_id"], alice.id.as_str());

        // A different user completes it; the audit names both users and the channel.
        let bob = app.add_user("bob@example.com", Role::Agent, None).await;
        let bob_token = token_for(&app, &bob, "bob").await;
        let (status, body) = app.post_json(&bob_token, &path, json!({})).await;
        assert_eq!(
            (status, body["decision"].as_str()),
            (200, Some("approved")),
            "{body}"
        );
        assert_eq!(
            body["approvers"],
            json!(["token:alice-laptop", "token:bob"])
        );
        let approved = audit(&app, "approval.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].data["users"], json!([alice.id, bob.id]));
        assert_eq!(
            approved[0].data["user"],
            json!({"id": bob.id, "email": "bob@example.com"})
        );
        assert_eq!(approved[0].data["via"], "token");
        let recorded = audit(&app, "approval.vote_recorded").await;
        assert_eq!(recorded[0].data["user"]["email"], "alice@example.com");
        let run = app.finished_run(&d.event_id, WAIT).await;
        assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
        let got = app.action(&action.id).await;
        assert_eq!(got.status, "executed");
    }
}

/// A token and the linked Slack id of the same user count once; an unlinked Slack user is
/// refused (ephemeral reply, audited, never counted); a second, linked user completes it.
#[tokio::test]
async fn token_and_linked_slack_id_count_once_and_unlinked_slack_users_cannot_approve() {
    for app in apps(Fakes {
        slack: true,
        stripe: true,
    })
    .await
    {
        eprintln!("-- backend {:?}", app.backend);
        app.set_policy(1, |p| {
            p.approval_channel = Some(SLACK_CHANNEL.into());
            p.two_approver_above_cents = Some(100);
        })
        .await;
        let (d, action, approval) = app.pending_refund(0).await;
        assert_eq!(approval.approvers_required, 2);
        let ts = approval.slack_ts.clone().unwrap();
        let alice = app
            .add_user("alice@example.com", Role::Agent, Some("U0ALICE"))
            .await;
        let alice_token = token_for(&app, &alice, "alice").await;

        // An unlinked Slack user: refused, told why, audited, and no vote.
        let (data, text) = refused_click(
            &app,
            &action.id,
            "approval_approve",
            "U0STRANGER",
            &ts,
            "approver_not_linked",
        )
        .await;
        assert_eq!(data["via"], "slack");
        assert_eq!(data["principal"]["slack_user_id"], "U0STRANGER");
        assert!(text.contains("not linked"), "{text}");
        assert!(text.contains("skill users link-slack"), "{text}");
        assert!(text.contains("approver_not_linked"), "{text}");
        // Nor may it open the edit form.
        let opened = app.slack.as_ref().unwrap().calls_of("views.open").len();
        refused_click(
            &app,
            &action.id,
            "approval_edit",
            "U0STRANGER",
            &ts,
            "approver_not_linked",
        )
        .await;
        assert_eq!(
            app.slack.as_ref().unwrap().calls_of("views.open").len(),
            opened
        );
        assert!(
            app.platform
                .store
                .list_approval_votes(&approval.id)
                .await
                .unwrap()
                .is_empty()
        );

        // Alice approves with her token, then clicks in Slack: the same person, refused.
        let path = format!("/api/v1/approvals/{}/approve", approval.id);
        let (status, body) = app.post_json(&alice_token, &path, json!({})).await;
        assert_eq!(
            (status, body["decision"].as_str()),
            (200, Some("pending")),
            "{body}"
        );
        let (data, text) = refused_click(
            &app,
            &action.id,
            "approval_approve",
            "U0ALICE",
            &ts,
            "approver_already_approved",
        )
        .await;
        assert_eq!(data["via"], "slack");
        assert!(text.contains("alice@example.com"), "{text}");
        let votes = app
            .platform
            .store
            .list_approval_votes(&approval.id)
            .await
            .unwrap();
        assert_eq!(votes.len(), 1, "{votes:?}");
        assert_eq!(app.action(&action.id).await.status, "pending_approval");
        assert!(app.stripe.as_ref().unwrap().refunds().is_empty());

        // Bob, linked, completes it from Slack.
        let bob = app
            .add_user("bob@example.com", Role::Agent, Some("U0BOB"))
            .await;
        let res = app
            .click_in_slack(&action.id, "approval_approve", "U0BOB", &ts)
            .await;
        assert_eq!(res.status().as_u16(), 200);
        let run = app.finished_run(&d.event_id, WAIT).await;
        assert_eq!(run.run.status, RunStatus::Completed, "{:?}", run.run.error);
        let approved = audit(&app, "approval.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].data["users"], json!([alice.id, bob.id]));
        assert_eq!(
            approved[0].data["approvers"],
            json!(["token:alice", "slack:U0BOB"])
        );
        assert_eq!(approved[0].data["via"], "slack");
        assert_eq!(approved[0].data["user"]["email"], "bob@example.com");
        assert_eq!(app.stripe.as_ref().unwrap().refunds().len(), 1);
    }
}

/// An approver list names users: a Slack id on it stands for the user linked to it, so a token
/// *named* like that Slack id is nobody on the list; the linked user's own token is.
#[tokio::test]
async fn a_token_named_like_a_slack_id_is_not_that_slack_user() {
    let app = TestApp::sqlite_with_fakes(Fakes::default()).await;
    let (_d, _action, approval) = app.pending_refund(0).await;
    let alice = app
        .add_user("alice@example.com", Role::Agent, Some("U0ALICE"))
        .await;
    app.set_policy(1, |p| p.approvers = vec!["U0ALICE".into()])
        .await;
    let impostor = app.token("U0ALICE", Role::Agent).await;
    let path = format!("/api/v1/approvals/{}/approve", approval.id);
    let (status, body) = app.post_json(&impostor, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("approver_not_allowed")),
        "{body}"
    );
    let own = token_for(&app, &alice, "alice").await;
    let (status, body) = app.post_json(&own, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
}

/// A deactivated user's tokens stop working; a token acts with at most its user's role.
#[tokio::test]
async fn tokens_act_for_their_user() {
    let app = TestApp::spawn().await;
    let carol = app.add_user("carol@example.com", Role::Agent, None).await;
    let token = token_for(&app, &carol, "carol").await;
    let who = |t: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url("/api/v1/whoami"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = who(token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], carol.id.as_str());
    assert_eq!(body["role"], "agent");
    // An admin mints a token for carol through the API; it cannot outrank her.
    let (status, body) = app
        .post_json(
            &app.demo.api_token,
            "/api/v1/tokens",
            json!({"name": "carol-ci", "role": "agent", "user": "Carol@Example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], carol.id.as_str());
    let (_, me) = who(body["token"].as_str().unwrap().to_string()).await;
    assert_eq!(me["user_id"], carol.id.as_str());
    let (status, body) = app
        .post_json(
            &app.demo.api_token,
            "/api/v1/tokens",
            json!({"name": "carol-admin", "role": "admin", "user": "carol@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    // The demo token is the demo admin's.
    let (_, me) = who(app.demo.api_token.clone()).await;
    let admin = app
        .platform
        .store
        .get_user_by_email(&app.demo.admin.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me["user_id"], admin.id.as_str());
    app.platform
        .store
        .set_user_role(&carol.id, Role::Viewer)
        .await
        .unwrap();
    assert_eq!(who(token.clone()).await.1["role"], "viewer");
    app.platform
        .store
        .deactivate_user(&carol.id, 1)
        .await
        .unwrap();
    let (status, body) = who(token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

/// `skill approvals approve <id> --as <email> --json`: the exit code, stdout and stderr.
async fn approve_via_cli_as(
    app: &TestApp,
    approval_id: &str,
    email: &str,
) -> (i32, String, String) {
    skill(
        app,
        &["approvals", "approve", approval_id, "--as", email, "--json"],
    )
    .await
}

async fn skill(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    app.skill_at(env!("CARGO_BIN_EXE_skill"), None, args)
        .await
        .unwrap()
}

/// `skill users …` and `skill tokens create --user`: the links decisions count by.
#[tokio::test]
async fn skill_users_manage_users_slack_links_and_token_owners() {
    let app = TestApp::spawn().await;
    let (code, out, err) = skill(
        &app,
        &[
            "users",
            "create",
            "Dana@Example.com",
            "--role",
            "agent",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    let dana: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dana["email"], "dana@example.com");
    let (code, out, _) = skill(
        &app,
        &["users", "create", "dana@example.com", "--role", "agent"],
    )
    .await;
    assert_eq!(code, 1, "{out}");

    let (code, out, err) =
        skill(&app, &["users", "link-slack", "dana@example.com", "U0DANA"]).await;
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("linked Slack user U0DANA to dana@example.com"),
        "{out}"
    );
    let (code, _, err) = skill(&app, &["users", "link-slack", "dana@example.com", "dana"]).await;
    assert_eq!(code, 2, "not a Slack id: {err}");
    skill(
        &app,
        &["users", "create", "erin@example.com", "--role", "agent"],
    )
    .await;
    let (code, _, err) = skill(&app, &["users", "link-slack", "erin@example.com", "U0DANA"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("linked to dana@example.com"), "{err}");
    let linked = app
        .platform
        .store
        .find_user_by_slack_id("U0DANA")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, dana["id"].as_str().unwrap());

    // A token for dana acts as dana.
    let (code, out, err) = skill(
        &app,
        &[
            "tokens",
            "create",
            "--name",
            "dana-ci",
            "--role",
            "agent",
            "--user",
            "dana@example.com",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    let tok: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tok["user_id"], dana["id"]);
    let me: Value = app
        .client
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(tok["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user_id"], dana["id"]);
    // An admin token cannot belong to an agent.
    let (code, _, err) = skill(
        &app,
        &[
            "tokens",
            "create",
            "--name",
            "x",
            "--role",
            "admin",
            "--user",
            "dana@example.com",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = skill(&app, &["users", "set-role", "dana@example.com", "viewer"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = skill(
        &app,
        &["users", "reset-password", "dana@example.com", "--json"],
    )
    .await;
    assert_eq!(code, 0);
    let pw: Value = serde_json::from_str(&out).unwrap();
    let stored = app
        .platform
        .store
        .get_user_by_email("dana@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(support_core::auth::verify_password(
        pw["password"].as_str().unwrap(),
        stored.password_hash.as_deref().unwrap()
    ));
    let (code, out, _) = skill(&app, &["users", "unlink-slack", "dana@example.com"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        app.platform
            .store
            .find_user_by_slack_id("U0DANA")
            .await
            .unwrap()
            .is_none()
    );
    let (code, out, _) = skill(&app, &["users", "deactivate", "dana@example.com"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = skill(&app, &["users", "list", "--json"]).await;
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    let d = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "dana@example.com")
        .unwrap();
    assert_eq!(
        (d["role"].as_str(), d["active"].as_bool()),
        (Some("viewer"), Some(false))
    );
    assert!(d.get("password_hash").is_none(), "never the hash");
    let (code, out, _) = skill(&app, &["users", "list"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("dana@example.com\tviewer\t-\tdeactivated"),
        "{out}"
    );
    // Every change is audited.
    for kind in [
        "user.created",
        "user.slack_linked",
        "user.role_changed",
        "user.password_reset",
        "user.slack_unlinked",
        "user.deactivated",
    ] {
        assert!(!audit(&app, kind).await.is_empty(), "{kind}");
    }
}

/// The dashboard shows nothing without a session: a GET goes to the login page, a bearer token
/// does not open it; a signed-in viewer sees the apps.
#[tokio::test]
async fn the_dashboard_needs_a_session() {
    let app = TestApp::spawn().await;
    let client = support_testkit::web_client();
    let viewer = app.token("viewer", Role::Viewer).await;
    for token in [None, Some("sup_not-a-token"), Some(viewer.as_str())] {
        let mut req = client.get(app.url("/"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "{token:?}");
        assert_eq!(res.headers()["location"], "/login");
        let text = res.text().await.unwrap();
        assert!(!text.contains(&app.demo.apps[0].slug), "{text}");
    }
    let session = app.login_as(Role::Viewer).await;
    let html = session.page("/").await;
    assert!(html.contains("Overview"), "{html}");
    assert!(html.contains(&app.demo.apps[0].slug), "{html}");
}

/// `skill approvals approve --as <email>` counts as that user: once with their token, and as a
/// second person for another user. An unknown `--as` is bad usage.
#[tokio::test]
async fn the_cli_decides_as_a_user() {
    let app = TestApp::sqlite_with_fakes(Fakes::default()).await;
    let (_d, _action, approval) = two_approver_refund(&app).await;
    let alice = app.add_user("alice@example.com", Role::Agent, None).await;
    let token = token_for(&app, &alice, "alice").await;
    let path = format!("/api/v1/approvals/{}/approve", approval.id);
    let (status, body) = app.post_json(&token, &path, json!({})).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("pending")),
        "{body}"
    );

    let (code, out, err) = approve_via_cli_as(&app, &approval.id, "alice@example.com").await;
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.contains("approver_already_approved"), "{out}");
    let (code, _, err) = skill(
        &app,
        &[
            "approvals",
            "approve",
            &approval.id,
            "--as",
            "nobody@example.com",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");

    let bob = app.add_user("bob@example.com", Role::Agent, None).await;
    let (code, out, err) = approve_via_cli_as(&app, &approval.id, "bob@example.com").await;
    assert_eq!(code, 0, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "approved");
    assert_eq!(v["approvers"], json!(["token:alice", "cli:ops"]));
    let approved = audit(&app, "approval.approved").await;
    assert_eq!(approved[0].data["users"], json!([alice.id, bob.id]));
    assert_eq!(approved[0].data["via"], "cli");
    assert_eq!(approved[0].data["user"]["email"], "bob@example.com");
}
