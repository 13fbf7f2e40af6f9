//! Local fakes of Slack's Web API and Stripe's API that speak their wire formats, for the
//! platform's integration tests (`TestApp`). In the test kit (a dev-dependency only); never in production.
//!
//! - [`FakeSlack`]: `POST /api/{method}` with `Authorization: Bearer xoxb-…`, JSON or form
//!   bodies; answers `{"ok":true,…}` or HTTP 200 `{"ok":false,"error":"…"}`. Implements
//!   `chat.postMessage`, `chat.update`, `views.open`, `chat.postEphemeral`.
//! - [`stripe`]: [`FakeStripe`], Stripe's refunds (by charge or payment intent, idempotent
//!   replay, Connect accounts, destination charges), charges, lists, subscriptions and Connect
//!   OAuth, with recorded requests and injected card errors, outages and lost answers.
//! - [`llm`]: [`FakeOpenAi`] and [`FakeAnthropic`], scripted chat-model servers speaking OpenAI's
//!   chat completions and Anthropic's Messages wire formats.
//! - [`idp`]: [`FakeIdp`], an OpenID Connect provider (discovery, JWKS, authorization code +
//!   PKCE, RS256 ID tokens) for the dashboard's single sign-on.

pub mod embeddings;
pub mod idp;
pub mod llm;
pub mod stripe;
pub mod upstash_vector;
pub use embeddings::FakeEmbeddings;
pub use idp::{FakeIdp, IdpUser, Tamper};
pub use llm::{FakeAnthropic, FakeLlm, FakeLlmRequest, FakeOpenAi, Reply};
pub use stripe::{FakeStripe, StripeCall, StripeCharge};
pub use upstash_vector::FakeUpstashVector;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) async fn serve(app: Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

// ---------------------------------------------------------------- Slack

/// One Web API call as the fake saw it.
#[derive(Debug, Clone)]
pub struct SlackCall {
    pub method: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// JSON body, or the form fields (`blocks`/`attachments`/`view` decoded from JSON).
    pub args: Value,
}

#[derive(Default)]
struct SlackState {
    token: String,
    channel: String,
    calls: Vec<SlackCall>,
    /// `(channel, ts, message)`.
    messages: Vec<(String, String, Value)>,
    next_ts: u64,
    /// Answer this many next calls with `429 ratelimited` and `Retry-After: 7`.
    rate_limit_next: u32,
}

/// A fake of Slack's Web API: `POST /api/{method}` with `Authorization: Bearer xoxb-…`, JSON or
/// form bodies; answers `{"ok":true,…}`, HTTP 200 `{"ok":false,"error":"…"}` or, on request
/// ([`FakeSlack::rate_limit_next`]), 429 with `Retry-After`. Checks what Slack checks and we can
/// get wrong: block limits (`invalid_blocks`), a message with neither text nor blocks
/// (`no_text`), a modal's title length.
#[derive(Clone, Default)]
pub struct FakeSlack(Arc<Mutex<SlackState>>);

impl FakeSlack {
    /// Start on a free port; returns the fake and its API base (`http://127.0.0.1:PORT/api`).
    /// Only `token` is accepted and only `channel` exists.
    pub async fn start(token: &str, channel: &str) -> std::io::Result<(Self, String)> {
        let fake = Self::default();
        {
            let mut st = lock(&fake.0);
            st.token = token.into();
            st.channel = channel.into();
        }
        let app = Router::new()
            .route("/api/{method}", post(slack_api))
            .with_state(fake.clone());
        let url = serve(app).await?;
        Ok((fake, format!("{url}/api")))
    }

    pub fn calls(&self) -> Vec<SlackCall> {
        lock(&self.0).calls.clone()
    }

    /// Calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<SlackCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// A posted message as it stands now (after updates).
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        lock(&self.0)
            .messages
            .iter()
            .find(|(c, t, _)| c == channel && t == ts)
            .map(|(_, _, m)| m.clone())
    }

    /// Answer the next `n` calls with `429 {"ok":false,"error":"ratelimited"}` and
    /// `Retry-After: 7`.
    pub fn rate_limit_next(&self, n: u32) {
        lock(&self.0).rate_limit_next = n;
    }
}

fn slack_status_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn slack_ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    slack_status_json(StatusCode::OK, body)
}

fn slack_err(code: &str) -> Response {
    slack_status_json(StatusCode::OK, json!({"ok": false, "error": code}))
}

/// Parse a Web API body the way Slack does: JSON (`application/json`) or form
/// (`application/x-www-form-urlencoded`, where structured arguments are JSON strings).
fn slack_args(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    let ct = content_type.unwrap_or("");
    if ct.starts_with("application/json") {
        return serde_json::from_slice(body).ok();
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            let parsed = match k.as_str() {
                "blocks" | "attachments" | "view" => serde_json::from_str(&v).ok()?,
                _ => Value::String(v),
            };
            map.insert(k, parsed);
        }
        return Some(Value::Object(map));
    }
    None
}

/// Slack's checks on a message's blocks (the ones we can get wrong).
fn blocks_valid(blocks: &Value) -> bool {
    let Some(list) = blocks.as_array() else {
        return false;
    };
    if list.len() > 50 {
        return false;
    }
    list.iter().all(|b| {
        let elements = b["elements"].as_array().cloned().unwrap_or_default();
        elements.iter().all(|e| {
            e["type"] != "button"
                || (e["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= 75)
                    && e["value"]
                        .as_str()
                        .is_none_or(|v| v.chars().count() <= 2000)
                    && e["style"]
                        .as_str()
                        .is_none_or(|s| s == "primary" || s == "danger"))
        }) && b["text"]["text"]
            .as_str()
            .is_none_or(|t| t.chars().count() <= if b["type"] == "header" { 150 } else { 3000 })
    })
}

async fn slack_api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: header::HeaderName| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = h(header::AUTHORIZATION);
    let content_type = h(header::CONTENT_TYPE);
    let args = slack_args(content_type.as_deref(), &body);
    let mut st = lock(&fake.0);
    st.calls.push(SlackCall {
        method: method.clone(),
        authorization: authorization.clone(),
        content_type,
        args: args.clone().unwrap_or(Value::Null),
    });
    if st.rate_limit_next > 0 {
        st.rate_limit_next -= 1;
        let mut res = slack_status_json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error": "ratelimited"}),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        return res;
    }
    match authorization.as_deref() {
        None => return slack_err("not_authed"),
        Some(a) if a != format!("Bearer {}", st.token) => return slack_err("invalid_auth"),
        Some(_) => {}
    }
    let Some(args) = args else {
        return slack_err("invalid_arguments");
    };
    let s = |k: &str| args[k].as_str().unwrap_or("").to_string();
    match method.as_str() {
        "chat.postMessage" => {
            let channel = s("channel");
            if channel != st.channel {
                return slack_err("channel_not_found");
            }
            if args["blocks"].is_null() && s("text").is_empty() {
                return slack_err("no_text");
            }
            if !args["blocks"].is_null() && !blocks_valid(&args["blocks"]) {
                return slack_err("invalid_blocks");
            }
            st.next_ts += 1;
            let ts = format!("1700000000.{:06}", st.next_ts);
            let message = json!({
                "type": "message",
                "subtype": "bot_message",
                "text": s("text"),
                "ts": ts,
                "username": "Support",
                "bot_id": "B0FAKEBOT",
                "app_id": "A0FAKEAPP",
                "team": "T0FAKETEAM",
                "blocks": args["blocks"],
            });
            st.messages
                .push((channel.clone(), ts.clone(), message.clone()));
            slack_ok(json!({"channel": channel, "ts": ts, "message": message}))
        }
        "chat.update" => {
            let (channel, ts) = (s("channel"), s("ts"));
            if channel != st.channel {
                return slack_err("channel_not_found");
            }
            if !args["blocks"].is_null() && !blocks_valid(&args["blocks"]) {
                return slack_err("invalid_blocks");
            }
            let Some(entry) = st
                .messages
                .iter_mut()
                .find(|(c, t, _)| *c == channel && *t == ts)
            else {
                return slack_err("message_not_found");
            };
            entry.2["text"] = args["text"].clone();
            entry.2["blocks"] = args["blocks"].clone();
            entry.2["edited"] = json!({"user": "B0FAKEBOT", "ts": "1700000100.000000"});
            slack_ok(json!({
                "channel": channel,
                "ts": ts,
                "text": args["text"],
                "message": {"text": args["text"], "blocks": args["blocks"], "bot_id": "B0FAKEBOT"},
            }))
        }
        "views.open" => {
            let trigger = s("trigger_id");
            if trigger.is_empty() {
                return slack_err("invalid_arguments");
            }
            if trigger.starts_with("expired") {
                return slack_err("expired_trigger_id");
            }
            let view = &args["view"];
            if view["type"] != "modal"
                || view["title"]["text"]
                    .as_str()
                    .is_none_or(|t| t.chars().count() > 24)
            {
                return slack_err("invalid_arguments");
            }
            let mut stored = view.clone();
            for (k, v) in [
                ("id", json!("V0FAKEVIEW")),
                ("team_id", json!("T0FAKETEAM")),
                ("state", json!({"values": {}})),
                ("hash", json!("1700000000.abcdef")),
                ("previous_view_id", Value::Null),
                ("root_view_id", json!("V0FAKEVIEW")),
                ("app_id", json!("A0FAKEAPP")),
                ("external_id", json!("")),
                ("app_installed_team_id", json!("T0FAKETEAM")),
                ("bot_id", json!("B0FAKEBOT")),
                ("clear_on_close", json!(false)),
                ("notify_on_close", json!(false)),
            ] {
                stored[k] = v;
            }
            slack_ok(json!({"view": stored}))
        }
        "chat.postEphemeral" => {
            if s("channel") != st.channel {
                return slack_err("channel_not_found");
            }
            if s("user").is_empty() {
                return slack_err("user_not_in_channel");
            }
            slack_ok(json!({"message_ts": "1700000000.999999"}))
        }
        _ => slack_err("unknown_method"),
    }
}
