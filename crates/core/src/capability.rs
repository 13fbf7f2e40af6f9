//! Single-use action capabilities: what an approval hands to the executor.
//!
//! When a human approves an action, the platform mints a token binding the action id, the tool,
//! the SHA-256 of the canonical arguments, the amount, who approved and an expiry, signed with
//! HMAC-SHA256 under a key derived from the master key. The executor runs a risky tool only with
//! a token that [`verify`]s for exactly that action, tool and arguments, and then consumes the
//! token's [`CapabilityClaims::nonce`] atomically in the store, so it runs at most once.
//!
//! Token format: `cap1.<base64url(canonical JSON claims)>.<base64url(mac)>`, where the MAC covers
//! `cap1.<payload>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::canonical_json;
use crate::crypto::{MasterKey, ct_eq, random_hex, sha256_hex};
use crate::time::Millis;

/// The `purpose` under which the master key signs capabilities.
pub const PURPOSE: &str = "action-capability/v1";
const PREFIX: &str = "cap1";
/// How far in the future `issued_at` may be (clock skew between hosts).
const MAX_SKEW_MS: Millis = 60_000;
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a capability grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityClaims {
    /// Format version (1).
    pub v: u8,
    /// Unique per token: the store consumes it once (`INSERT … ON CONFLICT DO NOTHING`).
    pub nonce: String,
    pub action_id: String,
    pub tool: String,
    /// Hex SHA-256 of the canonical JSON of the arguments that were approved.
    pub args_sha256: String,
    /// The approved amount in minor units, for tools that move money.
    pub amount_cents: Option<i64>,
    /// Who approved, in the order they did (`slack:U…`, `user:<email>`).
    pub approvers: Vec<String>,
    pub issued_at: Millis,
    pub expires_at: Millis,
}

/// A minted capability: the token to hand over and its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub token: String,
    pub claims: CapabilityClaims,
}

/// What the approval binds.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant<'a> {
    pub action_id: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    pub amount_cents: Option<i64>,
    pub approvers: &'a [String],
}

/// Why a capability was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error("capability token is malformed")]
    Malformed,
    #[error("capability token signature is invalid")]
    BadSignature,
    #[error("capability token has expired")]
    Expired,
    #[error("capability token is not valid yet")]
    NotYetValid,
    #[error("capability token is for another action")]
    WrongAction,
    #[error("capability token is for another tool")]
    WrongTool,
    #[error("the arguments changed after approval")]
    ArgsChanged,
    #[error("a capability needs an approver and a lifetime")]
    Invalid,
}

/// Hex SHA-256 of the canonical JSON of `args` (key order and whitespace do not matter).
pub fn args_digest(args: &Value) -> String {
    sha256_hex(canonical_json(args).as_bytes())
}

fn mac(key: &MasterKey, signed: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(PURPOSE, signed.as_bytes()))
}

/// Mint a capability for `grant`, valid from `now` for `ttl_ms`.
pub fn mint(
    key: &MasterKey,
    grant: &Grant<'_>,
    now: Millis,
    ttl_ms: Millis,
) -> Result<Capability, CapabilityError> {
    if grant.approvers.is_empty()
        || grant.approvers.iter().any(String::is_empty)
        || grant.action_id.is_empty()
        || grant.tool.is_empty()
        || ttl_ms <= 0
    {
        return Err(CapabilityError::Invalid);
    }
    let claims = CapabilityClaims {
        v: 1,
        nonce: random_hex(16),
        action_id: grant.action_id.to_string(),
        tool: grant.tool.to_string(),
        args_sha256: args_digest(grant.args),
        amount_cents: grant.amount_cents,
        approvers: grant.approvers.to_vec(),
        issued_at: now,
        expires_at: now.saturating_add(ttl_ms),
    };
    let json = serde_json::to_value(&claims).map_err(|_| CapabilityError::Invalid)?;
    let payload = URL_SAFE_NO_PAD.encode(canonical_json(&json));
    let signed = format!("{PREFIX}.{payload}");
    let token = format!("{signed}.{}", mac(key, &signed));
    Ok(Capability { token, claims })
}

/// Read a token's claims after checking its signature, without checking what it is for.
/// For inspection (audit, the dashboard); the executor uses [`verify`].
pub fn open(key: &MasterKey, token: &str) -> Result<CapabilityClaims, CapabilityError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CapabilityError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(PREFIX), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CapabilityError::Malformed);
    };
    let signed = format!("{PREFIX}.{payload}");
    if !ct_eq(mac(key, &signed).as_bytes(), sig.as_bytes()) {
        return Err(CapabilityError::BadSignature);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CapabilityError::Malformed)?;
    let claims: CapabilityClaims =
        serde_json::from_slice(&bytes).map_err(|_| CapabilityError::Malformed)?;
    if claims.v != 1 {
        return Err(CapabilityError::Malformed);
    }
    Ok(claims)
}

/// Check that `token` grants running `tool` with exactly `args` for `action_id` at `now`.
/// Returns the claims; the caller must then consume `claims.nonce` atomically.
pub fn verify(
    key: &MasterKey,
    token: &str,
    action_id: &str,
    tool: &str,
    args: &Value,
    now: Millis,
) -> Result<CapabilityClaims, CapabilityError> {
    let claims = open(key, token)?;
    if !ct_eq(claims.action_id.as_bytes(), action_id.as_bytes()) {
        return Err(CapabilityError::WrongAction);
    }
    if claims.tool != tool {
        return Err(CapabilityError::WrongTool);
    }
    if !ct_eq(claims.args_sha256.as_bytes(), args_digest(args).as_bytes()) {
        return Err(CapabilityError::ArgsChanged);
    }
    if now >= claims.expires_at {
        return Err(CapabilityError::Expired);
    }
    if claims.issued_at > now.saturating_add(MAX_SKEW_MS) {
        return Err(CapabilityError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> MasterKey {
        MasterKey::generate().0
    }

    const NOW: Millis = 1_700_000_000_000;
    const HOUR: Millis = 3_600_000;

    fn approvers() -> Vec<String> {
        vec!["slack:U1".to_string(), "slack:U2".to_string()]
    }

    fn refund_args() -> Value {
        json!({"purchaseId": "pur_1", "amount": 2500, "reason": "requested_by_customer"})
    }

    fn mint_refund(k: &MasterKey) -> Capability {
        let args = refund_args();
        let a = approvers();
        mint(
            k,
            &Grant {
                action_id: "act_1",
                tool: "processRefund",
                args: &args,
                amount_cents: Some(2500),
                approvers: &a,
            },
            NOW,
            HOUR,
        )
        .unwrap_or_else(|e| panic!("mint: {e}"))
    }

    #[test]
    fn round_trip_binds_everything() {
        let k = key();
        let cap = mint_refund(&k);
        assert!(cap.token.starts_with("cap1."));
        assert_eq!(cap.claims.nonce.len(), 32);
        let claims = verify(
            &k,
            &cap.token,
            "act_1",
            "processRefund",
            &refund_args(),
            NOW + 1,
        );
        assert_eq!(claims.as_ref(), Ok(&cap.claims));
        let claims = claims.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.amount_cents, Some(2500));
        assert_eq!(claims.approvers, approvers());
        assert_eq!(claims.expires_at, NOW + HOUR);
        assert_eq!(open(&k, &cap.token), Ok(cap.claims.clone()));
    }

    #[test]
    fn key_order_and_whitespace_of_args_do_not_matter() {
        let k = key();
        let cap = mint_refund(&k);
        let reordered: Value = serde_json::from_str(
            r#"{ "reason": "requested_by_customer", "amount": 2500, "purchaseId": "pur_1" }"#,
        )
        .unwrap_or_default();
        assert!(verify(&k, &cap.token, "act_1", "processRefund", &reordered, NOW).is_ok());
    }

    #[test]
    fn args_edited_after_approval_are_refused() {
        let k = key();
        let cap = mint_refund(&k);
        for edited in [
            json!({"purchaseId": "pur_1", "amount": 25000, "reason": "requested_by_customer"}),
            json!({"purchaseId": "pur_2", "amount": 2500, "reason": "requested_by_customer"}),
            json!({"purchaseId": "pur_1", "amount": 2500}),
            json!({"purchaseId": "pur_1", "amount": 2500, "reason": "requested_by_customer", "x": 1}),
            json!({"purchaseId": "pur_1", "amount": "2500", "reason": "requested_by_customer"}),
            Value::Null,
        ] {
            assert_eq!(
                verify(&k, &cap.token, "act_1", "processRefund", &edited, NOW),
                Err(CapabilityError::ArgsChanged),
                "{edited}"
            );
        }
    }

    #[test]
    fn another_action_or_tool_is_refused() {
        let k = key();
        let cap = mint_refund(&k);
        assert_eq!(
            verify(
                &k,
                &cap.token,
                "act_2",
                "processRefund",
                &refund_args(),
                NOW
            ),
            Err(CapabilityError::WrongAction)
        );
        assert_eq!(
            verify(
                &k,
                &cap.token,
                "act_1",
                "transferPurchase",
                &refund_args(),
                NOW
            ),
            Err(CapabilityError::WrongTool)
        );
    }

    #[test]
    fn expiry_and_clock_skew() {
        let k = key();
        let cap = mint_refund(&k);
        let args = refund_args();
        assert!(
            verify(
                &k,
                &cap.token,
                "act_1",
                "processRefund",
                &args,
                NOW + HOUR - 1
            )
            .is_ok()
        );
        assert_eq!(
            verify(&k, &cap.token, "act_1", "processRefund", &args, NOW + HOUR),
            Err(CapabilityError::Expired)
        );
        assert!(
            verify(
                &k,
                &cap.token,
                "act_1",
                "processRefund",
                &args,
                NOW - 30_000
            )
            .is_ok()
        );
        assert_eq!(
            verify(
                &k,
                &cap.token,
                "act_1",
                "processRefund",
                &args,
                NOW - 61_000
            ),
            Err(CapabilityError::NotYetValid)
        );
    }

    #[test]
    fn tampering_is_refused() {
        let k = key();
        let cap = mint_refund(&k);
        let args = refund_args();
        let v = |t: &str| verify(&k, t, "act_1", "processRefund", &args, NOW);

        // Another master key.
        let other = key();
        assert_eq!(
            verify(&other, &cap.token, "act_1", "processRefund", &args, NOW),
            Err(CapabilityError::BadSignature)
        );

        // Claims rewritten (longer expiry, bigger amount) and re-encoded, old MAC kept.
        let parts: Vec<&str> = cap.token.split('.').collect();
        let mut claims = cap.claims.clone();
        claims.expires_at += 100 * HOUR;
        claims.amount_cents = Some(250_000);
        let forged_payload = URL_SAFE_NO_PAD.encode(canonical_json(
            &serde_json::to_value(&claims).unwrap_or_default(),
        ));
        let forged = format!("cap1.{forged_payload}.{}", parts[2]);
        assert_eq!(v(&forged), Err(CapabilityError::BadSignature));

        // Every single-character change of the token.
        let bytes = cap.token.as_bytes();
        for i in 0..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap_or_default();
            if t == cap.token {
                continue;
            }
            assert!(v(&t).is_err(), "flipping byte {i} was accepted");
        }

        // Truncated, extended, re-prefixed, empty, huge.
        assert!(v(&cap.token[..cap.token.len() - 1]).is_err());
        assert_eq!(
            v(&format!("{}.x", cap.token)),
            Err(CapabilityError::Malformed)
        );
        assert_eq!(
            v(&cap.token.replacen("cap1.", "cap2.", 1)),
            Err(CapabilityError::Malformed)
        );
        assert_eq!(v(""), Err(CapabilityError::Malformed));
        assert_eq!(
            v(&"a".repeat(MAX_TOKEN_LEN + 1)),
            Err(CapabilityError::Malformed)
        );

        // A valid MAC over garbage claims is still refused (no panic).
        let signed = format!("cap1.{}", URL_SAFE_NO_PAD.encode(b"{\"v\":1}"));
        let t = format!("{signed}.{}", mac(&k, &signed));
        assert_eq!(v(&t), Err(CapabilityError::Malformed));
        let signed = "cap1.!!!".to_string();
        let t = format!("{signed}.{}", mac(&k, &signed));
        assert_eq!(v(&t), Err(CapabilityError::Malformed));
    }

    #[test]
    fn the_mac_is_not_a_plain_hmac_of_the_master_key() {
        // The key is derived for PURPOSE: a MasterKey::sign under another purpose does not forge.
        let k = key();
        let cap = mint_refund(&k);
        let (signed, _) = cap.token.rsplit_once('.').unwrap_or_default();
        let other_purpose = URL_SAFE_NO_PAD.encode(k.sign("session", signed.as_bytes()));
        let t = format!("{signed}.{other_purpose}");
        assert_eq!(
            verify(&k, &t, "act_1", "processRefund", &refund_args(), NOW),
            Err(CapabilityError::BadSignature)
        );
    }

    #[test]
    fn every_mint_has_a_fresh_nonce() {
        let k = key();
        let a = mint_refund(&k);
        let b = mint_refund(&k);
        assert_ne!(a.claims.nonce, b.claims.nonce);
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn minting_needs_approvers_and_a_lifetime() {
        let k = key();
        let args = json!({});
        let none: Vec<String> = vec![];
        let one = vec!["slack:U1".to_string()];
        assert_eq!(
            mint(
                &k,
                &Grant {
                    action_id: "act_1",
                    tool: "processRefund",
                    args: &args,
                    amount_cents: None,
                    approvers: &none
                },
                NOW,
                HOUR
            ),
            Err(CapabilityError::Invalid)
        );
        assert_eq!(
            mint(
                &k,
                &Grant {
                    action_id: "act_1",
                    tool: "processRefund",
                    args: &args,
                    amount_cents: None,
                    approvers: &one
                },
                NOW,
                0
            ),
            Err(CapabilityError::Invalid)
        );
        assert_eq!(
            mint(
                &k,
                &Grant {
                    action_id: "",
                    tool: "processRefund",
                    args: &args,
                    amount_cents: None,
                    approvers: &one
                },
                NOW,
                HOUR
            ),
            Err(CapabilityError::Invalid)
        );
    }
}
