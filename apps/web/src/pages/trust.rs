//! Trust (issue 16): `/trust` lists, per app × category (the top bar's app filter applies), the
//! trust score and effective samples recomputed now from the signal rows, the auto-send mode,
//! the eval certificate (valid, invalid and why, or missing), whether the gate would hold, the
//! last demotion and the last signals. Admins promote (`POST /trust/{app}/{category}/promote`,
//! the same `support_workflow::autosend::promote` as `skill autosend promote`: refused with the
//! failing checks unless the gate holds) or demote to draft (`.../demote`, the same
//! `set_mode` as `skill autosend mode APP CATEGORY draft`); both plain POST forms with CSRF,
//! the role checked on the server, audited. Works without JavaScript.

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
use support_core::time::now_ms;
use support_host::Platform;
use support_workflow::autosend as auto;

/// How many of a category's latest signals the page shows.
const LAST_SIGNALS: usize = 5;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/trust", get(page))
        .route("/trust/{app}/{category}/promote", post(promote))
        .route("/trust/{app}/{category}/demote", post(demote))
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
    signals: Vec<support_core::trust::Signal>,
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
            let facts =
                auto::category_facts(p.store.as_ref(), &a.slug, &c, &policy, &defaults, now)
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
                let actions = admin.then(|| {
                    let base = format!("/trust/{}/{}", r.app, r.category);
                    let promote = (r.mode != Mode::Auto).then(|| {
                        let action = format!("{base}/promote");
                        view! {
                            <form method="post" action=action class="inline">
                                {ui::csrf_field(&viewer)}
                                <button type="submit" class="promote">"Promote to auto"</button>
                            </form>
                        }
                    });
                    let demote = (r.mode != Mode::Draft).then(|| {
                        let action = format!("{base}/demote");
                        view! {
                            <form method="post" action=action class="inline">
                                {ui::csrf_field(&viewer)}
                                <button type="submit" class="demote">"Demote to draft"</button>
                            </form>
                        }
                    });
                    view! { {promote}{demote} }
                });
                let (cert, why) = r.certificate;
                let id = format!("trust-{}-{}", r.app, r.category);
                view! {
                    <tr id=id>
                        <td>{r.app.clone()}</td>
                        <td>{r.category.clone()}</td>
                        <td>{format!("{:.3}", r.trust)}</td>
                        <td>{format!("{:.1}", r.effective)}</td>
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
                head=vec!["App", "Category", "Trust", "Effective samples", "Mode", "Certificate", "Gate", "Last demotion", "Last signals", ""]
                caption="Trust per app and category"
            >
                {items}
            </Table>
        }
        .into_any()
    };
    let body = view! {
        <p class="muted">
            "Trust is the decayed mean of the signals (30-day half-life), recomputed now. Auto-send needs trust ≥ 0.85 with ≥ 50 effective samples, a valid certificate and the policy's opt-in."
        </p>
        {body}
    };
    Ok(ui::render(&p, &viewer, Page::new("Trust", Nav::Trust, body)).await)
}

/// The promote and demote forms carry only the CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

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

async fn promote(
    State(p): State<Platform>,
    Path((app, category)): Path<(String, String)>,
    Posted { viewer, .. }: Posted<NoFields>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let policy = match app_policy(&p, &app).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    match auto::promote(
        p.store.as_ref(),
        &app,
        &category,
        &policy,
        &llm_defaults(&p),
        &viewer.actor(),
    )
    .await
    {
        Ok(report) if report.allowed => ui::redirect_with_flash(
            &p,
            "/trust",
            Flash::success(format!("{app} / {category} promoted to auto.")),
        ),
        Ok(report) => ui::redirect_with_flash(
            &p,
            "/trust",
            Flash::error(format!(
                "{app} / {category} was not promoted: the gate does not hold ({}).",
                report.failed().join(", ")
            )),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn demote(
    State(p): State<Platform>,
    Path((app, category)): Path<(String, String)>,
    Posted { viewer, .. }: Posted<NoFields>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    if let Err(e) = app_policy(&p, &app).await {
        return e.into_response();
    }
    match auto::set_mode(
        p.store.as_ref(),
        &app,
        &category,
        Mode::Draft,
        &viewer.actor(),
    )
    .await
    {
        Ok(()) => ui::redirect_with_flash(
            &p,
            "/trust",
            Flash::success(format!("{app} / {category} demoted to draft.")),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}
