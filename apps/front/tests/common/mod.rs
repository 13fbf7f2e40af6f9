//! Helpers shared by the plugin's test binaries: the framing setting that lets a localhost
//! host page frame the plugin, the page's anonymous session token and one JSON call to the
//! plugin's API.
#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;
use support_testkit::{Fakes, TestApp, TestBackend};

/// Lets the tests' host page (on 127.0.0.1) frame the plugin.
pub fn tweak(s: &mut support_core::settings::Settings) {
    s.front.plugin_frame_ancestors = "http://127.0.0.1:*".into();
}

/// The `content` of `<meta name="{name}" content="…">` in `html`.
pub fn meta(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" content=\""))?;
    let rest = &html[at + name.len() + 17..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The page's session token (anonymous), as Front's iframe would get it.
pub async fn page_token(app: &TestApp) -> String {
    let res = app
        .client
        .get(app.url(&format!(
            "/plugin/front?auth_secret={}",
            app.demo.front_plugin_auth_secret
        )))
        .send()
        .await
        .expect("GET page");
    assert_eq!(res.status(), 200);
    meta(&res.text().await.expect("body"), "plugin-token").expect("token meta")
}

/// One call to the plugin's API with `token`: the status and the JSON body (`Null` if none).
pub async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method.parse().expect("method"), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A SQLite app with the fake Stripe (no Slack), framable by the tests' host page.
pub async fn spawn_with_stripe() -> TestApp {
    TestApp::spawn_with_fakes(
        TestBackend::Sqlite,
        Fakes {
            stripe: true,
            slack: false,
        },
        tweak,
    )
    .await
    .expect("sqlite")
}
