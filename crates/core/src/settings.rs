//! Layered, typed settings: defaults, then `support.toml`, then `SUPPORT_*` environment variables.
//!
//! Nested keys use `__` in the environment: `SUPPORT_LOG__FORMAT=json` sets `log.format`.
//! Inngest settings also read Inngest's own variable names (`INNGEST_SIGNING_KEY`, …).
//! Secrets are [`Secret`]s: they print as `[redacted]` in `Debug` and when serialized.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret value. `Debug` and `Serialize` never show it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept numbers too: figment parses `SUPPORT_X=123` as an integer.
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(Self::new(s)),
            serde_json::Value::Number(n) => Ok(Self::new(n.to_string())),
            _ => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

/// Accept a string, number or boolean as text (environment values are parsed eagerly).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Which engine drives durable functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// The embedded executor on the platform's own database.
    #[default]
    Embedded,
    /// An external Inngest server (Cloud or `inngest start`) calls `/api/inngest`.
    Inngest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` env-filter directive, e.g. `info,support=debug`.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

/// OpenTelemetry export over OTLP/HTTP (protobuf). Works with Axiom, Langfuse, Honeycomb, a
/// collector, … See `docs/telemetry.md` for the headers each vendor expects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelSettings {
    /// e.g. `https://api.axiom.co/v1/traces`. Export is off when unset.
    pub endpoint: Option<String>,
    /// Extra headers, e.g. `Authorization`. Values are secrets.
    pub headers: std::collections::BTreeMap<String, Secret>,
    pub service_name: String,
}

impl Default for OtelSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            headers: Default::default(),
            service_name: "support".into(),
        }
    }
}

/// Inngest settings. Also read from Inngest's own variables: `INNGEST_SIGNING_KEY`,
/// `INNGEST_SIGNING_KEY_FALLBACK`, `INNGEST_EVENT_KEY`, `INNGEST_BASE_URL`, `INNGEST_DEV`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InngestSettings {
    /// Signs calls to SDK apps and authenticates `POST /fn/register` (no key: registration
    /// is refused). `--demo` generates one when none is set.
    pub signing_key: Option<Secret>,
    pub signing_key_fallback: Option<Secret>,
    pub event_key: Option<Secret>,
    #[serde(deserialize_with = "lenient_string")]
    pub base_url: Option<String>,
    /// `INNGEST_DEV`: `1`/`true`, or the dev server's URL. Skips signature checks, and lets
    /// SDK apps run on loopback or private addresses.
    #[serde(deserialize_with = "lenient_string")]
    pub dev: Option<String>,
    /// Hosts (names or IP literals) that SDK apps may use as runtime URLs although they are
    /// loopback, link-local or private addresses; outside dev mode others are refused.
    pub allowed_hosts: Vec<String>,
    /// Total timeout of one call to an SDK app, in seconds.
    pub call_timeout_secs: u64,
    /// The largest reply accepted from an SDK app; a bigger one fails the step.
    pub max_reply_bytes: u64,
}

impl Default for InngestSettings {
    fn default() -> Self {
        Self {
            signing_key: None,
            signing_key_fallback: None,
            event_key: None,
            base_url: None,
            dev: None,
            allowed_hosts: Vec::new(),
            call_timeout_secs: 30,
            max_reply_bytes: 4 * 1024 * 1024,
        }
    }
}

impl InngestSettings {
    pub fn is_dev(&self) -> bool {
        self.dev
            .as_deref()
            .is_some_and(|v| !matches!(v.trim(), "" | "0" | "false"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontSettings {
    /// Core API token. When unset in `--demo`, the built-in Front sandbox is used.
    pub api_token: Option<Secret>,
    /// Application-webhook signing secrets; any of them verifies (rotation).
    pub signing_secrets: Vec<Secret>,
    pub api_url: String,
    /// The sidebar plugin's `auth_secret`s (the value set in Front's plugin settings); any of
    /// them admits (rotation). Empty: the plugin answers 401 to everyone.
    pub plugin_auth_secrets: Vec<Secret>,
    /// Who may frame the plugin: the CSP `frame-ancestors` sources.
    pub plugin_frame_ancestors: String,
}

/// Front's own origins, the default `front.plugin_frame_ancestors`.
pub const FRONT_FRAME_ANCESTORS: &str = "https://*.frontapp.com https://*.frontapplication.com";

impl Default for FrontSettings {
    fn default() -> Self {
        Self {
            api_token: None,
            signing_secrets: Vec::new(),
            api_url: "https://api2.frontapp.com".into(),
            plugin_auth_secrets: Vec::new(),
            plugin_frame_ancestors: FRONT_FRAME_ANCESTORS.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSettings {
    pub bot_token: Option<Secret>,
    /// Signing secrets; any of them verifies (rotation).
    pub signing_secrets: Vec<Secret>,
    pub api_url: String,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            bot_token: None,
            signing_secrets: Vec::new(),
            api_url: "https://slack.com/api/".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeSettings {
    pub secret_key: Option<Secret>,
    pub webhook_secrets: Vec<Secret>,
    pub connect_client_id: Option<String>,
    pub api_url: String,
    /// Stripe Connect's OAuth base (`{connect_url}/oauth/authorize`, `POST {connect_url}/oauth/token`).
    pub connect_url: String,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            secret_key: None,
            webhook_secrets: Vec::new(),
            connect_client_id: None,
            api_url: "https://api.stripe.com/".into(),
            connect_url: "https://connect.stripe.com".into(),
        }
    }
}

/// The wire protocol a model provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmKind {
    /// OpenAI-compatible chat completions (OpenAI, Azure-style, Ollama, llama.cpp, vLLM,
    /// OpenRouter).
    #[default]
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// One configured model provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmProviderSettings {
    pub kind: LlmKind,
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`, `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Per attempt.
    pub timeout_secs: u64,
    /// Retries on 429 and 5xx (with backoff, honouring `Retry-After`).
    pub max_retries: u32,
}

impl Default for LlmProviderSettings {
    fn default() -> Self {
        Self {
            kind: LlmKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_key: None,
            timeout_secs: 60,
            max_retries: 3,
        }
    }
}

/// A provider and a model: defined beside the model port ([`crate::llm`]), re-exported here
/// for settings' users.
pub use crate::llm::ModelChoice;

/// Model settings. A step with no [`ModelChoice`] (here or in the app's policy) uses the
/// offline implementation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    pub providers: std::collections::BTreeMap<String, LlmProviderSettings>,
    /// The classifier step's model, for every app without its own.
    pub classifier: Option<ModelChoice>,
    /// The agent step's model, for every app without its own.
    pub agent: Option<ModelChoice>,
    /// US dollars per million tokens by model name (longest prefix wins).
    pub prices: crate::llm::PriceTable,
}

/// HTTP server limits: how long a client may take, and how many connections it may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// A request's line and headers must arrive within this many seconds of the connection
    /// (or of the previous response) or the connection is closed.
    pub header_read_timeout_secs: u64,
    /// The body must keep arriving: at most this many seconds between two of its chunks.
    pub body_timeout_secs: u64,
    /// A whole request (reading the body, the handler) must finish within this many seconds:
    /// answered `408 request_timeout` otherwise.
    pub request_timeout_secs: u64,
    /// The same for the runner's routes (`/api/inngest` runs steps inline, `/fn/register`,
    /// `/e/{key}`), which need longer.
    pub long_request_timeout_secs: u64,
    /// A connection with no request in flight and no bytes in either direction for this many
    /// seconds is closed (keep-alive idle, a client that stops reading a response).
    pub idle_timeout_secs: u64,
    /// At most this many connections at once; further ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            body_timeout_secs: 30,
            request_timeout_secs: 60,
            long_request_timeout_secs: 300,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}

/// One route class's quota per source: `per_minute` sustained, up to `burst` at once.
/// `per_minute = 0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteQuota {
    pub per_minute: u32,
    pub burst: u32,
}

impl RouteQuota {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

/// Rate limits per source on every public route, answered `429 rate_limited` with
/// `Retry-After`. A source is the client IP, or the bearer token on `/api/v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// The off-switch (tests). Refusals are still counted and sampled into the audit log.
    pub enabled: bool,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind one trusted proxy).
    pub trust_forwarded_for: bool,
    /// Sources tracked per route class: sources are hashed (with a per-process random seed)
    /// into this many buckets, so no sender can grow the limiter's state beyond it.
    pub max_sources: usize,
    /// At most this many refusals (rate-limited requests, bad signatures) per minute per
    /// route class and kind are written to the audit log; every one is counted in metrics.
    pub audit_samples_per_minute: u32,
    /// `POST /webhooks/front`.
    pub front: RouteQuota,
    /// `POST /webhooks/stripe`.
    pub stripe: RouteQuota,
    /// `/slack/*`.
    pub slack: RouteQuota,
    /// OAuth callbacks (`/stripe/oauth/callback`).
    pub oauth: RouteQuota,
    /// The event API, `POST /e/{key}`.
    pub events: RouteQuota,
    /// `POST /fn/register`.
    pub fn_register: RouteQuota,
    /// `/api/inngest`.
    pub inngest: RouteQuota,
    /// `/api/v1/*`, per bearer token.
    pub api: RouteQuota,
    /// The dashboard's sign-in form (`/login`), per client IP: password guessing.
    pub login: RouteQuota,
    /// The stand-ins for Front and the product that `--demo` serves itself (`/sandbox/…`,
    /// `/demo-app/…`), called by the platform: unlimited by default.
    pub demo: RouteQuota,
    /// Every other route, per client IP.
    pub other: RouteQuota,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            trust_forwarded_for: false,
            max_sources: 65_536,
            audit_samples_per_minute: 10,
            front: RouteQuota::new(1200, 300),
            stripe: RouteQuota::new(1200, 300),
            slack: RouteQuota::new(600, 120),
            oauth: RouteQuota::new(30, 10),
            events: RouteQuota::new(1200, 300),
            fn_register: RouteQuota::new(30, 10),
            inngest: RouteQuota::new(1200, 300),
            api: RouteQuota::new(1200, 300),
            login: RouteQuota::new(20, 10),
            demo: RouteQuota::new(0, 0),
            other: RouteQuota::new(1200, 300),
        }
    }
}

/// Retention: how long message bodies and decided approvals' payloads are kept before the
/// `support-retention` cron function purges them (the rows stay). Apps override the days in
/// their policy (`retention.message_body_days`, `retention.approval_payload_days`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Message bodies (plain and raw) are purged this many days after the message was sent.
    pub message_body_days: i64,
    /// A decided approval's payload (draft, capability, the action's params, reasoning and
    /// result) is purged this many days after the decision. Pending approvals never are.
    pub approval_payload_days: i64,
    /// When the purge runs: five-field cron, UTC.
    pub schedule: String,
    /// Rows per batch (one statement and one durable step each).
    pub batch_size: i64,
    /// Full batches per run, over every app; what is left is picked up by a follow-up run.
    pub max_batches_per_run: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            message_body_days: 30,
            approval_payload_days: 90,
            schedule: "17 3 * * *".into(),
            batch_size: 500,
            max_batches_per_run: 40,
        }
    }
}

/// Dashboard single sign-on through an OpenID Connect provider (authorization code + PKCE,
/// discovery, JWKS). Off unless `issuer_url` and `client_id` are set. Who may sign in, and with
/// which role, comes from `role_claim` (mapped through `role_values`) and/or the `allow` list;
/// anyone else is refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer, e.g. `https://accounts.example.com` (discovery reads
    /// `{issuer_url}/.well-known/openid-configuration`).
    pub issuer_url: Option<String>,
    pub client_id: Option<String>,
    /// Sent to the token endpoint (HTTP Basic); a secret.
    pub client_secret: Option<Secret>,
    /// Where the provider sends the browser back; defaults to
    /// `{public_url}/auth/oidc/callback`.
    pub redirect_url: Option<String>,
    /// The sign-in button's label (default "Single sign-on").
    pub display_name: Option<String>,
    /// A claim of the ID token naming the user's role or groups (a dotted path such as
    /// `realm_access.roles` reaches into objects; a string or a list of strings).
    pub role_claim: Option<String>,
    /// Claim value → role (`"support-admins" = "admin"`). Empty: the values are role names.
    pub role_values: std::collections::BTreeMap<String, crate::auth::Role>,
    /// Email → role, or `@domain` → role, for who may sign in without a role claim. The
    /// highest role from the claim and this list wins.
    pub allow: std::collections::BTreeMap<String, crate::auth::Role>,
}

impl OidcSettings {
    /// Whether single sign-on is configured.
    pub fn enabled(&self) -> bool {
        self.issuer_url.as_deref().is_some_and(|u| !u.is_empty())
            && self.client_id.as_deref().is_some_and(|c| !c.is_empty())
    }
}

/// Every setting of the platform. Build with [`Settings::load`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds.
    pub bind: SocketAddr,
    /// Where the embedded database, demo files and generated keys live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Defaults to SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// The URL users and webhooks reach this server at; defaults to `http://{bind}`.
    pub public_url: Option<String>,
    /// Base64 of 32 random bytes; encrypts secrets at rest and signs action capabilities.
    pub master_key: Option<Secret>,
    /// Redis, for the cache and rate limits when several instances share the work.
    pub redis_url: Option<Secret>,
    pub runner: RunnerKind,
    /// Seconds to drain in-flight work on SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
    /// How long a worker's claim on a run lasts without a heartbeat; after a crash, another
    /// worker (or the restarted one) resumes the run once it lapses.
    pub runner_lease_secs: u64,
    /// Run the durable-function worker in this instance (default). `false` makes a web-only
    /// instance: it records webhooks and events and leaves every run to the workers of the
    /// fleet (`SUPPORT_WORKER=false`).
    pub worker: bool,
    pub log: LogSettings,
    pub otel: OtelSettings,
    pub inngest: InngestSettings,
    pub front: FrontSettings,
    pub slack: SlackSettings,
    pub stripe: StripeSettings,
    /// Model providers for the classifier and the agent; empty = the offline agent.
    pub llm: LlmSettings,
    /// How long message bodies and approval payloads are kept (see `retention`).
    pub retention: RetentionSettings,
    /// Server timeouts and the connection cap.
    pub http: HttpSettings,
    /// Rate limits per source and the audit sampling of refusals.
    pub rate_limit: RateLimitSettings,
    /// Dashboard single sign-on (OpenID Connect).
    pub oidc: OidcSettings,
    /// Knowledge retrieval: backend, embedder, Upstash Vector (`crate::embed`).
    pub kb: crate::embed::KbSettings,
    /// The learning loop: the not-sent window and the weight of bad outcomes (`crate::trust`).
    pub trust: crate::trust::TrustSettings,
    /// The settings file's kill switches of automatic sending (`crate::autosend`).
    pub autosend: crate::autosend::AutoSendSettings,
    /// The dashboard's hydrate bundle (`dashboard.pkg_dir`).
    pub dashboard: DashboardSettings,
}

/// The dashboard's browser side (docs/dashboard.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// Where `cargo xtask build-hydrate` wrote the hydrate bundle, served under `/pkg/` (default
    /// `target/site/pkg` from the working directory; `SUPPORT_DASHBOARD__PKG_DIR`). Pages
    /// include the hydration script only while its files are there.
    pub pkg_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 4100)),
            data_dir: PathBuf::from(".support"),
            database_url: None,
            public_url: None,
            master_key: None,
            redis_url: None,
            runner: RunnerKind::Embedded,
            shutdown_grace_secs: 20,
            runner_lease_secs: 30,
            worker: true,
            log: LogSettings::default(),
            otel: OtelSettings::default(),
            inngest: InngestSettings::default(),
            front: FrontSettings::default(),
            slack: SlackSettings::default(),
            stripe: StripeSettings::default(),
            llm: LlmSettings::default(),
            retention: RetentionSettings::default(),
            http: HttpSettings::default(),
            rate_limit: RateLimitSettings::default(),
            oidc: OidcSettings::default(),
            kb: crate::embed::KbSettings::default(),
            trust: crate::trust::TrustSettings::default(),
            autosend: crate::autosend::AutoSendSettings::default(),
            dashboard: DashboardSettings::default(),
        }
    }
}

/// A setting that is missing or invalid, with the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{key}` (from {origin}): {message}")]
pub struct SettingsError {
    pub key: String,
    pub origin: String,
    pub message: String,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "public_url",
    "master_key",
    "redis_url",
    "runner",
    "shutdown_grace_secs",
    "runner_lease_secs",
    "worker",
    "log",
    "otel",
    "inngest",
    "front",
    "slack",
    "stripe",
    "llm",
    "retention",
    "http",
    "rate_limit",
    "oidc",
    "trust",
    "dashboard",
];

const INNGEST_VARS: &[&str] = &[
    "INNGEST_SIGNING_KEY",
    "INNGEST_SIGNING_KEY_FALLBACK",
    "INNGEST_EVENT_KEY",
    "INNGEST_BASE_URL",
    "INNGEST_DEV",
];

impl Settings {
    /// The layered figment: defaults → `config_file` (if it exists) → `SUPPORT_*` → `INNGEST_*`.
    pub fn figment(config_file: Option<&Path>) -> Figment {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("support.toml"));
        if file.exists() {
            fig = fig.merge(Toml::file_exact(file));
        }
        fig.merge(Env::prefixed("SUPPORT_").split("__").filter(|k| {
            let key = k.as_str();
            let top = key.split('.').next().unwrap_or_default();
            let top = top.split("__").next().unwrap_or_default();
            TOP_LEVEL_KEYS.iter().any(|t| top.eq_ignore_ascii_case(t))
        }))
        .merge(Env::raw().only(INNGEST_VARS).map(|k| {
            let name = k.as_str().to_ascii_lowercase();
            let field = name.trim_start_matches("inngest_");
            format!("inngest.{field}").into()
        }))
    }

    /// Load settings from the process environment and `support.toml` (or `SUPPORT_CONFIG`).
    pub fn load() -> Result<Self, SettingsError> {
        let file = std::env::var_os("SUPPORT_CONFIG").map(PathBuf::from);
        Self::from_figment(Self::figment(file.as_deref()))
    }

    /// Extract and validate settings from a figment.
    pub fn from_figment(fig: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = fig.extract().map_err(|e| {
            let e = e
                .into_iter()
                .next()
                .unwrap_or_else(|| figment::Error::from("unknown error".to_string()));
            let key = if e.path.is_empty() {
                "(root)".to_string()
            } else {
                e.path.join(".")
            };
            let origin = match &e.metadata {
                Some(md) if md.name.contains("environment") && !e.path.is_empty() => {
                    let var = if e.path.first().is_some_and(|p| p == "inngest")
                        && !md.name.contains("SUPPORT_")
                    {
                        format!("INNGEST_{}", e.path[1..].join("_"))
                    } else {
                        format!("SUPPORT_{}", e.path.join("__"))
                    };
                    format!("environment variable `{}`", var.to_ascii_uppercase())
                }
                Some(md) => match &md.source {
                    Some(src) => format!("{} {src}", md.name),
                    None => md.name.to_string(),
                },
                None => "defaults".to_string(),
            };
            SettingsError {
                key,
                origin,
                message: e.kind.to_string(),
            }
        })?;
        settings.validate(&fig)?;
        Ok(settings)
    }

    fn validate(&self, fig: &Figment) -> Result<(), SettingsError> {
        let origin_of = |key: &str| -> String {
            fig.find_metadata(key)
                .map(|md| md.name.to_string())
                .unwrap_or_else(|| "defaults".into())
        };
        if let Some(key) = &self.master_key {
            crate::crypto::MasterKey::from_base64(key.expose()).map_err(|e| SettingsError {
                key: "master_key".into(),
                origin: origin_of("master_key"),
                message: e.to_string(),
            })?;
        }
        if let Some(url) = &self.database_url {
            let u = url.expose();
            if !(u.starts_with("sqlite:")
                || u.starts_with("postgres://")
                || u.starts_with("postgresql://"))
            {
                return Err(SettingsError {
                    key: "database_url".into(),
                    origin: origin_of("database_url"),
                    message: "expected a sqlite: or postgres:// URL".into(),
                });
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(SettingsError {
                key: "public_url".into(),
                origin: origin_of("public_url"),
                message: "expected an http:// or https:// URL".into(),
            });
        }
        self.validate_retention(&origin_of)?;
        for (key, url) in [
            ("oidc.issuer_url", &self.oidc.issuer_url),
            ("oidc.redirect_url", &self.oidc.redirect_url),
        ] {
            if let Some(u) = url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err(SettingsError {
                    key: key.into(),
                    origin: origin_of(key),
                    message: "expected an http:// or https:// URL".into(),
                });
            }
        }
        if let Some(ep) = &self.otel.endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(SettingsError {
                key: "otel.endpoint".into(),
                origin: origin_of("otel.endpoint"),
                message: "expected an http:// or https:// URL (OTLP/HTTP)".into(),
            });
        }
        Ok(())
    }

    fn validate_retention(&self, origin_of: &dyn Fn(&str) -> String) -> Result<(), SettingsError> {
        let r = &self.retention;
        let err = |key: &str, message: String| SettingsError {
            key: format!("retention.{key}"),
            origin: origin_of(&format!("retention.{key}")),
            message,
        };
        for (key, v) in [
            ("message_body_days", r.message_body_days),
            ("approval_payload_days", r.approval_payload_days),
            ("batch_size", r.batch_size),
            ("max_batches_per_run", r.max_batches_per_run),
        ] {
            if v < 1 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        check_cron(&r.schedule).map_err(|e| err("schedule", e))?;
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in `data_dir`.
    pub fn effective_database_url(&self) -> Secret {
        match &self.database_url {
            Some(u) => u.clone(),
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("support.db").display()
            )),
        }
    }

    /// The URL the platform is reached at, without a trailing slash.
    pub fn effective_public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The effective settings as JSON with every secret redacted, plus the database backend.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            let url = self.effective_database_url();
            let backend = if url.expose().starts_with("sqlite:") {
                "sqlite"
            } else {
                "postgres"
            };
            obj.insert("database_backend".into(), backend.into());
            obj.insert(
                "effective_public_url".into(),
                self.effective_public_url().into(),
            );
        }
        v
    }
}

/// Checks a five-field cron expression as the runner parses it (`croner`, no seconds, no
/// year), with the runner's messages.
fn check_cron(expr: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    if expr.split_whitespace().count() != 5 {
        return Err(format!(
            "cron {expr:?}: expected 5 fields (minute hour day month weekday)"
        ));
    }
    // The runner's syntax (support_steps::cron::CronSpec::parse): numbers, `*`, `,`, `-`, `/`.
    for part in expr.split_whitespace().flat_map(|f| f.split(',')) {
        let plain = part
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '-' | '/'));
        if part.is_empty() || part.starts_with('/') || !plain {
            return Err(format!("cron {expr:?}: bad value {part:?}"));
        }
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .sloppy_ranges(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| format!("cron {expr:?}: {e}"))
}

#[cfg(test)]
mod tests;
