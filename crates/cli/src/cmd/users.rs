//! `skill users create|list|set-role|deactivate|reset-password|link-slack|unlink-slack`: the
//! people approvals are counted by. API tokens belong to users (`skill tokens create --user`),
//! and a Slack user id counts only once it is linked to a user here: an unlinked Slack user's
//! clicks are refused (`approver_not_linked`). Every change is audited (`user.*`).

use super::context::{Failure, cli_actor, emit, exit, load_settings, open_db, usage};
use crate::args::{Cli, UsersCmd};
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::{self, Role};
use support_core::ids::{Email, new_id};
use support_core::store::{Store, StoreError, UserRow};
use support_core::time::now_ms;

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: exit::FAILED,
        message: message.into(),
    }
}

fn parse_email(s: &str) -> Result<Email, Failure> {
    Email::parse(s).map_err(|e| usage(e.to_string()))
}

async fn user_by_email(db: &dyn Store, email: &str) -> Result<UserRow, Failure> {
    let email = parse_email(email)?;
    db.get_user_by_email(email.as_str())
        .await?
        .ok_or_else(|| failed(format!("no user {}", email.as_str())))
}

/// The user as `list` and the JSON output show it (never the password hash).
pub fn user_json(u: &UserRow) -> Value {
    json!({"id": u.id, "email": u.email, "name": u.name, "role": u.role,
           "slack_user_id": u.slack_user_id, "active": u.is_active(),
           "deactivated_at": u.deactivated_at, "created_at": u.created_at,
           "has_password": u.password_hash.is_some()})
}

async fn audit(db: &dyn Store, kind: &str, data: Value) -> Result<(), Failure> {
    db.append_audit(&AuditEvent::new(kind, cli_actor(), data))
        .await?;
    Ok(())
}

/// Refuse to leave no active admin.
async fn keeps_an_admin(db: &dyn Store, leaving: &UserRow) -> Result<(), Failure> {
    if leaving.role != Role::Admin || !leaving.is_active() {
        return Ok(());
    }
    if support_core::store::is_last_active_admin(&db.list_users().await?, leaving) {
        return Err(failed(format!(
            "{} is the last active admin; make another admin first",
            leaving.email
        )));
    }
    Ok(())
}

pub async fn run(cli: &Cli, cmd: &UsersCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let db: &dyn Store = &db;
    match cmd {
        UsersCmd::Create { email, role, name } => {
            let email = parse_email(email)?;
            let role = Role::parse(role).map_err(|e| usage(e.to_string()))?;
            let name = name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            let u = UserRow {
                id: new_id("usr"),
                email: email.as_str().to_string(),
                name,
                role,
                password_hash: None,
                slack_user_id: None,
                created_at: now_ms(),
                deactivated_at: None,
            };
            db.insert_user(&u).await.map_err(|e| match e {
                StoreError::Conflict(_) => failed(format!("a user {} exists already", u.email)),
                other => Failure::from(other),
            })?;
            audit(
                db,
                "user.created",
                json!({"user_id": u.id, "email": u.email, "role": role}),
            )
            .await?;
            emit(cli, &user_json(&u), || {
                format!("created {} user {} ({})", role.as_str(), u.email, u.id)
            });
        }
        UsersCmd::List => {
            let users = db.list_users().await?;
            let v = json!({"items": users.iter().map(user_json).collect::<Vec<_>>()});
            emit(cli, &v, || {
                if users.is_empty() {
                    return "no users".into();
                }
                users
                    .iter()
                    .map(|u| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            u.id,
                            u.email,
                            u.role.as_str(),
                            u.slack_user_id
                                .as_deref()
                                .map(|s| format!("slack:{s}"))
                                .unwrap_or_else(|| "-".into()),
                            if u.is_active() {
                                "active"
                            } else {
                                "deactivated"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UsersCmd::SetRole { email, role } => {
            let role = Role::parse(role).map_err(|e| usage(e.to_string()))?;
            let u = user_by_email(db, email).await?;
            if role != Role::Admin {
                keeps_an_admin(db, &u).await?;
            }
            db.set_user_role(&u.id, role).await?;
            audit(
                db,
                "user.role_changed",
                json!({"user_id": u.id, "email": u.email, "from": u.role, "to": role}),
            )
            .await?;
            emit(
                cli,
                &json!({"user_id": u.id, "email": u.email, "role": role}),
                || format!("{} is now {}", u.email, role.as_str()),
            );
        }
        UsersCmd::Deactivate { email } => {
            let u = user_by_email(db, email).await?;
            if !u.is_active() {
                return Err(failed(format!("{} is already deactivated", u.email)));
            }
            keeps_an_admin(db, &u).await?;
            db.deactivate_user(&u.id, now_ms()).await?;
            audit(
                db,
                "user.deactivated",
                json!({"user_id": u.id, "email": u.email}),
            )
            .await?;
            emit(
                cli,
                &json!({"user_id": u.id, "email": u.email, "active": false}),
                || {
                    format!(
                        "deactivated {}: their tokens stop working, their Slack clicks are refused",
                        u.email
                    )
                },
            );
        }
        UsersCmd::ResetPassword { email } => {
            let u = user_by_email(db, email).await?;
            let password = support_core::crypto::random_token("", 18);
            let hash = auth::hash_password(&password).map_err(failed)?;
            db.set_user_password(&u.id, &hash).await?;
            audit(
                db,
                "user.password_reset",
                json!({"user_id": u.id, "email": u.email}),
            )
            .await?;
            emit(
                cli,
                &json!({"user_id": u.id, "email": u.email, "password": password}),
                || {
                    format!(
                        "new password for {}. Store it now; it is not shown again:\n{password}",
                        u.email
                    )
                },
            );
        }
        UsersCmd::LinkSlack {
            email,
            slack_user_id,
        } => {
            let slack = slack_user_id.trim();
            let slack = slack.strip_prefix("slack:").unwrap_or(slack);
            if !auth::is_slack_user_id(slack) {
                return Err(usage(format!(
                    "{slack_user_id:?} is not a Slack user id (like U012AB3CD: Slack profile, More, Copy member ID)"
                )));
            }
            let u = user_by_email(db, email).await?;
            if let Some(other) = db.find_user_by_slack_id(slack).await?
                && other.id != u.id
            {
                return Err(failed(format!(
                    "Slack user {slack} is linked to {} already; unlink it there first",
                    other.email
                )));
            }
            db.set_user_slack_id(&u.id, Some(slack)).await?;
            audit(
                db,
                "user.slack_linked",
                json!({"user_id": u.id, "email": u.email, "slack_user_id": slack,
                       "previous": u.slack_user_id}),
            )
            .await?;
            emit(
                cli,
                &json!({"user_id": u.id, "email": u.email, "slack_user_id": slack}),
                || format!("linked Slack user {slack} to {}", u.email),
            );
        }
        UsersCmd::UnlinkSlack { email } => {
            let u = user_by_email(db, email).await?;
            let Some(previous) = u.slack_user_id.clone() else {
                return Err(failed(format!("{} has no linked Slack user", u.email)));
            };
            db.set_user_slack_id(&u.id, None).await?;
            audit(
                db,
                "user.slack_unlinked",
                json!({"user_id": u.id, "email": u.email, "slack_user_id": previous}),
            )
            .await?;
            emit(
                cli,
                &json!({"user_id": u.id, "email": u.email, "slack_user_id": null}),
                || format!("unlinked Slack user {previous} from {}", u.email),
            );
        }
    }
    Ok(())
}
