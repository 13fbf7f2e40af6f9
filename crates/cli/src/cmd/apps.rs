//! `skill apps list|show|update|remove|connect-stripe`: registered apps.

use super::context::{
    Failure, age, audit, emit, interactive, load_settings, master_key, open_registry, parse_slug,
    prompt, registry_failure, usage,
};
use super::doctor::conformance_table;
use super::init::{check_inboxes, check_url};
use crate::args::{AppsCmd, Cli, UpdateArgs};
use serde_json::{Value, json};
use support_core::registry::{self, AppPatch, Capabilities, MethodStatus, Registry, RegistryError};
use support_core::settings::Settings;
use support_core::store::AppRow;
use support_core::time::now_ms;

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

pub(crate) async fn run(cli: &Cli, cmd: &AppsCmd) -> Result<(), Failure> {
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
