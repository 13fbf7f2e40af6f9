//! `skill init`: register a product, generate its SDK secret (shown once) and scaffold an
//! integration from the templates in `crates/cli/templates/`.
//!
//! Input is validated before anything is written; a registry change is one transaction, and
//! `init` removes the app again if its scaffold cannot be written, so a failed command leaves
//! nothing half-written.

use super::context::{
    Failure, audit, emit, exit, interactive, load_settings, master_key, open_registry, parse_slug,
    prompt, registry_failure, usage,
};
use crate::args::{Cli, InitArgs, ScaffoldKind};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support_core::AppSlug;
use support_core::registry::{self, AppPolicy, NewApp};

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

// ── skill init ───────────────────────────────────────────────────────────────────────────────

struct InitValues {
    name: String,
    slug: AppSlug,
    inboxes: Vec<String>,
    url: String,
    scaffold: Option<ScaffoldKind>,
}

pub(crate) fn check_inboxes(raw: &[String]) -> Result<Vec<String>, String> {
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

pub(crate) fn check_url(url: &str) -> Result<String, String> {
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

pub(crate) async fn run(cli: &Cli, args: &InitArgs) -> Result<(), Failure> {
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

const RUST_CARGO_TOML: &str = include_str!("../../templates/rust/Cargo.toml.tmpl");

const RUST_LIB: &str = include_str!("../../templates/rust/lib.rs.tmpl");

const TS_MODULE: &str = include_str!("../../templates/ts/support.ts.tmpl");
