//! `skill keys rotate`: SDK secrets, rotated without downtime.

use super::context::{
    Failure, audit, emit, load_settings, master_key, open_registry, parse_slug, registry_failure,
};
use crate::args::{Cli, KeysCmd};
use serde_json::json;

// ── skill keys ───────────────────────────────────────────────────────────────────────────────

pub(crate) async fn run(cli: &Cli, cmd: &KeysCmd) -> Result<(), Failure> {
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
