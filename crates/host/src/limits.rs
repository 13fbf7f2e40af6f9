//! The edge of every route: rate limits per source, and the sampling of refusals into the
//! audit log.
//!
//! **Rate limits.** Each request belongs to a route class ([`RouteClass`]: Front and Stripe
//! webhooks, Slack, OAuth callbacks, the event API, `/fn/register`, `/api/inngest`, `/api/v1`,
//! everything else) with its own quota per source (`rate_limit.*` settings). A source is the
//! client IP, or on `/api/v1` the bearer token. Sources are hashed with a per-process random seed
//! into `rate_limit.max_sources` buckets per class, so no sender can grow the limiter's state
//! beyond that (an attacker who sprays addresses or tokens shares buckets with himself). A
//! request over quota is answered `429` with `Retry-After` and
//! `{"error":{"code":"rate_limited",…}}`. `rate_limit.enabled = false` turns the limits off.
//!
//! **Refusals.** Every refusal (a rate-limited request, a bad webhook or Slack signature, a
//! refused OAuth callback) is counted in `http_refusals_total{source,kind}`; at most
//! `rate_limit.audit_samples_per_minute` per source and kind are written to the audit log, so a
//! flood of unsigned requests costs a counter, not a row each. Handlers call
//! [`audit_refusal`]; it finds the sampler of the router serving the request.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support_core::audit::AuditEvent;
use support_core::settings::{RateLimitSettings, RouteQuota};
use support_core::store::{Store, StoreError};

/// A family of routes sharing one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    Front,
    Stripe,
    Slack,
    Oauth,
    Events,
    FnRegister,
    Inngest,
    Api,
    Login,
    Demo,
    Other,
}

impl RouteClass {
    pub const ALL: [RouteClass; 11] = [
        Self::Front,
        Self::Stripe,
        Self::Slack,
        Self::Oauth,
        Self::Events,
        Self::FnRegister,
        Self::Inngest,
        Self::Api,
        Self::Login,
        Self::Demo,
        Self::Other,
    ];

    /// The class of a route template (or, for unmatched requests, of the path).
    pub fn of(path: &str) -> Self {
        match path {
            "/webhooks/front" => Self::Front,
            "/webhooks/stripe" => Self::Stripe,
            "/fn/register" => Self::FnRegister,
            "/api/inngest" => Self::Inngest,
            "/login" => Self::Login,
            p if p.starts_with("/slack/") => Self::Slack,
            p if p.contains("/oauth/") => Self::Oauth,
            p if p.starts_with("/e/") => Self::Events,
            p if p == "/api/v1" || p.starts_with("/api/v1/") => Self::Api,
            p if p.starts_with("/sandbox/") || p.starts_with("/demo-app/") => Self::Demo,
            _ => Self::Other,
        }
    }

    /// The label in metrics and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Front => "front",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Oauth => "oauth",
            Self::Events => "events",
            Self::FnRegister => "fn_register",
            Self::Inngest => "inngest",
            Self::Api => "api",
            Self::Login => "login",
            Self::Demo => "demo",
            Self::Other => "other",
        }
    }

    fn quota(self, s: &RateLimitSettings) -> RouteQuota {
        match self {
            Self::Front => s.front,
            Self::Stripe => s.stripe,
            Self::Slack => s.slack,
            Self::Oauth => s.oauth,
            Self::Events => s.events,
            Self::FnRegister => s.fn_register,
            Self::Inngest => s.inngest,
            Self::Api => s.api,
            Self::Login => s.login,
            Self::Demo => s.demo,
            Self::Other => s.other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One class's keyed limiter. `None` quota (`per_minute = 0`): unlimited.
struct ClassLimiter {
    limiter: Option<DefaultKeyedRateLimiter<u64>>,
    checks: AtomicU64,
}

/// How often (in checks) a limiter forgets the sources whose buckets are full again.
const RETAIN_EVERY: u64 = 4096;

fn quota_of(q: RouteQuota) -> Option<Quota> {
    if q.per_minute == 0 {
        return None;
    }
    let burst = NonZeroU32::new(q.burst.max(1))?;
    Some(Quota::with_period(Duration::from_secs(60) / q.per_minute)?.allow_burst(burst))
}

/// A refusal's source and kind.
type SampleKey = (&'static str, &'static str);

/// At most `per_minute` per (source, kind) in each minute-long window, anchored at the
/// window's first refusal. The keys are `'static` names, so the map is bounded by the code.
struct Sampler {
    per_minute: u32,
    windows: Mutex<HashMap<SampleKey, (Instant, u32)>>,
}

impl Sampler {
    fn admit(&self, source: &'static str, kind: &'static str) -> bool {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = w.entry((source, kind)).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 < self.per_minute {
            entry.1 += 1;
            true
        } else {
            false
        }
    }
}

struct Inner {
    enabled: bool,
    trust_forwarded_for: bool,
    max_sources: u64,
    seed: RandomState,
    limiters: Vec<ClassLimiter>,
    sampler: Sampler,
    store: Arc<dyn Store>,
    clock: DefaultClock,
}

/// The rate limiters and the refusal sampler of one server. Cheap to clone.
#[derive(Clone)]
pub struct Edge(Arc<Inner>);

tokio::task_local! {
    static EDGE: Edge;
}

impl Edge {
    pub fn new(settings: &RateLimitSettings, store: Arc<dyn Store>) -> Self {
        let limiters = RouteClass::ALL
            .iter()
            .map(|c| ClassLimiter {
                limiter: quota_of(c.quota(settings)).map(RateLimiter::keyed),
                checks: AtomicU64::new(0),
            })
            .collect();
        Self(Arc::new(Inner {
            enabled: settings.enabled,
            trust_forwarded_for: settings.trust_forwarded_for,
            max_sources: settings.max_sources.max(1) as u64,
            seed: RandomState::new(),
            limiters,
            sampler: Sampler {
                per_minute: settings.audit_samples_per_minute,
                windows: Mutex::new(HashMap::new()),
            },
            store,
            clock: DefaultClock::default(),
        }))
    }

    /// The client IP: the socket's peer, or behind a trusted proxy the last
    /// `X-Forwarded-For` entry.
    fn client_ip(&self, req: &Request) -> String {
        if self.0.trust_forwarded_for
            && let Some(last) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return last.to_string();
        }
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The bucket of a request's source in `class`.
    fn bucket(&self, class: RouteClass, req: &Request, ip: &str) -> u64 {
        let token = (class == RouteClass::Api)
            .then(|| req.headers().get("authorization").map(|v| v.as_bytes()))
            .flatten();
        let h = match token {
            Some(t) => self.0.seed.hash_one((1u8, t)),
            None => self.0.seed.hash_one((0u8, ip)),
        };
        h % self.0.max_sources
    }

    /// `Err(wait)` when the source is over its quota.
    fn check(&self, class: RouteClass, bucket: u64) -> Result<(), Duration> {
        let Some(slot) = self.0.limiters.get(class.index()) else {
            return Ok(());
        };
        let Some(limiter) = &slot.limiter else {
            return Ok(());
        };
        if slot.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&bucket)
            .map_err(|not_until| not_until.wait_time_from(self.0.clock.now()))
    }

    /// Count a refusal; `true` when it is one of the sampled few that go to the audit log.
    fn sample(&self, source: &'static str, kind: &'static str) -> bool {
        metrics::counter!("http_refusals_total", "source" => source, "kind" => kind).increment(1);
        let admitted = self.0.sampler.admit(source, kind);
        if !admitted {
            metrics::counter!("audit_refusals_unsampled_total", "source" => source, "kind" => kind)
                .increment(1);
        }
        admitted
    }
}

/// Count a refusal and write `event` to the audit log if it is within the sample
/// (`rate_limit.audit_samples_per_minute` per `source` and `kind`). Outside a router built by
/// [`crate::host`] (no sampler in scope) every refusal is written.
pub async fn audit_refusal(
    store: &dyn Store,
    source: &'static str,
    kind: &'static str,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let admitted = EDGE
        .try_with(|edge| edge.sample(source, kind))
        .unwrap_or_else(|_| {
            metrics::counter!("http_refusals_total", "source" => source, "kind" => kind)
                .increment(1);
            true
        });
    if admitted {
        store.append_audit(event).await?;
    }
    Ok(())
}

/// The middleware: the rate limit of the request's class, then the handler with the sampler
/// in scope.
pub async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if edge.0.enabled {
        let class = RouteClass::of(
            req.extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or(req.uri().path()),
        );
        let ip = edge.client_ip(&req);
        let bucket = edge.bucket(class, &req, &ip);
        if let Err(wait) = edge.check(class, bucket) {
            return rate_limited(&edge, class, &ip, wait).await;
        }
    }
    let res = EDGE.scope(edge, next.run(req)).await;
    timeout_json(res)
}

async fn rate_limited(edge: &Edge, class: RouteClass, ip: &str, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    if edge.sample(class.name(), "rate_limited") {
        let ev = AuditEvent::new(
            "http.rate_limited",
            "edge",
            json!({"route_class": class.name(), "client_ip": ip, "retry_after_secs": secs}),
        );
        if let Err(e) = edge.0.store.append_audit(&ev).await {
            tracing::warn!(cause = %e, "cannot audit a rate-limited request");
        }
    }
    let mut res = ApiError::Refused {
        code: "rate_limited",
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!("too many requests; retry after {secs} s"),
    }
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert("retry-after", v);
    }
    res
}

/// tower-http's timeouts answer an empty `408`; give it the stable JSON error.
fn timeout_json(res: Response) -> Response {
    use axum::body::HttpBody;
    if res.status() == StatusCode::REQUEST_TIMEOUT && res.body().size_hint().exact() == Some(0) {
        return ApiError::Refused {
            code: "request_timeout",
            status: StatusCode::REQUEST_TIMEOUT,
            message: "the request took too long".into(),
        }
        .into_response();
    }
    res
}

/// A request body that notes when tower-http's body timeout ended it.
struct WatchedBody {
    inner: axum::body::Body,
    timed_out: Arc<std::sync::atomic::AtomicBool>,
}

impl hyper::body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let res = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Err(e))) = &res {
            let timeout = std::error::Error::source(e)
                .is_some_and(|s| s.is::<tower_http::timeout::TimeoutError>());
            if timeout {
                self.timed_out.store(true, Ordering::Relaxed);
            }
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Inside `RequestBodyTimeoutLayer`: a body that stopped arriving is answered
/// `408 body_timeout` (JSON) instead of the extractor's plain-text `400`.
pub async fn body_timeout_json(req: Request, next: Next) -> Response {
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = timed_out.clone();
    let req = req.map(|inner| {
        axum::body::Body::new(WatchedBody {
            inner,
            timed_out: flag,
        })
    });
    let res = next.run(req).await;
    if timed_out.load(Ordering::Relaxed) {
        return ApiError::Refused {
            code: "body_timeout",
            status: StatusCode::REQUEST_TIMEOUT,
            message: "the request body stopped arriving".into(),
        }
        .into_response();
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_routes() {
        assert_eq!(RouteClass::of("/webhooks/front"), RouteClass::Front);
        assert_eq!(RouteClass::of("/webhooks/stripe"), RouteClass::Stripe);
        assert_eq!(RouteClass::of("/slack/interactions"), RouteClass::Slack);
        assert_eq!(RouteClass::of("/stripe/oauth/callback"), RouteClass::Oauth);
        assert_eq!(RouteClass::of("/e/{event_key}"), RouteClass::Events);
        assert_eq!(RouteClass::of("/fn/register"), RouteClass::FnRegister);
        assert_eq!(RouteClass::of("/api/inngest"), RouteClass::Inngest);
        assert_eq!(RouteClass::of("/api/v1/approvals/{id}"), RouteClass::Api);
        assert_eq!(RouteClass::of("/api/v10"), RouteClass::Other);
        assert_eq!(RouteClass::of("/login"), RouteClass::Login);
        assert_eq!(RouteClass::of("/healthz"), RouteClass::Other);
        assert_eq!(RouteClass::of("/demo-app/support"), RouteClass::Demo);
        assert_eq!(
            RouteClass::of("/sandbox/front/conversations/{id}"),
            RouteClass::Demo
        );
        for (i, c) in RouteClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn sampler_admits_n_per_window_per_key() {
        let s = Sampler {
            per_minute: 3,
            windows: Mutex::new(HashMap::new()),
        };
        let admitted = (0..100).filter(|_| s.admit("front", "bad")).count();
        assert_eq!(admitted, 3);
        assert!(s.admit("front", "other"));
        assert!(s.admit("slack", "bad"));
    }

    #[test]
    fn zero_per_minute_is_unlimited() {
        assert!(quota_of(RouteQuota::new(0, 5)).is_none());
        let q = quota_of(RouteQuota::new(60, 0)).expect("a quota");
        assert_eq!(q.burst_size().get(), 1);
        assert_eq!(q.replenish_interval(), Duration::from_secs(1));
    }
}
