//! SLA (issue 18): `/sla` shows what is at risk (open conversations whose `sla_due_at` is past
//! or within the next 24 hours, soonest first, the top bar's app filter applies), the policies
//! (in the order they are tried) and the schedules. Admins define and remove them with plain
//! POST forms (CSRF, the role checked on the server) through `support_core::sla::admin`, the
//! API's and `skill sla`'s validated, audited path: `POST /sla/policies`,
//! `POST /sla/policies/{app}/{id}/delete`, `POST /sla/schedules`,
//! `POST /sla/schedules/{id}/delete`. A refusal comes back as the flash message with its code.
//! Agents and admins set a conversation's priority from its page (the SLA section of
//! `/conversations/{id}`): `POST /sla/conversations/{id}/priority` (`admin::set_priority`,
//! the API's and `skill sla priority`'s path), back to the conversation with a flash.
//! Works without JavaScript.

use crate::auth::{Posted, Viewer};
use crate::ui::{self, EmptyState, Flash, Nav, Page, PageError, RelTime, StatusBadge, Table};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use support_core::auth::Role;
use support_core::sla::admin::{self, AdminError};
use support_core::sla::{Conditions, Hours, Priority, Schedule, SlaPolicy, Target};
use support_core::time::now_ms;
use support_host::Platform;

/// How far ahead the "at risk" list looks.
const AT_RISK_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/sla", get(page))
        .route("/sla/policies", post(save_policy))
        .route("/sla/policies/{app}/{id}/delete", post(delete_policy))
        .route("/sla/schedules", post(save_schedule))
        .route("/sla/schedules/{id}/delete", post(delete_schedule))
        .route("/sla/conversations/{id}/priority", post(set_priority))
}

fn target_text(t: &Option<Target>) -> String {
    match t {
        None => "–".into(),
        Some(t) => {
            let mut s = format!("{} min", t.minutes);
            if t.business_hours {
                s.push_str(" (business hours)");
            }
            if t.warn_before_minutes > 0 {
                s.push_str(&format!(", warn {} min before", t.warn_before_minutes));
            }
            s
        }
    }
}

fn conditions_text(c: &Conditions) -> String {
    let mut parts = Vec::new();
    if !c.priority.is_empty() {
        let p: Vec<&str> = c.priority.iter().map(|p| p.as_str()).collect();
        parts.push(format!("priority {}", p.join("|")));
    }
    if !c.category.is_empty() {
        parts.push(format!("category {}", c.category.join("|")));
    }
    if !c.tag.is_empty() {
        parts.push(format!("tag {}", c.tag.join("|")));
    }
    if let Some(e) = c.escalated {
        parts.push(if e { "escalated" } else { "not escalated" }.into());
    }
    if parts.is_empty() {
        "any conversation".into()
    } else {
        parts.join(", ")
    }
}

async fn page(viewer: Viewer, State(p): State<Platform>) -> Result<Response, PageError> {
    viewer.require(Role::Viewer)?;
    let now = now_ms();
    let admin = viewer.can(Role::Admin);
    let app = viewer.app.clone();
    let at_risk = p
        .store
        .sla_at_risk(app.as_deref(), now + AT_RISK_WINDOW_MS, 200)
        .await?;
    let policies = p.store.list_sla_policies(app.as_deref()).await?;
    let schedules = p.store.list_sla_schedules().await?;

    let risk = if at_risk.is_empty() {
        view! {
            <EmptyState title="Nothing at risk">
                "Open conversations whose SLA is breached or due within 24 hours appear here, soonest first."
            </EmptyState>
        }
        .into_any()
    } else {
        let rows = at_risk
            .into_iter()
            .map(|c| {
                let due = c.sla_due_at.unwrap_or_default();
                let state = if due <= now { "breached" } else { "at_risk" };
                let href = format!("/conversations/{}", c.front_id);
                let id = format!("risk-{}", c.front_id);
                view! {
                    <tr id=id>
                        <td><a href=href>{c.subject.clone().unwrap_or_else(|| c.front_id.clone())}</a></td>
                        <td>{c.app.clone().unwrap_or_default()}</td>
                        <td><StatusBadge status=state/></td>
                        <td><RelTime at=due now=now/></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table head=vec!["Conversation", "App", "SLA", "Due"] caption="Conversations at risk">
                {rows}
            </Table>
        }
        .into_any()
    };

    let policy_rows = if policies.is_empty() {
        view! {
            <EmptyState title="No policies">
                "Without a policy no SLA clock runs. Define one below, with `skill sla set policy` or POST /api/v1/sla/policies."
            </EmptyState>
        }
        .into_any()
    } else {
        let rows = policies
            .iter()
            .map(|pol| {
                let del = admin.then(|| {
                    let action = format!("/sla/policies/{}/{}/delete", pol.app, pol.id);
                    let label = format!("Remove policy {}", pol.id);
                    view! {
                        <form method="post" action=action class="inline">
                            {ui::csrf_field(&viewer)}
                            <button type="submit" class="demote" aria-label=label>"Remove"</button>
                        </form>
                    }
                });
                let id = format!("policy-{}-{}", pol.app, pol.id);
                view! {
                    <tr id=id>
                        <td>{pol.app.clone()}</td>
                        <td>{pol.position}</td>
                        <td>{pol.name.clone()}" "<span class="muted">{pol.id.clone()}</span></td>
                        <td>{conditions_text(&pol.conditions)}</td>
                        <td>{target_text(&pol.first_reply)}</td>
                        <td>{target_text(&pol.next_reply)}</td>
                        <td>{target_text(&pol.resolution)}</td>
                        <td>{pol.schedule.clone().unwrap_or_else(|| "calendar".into())}</td>
                        <td>{if pol.pause_when_waiting { "yes" } else { "no" }}</td>
                        <td>{del}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table
                head=vec!["App", "#", "Policy", "Applies to", "First reply", "Next reply", "Resolution", "Schedule", "Pauses on customer", ""]
                caption="SLA policies, first match wins"
            >
                {rows}
            </Table>
        }
        .into_any()
    };

    let schedule_rows = if schedules.is_empty() {
        view! {
            <EmptyState title="No schedules">
                "A schedule (time zone, weekly hours, holidays) lets targets count business hours only."
            </EmptyState>
        }
        .into_any()
    } else {
        let rows = schedules
            .iter()
            .map(|s| {
                let hours: Vec<String> = s.hours.iter().map(Hours::spec).collect();
                let del = admin.then(|| {
                    let action = format!("/sla/schedules/{}/delete", s.id);
                    let label = format!("Remove schedule {}", s.id);
                    view! {
                        <form method="post" action=action class="inline">
                            {ui::csrf_field(&viewer)}
                            <button type="submit" class="demote" aria-label=label>"Remove"</button>
                        </form>
                    }
                });
                let id = format!("schedule-{}", s.id);
                view! {
                    <tr id=id>
                        <td>{s.name.clone()}" "<span class="muted">{s.id.clone()}</span></td>
                        <td>{s.timezone.clone()}</td>
                        <td>{hours.join(", ")}</td>
                        <td>{s.holidays.join(", ")}</td>
                        <td>{del}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <Table head=vec!["Schedule", "Time zone", "Hours", "Holidays", ""] caption="Business-hours schedules">
                {rows}
            </Table>
        }
        .into_any()
    };

    let forms = admin.then(|| {
        let priorities = Priority::ALL
            .iter()
            .map(|p| {
                let id = format!("prio-{}", p.as_str());
                let label_for = id.clone();
                view! {
                    <label for=label_for>
                        <input type="checkbox" id=id name="priority" value=p.as_str()/>
                        " "{p.as_str()}
                    </label>" "
                }
            })
            .collect_view();
        let schedule_options = schedules
            .iter()
            .map(|s| view! { <option value=s.id.clone()>{s.name.clone()}</option> })
            .collect_view();
        view! {
            <section>
                <h2>"Define a policy"</h2>
                <form method="post" action="/sla/policies" class="stack" id="policy-form">
                    {ui::csrf_field(&viewer)}
                    <label for="p-app">"App"</label><input id="p-app" name="app" required=true/>
                    <label for="p-id">"Id"</label><input id="p-id" name="id" required=true pattern="[a-z0-9_-]{1,64}"/>
                    <label for="p-name">"Name"</label><input id="p-name" name="name" required=true/>
                    <label for="p-position">"Position (lower is tried first)"</label>
                    <input id="p-position" name="position" type="number" value="0"/>
                    <fieldset><legend>"Priority (none: any)"</legend>{priorities}</fieldset>
                    <label for="p-category">"Categories (comma-separated)"</label><input id="p-category" name="category"/>
                    <label for="p-tag">"Front tags (comma-separated)"</label><input id="p-tag" name="tag"/>
                    <label for="p-escalated">"Escalation"</label>
                    <select id="p-escalated" name="escalated">
                        <option value="">"any"</option>
                        <option value="yes">"escalated"</option>
                        <option value="no">"not escalated"</option>
                    </select>
                    <label for="p-first">"First reply (minutes)"</label><input id="p-first" name="first_reply" type="number" min="1"/>
                    <label for="p-next">"Next reply (minutes)"</label><input id="p-next" name="next_reply" type="number" min="1"/>
                    <label for="p-res">"Resolution (minutes)"</label><input id="p-res" name="resolution" type="number" min="1"/>
                    <label for="p-warn">"Warn before the breach (minutes)"</label>
                    <input id="p-warn" name="warn_before" type="number" min="0" value="0"/>
                    <label for="p-bh"><input id="p-bh" type="checkbox" name="business_hours" value="on"/>" Count business hours"</label>
                    <label for="p-schedule">"Schedule"</label>
                    <select id="p-schedule" name="schedule"><option value="">"none (calendar time)"</option>{schedule_options}</select>
                    <label for="p-pause"><input id="p-pause" type="checkbox" name="pause_when_waiting" value="on" checked=true/>" Pause resolution while waiting on the customer"</label>
                    <button type="submit">"Save policy"</button>
                </form>
                <h2>"Define a schedule"</h2>
                <form method="post" action="/sla/schedules" class="stack" id="schedule-form">
                    {ui::csrf_field(&viewer)}
                    <label for="s-id">"Id"</label><input id="s-id" name="id" required=true pattern="[a-z0-9_-]{1,64}"/>
                    <label for="s-name">"Name"</label><input id="s-name" name="name" required=true/>
                    <label for="s-tz">"Time zone (IANA)"</label><input id="s-tz" name="timezone" required=true placeholder="Europe/Berlin"/>
                    <label for="s-hours">"Weekly hours, one per line"</label>
                    <textarea id="s-hours" name="hours" rows="3" placeholder="mon-fri 09:00-17:00"></textarea>
                    <label for="s-holidays">"Holidays, one YYYY-MM-DD per line"</label>
                    <textarea id="s-holidays" name="holidays" rows="3"></textarea>
                    <button type="submit">"Save schedule"</button>
                </form>
            </section>
        }
    });

    let body = view! {
        <p class="muted">
            "First reply, next reply and resolution targets per policy; warnings and breaches tag the conversation in Front (sla-warning, sla-breach), alert the app's Slack channel and are audited. See docs/sla.md."
        </p>
        <h2>"At risk"</h2>
        {risk}
        <h2>"Policies"</h2>
        {policy_rows}
        <h2>"Schedules"</h2>
        {schedule_rows}
        {forms}
    };
    Ok(ui::render(&p, &viewer, Page::new("SLA", Nav::Sla, body)).await)
}

fn list(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn minutes(s: &str, field: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{field} must be a whole number of minutes"))
}

/// The policy form's fields (`priority` repeats).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolicyForm {
    app: String,
    id: String,
    name: String,
    position: String,
    category: String,
    tag: String,
    escalated: String,
    first_reply: String,
    next_reply: String,
    resolution: String,
    warn_before: String,
    business_hours: Option<String>,
    schedule: String,
    pause_when_waiting: Option<String>,
}

fn policy_of_form(f: &PolicyForm, priorities: Vec<Priority>) -> Result<SlaPolicy, String> {
    let warn = minutes(&f.warn_before, "warn before")?.unwrap_or(0);
    let business = f.business_hours.is_some();
    let target = |m: Option<u32>| {
        m.map(|minutes| Target {
            minutes,
            business_hours: business,
            warn_before_minutes: warn,
        })
    };
    Ok(SlaPolicy {
        app: f.app.trim().to_string(),
        id: f.id.trim().to_string(),
        name: f.name.trim().to_string(),
        position: if f.position.trim().is_empty() {
            0
        } else {
            f.position
                .trim()
                .parse()
                .map_err(|_| "position must be a whole number".to_string())?
        },
        conditions: Conditions {
            priority: priorities,
            category: list(&f.category),
            tag: list(&f.tag),
            escalated: match f.escalated.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        },
        first_reply: target(minutes(&f.first_reply, "first reply")?),
        next_reply: target(minutes(&f.next_reply, "next reply")?),
        resolution: target(minutes(&f.resolution, "resolution")?),
        schedule: Some(f.schedule.trim().to_string()).filter(|s| !s.is_empty()),
        pause_when_waiting: f.pause_when_waiting.is_some(),
        updated_at: 0,
        updated_by: String::new(),
    })
}

fn refused(p: &Platform, e: AdminError) -> Response {
    if e.code() == "store_unavailable" {
        return PageError::internal(e.to_string()).into_response();
    }
    ui::redirect_with_flash(p, "/sla", Flash::error(format!("{} ({})", e, e.code())))
}

/// Read as pairs: the `priority` checkboxes repeat a key, which a struct would not keep.
async fn save_policy(
    State(p): State<Platform>,
    Posted { viewer, form }: Posted<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let mut priorities = Vec::new();
    for (k, v) in form.iter().filter(|(k, _)| k == "priority") {
        match Priority::parse(v) {
            Some(pr) => priorities.push(pr),
            None => return PageError::bad_request(format!("unknown {k} {v:?}")).into_response(),
        }
    }
    let fields: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != "priority").collect();
    let f: PolicyForm = match serde_urlencoded::to_string(&fields)
        .ok()
        .and_then(|s| serde_urlencoded::from_str(&s).ok())
    {
        Some(f) => f,
        None => return PageError::bad_request("the form could not be read").into_response(),
    };
    let policy = match policy_of_form(&f, priorities) {
        Ok(x) => x,
        Err(msg) => {
            return ui::redirect_with_flash(
                &p,
                "/sla",
                Flash::error(format!("{msg} (invalid_sla)")),
            );
        }
    };
    let id = policy.id.clone();
    match admin::put_policy(p.store.as_ref(), policy, &viewer.actor(), now_ms()).await {
        Ok(_) => ui::redirect_with_flash(&p, "/sla", Flash::success(format!("Policy {id} saved."))),
        Err(e) => refused(&p, e),
    }
}

/// The schedule form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScheduleForm {
    id: String,
    name: String,
    timezone: String,
    hours: String,
    holidays: String,
}

async fn save_schedule(
    State(p): State<Platform>,
    Posted { viewer, form }: Posted<ScheduleForm>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    let mut hours = Vec::new();
    for line in form.hours.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match Hours::parse_spec(line) {
            Ok(h) => hours.extend(h),
            Err(e) => {
                return ui::redirect_with_flash(
                    &p,
                    "/sla",
                    Flash::error(format!("{e} ({})", e.code())),
                );
            }
        }
    }
    let schedule = Schedule {
        id: form.id.trim().to_string(),
        name: form.name.trim().to_string(),
        timezone: form.timezone.trim().to_string(),
        hours,
        holidays: list(&form.holidays),
        updated_at: 0,
        updated_by: String::new(),
    };
    let id = schedule.id.clone();
    match admin::put_schedule(p.store.as_ref(), schedule, &viewer.actor(), now_ms()).await {
        Ok(_) => {
            ui::redirect_with_flash(&p, "/sla", Flash::success(format!("Schedule {id} saved.")))
        }
        Err(e) => refused(&p, e),
    }
}

/// The remove forms carry only the CSRF token.
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

async fn delete_policy(
    State(p): State<Platform>,
    Path((app, id)): Path<(String, String)>,
    Posted { viewer, .. }: Posted<NoFields>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    match admin::remove_policy(p.store.as_ref(), &app, &id, &viewer.actor()).await {
        Ok(()) => {
            ui::redirect_with_flash(&p, "/sla", Flash::success(format!("Policy {id} removed.")))
        }
        Err(e) => refused(&p, e),
    }
}

async fn delete_schedule(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<NoFields>,
) -> Response {
    if let Err(e) = viewer.require(Role::Admin) {
        return e.into_response();
    }
    match admin::remove_schedule(p.store.as_ref(), &id, &viewer.actor()).await {
        Ok(()) => ui::redirect_with_flash(
            &p,
            "/sla",
            Flash::success(format!("Schedule {id} removed.")),
        ),
        Err(e) => refused(&p, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct PriorityForm {
    priority: String,
}

/// POST `/sla/conversations/{id}/priority`: back to the conversation, the outcome as a flash.
async fn set_priority(
    State(p): State<Platform>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<PriorityForm>,
) -> Response {
    if let Err(e) = viewer.require(Role::Agent) {
        return e.into_response();
    }
    let back = format!("/conversations/{}", super::conversations::urlencode(&id));
    match admin::set_priority(
        p.store.as_ref(),
        p.events.as_ref(),
        &id,
        &form.priority,
        &viewer.actor(),
        now_ms(),
    )
    .await
    {
        Ok(set) => ui::redirect_with_flash(
            &p,
            &back,
            Flash::success(format!(
                "Priority set to {}; the SLA clock is re-evaluated.",
                set.priority
            )),
        ),
        Err(e) if e.code() == "store_unavailable" => {
            PageError::internal(e.to_string()).into_response()
        }
        Err(e) if e.code() == "not_found" => PageError::not_found(e.to_string()).into_response(),
        Err(e) => ui::redirect_with_flash(&p, &back, Flash::error(format!("{} ({})", e, e.code()))),
    }
}
