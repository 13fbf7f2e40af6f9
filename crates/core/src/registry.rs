//! The app registry: onboarded products, their Front inboxes, policy, capabilities (what
//! `skill doctor` found their SDK endpoint to support) and their SDK secrets, sealed at rest.
//!
//! SDK secrets rotate without downtime: [`Registry::rotate_secret`] adds a new secret next to
//! the live ones (the platform signs with the newest, an app accepts any live one), and
//! [`Registry::retire_old_secrets`] drops all but the newest once the app has deployed it.
//!
//! Every change is one row update in one transaction (`Store::insert_app` / `update_app`), and
//! validation happens before anything is written, so a failure never leaves a half-written app.

use crate::cache::{Cache, MemoryCache};
use crate::crypto::{CryptoError, MasterKey};
use crate::ids::{AppSlug, new_id};
use crate::store::{AppRow, AppStatus, Store, StoreError};
use crate::time::{Millis, now_ms};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Per-app approval and automation policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppPolicy {
    /// Refunds inside this many days run without approval.
    pub refund_auto_days: i64,
    /// Refunds up to this many days need approval; older ones are escalated.
    pub refund_approval_days: i64,
    /// Transfers inside this many days run without approval.
    pub transfer_auto_days: i64,
    /// Amounts above this (in cents) need two different approvers.
    pub two_approver_above_cents: Option<i64>,
    /// Categories whose drafts are never sent automatically.
    pub never_auto_send: Vec<String>,
    /// Where approvals go, e.g. a Slack channel id.
    pub approval_channel: Option<String>,
    /// Who may approve: users, named by id, email or linked Slack user id (`U…` or `slack:U…`),
    /// or `cli:<os user>` for the command line without `--as`. Token names match nothing.
    /// Empty: any active admin or agent.
    pub approvers: Vec<String>,
    pub approval_ttl_hours: i64,
    /// When set, the approval lifetime in seconds (overrides `approval_ttl_hours`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_ttl_secs: Option<i64>,
    /// Models for this app's steps, overriding `settings.llm` per step. Empty: the global
    /// choice, or the offline implementation.
    #[serde(skip_serializing_if = "AppLlm::is_empty")]
    pub llm: AppLlm,
    /// How long this app's message bodies and decided approvals' payloads are kept, overriding
    /// `settings.retention` (see `crate::retention`). Empty: the global defaults.
    #[serde(skip_serializing_if = "AppRetention::is_empty")]
    pub retention: AppRetention,
    /// Categories whose replies may be sent automatically (opt-in; `crate::autosend`): the
    /// gate must still hold at the moment of sending. Never `unknown` or a never-list category.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auto_send: Vec<String>,
}

/// Per-app retention overrides, in days (at least 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppRetention {
    pub message_body_days: Option<i64>,
    pub approval_payload_days: Option<i64>,
}

impl AppRetention {
    pub fn is_empty(&self) -> bool {
        self.message_body_days.is_none() && self.approval_payload_days.is_none()
    }
}

/// Per-app model choices (a provider named in `settings.llm.providers`, and a model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppLlm {
    pub classifier: Option<crate::settings::ModelChoice>,
    pub agent: Option<crate::settings::ModelChoice>,
}

impl AppLlm {
    pub fn is_empty(&self) -> bool {
        self.classifier.is_none() && self.agent.is_none()
    }
}

impl Default for AppPolicy {
    fn default() -> Self {
        Self {
            refund_auto_days: 30,
            refund_approval_days: 45,
            transfer_auto_days: 14,
            two_approver_above_cents: None,
            never_auto_send: vec!["refund".into(), "account_update".into()],
            approval_channel: None,
            approvers: Vec::new(),
            approval_ttl_hours: 24,
            approval_ttl_secs: None,
            llm: AppLlm::default(),
            retention: AppRetention::default(),
            auto_send: Vec::new(),
        }
    }
}

impl AppPolicy {
    /// How long an approval stays open, in milliseconds.
    pub fn approval_ttl_ms(&self) -> i64 {
        match self.approval_ttl_secs {
            Some(secs) => secs.max(1) * 1000,
            None => self.approval_ttl_hours.max(1) * 3_600_000,
        }
    }
}

/// One SDK signing secret of an app. Several may be live during a rotation.
#[derive(Clone, Serialize, Deserialize)]
pub struct SdkSecret {
    pub id: String,
    pub secret: String,
    pub created_at: i64,
}

impl std::fmt::Debug for SdkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SdkSecret({}, [redacted])", self.id)
    }
}

impl SdkSecret {
    /// A fresh secret: 32 random bytes, hex-encoded.
    pub fn generate() -> Self {
        Self {
            id: new_id("sks"),
            secret: crate::crypto::random_hex(32),
            created_at: now_ms(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("app secrets cannot be opened: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored app data is invalid: {0}")]
    Corrupt(String),
    #[error("no app {0:?} is registered (see `skill apps list`)")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

/// What `skill doctor` found one SDK method to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodStatus {
    /// 2xx with a body of the expected shape.
    Implemented,
    /// 501: an optional method the app does not offer.
    NotImplemented,
    /// Any other failure (non-2xx, transport error, timeout).
    Error,
    /// 2xx whose body is not the expected JSON.
    WrongShape,
}

impl MethodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodStatus::Implemented => "implemented",
            MethodStatus::NotImplemented => "not_implemented",
            MethodStatus::Error => "error",
            MethodStatus::WrongShape => "wrong_shape",
        }
    }
}

/// One row of the conformance table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodCheck {
    pub status: MethodStatus,
    pub required: bool,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What an app's SDK endpoint supports, as `skill doctor` last found it. Stored in
/// `AppRow::capabilities`; `{}` means never checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub checked_at: Millis,
    pub endpoint: String,
    /// By wire name (`lookupUser`, …).
    pub methods: BTreeMap<String, MethodCheck>,
}

impl Capabilities {
    /// Whether `method` (wire name) answered with the right shape.
    pub fn supports(&self, method: &str) -> bool {
        self.methods
            .get(method)
            .is_some_and(|m| m.status == MethodStatus::Implemented)
    }

    /// Every required method is implemented and no method errs or has the wrong shape.
    pub fn conformant(&self) -> bool {
        self.methods.values().all(|m| match m.status {
            MethodStatus::Implemented => true,
            MethodStatus::NotImplemented => !m.required,
            MethodStatus::Error | MethodStatus::WrongShape => false,
        })
    }

    /// Parses `AppRow::capabilities`; `None` when never checked.
    pub fn from_row(app: &AppRow) -> Option<Self> {
        serde_json::from_value(app.capabilities.clone()).ok()
    }
}

/// A new app for [`Registry::register`].
#[derive(Debug, Clone)]
pub struct NewApp {
    pub slug: AppSlug,
    pub name: String,
    pub front_inbox_ids: Vec<String>,
    pub sdk_base_url: String,
    pub policy: AppPolicy,
}

/// Changes for [`Registry::update`]; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub front_inbox_ids: Option<Vec<String>>,
    pub sdk_base_url: Option<String>,
    pub policy: Option<AppPolicy>,
    /// `connected` or `disconnected`.
    pub status: Option<String>,
}

/// The result of [`Registry::rotate_secret`] or [`Registry::retire_old_secrets`].
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The secret added (shown once), if any.
    pub added: Option<SdkSecret>,
    /// Ids of the secrets removed.
    pub retired: Vec<String>,
    /// Ids of the secrets live now, oldest first.
    pub live: Vec<String>,
}

/// A Front inbox id as the Core API writes it: `inb_` and letters, digits or `_`.
pub fn validate_inbox_id(id: &str) -> Result<(), RegistryError> {
    let ok = id.strip_prefix("inb_").is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) && id.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "invalid Front inbox id {id:?}: expected `inb_` followed by letters or digits (Front > Settings > Inboxes, or GET /inboxes)"
        )))
    }
}

/// An SDK endpoint URL: `http(s)://host[:port]/path`, no credentials, no fragment.
pub fn validate_endpoint_url(url: &str) -> Result<(), RegistryError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?']).next().unwrap_or_default());
    let ok = match host {
        Some(host) => {
            !host.is_empty()
                && !host.contains('@')
                && !url.contains('#')
                && !url.chars().any(char::is_whitespace)
                && host.split(':').next().is_some_and(|h| !h.is_empty())
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "invalid SDK endpoint URL {url:?}: expected http(s)://host/path of the app's support handler"
        )))
    }
}

fn validate_name(name: &str) -> Result<(), RegistryError> {
    let n = name.trim().chars().count();
    if (1..=80).contains(&n) {
        Ok(())
    } else {
        Err(RegistryError::Invalid(
            "app name must be 1-80 characters".into(),
        ))
    }
}

/// Checks a policy's numbers make sense together.
pub fn validate_policy(p: &AppPolicy) -> Result<(), RegistryError> {
    if p.refund_auto_days < 0 || p.refund_approval_days < p.refund_auto_days {
        return Err(RegistryError::Invalid(format!(
            "refund windows must satisfy 0 <= refund_auto_days ({}) <= refund_approval_days ({})",
            p.refund_auto_days, p.refund_approval_days
        )));
    }
    if p.approval_ttl_secs.is_some_and(|s| s <= 0) {
        return Err(RegistryError::Invalid(
            "approval_ttl_secs must be > 0 when set".into(),
        ));
    }
    if p.transfer_auto_days < 0 || p.approval_ttl_hours <= 0 {
        return Err(RegistryError::Invalid(
            "transfer_auto_days must be >= 0 and approval_ttl_hours > 0".into(),
        ));
    }
    let r = &p.retention;
    if r.message_body_days.is_some_and(|d| d < 1) || r.approval_payload_days.is_some_and(|d| d < 1)
    {
        return Err(RegistryError::Invalid(
            "retention.message_body_days and retention.approval_payload_days must be >= 1 when set"
                .into(),
        ));
    }
    for c in &p.auto_send {
        if !crate::pipeline::classify::Category::ALL
            .iter()
            .any(|k| k.as_str() == c)
        {
            return Err(RegistryError::Invalid(format!(
                "auto_send: {c:?} is not a category"
            )));
        }
        if let Some(n) = crate::autosend::never_listed(c, &p.never_auto_send, false) {
            return Err(RegistryError::Invalid(format!(
                "auto_send: {n} is on the never list and is never sent automatically"
            )));
        }
    }
    Ok(())
}

fn validate_inboxes(ids: &[String]) -> Result<(), RegistryError> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        validate_inbox_id(id)?;
        if !seen.insert(id) {
            return Err(RegistryError::Invalid(format!(
                "Front inbox {id} is listed twice"
            )));
        }
    }
    Ok(())
}

/// The app's policy, or the default when the stored JSON is empty.
pub fn policy_of(app: &AppRow) -> Result<AppPolicy, RegistryError> {
    if app.policy.is_null() || app.policy == serde_json::json!({}) {
        return Ok(AppPolicy::default());
    }
    serde_json::from_value(app.policy.clone())
        .map_err(|e| RegistryError::Corrupt(format!("policy of {}: {e}", app.slug)))
}

fn aad(slug: &str) -> Vec<u8> {
    format!("app:{slug}:sdk_secrets").into_bytes()
}

/// Seal an app's SDK secrets for storage.
pub fn seal_secrets(key: &MasterKey, slug: &str, secrets: &[SdkSecret]) -> String {
    let json = serde_json::to_vec(secrets).unwrap_or_default();
    key.encrypt(&json, &aad(slug))
}

/// Open an app's SDK secrets.
pub fn open_secrets(
    key: &MasterKey,
    slug: &str,
    sealed: &str,
) -> Result<Vec<SdkSecret>, RegistryError> {
    let bytes = key.decrypt(sealed, &aad(slug))?;
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

const CACHE_TTL: Duration = Duration::from_secs(300);
/// The shared key whose value changes whenever any instance changes an app.
const GENERATION_KEY: &str = "support:registry:generation";
const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// This process's copy of app rows, valid for one registry generation.
#[derive(Default)]
struct Local {
    /// The shared generation these entries were read under (`None`: never set, or expired).
    generation: Option<String>,
    entries: HashMap<String, (Instant, Option<AppRow>)>,
}

/// Cached registry lookups. Each process keeps its own copy of the rows it read (at most 5
/// minutes), tagged with the shared *generation* in the [`Cache`]: every change, by any instance
/// or by `skill`, writes a new generation, and a lookup that sees another generation than its
/// copy drops the copy. With Redis as the cache, a changed policy (its approvers, say) or a
/// disconnected app is seen by every instance at its next lookup. A cache that fails is read
/// around: lookups go to the store.
pub struct Registry {
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    local: Mutex<Local>,
}

impl Registry {
    /// A registry for one process (an in-memory generation).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_cache(store, Arc::new(MemoryCache::new()))
    }

    /// A registry whose generation lives in `cache` (Redis, shared by every instance).
    pub fn with_cache(store: Arc<dyn Store>, cache: Arc<dyn Cache>) -> Self {
        Self {
            store,
            cache,
            local: Mutex::new(Local::default()),
        }
    }

    /// Bring the local copy up to the shared generation. `None` when the cache cannot be read
    /// (the caller reads the store); otherwise the generation to tag new entries with.
    async fn sync(&self) -> Option<Option<String>> {
        let seen = match self.cache.get(GENERATION_KEY).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(cause = %e, "registry cache unavailable; reading the store");
                return None;
            }
        };
        let mut local = self.local.lock().ok()?;
        if local.generation != seen {
            local.entries.clear();
            local.generation = seen.clone();
        }
        Some(seen)
    }

    fn cached(&self, key: &str) -> Option<Option<AppRow>> {
        let local = self.local.lock().ok()?;
        local
            .entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, v)| v.clone())
    }

    /// Keep `v`, read under `generation`, unless the generation moved on meanwhile.
    fn remember(&self, key: String, v: Option<AppRow>, generation: &Option<String>) {
        if let Ok(mut local) = self.local.lock()
            && &local.generation == generation
        {
            local.entries.insert(key, (Instant::now(), v));
        }
    }

    /// The store behind the registry.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The cache the registry shares its generation through (Redis across instances, memory
    /// in one), for other short-lived copies (the Front plugin's customer cards).
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.cache
    }

    /// Drop this process's copy and start a new shared generation, so every instance drops
    /// its copy too. Called after every change.
    pub async fn invalidate(&self) {
        if let Ok(mut local) = self.local.lock() {
            local.entries.clear();
        }
        if let Err(e) = self
            .cache
            .set(GENERATION_KEY, &new_id("gen"), GENERATION_TTL)
            .await
        {
            tracing::error!(cause = %e, "cannot publish the registry change; other instances see it within 5 minutes");
        }
    }

    async fn lookup<F, Fut>(&self, key: String, read: F) -> Result<Option<AppRow>, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<AppRow>, StoreError>>,
    {
        let Some(generation) = self.sync().await else {
            return Ok(read().await?);
        };
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let v = read().await?;
        self.remember(key, v.clone(), &generation);
        Ok(v)
    }

    pub async fn by_slug(&self, slug: &str) -> Result<Option<AppRow>, RegistryError> {
        self.lookup(format!("slug:{slug}"), || self.store.get_app(slug))
            .await
    }

    pub async fn by_inbox(&self, inbox_id: &str) -> Result<Option<AppRow>, RegistryError> {
        self.lookup(format!("inbox:{inbox_id}"), || {
            self.store.find_app_by_inbox(inbox_id)
        })
        .await
    }

    pub async fn insert(&self, app: &AppRow) -> Result<(), RegistryError> {
        self.store.insert_app(app).await?;
        self.invalidate().await;
        Ok(())
    }

    pub async fn update(&self, app: &AppRow) -> Result<(), RegistryError> {
        self.store.update_app(app).await?;
        self.invalidate().await;
        Ok(())
    }

    pub async fn remove(&self, slug: &str) -> Result<bool, RegistryError> {
        let removed = self.store.delete_app(slug).await?;
        self.invalidate().await;
        Ok(removed)
    }

    /// An app by slug, or [`RegistryError::NotFound`]. Reads through (no cache): for commands
    /// that change the app right after.
    pub async fn require(&self, slug: &str) -> Result<AppRow, RegistryError> {
        self.store
            .get_app(slug)
            .await?
            .ok_or_else(|| RegistryError::NotFound(slug.to_owned()))
    }

    /// Every app, by slug.
    pub async fn list(&self) -> Result<Vec<AppRow>, RegistryError> {
        Ok(self.store.list_apps().await?)
    }

    /// Validates and registers a new app with one fresh SDK secret, which is returned (show it
    /// once). Fails without writing anything on invalid input, a taken slug or a Front inbox
    /// that belongs to another app.
    pub async fn register(
        &self,
        key: &MasterKey,
        new: NewApp,
    ) -> Result<(AppRow, SdkSecret), RegistryError> {
        validate_name(&new.name)?;
        validate_inboxes(&new.front_inbox_ids)?;
        validate_endpoint_url(&new.sdk_base_url)?;
        validate_policy(&new.policy)?;
        let secret = SdkSecret::generate();
        let now = now_ms();
        let slug = new.slug.as_str().to_owned();
        let row = AppRow {
            id: new_id("app"),
            secrets_enc: seal_secrets(key, &slug, std::slice::from_ref(&secret)),
            slug,
            name: new.name.trim().to_owned(),
            front_inbox_ids: new.front_inbox_ids,
            sdk_base_url: new.sdk_base_url,
            stripe_account: None,
            policy: serde_json::to_value(&new.policy)
                .map_err(|e| RegistryError::Corrupt(e.to_string()))?,
            capabilities: serde_json::json!({}),
            status: AppStatus::Connected,
            created_at: now,
            updated_at: now,
        };
        self.insert(&row).await?;
        Ok((row, secret))
    }

    /// Applies `patch` after validating it; nothing is written when it is invalid.
    pub async fn update_app(&self, slug: &str, patch: AppPatch) -> Result<AppRow, RegistryError> {
        let mut app = self.require(slug).await?;
        if let Some(name) = patch.name {
            validate_name(&name)?;
            app.name = name.trim().to_owned();
        }
        if let Some(ids) = patch.front_inbox_ids {
            validate_inboxes(&ids)?;
            app.front_inbox_ids = ids;
        }
        if let Some(url) = patch.sdk_base_url {
            validate_endpoint_url(&url)?;
            if url != app.sdk_base_url {
                // What the old endpoint supported says nothing about the new one.
                app.capabilities = serde_json::json!({});
            }
            app.sdk_base_url = url;
        }
        if let Some(policy) = patch.policy {
            validate_policy(&policy)?;
            app.policy =
                serde_json::to_value(&policy).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        }
        if let Some(status) = patch.status {
            app.status = AppStatus::parse(&status).map_err(|_| {
                RegistryError::Invalid(format!(
                    "invalid status {status:?}: expected connected or disconnected"
                ))
            })?;
        }
        app.updated_at = now_ms();
        self.update(&app).await?;
        Ok(app)
    }

    /// Records what `skill doctor` found.
    pub async fn set_capabilities(
        &self,
        slug: &str,
        capabilities: &Capabilities,
    ) -> Result<AppRow, RegistryError> {
        let mut app = self.require(slug).await?;
        app.capabilities = serde_json::to_value(capabilities)
            .map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        app.updated_at = now_ms();
        self.update(&app).await?;
        Ok(app)
    }

    /// The live SDK secrets of `app`, oldest first.
    pub fn secrets_of(key: &MasterKey, app: &AppRow) -> Result<Vec<SdkSecret>, RegistryError> {
        let mut secrets = open_secrets(key, &app.slug, &app.secrets_enc)?;
        secrets.sort_by_key(|s| s.created_at);
        Ok(secrets)
    }

    /// The secret the platform signs requests to `slug` with: the newest live one.
    pub async fn signing_secret(
        &self,
        key: &MasterKey,
        slug: &str,
    ) -> Result<SdkSecret, RegistryError> {
        let app = self
            .by_slug(slug)
            .await?
            .ok_or_else(|| RegistryError::NotFound(slug.to_owned()))?;
        Self::secrets_of(key, &app)?
            .pop()
            .ok_or_else(|| RegistryError::Corrupt(format!("app {slug} has no SDK secret")))
    }

    /// Adds a fresh secret next to the live ones (returned in `added`; show it once).
    pub async fn rotate_secret(
        &self,
        key: &MasterKey,
        slug: &str,
    ) -> Result<Rotation, RegistryError> {
        let mut app = self.require(slug).await?;
        let mut secrets = Self::secrets_of(key, &app)?;
        let mut added = SdkSecret::generate();
        // Keep the order strict even within one millisecond.
        if let Some(newest) = secrets.last() {
            added.created_at = added.created_at.max(newest.created_at + 1);
        }
        secrets.push(added.clone());
        app.secrets_enc = seal_secrets(key, &app.slug, &secrets);
        app.updated_at = now_ms();
        self.update(&app).await?;
        Ok(Rotation {
            added: Some(added),
            retired: Vec::new(),
            live: secrets.into_iter().map(|s| s.id).collect(),
        })
    }

    /// Removes every secret but the newest (after the app deployed it).
    pub async fn retire_old_secrets(
        &self,
        key: &MasterKey,
        slug: &str,
    ) -> Result<Rotation, RegistryError> {
        let mut app = self.require(slug).await?;
        let mut secrets = Self::secrets_of(key, &app)?;
        let Some(newest) = secrets.pop() else {
            return Err(RegistryError::Corrupt(format!(
                "app {slug} has no SDK secret"
            )));
        };
        let retired: Vec<String> = secrets.into_iter().map(|s| s.id).collect();
        if !retired.is_empty() {
            app.secrets_enc = seal_secrets(key, &app.slug, std::slice::from_ref(&newest));
            app.updated_at = now_ms();
            self.update(&app).await?;
        }
        Ok(Rotation {
            added: None,
            retired,
            live: vec![newest.id],
        })
    }

    /// Every live secret of the apps `matches` selects, read through (no cache), so that a
    /// co-hosted SDK endpoint (the demo app) sees a rotation at once. Apps whose secrets cannot
    /// be opened are skipped with a warning.
    pub async fn live_secrets_where(
        &self,
        key: &MasterKey,
        matches: impl Fn(&AppRow) -> bool,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        for app in self.store.list_apps().await?.iter().filter(|a| matches(a)) {
            match Self::secrets_of(key, app) {
                Ok(secrets) => out.extend(secrets.into_iter().map(|s| s.secret)),
                Err(e) => tracing::warn!(app = %app.slug, error = %e, "cannot open SDK secrets"),
            }
        }
        Ok(out)
    }

    /// Re-seal every app's secrets under `new_key`. Returns how many apps were re-sealed.
    pub async fn rotate_master_key(
        &self,
        old: &MasterKey,
        new: &MasterKey,
    ) -> Result<usize, RegistryError> {
        // Open everything first: one app that cannot be opened stops the rotation before
        // anything is written.
        let mut resealed = Vec::new();
        for mut app in self.store.list_apps().await? {
            let secrets = open_secrets(old, &app.slug, &app.secrets_enc)?;
            app.secrets_enc = seal_secrets(new, &app.slug, &secrets);
            app.updated_at = crate::time::now_ms();
            resealed.push(app);
        }
        let mut n = 0;
        for app in resealed {
            self.store.update_app(&app).await?;
            n += 1;
        }
        self.invalidate().await;
        Ok(n)
    }
}

/// Gives the SDK client of an app (its endpoint, signed with its newest secret).
pub trait ProductDirectory: Send + Sync + 'static {
    fn client(
        &self,
        app: &AppRow,
    ) -> Result<std::sync::Arc<dyn support_sdk::SupportIntegration>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_ids_and_urls_are_validated() {
        assert!(validate_inbox_id("inb_typescript_course").is_ok());
        assert!(validate_inbox_id("inb_3x9").is_ok());
        for bad in ["", "inb_", "inbox_1", "inb_a-b", "inb_a b"] {
            assert!(validate_inbox_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_endpoint_url("https://app.example.com/api/support").is_ok());
        assert!(validate_endpoint_url("http://127.0.0.1:4100/demo-app/support").is_ok());
        for bad in [
            "",
            "ftp://x/y",
            "http://",
            "https://user@host/x",
            "http://a b/",
            "app.example.com/x",
        ] {
            assert!(validate_endpoint_url(bad).is_err(), "{bad:?}");
        }
        assert!(validate_inboxes(&["inb_1".into(), "inb_1".into()]).is_err());
    }

    #[test]
    fn policy_windows_must_be_ordered() {
        assert!(validate_policy(&AppPolicy::default()).is_ok());
        let bad = AppPolicy {
            refund_auto_days: 50,
            ..AppPolicy::default()
        };
        assert!(validate_policy(&bad).is_err());
    }

    #[test]
    fn capabilities_conformance() {
        let check = |status, required| MethodCheck {
            status,
            required,
            latency_ms: 1,
            detail: None,
        };
        let mut caps = Capabilities {
            checked_at: 1,
            endpoint: "http://x/y".into(),
            methods: BTreeMap::from([
                ("lookupUser".into(), check(MethodStatus::Implemented, true)),
                (
                    "getAppInfo".into(),
                    check(MethodStatus::NotImplemented, false),
                ),
            ]),
        };
        assert!(caps.conformant());
        assert!(caps.supports("lookupUser") && !caps.supports("getAppInfo"));
        caps.methods.insert(
            "getPurchases".into(),
            check(MethodStatus::NotImplemented, true),
        );
        assert!(!caps.conformant());
        let row_json = serde_json::to_value(&caps).unwrap();
        assert_eq!(
            row_json["methods"]["getAppInfo"]["status"],
            "not_implemented"
        );
    }

    #[test]
    fn sealed_secrets_round_trip_and_are_bound_to_the_slug() {
        let (key, _) = MasterKey::generate();
        let secrets = vec![SdkSecret::generate(), SdkSecret::generate()];
        assert_eq!(secrets[0].secret.len(), 64);
        let sealed = seal_secrets(&key, "demo", &secrets);
        assert!(!sealed.contains(&secrets[0].secret));
        let opened = open_secrets(&key, "demo", &sealed).unwrap();
        assert_eq!(opened[1].secret, secrets[1].secret);
        assert!(open_secrets(&key, "other", &sealed).is_err());
    }
}
