//! Trust (issue 16): `/trust` lists, per app × category (the top bar's app filter applies), the
//! trust score and effective samples recomputed now from the signal rows, the trend (the score
//! 7 and 30 days ago, `core::trust::trust_at` on the same rows at those times), the auto-send
//! mode, the eval certificate (valid, invalid and why, or missing), whether the gate would
//! hold, the last demotion and the last signals; above them, the kill switches (global and per
//! app). Admins set a category's mode (`POST /trust/{app}/{category}/mode`, `mode` = `shadow`,
//! `draft` or `auto`: `auto` through the same `support_workflow::autosend::promote` as `skill
//! autosend promote`, refused with the failing checks unless the gate holds; the others through
//! `set_mode` as `skill autosend mode`) and flip a kill switch (`POST /trust/switch`, `scope` =
//! `*` or an app, `state` = `on`/`off`, an optional `reason`; `set_switch` as `skill autosend
//! on|off`). Plain POST forms with CSRF, the role checked on the server, audited. Works without
//! JavaScript.

use crate::auth::{Posted, Viewer};
use crate::ui::{self, EmptyState, Flash, Nav, Page, PageError, RelTime, StatusBadge, Table};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use std::collections::BTreeSet;
use support_core::auth::Role;
use support_core::autosend::{Mode, evaluate};
use support_core::registry::{AppLlm, policy_of};
use support_core::time::{Millis, now_ms};
use support_core::trust::{DAY_MS, HALF_LIFE_DAYS, trust_at};
use support_host::Platform;
use support_workflow::autosend as auto;

/// How many of a category's latest signals the page shows.
const LAST_SIGNALS: usize = 5;
/// The trend column: the score this many days ago.
const TREND_DAYS: [i64; 2] = [7, 30];
/// The longest kill-switch reason the form accepts (characters).
const MAX_REASON: usize = 500;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/trust", get(page))
        .route("/trust/switch", post(switch))
        .route("/trust/{app}/{category}/mode", post(set_mode))
}

fn llm_defaults(p: &Platform) -> AppLlm {
    AppLlm {
        classifier: p.settings.llm.classifier.clone(),
        agent: p.settings.llm.agent.clone(),
    }
}

/// One row of the page.
struct Row {
    app: String,
    category: String,
    mode: Mode,
    trust: f64,
    effective: f64,
    certificate: (&'static str, String),
    gate: Result<(), String>,
    demotion: Option<(i64, String)>,
    /// The score [`TREND_DAYS`] ago; `None` when no signal counted then.
    trend: Vec<(i64, Option<f64>)>,
    signals: Vec<support_core::trust::Signal>,
}

/// The score `days` before `now` from the same rows, `None` when nothing counted then.
fn score_before(signals: &[support_core::trust::Signal], now: Millis, days: i64) -> Option<f64> {
    let then = trust_at(signals, now - days * DAY_MS, HALF_LIFE_DAYS);
    (then.effective_samples > 0.0).then_some(then.score)
}

async fn rows(p: &Platform, only: Option<&str>) -> Result<Vec<Row>, PageError> {
    let now = now_ms();
    let defaults = llm_defaults(p);
    let mut out = Vec::new();
    let apps = p
        .registry
        .list()
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let trusted = support_core::trust::current(
        p.store.as_ref(),
        only,
        now,
        support_core::trust::HALF_LIFE_DAYS,
    )
    .await?;
    for a in apps {
        if only.is_some_and(|x| x != a.slug) {
            continue;
        }
        let policy = policy_of(&a).unwrap_or_default();
        let mut categories: BTreeSet<String> = policy.auto_send.iter().cloned().collect();
        categories.extend(
            p.store
                .list_modes(Some(&a.slug))
                .await?
                .into_iter()
                .map(|m| m.category),
        );
        categories.extend(
            trusted
                .iter()
                .filter(|t| t.app == a.slug)
                .map(|t| t.category.clone()),
        );
        for c in categories {
            let facts = auto::category_facts(
                p.store.as_ref(),
                &a.slug,
                &c,
                &policy,
                &defaults,
                &p.settings.autosend,
                now,
            )
            .await?;
            let certificate = match &facts.certificate {
                None => (
                    "missing",
                    "no `skill eval --certify` run for it".to_string(),
                ),
                Some(x) if !x.passed => ("invalid", "the last certification failed".to_string()),
                Some(x) if x.inputs_hash != facts.inputs_hash => (
                    "invalid",
                    "policy, models, prompts or knowledge changed since it was certified"
                        .to_string(),
                ),
                Some(_) => ("valid", "current inputs".to_string()),
            };
            let mut as_auto = facts.clone();
            as_auto.mode = Mode::Auto;
            let report = evaluate(&as_auto);
            let gate = if report.allowed {
                Ok(())
            } else {
                Err(report.failed().join(", "))
            };
            let mode_row = p.store.get_mode(&a.slug, &c).await?;
            let demotion = mode_row.and_then(|m| {
                m.demoted_at
                    .map(|at| (at, m.demotion_reason.unwrap_or_default()))
            });
            let mut signals = p.store.signals_for(&a.slug, &c).await?;
            let trend = TREND_DAYS
                .iter()
                .map(|d| (*d, score_before(&signals, now, *d)))
                .collect();
            signals.sort_by_key(|s| std::cmp::Reverse(s.at));
            signals.truncate(LAST_SIGNALS);
            out.push(Row {
                app: a.slug.to_string(),
                category: c,
                mode: facts.mode,
                trust: facts.trust,
                effective: facts.effective_samples,
                certificate,
                gate,
                demotion,
                trend,
                signals,
            });
        }
    }
    Ok(out)
}

async fn page(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let rows = rows(&p, viewer.app.as_deref()).await?;
    let admin = viewer.can(Role::Admin);
    let body = if rows.is_empty() {
        view! {
            <EmptyState title="No categories yet">
                "A category appears when an app's policy opts it into auto-send, it has a mode, or it has signals."
            </EmptyState>
        }
        .into_any()
    } else {
        let items = rows
            .into_iter()
            .map(|r| {
                let signals = r
                    .signals
                    .iter()
                    .map(|s| {
                        let text = format!("{} ({:.1})", s.kind.as_str(), s.value);
                        view! { <li>{text}" "<RelTime at=s.at now=now/></li> }
                    })
                    .collect_view();
                let demotion = r.demotion.clone().map(|(at, why)| {
                    view! { <span>{why}" "<RelTime at=at now=now/></span> }
                });
                let gate = match &r.gate {
                    Ok(()) => "holds".to_string(),
                    Err(failing) => format!("fails: {failing}"),
                };
                let trend = r
                    .trend
                    .iter()
                    .map(|(days, then)| {
                        let text = match then {
                            Some(then) => {
                                let delta = r.trust - then;
                                let arrow = if delta > 0.0005 {
                                    "▲"
                                } else if delta < -0.0005 {
                                    "▼"
                                } else {
                                    "="
                                };
                                format!("{days} d ago {then:.3} ({arrow} {delta:+.3})")
                            }
                            None => format!("{days} d ago —"),
                        };
                        view! { <li>{text}</li> }
                    })
                    .collect_view();
                let actions = admin.then(|| {
                    let action = format!("/trust/{}/{}/mode", r.app, r.category);
                    let buttons = Mode::ALL
                        .into_iter()
                        .map(|m| {
                            let label = match m {
                                Mode::Shadow => "Shadow",
                                Mode::Draft => "Draft",
                                Mode::Auto => "Auto",
                            };
                            let current = m == r.mode;
                            view! {
                                <button type="submit" name="mode" value=m.as_str()
                                    class=format!("mode-{}", m.as_str()) disabled=current>
                                    {label}
                                </button>
                            }
                        })
                        .collect_view();
                    view! {
                        <form method="post" action=action class="inline mode">
                            {ui::csrf_field(&viewer)}
                            <span class="muted">"Set mode: "</span>
                            {buttons}
                        </form>
                    }
                });
                let (cert, why) = r.certificate;
                let id = format!("trust-{}-{}", r.app, r.category);
                view! {
                    <tr id=id>
                        <td>{r.app.clone()}</td>
                        <td>{r.category.clone()}</td>
                        <td>{format!("{:.3}", r.trust)}</td>
                        <td>{format!("{:.1}", r.effective)}</td>
                        <td><ul class="trend">{trend}</ul></td>
                        <td><StatusBadge status=r.mode.as_str()/></td>
                        <td><StatusBadge status=cert/>" "<span class="muted">{why}</span></td>
                        <td>{gate}</td>
                        <td>{demotion}</td>
                        <td><ul class="signals">{signals}</ul></td>
                        <td>{actions}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table
                head=vec!["App", "Category", "Trust", "Effective samples", "Trend", "Mode", "Certificate", "Gate", "Last demotion", "Last signals", ""]
                caption="Trust per app and category"
            >
                {items}
            </Table>
        }
        .into_any()
    };
    let switches = switches(&p, &viewer, admin, now).await?;
    let body = view! {
        <p class="muted">
            "Trust is the decayed mean of the signals (30-day half-life), recomputed now. Auto-send needs trust ≥ 0.85 with ≥ 50 effective samples, a valid certificate and the policy's opt-in."
        </p>
        {switches}
        {body}
    };
    Ok(ui::render(&p, &viewer, Page::new("Trust", Nav::Trust, body)).await)
}

/// The kill switches: everywhere (`*`) and each app in view, on unless switched off.
async fn switches(
    p: &Platform,
    viewer: &crate::auth::Viewer,
    admin: bool,
    now: Millis,
) -> Result<AnyView, PageError> {
    let stored = p.store.list_switches().await?;
    let apps = p
        .registry
        .list()
        .await
        .map_err(|e| PageError::internal(e.to_string()))?;
    let mut scopes = vec![auto::GLOBAL.to_string()];
    scopes.extend(
        apps.into_iter()
            .map(|a| a.slug.to_string())
            .filter(|s| viewer.app.as_deref().is_none_or(|only| only == s)),
    );
    let items = scopes
        .into_iter()
        .map(|scope| {
            let row = stored.iter().find(|s| s.scope == scope);
            let on = row.is_none_or(|r| r.enabled);
            let key = if scope == auto::GLOBAL {
                "all".to_string()
            } else {
                scope.clone()
            };
            let name = if scope == auto::GLOBAL {
                "All apps".to_string()
            } else {
                scope.clone()
            };
            let reason = row.and_then(|r| r.reason.clone()).unwrap_or_default();
            let changed = row.map(|r| {
                let by = r.changed_by.clone();
                view! { <span>{by}" "<RelTime at=r.changed_at now=now/></span> }
            });
            let form = admin.then(|| {
                let field = format!("switch-reason-{key}");
                let reason_field = on.then(|| {
                    view! {
                        <label for=field.clone()>"Reason"</label>
                        <input type="text" id=field.clone() name="reason" maxlength=MAX_REASON.to_string()/>
                    }
                });
                let (state, label, class) = if on {
                    ("off", "Stop automatic sending", "switch-off danger")
                } else {
                    ("on", "Allow automatic sending again", "switch-on")
                };
                view! {
                    <form method="post" action="/trust/switch" class="inline switch">
                        {ui::csrf_field(viewer)}
                        <input type="hidden" name="scope" value=scope.clone()/>
                        <input type="hidden" name="state" value=state/>
                        {reason_field}
                        <button type="submit" class=class>{label}</button>
                    </form>
                }
            });
            let id = format!("switch-{key}");
            view! {
                <tr id=id>
                    <td>{name}</td>
                    <td><StatusBadge status=if on { "on" } else { "off" }/></td>
                    <td>{reason}</td>
                    <td>{changed}</td>
                    <td>{form}</td>
                </tr>
            }
        })
        .collect_view();
    Ok(view! {
        <Table
            head=vec!["Automatic sending", "State", "Reason", "Changed", ""]
            caption="Kill switches: off stops every automatic send at once; replies become drafts"
        >
            {items}
        </Table>
    }
    .into_any())
}

/// The mode form: which mode the pressed button asked for.
#[derive(Debug, Default, Deserialize)]
pub struct ModeForm {
    #[serde(default)]
    mode: String,
}

async fn app_policy(
    p: &Platform,
    app: &str,
) -> Result<support_core::registry::AppPolicy, PageError> {
    let row = p
        .registry
        .by_slug(app)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .ok_or_else(|| PageError::not_found(format!("app {app}")))?;
    policy_of(&row).map_err(|e| PageError::internal(e.to_string()))
}

/// A category name from the path: one of the classifier's, or one the app already has a mode
/// or signals for (the page lists those too).
async fn known_category(p: &Platform, app: &str, category: &str) -> Result<(), PageError> {
    if support_core::pipeline::classify::Category::ALL
        .iter()
        .any(|c| c.as_str() == category)
        || p.store.get_mode(app, category).await?.is_some()
        || !p.store.signals_for(app, category).await?.is_empty()
    {
        Ok(())
    } else {
        Err(PageError::not_found(format!("category {category}")))
    }
}

async fn set_mode(
    State(p): State<Platform>,
    Path((app, category)): Path<(String, String)>,
    Posted { viewer, form }: Posted<ModeForm>,
) -> Response {
    match change_mode(&p, &viewer, &app, &category, &form.mode).await {
        Ok(flash) => ui::redirect_with_flash(&p, "/trust", flash),
        Err(e) => e.into_response(),
    }
}

async fn change_mode(
    p: &Platform,
    viewer: &crate::auth::Viewer,
    app: &str,
    category: &str,
    mode: &str,
) -> Result<Flash, PageError> {
    viewer.require(Role::Admin)?;
    let policy = app_policy(p, app).await?;
    known_category(p, app, category).await?;
    let mode = Mode::parse(mode).ok_or_else(|| {
        PageError::bad_request(format!("mode {mode:?} is not one of shadow, draft, auto"))
    })?;
    if mode == Mode::Auto {
        let report = auto::promote(
            p.store.as_ref(),
            app,
            category,
            &policy,
            &llm_defaults(p),
            &p.settings.autosend,
            &viewer.actor(),
        )
        .await?;
        return Ok(if report.allowed {
            Flash::success(format!("{app} / {category} promoted to auto."))
        } else {
            Flash::error(format!(
                "{app} / {category} was not promoted: the gate does not hold ({}). It stays in {}.",
                report.failed().join(", "),
                auto::mode_of(p.store.as_ref(), app, category).await?
            ))
        });
    }
    auto::set_mode(p.store.as_ref(), app, category, mode, &viewer.actor()).await?;
    Ok(Flash::success(format!("{app} / {category} set to {mode}.")))
}

/// The kill-switch form.
#[derive(Debug, Default, Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    reason: String,
}

async fn switch(
    State(p): State<Platform>,
    Posted { viewer, form }: Posted<SwitchForm>,
) -> Response {
    match flip_switch(&p, &viewer, &form).await {
        Ok(flash) => ui::redirect_with_flash(&p, "/trust", flash),
        Err(e) => e.into_response(),
    }
}

async fn flip_switch(
    p: &Platform,
    viewer: &crate::auth::Viewer,
    form: &SwitchForm,
) -> Result<Flash, PageError> {
    viewer.require(Role::Admin)?;
    let scope = form.scope.as_str();
    if scope != auto::GLOBAL {
        app_policy(p, scope).await?;
    }
    let enabled = match form.state.as_str() {
        "on" => true,
        "off" => false,
        other => {
            return Err(PageError::bad_request(format!(
                "state {other:?} is not on or off"
            )));
        }
    };
    let reason = form.reason.trim();
    if reason.chars().count() > MAX_REASON {
        return Err(PageError::bad_request(format!(
            "the reason is longer than {MAX_REASON} characters"
        )));
    }
    auto::set_switch(
        p.store.as_ref(),
        scope,
        enabled,
        (!reason.is_empty()).then(|| reason.to_string()),
        &viewer.actor(),
    )
    .await?;
    let target = if scope == auto::GLOBAL {
        "every app".to_string()
    } else {
        scope.to_string()
    };
    Ok(if enabled {
        Flash::success(format!(
            "Automatic sending allowed again for {target} (categories in auto send when the gate holds)."
        ))
    } else {
        Flash::success(format!(
            "Automatic sending stopped for {target}: replies become drafts."
        ))
    })
}
