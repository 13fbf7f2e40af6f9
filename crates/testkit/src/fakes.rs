//! Local fakes of Slack's Web API and Stripe's API that speak their wire formats, for the
//! platform's integration tests (`TestApp`). In the test kit (a dev-dependency only); never in production.
//!
//! - [`FakeSlack`]: `POST /api/{method}` with `Authorization: Bearer xoxb-…`, JSON or form
//!   bodies; answers `{"ok":true,…}` or HTTP 200 `{"ok":false,"error":"…"}`. Implements
//!   `chat.postMessage`, `chat.update`, `views.open`, `chat.postEphemeral`.
//! - [`FakeStripe`]: form-encoded `POST /v1/refunds` with `Idempotency-Key` replay (same key and
//!   parameters → the stored answer; other parameters → `idempotency_error`), `Stripe-Account`,
//!   and Stripe's error body `{"error":{"type","code","message","param"}}`. A charge registered
//!   with [`FakeStripe::set_charge`] / [`FakeStripe::add_charge`] lives on its account only
//!   (`Stripe-Account`; elsewhere it is `resource_missing`) with its amount and currency; any
//!   other `ch_…` charge is known (with [`FakeStripe::charge_amount`] cents in `usd`).
//!   `GET /v1/charges/{id}` answers the charge object (`amount`, `amount_refunded`, `currency`,
//!   …) as Stripe does.
//!   `GET /v1/charges?customer=`, `/v1/refunds?charge=` and `/v1/subscriptions?customer=` answer
//!   in Stripe's list format (`{"object":"list","data":[…],"has_more":…,"url"}`) from
//!   [`FakeStripe::add_charge`] / [`FakeStripe::add_subscription`] and the refunds made; Connect's
//!   `POST /oauth/token` exchanges a code registered with [`FakeStripe::authorize`] once
//!   (`{"error":"invalid_grant","error_description":…}` otherwise).
//! - [`llm`]: [`FakeOpenAi`] and [`FakeAnthropic`], scripted chat-model servers speaking OpenAI's
//!   chat completions and Anthropic's Messages wire formats.
//! - [`idp`]: [`FakeIdp`], an OpenID Connect provider (discovery, JWKS, authorization code +
//!   PKCE, RS256 ID tokens) for the dashboard's single sign-on.

pub mod idp;
pub mod llm;
pub use idp::{FakeIdp, IdpUser, Tamper};
pub use llm::{FakeAnthropic, FakeLlm, FakeLlmRequest, FakeOpenAi, Reply};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(app: Router) -> std::io::Result<String> {
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

// ---------------------------------------------------------------- Stripe

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct StripeCall {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub stripe_account: Option<String>,
    pub idempotency_key: Option<String>,
}

impl StripeCall {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Stripe's own refund fixture (stripe/openapi `fixtures3.json`).
const REFUND_FIXTURE: &str = include_str!("../fixtures/stripe/refund.json");
/// Stripe's own charge and subscription fixtures, for the list endpoints.
const CHARGE_FIXTURE: &str = include_str!("../fixtures/stripe/charge.json");
const SUBSCRIPTION_FIXTURE: &str = include_str!("../fixtures/stripe/subscription.json");

/// A charge the fake knows ([`FakeStripe::add_charge`], [`FakeStripe::set_charge`]).
#[derive(Debug, Clone)]
struct FakeCharge {
    account: Option<String>,
    id: String,
    customer: Option<String>,
    amount: i64,
    currency: String,
}

type Replays = BTreeMap<(Option<String>, String), (Vec<(String, String)>, u16, Value)>;

#[derive(Default)]
struct StripeState {
    secret_key: String,
    charge_amount: i64,
    calls: Vec<StripeCall>,
    refunds: Vec<Value>,
    refunded: BTreeMap<String, i64>,
    idempotency: Replays,
    card_errors: Vec<(String, String)>,
    next: u32,
    charges: Vec<FakeCharge>,
    /// `(account, customer, subscription id, status)`.
    subscriptions: Vec<(Option<String>, String, String, String)>,
    /// Connect OAuth authorization codes not yet exchanged → the account they connect.
    oauth_codes: BTreeMap<String, String>,
    /// While set, refund requests are processed (the refund exists, the idempotent replay is
    /// stored) but not answered: the caller never learns the outcome ([`FakeStripe::hold_refund_responses`]).
    hold: bool,
    /// Answer the next N authenticated API requests with Stripe's 500 `api_error`.
    outage: u32,
    /// Bumped on every request and on release, for tests that wait.
    signal: Signal,
}

/// A change counter tests can wait on.
struct Signal(tokio::sync::watch::Sender<u64>);

impl Default for Signal {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(0).0)
    }
}

impl Signal {
    fn bump(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// A fake of Stripe's refunds API.
#[derive(Clone, Default)]
pub struct FakeStripe(Arc<Mutex<StripeState>>);

fn stripe_error(status: u16, type_: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    let mut e = json!({"type": type_, "message": message});
    if let Some(c) = code {
        e["code"] = json!(c);
    }
    (status, json!({"error": e}))
}

fn stripe_respond(status: u16, body: &Value, replayed: bool) -> Response {
    let mut res = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if replayed && let Ok(v) = "true".parse() {
        res.headers_mut().insert("idempotent-replayed", v);
    }
    res
}

impl FakeStripe {
    /// Start on a free port; returns the fake and its base URL (`http://127.0.0.1:PORT/`).
    pub async fn start(secret_key: &str) -> std::io::Result<(Self, String)> {
        let fake = Self::default();
        {
            let mut st = lock(&fake.0);
            st.secret_key = secret_key.into();
            st.charge_amount = 100_000;
        }
        let app = Router::new().fallback(stripe_api).with_state(fake.clone());
        let url = serve(app).await?;
        Ok((fake, format!("{url}/")))
    }

    pub fn calls(&self) -> Vec<StripeCall> {
        lock(&self.0).calls.clone()
    }

    /// Refunds created (replays excluded).
    pub fn refunds(&self) -> Vec<Value> {
        lock(&self.0).refunds.clone()
    }

    /// From now on refunds are made but their responses are held back until
    /// [`release_refund_responses`](Self::release_refund_responses): as when Stripe did the work
    /// and the connection died before the answer (a crash, a timeout).
    pub fn hold_refund_responses(&self) {
        lock(&self.0).hold = true;
    }

    /// Answer the held refund requests (if their callers are still there) and stop holding.
    pub fn release_refund_responses(&self) {
        let mut st = lock(&self.0);
        st.hold = false;
        st.signal.bump();
    }

    /// Wait until `POST /v1/refunds` has been requested `n` times (replays included).
    pub async fn wait_for_refund_requests(
        &self,
        n: usize,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        let mut rx = lock(&self.0).signal.0.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self
                .calls()
                .iter()
                .filter(|c| c.method == "POST" && c.path == "/v1/refunds")
                .count();
            if seen >= n {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(format!("{seen} of {n} refund requests arrived")),
            }
        }
    }

    /// The next refund creation fails with this card error (`card_error`, HTTP 402).
    pub fn fail_next_refund(&self, code: &str, message: &str) {
        lock(&self.0)
            .card_errors
            .push((code.to_string(), message.to_string()));
    }

    /// The next `n` API requests fail with Stripe's 500 `api_error` (an outage).
    pub fn fail_next_requests(&self, n: u32) {
        lock(&self.0).outage = n;
    }

    /// The amount of every charge, in cents (100 000 unless set).
    pub fn charge_amount(&self, cents: i64) {
        lock(&self.0).charge_amount = cents;
    }

    /// A charge of `customer` on `account` (`None`: the platform) that `GET /v1/charges` lists,
    /// of `amount` cents in `usd`.
    pub fn add_charge(&self, account: Option<&str>, id: &str, customer: &str, amount: i64) {
        lock(&self.0).charges.push(FakeCharge {
            account: account.map(str::to_string),
            id: id.into(),
            customer: Some(customer.into()),
            amount,
            currency: "usd".into(),
        });
    }

    /// The charge `id` on `account` (`None`: the platform), of `amount` minor units of
    /// `currency`, without a customer; replaces an earlier registration of the same id.
    pub fn set_charge(&self, account: Option<&str>, id: &str, amount: i64, currency: &str) {
        let mut st = lock(&self.0);
        st.charges.retain(|c| c.id != id);
        st.charges.push(FakeCharge {
            account: account.map(str::to_string),
            id: id.into(),
            customer: None,
            amount,
            currency: currency.to_ascii_lowercase(),
        });
    }

    /// Minor units refunded so far on `charge` (by anyone).
    pub fn refunded(&self, charge: &str) -> i64 {
        lock(&self.0).refunded.get(charge).copied().unwrap_or(0)
    }

    /// A subscription of `customer` on `account` that `GET /v1/subscriptions` lists.
    pub fn add_subscription(&self, account: Option<&str>, customer: &str, id: &str, status: &str) {
        lock(&self.0).subscriptions.push((
            account.map(str::to_string),
            customer.into(),
            id.into(),
            status.into(),
        ));
    }

    /// A Connect OAuth authorization code (what Stripe puts on the redirect after the user
    /// accepts) that `POST /oauth/token` exchanges, once, for `account`.
    pub fn authorize(&self, code: &str, account: &str) {
        lock(&self.0)
            .oauth_codes
            .insert(code.into(), account.into());
    }
}

fn stripe_list(url: &str, data: Vec<Value>) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

fn query_param(query: &[(String, String)], k: &str) -> Option<String> {
    query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

/// The charge `id` as seen from `account`: a registered one on its own account only; any
/// other `ch_…` is known with the default amount, in `usd`.
fn find_charge(st: &StripeState, account: Option<&String>, id: &str) -> Option<FakeCharge> {
    match st.charges.iter().rev().find(|c| c.id == id) {
        Some(c) if c.account.as_ref() == account => Some(c.clone()),
        Some(_) => None,
        None => id.starts_with("ch_").then(|| FakeCharge {
            account: account.cloned(),
            id: id.into(),
            customer: None,
            amount: st.charge_amount,
            currency: "usd".into(),
        }),
    }
}

fn no_such_charge(id: &str, param: &str) -> (u16, Value) {
    let (status, mut body) = stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such charge: '{id}'"),
    );
    body["error"]["param"] = json!(param);
    body["error"]["doc_url"] = json!("https://stripe.com/docs/error-codes/resource-missing");
    (status, body)
}

fn charge_json(st: &StripeState, c: &FakeCharge) -> Value {
    let mut v: Value = serde_json::from_str(CHARGE_FIXTURE).unwrap_or_else(|_| json!({}));
    let refunded = st.refunded.get(&c.id).copied().unwrap_or(0);
    v["id"] = json!(c.id);
    v["amount"] = json!(c.amount);
    v["currency"] = json!(c.currency);
    v["amount_captured"] = json!(c.amount);
    v["amount_refunded"] = json!(refunded);
    v["refunded"] = json!(refunded >= c.amount);
    v["captured"] = json!(true);
    v["paid"] = json!(true);
    v["status"] = json!("succeeded");
    v["customer"] = json!(c.customer);
    v["payment_intent"] = Value::Null;
    v["created"] = json!(1_700_000_000);
    v["refunds"]["url"] = json!(format!("/v1/charges/{}/refunds", c.id));
    v
}

/// `GET /v1/charges|refunds|subscriptions` in Stripe's list format.
fn list_endpoint(
    st: &StripeState,
    path: &str,
    account: Option<&String>,
    query: &[(String, String)],
) -> Option<(u16, Value)> {
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let data: Vec<Value> = match path {
        "/v1/charges" => {
            let customer = query_param(query, "customer");
            st.charges
                .iter()
                .rev()
                .filter(|c| {
                    c.account.as_ref() == account && c.customer.is_some() && c.customer == customer
                })
                .map(|c| charge_json(st, c))
                .collect()
        }
        "/v1/refunds" => {
            let charge = query_param(query, "charge");
            st.refunds
                .iter()
                .rev()
                .filter(|r| charge.as_deref().is_some_and(|c| r["charge"] == c))
                .cloned()
                .collect()
        }
        "/v1/subscriptions" => {
            let customer = query_param(query, "customer");
            st.subscriptions
                .iter()
                .rev()
                .filter(|(a, c, _, _)| a.as_ref() == account && Some(c) == customer.as_ref())
                .map(|(_, c, id, status)| {
                    let mut v: Value =
                        serde_json::from_str(SUBSCRIPTION_FIXTURE).unwrap_or_else(|_| json!({}));
                    v["id"] = json!(id);
                    v["customer"] = json!(c);
                    v["status"] = json!(status);
                    v["cancel_at_period_end"] = json!(false);
                    v
                })
                .collect()
        }
        _ => {
            let id = path.strip_prefix("/v1/charges/")?;
            if id.is_empty() || id.contains('/') {
                return None;
            }
            return Some(match find_charge(st, account, id) {
                Some(c) => (200, charge_json(st, &c)),
                None => no_such_charge(id, "id"),
            });
        }
    };
    let has_more = data.len() > limit;
    let mut body = stripe_list(path, data.into_iter().take(limit).collect());
    body["has_more"] = json!(has_more);
    Some((200, body))
}

/// `POST /oauth/token` (Connect): the platform's secret key as HTTP Basic user (or Bearer);
/// `grant_type=authorization_code&code=…`. Errors are OAuth's `{"error","error_description"}`.
fn oauth_token(
    st: &mut StripeState,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> (u16, Value) {
    let oauth_err = |status: u16, code: &str, description: &str| {
        (
            status,
            json!({"error": code, "error_description": description}),
        )
    };
    let key_ok = match authorization {
        Some(a) if a.starts_with("Bearer ") => a["Bearer ".len()..] == st.secret_key,
        Some(a) if a.starts_with("Basic ") => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(a["Basic ".len()..].trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|userpass| userpass == format!("{}:", st.secret_key))
        }
        _ => false,
    };
    let client_secret_ok = form
        .iter()
        .any(|(k, v)| k == "client_secret" && *v == st.secret_key);
    if !key_ok && !client_secret_ok {
        return oauth_err(
            401,
            "invalid_client",
            "No authentication was provided. Send your secret API key using the Authorization header, or as a client_secret POST parameter.",
        );
    }
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("authorization_code") {
        return oauth_err(
            400,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token grant types are supported.",
        );
    }
    let Some(code) = get("code") else {
        return oauth_err(400, "invalid_request", "No authorization code provided");
    };
    let Some(account) = st.oauth_codes.remove(&code) else {
        return oauth_err(
            400,
            "invalid_grant",
            &format!("Authorization code does not exist: {code}"),
        );
    };
    (
        200,
        json!({
            "access_token": format!("sk_test_fake_access_{account}"),
            "livemode": false,
            "refresh_token": format!("rt_fake_{account}"),
            "token_type": "bearer",
            "stripe_publishable_key": format!("pk_test_fake_{account}"),
            "stripe_user_id": account,
            "scope": "read_write"
        }),
    )
}

fn create_refund(
    st: &mut StripeState,
    account: Option<&String>,
    form: &[(String, String)],
) -> (u16, Value) {
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let Some(charge) = get("charge") else {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            "One of the following params should be provided for this request: payment_intent or charge.",
        );
    };
    let Some(known) = find_charge(st, account, &charge) else {
        return no_such_charge(&charge, "charge");
    };
    if !st.card_errors.is_empty() {
        let (code, message) = st.card_errors.remove(0);
        return stripe_error(402, "card_error", Some(&code), &message);
    }
    let left = known.amount - st.refunded.get(&charge).copied().unwrap_or(0);
    if left <= 0 {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            &format!("Charge {charge} has already been refunded."),
        );
    }
    let amount = match get("amount").map(|a| a.parse::<i64>()) {
        None => left,
        Some(Ok(a)) if a > 0 && a <= left => a,
        _ => {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("amount_too_large"),
                "Refund amount is greater than unrefunded amount on charge",
            );
        }
    };
    *st.refunded.entry(charge.clone()).or_default() += amount;
    st.next += 1;
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let mut r: Value = serde_json::from_str(REFUND_FIXTURE).unwrap_or_else(|_| json!({}));
    r["id"] = json!(format!("re_fake{:04}", st.next));
    r["amount"] = json!(amount);
    r["charge"] = json!(charge);
    r["currency"] = json!(known.currency);
    r["payment_intent"] = Value::Null;
    r["created"] = json!(1_700_000_000 + i64::from(st.next));
    r["reason"] = json!(get("reason"));
    r["status"] = json!("succeeded");
    r["metadata"] = Value::Object(metadata);
    st.refunds.push(r.clone());
    (200, r)
}

async fn stripe_api(
    State(fake): State<FakeStripe>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match stripe_answer(&fake, &method, &uri, &headers, &body) {
        Answer::Now(res) => res,
        Answer::Held(status, body, rx) => {
            // The refund exists; the answer waits (and is lost if the caller dies meanwhile).
            wait_for_release(&fake, rx).await;
            stripe_respond(status, &body, false)
        }
    }
}

/// What the fake Stripe answers: now, or once held responses are released.
enum Answer {
    Now(Response),
    Held(u16, Value, tokio::sync::watch::Receiver<u64>),
}

fn stripe_answer(
    fake: &FakeStripe,
    method: &axum::http::Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let call = StripeCall {
        method: method.to_string(),
        path: uri.path().to_string(),
        form: form.clone(),
        stripe_account: h("stripe-account"),
        idempotency_key: h("idempotency-key"),
    };
    let mut st = lock(&fake.0);
    st.calls.push(call.clone());
    st.signal.bump();
    if (method.as_str(), uri.path()) == ("POST", "/oauth/token") {
        let (s, b) = oauth_token(&mut st, h("authorization").as_deref(), &form);
        return Answer::Now(stripe_respond(s, &b, false));
    }
    if h("authorization") != Some(format!("Bearer {}", st.secret_key)) {
        let (s, b) = stripe_error(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
        );
        return Answer::Now(stripe_respond(s, &b, false));
    }
    if st.outage > 0 {
        st.outage -= 1;
        let (s, b) = stripe_error(
            500,
            "api_error",
            None,
            "An unknown error occurred while processing your request.",
        );
        return Answer::Now(stripe_respond(s, &b, false));
    }
    if method.as_str() == "GET" {
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
        if let Some((s, b)) = list_endpoint(&st, uri.path(), call.stripe_account.as_ref(), &query) {
            return Answer::Now(stripe_respond(s, &b, false));
        }
    }
    if (method.as_str(), uri.path()) != ("POST", "/v1/refunds") {
        let (s, b) = stripe_error(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({method} {}).", uri.path()),
        );
        return Answer::Now(stripe_respond(s, &b, false));
    }
    let Some(key) = call.idempotency_key.clone() else {
        let (s, b) = create_refund(&mut st, call.stripe_account.as_ref(), &form);
        return Answer::Now(stripe_respond(s, &b, false));
    };
    let mut sorted = form.clone();
    sorted.sort();
    let slot = (call.stripe_account.clone(), key.clone());
    if let Some((params, status, body)) = st.idempotency.get(&slot).cloned() {
        if params == sorted {
            return Answer::Now(stripe_respond(status, &body, true));
        }
        let (s, b) = stripe_error(
            400,
            "idempotency_error",
            None,
            &format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
        );
        return Answer::Now(stripe_respond(s, &b, false));
    }
    let (status, body) = create_refund(&mut st, call.stripe_account.as_ref(), &form);
    st.idempotency.insert(slot, (sorted, status, body.clone()));
    if st.hold {
        return Answer::Held(status, body, st.signal.0.subscribe());
    }
    Answer::Now(stripe_respond(status, &body, false))
}

async fn wait_for_release(fake: &FakeStripe, mut rx: tokio::sync::watch::Receiver<u64>) {
    loop {
        let holding = lock(&fake.0).hold;
        if !holding || rx.changed().await.is_err() {
            return;
        }
    }
}
