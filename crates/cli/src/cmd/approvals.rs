//! `skill approvals list|approve|reject|edit`: decide on pending approvals from the terminal.
//! Talks to the database like the other commands; decisions go through the same decision
//! function as the dashboard and Slack, and their events reach the runner through the embedded
//! executor's event table (or Inngest's event API with `runner = "inngest"`).

use super::context::{Failure, cli_actor, emit, event_sink, exit, load_settings, open_db, usage};
use crate::args::{ApprovalsCmd, Cli};
use serde_json::{Value, json};
use std::sync::Arc;
use support_core::crypto::MasterKey;
use support_core::decision::{Decision, Verdict};
use support_core::store::{ApprovalStatus, Store};
use support_core::time::now_ms;

pub async fn run(cli: &Cli, cmd: &ApprovalsCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let store: Arc<dyn Store> = Arc::new(db.clone());
    let (id, verdict, reason, amount_cents, draft, as_user) = match cmd {
        ApprovalsCmd::List { status } => {
            let filter = (status != "all")
                .then(|| ApprovalStatus::parse(status))
                .transpose()
                .map_err(|_| {
                    usage("--status must be pending, approved, rejected, expired or all")
                })?;
            let mut items = Vec::new();
            for a in store.list_approvals(filter).await? {
                items.push(
                    support_web::approvals::approval_json(store.as_ref(), &a)
                        .await
                        .map_err(|e| Failure::from(e.to_string()))?,
                );
            }
            let v = json!({"items": items});
            emit(cli, &v, || {
                if items.is_empty() {
                    return "no approvals".into();
                }
                items
                    .iter()
                    .map(|i| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            i["id"].as_str().unwrap_or_default(),
                            i["status"].as_str().unwrap_or_default(),
                            i["app"].as_str().unwrap_or_default(),
                            i["action"]["kind"].as_str().unwrap_or_default(),
                            i["amount_cents"]
                                .as_i64()
                                .map(|a| support_core::approvals::format_money(
                                    a,
                                    i["currency"].as_str()
                                ))
                                .unwrap_or_default(),
                            i["action"]["reasoning"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            return Ok(());
        }
        ApprovalsCmd::Approve {
            id,
            reason,
            as_user,
        } => (id, Verdict::Approve, reason.clone(), None, None, as_user),
        ApprovalsCmd::Reject {
            id,
            reason,
            as_user,
        } => {
            if reason.trim().is_empty() {
                return Err(usage("--reason must not be empty"));
            }
            (
                id,
                Verdict::Reject,
                Some(reason.clone()),
                None,
                None,
                as_user,
            )
        }
        ApprovalsCmd::Edit {
            id,
            amount_cents,
            draft,
            reason,
            as_user,
        } => (
            id,
            Verdict::Edit,
            reason.clone(),
            *amount_cents,
            draft.clone(),
            as_user,
        ),
    };
    // `--as`: the user the vote counts as (checked again, with their role, by the decision).
    let user_id = match as_user {
        Some(email) => {
            let email = support_core::ids::Email::parse(email).map_err(|e| usage(e.to_string()))?;
            let u = store
                .get_user_by_email(email.as_str())
                .await?
                .ok_or_else(|| usage(format!("--as: no user {}", email.as_str())))?;
            Some(u.id)
        }
        None => None,
    };
    let key = match &settings.master_key {
        Some(k) => MasterKey::from_base64(k.expose()).map_err(|e| usage(e.to_string()))?,
        // `skill dev --demo` keeps its generated key in DATA_DIR/master.key.
        None if settings.data_dir.join("master.key").is_file() => {
            support_host::demo::demo_master_key(&settings.data_dir)
                .map_err(|e| usage(format!("master_key: {e}")))?
        }
        None => {
            return Err(usage(
                "master_key is required to sign the approval (SUPPORT_MASTER_KEY)",
            ));
        }
    };
    let events = event_sink(&settings, &db)?;
    let approver = cli_actor();
    let d = Decision {
        id: id.clone(),
        verdict,
        principal: support_core::auth::Principal::Cli {
            os_user: approver.trim_start_matches("cli:").to_string(),
            user_id,
        },
        approver,
        claimed_actor: None,
        reason,
        channel: support_core::store::DecisionChannel::Cli,
        params: None,
        draft,
        amount_cents,
    };
    let outcome = support_core::decision::decide(
        support_core::decision::DecisionDeps {
            store: store.as_ref(),
            events: events.as_ref(),
            key: &key,
        },
        &d,
        now_ms(),
    )
    .await
    .map_err(|e| Failure {
        code: exit::FAILED,
        message: format!("{} ({})", e, e.code()),
    })?;
    let v: Value = support_web::approvals::outcome_json(&outcome);
    emit(cli, &v, || {
        format!(
            "{} {}: {}",
            v["approval_id"].as_str().unwrap_or_default(),
            v["decision"].as_str().unwrap_or_default(),
            v["approvers"]
        )
    });
    Ok(())
}
