//! Per-token rate limit of the plugin API (the host's edge limits per client IP come first):
//! a fixed one-minute window per session token, in a bounded table of hashed buckets (a
//! sender who mints tokens shares buckets with himself; the table never grows). Built by
//! `mount` and carried as a request extension, like the host's edge; off when
//! `rate_limit.enabled = false`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support_host::ApiError;

/// Requests per token per minute.
pub const PER_MINUTE: u32 = 240;
const BUCKETS: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

/// The table (cheap to clone).
#[derive(Clone)]
pub struct TokenLimiter(Option<Arc<Inner>>);

struct Inner {
    seed: RandomState,
    per_minute: u32,
    buckets: Mutex<Vec<(Instant, u32)>>,
}

impl TokenLimiter {
    pub fn new(enabled: bool, per_minute: u32) -> Self {
        Self(enabled.then(|| {
            Arc::new(Inner {
                seed: RandomState::new(),
                per_minute,
                buckets: Mutex::new(vec![(Instant::now(), 0); BUCKETS]),
            })
        }))
    }

    /// `Err(retry after)` when the token `jti` is over its quota.
    pub fn check(&self, jti: &str) -> Result<(), Duration> {
        let Some(inner) = &self.0 else {
            return Ok(());
        };
        let i = (inner.seed.hash_one(jti) % BUCKETS as u64) as usize;
        let now = Instant::now();
        let mut b = inner.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = b.get_mut(i) else {
            return Ok(());
        };
        if now.duration_since(slot.0) >= WINDOW {
            *slot = (now, 0);
        }
        if slot.1 >= inner.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(slot.0)));
        }
        slot.1 += 1;
        Ok(())
    }
}

/// `429 rate_limited` with `Retry-After`.
pub fn refused(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut res = ApiError::Refused {
        code: "rate_limited",
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!("too many plugin requests; retry after {secs} s"),
    }
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert("retry-after", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_quota_and_no_more() {
        let l = TokenLimiter::new(true, 3);
        assert!((0..3).all(|_| l.check("a").is_ok()));
        assert!(l.check("a").is_err());
        let off = TokenLimiter::new(false, 0);
        assert!(off.check("a").is_ok());
    }
}
