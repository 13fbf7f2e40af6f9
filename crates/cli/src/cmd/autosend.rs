//! `skill autosend on|off|status|mode|promote|simulate`: automatic sending per app ×
//! category (`support_workflow::autosend`), the kill switches, and the simulated month.

use super::context::{Failure, cli_actor, emit, exit, load_settings, open_db, usage};
use crate::args::{AutosendCmd, Cli};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use support_core::autosend::{Mode, evaluate, simulate};
use support_core::registry::{AppLlm, policy_of};
use support_core::store::Store;
use support_core::time::now_ms;
use support_workflow::autosend as auto;

fn llm_defaults(settings: &support_core::Settings) -> AppLlm {
    AppLlm {
        classifier: settings.llm.classifier.clone(),
        agent: settings.llm.agent.clone(),
    }
}

pub(crate) async fn run(cli: &Cli, cmd: &AutosendCmd) -> Result<(), Failure> {
    if let AutosendCmd::Simulate {
        dirs,
        days,
        bad_outcome_rate,
        seed,
    } = cmd
    {
        return simulate_month(cli, dirs, *days, *bad_outcome_rate, *seed).await;
    }
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let store: Arc<dyn Store> = Arc::new(db.clone());
    let registry = support_host::host::shared_registry(&settings, store.clone()).await;
    let fail = |e: support_core::store::StoreError| Failure {
        code: exit::FAILED,
        message: e.to_string(),
    };
    match cmd {
        AutosendCmd::On { app } | AutosendCmd::Off { app, .. } => {
            let on = matches!(cmd, AutosendCmd::On { .. });
            let reason = match cmd {
                AutosendCmd::Off { reason, .. } => reason.clone(),
                _ => None,
            };
            if let Some(slug) = app {
                registry
                    .require(slug)
                    .await
                    .map_err(|e| usage(e.to_string()))?;
            }
            let scope = app.as_deref().unwrap_or(auto::GLOBAL);
            auto::set_switch(store.as_ref(), scope, on, reason, &cli_actor())
                .await
                .map_err(fail)?;
            emit(cli, &json!({"scope": scope, "enabled": on}), || {
                format!(
                    "automatic sending {} {}",
                    if on { "on" } else { "OFF" },
                    app.as_deref()
                        .map(|a| format!("for {a}"))
                        .unwrap_or_else(|| "everywhere".into())
                )
            });
            Ok(())
        }
        AutosendCmd::Status { app } => {
            let mut rows = Vec::new();
            for a in registry.list().await.map_err(|e| usage(e.to_string()))? {
                if app.as_ref().is_some_and(|x| *x != a.slug) {
                    continue;
                }
                let policy = policy_of(&a).unwrap_or_default();
                let mut categories: BTreeSet<String> = policy.auto_send.iter().cloned().collect();
                categories.extend(
                    store
                        .list_modes(Some(&a.slug))
                        .await
                        .map_err(fail)?
                        .into_iter()
                        .map(|m| m.category),
                );
                for c in categories {
                    let facts = auto::category_facts(
                        store.as_ref(),
                        &a.slug,
                        &c,
                        &policy,
                        &llm_defaults(&settings),
                        &settings.autosend,
                        now_ms(),
                    )
                    .await
                    .map_err(fail)?;
                    let mode = store.get_mode(&a.slug, &c).await.map_err(fail)?;
                    let mut as_auto = facts.clone();
                    as_auto.mode = Mode::Auto;
                    let report = evaluate(&as_auto);
                    rows.push(json!({
                        "app": a.slug, "category": c, "mode": facts.mode,
                        "trust": facts.trust, "effective_samples": facts.effective_samples,
                        "certificate": facts.certificate.as_ref().map(|x| json!({
                            "passed": x.passed, "current": x.inputs_hash == facts.inputs_hash})),
                        "gate_holds": report.allowed, "failing": report.failed(),
                        "last_demotion": mode.as_ref().and_then(|m| m.demoted_at),
                        "demotion_reason": mode.and_then(|m| m.demotion_reason),
                    }));
                }
            }
            let switches = store.list_switches().await.map_err(fail)?;
            let value = json!({"categories": rows, "switches": switches});
            emit(cli, &value, || status_text(&rows, &switches));
            Ok(())
        }
        AutosendCmd::Mode {
            app,
            category,
            mode,
        } => {
            let mode = match Mode::parse(mode) {
                Some(Mode::Auto) => {
                    return Err(usage("auto goes through `skill autosend promote`"));
                }
                Some(m) => m,
                None => return Err(usage("mode must be shadow or draft")),
            };
            registry
                .require(app)
                .await
                .map_err(|e| usage(e.to_string()))?;
            auto::set_mode(store.as_ref(), app, category, mode, &cli_actor())
                .await
                .map_err(fail)?;
            emit(
                cli,
                &json!({"app": app, "category": category, "mode": mode}),
                || format!("{app} / {category}: {mode}"),
            );
            Ok(())
        }
        AutosendCmd::Promote { app, category } => {
            let row = registry
                .require(app)
                .await
                .map_err(|e| usage(e.to_string()))?;
            let policy = policy_of(&row).map_err(|e| usage(e.to_string()))?;
            let report = auto::promote(
                store.as_ref(),
                app,
                category,
                &policy,
                &llm_defaults(&settings),
                &settings.autosend,
                &cli_actor(),
            )
            .await
            .map_err(fail)?;
            emit(cli, &json!(report), || {
                report
                    .checks
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {:<12} {}",
                            if c.passed { "ok  " } else { "FAIL" },
                            c.name,
                            c.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            if report.allowed {
                Ok(())
            } else {
                Err(Failure {
                    code: exit::CHECK_FAILED,
                    message: format!("the gate does not hold: {:?}", report.failed()),
                })
            }
        }
        AutosendCmd::Simulate { .. } => Ok(()),
    }
}

fn status_text(rows: &[Value], switches: &[support_core::store::SwitchRow]) -> String {
    let mut out = String::new();
    for s in switches.iter().filter(|s| !s.enabled) {
        out.push_str(&format!(
            "switched OFF: {} ({})\n",
            s.scope,
            s.reason.clone().unwrap_or_default()
        ));
    }
    if rows.is_empty() {
        out.push_str("no category is opted in or has a mode");
    }
    for r in rows {
        out.push_str(&format!(
            "{:<20} {:<16} {:<6} trust {:.3} ({:.1} eff.)  gate {}{}\n",
            r["app"].as_str().unwrap_or_default(),
            r["category"].as_str().unwrap_or_default(),
            r["mode"].as_str().unwrap_or_default(),
            r["trust"].as_f64().unwrap_or_default(),
            r["effective_samples"].as_f64().unwrap_or_default(),
            if r["gate_holds"] == true {
                "holds"
            } else {
                "fails: "
            },
            if r["gate_holds"] == true {
                String::new()
            } else {
                r["failing"].to_string()
            },
        ));
    }
    out
}

/// The simulated month over the scenario folders, each app opting every category in that the
/// never list allows, certified by the offline certification run.
async fn simulate_month(
    cli: &Cli,
    dirs: &[PathBuf],
    days: i64,
    bad_outcome_rate: f64,
    seed: u64,
) -> Result<(), Failure> {
    let mut scenarios = Vec::new();
    for d in dirs {
        scenarios
            .extend(support_core::pipeline::eval::load_dir(d).map_err(|e| usage(e.to_string()))?);
    }
    let policy = support_core::registry::AppPolicy::default();
    let cfg = simulate::SimConfig {
        days,
        bad_outcome_rate,
        seed,
        ..simulate::SimConfig::default()
    };
    let knowledge = super::context::scenario_knowledge()?;
    let mut pool = Vec::new();
    for s in &scenarios {
        pool.push(simulate::message_of(s, &policy, cfg.start, &knowledge).await);
    }
    let apps: BTreeSet<String> = scenarios.iter().map(|s| s.app.clone()).collect();
    let (mut opted, mut certified) = (BTreeSet::new(), BTreeSet::new());
    let mut never = BTreeMap::new();
    for app in &apps {
        never.insert(app.clone(), policy.never_auto_send.clone());
        for r in support_core::autosend::certificate::certify_app(
            app, &scenarios, &policy, cfg.start, &knowledge,
        )
        .await
        {
            let key = (app.clone(), r.category.clone());
            if support_core::autosend::never_listed(&r.category, &policy.never_auto_send, false)
                .is_none()
            {
                opted.insert(key.clone());
            }
            if r.certified {
                certified.insert(key);
            }
        }
    }
    let stats = simulate::simulate(&pool, &opted, &certified, &never, &cfg);
    let mut by_cat: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for s in &stats {
        let e = by_cat.entry(s.category.clone()).or_default();
        e.0 += s.messages;
        e.1 += s.auto_sent;
        e.2 += s.human_touched;
    }
    let total: (usize, usize, usize) = by_cat
        .values()
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let value = json!({
        "config": cfg,
        "certified": certified.iter().map(|(a, c)| format!("{a}/{c}")).collect::<Vec<_>>(),
        "apps": stats,
        "categories": by_cat.iter().map(|(c, v)| json!({"category": c, "messages": v.0,
            "auto_sent": v.1, "human_touched": v.2, "auto_share": pct(v.1, v.0) / 100.0,
            "human_touch_rate": pct(v.2, v.0) / 100.0})).collect::<Vec<_>>(),
        "total": {"messages": total.0, "auto_sent": total.1, "human_touched": total.2},
    });
    emit(cli, &value, || {
        let mut out = format!(
            "{} messages over {days} days ({} scenarios a day), bad outcome rate {bad_outcome_rate}\n\
             {:<18} {:>8} {:>10} {:>12}\n",
            total.0,
            pool.len(),
            "category",
            "messages",
            "auto %",
            "human touch %"
        );
        for (c, v) in &by_cat {
            out.push_str(&format!(
                "{c:<18} {:>8} {:>9.1}% {:>11.1}%\n",
                v.0,
                pct(v.1, v.0),
                pct(v.2, v.0)
            ));
        }
        out.push_str(&format!(
            "{:<18} {:>8} {:>9.1}% {:>11.1}%",
            "total",
            total.0,
            pct(total.1, total.0),
            pct(total.2, total.0)
        ));
        out
    });
    Ok(())
}
