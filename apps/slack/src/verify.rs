//! Slack request signatures on axum requests: `X-Slack-Signature` and
//! `X-Slack-Request-Timestamp`, checked with [`support_core::signing::verify_slack`] against
//! every configured signing secret (rotation), within 5 minutes, in constant time.

use axum::http::HeaderMap;
use support_core::settings::Secret;
use support_core::signing::{DEFAULT_TOLERANCE_SECS, SignatureError, verify_slack};

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Check a Slack request's raw `body` against its headers at `now_secs`.
pub fn verify_request(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let secrets: Vec<&str> = secrets.iter().map(Secret::expose).collect();
    verify_slack(
        &secrets,
        h(SIGNATURE_HEADER),
        h(TIMESTAMP_HEADER),
        body,
        now_secs,
        DEFAULT_TOLERANCE_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use support_core::signing::slack_signature;

    #[test]
    fn headers_are_read_and_checked() {
        let body = b"payload=%7B%7D";
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, "1700000000".parse().unwrap());
        h.insert(
            SIGNATURE_HEADER,
            slack_signature("new", "1700000000", body).parse().unwrap(),
        );
        let secrets = [Secret::new("old"), Secret::new("new")];
        assert_eq!(verify_request(&secrets, &h, body, 1_700_000_100), Ok(()));
        assert_eq!(
            verify_request(&secrets[..1], &h, body, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_request(&secrets, &h, body, 1_700_000_301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_request(&secrets, &HeaderMap::new(), body, 1_700_000_000),
            Err(SignatureError::Missing)
        );
    }
}
