//! `kill -9` in the middle of the spine loses nothing and writes no second draft: webhooks are
//! acknowledged only once recorded, runs resume after the crashed worker's lease lapses, and
//! drafts are written once per run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use support_front::sandbox::{NewMessage, Sandbox, WebhookTarget};
use support_testkit::{SkillProcess, init_crypto};

const SKILL: &str = env!("CARGO_BIN_EXE_skill");

fn demo_secret(dir: &std::path::Path) -> (String, String) {
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("data/demo.json")).unwrap()).unwrap();
    (
        demo["front_signing_secret"].as_str().unwrap().to_string(),
        demo["apps"][0]["front_inbox_id"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_loses_nothing_and_drafts_once() {
    init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new("crash-front-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(support_front::sandbox::serve(sandbox.clone(), listener));
    let envs = [
        ("SUPPORT_FRONT__API_TOKEN", "crash-front-token"),
        ("SUPPORT_FRONT__API_URL", front_url.as_str()),
        ("SUPPORT_RUNNER_LEASE_SECS", "2"),
    ];
    let customers = [
        "kyle.dunmore@example.com",
        "marcus.lee@example.com",
        "j.schreiber@example.com",
        "v.santos@example.net",
    ];
    let mut conversations = Vec::new();
    let mut interrupted = 0;
    for round in 0..3 {
        let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
        let (secret, inbox) = demo_secret(dir.path());
        sandbox.set_webhook(WebhookTarget {
            url: format!("{}/webhooks/front", proc.base_url),
            secret,
        });
        for i in 0..6 {
            let d = sandbox
                .deliver(NewMessage {
                    conversation_id: None,
                    inbox_id: inbox.clone(),
                    from: customers[(round * 6 + i) % customers.len()].into(),
                    from_name: None,
                    reply_to: None,
                    subject: "Login link".into(),
                    body: "Hi, my login link never arrives. Could you send me a new one?".into(),
                    inbound: true,
                })
                .await
                .unwrap();
            assert_eq!(
                d.webhook_status,
                Some(200),
                "acknowledged only once recorded"
            );
            conversations.push(d.conversation_id);
        }
        // Crash while those runs are in flight: at once in the first round, after some drafts
        // in the later ones (so some runs are cut between steps).
        let want = [0, 1, 6][round];
        let mut seen = sandbox.subscribe();
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while conversations
            .iter()
            .filter(|c| sandbox.drafts(c).len() == 1)
            .count()
            < want
        {
            if tokio::time::timeout_at(until, seen.changed())
                .await
                .is_err()
            {
                break;
            }
        }
        proc.kill_9();
        let done = conversations
            .iter()
            .filter(|c| sandbox.drafts(c).len() == 1)
            .count();
        interrupted += conversations.len() - done;
        eprintln!(
            "round {round}: killed with {} of {} conversations drafted",
            done,
            conversations.len()
        );
    }
    // A last start finishes whatever the crashes interrupted.
    let mut changes = sandbox.subscribe();
    let proc = SkillProcess::start_demo(SKILL, dir.path(), "data", &envs);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let counts: Vec<usize> = conversations
            .iter()
            .map(|c| sandbox.drafts(c).len())
            .collect();
        assert!(
            counts.iter().all(|n| *n <= 1),
            "a conversation got a second draft: {counts:?}"
        );
        if counts.iter().all(|n| *n == 1) {
            break;
        }
        // Wait for the platform (another process) to call the fake Front again.
        let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
        assert!(
            changed.is_ok(),
            "not every conversation got its draft: {counts:?}"
        );
    }
    drop(proc);
    // The kills really interrupted work (a kill after everything finished would prove nothing).
    assert!(interrupted > 0, "every run had finished before each kill");
}
