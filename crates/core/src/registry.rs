//! The app registry: onboarded products, their policy, and their SDK secrets sealed at rest.

use crate::crypto::{CryptoError, MasterKey};
use crate::store::{AppRow, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    /// Who may approve (Slack user ids or emails). Empty: any admin or agent.
    pub approvers: Vec<String>,
    pub approval_ttl_hours: i64,
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

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("app secrets cannot be opened: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored app data is invalid: {0}")]
    Corrupt(String),
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

/// Cached registry lookups (5-minute TTL, invalidated on change through this registry).
pub struct Registry {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, (Instant, Option<AppRow>)>>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &str) -> Option<Option<AppRow>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, v)| v.clone())
    }

    fn remember(&self, key: String, v: Option<AppRow>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), v));
        }
    }

    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    pub async fn by_slug(&self, slug: &str) -> Result<Option<AppRow>, RegistryError> {
        let key = format!("slug:{slug}");
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let v = self.store.get_app(slug).await?;
        self.remember(key, v.clone());
        Ok(v)
    }

    pub async fn by_inbox(&self, inbox_id: &str) -> Result<Option<AppRow>, RegistryError> {
        let key = format!("inbox:{inbox_id}");
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let v = self.store.find_app_by_inbox(inbox_id).await?;
        self.remember(key, v.clone());
        Ok(v)
    }

    pub async fn insert(&self, app: &AppRow) -> Result<(), RegistryError> {
        self.store.insert_app(app).await?;
        self.invalidate();
        Ok(())
    }

    pub async fn update(&self, app: &AppRow) -> Result<(), RegistryError> {
        self.store.update_app(app).await?;
        self.invalidate();
        Ok(())
    }

    pub async fn remove(&self, slug: &str) -> Result<bool, RegistryError> {
        let removed = self.store.delete_app(slug).await?;
        self.invalidate();
        Ok(removed)
    }

    /// Re-seal every app's secrets under `new_key`. Returns how many apps were re-sealed.
    pub async fn rotate_master_key(
        &self,
        old: &MasterKey,
        new: &MasterKey,
    ) -> Result<usize, RegistryError> {
        let apps = self.store.list_apps().await?;
        let mut n = 0;
        for mut app in apps {
            let secrets = open_secrets(old, &app.slug, &app.secrets_enc)?;
            app.secrets_enc = seal_secrets(new, &app.slug, &secrets);
            app.updated_at = crate::time::now_ms();
            self.store.update_app(&app).await?;
            n += 1;
        }
        self.invalidate();
        Ok(n)
    }
}
