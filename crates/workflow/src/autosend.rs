//! The mode branch of the draft step and everything around it that touches the stores and
//! Front: which mode a category is in, the gate's facts gathered at the moment of sending, the
//! exactly-once automatic send, certificates' current inputs, the kill switches, promotion and
//! demotion. The rules themselves are core's (`support_core::autosend`).

use serde_json::json;
use std::collections::BTreeMap;
use support_core::approvals::{Alert, ApprovalChannel};
use support_core::audit::AuditEvent;
use support_core::autosend::{
    self, AutoSendSettings, CertificateFact, GateFacts, GateReport, Mode,
};
use support_core::front::{NewReply, ReplyOptions};
use support_core::pipeline::classify::Intent;
use support_core::pipeline::router::RouteDecision;
use support_core::registry::{AppPolicy, policy_of};
use support_core::settings::ModelChoice;
use support_core::store::{
    AuditFilter, AutoSendRow, AutoSendStatus, ModeRow, Store, StoreError, SwitchRow,
};
use support_core::time::{Millis, now_ms};
use support_core::trust::{Signal, trust_at};
use support_steps::StepError;

use crate::draft::{draft_marker, text_to_html};
use crate::inbound::{Drafted, InboundDeps, Snapshot, THREAD_DEPTH, audit, front_err, store_err};
use crate::models::{ModelStep, choice_for};

/// The global kill switch's scope.
pub const GLOBAL: &str = "*";

/// The stored mode of `app` × `category` (`draft` when never set).
pub async fn mode_of(store: &dyn Store, app: &str, category: &str) -> Result<Mode, StoreError> {
    Ok(store
        .get_mode(app, category)
        .await?
        .map_or(Mode::Draft, |m| m.mode))
}

/// Why automatic sending is off for `app` (the settings file's switches, then the stored global
/// switch, then the app's), `None` when it is on.
pub async fn switched_off(
    store: &dyn Store,
    app: &str,
    settings: &AutoSendSettings,
) -> Result<Option<String>, StoreError> {
    if let Some(why) = settings.switched_off(app) {
        return Ok(Some(why));
    }
    let switches = store.list_switches().await?;
    Ok([GLOBAL, app].iter().find_map(|scope| {
        switches
            .iter()
            .find(|s| s.scope == *scope && !s.enabled)
            .map(|s| {
                format!(
                    "automatic sending is switched off ({}{})",
                    if *scope == GLOBAL {
                        "everywhere"
                    } else {
                        "for this app"
                    },
                    s.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            })
    }))
}

/// Switch automatic sending on or off for `scope` (`*` or an app slug), audited.
pub async fn set_switch(
    store: &dyn Store,
    scope: &str,
    enabled: bool,
    reason: Option<String>,
    actor: &str,
) -> Result<(), StoreError> {
    store
        .put_switch(&SwitchRow {
            scope: scope.to_string(),
            enabled,
            reason: reason.clone(),
            changed_by: actor.to_string(),
            changed_at: now_ms(),
        })
        .await?;
    let mut ev = AuditEvent::new(
        if enabled {
            "autosend.switched_on"
        } else {
            "autosend.switched_off"
        },
        actor,
        json!({"scope": scope, "reason": reason}),
    );
    if scope != GLOBAL {
        ev = ev.app(scope);
    }
    store.append_audit(&ev).await.map(|_| ())
}

/// The hash of an app's current certificate inputs: its policy, the models its classifier and
/// agent steps would use (`llm_defaults` overridden by the policy), the prompts of this build
/// and its knowledge chunks.
pub async fn current_inputs_hash(
    store: &dyn Store,
    app: &str,
    policy: &AppPolicy,
    llm_defaults: &support_core::registry::AppLlm,
) -> Result<String, StoreError> {
    let pick = |own: &Option<ModelChoice>, global: &Option<ModelChoice>| {
        own.clone().or_else(|| global.clone())
    };
    let classifier = pick(&policy.llm.classifier, &llm_defaults.classifier);
    let agent = pick(&policy.llm.agent, &llm_defaults.agent);
    // The knowledge snapshot: older document chunks and every current article version's chunks.
    let mut knowledge = store.list_kb_chunks(app).await?;
    knowledge.extend(
        store
            .current_chunks(Some(app))
            .await?
            .into_iter()
            .map(support_core::store::KbChunk::from),
    );
    Ok(autosend::certificate::inputs_hash(
        policy,
        classifier.as_ref(),
        agent.as_ref(),
        &knowledge,
    ))
}

/// Trust of `app` × `category` at `t`, from the signal rows.
pub async fn trust_of(
    store: &dyn Store,
    app: &str,
    category: &str,
    t: Millis,
) -> Result<support_core::trust::TrustScore, StoreError> {
    let signals: Vec<Signal> = store.signals_for(app, category).await?;
    Ok(trust_at(&signals, t, autosend::thresholds::HALF_LIFE_DAYS))
}

/// The checks that do not depend on one message, for promotion and `skill autosend status`:
/// the message-level facts are set to passing values.
pub async fn category_facts(
    store: &dyn Store,
    app: &str,
    category: &str,
    policy: &AppPolicy,
    llm_defaults: &support_core::registry::AppLlm,
    switches: &AutoSendSettings,
    now: Millis,
) -> Result<GateFacts, StoreError> {
    let trust = trust_of(store, app, category, now).await?;
    let certificate = store
        .get_certificate(app, category)
        .await?
        .map(|c| CertificateFact {
            passed: c.passed,
            inputs_hash: c.inputs_hash,
        });
    Ok(GateFacts {
        mode: mode_of(store, app, category).await?,
        switched_off: switched_off(store, app, switches).await?,
        opted_in: policy.auto_send.iter().any(|c| c == category),
        category: category.to_string(),
        never: policy.never_auto_send.clone(),
        team_license: false,
        flags: Vec::new(),
        approval_tools: Vec::new(),
        trust: trust.score,
        effective_samples: trust.effective_samples,
        confidence: 1.0,
        failed_scorers: Vec::new(),
        certificate,
        inputs_hash: current_inputs_hash(store, app, policy, llm_defaults).await?,
    })
}

/// The gate's facts for one message at the moment of sending.
async fn gate_facts(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    dr: &Drafted,
) -> Result<GateFacts, StepError> {
    let app = d
        .registry
        .by_slug(&s.app)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::non_retriable("app removed"))?;
    let policy = policy_of(&app).map_err(store_err)?;
    let category = r.category.as_str();
    let mut f = category_facts(
        d.store.as_ref(),
        &s.app,
        category,
        &policy,
        &d.llm_defaults,
        &d.autosend,
        now_ms(),
    )
    .await
    .map_err(store_err)?;
    // The same resolution as the steps use (`choice_for`), so certify and gate agree.
    debug_assert_eq!(
        choice_for(d, &policy, ModelStep::Agent),
        policy.llm.agent.clone().or(d.llm_defaults.agent.clone())
    );
    f.team_license = s.facts.has_team_license() || r.intent == Intent::TeamSeatAccess;
    f.flags = r.flags.names().iter().map(|x| (*x).to_owned()).collect();
    f.approval_tools = dr
        .outcome
        .proposals
        .iter()
        .map(|p| p.call.tool.as_str().to_owned())
        .collect();
    f.confidence = f64::from(r.confidence);
    f.failed_scorers = dr
        .scorers
        .iter()
        .filter(|x| !x.passed)
        .map(|x| x.scorer.clone())
        .collect();
    if dr.withheld {
        f.failed_scorers.push("withheld".into());
    }
    Ok(f)
}

/// Auto mode: send the reply through Front when the gate holds, exactly once per run. The
/// intent is recorded before Front is called; a retry (after a crash or a Front error) first
/// looks for the run's marker among the conversation's sent messages. `None`: the gate refused
/// (audited with every check) and the caller writes a draft instead.
pub(crate) async fn try_send(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    dr: &Drafted,
    trace: &str,
    run_id: &str,
    body: &str,
) -> Result<Option<String>, StepError> {
    let store = d.store.as_ref();
    if let Some(done) = store.get_send(run_id).await.map_err(store_err)?
        && done.status == AutoSendStatus::Sent
    {
        // Sent before a crash or an error of this step: make sure its audit entry is there.
        return match done.front_message {
            Some(m) => finish(d, s, r, trace, run_id, &m, None, body)
                .await
                .map(Some),
            None => Ok(None),
        };
    }
    let marker = draft_marker(run_id);
    // A send that reached Front before a crash: its message carries our marker.
    let existing = d
        .front
        .list_messages(&s.conversation_id, THREAD_DEPTH)
        .await
        .map_err(front_err)?;
    if let Some(m) = existing.iter().find(|m| {
        !m.is_draft && !m.is_inbound && m.body.as_deref().unwrap_or_default().contains(&marker)
    }) && store.get_send(run_id).await.map_err(store_err)?.is_some()
    {
        return finish(d, s, r, trace, run_id, &m.id, None, body)
            .await
            .map(Some);
    }
    let facts = gate_facts(d, s, r, dr).await?;
    let report = autosend::evaluate(&facts);
    if !report.allowed {
        audit(
            store,
            trace,
            &s.app,
            &s.conversation_id,
            "autosend.refused",
            json!({"category": r.category, "failed": report.failed(), "gate": report}),
        )
        .await?;
        return Ok(None);
    }
    store
        .record_send_intent(&AutoSendRow {
            run_id: run_id.to_string(),
            app: s.app.clone(),
            category: r.category.as_str().to_string(),
            conversation_id: s.conversation_id.clone(),
            marker: marker.clone(),
            status: AutoSendStatus::Intent,
            front_message: None,
            gate: json!(report),
            created_at: now_ms(),
            sent_at: None,
        })
        .await
        .map_err(store_err)?;
    let html = format!("{}{marker}", text_to_html(body));
    let accepted = d
        .front
        .send_reply(
            &s.conversation_id,
            &NewReply {
                body: html,
                text: Some(body.to_string()),
                channel_id: s.channel_id.clone(),
                author_id: None,
                sender_name: None,
                options: ReplyOptions {
                    archive: false,
                    tag_ids: Vec::new(),
                },
            },
        )
        .await
        .map_err(front_err)?;
    finish(
        d,
        s,
        r,
        trace,
        run_id,
        &accepted.message_uid,
        Some(&report),
        body,
    )
    .await
    .map(Some)
}

/// After Front accepted the send (now or before a crash): mark it, keep our copy, audit.
#[allow(clippy::too_many_arguments)]
async fn finish(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    trace: &str,
    run_id: &str,
    front_message: &str,
    report: Option<&GateReport>,
    body: &str,
) -> Result<String, StepError> {
    let store = d.store.as_ref();
    // Each part once, whichever point of it a crash interrupted. The entry is written after
    // the mark, so only a send already marked can have it.
    let row = store.get_send(run_id).await.map_err(store_err)?;
    if row
        .as_ref()
        .is_some_and(|x| x.status == AutoSendStatus::Sent)
    {
        let audited = store
            .list_audit(&AuditFilter {
                conversation_id: Some(s.conversation_id.clone()),
                kind: Some("autosend.sent".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .map_err(store_err)?
            .iter()
            .any(|e| e.data["run_id"] == run_id);
        if audited {
            return Ok(front_message.to_string());
        }
    } else {
        store
            .mark_sent(run_id, front_message, now_ms())
            .await
            .map_err(store_err)?;
    }
    let gate = match report {
        Some(r) => json!(r),
        None => row.map(|x| x.gate).unwrap_or_default(),
    };
    audit(
        store,
        trace,
        &s.app,
        &s.conversation_id,
        "autosend.sent",
        json!({"run_id": run_id, "category": r.category, "front_message": front_message, "chars": body.len(),
               "recovered": report.is_none(), "gate": gate}),
    )
    .await?;
    Ok(front_message.to_string())
}

/// Promote `app` × `category` to auto when the category-level checks hold now (policy opt-in,
/// never list, switches, trust, certificate); audited either way. Returns the report.
pub async fn promote(
    store: &dyn Store,
    app: &str,
    category: &str,
    policy: &AppPolicy,
    llm_defaults: &support_core::registry::AppLlm,
    switches: &AutoSendSettings,
    actor: &str,
) -> Result<GateReport, StoreError> {
    let now = now_ms();
    let mut facts =
        category_facts(store, app, category, policy, llm_defaults, switches, now).await?;
    let previous = store.get_mode(app, category).await?;
    facts.mode = Mode::Auto;
    let report = autosend::evaluate(&facts);
    if report.allowed {
        store
            .put_mode(&ModeRow {
                app: app.to_string(),
                category: category.to_string(),
                mode: Mode::Auto,
                reason: Some("the gate holds".into()),
                changed_by: actor.to_string(),
                changed_at: now,
                demoted_at: previous.as_ref().and_then(|p| p.demoted_at),
                demotion_reason: previous.and_then(|p| p.demotion_reason),
            })
            .await?;
    }
    store
        .append_audit(
            &AuditEvent::new(
                if report.allowed {
                    "autosend.promoted"
                } else {
                    "autosend.promotion_refused"
                },
                actor,
                json!({"category": category, "failed": report.failed(), "gate": report}),
            )
            .app(app),
        )
        .await?;
    Ok(report)
}

/// Set a category's mode by hand (`shadow` or `draft`; `auto` goes through [`promote`]).
pub async fn set_mode(
    store: &dyn Store,
    app: &str,
    category: &str,
    mode: Mode,
    actor: &str,
) -> Result<(), StoreError> {
    let previous = store.get_mode(app, category).await?;
    store
        .put_mode(&ModeRow {
            app: app.to_string(),
            category: category.to_string(),
            mode,
            reason: Some(format!("set by {actor}")),
            changed_by: actor.to_string(),
            changed_at: now_ms(),
            demoted_at: previous.as_ref().and_then(|p| p.demoted_at),
            demotion_reason: previous.and_then(|p| p.demotion_reason),
        })
        .await?;
    store
        .append_audit(
            &AuditEvent::new(
                "autosend.mode_set",
                actor,
                json!({"category": category, "mode": mode}),
            )
            .app(app),
        )
        .await
        .map(|_| ())
}

/// What [`on_signal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Demotion {
    /// Not a bad outcome of an automatic send, or the category was not in auto.
    None,
    /// Demoted; `alerted` says whether the Slack alert went out.
    Demoted { alerted: bool },
}

/// Call after recording a signal: a bad outcome (rewrite of a follow-up, reopen, bad rating,
/// reversal, dispute) in a conversation we sent automatically drops the category to `draft`
/// at once, alerts the app's approval channel with the reason, and is audited. Promotion again
/// needs [`promote`], i.e. the gate with the new signals.
pub async fn on_signal(
    store: &dyn Store,
    channel: Option<&dyn ApprovalChannel>,
    registry: &support_core::registry::Registry,
    signal: &Signal,
) -> Result<Demotion, StoreError> {
    if !autosend::demotes(signal.kind.as_str()) {
        return Ok(Demotion::None);
    }
    let sends = store
        .sends_for_conversation(&signal.conversation_id)
        .await?;
    let Some(send) = sends
        .iter()
        .rev()
        .find(|x| x.status == AutoSendStatus::Sent && x.sent_at.is_some_and(|at| at <= signal.at))
    else {
        return Ok(Demotion::None);
    };
    let category = send.category.clone();
    let Some(mode) = store.get_mode(&send.app, &category).await? else {
        return Ok(Demotion::None);
    };
    if mode.mode != Mode::Auto {
        return Ok(Demotion::None);
    }
    let reason = format!(
        "{} after an automatic answer in {}",
        signal.kind.as_str(),
        signal.conversation_id
    );
    let now = now_ms();
    store
        .put_mode(&ModeRow {
            mode: Mode::Draft,
            reason: Some(reason.clone()),
            changed_by: "system".into(),
            changed_at: now,
            demoted_at: Some(now),
            demotion_reason: Some(reason.clone()),
            ..mode
        })
        .await?;
    let policy = match registry.by_slug(&send.app).await {
        Ok(Some(app)) => policy_of(&app).unwrap_or_default(),
        _ => AppPolicy::default(),
    };
    let alerted = match (channel, &policy.approval_channel) {
        (Some(ch), Some(slack_channel)) => {
            let alert = Alert {
                title: format!("Automatic answers stopped: {} / {category}", send.app),
                text: format!(
                    "{reason}. The category is back to drafts; promotion needs the gate to hold again."
                ),
                fields: BTreeMap::from([
                    ("App".to_string(), send.app.clone()),
                    ("Category".to_string(), category.clone()),
                    ("Signal".to_string(), signal.kind.as_str().to_string()),
                    ("Conversation".to_string(), signal.conversation_id.clone()),
                ])
                .into_iter()
                .collect(),
            };
            ch.post_alert(slack_channel, &alert).await.is_ok()
        }
        _ => false,
    };
    store
        .append_audit(
            &AuditEvent::new(
                "autosend.demoted",
                "system",
                json!({"category": category, "reason": reason, "signal_id": signal.id,
                       "signal": signal.kind.as_str(), "alerted": alerted}),
            )
            .app(&send.app)
            .conversation(&signal.conversation_id),
        )
        .await?;
    Ok(Demotion::Demoted { alerted })
}

/// One app × category's certification, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Certified {
    pub app: String,
    pub result: autosend::certificate::CategoryResult,
    pub inputs_hash: String,
}

/// `skill eval --certify`: for each registered app (or `only`), run its scenarios by category
/// through the pipeline under its current policy (the simulated product's help centre is
/// `knowledge`) and store each category's certificate with the hash of the current inputs;
/// audited (`autosend.certified`).
pub async fn certify(
    store: &dyn Store,
    registry: &support_core::registry::Registry,
    llm_defaults: &support_core::registry::AppLlm,
    scenarios: &[support_core::pipeline::eval::Scenario],
    only: Option<&str>,
    now: Millis,
    knowledge: &std::sync::Arc<dyn support_core::knowledge::Retriever>,
) -> Result<Vec<Certified>, StoreError> {
    let mut out = Vec::new();
    for app in registry
        .list()
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    {
        if only.is_some_and(|o| o != app.slug) {
            continue;
        }
        let policy = policy_of(&app).unwrap_or_default();
        let hash = current_inputs_hash(store, &app.slug, &policy, llm_defaults).await?;
        for result in
            autosend::certificate::certify_app(&app.slug, scenarios, &policy, now, knowledge).await
        {
            store
                .put_certificate(&support_core::store::CertificateRow {
                    app: app.slug.clone(),
                    category: result.category.clone(),
                    passed: result.certified,
                    inputs_hash: hash.clone(),
                    scenarios: i64::try_from(result.scenarios).unwrap_or(i64::MAX),
                    failures: json!(result.failures),
                    certified_at: now,
                })
                .await?;
            store
                .append_audit(
                    &AuditEvent::new(
                        "autosend.certified",
                        "cli",
                        json!({"category": result.category, "passed": result.certified,
                               "scenarios": result.scenarios, "failures": result.failures,
                               "inputs_hash": hash}),
                    )
                    .app(&app.slug),
                )
                .await?;
            out.push(Certified {
                app: app.slug.clone(),
                result,
                inputs_hash: hash.clone(),
            });
        }
    }
    Ok(out)
}
