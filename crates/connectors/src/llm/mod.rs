//! Chat models over HTTP: [`openai::OpenAiChat`] (OpenAI-compatible chat completions: OpenAI,
//! Azure-style deployments, Ollama, llama.cpp, vLLM, OpenRouter) and
//! [`anthropic::AnthropicChat`] (Anthropic Messages), both implementing the domain's
//! [`Llm`] port, and [`build`], the factory from settings.
//!
//! Both share the transport in this module: a per-attempt timeout, retries with exponential
//! backoff on 429 and 5xx (honouring `retry-after-ms` and `Retry-After` seconds, every wait
//! capped), the latency of the whole call and the number of attempts. Logs name the provider,
//! the model, the attempt and the status; never the API key or the prompt.

pub mod anthropic;
pub mod openai;

use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support_core::llm::{Llm, LlmError, LlmResponse, LlmToolCall, PriceTable, Usage};
use support_core::settings::{LlmKind, LlmProviderSettings, Secret};

/// Everything an adapter needs. `Debug` never shows the key ([`Secret`]).
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// OpenAI-compatible: `https://api.openai.com/v1`, `http://localhost:11434/v1`, or an
    /// Azure deployment `https://X.openai.azure.com/openai/deployments/D?api-version=…`.
    /// Anthropic: `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The model used when a request leaves `model` empty.
    pub model: String,
    /// Per attempt (sending the request and reading the whole answer).
    pub timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// The first backoff; doubled on each retry.
    pub backoff_base: Duration,
    /// The longest single wait, `Retry-After` included.
    pub max_backoff: Duration,
    pub prices: PriceTable,
}

impl LlmConfig {
    /// A configuration with the default backoff (0.5 s doubling, at most 20 s per wait).
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<Secret>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            model: model.into(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            prices: PriceTable::default(),
        }
    }

    /// From one entry of `llm.providers`.
    pub fn from_settings(settings: &LlmProviderSettings, model: &str, prices: &PriceTable) -> Self {
        let mut cfg = Self::new(settings.base_url.clone(), settings.api_key.clone(), model);
        cfg.timeout = Duration::from_secs(settings.timeout_secs);
        cfg.max_retries = settings.max_retries;
        cfg.prices = prices.clone();
        cfg
    }
}

/// A provider entry that cannot be turned into an adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("llm provider `{provider}`: {message}")]
pub struct BuildError {
    pub provider: String,
    pub message: String,
}

/// The adapter for `model` on the provider `name` of `llm.providers`.
pub fn build(
    name: &str,
    settings: &LlmProviderSettings,
    model: &str,
    prices: &PriceTable,
) -> Result<Arc<dyn Llm>, BuildError> {
    let err = |message: &str| BuildError {
        provider: name.to_string(),
        message: message.to_string(),
    };
    if model.trim().is_empty() {
        return Err(err("no model given"));
    }
    if settings.timeout_secs == 0 {
        return Err(err("timeout_secs must be at least 1"));
    }
    let mut cfg = LlmConfig::from_settings(settings, model, prices);
    if settings.kind == LlmKind::Anthropic
        && cfg.base_url == LlmProviderSettings::default().base_url
    {
        // The settings' default base URL is OpenAI's; an Anthropic entry without one means
        // Anthropic's own.
        cfg.base_url = anthropic::DEFAULT_BASE_URL.to_string();
    }
    if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
        return Err(err("base_url must start with http:// or https://"));
    }
    match settings.kind {
        LlmKind::Openai => Ok(Arc::new(
            openai::OpenAiChat::new(cfg).map_err(|e| err(&e.to_string()))?,
        )),
        LlmKind::Anthropic => {
            if cfg.api_key.as_ref().is_none_or(|k| k.expose().is_empty()) {
                return Err(err("api_key is required for Anthropic"));
            }
            Ok(Arc::new(
                anthropic::AnthropicChat::new(cfg).map_err(|e| err(&e.to_string()))?,
            ))
        }
    }
}

/// What a provider's wire format contributes to the shared transport.
pub(crate) trait Wire {
    /// `openai` or `anthropic`.
    const PROVIDER: &'static str;
    /// The human-readable message of an error body (or a short excerpt of the body).
    fn error_message(body: &str) -> String;
    /// A final, non-retried failure.
    fn classify(status: u16, body: &str) -> LlmError;
    /// Whether a failed status is worth another attempt.
    fn retryable(status: u16, _body: &str) -> bool {
        status == 429 || status >= 500
    }
}

/// The answer, read from the provider's body.
pub(crate) struct Parsed {
    pub model: Option<String>,
    pub content: Option<String>,
    pub tool_calls: Vec<LlmToolCall>,
    pub stop_reason: Option<String>,
    pub usage: Usage,
}

/// The shared HTTP client and retry loop.
/// `Debug` shows the config with the key redacted ([`Secret`]).
#[derive(Debug)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub cfg: LlmConfig,
}

impl Transport {
    /// The model a request asks for, or the configured one.
    pub fn model_for<'a>(&'a self, req: &'a support_core::llm::LlmRequest) -> &'a str {
        if req.model.is_empty() {
            self.cfg.model.as_str()
        } else {
            req.model.as_str()
        }
    }

    /// The API key (empty when none is configured).
    pub fn key(&self) -> &str {
        self.cfg
            .api_key
            .as_ref()
            .map(|k| k.expose())
            .unwrap_or_default()
    }

    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        crate::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LlmError::Transport(e.without_url().to_string()))?;
        Ok(Self { http, cfg })
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.cfg
            .backoff_base
            .saturating_mul(factor)
            .min(self.cfg.max_backoff)
    }

    /// Sends `make()` until it succeeds or the retries are spent; returns the 2xx body and the
    /// number of attempts.
    pub async fn send<W: Wire>(
        &self,
        model: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(String, u32), LlmError> {
        let max_attempts = self.cfg.max_retries.saturating_add(1);
        let timeout_ms = u64::try_from(self.cfg.timeout.as_millis()).unwrap_or(u64::MAX);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = tokio::time::timeout(self.cfg.timeout, async {
                let resp = make().send().await?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await?;
                Ok::<_, reqwest::Error>((status, headers, text))
            })
            .await;
            // (the error if this was the last attempt, the server's wait if it named one)
            let (failure, server_wait) = match outcome {
                Ok(Ok((status, _, text))) if (200..300).contains(&status) => {
                    tracing::debug!(
                        provider = W::PROVIDER,
                        model,
                        attempt,
                        status,
                        "llm call answered"
                    );
                    return Ok((text, attempt));
                }
                Ok(Ok((status, headers, text))) => {
                    tracing::warn!(
                        provider = W::PROVIDER,
                        model,
                        attempt,
                        status,
                        "llm call failed"
                    );
                    if !W::retryable(status, &text) {
                        return Err(W::classify(status, &text));
                    }
                    let wait = retry_after(&headers);
                    let failure = if status == 429 {
                        LlmError::RateLimited {
                            retry_after_ms: wait
                                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        }
                    } else {
                        LlmError::Server {
                            status,
                            message: W::error_message(&text),
                        }
                    };
                    (failure, wait)
                }
                Ok(Err(e)) => {
                    let timed_out = e.is_timeout();
                    let error = e.without_url().to_string();
                    tracing::warn!(
                        provider = W::PROVIDER,
                        model,
                        attempt,
                        error,
                        "llm call transport error"
                    );
                    if timed_out {
                        (LlmError::Timeout(timeout_ms), None)
                    } else {
                        (LlmError::Transport(error), None)
                    }
                }
                Err(_) => {
                    tracing::warn!(
                        provider = W::PROVIDER,
                        model,
                        attempt,
                        timeout_ms,
                        "llm call timed out"
                    );
                    (LlmError::Timeout(timeout_ms), None)
                }
            };
            if attempt >= max_attempts {
                return Err(failure);
            }
            let wait = server_wait
                .unwrap_or_else(|| self.backoff(attempt))
                .min(self.cfg.max_backoff);
            tracing::info!(
                provider = W::PROVIDER,
                model,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "llm call retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The response for `parsed`: cost from the price table (by the answering model's name,
    /// else the requested one), latency since `started`.
    pub fn finish<W: Wire>(
        &self,
        requested_model: &str,
        parsed: Parsed,
        attempts: u32,
        started: Instant,
    ) -> LlmResponse {
        let model = parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string());
        let price = self
            .cfg
            .prices
            .price(&model)
            .or_else(|| self.cfg.prices.price(requested_model));
        let cost_usd = price.map_or(0.0, |p| {
            (parsed.usage.input_tokens as f64 * p.input_per_mtok
                + parsed.usage.output_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0
        });
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            provider = W::PROVIDER,
            model = %model,
            attempts,
            latency_ms,
            input_tokens = parsed.usage.input_tokens,
            output_tokens = parsed.usage.output_tokens,
            "llm call done"
        );
        LlmResponse {
            model,
            content: parsed.content,
            tool_calls: parsed.tool_calls,
            stop_reason: parsed.stop_reason,
            usage: parsed.usage,
            cost_usd,
            latency_ms,
            attempts,
        }
    }
}

/// The server's requested wait: `retry-after-ms` (OpenAI), else `Retry-After` in seconds.
/// An HTTP-date `Retry-After` is ignored (the backoff applies).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    // `try_from`: a huge value (`1e300`) from the server is ignored, never a panic.
    num("retry-after-ms")
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .or_else(|| num("retry-after").and_then(|s| Duration::try_from_secs_f64(s).ok()))
}

/// At most `max` characters of `s` (provider messages can be long).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut d = HeaderMap::new();
        d.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&d), None);
        // Absurd values from the server are ignored (the backoff applies), never a panic.
        for absurd in ["1e300", "inf", "NaN", "-1"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", absurd.parse().unwrap());
            h.insert("retry-after-ms", absurd.parse().unwrap());
            assert_eq!(retry_after(&h), None, "{absurd}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut cfg = LlmConfig::new("http://x", None, "m");
        cfg.backoff_base = Duration::from_millis(100);
        cfg.max_backoff = Duration::from_millis(350);
        let t = Transport::new(cfg).unwrap();
        assert_eq!(t.backoff(1), Duration::from_millis(100));
        assert_eq!(t.backoff(2), Duration::from_millis(200));
        assert_eq!(t.backoff(3), Duration::from_millis(350));
        assert_eq!(t.backoff(40), Duration::from_millis(350));
    }

    #[test]
    fn build_checks_the_entry() {
        let prices = PriceTable::default();
        let mut s = LlmProviderSettings::default();
        assert!(build("openai", &s, "gpt-4o-mini", &prices).is_ok());
        assert!(build("openai", &s, "", &prices).is_err());
        s.kind = LlmKind::Anthropic;
        let e = build("claude", &s, "claude-sonnet-4-5", &prices)
            .err()
            .unwrap();
        assert!(e.to_string().contains("api_key"), "{e}");
        s.api_key = Some(Secret::new("sk-ant-secret"));
        let llm = build("claude", &s, "claude-sonnet-4-5", &prices).unwrap();
        assert_eq!(llm.provider(), "anthropic");
        assert_eq!(llm.model(), "claude-sonnet-4-5");
        s.base_url = "ftp://nope".into();
        assert!(build("claude", &s, "m", &prices).is_err());
    }
}
