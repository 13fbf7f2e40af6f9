//! Front's Core API over HTTP (`Authorization: Bearer <token>`), honouring Front's rate limits:
//! `x-ratelimit-remaining`/`x-ratelimit-reset` on every response, 429 with `retry-after`, and a
//! burst budget of about 5 requests per second per resource.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support_core::front::*;
use support_core::settings::Secret;

/// Tunables, with Front's documented defaults.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    pub base_url: String,
    pub timeout: Duration,
    /// How many times a 429 is retried before giving up.
    pub max_rate_limit_retries: u32,
    /// The longest a single rate-limit wait may be.
    pub max_wait: Duration,
    /// Requests per second per resource (Front's burst limit).
    pub burst_per_sec: u32,
    /// Messages per page when listing.
    pub page_size: usize,
}

impl Default for FrontConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api2.frontapp.com".into(),
            timeout: Duration::from_secs(15),
            max_rate_limit_retries: 3,
            max_wait: Duration::from_secs(60),
            burst_per_sec: 5,
            page_size: 25,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The Front Core API client.
pub struct FrontClient {
    http: reqwest::Client,
    cfg: FrontConfig,
    token: Secret,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// When the company-wide budget is exhausted, the instant it resets.
    exhausted_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for FrontClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontClient")
            .field("base_url", &self.cfg.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

fn transport(e: reqwest::Error) -> FrontError {
    FrontError::Transport(e.without_url().to_string())
}

impl FrontClient {
    pub fn new(token: Secret, cfg: FrontConfig) -> Result<Self, FrontError> {
        crate::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(transport)?;
        Ok(Self {
            http,
            cfg,
            token,
            buckets: Mutex::new(HashMap::new()),
            exhausted_until: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    /// The resource a path belongs to, for the burst budget: `conversations/cnv_1`.
    fn resource(path: &str) -> String {
        path.trim_start_matches('/')
            .split('/')
            .take(2)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// How long to wait before the next request to `resource` (token bucket).
    fn burst_delay(&self, resource: &str) -> Duration {
        let rate = f64::from(self.cfg.burst_per_sec.max(1));
        let Ok(mut buckets) = self.buckets.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let b = buckets.entry(resource.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }

    fn global_delay(&self) -> Duration {
        let Ok(guard) = self.exhausted_until.lock() else {
            return Duration::ZERO;
        };
        guard
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
            .min(self.cfg.max_wait)
    }

    fn observe_limits(&self, res: &reqwest::Response) {
        let h = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        if let (Some(remaining), Some(reset)) = (h("x-ratelimit-remaining"), h("x-ratelimit-reset"))
            && let Ok(mut guard) = self.exhausted_until.lock()
        {
            *guard = if remaining <= 0.0 {
                // `reset` is a Unix timestamp in seconds.
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                // `reset` comes from Front: NaN or garbage must not panic `from_secs_f64`.
                let wait = (reset - now).clamp(0.0, 3600.0);
                Some(Instant::now() + Duration::try_from_secs_f64(wait).unwrap_or_default())
            } else {
                None
            };
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, FrontError> {
        let resource = Self::resource(path);
        let mut attempt = 0;
        loop {
            let wait = self.burst_delay(&resource).max(self.global_delay());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let url = if path.starts_with("http") {
                path.to_string()
            } else {
                self.url(path)
            };
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().await.map_err(transport)?;
            self.observe_limits(&res);
            if res.status() == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                if attempt >= self.cfg.max_rate_limit_retries
                    || Duration::from_secs(retry_after) > self.cfg.max_wait
                {
                    return Err(FrontError::RateLimited {
                        retry_after_secs: retry_after,
                    });
                }
                attempt += 1;
                tracing::debug!(retry_after, attempt, %resource, "Front rate limit; waiting");
                tokio::time::sleep(Duration::from_secs(retry_after)).await;
                continue;
            }
            return Ok(res);
        }
    }

    async fn check(res: reqwest::Response) -> Result<reqwest::Response, FrontError> {
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        if status == StatusCode::MOVED_PERMANENTLY {
            let to = res
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.rsplit('/').next())
                .unwrap_or_default()
                .to_string();
            return Err(FrontError::Moved(to));
        }
        let text = res.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["_error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(match status {
            StatusCode::NOT_FOUND => FrontError::NotFound(message),
            StatusCode::CONFLICT => FrontError::Conflict,
            s if s.is_server_error() => FrontError::Server { status: s.as_u16() },
            s => FrontError::Rejected {
                status: s.as_u16(),
                message,
            },
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, FrontError> {
        let res = Self::check(self.send(method, path, body).await?).await?;
        let bytes = res.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|e| FrontError::Invalid(e.to_string()))
    }

    async fn no_content(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), FrontError> {
        Self::check(self.send(method, path, body).await?)
            .await
            .map(|_| ())
    }

    /// Follow a `_pagination.next` URL only on the configured host.
    fn next_path(&self, next: &str) -> Option<String> {
        let base = self.cfg.base_url.trim_end_matches('/');
        next.strip_prefix(base).map(str::to_string)
    }
}

/// Front ids are `[a-z]+_[a-z0-9]+`; anything else is refused before it reaches a URL.
fn seg(id: &str) -> Result<&str, FrontError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(FrontError::Invalid(format!("not a Front id: {id:?}")))
    }
}

#[async_trait]
impl FrontApi for FrontClient {
    async fn get_conversation(&self, id: &str) -> Result<Conversation, FrontError> {
        self.json(Method::GET, &format!("/conversations/{}", seg(id)?), None)
            .await
    }

    async fn list_messages(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<Message>, FrontError> {
        let mut out = Vec::new();
        let page_size = limit.min(self.cfg.page_size).clamp(1, 100);
        let mut path = format!(
            "/conversations/{}/messages?limit={page_size}",
            seg(conversation_id)?
        );
        loop {
            let page: Page<Message> = self.json(Method::GET, &path, None).await?;
            out.extend(page.results);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
            match page
                .pagination
                .and_then(|p| p.next)
                .and_then(|n| self.next_path(&n))
            {
                Some(next) => path = next,
                None => break,
            }
        }
        Ok(out)
    }

    async fn get_message(&self, id: &str) -> Result<Message, FrontError> {
        self.json(Method::GET, &format!("/messages/{}", seg(id)?), None)
            .await
    }

    async fn create_draft(
        &self,
        conversation_id: &str,
        draft: &NewDraft,
    ) -> Result<Message, FrontError> {
        let body = serde_json::to_value(draft).map_err(|e| FrontError::Invalid(e.to_string()))?;
        self.json(
            Method::POST,
            &format!("/conversations/{}/drafts", seg(conversation_id)?),
            Some(&body),
        )
        .await
    }

    async fn delete_draft(&self, draft_id: &str, version: &str) -> Result<(), FrontError> {
        self.no_content(
            Method::DELETE,
            &format!("/drafts/{}", seg(draft_id)?),
            Some(&json!({"version": version})),
        )
        .await
    }

    async fn send_reply(
        &self,
        conversation_id: &str,
        reply: &NewReply,
    ) -> Result<AcceptedMessage, FrontError> {
        let body = serde_json::to_value(reply).map_err(|e| FrontError::Invalid(e.to_string()))?;
        self.json(
            Method::POST,
            &format!("/conversations/{}/messages", seg(conversation_id)?),
            Some(&body),
        )
        .await
    }

    async fn add_comment(&self, conversation_id: &str, body: &str) -> Result<(), FrontError> {
        self.no_content(
            Method::POST,
            &format!("/conversations/{}/comments", seg(conversation_id)?),
            Some(&json!({"body": body})),
        )
        .await
    }

    async fn add_tags(&self, conversation_id: &str, tag_ids: &[String]) -> Result<(), FrontError> {
        self.no_content(
            Method::POST,
            &format!("/conversations/{}/tags", seg(conversation_id)?),
            Some(&json!({"tag_ids": tag_ids})),
        )
        .await
    }

    async fn remove_tags(
        &self,
        conversation_id: &str,
        tag_ids: &[String],
    ) -> Result<(), FrontError> {
        self.no_content(
            Method::DELETE,
            &format!("/conversations/{}/tags", seg(conversation_id)?),
            Some(&json!({"tag_ids": tag_ids})),
        )
        .await
    }

    async fn set_assignee(
        &self,
        conversation_id: &str,
        teammate_id: Option<&str>,
    ) -> Result<(), FrontError> {
        self.no_content(
            Method::PUT,
            &format!("/conversations/{}/assignee", seg(conversation_id)?),
            Some(&json!({"assignee_id": teammate_id})),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_ids() {
        assert_eq!(
            FrontClient::resource("/conversations/cnv_1/messages?limit=5"),
            "conversations/cnv_1"
        );
        assert_eq!(FrontClient::resource("/drafts/msg_1"), "drafts/msg_1");
        assert!(seg("cnv_1/../x").is_err());
        assert_eq!(seg("cnv_1").ok(), Some("cnv_1"));
    }

    #[test]
    fn burst_budget_is_a_token_bucket() {
        let c = FrontClient::new(
            Secret::new("t"),
            FrontConfig {
                burst_per_sec: 5,
                ..FrontConfig::default()
            },
        )
        .unwrap();
        for _ in 0..5 {
            assert_eq!(c.burst_delay("conversations/cnv_1"), Duration::ZERO);
        }
        let wait = c.burst_delay("conversations/cnv_1");
        assert!(
            wait > Duration::from_millis(150) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert_eq!(
            c.burst_delay("conversations/cnv_2"),
            Duration::ZERO,
            "budgets are per resource"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = FrontClient::new(Secret::new("front-token-value"), FrontConfig::default()).unwrap();
        assert!(!format!("{c:?}").contains("front-token-value"));
    }
}
