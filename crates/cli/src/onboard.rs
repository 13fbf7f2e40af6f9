//! Onboarding commands: `skill init`, `skill apps …`, `skill keys rotate`, `skill doctor`, and
//! the integration checks of `skill health`.
//!
//! They talk to the database directly, like `tokens create`. SDK secrets are sealed with the
//! master key: from settings (`master_key`), or, for a demo data directory, `DIR/master.key`.
//! Input is validated before anything is written; a registry change is one transaction, and
//! `init` removes the app again if its scaffold cannot be written, so a failed command leaves
//! nothing half-written.

use crate::cli::{Cli, Failure, emit, exit, load_settings, open_db, usage};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_core::audit::AuditEvent;
use support_core::crypto::MasterKey;
use support_core::registry::{
    self, AppPatch, AppPolicy, Capabilities, MethodCheck, MethodStatus, NewApp, Registry,
    RegistryError,
};
use support_core::settings::Settings;
use support_core::store::{AppRow, Store, StoreError};
use support_core::time::now_ms;
use support_core::{AppSlug, Email};
use support_sdk::types::*;
use support_sdk::{Action, ClientError, IntegrationClient, RetryPolicy};

// ── arguments ────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaffoldKind {
    /// A Rust crate implementing `support_sdk::SupportIntegration`.
    Rust,
    /// A TypeScript module for `@skillrecordings/sdk` (`createSupportHandler`).
    Ts,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Product name, e.g. "Typewise".
    #[arg(long)]
    pub name: Option<String>,
    /// Short id: 2-40 lowercase letters, digits or '-', e.g. typescript-course.
    #[arg(long)]
    pub slug: Option<String>,
    /// Front inbox id(s) whose conversations belong to the app (inb_…); repeat or comma-separate.
    #[arg(long = "front-inbox", value_delimiter = ',')]
    pub front_inbox: Vec<String>,
    /// The app's SDK endpoint, e.g. https://app.example.com/api/support.
    #[arg(long)]
    pub url: Option<String>,
    /// Also write an integration skeleton.
    #[arg(long, value_enum)]
    pub scaffold: Option<ScaffoldKind>,
    /// Where to write the skeleton (default ./<slug>-support); must not exist or be empty.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// List registered apps.
    List,
    /// Show one app: inboxes, endpoint, policy, capabilities, secret ids.
    Show { slug: String },
    /// Change an app; only the given fields change.
    Update(UpdateArgs),
    /// Remove an app and its secrets.
    Remove {
        slug: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Print the Stripe Connect link that connects the app's Stripe account (single use,
    /// valid 30 minutes; Stripe sends the user back to `{public_url}/stripe/oauth/callback`).
    ConnectStripe { slug: String },
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub slug: String,
    #[arg(long)]
    pub name: Option<String>,
    /// New SDK endpoint URL (clears the recorded capabilities: run `skill doctor` again).
    #[arg(long)]
    pub url: Option<String>,
    /// Replace the Front inbox ids; repeat or comma-separate.
    #[arg(long = "front-inbox", value_delimiter = ',')]
    pub front_inbox: Vec<String>,
    /// Refunds inside this many days run without approval.
    #[arg(long)]
    pub refund_auto_days: Option<i64>,
    /// Refunds up to this many days need approval; older ones are escalated.
    #[arg(long)]
    pub refund_approval_days: Option<i64>,
    /// Transfers inside this many days run without approval.
    #[arg(long)]
    pub transfer_auto_days: Option<i64>,
    /// Where approvals go (e.g. a Slack channel id).
    #[arg(long)]
    pub approval_channel: Option<String>,
    /// connected or disconnected.
    #[arg(long)]
    pub status: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Add a new SDK secret (shown once) next to the live ones; with --retire-old, instead
    /// remove every secret but the newest (once the app uses it).
    Rotate {
        slug: String,
        #[arg(long)]
        retire_old: bool,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    pub slug: String,
    /// Per-call timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// The email `lookupUser` probes with (a customer of the app shows more of its data).
    #[arg(long, default_value = "support-doctor@example.com")]
    pub email: String,
}

// ── shared helpers ───────────────────────────────────────────────────────────────────────────

/// The master key for sealing SDK secrets: settings, else `DIR/master.key` of a demo data dir.
pub fn master_key(settings: &Settings) -> Result<MasterKey, Failure> {
    if let Some(k) = &settings.master_key {
        return MasterKey::from_base64(k.expose()).map_err(|e| usage(format!("master_key: {e}")));
    }
    let path = settings.data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| Failure {
            code: exit::FAILED,
            message: format!("{}: {e}", path.display()),
        }),
        Err(_) => Err(usage(format!(
            "master_key is not set: set SUPPORT_MASTER_KEY to the server's key (base64 of 32 bytes); \
             for a demo data dir, point SUPPORT_DATA_DIR at it ({} not found)",
            path.display()
        ))),
    }
}

fn parse_slug(slug: &str) -> Result<AppSlug, Failure> {
    AppSlug::parse(slug.trim()).map_err(|e| usage(e.to_string()))
}

fn registry_failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Invalid(message) => usage(message),
        RegistryError::Store(StoreError::Conflict(message)) => Failure {
            code: exit::FAILED,
            message,
        },
        other => Failure::from(other),
    }
}

async fn open_registry(settings: &Settings) -> Result<(Arc<dyn Store>, Registry), Failure> {
    let db = open_db(settings).await?;
    let store: Arc<dyn Store> = Arc::new(db);
    // With Redis, the running instances see what this command changes at once.
    let registry = support_web::host::shared_registry(settings, store.clone()).await;
    Ok((store, registry))
}

async fn audit(store: &Arc<dyn Store>, kind: &str, slug: &str, data: Value) {
    let event = AuditEvent::new(kind, "cli", data).app(slug.to_owned());
    if let Err(e) = store.append_audit(&event).await {
        eprintln!("warning: audit event {kind} not recorded: {e}");
    }
}

fn interactive(cli: &Cli) -> bool {
    !cli.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on stderr until `check` accepts the answer (an empty answer takes `default`).
fn prompt<T>(
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Failure> {
    let stdin = std::io::stdin();
    loop {
        match default {
            Some(d) => eprint!("{question} [{d}]: "),
            None => eprint!("{question}: "),
        }
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Err(usage("input ended before every value was given"));
        }
        let answer = match line.trim() {
            "" => default.unwrap_or(""),
            other => other,
        };
        match check(answer) {
            Ok(v) => return Ok(v),
            Err(e) => eprintln!("  {e}"),
        }
    }
}

fn slug_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

fn age(ms: i64) -> String {
    let secs = (now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

// ── skill init ───────────────────────────────────────────────────────────────────────────────

struct InitValues {
    name: String,
    slug: AppSlug,
    inboxes: Vec<String>,
    url: String,
    scaffold: Option<ScaffoldKind>,
}

fn check_inboxes(raw: &[String]) -> Result<Vec<String>, String> {
    let ids: Vec<String> = raw
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err("at least one Front inbox id (inb_…) is needed".into());
    }
    for id in &ids {
        registry::validate_inbox_id(id).map_err(|e| e.to_string())?;
    }
    Ok(ids)
}

fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    registry::validate_endpoint_url(url).map_err(|e| e.to_string())?;
    Ok(url.to_owned())
}

fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if (1..=80).contains(&name.chars().count()) {
        Ok(name.to_owned())
    } else {
        Err("the name must be 1-80 characters".into())
    }
}

fn init_values(cli: &Cli, args: &InitArgs) -> Result<InitValues, Failure> {
    if !interactive(cli) {
        let mut missing = Vec::new();
        if args.name.is_none() {
            missing.push("--name");
        }
        if args.slug.is_none() {
            missing.push("--slug");
        }
        if args.front_inbox.is_empty() {
            missing.push("--front-inbox");
        }
        if args.url.is_none() {
            missing.push("--url");
        }
        if !missing.is_empty() {
            return Err(usage(format!(
                "missing {} (stdin is not a terminal, so nothing is prompted)",
                missing.join(", ")
            )));
        }
    }
    let name = match &args.name {
        Some(n) => check_name(n).map_err(usage)?,
        None => prompt("App name (e.g. Typewise)", None, check_name)?,
    };
    let slug = match &args.slug {
        Some(s) => parse_slug(s)?,
        None => {
            let suggestion = slug_from_name(&name);
            prompt(
                "Slug",
                (!suggestion.is_empty()).then_some(suggestion.as_str()),
                |s| AppSlug::parse(s).map_err(|e| e.to_string()),
            )?
        }
    };
    let inboxes = if args.front_inbox.is_empty() {
        prompt("Front inbox id(s), comma-separated (inb_…)", None, |s| {
            check_inboxes(&[s.to_owned()])
        })?
    } else {
        check_inboxes(&args.front_inbox).map_err(usage)?
    };
    let url = match &args.url {
        Some(u) => check_url(u).map_err(usage)?,
        None => prompt(
            "SDK endpoint URL (e.g. https://app.example.com/api/support)",
            None,
            check_url,
        )?,
    };
    let scaffold = match args.scaffold {
        Some(kind) => Some(kind),
        None if interactive(cli) && args.out.is_none() => prompt(
            "Scaffold an integration (rust, ts, none)",
            Some("none"),
            |s| match s.to_ascii_lowercase().as_str() {
                "rust" => Ok(Some(ScaffoldKind::Rust)),
                "ts" | "typescript" => Ok(Some(ScaffoldKind::Ts)),
                "none" | "no" => Ok(None),
                other => Err(format!("{other:?}: answer rust, ts or none")),
            },
        )?,
        None => None,
    };
    if args.out.is_some() && scaffold.is_none() {
        return Err(usage("--out needs --scaffold rust|ts"));
    }
    Ok(InitValues {
        name,
        slug,
        inboxes,
        url,
        scaffold,
    })
}

pub async fn init(cli: &Cli, args: &InitArgs) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let values = init_values(cli, args)?;
    // Everything that can be checked is checked before the registry is touched.
    let scaffold = match values.scaffold {
        Some(kind) => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}-support", values.slug)));
            check_out_dir(&out)?;
            Some((kind, out, scaffold_files(kind, &values)))
        }
        None => None,
    };
    let key = master_key(&settings)?;
    let (store, registry) = open_registry(&settings).await?;
    let (row, secret) = registry
        .register(
            &key,
            NewApp {
                slug: values.slug.clone(),
                name: values.name.clone(),
                front_inbox_ids: values.inboxes.clone(),
                sdk_base_url: values.url.clone(),
                policy: AppPolicy::default(),
            },
        )
        .await
        .map_err(registry_failure)?;
    let written = match &scaffold {
        Some((kind, out, files)) => match write_scaffold(out, files) {
            Ok(()) => Some((
                *kind,
                out.clone(),
                files.keys().cloned().collect::<Vec<_>>(),
            )),
            Err(e) => {
                // Undo the registration: a failed init leaves nothing behind.
                if let Err(undo) = registry.remove(&row.slug).await {
                    eprintln!("warning: could not remove {} again: {undo}", row.slug);
                }
                return Err(Failure {
                    code: exit::FAILED,
                    message: format!(
                        "cannot write the scaffold to {}: {e} (nothing was registered; choose another --out)",
                        out.display()
                    ),
                });
            }
        },
        None => None,
    };
    audit(
        &store,
        "app.registered",
        &row.slug,
        json!({"slug": row.slug, "name": row.name, "front_inbox_ids": row.front_inbox_ids,
               "sdk_base_url": row.sdk_base_url, "secret_id": secret.id}),
    )
    .await;
    let scaffold_json = written.as_ref().map(|(kind, out, files)| {
        json!({"kind": format!("{kind:?}").to_lowercase(), "dir": out.display().to_string(), "files": files})
    });
    emit(
        cli,
        &json!({"slug": row.slug, "name": row.name, "front_inbox_ids": row.front_inbox_ids,
                "sdk_base_url": row.sdk_base_url, "secret_id": secret.id, "secret": secret.secret,
                "scaffold": scaffold_json}),
        || {
            let mut out = vec![
                format!(
                    "Registered {} ({}) → {}",
                    row.slug, row.name, row.sdk_base_url
                ),
                format!("  Front inboxes: {}", row.front_inbox_ids.join(", ")),
                String::new(),
                "SDK secret (shown once; give it to the app as SUPPORT_WEBHOOK_SECRET):".into(),
                format!("  {}", secret.secret),
                String::new(),
            ];
            if let Some((kind, dir, files)) = &written {
                out.push(format!(
                    "Scaffolded a {} integration in {}: {}",
                    match kind {
                        ScaffoldKind::Rust => "Rust",
                        ScaffoldKind::Ts => "TypeScript",
                    },
                    dir.display(),
                    files.join(", ")
                ));
            }
            out.push(format!(
                "Next: serve the handler at {} with that secret, then run `skill doctor {}`.",
                row.sdk_base_url, row.slug
            ));
            out.join("\n")
        },
    );
    Ok(())
}

fn check_out_dir(out: &Path) -> Result<(), Failure> {
    if out.is_file() {
        return Err(usage(format!(
            "--out {} is a file; choose a new directory",
            out.display()
        )));
    }
    if out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(usage(format!(
            "--out {} already exists and is not empty; choose a new directory",
            out.display()
        )));
    }
    Ok(())
}

/// Writes the files next to `out` first, then moves the directory into place.
fn write_scaffold(out: &Path, files: &BTreeMap<String, String>) -> std::io::Result<()> {
    let staging = out.with_file_name(format!(
        ".{}.skill-init-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        for (rel, contents) in files {
            let path = staging.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, contents)?;
        }
        if out.is_dir() {
            // An empty directory given as --out.
            std::fs::remove_dir(out)?;
        }
        std::fs::rename(&staging, out)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn type_name(slug: &AppSlug) -> String {
    slug.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<String>()
        + "Integration"
}

/// `(origin, path)` of an endpoint URL (validated before).
fn split_url(url: &str) -> (String, String) {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[scheme_end..].find('/') {
        Some(i) => (
            url[..scheme_end + i].to_owned(),
            url[scheme_end + i..].to_owned(),
        ),
        None => (url.to_owned(), "/api/support".to_owned()),
    }
}

fn scaffold_files(kind: ScaffoldKind, v: &InitValues) -> BTreeMap<String, String> {
    let (origin, path) = split_url(&v.url);
    let path = path.split('?').next().unwrap_or("/api/support").to_owned();
    let mut files = BTreeMap::new();
    match kind {
        ScaffoldKind::Rust => {
            let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
            let sdk = sdk.canonicalize().unwrap_or(sdk);
            files.insert(
                "Cargo.toml".into(),
                RUST_CARGO_TOML
                    .replace("{slug}", v.slug.as_str())
                    .replace("{sdk_path}", &sdk.display().to_string().replace('\\', "/")),
            );
            files.insert(
                "src/lib.rs".into(),
                RUST_LIB
                    .replace("{name}", &v.name)
                    .replace("{slug}", v.slug.as_str())
                    .replace("{url}", &v.url)
                    .replace("{path}", &path)
                    .replace("{origin}", &origin)
                    .replace("{Type}", &type_name(&v.slug)),
            );
        }
        ScaffoldKind::Ts => {
            files.insert(
                "support.ts".into(),
                TS_MODULE
                    .replace("{name}", &v.name)
                    .replace("{slug}", v.slug.as_str())
                    .replace("{url}", &v.url)
                    .replace("{path}", &path)
                    .replace("{origin}", &origin),
            );
        }
    }
    files
}

const RUST_CARGO_TOML: &str = r#"[package]
name = "{slug}-support"
version = "0.1.0"
edition = "2024"
publish = false

# Keeps this crate out of any enclosing Cargo workspace.
[workspace]

[dependencies]
support-sdk = { path = "{sdk_path}", default-features = false, features = ["handler"] }
axum = { version = "0.8", default-features = false, features = ["http1", "json", "tokio"] }
"#;

const RUST_LIB: &str = r#"//! Support integration for {name} (`{slug}`), generated by `skill init`.
//!
//! The support platform calls these methods to find customers and act on their purchases.
//! Each one answers "nothing found" until you connect it to your database. Then serve
//! [`router`] so that `{url}` reaches it, with the secret `skill init` printed (several
//! during a rotation), and check it with `skill doctor {slug}`.
//!
//! Optional methods (`get_subscriptions`, `update_email`, `get_refund_policy`, …) answer
//! `501 Method not implemented` until you override them.

use std::sync::Arc;

use support_sdk::types::{
    ActionResult, GenerateMagicLinkParams, MagicLink, Purchase, RevokeAccessParams,
    TransferPurchaseParams, User,
};
use support_sdk::{IntegrationError, SupportHandler, SupportIntegration, async_trait};

/// The path the platform POSTs to (from the URL given to `skill init`).
pub const SUPPORT_PATH: &str = "{path}";

/// Where customers sign in; `generate_magic_link` points there until you issue real links.
pub const LOGIN_URL: &str = "{origin}/login";

/// {name}'s side of the support SDK. Keep your database pool here.
#[derive(Debug, Clone, Default)]
pub struct {Type};

#[async_trait]
impl SupportIntegration for {Type} {
    async fn lookup_user(&self, email: &str) -> Result<Option<User>, IntegrationError> {
        let _ = email;
        Ok(None)
    }

    /// Each `Purchase.amount` is in MAJOR units of its `currency`, as a decimal: `179.0` for
    /// $179.00, `1000.0` for ¥1,000, never cents. Set `stripe_charge_id` to the charge that
    /// paid for it: refunds are made on that charge for the amount Stripe reports, and your
    /// figure is only cross-checked against it (a mismatch goes to a human, nothing refunded).
    async fn get_purchases(&self, user_id: &str) -> Result<Vec<Purchase>, IntegrationError> {
        let _ = user_id;
        Ok(Vec::new())
    }

    async fn revoke_access(
        &self,
        params: RevokeAccessParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(ActionResult::failed(format!(
            "Purchase not found: {}",
            params.purchase_id
        )))
    }

    async fn transfer_purchase(
        &self,
        params: TransferPurchaseParams,
    ) -> Result<ActionResult, IntegrationError> {
        Ok(ActionResult::failed(format!(
            "Purchase not found: {}",
            params.purchase_id
        )))
    }

    async fn generate_magic_link(
        &self,
        params: GenerateMagicLinkParams,
    ) -> Result<MagicLink, IntegrationError> {
        let _ = params.expires_in;
        Ok(MagicLink {
            url: format!("{LOGIN_URL}?email={}", params.email.replace('+', "%2B")),
        })
    }
}

/// The signed endpoint at [`SUPPORT_PATH`], accepting any of `secrets`.
pub fn router(secrets: Vec<String>) -> axum::Router {
    axum::Router::new().route(
        SUPPORT_PATH,
        SupportHandler::new(Arc::new({Type}), secrets).into_method_router(),
    )
}
"#;

const TS_MODULE: &str = r#"// Support integration for {name} (`{slug}`), generated by `skill init`.
//
//   npm install @skillrecordings/sdk@0.5.0
//
// Serve `POST` at {path} so that {url} reaches it, with the secret `skill init` printed in
// SUPPORT_WEBHOOK_SECRET (Next.js: `export { POST } from './support'` in
// app{path}/route.ts). Then check it with `skill doctor {slug}`.
// Each method answers "nothing found" until you connect it to your database; optional
// methods (getSubscriptions, updateEmail, getRefundPolicy, …) answer 501 until you add them.
import { createSupportHandler } from '@skillrecordings/sdk/handler'
import type { SupportIntegration } from '@skillrecordings/sdk/integration'

const LOGIN_URL = '{origin}/login'

export const integration: SupportIntegration = {
  async lookupUser(email) {
    void email
    return null
  },
  // Each purchase's `amount` is in MAJOR units of its `currency`, as a decimal: 179 or 179.00
  // for $179.00, 1000 for ¥1,000, never cents. Set `stripeChargeId` to the charge that paid
  // for it: refunds are made on that charge for the amount Stripe reports, and your figure is
  // only cross-checked against it (a mismatch goes to a human, nothing is refunded).
  async getPurchases(userId) {
    void userId
    return []
  },
  async revokeAccess({ purchaseId }) {
    return { success: false, error: `Purchase not found: ${purchaseId}` }
  },
  async transferPurchase({ purchaseId }) {
    return { success: false, error: `Purchase not found: ${purchaseId}` }
  },
  async generateMagicLink({ email }) {
    return { url: `${LOGIN_URL}?email=${encodeURIComponent(email)}` }
  },
}

const webhookSecret = process.env.SUPPORT_WEBHOOK_SECRET
if (!webhookSecret) throw new Error('SUPPORT_WEBHOOK_SECRET is not set')

export const POST = createSupportHandler({ integration, webhookSecret })
"#;

// ── skill apps ───────────────────────────────────────────────────────────────────────────────

fn capabilities_summary(app: &AppRow) -> String {
    match Capabilities::from_row(app) {
        Some(c) => {
            let implemented = c
                .methods
                .values()
                .filter(|m| m.status == MethodStatus::Implemented)
                .count();
            format!(
                "{implemented}/{} methods{} (checked {})",
                c.methods.len(),
                if c.conformant() {
                    ""
                } else {
                    ", NOT conformant"
                },
                age(c.checked_at)
            )
        }
        None => "never checked (run `skill doctor`)".into(),
    }
}

fn app_json(app: &AppRow, secrets: Option<&[registry::SdkSecret]>) -> Value {
    let mut v = json!({
        "slug": app.slug, "name": app.name, "status": app.status,
        "front_inbox_ids": app.front_inbox_ids, "sdk_base_url": app.sdk_base_url,
        "stripe_account": app.stripe_account,
        "policy": registry::policy_of(app).ok(), "capabilities": app.capabilities,
        "created_at": app.created_at, "updated_at": app.updated_at,
    });
    if let Some(secrets) = secrets {
        v["secrets"] = secrets
            .iter()
            .map(|s| json!({"id": s.id, "created_at": s.created_at}))
            .collect();
    }
    v
}

pub async fn apps(cli: &Cli, cmd: &AppsCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    match cmd {
        AppsCmd::List => {
            let (_, registry) = open_registry(&settings).await?;
            let apps = registry.list().await?;
            emit(
                cli,
                &json!({"items": apps.iter().map(|a| app_json(a, None)).collect::<Vec<_>>()}),
                || {
                    if apps.is_empty() {
                        return "no apps registered (run `skill init`)".into();
                    }
                    apps.iter()
                        .map(|a| {
                            format!(
                                "{}\t{}\t{}\t{}\t{}\t{}",
                                a.slug,
                                a.name,
                                a.status,
                                a.front_inbox_ids.join(","),
                                a.sdk_base_url,
                                capabilities_summary(a)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
            Ok(())
        }
        AppsCmd::Show { slug } => {
            let slug = parse_slug(slug)?;
            let (_, registry) = open_registry(&settings).await?;
            let app = registry
                .require(slug.as_str())
                .await
                .map_err(registry_failure)?;
            // Secret ids (never values) when the master key is at hand.
            let secrets = master_key(&settings)
                .ok()
                .and_then(|k| Registry::secrets_of(&k, &app).ok());
            let v = app_json(&app, secrets.as_deref());
            emit(cli, &v, || {
                let mut out = vec![
                    format!("{} ({}) — {}", app.slug, app.name, app.status),
                    format!("  endpoint:      {}", app.sdk_base_url),
                    format!("  Front inboxes: {}", app.front_inbox_ids.join(", ")),
                    format!(
                        "  policy:        {}",
                        serde_json::to_string(&v["policy"]).unwrap_or_default()
                    ),
                    format!("  capabilities:  {}", capabilities_summary(&app)),
                ];
                match &secrets {
                    Some(s) => out.push(format!(
                        "  SDK secrets:   {}",
                        s.iter()
                            .map(|s| format!("{} ({})", s.id, age(s.created_at)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    None => out.push("  SDK secrets:   (master key not available)".into()),
                }
                if let Some(c) = Capabilities::from_row(&app) {
                    out.push(String::new());
                    out.push(conformance_table(&c));
                }
                out.join("\n")
            });
            Ok(())
        }
        AppsCmd::Update(args) => update(cli, &settings, args).await,
        AppsCmd::ConnectStripe { slug } => connect_stripe(cli, &settings, slug).await,
        AppsCmd::Remove { slug, yes } => {
            let slug = parse_slug(slug)?;
            if !yes {
                if !interactive(cli) {
                    return Err(usage(format!(
                        "removing {slug} deletes its registration and secrets: pass --yes"
                    )));
                }
                let confirmed = prompt(
                    &format!("Type {slug} to remove it and its secrets"),
                    None,
                    |s| Ok::<_, String>(s == slug.as_str()),
                )?;
                if !confirmed {
                    return Err(usage("not confirmed; nothing removed"));
                }
            }
            let (store, registry) = open_registry(&settings).await?;
            if !registry.remove(slug.as_str()).await? {
                return Err(registry_failure(RegistryError::NotFound(slug.to_string())));
            }
            audit(&store, "app.removed", slug.as_str(), json!({"slug": slug})).await;
            emit(cli, &json!({"removed": slug}), || format!("removed {slug}"));
            Ok(())
        }
    }
}

/// `skill apps connect-stripe <app>`: mint a signed, single-use OAuth state under the master key
/// and print Stripe's authorize URL (the same link as `GET /api/v1/apps/{slug}/stripe/connect`).
async fn connect_stripe(cli: &Cli, settings: &Settings, slug: &str) -> Result<(), Failure> {
    use support_core::stripe_connect as sc;
    let slug = parse_slug(slug)?;
    let Some(client_id) = settings
        .stripe
        .connect_client_id
        .as_deref()
        .filter(|c| !c.is_empty())
    else {
        return Err(usage(
            "stripe.connect_client_id is not set (SUPPORT_STRIPE__CONNECT_CLIENT_ID: the platform's Connect client id, ca_…)",
        ));
    };
    let key = master_key(settings)?;
    let (store, registry) = open_registry(settings).await?;
    let app = registry
        .require(slug.as_str())
        .await
        .map_err(registry_failure)?;
    let base = settings
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{}", settings.bind));
    let redirect_uri = format!("{base}/stripe/oauth/callback");
    let now = now_ms();
    let state = sc::mint_state(&key, &app.slug, now, sc::STATE_TTL_MS);
    let url = sc::authorize_url(
        &settings.stripe.connect_url,
        client_id,
        &state,
        &redirect_uri,
    );
    audit(
        &store,
        "stripe.connect_link_created",
        &app.slug,
        json!({"redirect_uri": redirect_uri, "expires_at": now + sc::STATE_TTL_MS}),
    )
    .await;
    emit(
        cli,
        &json!({"app": app.slug, "url": url, "redirect_uri": redirect_uri,
                "expires_at": now + sc::STATE_TTL_MS, "stripe_account": app.stripe_account}),
        || {
            format!(
                "Open this link to connect {} to Stripe (single use, valid 30 minutes):\n{url}",
                app.name
            )
        },
    );
    Ok(())
}

async fn update(cli: &Cli, settings: &Settings, args: &UpdateArgs) -> Result<(), Failure> {
    let slug = parse_slug(&args.slug)?;
    let inboxes = if args.front_inbox.is_empty() {
        None
    } else {
        Some(check_inboxes(&args.front_inbox).map_err(usage)?)
    };
    let policy_change = args.refund_auto_days.is_some()
        || args.refund_approval_days.is_some()
        || args.transfer_auto_days.is_some()
        || args.approval_channel.is_some();
    if args.name.is_none()
        && args.url.is_none()
        && inboxes.is_none()
        && args.status.is_none()
        && !policy_change
    {
        return Err(usage(
            "nothing to update: pass --name, --url, --front-inbox, --status or a policy flag",
        ));
    }
    let (store, registry) = open_registry(settings).await?;
    let policy = if policy_change {
        let app = registry
            .require(slug.as_str())
            .await
            .map_err(registry_failure)?;
        let mut p = registry::policy_of(&app)?;
        if let Some(d) = args.refund_auto_days {
            p.refund_auto_days = d;
        }
        if let Some(d) = args.refund_approval_days {
            p.refund_approval_days = d;
        }
        if let Some(d) = args.transfer_auto_days {
            p.transfer_auto_days = d;
        }
        if let Some(c) = &args.approval_channel {
            p.approval_channel = (!c.trim().is_empty()).then(|| c.trim().to_owned());
        }
        Some(p)
    } else {
        None
    };
    let app = registry
        .update_app(
            slug.as_str(),
            AppPatch {
                name: args.name.clone(),
                front_inbox_ids: inboxes,
                sdk_base_url: args
                    .url
                    .as_deref()
                    .map(check_url)
                    .transpose()
                    .map_err(usage)?,
                policy,
                status: args.status.clone(),
            },
        )
        .await
        .map_err(registry_failure)?;
    audit(
        &store,
        "app.updated",
        &app.slug,
        json!({"slug": app.slug, "name": app.name, "front_inbox_ids": app.front_inbox_ids,
               "sdk_base_url": app.sdk_base_url, "status": app.status, "policy": app.policy}),
    )
    .await;
    emit(cli, &app_json(&app, None), || {
        format!("updated {}", app.slug)
    });
    Ok(())
}

// ── skill keys ───────────────────────────────────────────────────────────────────────────────

pub async fn keys(cli: &Cli, cmd: &KeysCmd) -> Result<(), Failure> {
    let KeysCmd::Rotate { slug, retire_old } = cmd;
    let slug = parse_slug(slug)?;
    let settings = load_settings(cli)?;
    let key = master_key(&settings)?;
    let (store, registry) = open_registry(&settings).await?;
    if *retire_old {
        let r = registry
            .retire_old_secrets(&key, slug.as_str())
            .await
            .map_err(registry_failure)?;
        if !r.retired.is_empty() {
            audit(
                &store,
                "app.secrets_retired",
                slug.as_str(),
                json!({"retired": r.retired, "live": r.live}),
            )
            .await;
        }
        emit(
            cli,
            &json!({"slug": slug, "retired": r.retired, "live": r.live}),
            || {
                if r.retired.is_empty() {
                    format!(
                        "{slug} has a single SDK secret ({}); nothing to retire",
                        r.live.join("")
                    )
                } else {
                    format!(
                        "retired {} old secret(s) of {slug}: {}; only {} is accepted now",
                        r.retired.len(),
                        r.retired.join(", "),
                        r.live.join("")
                    )
                }
            },
        );
    } else {
        let r = registry
            .rotate_secret(&key, slug.as_str())
            .await
            .map_err(registry_failure)?;
        let Some(added) = r.added else {
            return Err(Failure::from("rotation added no secret"));
        };
        audit(
            &store,
            "app.secret_rotated",
            slug.as_str(),
            json!({"added": added.id, "live": r.live}),
        )
        .await;
        emit(
            cli,
            &json!({"slug": slug, "secret_id": added.id, "secret": added.secret, "live": r.live}),
            || {
                format!(
                    "New SDK secret for {slug} (shown once); the {} older one(s) stay valid:\n  {}\n\
                     Give the app both (SUPPORT_WEBHOOK_SECRET=new,old), then run \
                     `skill keys rotate {slug} --retire-old`.",
                    r.live.len().saturating_sub(1),
                    added.secret
                )
            },
        );
    }
    Ok(())
}

// ── skill doctor ─────────────────────────────────────────────────────────────────────────────

/// Ids that exist in no app, so that probing write methods changes nothing.
const PROBE_USER: &str = "usr_skill_doctor_probe";
const PROBE_PURCHASE: &str = "pur_skill_doctor_probe";

struct Probe {
    action: Action,
    status: MethodStatus,
    latency_ms: u64,
    detail: Option<String>,
}

async fn call<R: DeserializeOwned>(
    client: &IntegrationClient,
    action: Action,
    params: &(impl Serialize + Sync),
) -> (Result<R, ClientError>, u64) {
    let started = Instant::now();
    let result = client.call::<_, R>(action, params).await;
    (result, started.elapsed().as_millis() as u64)
}

fn classify<R>(action: Action, result: Result<R, ClientError>, latency_ms: u64) -> Probe {
    let (status, detail) = match result {
        Ok(_) => (MethodStatus::Implemented, None),
        Err(ClientError::Unsupported(_)) => (MethodStatus::NotImplemented, None),
        Err(ClientError::InvalidResponse { reason, .. }) => {
            (MethodStatus::WrongShape, Some(reason))
        }
        Err(other) => (MethodStatus::Error, Some(other.to_string())),
    };
    Probe {
        action,
        status,
        latency_ms,
        detail,
    }
}

/// A first call that fails like this means the rest cannot work: one line saying what to fix.
fn fatal(url: &str, slug: &str, timeout: Duration, error: &ClientError) -> Option<String> {
    match error {
        ClientError::Transport { source, .. } => Some(format!(
            "cannot reach {url}: {}; is the app running, and is the URL right? (fix it with `skill apps update {slug} --url …`)",
            root_cause(source)
        )),
        ClientError::Timeout { .. } => Some(format!(
            "{url} did not answer within {} ms; is it the app's SDK endpoint, and is the app healthy? (raise --timeout-ms if it is just slow)",
            timeout.as_millis()
        )),
        ClientError::Unauthorized { message, .. } => Some(format!(
            "{url} rejected our signature ({}): the app's SUPPORT_WEBHOOK_SECRET is not a live secret of {slug}; give it the secret from `skill init` or `skill keys rotate {slug}`",
            message.as_deref().unwrap_or("HTTP 401")
        )),
        ClientError::InvalidResponse { status, reason, .. }
            if reason.starts_with("body is not JSON") =>
        {
            Some(format!(
                "{url} answered HTTP {status} with something that is not JSON (an HTML page?): the URL is probably not the SDK handler; fix it with `skill apps update {slug} --url …`"
            ))
        }
        ClientError::Status { status, .. } if matches!(*status, 404 | 405) => Some(format!(
            "{url} answered HTTP {status}: no SDK handler at that path; fix it with `skill apps update {slug} --url …`"
        )),
        ClientError::Config(message) => Some(format!("cannot call {url}: {message}")),
        _ => None,
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn conformance_table(c: &Capabilities) -> String {
    let mut rows: Vec<(&String, &MethodCheck)> = c.methods.iter().collect();
    // Required first, then by the protocol's order.
    rows.sort_by_key(|(name, m)| {
        (
            !m.required,
            Action::from_wire(name)
                .and_then(|a| Action::ALL.iter().position(|x| *x == a))
                .unwrap_or(usize::MAX),
        )
    });
    let mut out = vec![format!(
        "{:<20} {:<9} {:<16} {:>8}  {}",
        "method", "required", "result", "ms", "detail"
    )];
    for (name, m) in rows {
        out.push(format!(
            "{:<20} {:<9} {:<16} {:>8}  {}",
            name,
            if m.required { "yes" } else { "" },
            m.status.as_str(),
            m.latency_ms,
            m.detail.as_deref().unwrap_or("")
        ));
    }
    out.join("\n")
}

pub async fn doctor(cli: &Cli, args: &DoctorArgs) -> Result<(), Failure> {
    let slug = parse_slug(&args.slug)?;
    let email = Email::parse(&args.email).map_err(|e| usage(format!("--email: {e}")))?;
    if args.timeout_ms == 0 {
        return Err(usage("--timeout-ms must be positive"));
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    let settings = load_settings(cli)?;
    let key = master_key(&settings)?;
    let (store, registry) = open_registry(&settings).await?;
    let app = registry
        .require(slug.as_str())
        .await
        .map_err(registry_failure)?;
    let secret = Registry::secrets_of(&key, &app)?
        .pop()
        .ok_or_else(|| Failure::from(format!("{slug} has no SDK secret")))?;
    let url = app.sdk_base_url.clone();
    let client = IntegrationClient::builder(&url, secret.secret)
        .timeout(timeout)
        .retry(RetryPolicy::none())
        .build()
        .map_err(|e| Failure::from(format!("cannot call {url}: {e}")))?;

    // lookupUser first: it tells whether the endpoint works at all.
    let (first, ms) = call::<Option<User>>(
        &client,
        Action::LookupUser,
        &json!({"email": email.as_str()}),
    )
    .await;
    if let Err(e) = &first
        && let Some(message) = fatal(&url, slug.as_str(), timeout, e)
    {
        return Err(Failure {
            code: exit::FAILED,
            message: format!("{slug}: {message}"),
        });
    }
    let user_id = match &first {
        Ok(Some(user)) => user.id.clone(),
        _ => PROBE_USER.to_owned(),
    };
    let mut probes = vec![classify(Action::LookupUser, first, ms)];
    macro_rules! probe {
        ($action:expr, $ty:ty, $params:expr) => {{
            let (result, ms) = call::<$ty>(&client, $action, &$params).await;
            probes.push(classify($action, result, ms));
        }};
    }
    probe!(
        Action::GetPurchases,
        Vec<Purchase>,
        json!({"userId": user_id})
    );
    probe!(
        Action::RevokeAccess,
        ActionResult,
        RevokeAccessParams {
            purchase_id: PROBE_PURCHASE.into(),
            reason: "skill doctor conformance probe (no such purchase)".into(),
            refund_id: "re_skill_doctor_probe".into(),
        }
    );
    probe!(
        Action::TransferPurchase,
        ActionResult,
        TransferPurchaseParams {
            purchase_id: PROBE_PURCHASE.into(),
            from_user_id: PROBE_USER.into(),
            to_email: email.to_string(),
        }
    );
    probe!(
        Action::GenerateMagicLink,
        MagicLink,
        GenerateMagicLinkParams {
            email: email.to_string(),
            expires_in: 60,
        }
    );
    probe!(
        Action::GetSubscriptions,
        Vec<Subscription>,
        json!({"userId": user_id})
    );
    probe!(
        Action::UpdateEmail,
        ActionResult,
        UpdateEmailParams {
            user_id: PROBE_USER.into(),
            new_email: email.to_string(),
        }
    );
    probe!(
        Action::UpdateName,
        ActionResult,
        UpdateNameParams {
            user_id: PROBE_USER.into(),
            new_name: "Doctor Probe".into(),
        }
    );
    probe!(
        Action::GetClaimedSeats,
        Vec<ClaimedSeat>,
        json!({"bulkCouponId": "bulk_skill_doctor_probe"})
    );
    probe!(
        Action::SearchContent,
        ContentSearchResponse,
        ContentSearchRequest {
            query: "getting started".into(),
            limit: Some(3),
            ..Default::default()
        }
    );
    probe!(
        Action::GetProductStatus,
        Option<ProductStatus>,
        json!({"productId": "prod_skill_doctor_probe"})
    );
    probe!(Action::GetActivePromotions, Vec<Promotion>, json!({}));
    probe!(
        Action::GetCouponInfo,
        Option<CouponInfo>,
        json!({"code": "SKILL-DOCTOR-PROBE"})
    );
    probe!(Action::GetRefundPolicy, RefundPolicy, json!({}));
    probe!(
        Action::GetContentAccess,
        ContentAccess,
        json!({"userId": user_id})
    );
    probe!(
        Action::GetRecentActivity,
        UserActivity,
        json!({"userId": user_id})
    );
    probe!(
        Action::GetLicenseInfo,
        Option<LicenseInfo>,
        json!({"purchaseId": PROBE_PURCHASE})
    );
    probe!(Action::GetAppInfo, AppInfo, json!({}));

    let capabilities = Capabilities {
        checked_at: now_ms(),
        endpoint: url.clone(),
        methods: probes
            .iter()
            .map(|p| {
                (
                    p.action.as_str().to_owned(),
                    MethodCheck {
                        status: p.status,
                        required: p.action.is_required(),
                        latency_ms: p.latency_ms,
                        detail: p.detail.clone(),
                    },
                )
            })
            .collect(),
    };
    registry
        .set_capabilities(slug.as_str(), &capabilities)
        .await
        .map_err(registry_failure)?;
    let conformant = capabilities.conformant();
    audit(
        &store,
        "app.doctor",
        slug.as_str(),
        json!({"endpoint": url, "conformant": conformant,
               "implemented": probes.iter().filter(|p| p.status == MethodStatus::Implemented).map(|p| p.action.as_str()).collect::<Vec<_>>()}),
    )
    .await;
    let implemented = probes
        .iter()
        .filter(|p| p.status == MethodStatus::Implemented)
        .count();
    emit(
        cli,
        &json!({"slug": slug, "endpoint": url, "conformant": conformant,
                "implemented": implemented, "total": probes.len(),
                "methods": probes.iter().map(|p| json!({
                    "method": p.action.as_str(), "required": p.action.is_required(),
                    "status": p.status.as_str(), "latency_ms": p.latency_ms, "detail": p.detail,
                })).collect::<Vec<_>>()}),
        || {
            format!(
                "{slug} at {url}\n\n{}\n\n{implemented}/{} methods implemented; {}",
                conformance_table(&capabilities),
                probes.len(),
                if conformant {
                    "conformant. Capabilities saved."
                } else {
                    "NOT conformant: every required method must be implemented and no method may err. Capabilities saved."
                }
            )
        },
    );
    if conformant {
        Ok(())
    } else {
        Err(Failure {
            code: exit::CHECK_FAILED,
            message: format!(
                "{slug}: {} method(s) not conformant (see the table)",
                probes
                    .iter()
                    .filter(|p| match p.status {
                        MethodStatus::Implemented => false,
                        MethodStatus::NotImplemented => p.action.is_required(),
                        _ => true,
                    })
                    .count()
            ),
        })
    }
}

// ── skill health: integrations ───────────────────────────────────────────────────────────────

/// Whether an app's SDK endpoint answers like an SDK handler: an unsigned POST must get
/// `401 {"error": …}`. Needs no secret.
pub async fn check_integration(http: &reqwest::Client, app: &AppRow) -> Value {
    let started = Instant::now();
    let result = http
        .post(&app.sdk_base_url)
        .header("content-type", "application/json")
        .body("{}")
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, detail) = match result {
        Err(e) if e.is_timeout() => (false, "no answer within 3 s".to_owned()),
        Err(e) => (false, format!("unreachable: {}", root_cause(&e))),
        Ok(res) => {
            let status = res.status().as_u16();
            let body: Option<Value> = res.json().await.ok();
            if status == 401 && body.as_ref().is_some_and(|b| b.get("error").is_some()) {
                (true, "reachable, SDK handler answers".to_owned())
            } else {
                (
                    false,
                    format!("answers HTTP {status} without an SDK error body: not an SDK handler?"),
                )
            }
        }
    };
    json!({"slug": app.slug, "url": app.sdk_base_url, "ok": ok, "latency_ms": latency_ms,
           "detail": detail, "capabilities": Capabilities::from_row(app).map(|c| c.conformant())})
}
