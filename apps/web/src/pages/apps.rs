//! Apps: `/apps` (every registered product) and `/apps/{slug}`: Front inboxes, the SDK
//! endpoint's health as `skill doctor` last recorded it, the policy, Slack channel and
//! approvers, Stripe Connect, the SDK secrets (ids only).
//!
//! Admin actions (POST, CSRF):
//! - `/apps/{slug}/policy`: the policy as JSON, validated ([`registry::validate_policy`], unknown
//!   keys refused), then shown as a line diff (`similar`) to confirm; the confirmed change is
//!   written through [`support_core::registry::Registry::update_app`] (refused when the app
//!   changed since the form was shown) and audited as `app.policy_updated` with the diff;
//! - `/apps/{slug}/rotate-secret`: [`support_core::registry::Registry::rotate_secret`] as
//!   `skill keys rotate` does (audited `app.secret_rotated`); the new secret is shown once, in
//!   this answer only (`Cache-Control: no-store`);
//! - `/apps/{slug}/stripe/connect`: the Connect link ([`crate::stripe::mint_connect_link`],
//!   as `GET /api/v1/apps/{slug}/stripe/connect`), shown as a link to Stripe (the CSP's
//!   `form-action 'self'` forbids redirecting a form to another site).

use crate::auth::{Viewer, csrf};
use crate::ui::{
    self, EmptyState, ErrorPanel, Flash, Nav, Page, PageError, RelTime, StatusBadge, Table, health,
};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use support_core::audit::AuditEvent;
use support_core::auth::Role;
use support_core::registry::{self, AppPatch, AppPolicy, Capabilities, Registry};
use support_core::store::{AppRow, AuditQuery, SeqCursor};
use support_core::time::{Millis, now_ms};
use support_host::Platform;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/apps", get(list))
        .route("/apps/{slug}", get(detail))
        .route("/apps/{slug}/policy", post(policy))
        .route("/apps/{slug}/rotate-secret", post(rotate))
        .route("/apps/{slug}/stripe/connect", post(stripe_connect))
}

fn doctor_summary(app: &AppRow) -> (String, &'static str) {
    match Capabilities::from_row(app) {
        Some(c) => {
            let ok = c
                .methods
                .values()
                .filter(|m| m.status == registry::MethodStatus::Implemented)
                .count();
            let conformant = c.conformant();
            (
                format!(
                    "{ok}/{} methods{}",
                    c.methods.len(),
                    if conformant { "" } else { ", not conformant" }
                ),
                if conformant { "executed" } else { "failed" },
            )
        }
        None => ("never checked".into(), "neutral"),
    }
}

async fn list(viewer: Viewer, State(p): State<Platform>) -> Response {
    let now = now_ms();
    let content = match p.store.list_apps().await {
        Err(e) => super::approvals::section_error(e),
        Ok(apps) if apps.is_empty() => view! {
            <EmptyState title="No apps registered">
                "Register a product with "<code>"skill init"</code>"; it appears here with its inboxes, policy and SDK health."
            </EmptyState>
        }
        .into_any(),
        Ok(apps) => {
            // Each app's SDK endpoint, live from its newest tool calls (a failure to read
            // shows in its cell).
            let mut live = Vec::with_capacity(apps.len());
            for a in &apps {
                live.push(health::sdk_probe(&p, &a.slug).await);
            }
            let rows = apps
                .into_iter()
                .zip(live)
                .map(|(a, probe)| {
                    let live = match probe {
                        Ok(pr) => {
                            let state = pr.state();
                            let last = match (state, &pr.success, &pr.error) {
                                ("failed", _, Some(e)) => Some((e.at, "last error")),
                                (_, Some(s), _) => Some((s.at, "last success")),
                                _ => None,
                            };
                            let last = last.map(|(at, what)| {
                                view! { <div class="muted">{what}" "<RelTime at=at now=now/></div> }
                            });
                            view! { <StatusBadge status=state/>{last} }.into_any()
                        }
                        Err(e) => super::approvals::section_error(e),
                    };
                    let href = format!("/apps/{}", a.slug);
                    let (doctor, state) = doctor_summary(&a);
                    let stripe = a.stripe_account.clone().unwrap_or_else(|| "not connected".into());
                    let channel = registry::policy_of(&a)
                        .ok()
                        .and_then(|p| p.approval_channel)
                        .unwrap_or_default();
                    view! {
                        <tr>
                            <td><a href=href>{a.slug.clone()}</a></td>
                            <td>{a.name.clone()}</td>
                            <td><StatusBadge status=a.status.to_string()/></td>
                            <td>{a.front_inbox_ids.join(", ")}</td>
                            <td>{live}</td>
                            <td><span class=format!("badge badge-{state}")>{doctor}</span></td>
                            <td><code>{stripe}</code></td>
                            <td>{channel}</td>
                            <td><RelTime at=a.updated_at now=now/></td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <Table head=vec!["Slug", "Name", "Status", "Front inboxes", "SDK endpoint (live)", "Last doctor", "Stripe", "Approvals channel", "Updated"] caption="Apps">
                    {rows}
                </Table>
            }
            .into_any()
        }
    };
    let body = view! { {content} };
    ui::render(&p, &viewer, Page::new("Apps", Nav::Apps, body)).await
}

/// The policy as the form and the diff show it: pretty JSON, the struct's field order.
pub fn policy_text(p: &AppPolicy) -> String {
    serde_json::to_string_pretty(p).unwrap_or_default()
}

/// Parse and validate a policy typed into the form; unknown keys are refused (serde would
/// drop them silently).
pub fn parse_policy(text: &str) -> Result<AppPolicy, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let Value::Object(map) = &v else {
        return Err("the policy must be a JSON object".into());
    };
    let policy: AppPolicy =
        serde_json::from_value(v.clone()).map_err(|e| format!("the policy is invalid: {e}"))?;
    let known = serde_json::to_value(AppPolicy::default()).unwrap_or_default();
    const OPTIONAL: &[&str] = &["approval_ttl_secs", "llm", "retention"];
    let unknown: Vec<&String> = map
        .keys()
        .filter(|k| known.get(k.as_str()).is_none() && !OPTIONAL.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown policy field(s): {}",
            unknown
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    registry::validate_policy(&policy).map_err(|e| e.to_string())?;
    Ok(policy)
}

/// A unified line diff of two texts (`-`/`+`/` ` prefixes).
pub fn diff_lines(old: &str, new: &str) -> Vec<(char, String)> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            (sign, c.value().trim_end_matches('\n').to_string())
        })
        .collect()
}

fn diff_view(lines: &[(char, String)]) -> impl IntoView + use<> {
    let items = lines
        .iter()
        .map(|(sign, text)| {
            let class = match sign {
                '-' => "del",
                '+' => "add",
                _ => "same",
            };
            let line = format!("{sign} {text}");
            view! { <span class=class>{line}"\n"</span> }
        })
        .collect_view();
    view! { <pre class="diff" aria-label="What changes">{items}</pre> }
}

/// What a page section shows above the app (a refusal, a preview, a secret shown once).
enum Top {
    None,
    Error(&'static str, String),
    Preview {
        text: String,
        diff: Vec<(char, String)>,
        updated_at: Millis,
    },
    Secret {
        id: String,
        secret: String,
    },
    /// The Stripe Connect link just minted.
    Connect {
        url: String,
    },
}

async fn detail(viewer: Viewer, State(p): State<Platform>, Path(slug): Path<String>) -> Response {
    detail_page(&p, &viewer, &slug, Top::None, None, StatusCode::OK).await
}

async fn detail_page(
    p: &Platform,
    viewer: &Viewer,
    slug: &str,
    top: Top,
    draft_policy: Option<String>,
    status: StatusCode,
) -> Response {
    let app = match p.store.get_app(slug).await {
        Ok(Some(a)) => a,
        Ok(None) => return PageError::not_found(format!("app {slug}")).into_response(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let now = now_ms();
    let admin = viewer.can(Role::Admin);
    let base = format!("/apps/{}", app.slug);
    let no_store = matches!(top, Top::Secret { .. });
    let top_view = match top {
        Top::None => None,
        Top::Error(code, message) => Some(view! { <ErrorPanel code=code message=message/> }.into_any()),
        Top::Preview { text, diff, updated_at } => {
            let action = format!("{base}/policy");
            let back = base.clone();
            Some(
                view! {
                    <section class="preview" aria-labelledby="preview-h">
                        <h2 id="preview-h">"Review the policy change"</h2>
                        {diff_view(&diff)}
                        <form method="post" action=action>
                            {ui::csrf_field(viewer)}
                            <input type="hidden" name="policy" value=text/>
                            <input type="hidden" name="updated_at" value=updated_at.to_string()/>
                            <input type="hidden" name="confirm" value="1"/>
                            <button type="submit" class="primary">"Apply this change"</button>
                            " "<a class="button secondary" href=back>"Cancel"</a>
                        </form>
                    </section>
                }
                .into_any(),
            )
        }
        Top::Connect { url } => Some(
            view! {
                <div class="ok-panel" role="status">
                    <strong>"Continue at Stripe to connect this app's account (the link works once, for 30 minutes): "</strong>
                    <a class="button" href=url rel="noreferrer">"Open Stripe Connect"</a>
                </div>
            }
            .into_any(),
        ),
        Top::Secret { id, secret } => Some(
            view! {
                <div class="ok-panel" role="status">
                    <strong>"New SDK secret "{id}" — shown once. Copy it now into the app's configuration; then retire the old one with "<code>"skill keys rotate --retire-old"</code>"."</strong>
                    <pre class="secret"><code>{secret}</code></pre>
                </div>
            }
            .into_any(),
        ),
    };
    let policy = registry::policy_of(&app);
    let policy_view = match &policy {
        Err(e) => view! { <ErrorPanel code="policy_corrupt" message=e.to_string()/> }.into_any(),
        Ok(pol) => {
            let text = draft_policy.clone().unwrap_or_else(|| policy_text(pol));
            if admin {
                let action = format!("{base}/policy");
                view! {
                    <form method="post" action=action class="policy">
                        {ui::csrf_field(viewer)}
                        <input type="hidden" name="updated_at" value=app.updated_at.to_string()/>
                        <label for="f-policy">"Policy (JSON)"</label>
                        <textarea id="f-policy" name="policy" rows="18" spellcheck="false">{text}</textarea>
                        <button type="submit">"Review the change"</button>
                    </form>
                }
                .into_any()
            } else {
                view! { <pre><code>{text}</code></pre> }.into_any()
            }
        }
    };
    let (channel, approvers) = match &policy {
        Ok(pol) => (
            pol.approval_channel
                .clone()
                .unwrap_or_else(|| "— (the global Slack channel)".into()),
            if pol.approvers.is_empty() {
                "any active agent or admin".to_string()
            } else {
                pol.approvers.join(", ")
            },
        ),
        Err(_) => (String::new(), String::new()),
    };
    let health = sdk_health(p, &app, now).await;
    let secrets = match Registry::secrets_of(&p.master_key, &app) {
        Ok(s) => view! {
            <ul>
                {s.into_iter().map(|s| view! { <li><code>{s.id}</code>" · created "<RelTime at=s.created_at now=now/></li> }).collect_view()}
            </ul>
        }
        .into_any(),
        Err(e) => {
            tracing::error!(app = %app.slug, cause = %e, "cannot open SDK secrets");
            view! { <ErrorPanel code="secrets_unreadable" message="The SDK secrets cannot be opened with this master key."/> }.into_any()
        }
    };
    let rotate = admin.then(|| {
        let action = format!("{base}/rotate-secret");
        view! {
            <form method="post" action=action>
                {ui::csrf_field(viewer)}
                <button type="submit">"Rotate the SDK secret (the old one stays valid until retired)"</button>
            </form>
        }
    });
    let configured = p
        .settings
        .stripe
        .connect_client_id
        .as_deref()
        .is_some_and(|c| !c.is_empty());
    let stripe_state = match &app.stripe_account {
        Some(acct) => format!("connected: {acct}"),
        None => "not connected".into(),
    };
    let connect = (admin && configured).then(|| {
        let action = format!("{base}/stripe/connect");
        let label = if app.stripe_account.is_some() {
            "Reconnect Stripe"
        } else {
            "Connect Stripe"
        };
        view! {
            <form method="post" action=action>
                {ui::csrf_field(viewer)}
                <button type="submit">{label}</button>
            </form>
        }
    });
    let not_configured = (!configured).then(|| {
        view! { <p class="muted">"Stripe Connect is not configured (stripe.connect_client_id)."</p> }
    });
    let title = format!("{} ({})", app.name, app.slug);
    let body = view! {
        <p><a href="/apps">"← Apps"</a></p>
        {top_view}
        <dl class="facts">
            <dt>"Status"</dt><dd><StatusBadge status=app.status.to_string()/></dd>
            <dt>"Front inboxes"</dt><dd>{app.front_inbox_ids.join(", ")}</dd>
            <dt>"SDK endpoint"</dt><dd><code>{app.sdk_base_url.clone()}</code></dd>
            <dt>"Slack channel"</dt><dd>{channel}</dd>
            <dt>"Approvers"</dt><dd>{approvers}</dd>
            <dt>"Stripe"</dt><dd>{stripe_state}</dd>
        </dl>
        {connect}
        {not_configured}
        <h2>"SDK endpoint health"</h2>
        {health}
        <h2>"Policy"</h2>
        {policy_view}
        <h2>"SDK secrets"</h2>
        {secrets}
        {rotate}
    };
    let mut res = ui::render(
        p,
        viewer,
        Page::new(title, Nav::Apps, body).with_status(status),
    )
    .await;
    *res.status_mut() = status;
    if no_store {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The endpoint live (its newest successful and failed tool calls), the last `app.doctor`
/// entry (by `audit_log_kind`) and the doctor table it recorded.
async fn sdk_health(p: &Platform, app: &AppRow, now: Millis) -> AnyView {
    let live = match health::sdk_probe(p, &app.slug).await {
        Ok(pr) => health::table(vec![pr], now),
        Err(e) => super::approvals::section_error(e),
    };
    let last = p
        .store
        .audit_search(
            &AuditQuery {
                kind: Some("app.doctor".into()),
                app: Some(app.slug.clone()),
                ..AuditQuery::default()
            },
            SeqCursor::Newest,
            1,
        )
        .await;
    let last_view = match last {
        Ok(rows) => rows.into_iter().next().map(|r| {
            let conformant = r.data["conformant"].as_bool().unwrap_or(false);
            let state = if conformant { "ok" } else { "failed" };
            view! {
                <p>"Last doctor run: "<StatusBadge status=state/>" "<RelTime at=r.at now=now/>" by "{r.actor}</p>
            }
            .into_any()
        }),
        Err(e) => Some(super::approvals::section_error(e)),
    };
    let doctor_cmd = format!("skill doctor {}", app.slug);
    let table = match Capabilities::from_row(app) {
        None => view! {
            <EmptyState title="Never checked">
                "Run "<code>{doctor_cmd}</code>" to check every SDK method of the endpoint; the result is recorded here."
            </EmptyState>
        }
        .into_any(),
        Some(c) => {
            let rows = c
                .methods
                .into_iter()
                .map(|(name, m)| {
                    let status = m.status.as_str();
                    view! {
                        <tr>
                            <td><code>{name}</code></td>
                            <td>{if m.required { "required" } else { "optional" }}</td>
                            <td><StatusBadge status=status/></td>
                            <td>{format!("{} ms", m.latency_ms)}</td>
                            <td>{m.detail.unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <p class="muted">"Checked "<RelTime at=c.checked_at now=now/>" against "<code>{c.endpoint}</code></p>
                <Table head=vec!["Method", "", "Status", "Latency", "Detail"] caption="SDK methods">
                    {rows}
                </Table>
            }
            .into_any()
        }
    };
    view! {
        <h3>"Live, from the agent's calls"</h3>
        {live}
        <h3>"Last doctor run"</h3>
        {last_view}
        {table}
    }
    .into_any()
}

#[derive(Debug, Default, Deserialize)]
struct PolicyForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    policy: Option<String>,
    updated_at: Option<Millis>,
    confirm: Option<String>,
}

/// CSRF then admin; `Err` is the answer.
async fn admin_post(
    p: &Platform,
    viewer: &Viewer,
    slug: &str,
    token: Option<&str>,
) -> Result<(), Response> {
    if let Err(e) = csrf::verify(viewer, token) {
        return Err(detail_page(
            p,
            viewer,
            slug,
            Top::Error(e.code, e.message),
            None,
            e.status,
        )
        .await);
    }
    viewer
        .require(Role::Admin)
        .map_err(IntoResponse::into_response)
}

async fn policy(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(slug): Path<String>,
    form: Result<Form<PolicyForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return PageError::bad_request("the form could not be read").into_response();
    };
    if let Err(res) = admin_post(&p, &viewer, &slug, form.csrf.as_deref()).await {
        return res;
    }
    let app = match p.store.get_app(&slug).await {
        Ok(Some(a)) => a,
        Ok(None) => return PageError::not_found(format!("app {slug}")).into_response(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let text = form.policy.unwrap_or_default();
    let new = match parse_policy(&text) {
        Ok(p) => p,
        Err(m) => {
            return detail_page(
                &p,
                &viewer,
                &slug,
                Top::Error("invalid_policy", m),
                Some(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let old = match registry::policy_of(&app) {
        Ok(p) => p,
        Err(e) => return PageError::internal(e.to_string()).into_response(),
    };
    let (old_text, new_text) = (policy_text(&old), policy_text(&new));
    if old_text == new_text {
        return ui::redirect_with_flash(
            &p,
            &format!("/apps/{slug}"),
            Flash::info("The policy is unchanged; nothing was written."),
        );
    }
    let diff = diff_lines(&old_text, &new_text);
    let stale = form.updated_at != Some(app.updated_at);
    if form.confirm.as_deref() != Some("1") || stale {
        let top = Top::Preview {
            text: new_text,
            diff,
            updated_at: app.updated_at,
        };
        let status = if stale && form.confirm.as_deref() == Some("1") {
            // Someone changed the app since the form was shown: show the diff against now.
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        let mut res = detail_page(&p, &viewer, &slug, top, None, status).await;
        if status == StatusCode::CONFLICT {
            *res.status_mut() = StatusCode::CONFLICT;
        }
        return res;
    }
    if let Err(e) = p
        .registry
        .update_app(
            &slug,
            AppPatch {
                policy: Some(new),
                ..AppPatch::default()
            },
        )
        .await
    {
        return detail_page(
            &p,
            &viewer,
            &slug,
            Top::Error("policy_not_saved", e.to_string()),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let diff_text: Vec<String> = diff
        .iter()
        .filter(|(s, _)| *s != ' ')
        .map(|(s, t)| format!("{s} {t}"))
        .collect();
    let ev = AuditEvent::new(
        "app.policy_updated",
        viewer.actor(),
        json!({"slug": slug, "before": serde_json::to_value(&old).unwrap_or_default(),
               "after": serde_json::from_str::<Value>(&new_text).unwrap_or_default(),
               "diff": diff_text, "channel": "dashboard"}),
    )
    .app(&slug);
    if let Err(e) = p.store.append_audit(&ev).await {
        return PageError::from(e).into_response();
    }
    ui::redirect_with_flash(
        &p,
        &format!("/apps/{slug}"),
        Flash::success("Policy saved and audited."),
    )
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn rotate(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(slug): Path<String>,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form.ok().and_then(|Form(f)| f.csrf);
    if let Err(res) = admin_post(&p, &viewer, &slug, token.as_deref()).await {
        return res;
    }
    let r = match p.registry.rotate_secret(&p.master_key, &slug).await {
        Ok(r) => r,
        Err(registry::RegistryError::NotFound(_)) => {
            return PageError::not_found(format!("app {slug}")).into_response();
        }
        Err(e) => return PageError::internal(e.to_string()).into_response(),
    };
    let Some(added) = r.added else {
        return PageError::internal("rotation added no secret").into_response();
    };
    let ev = AuditEvent::new(
        "app.secret_rotated",
        viewer.actor(),
        json!({"added": added.id, "live": r.live, "channel": "dashboard"}),
    )
    .app(&slug);
    if let Err(e) = p.store.append_audit(&ev).await {
        return PageError::from(e).into_response();
    }
    detail_page(
        &p,
        &viewer,
        &slug,
        Top::Secret {
            id: added.id.clone(),
            secret: added.secret.clone(),
        },
        None,
        StatusCode::OK,
    )
    .await
}

async fn stripe_connect(
    viewer: Viewer,
    State(p): State<Platform>,
    Path(slug): Path<String>,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form.ok().and_then(|Form(f)| f.csrf);
    if let Err(res) = admin_post(&p, &viewer, &slug, token.as_deref()).await {
        return res;
    }
    match crate::stripe::mint_connect_link(&p, &slug, &viewer.actor()).await {
        // A link, not a redirect: the dashboard's CSP (`form-action 'self'`) stops a form
        // from being redirected to another site.
        Ok(link) => match link["url"].as_str() {
            Some(url) => {
                let top = Top::Connect {
                    url: url.to_string(),
                };
                detail_page(&p, &viewer, &slug, top, None, StatusCode::OK).await
            }
            None => PageError::internal("no Connect URL").into_response(),
        },
        Err(e) => {
            let err = PageError::from(e);
            err.log();
            detail_page(
                &p,
                &viewer,
                &slug,
                Top::Error(err.code, err.message),
                None,
                err.status,
            )
            .await
        }
    }
}
