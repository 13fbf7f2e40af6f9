//! `skill sla list|show|set|rm`: SLA policies and business-hours schedules, written through
//! `support_core::sla::admin` (validated and audited, the API's and the dashboard's path).
//! `skill sla priority CONVERSATION PRIORITY` sets a conversation's priority by hand
//! (`admin::set_priority`; the clock's re-evaluation goes to the runner like the CLI's other
//! events).
//! `set` reads a whole policy or schedule from `--file` (TOML, or JSON for `.json`) or builds
//! it from flags. A refusal exits 1 with its stable code (`invalid_sla: …`).

use super::context::{Failure, cli_actor, emit, event_sink, load_settings, open_db, usage};
use crate::args::{Cli, SlaCmd, SlaKind, SlaSetArgs};
use serde_json::{Value, json};
use support_core::sla::admin::{self, AdminError};
use support_core::sla::{Conditions, Hours, Priority, Schedule, SlaPolicy, Target};
use support_core::store::{SlaStore, Store};
use support_core::time::now_ms;

fn refused(e: AdminError) -> Failure {
    Failure::from(format!("{}: {e}", e.code()))
}

fn need_app(app: &Option<String>) -> Result<&str, Failure> {
    app.as_deref().ok_or_else(|| usage("a policy needs --app"))
}

pub(crate) async fn run(cli: &Cli, cmd: &SlaCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let store: &dyn Store = &db;
    match cmd {
        SlaCmd::List { app } => {
            let policies = db.list_sla_policies(app.as_deref()).await?;
            let schedules = db.list_sla_schedules().await?;
            emit(
                cli,
                &json!({"policies": policies, "schedules": schedules}),
                || list_text(&policies, &schedules),
            );
        }
        SlaCmd::Show { kind, id, app } => {
            let v: Value = match kind {
                SlaKind::Policy => {
                    let app = need_app(app)?;
                    let p = db
                        .get_sla_policy(app, id)
                        .await?
                        .ok_or_else(|| Failure::from(format!("not_found: policy {app}/{id}")))?;
                    serde_json::to_value(p)?
                }
                SlaKind::Schedule => {
                    let s = db
                        .get_sla_schedule(id)
                        .await?
                        .ok_or_else(|| Failure::from(format!("not_found: schedule {id}")))?;
                    serde_json::to_value(s)?
                }
            };
            emit(cli, &v, || {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            });
        }
        SlaCmd::Set(args) => {
            let actor = cli_actor();
            let v = match args.kind {
                SlaKind::Policy => {
                    let p = policy_from(args)?;
                    serde_json::to_value(
                        admin::put_policy(store, p, &actor, now_ms())
                            .await
                            .map_err(refused)?,
                    )?
                }
                SlaKind::Schedule => {
                    let s = schedule_from(args)?;
                    serde_json::to_value(
                        admin::put_schedule(store, s, &actor, now_ms())
                            .await
                            .map_err(refused)?,
                    )?
                }
            };
            emit(cli, &v, || {
                format!(
                    "saved {} {}",
                    match args.kind {
                        SlaKind::Policy => "policy",
                        SlaKind::Schedule => "schedule",
                    },
                    v["id"].as_str().unwrap_or_default()
                )
            });
        }
        SlaCmd::Rm { kind, id, app } => {
            let actor = cli_actor();
            match kind {
                SlaKind::Policy => admin::remove_policy(store, need_app(app)?, id, &actor)
                    .await
                    .map_err(refused)?,
                SlaKind::Schedule => admin::remove_schedule(store, id, &actor)
                    .await
                    .map_err(refused)?,
            }
            emit(cli, &json!({"removed": id}), || format!("removed {id}"));
        }
        SlaCmd::Priority {
            conversation,
            priority,
        } => {
            let events = event_sink(&settings, &db)?;
            let set = admin::set_priority(
                store,
                events.as_ref(),
                conversation,
                priority,
                &cli_actor(),
                now_ms(),
            )
            .await
            .map_err(refused)?;
            let v = serde_json::to_value(&set)?;
            emit(cli, &v, || {
                format!(
                    "{} priority {} (was {}), set by {}; the SLA clock is re-evaluated (event {})",
                    set.conversation_id,
                    set.priority,
                    set.previous.map_or("unset", |p| p.as_str()),
                    set.set_by,
                    set.event_id
                )
            });
        }
    }
    Ok(())
}

fn list_text(policies: &[SlaPolicy], schedules: &[Schedule]) -> String {
    let mut out = String::from("policies\n");
    if policies.is_empty() {
        out.push_str("  none\n");
    }
    let t = |t: &Option<Target>| match t {
        Some(t) => format!(
            "{}m{}",
            t.minutes,
            if t.business_hours { " (bh)" } else { "" }
        ),
        None => "-".into(),
    };
    for p in policies {
        out.push_str(&format!(
            "  {:<16} {:<16} #{:<3} first {:<10} next {:<10} resolve {:<10} {}\n",
            p.app,
            p.id,
            p.position,
            t(&p.first_reply),
            t(&p.next_reply),
            t(&p.resolution),
            serde_json::to_string(&p.conditions).unwrap_or_default()
        ));
    }
    out.push_str("schedules\n");
    if schedules.is_empty() {
        out.push_str("  none\n");
    }
    for s in schedules {
        out.push_str(&format!(
            "  {:<16} {:<20} {} intervals, {} holidays\n",
            s.id,
            s.timezone,
            s.hours.len(),
            s.holidays.len()
        ));
    }
    out.trim_end().to_string()
}

fn read_file<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
    } else {
        toml::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
    }
}

fn policy_from(a: &SlaSetArgs) -> Result<SlaPolicy, Failure> {
    if let Some(path) = &a.file {
        return read_file(path);
    }
    let id = a.id.clone().ok_or_else(|| usage("--id is required"))?;
    let priority = a
        .priority
        .iter()
        .map(|p| Priority::parse(p).ok_or_else(|| usage(format!("unknown priority {p:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let target = |m: Option<u32>| {
        m.map(|minutes| Target {
            minutes,
            business_hours: a.business_hours,
            warn_before_minutes: a.warn_before,
        })
    };
    Ok(SlaPolicy {
        app: need_app(&a.app)?.to_string(),
        name: a.name.clone().unwrap_or_else(|| id.clone()),
        id,
        position: a.position,
        conditions: Conditions {
            priority,
            category: a.category.clone(),
            tag: a.tag.clone(),
            escalated: a.escalated,
        },
        first_reply: target(a.first_reply),
        next_reply: target(a.next_reply),
        resolution: target(a.resolution),
        schedule: a.schedule.clone(),
        pause_when_waiting: !a.no_pause,
        updated_at: 0,
        updated_by: String::new(),
    })
}

fn schedule_from(a: &SlaSetArgs) -> Result<Schedule, Failure> {
    if let Some(path) = &a.file {
        return read_file(path);
    }
    let id = a.id.clone().ok_or_else(|| usage("--id is required"))?;
    let mut hours = Vec::new();
    for h in &a.hours {
        hours.extend(Hours::parse_spec(h).map_err(|e| usage(e.to_string()))?);
    }
    Ok(Schedule {
        name: a.name.clone().unwrap_or_else(|| id.clone()),
        id,
        timezone: a
            .timezone
            .clone()
            .ok_or_else(|| usage("--timezone is required"))?,
        hours,
        holidays: a.holiday.clone(),
        updated_at: 0,
        updated_by: String::new(),
    })
}
