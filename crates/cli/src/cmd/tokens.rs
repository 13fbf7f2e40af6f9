//! `skill tokens create|list|revoke`: API tokens for /api/v1 (shown once, stored hashed).

use super::context::{Failure, emit, exit, load_settings, open_db, usage};
use crate::args::{Cli, TokensCmd};
use serde_json::json;
use support_core::auth::Role;
use support_core::store::prelude::*;
use support_core::time::now_ms;

pub(crate) async fn run(cli: &Cli, cmd: &TokensCmd) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    match cmd {
        TokensCmd::Create { name, role, user } => {
            let role = Role::parse(role).map_err(|e| usage(e.to_string()))?;
            let name = name.trim();
            if name.is_empty() || name.len() > 64 {
                return Err(usage("--name must be 1-64 characters"));
            }
            let db = open_db(&s).await?;
            let (minted, mut row) = support_web::api::new_token_row(name, role, String::new());
            let owner = match user {
                Some(email) => {
                    let email =
                        support_core::ids::Email::parse(email).map_err(|e| usage(e.to_string()))?;
                    let u = db
                        .get_user_by_email(email.as_str())
                        .await?
                        .filter(|u| u.is_active())
                        .ok_or_else(|| usage(format!("no active user {}", email.as_str())))?;
                    if !u.role.allows(role) {
                        return Err(usage(format!(
                            "a {} token cannot belong to {}, whose role is {}",
                            role.as_str(),
                            u.email,
                            u.role.as_str()
                        )));
                    }
                    u
                }
                None => {
                    let u = support_web::api::own_token_user(&row);
                    db.insert_user(&u).await?;
                    u
                }
            };
            row.user_id = owner.id.clone();
            let id = row.id.clone();
            db.insert_api_token(&row).await?;
            db.append_audit(&support_core::audit::AuditEvent::new(
                "token.created",
                "cli",
                json!({"id": id, "name": name, "role": role, "user_id": owner.id}),
            ))
            .await?;
            emit(
                cli,
                &json!({"id": id, "name": name, "role": role, "user_id": owner.id, "user": owner.email, "token": minted.plaintext}),
                || {
                    format!(
                        "Created {role:?} token {name} ({id}) for {}. Store it now; it is not shown again:\n{}",
                        owner.email, minted.plaintext
                    )
                },
            );
            Ok(())
        }
        TokensCmd::List => {
            let db = open_db(&s).await?;
            let items = db.list_api_tokens().await?;
            let v = json!({"items": items.iter().map(|t| json!({"id": t.id, "name": t.name, "role": t.role, "user_id": t.user_id, "created_at": t.created_at, "revoked_at": t.revoked_at})).collect::<Vec<_>>()});
            emit(cli, &v, || {
                items
                    .iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\t{}{}",
                            t.id,
                            t.name,
                            t.role.as_str(),
                            t.user_id,
                            if t.revoked_at.is_some() {
                                "\trevoked"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        TokensCmd::Revoke { id } => {
            let db = open_db(&s).await?;
            if !db.revoke_api_token(id, now_ms()).await? {
                return Err(Failure {
                    code: exit::FAILED,
                    message: format!("no active token {id}"),
                });
            }
            db.append_audit(&support_core::audit::AuditEvent::new(
                "token.revoked",
                "cli",
                json!({"id": id}),
            ))
            .await?;
            emit(cli, &json!({"revoked": id}), || format!("revoked {id}"));
            Ok(())
        }
    }
}
