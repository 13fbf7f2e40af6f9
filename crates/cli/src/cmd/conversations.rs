//! `skill conversations list|show`.

use super::context::{Failure, emit, exit, load_settings, open_db};
use crate::args::{Cli, ConversationsCmd};
use serde_json::json;
use support_core::store::prelude::*;

pub(crate) async fn run(cli: &Cli, cmd: &ConversationsCmd) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    let db = open_db(&s).await?;
    match cmd {
        ConversationsCmd::List { app, limit } => {
            let items = db
                .list_conversations(app.as_deref(), (*limit).clamp(1, 1000))
                .await?;
            emit(cli, &json!({"items": items}), || {
                if items.is_empty() {
                    return "no conversations yet".to_string();
                }
                items
                    .iter()
                    .map(|c| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            c.front_id,
                            c.app.as_deref().unwrap_or("-"),
                            c.status,
                            c.escalation.as_deref().unwrap_or("-"),
                            c.subject.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        ConversationsCmd::Show { front_id } => {
            let Some(c) = db.get_conversation(front_id).await? else {
                return Err(Failure {
                    code: exit::FAILED,
                    message: format!("no conversation {front_id}"),
                });
            };
            let messages = db.list_messages(front_id).await?;
            let actions = db.list_actions(front_id).await?;
            let audit = db
                .list_audit(&support_core::store::AuditFilter {
                    conversation_id: Some(front_id.clone()),
                    limit: 1000,
                    ..Default::default()
                })
                .await?;
            let v = json!({"conversation": c, "messages": messages, "actions": actions, "audit": audit});
            emit(cli, &v, || {
                let mut out = vec![format!(
                    "{} [{}] {} — {}{}",
                    c.front_id,
                    c.app.as_deref().unwrap_or("-"),
                    c.status,
                    c.subject.as_deref().unwrap_or(""),
                    c.escalation
                        .as_ref()
                        .map(|e| format!(" (escalated: {e})"))
                        .unwrap_or_default()
                )];
                for m in &messages {
                    out.push(format!(
                        "  {} {}: {}",
                        m.direction,
                        m.author.as_deref().unwrap_or("?"),
                        m.body
                            .as_deref()
                            .unwrap_or("[purged]")
                            .lines()
                            .next()
                            .unwrap_or("")
                    ));
                }
                for a in &actions {
                    out.push(format!("  action {} {} [{}]", a.id, a.kind, a.status));
                }
                for r in &audit {
                    out.push(format!("  #{} {} {}", r.seq, r.kind, r.data));
                }
                out.join("\n")
            });
            Ok(())
        }
    }
}
