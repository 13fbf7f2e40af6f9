//! `skill doctor`: call every SDK method on an app's endpoint with signed requests, print a
//! conformance table and record the app's capabilities.

use super::context::{
    Failure, audit, emit, exit, load_settings, master_key, open_registry, parse_slug,
    registry_failure, usage,
};
use crate::args::{Cli, DoctorArgs};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::{Duration, Instant};
use support_core::Email;
use support_core::registry::{Capabilities, MethodCheck, MethodStatus, Registry};
use support_core::time::now_ms;
use support_sdk::types::*;
use support_sdk::{Action, ClientError, IntegrationClient, RetryPolicy};

// ── skill doctor ─────────────────────────────────────────────────────────────────────────────

/// Ids that exist in no app, so that probing write methods changes nothing.
const PROBE_USER: &str = "usr_skill_doctor_probe";
const PROBE_PURCHASE: &str = "pur_skill_doctor_probe";

struct Probe {
    action: Action,
    status: MethodStatus,
    latency_ms: u64,
    detail: Option<String>,
}

async fn call<R: DeserializeOwned>(
    client: &IntegrationClient,
    action: Action,
    params: &(impl Serialize + Sync),
) -> (Result<R, ClientError>, u64) {
    let started = Instant::now();
    let result = client.call::<_, R>(action, params).await;
    (result, started.elapsed().as_millis() as u64)
}

fn classify<R>(action: Action, result: Result<R, ClientError>, latency_ms: u64) -> Probe {
    let (status, detail) = match result {
        Ok(_) => (MethodStatus::Implemented, None),
        Err(ClientError::Unsupported(_)) => (MethodStatus::NotImplemented, None),
        Err(ClientError::InvalidResponse { reason, .. }) => {
            (MethodStatus::WrongShape, Some(reason))
        }
        Err(other) => (MethodStatus::Error, Some(other.to_string())),
    };
    Probe {
        action,
        status,
        latency_ms,
        detail,
    }
}

/// A first call that fails like this means the rest cannot work: one line saying what to fix.
fn fatal(url: &str, slug: &str, timeout: Duration, error: &ClientError) -> Option<String> {
    match error {
        ClientError::Transport { source, .. } => Some(format!(
            "cannot reach {url}: {}; is the app running, and is the URL right? (fix it with `skill apps update {slug} --url …`)",
            root_cause(source)
        )),
        ClientError::Timeout { .. } => Some(format!(
            "{url} did not answer within {} ms; is it the app's SDK endpoint, and is the app healthy? (raise --timeout-ms if it is just slow)",
            timeout.as_millis()
        )),
        ClientError::Unauthorized { message, .. } => Some(format!(
            "{url} rejected our signature ({}): the app's SUPPORT_WEBHOOK_SECRET is not a live secret of {slug}; give it the secret from `skill init` or `skill keys rotate {slug}`",
            message.as_deref().unwrap_or("HTTP 401")
        )),
        ClientError::InvalidResponse { status, reason, .. }
            if reason.starts_with("body is not JSON") =>
        {
            Some(format!(
                "{url} answered HTTP {status} with something that is not JSON (an HTML page?): the URL is probably not the SDK handler; fix it with `skill apps update {slug} --url …`"
            ))
        }
        ClientError::Status { status, .. } if matches!(*status, 404 | 405) => Some(format!(
            "{url} answered HTTP {status}: no SDK handler at that path; fix it with `skill apps update {slug} --url …`"
        )),
        ClientError::Config(message) => Some(format!("cannot call {url}: {message}")),
        _ => None,
    }
}

pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

pub(crate) fn conformance_table(c: &Capabilities) -> String {
    let mut rows: Vec<(&String, &MethodCheck)> = c.methods.iter().collect();
    // Required first, then by the protocol's order.
    rows.sort_by_key(|(name, m)| {
        (
            !m.required,
            Action::from_wire(name)
                .and_then(|a| Action::ALL.iter().position(|x| *x == a))
                .unwrap_or(usize::MAX),
        )
    });
    let mut out = vec![format!(
        "{:<20} {:<9} {:<16} {:>8}  {}",
        "method", "required", "result", "ms", "detail"
    )];
    for (name, m) in rows {
        out.push(format!(
            "{:<20} {:<9} {:<16} {:>8}  {}",
            name,
            if m.required { "yes" } else { "" },
            m.status.as_str(),
            m.latency_ms,
            m.detail.as_deref().unwrap_or("")
        ));
    }
    out.join("\n")
}

pub(crate) async fn run(cli: &Cli, args: &DoctorArgs) -> Result<(), Failure> {
    let slug = parse_slug(&args.slug)?;
    let email = Email::parse(&args.email).map_err(|e| usage(format!("--email: {e}")))?;
    if args.timeout_ms == 0 {
        return Err(usage("--timeout-ms must be positive"));
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    let settings = load_settings(cli)?;
    let key = master_key(&settings)?;
    let (store, registry) = open_registry(&settings).await?;
    let app = registry
        .require(slug.as_str())
        .await
        .map_err(registry_failure)?;
    let secret = Registry::secrets_of(&key, &app)?
        .pop()
        .ok_or_else(|| Failure::from(format!("{slug} has no SDK secret")))?;
    let url = app.sdk_base_url.clone();
    let client = IntegrationClient::builder(&url, secret.secret)
        .timeout(timeout)
        .retry(RetryPolicy::none())
        .build()
        .map_err(|e| Failure::from(format!("cannot call {url}: {e}")))?;

    // lookupUser first: it tells whether the endpoint works at all.
    let (first, ms) = call::<Option<User>>(
        &client,
        Action::LookupUser,
        &json!({"email": email.as_str()}),
    )
    .await;
    if let Err(e) = &first
        && let Some(message) = fatal(&url, slug.as_str(), timeout, e)
    {
        return Err(Failure {
            code: exit::FAILED,
            message: format!("{slug}: {message}"),
        });
    }
    let user_id = match &first {
        Ok(Some(user)) => user.id.clone(),
        _ => PROBE_USER.to_owned(),
    };
    let mut probes = vec![classify(Action::LookupUser, first, ms)];
    macro_rules! probe {
        ($action:expr, $ty:ty, $params:expr) => {{
            let (result, ms) = call::<$ty>(&client, $action, &$params).await;
            probes.push(classify($action, result, ms));
        }};
    }
    probe!(
        Action::GetPurchases,
        Vec<Purchase>,
        json!({"userId": user_id})
    );
    probe!(
        Action::RevokeAccess,
        ActionResult,
        RevokeAccessParams {
            purchase_id: PROBE_PURCHASE.into(),
            reason: "skill doctor conformance probe (no such purchase)".into(),
            refund_id: "re_skill_doctor_probe".into(),
        }
    );
    probe!(
        Action::TransferPurchase,
        ActionResult,
        TransferPurchaseParams {
            purchase_id: PROBE_PURCHASE.into(),
            from_user_id: PROBE_USER.into(),
            to_email: email.to_string(),
        }
    );
    probe!(
        Action::GenerateMagicLink,
        MagicLink,
        GenerateMagicLinkParams {
            email: email.to_string(),
            expires_in: 60,
        }
    );
    probe!(
        Action::GetSubscriptions,
        Vec<Subscription>,
        json!({"userId": user_id})
    );
    probe!(
        Action::UpdateEmail,
        ActionResult,
        UpdateEmailParams {
            user_id: PROBE_USER.into(),
            new_email: email.to_string(),
        }
    );
    probe!(
        Action::UpdateName,
        ActionResult,
        UpdateNameParams {
            user_id: PROBE_USER.into(),
            new_name: "Doctor Probe".into(),
        }
    );
    probe!(
        Action::GetClaimedSeats,
        Vec<ClaimedSeat>,
        json!({"bulkCouponId": "bulk_skill_doctor_probe"})
    );
    probe!(
        Action::SearchContent,
        ContentSearchResponse,
        ContentSearchRequest {
            query: "getting started".into(),
            limit: Some(3),
            ..Default::default()
        }
    );
    probe!(
        Action::GetProductStatus,
        Option<ProductStatus>,
        json!({"productId": "prod_skill_doctor_probe"})
    );
    probe!(Action::GetActivePromotions, Vec<Promotion>, json!({}));
    probe!(
        Action::GetCouponInfo,
        Option<CouponInfo>,
        json!({"code": "SKILL-DOCTOR-PROBE"})
    );
    probe!(Action::GetRefundPolicy, RefundPolicy, json!({}));
    probe!(
        Action::GetContentAccess,
        ContentAccess,
        json!({"userId": user_id})
    );
    probe!(
        Action::GetRecentActivity,
        UserActivity,
        json!({"userId": user_id})
    );
    probe!(
        Action::GetLicenseInfo,
        Option<LicenseInfo>,
        json!({"purchaseId": PROBE_PURCHASE})
    );
    probe!(Action::GetAppInfo, AppInfo, json!({}));

    let capabilities = Capabilities {
        checked_at: now_ms(),
        endpoint: url.clone(),
        methods: probes
            .iter()
            .map(|p| {
                (
                    p.action.as_str().to_owned(),
                    MethodCheck {
                        status: p.status,
                        required: p.action.is_required(),
                        latency_ms: p.latency_ms,
                        detail: p.detail.clone(),
                    },
                )
            })
            .collect(),
    };
    registry
        .set_capabilities(slug.as_str(), &capabilities)
        .await
        .map_err(registry_failure)?;
    let conformant = capabilities.conformant();
    audit(
        &store,
        "app.doctor",
        slug.as_str(),
        json!({"endpoint": url, "conformant": conformant,
               "implemented": probes.iter().filter(|p| p.status == MethodStatus::Implemented).map(|p| p.action.as_str()).collect::<Vec<_>>()}),
    )
    .await;
    let implemented = probes
        .iter()
        .filter(|p| p.status == MethodStatus::Implemented)
        .count();
    emit(
        cli,
        &json!({"slug": slug, "endpoint": url, "conformant": conformant,
                "implemented": implemented, "total": probes.len(),
                "methods": probes.iter().map(|p| json!({
                    "method": p.action.as_str(), "required": p.action.is_required(),
                    "status": p.status.as_str(), "latency_ms": p.latency_ms, "detail": p.detail,
                })).collect::<Vec<_>>()}),
        || {
            format!(
                "{slug} at {url}\n\n{}\n\n{implemented}/{} methods implemented; {}",
                conformance_table(&capabilities),
                probes.len(),
                if conformant {
                    "conformant. Capabilities saved."
                } else {
                    "NOT conformant: every required method must be implemented and no method may err. Capabilities saved."
                }
            )
        },
    );
    if conformant {
        Ok(())
    } else {
        Err(Failure {
            code: exit::CHECK_FAILED,
            message: format!(
                "{slug}: {} method(s) not conformant (see the table)",
                probes
                    .iter()
                    .filter(|p| match p.status {
                        MethodStatus::Implemented => false,
                        MethodStatus::NotImplemented => p.action.is_required(),
                        _ => true,
                    })
                    .count()
            ),
        })
    }
}
