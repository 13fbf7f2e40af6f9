//! `--demo`: generate what a local platform needs, seed the demo apps, an admin and an API
//! token, and write `DIR/demo.json` so a person or a test can sign requests.

use crate::error::HostError;
use crate::services::Services;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use support_core::audit::AuditEvent;
use support_core::auth::{self, Role};
use support_core::crypto::{self, MasterKey};
use support_core::ids::new_id;
use support_core::registry::{self, AppPolicy, SdkSecret};
use support_core::settings::{Secret, Settings};
use support_core::store::{ApiTokenRow, AppRow, UserRow};
use support_core::time::now_ms;

/// One demo app, as written to `demo.json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoApp {
    pub slug: String,
    pub name: String,
    pub sdk_secret: String,
    pub front_inbox_id: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct DemoAdmin {
    pub email: String,
    pub password: String,
}

/// The content of `demo.json`. Holds plaintext secrets: it is a local development file,
/// written with mode 0600.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoState {
    pub base_url: String,
    pub front_signing_secret: String,
    pub slack_signing_secret: String,
    pub stripe_webhook_secret: String,
    pub apps: Vec<DemoApp>,
    pub admin: DemoAdmin,
    pub api_token: String,
    /// The key for `POST /e/{key}` (the event API).
    #[serde(default)]
    pub inngest_event_key: String,
    /// The Inngest signing key (`signkey-demo-<hex>`): signs calls to SDK apps and
    /// authenticates `POST /fn/register` (its bearer). Used when none is configured.
    #[serde(default)]
    pub inngest_signing_key: String,
    /// The Front sidebar plugin's `auth_secret` (put into `front.plugin_auth_secrets` when none
    /// is configured).
    #[serde(default)]
    pub front_plugin_auth_secret: String,
    /// The plugin page as Front would open it: `{base}/plugin/front?auth_secret=…`.
    #[serde(default)]
    pub front_plugin_url: String,
}

impl std::fmt::Debug for DemoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoState")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The products of the demo world (see `shared/scenarios/README.md`).
pub const DEMO_APPS: &[(&str, &str)] = &[
    ("typescript-course", "Typewise"),
    ("tailwind-course", "Tailwind Atelier"),
    ("ai-workshops", "Applied AI Workshops"),
];

fn io(path: &Path, e: std::io::Error) -> HostError {
    HostError::Io(format!("{}: {e}", path.display()))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), HostError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| io(&tmp, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The demo master key, kept in `DIR/master.key` so restarts can open earlier secrets.
pub fn demo_master_key(data_dir: &Path) -> Result<MasterKey, HostError> {
    let path = data_dir.join("master.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return MasterKey::from_base64(&text)
            .map_err(|e| HostError::Io(format!("{}: {e}", path.display())));
    }
    let (key, b64) = MasterKey::generate();
    write_private(&path, b64.as_bytes())?;
    Ok(key)
}

/// A fresh Inngest-format signing key: `signkey-demo-` and 32 random bytes in hex.
fn demo_signing_key() -> String {
    format!("signkey-demo-{}", crypto::random_hex(32))
}

/// The Front plugin page with its `auth_secret`, as Front opens it.
pub fn plugin_url(base: &str, secret: &str) -> String {
    format!(
        "{}/plugin/front?auth_secret={secret}",
        base.trim_end_matches('/')
    )
}

pub fn demo_json_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.json")
}

/// Load `demo.json` or create fresh demo secrets, and put them into `settings` where the
/// operator configured none.
pub fn prepare(settings: &mut Settings) -> Result<DemoState, HostError> {
    let path = demo_json_path(&settings.data_dir);
    let state = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<DemoState>(&bytes).map_err(|e| {
            HostError::Io(format!(
                "{}: {e}; delete it to start a fresh demo",
                path.display()
            ))
        })?,
        Err(_) => DemoState {
            base_url: String::new(),
            front_signing_secret: crypto::random_hex(32),
            slack_signing_secret: crypto::random_hex(32),
            stripe_webhook_secret: format!("whsec_{}", crypto::random_hex(24)),
            apps: DEMO_APPS
                .iter()
                .map(|(slug, name)| DemoApp {
                    slug: (*slug).to_string(),
                    name: (*name).to_string(),
                    sdk_secret: crypto::random_hex(32),
                    front_inbox_id: format!("inb_{}", slug.replace('-', "_")),
                })
                .collect(),
            admin: DemoAdmin {
                email: "admin@demo.test".into(),
                password: crypto::random_token("", 18),
            },
            api_token: auth::mint_token().plaintext,
            inngest_event_key: crypto::random_hex(16),
            inngest_signing_key: String::new(),
            front_plugin_auth_secret: String::new(),
            front_plugin_url: String::new(),
        },
    };
    let mut state = state;
    if state.inngest_signing_key.is_empty() {
        // Also for a demo.json written before the key existed; `seed` rewrites the file.
        state.inngest_signing_key = demo_signing_key();
    }
    if settings.inngest.signing_key.is_none() {
        settings.inngest.signing_key = Some(Secret::new(state.inngest_signing_key.clone()));
    }
    if state.front_plugin_auth_secret.is_empty() {
        state.front_plugin_auth_secret = crypto::random_hex(24);
    }
    if settings.front.plugin_auth_secrets.is_empty() {
        settings.front.plugin_auth_secrets =
            vec![Secret::new(state.front_plugin_auth_secret.clone())];
    }
    if settings.front.signing_secrets.is_empty() {
        settings.front.signing_secrets = vec![Secret::new(state.front_signing_secret.clone())];
    }
    if settings.slack.signing_secrets.is_empty() {
        settings.slack.signing_secrets = vec![Secret::new(state.slack_signing_secret.clone())];
    }
    if settings.stripe.webhook_secrets.is_empty() {
        settings.stripe.webhook_secrets = vec![Secret::new(state.stripe_webhook_secret.clone())];
    }
    Ok(state)
}

/// Register the demo apps, the admin and the API token (idempotently), then write
/// `demo.json` with the live base URL.
pub async fn seed(p: &Services, base: &str, state: &DemoState) -> Result<(), HostError> {
    let now = now_ms();
    for app in &state.apps {
        let endpoint = format!("{base}/demo-app/support");
        if let Some(mut existing) = p.store.get_app(&app.slug).await? {
            // A restart on another port: keep the demo apps pointing at this server.
            if existing.sdk_base_url != endpoint
                && existing.sdk_base_url.ends_with("/demo-app/support")
            {
                existing.sdk_base_url = endpoint;
                existing.updated_at = now;
                p.registry
                    .update(&existing)
                    .await
                    .map_err(|e| HostError::Io(e.to_string()))?;
            }
            continue;
        }
        let secrets = vec![SdkSecret {
            id: new_id("sks"),
            secret: app.sdk_secret.clone(),
            created_at: now,
        }];
        let row = AppRow {
            id: new_id("app"),
            slug: app.slug.clone(),
            name: app.name.clone(),
            front_inbox_ids: vec![app.front_inbox_id.clone()],
            sdk_base_url: endpoint,
            secrets_enc: registry::seal_secrets(&p.master_key, &app.slug, &secrets),
            stripe_account: None,
            policy: serde_json::to_value(AppPolicy::default()).unwrap_or_default(),
            capabilities: serde_json::json!({}),
            status: support_core::store::AppStatus::Connected,
            created_at: now,
            updated_at: now,
        };
        p.registry
            .insert(&row)
            .await
            .map_err(|e| HostError::Io(e.to_string()))?;
        p.store
            .append_audit(
                &AuditEvent::new(
                    "app.registered",
                    "demo",
                    serde_json::json!({"slug": app.slug}),
                )
                .app(app.slug.clone()),
            )
            .await?;
    }
    if p.store
        .get_user_by_email(&state.admin.email)
        .await?
        .is_none()
    {
        let hash = auth::hash_password(&state.admin.password).map_err(HostError::Io)?;
        p.store
            .upsert_user(&UserRow {
                id: new_id("usr"),
                email: state.admin.email.clone(),
                name: Some("Demo admin".into()),
                role: Role::Admin,
                password_hash: Some(hash),
                slack_user_id: None,
                created_at: now,
                deactivated_at: None,
            })
            .await?;
    }
    seed_analytics(p, state, now).await?;
    let token_hash = auth::hash_token(&state.api_token);
    if p.store.find_api_token(&token_hash).await?.is_none() {
        // The demo token is the demo admin's.
        let admin = p
            .store
            .get_user_by_email(&state.admin.email)
            .await?
            .map(|u| u.id)
            .unwrap_or_default();
        p.store
            .insert_api_token(&ApiTokenRow {
                id: new_id("tok"),
                name: "demo".into(),
                role: Role::Admin,
                token_hash,
                created_at: now,
                revoked_at: None,
                user_id: admin,
            })
            .await?;
    }
    let mut written = state.clone();
    written.base_url = base.to_string();
    written.front_plugin_url = plugin_url(base, &state.front_plugin_auth_secret);
    let json = serde_json::to_vec_pretty(&written).map_err(|e| HostError::Io(e.to_string()))?;
    write_private(&demo_json_path(&p.settings.data_dir), &json)?;
    tracing::info!(apps = state.apps.len(), "demo seeded");
    Ok(())
}

/// A month of synthetic reporting events for the demo apps (`core::analytics::demo`), so the
/// Analytics page has history to chart; idempotent (fixed ids), rolled up at once.
async fn seed_analytics(p: &Services, state: &DemoState, now: i64) -> Result<(), HostError> {
    use support_core::analytics;
    let apps: Vec<String> = state.apps.iter().map(|a| a.slug.to_string()).collect();
    let events = analytics::demo::history(&apps, now, 30, 3);
    // Already seeded (a restart): the first event is there.
    if let Some(first) = events.first()
        && !p.store.insert_reporting_event(first).await?
    {
        return Ok(());
    }
    p.store.insert_reporting_events(&events[1..]).await?;
    analytics::refresh(p.store.as_ref(), now).await?;
    Ok(())
}
