//! The server side of the Inngest protocol in the embedded executor: SDK apps sync with
//! `POST /fn/register`, and their functions' runs are executed by calling the app with signed
//! `POST`s and acting on the ops it returns (StepRun, StepError, StepFailed, StepPlanned,
//! Sleep, WaitForEvent, InvokeFunction).

use crate::ctx::{Decision, Driven, Op, OpKind};
use crate::engine::{Engine, RemoteInvoker};
use crate::error::{EngineError, StepError};
use crate::function::{Backoff, Compiled, Function};
use crate::sdk::{REQ_VERSION, sdk_header};
use crate::signing;
use crate::store::{AppRecord, ClaimedRun};
use crate::timestr::{parse_duration, parse_rfc3339};
use async_trait::async_trait;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The default total timeout of one call to an SDK (connect, request and reply).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The default cap on an SDK's reply body.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// How the executor authenticates SDK apps and signs its calls (Inngest's names).
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// `INNGEST_SIGNING_KEY`: signs calls; `/fn/register` must present its bearer. Without
    /// any key, `/fn/register` refuses every registration (503 `registration_disabled`).
    pub signing_key: Option<String>,
    /// `INNGEST_SIGNING_KEY_FALLBACK`: also accepted at `/fn/register`.
    pub signing_key_fallback: Option<String>,
    /// `INNGEST_DEV`: SDK apps may run on loopback or private addresses. Registration is
    /// still authenticated.
    pub dev: bool,
    /// Backoff between retries of SDK functions (the SDK only sends the retry count).
    pub backoff: Backoff,
    /// Total timeout of one call to an SDK (zero: [`DEFAULT_CALL_TIMEOUT`]).
    pub call_timeout: Duration,
    /// Hosts (names or IP literals, compared case-insensitively) that SDK apps may use
    /// although they are, or resolve to, loopback, link-local or private addresses. Outside
    /// dev mode every other such runtime URL is refused.
    pub allowed_hosts: Vec<String>,
    /// The largest reply accepted from an SDK (zero: [`DEFAULT_MAX_REPLY_BYTES`]); a bigger
    /// one fails the step.
    pub max_reply_bytes: usize,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "signing_key_fallback",
                &self.signing_key_fallback.as_ref().map(|_| "[redacted]"),
            )
            .field("dev", &self.dev)
            .field("backoff", &self.backoff)
            .field("call_timeout", &self.call_timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

impl ServerConfig {
    fn keys(&self) -> impl Iterator<Item = &String> {
        self.signing_key
            .iter()
            .chain(self.signing_key_fallback.iter())
    }

    fn policy(&self) -> HostPolicy {
        HostPolicy {
            dev: self.dev,
            allowed: Arc::new(
                self.allowed_hosts
                    .iter()
                    .map(|h| bare_host(h.trim()).to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect(),
            ),
        }
    }
}

/// Which hosts SDK apps may live on.
#[derive(Clone, Debug)]
struct HostPolicy {
    dev: bool,
    allowed: Arc<Vec<String>>,
}

impl HostPolicy {
    /// Whether `host` may be anything, private addresses included.
    fn trusts(&self, host: &str) -> bool {
        self.dev || self.allowed.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// `[::1]` → `::1`.
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Whether `ip` is a public unicast address: not loopback, link-local, private (RFC 1918,
/// unique local), shared (CGNAT), unspecified, broadcast, multicast, documentation,
/// benchmarking or reserved; IPv4-mapped and NAT64 IPv6 addresses are judged by their IPv4.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return is_public_ip(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || seg[0] == 0x2001 && seg[1] == 0x0db8
                || seg[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

/// Why a runtime URL is refused. The messages name the URL's host, never what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("runtime URL `{0}` is not an absolute http(s) URL")]
    Invalid(String),
    #[error(
        "runtime URL host `{0}` is a loopback, link-local or private address; outside dev mode only public hosts or those in inngest.allowed_hosts are called"
    )]
    Private(String),
    #[error("runtime URL host `{0}` cannot be resolved")]
    Unresolvable(String),
}

impl UrlRefusal {
    fn code(&self) -> &'static str {
        match self {
            UrlRefusal::Invalid(_) => "invalid_runtime_url",
            UrlRefusal::Private(_) => "runtime_url_not_allowed",
            UrlRefusal::Unresolvable(_) => "runtime_url_unresolvable",
        }
    }
}

/// The host of an http(s) URL, without IPv6 brackets.
fn host_of(url: &str) -> Result<(String, u16), UrlRefusal> {
    let u = reqwest::Url::parse(url).map_err(|_| UrlRefusal::Invalid(url.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(UrlRefusal::Invalid(url.to_string()));
    }
    let host = u
        .host_str()
        .map(|h| bare_host(h).to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlRefusal::Invalid(url.to_string()))?;
    Ok((host, u.port_or_known_default().unwrap_or(80)))
}

fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    h == "localhost" || h.ends_with(".localhost")
}

impl HostPolicy {
    /// The check needing no DNS: IP literals and `localhost` names.
    fn check_static(&self, url: &str) -> Result<(), UrlRefusal> {
        let (host, _) = host_of(url)?;
        if self.trusts(&host) {
            return Ok(());
        }
        let private = match host.parse::<IpAddr>() {
            Ok(ip) => !is_public_ip(ip),
            Err(_) => is_localhost_name(&host),
        };
        if private {
            return Err(UrlRefusal::Private(host));
        }
        Ok(())
    }

    /// The full check: a name must resolve, and only to public addresses.
    async fn check(&self, url: &str) -> Result<(), UrlRefusal> {
        self.check_static(url)?;
        let (host, port) = host_of(url)?;
        if self.trusts(&host) || host.parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        // A name (IP literals returned above), so `name:port` is unambiguous.
        let looked_up = tokio::net::lookup_host(format!("{host}:{port}")).await;
        let addrs: Vec<SocketAddr> = match looked_up {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::warn!(host = %host, cause = %e, "cannot resolve an SDK app's host");
                return Err(UrlRefusal::Unresolvable(host));
            }
        };
        if addrs.is_empty() {
            return Err(UrlRefusal::Unresolvable(host));
        }
        if let Some(a) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
            tracing::warn!(host = %host, address = %a.ip(), "refused an SDK app on a non-public address");
            return Err(UrlRefusal::Private(host));
        }
        Ok(())
    }
}

/// The resolver of the client that calls SDK apps: names resolve only to public addresses
/// (unless trusted), checked at connection time so a name cannot be re-pointed after its
/// registration was checked.
struct PublicOnly(HostPolicy);

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let trusted = policy.trusts(&host);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host(format!("{host}:0"))
                .await?
                .filter(|a| trusted || is_public_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

struct HttpInvoker {
    http: reqwest::Client,
    config: ServerConfig,
    policy: HostPolicy,
    max_reply: usize,
    clock: Arc<dyn crate::clock::Clock>,
}

/// Why an app's functions cannot be registered.
enum Refusal {
    /// A definition is invalid.
    Invalid(String),
    /// A function id is taken by a local function or another app.
    Conflict(String),
}

/// A remote function's id, namespaced by its app as Inngest does: `<app_id>-<fn id>` (SDKs
/// already send it so; a bare id gets the prefix).
fn namespaced(app_id: &str, id: &str) -> String {
    match id.strip_prefix(app_id).and_then(|r| r.strip_prefix('-')) {
        Some(rest) if !rest.is_empty() => id.to_string(),
        _ => format!("{app_id}-{id}"),
    }
}

/// The namespaced ids of a stored app's functions.
fn ids_of(app: &AppRecord) -> Vec<String> {
    app.functions
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["id"].as_str())
                .map(|id| namespaced(&app.id, id))
                .collect()
        })
        .unwrap_or_default()
}

/// Every runtime URL in an app's function configs.
fn runtime_urls(functions: &Value) -> Vec<String> {
    functions
        .as_array()
        .map(|fs| {
            fs.iter()
                .flat_map(|f| {
                    f["steps"]
                        .as_object()
                        .map(|m| {
                            m.values()
                                .filter_map(|s| s["runtime"]["url"].as_str())
                                .map(str::to_string)
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Engine {
    /// Accept SDK apps: load the ones registered earlier and execute their functions over
    /// HTTP. Returns the `/fn/register` router to mount next to the event API.
    pub async fn serve_sdk_apps(&self, config: ServerConfig) -> Result<axum::Router, EngineError> {
        let router = self.sdk_apps_router(config.clone())?;
        self.load_sdk_apps(&config).await?;
        Ok(router)
    }

    /// Execute SDK apps' functions over HTTP, and the `/fn/register` router that accepts them.
    /// Needs no database: it can be mounted while the store is down (registration answers 503
    /// until it is back); [`load_sdk_apps`](Self::load_sdk_apps) loads the apps stored earlier.
    ///
    /// The calls follow no redirect, end after [`ServerConfig::call_timeout`], read at most
    /// [`ServerConfig::max_reply_bytes`], and (outside dev mode) connect only to public
    /// addresses or [`ServerConfig::allowed_hosts`].
    pub fn sdk_apps_router(&self, config: ServerConfig) -> Result<axum::Router, EngineError> {
        let timeout = if config.call_timeout.is_zero() {
            DEFAULT_CALL_TIMEOUT
        } else {
            config.call_timeout
        };
        let policy = config.policy();
        // No proxy: through one, the address check would judge the proxy, not the app.
        let http = crate::sdk::http_builder(timeout)
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly(policy.clone())))
            .build()
            .map_err(|e| EngineError::Http(e.to_string()))?;
        let max_reply = if config.max_reply_bytes == 0 {
            DEFAULT_MAX_REPLY_BYTES
        } else {
            config.max_reply_bytes
        };
        self.set_remote(Arc::new(HttpInvoker {
            http,
            config: config.clone(),
            policy: policy.clone(),
            max_reply,
            clock: self.config().clock.clone(),
        }));
        // Apps registered with other instances reach this one's fan-out too.
        self.follow_sdk_apps(config.clone());
        Ok(axum::Router::new()
            .route("/fn/register", post(register))
            .with_state(Arc::new(RegisterState {
                engine: self.clone(),
                config,
                policy,
            })))
    }

    /// Register the functions of the SDK apps stored earlier; returns how many apps were
    /// stored. An app whose function would shadow a local function (or an earlier app's), or
    /// whose runtime URL is a loopback/private address outside dev mode, is skipped with an
    /// error log.
    pub async fn load_sdk_apps(&self, config: &ServerConfig) -> Result<usize, EngineError> {
        let apps = self.store().list_apps().await?;
        let policy = config.policy();
        for (i, app) in apps.iter().enumerate() {
            let urls = std::iter::once(app.url.clone()).chain(runtime_urls(&app.functions));
            if let Some(e) = urls.filter_map(|u| policy.check_static(&u).err()).next() {
                tracing::error!(app = %app.id, cause = %e, "stored SDK app skipped: its URL is not allowed");
                continue;
            }
            match self.prepare_functions(&app.id, &app.functions, config, &apps[..i]) {
                Ok(compiled) => {
                    for c in compiled {
                        self.add_function(c);
                    }
                }
                Err(Refusal::Conflict(id)) => tracing::error!(
                    app = %app.id,
                    function = %id,
                    "stored SDK app skipped: its function id is taken by a local function or another app"
                ),
                Err(Refusal::Invalid(e)) => {
                    tracing::error!(app = %app.id, error = %e, "stored SDK app skipped: invalid functions")
                }
            }
        }
        Ok(apps.len())
    }

    /// Compile an app's function configs under namespaced ids, refusing any id that a local
    /// function, or one of `others`' functions, already has.
    fn prepare_functions(
        &self,
        app_id: &str,
        functions: &Value,
        config: &ServerConfig,
        others: &[AppRecord],
    ) -> Result<Vec<Compiled>, Refusal> {
        let list = match functions {
            Value::Array(l) => l.as_slice(),
            Value::Null => &[],
            _ => return Err(Refusal::Invalid("functions must be an array".into())),
        };
        let mut compiled: Vec<Compiled> = Vec::with_capacity(list.len());
        for cfg in list {
            let c = compile_remote(cfg, app_id, config.backoff)
                .map_err(|e| Refusal::Invalid(e.to_string()))?;
            let id = c.def.id.clone();
            let local = self.function(&id).is_some_and(|f| f.remote.is_none());
            let taken = others
                .iter()
                .any(|a| a.id != app_id && ids_of(a).contains(&id));
            if local || taken || compiled.iter().any(|o| o.def.id == id) {
                return Err(Refusal::Conflict(id));
            }
            compiled.push(c);
        }
        Ok(compiled)
    }
}

fn bad(function: &str, message: impl Into<String>) -> EngineError {
    EngineError::Definition {
        function: function.to_string(),
        message: message.into(),
    }
}

/// Turn a function config from `/fn/register` into a definition without a local handler,
/// under its id namespaced by `app_id`.
fn compile_remote(cfg: &Value, app_id: &str, backoff: Backoff) -> Result<Compiled, EngineError> {
    let raw = cfg["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("?", "function without id"))?;
    let full = namespaced(app_id, raw);
    let id = full.as_str();
    let mut f = Function::new(id).name(cfg["name"].as_str().unwrap_or(id));
    for t in cfg["triggers"].as_array().cloned().unwrap_or_default() {
        if let Some(ev) = t["event"].as_str() {
            f = match t["expression"].as_str() {
                Some(e) if !e.is_empty() => f.on_event_if(ev, e),
                _ => f.on_event(ev),
            };
        } else if let Some(c) = t["cron"].as_str() {
            f = f.on_cron(c);
        }
    }
    let step = cfg["steps"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let url = step["runtime"]["url"]
        .as_str()
        .ok_or_else(|| bad(id, "no runtime url"))?
        .to_string();
    f.retries = step["retries"]["attempts"].as_u64().map_or(3, |n| n as u32);
    f.backoff = backoff;
    match &cfg["concurrency"] {
        Value::Number(n) => f = f.concurrency(n.as_u64().unwrap_or(1) as u32, None),
        Value::Array(items) if !items.is_empty() => {
            let c = &items[0];
            f = f.concurrency(c["limit"].as_u64().unwrap_or(1) as u32, c["key"].as_str());
        }
        _ => {}
    }
    if let Some(k) = cfg["idempotency"].as_str() {
        f = f.idempotency(k);
    }
    for c in cfg["cancel"].as_array().cloned().unwrap_or_default() {
        if let Some(ev) = c["event"].as_str() {
            f = f.cancel_on(ev, c["if"].as_str());
            if let (Some(last), Some(t)) = (f.cancel_on.last_mut(), c["timeout"].as_str()) {
                last.timeout = parse_duration(t);
            }
        }
    }
    if let Some(period) = cfg["debounce"]["period"].as_str().and_then(parse_duration) {
        f = f.debounce(period, cfg["debounce"]["key"].as_str());
    }
    let mut c = Compiled::new(f)?;
    c.remote = Some(url);
    Ok(c)
}

struct RegisterState {
    engine: Engine,
    config: ServerConfig,
    policy: HostPolicy,
}

/// An error in Inngest's `/fn/register` shape (`error` is the message the SDKs print), with a
/// stable `code`.
fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": message.into(), "code": code, "status": status.as_u16()})),
    )
        .into_response()
}

async fn register(
    State(st): State<Arc<RegisterState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (engine, config) = (&st.engine, &st.config);
    // Always authenticated, dev mode included: without a key nobody can register.
    if config.keys().next().is_none() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "registration_disabled",
            "SDK app registration is disabled: no Inngest signing key is configured (set INNGEST_SIGNING_KEY)",
        );
    }
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ok = config
        .keys()
        .any(|k| bool::from(signing::bearer(k).as_bytes().ct_eq(given.as_bytes())));
    if !ok {
        tracing::warn!("refused an SDK app registration without a valid signing key");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_signing_key",
            "a valid signing key is required (Authorization: Bearer <signing key bearer>)",
        );
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid JSON: {e}"),
            );
        }
    };
    let app_id = req["appName"].as_str().unwrap_or_default().to_string();
    let url = req["url"].as_str().unwrap_or_default().to_string();
    if app_id.is_empty() || url.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_registration",
            "appName and url are required",
        );
    }
    if app_id.len() > 256 || app_id.chars().any(char::is_control) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_registration",
            "appName must be at most 256 characters, without control characters",
        );
    }
    let functions = req["functions"].clone();
    let unavailable = |cause: EngineError| {
        // The cause (it may name the database) is logged, not sent.
        tracing::error!(app = %app_id, cause = %cause, "cannot store the SDK app");
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store is unavailable; sync again later",
        )
    };
    let apps = match engine.store().list_apps().await {
        Ok(apps) => apps,
        Err(e) => return unavailable(e.into()),
    };
    let compiled = match engine.prepare_functions(&app_id, &functions, config, &apps) {
        Ok(c) => c,
        Err(Refusal::Invalid(message)) => {
            return refuse(StatusCode::BAD_REQUEST, "invalid_function", message);
        }
        Err(Refusal::Conflict(id)) => {
            tracing::warn!(app = %app_id, function = %id, "refused an SDK app whose function id is taken");
            return refuse(
                StatusCode::BAD_REQUEST,
                "function_id_conflict",
                format!(
                    "function id `{id}` is already taken by a function of this platform or of another app"
                ),
            );
        }
    };
    let mut urls = vec![url.clone()];
    for u in runtime_urls(&functions) {
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    for u in &urls {
        if let Err(e) = st.policy.check(u).await {
            return refuse(StatusCode::BAD_REQUEST, e.code(), e.to_string());
        }
    }
    let previous = apps.iter().find(|a| a.id == app_id);
    let modified = previous.is_none_or(|p| p.functions != functions || p.url != url);
    let record = AppRecord {
        id: app_id.clone(),
        url,
        sdk: req["sdk"].as_str().map(str::to_string),
        framework: req["framework"].as_str().map(str::to_string),
        functions,
        updated_at: engine.now(),
    };
    if let Err(e) = engine.store().upsert_app(&record).await {
        return unavailable(e.into());
    }
    let n = compiled.len();
    for c in compiled {
        engine.add_function(c);
    }
    tracing::info!(app = %app_id, functions = n, modified, "SDK app synced");
    (
        StatusCode::OK,
        Json(json!({"ok": true, "modified": modified})),
    )
        .into_response()
}

enum Reply {
    Done(Value),
    Failed(StepError),
    Ops(Vec<Value>),
}

fn with_step(url: &str, step: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "stepId")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(pairs)
                .append_pair("stepId", step);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn message_of(v: &Value) -> String {
    v.get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

impl HttpInvoker {
    async fn post(&self, url: &str, step: &str, body: &[u8]) -> Result<Reply, StepError> {
        // IP literals never reach the resolver: check them here.
        if let Err(e) = self.policy.check_static(url) {
            return Err(StepError::non_retriable(format!(
                "not calling the SDK: {e}"
            )));
        }
        let mut req = self
            .http
            .post(with_step(url, step))
            .header("content-type", "application/json")
            .header("x-inngest-sdk", sdk_header())
            .header("x-inngest-req-version", REQ_VERSION)
            .header(
                "x-inngest-server-kind",
                if self.config.dev { "dev" } else { "cloud" },
            )
            .body(body.to_vec());
        if let Some(k) = &self.config.signing_key {
            req = req.header(
                "x-inngest-signature",
                signing::sign(k, body, signing::now_secs()),
            );
        }
        let res = req
            .send()
            .await
            .map_err(|e| StepError::retriable(format!("calling the SDK: {e}")))?;
        let status = res.status();
        if status.is_redirection() {
            return Ok(Reply::Failed(StepError::non_retriable(format!(
                "the SDK answered a redirect ({status}); redirects are not followed"
            ))));
        }
        let no_retry = res
            .headers()
            .get("x-inngest-no-retry")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "true");
        let bytes = read_capped(res, self.max_reply).await?;
        let json: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        match status.as_u16() {
            200 => Ok(Reply::Done(json)),
            206 => Ok(Reply::Ops(json.as_array().cloned().unwrap_or_default())),
            _ if no_retry => Ok(Reply::Failed(StepError::non_retriable(message_of(&json)))),
            code => Ok(Reply::Failed(StepError::retriable(format!(
                "SDK answered {code}: {}",
                message_of(&json)
            )))),
        }
    }
}

/// Read a reply of at most `cap` bytes; a bigger one is a (non-retriable) step error, read
/// no further than the cap.
async fn read_capped(mut res: reqwest::Response, cap: usize) -> Result<Vec<u8>, StepError> {
    let too_big = || {
        StepError::non_retriable(format!(
            "the SDK's reply is larger than the {cap}-byte limit (inngest.max_reply_bytes)"
        ))
    };
    if res
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| StepError::retriable(format!("reading the SDK's answer: {e}")))?
    {
        if buf.len().saturating_add(chunk.len()) > cap {
            return Err(too_big());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn op(
    hash: &str,
    name: &str,
    kind: OpKind,
    outcome: Option<Result<Value, StepError>>,
    now: i64,
) -> Op {
    Op {
        hash: hash.to_string(),
        id: name.to_string(),
        kind,
        fresh: true,
        outcome,
        started_at: now,
        ended_at: now,
        decision: Decision::Execute,
        abandoned: false,
    }
}

fn until_of(s: Option<&str>, now: i64) -> (i64, i64) {
    match s {
        Some(s) => match parse_duration(s) {
            Some(d) => {
                let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                (now.saturating_add(ms), ms)
            }
            None => match parse_rfc3339(s) {
                Some(at) => (at, at.saturating_sub(now).max(0)),
                None => (now, 0),
            },
        },
        None => (now, 0),
    }
}

/// Convert one wire op into a step op; `None` for ops that need no action.
fn convert(v: &Value, now: i64) -> Result<Option<Op>, StepError> {
    let code = v["op"].as_str().unwrap_or_default();
    let hash = v["id"].as_str().unwrap_or_default();
    let name = v["displayName"]
        .as_str()
        .or_else(|| v["name"].as_str())
        .unwrap_or(hash);
    let o = &v["opts"];
    Ok(Some(match code {
        "StepRun" | "Step" => op(
            hash,
            name,
            OpKind::Run,
            Some(Ok(v.get("data").cloned().unwrap_or(Value::Null))),
            now,
        ),
        "StepError" => op(
            hash,
            name,
            OpKind::Run,
            Some(Err(StepError::retriable(message_of(&v["error"])))),
            now,
        ),
        "StepFailed" => op(
            hash,
            name,
            OpKind::Run,
            Some(Err(StepError::from_step_json(name, &v["error"]))),
            now,
        ),
        "Sleep" => {
            // The JS SDK puts the duration (or ISO date) in `name`; the spec in `opts.duration`.
            let (until, duration_ms) =
                until_of(o["duration"].as_str().or_else(|| v["name"].as_str()), now);
            op(hash, name, OpKind::Sleep { until, duration_ms }, None, now)
        }
        "WaitForEvent" => {
            let (until, timeout_ms) = until_of(o["timeout"].as_str(), now);
            let event = o["event"]
                .as_str()
                .or_else(|| v["name"].as_str())
                .unwrap_or_default()
                .to_string();
            let if_expr = o["if"].as_str().map(str::to_string);
            op(
                hash,
                name,
                OpKind::WaitForEvent {
                    event,
                    if_expr,
                    until,
                    timeout_ms,
                },
                None,
                now,
            )
        }
        "InvokeFunction" => {
            let timeout = o["timeout"]
                .as_str()
                .and_then(parse_duration)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            op(
                hash,
                name,
                OpKind::Invoke {
                    function_id: o["function_id"].as_str().unwrap_or_default().to_string(),
                    payload: o["payload"]["data"].clone(),
                    until: timeout.map(|t| now.saturating_add(t)),
                    timeout_ms: timeout,
                },
                None,
                now,
            )
        }
        "StepNotFound" => return Ok(None),
        other => {
            return Err(StepError::non_retriable(format!(
                "unsupported op `{other}` from the SDK"
            )));
        }
    }))
}

fn call_body(run: &ClaimedRun, def: &Compiled, disable_immediate: bool) -> Vec<u8> {
    let body = json!({
        "event": run.run.event,
        "events": [run.run.event],
        "steps": run.memo,
        "ctx": {
            "run_id": run.run.id,
            "attempt": run.run.attempt,
            "max_attempts": def.def.attempts(),
            "disable_immediate_execution": disable_immediate,
            "use_api": false,
            "stack": {"stack": run.stack, "current": run.stack.len()},
        },
        "version": 1,
        "use_api": false,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[async_trait]
impl RemoteInvoker for HttpInvoker {
    async fn invoke(&self, run: &ClaimedRun, def: &Compiled) -> (Driven, Vec<Op>) {
        let Some(url) = def.remote.as_deref() else {
            return (
                Driven::Done(Err(StepError::retriable("function has no URL"))),
                vec![],
            );
        };
        let first = match self.post(url, "step", &call_body(run, def, false)).await {
            Err(e) | Ok(Reply::Failed(e)) => return (Driven::Done(Err(e)), vec![]),
            Ok(Reply::Done(v)) => return (Driven::Done(Ok(v)), vec![]),
            Ok(Reply::Ops(ops)) => ops,
        };
        let mut out = Vec::new();
        let mut planned = Vec::new();
        for v in &first {
            if v["op"] == "StepPlanned" {
                planned.push(v.clone());
                continue;
            }
            match convert(v, self.clock.now_ms()) {
                Ok(Some(o)) => out.push(o),
                Ok(None) => {}
                Err(e) => return (Driven::Done(Err(e)), vec![]),
            }
        }
        if !planned.is_empty() {
            // Run each planned step in its own call, concurrently.
            let body = call_body(run, def, true);
            let calls = planned.iter().map(|p| {
                let hash = p["id"].as_str().unwrap_or_default().to_string();
                let body = &body;
                async move { (hash.clone(), self.post(url, &hash, body).await) }
            });
            for (p, (hash, res)) in planned.iter().zip(futures::future::join_all(calls).await) {
                let name = p["displayName"]
                    .as_str()
                    .or_else(|| p["name"].as_str())
                    .unwrap_or(&hash)
                    .to_string();
                match res {
                    Ok(Reply::Ops(ops)) => {
                        for v in &ops {
                            if let Ok(Some(o)) = convert(v, self.clock.now_ms()) {
                                out.push(o);
                            }
                        }
                    }
                    Ok(Reply::Failed(e)) | Err(e) => out.push(op(
                        &hash,
                        &name,
                        OpKind::Run,
                        Some(Err(e)),
                        self.clock.now_ms(),
                    )),
                    Ok(Reply::Done(_)) => {}
                }
            }
        }
        (Driven::Interrupted, out)
    }
}
