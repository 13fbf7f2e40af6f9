"""Signature cross-check helper: asks the official SDKs (PyPI slack_sdk and stripe) to sign and
verify requests, so crates/connectors/tests/signature_crosscheck.rs can compare their answers
with ours.

stdin: a JSON array of cases; stdout: a JSON array with one result per case.

Cases:
  {"vendor": "slack", "op": "sign", "secret", "timestamp", "body"}
      -> {"signature": "v0=..."}              (SignatureVerifier.generate_signature)
  {"vendor": "slack", "op": "verify", "secret", "timestamp", "signature", "body", "now"}
      -> {"valid": bool}                      (SignatureVerifier.is_valid, clock fixed at now)
  {"vendor": "stripe", "op": "sign", "secret", "timestamp", "body"}
      -> {"header": "t=...,v1=..."}           (WebhookSignature.generate_signature_header)
  {"vendor": "stripe", "op": "verify", "secret", "header", "body", "now", "tolerance"}
      -> {"valid": bool, "error": str|null, "event_id": str|null}
         (WebhookSignature.verify_header, then Webhook.construct_event when accepted; time
          fixed at now)
"""

import json
import sys
from unittest import mock


def slack_verifier(secret, now=None):
    # Imported here so the Stripe cases run without slack_sdk installed, and vice versa.
    from slack_sdk.signature import Clock, SignatureVerifier

    class FixedClock(Clock):
        def now(self):
            return float(now)

    return SignatureVerifier(secret, clock=FixedClock()) if now is not None else SignatureVerifier(secret)


def run(case):
    vendor, op = case["vendor"], case["op"]
    if vendor == "stripe":
        import stripe
        from stripe import WebhookSignature
    if vendor == "slack" and op == "sign":
        v = slack_verifier(case["secret"])
        return {"signature": v.generate_signature(timestamp=case["timestamp"], body=case["body"])}
    if vendor == "slack" and op == "verify":
        v = slack_verifier(case["secret"], case["now"])
        try:
            valid = v.is_valid(body=case["body"], timestamp=case["timestamp"], signature=case["signature"])
        except ValueError:
            # A timestamp that is not an integer: slack_sdk raises from int().
            valid = False
        return {"valid": bool(valid)}
    if vendor == "stripe" and op == "sign":
        return {
            "header": WebhookSignature.generate_signature_header(
                case["body"], case["secret"], timestamp=case["timestamp"]
            )
        }
    if vendor == "stripe" and op == "verify":
        with mock.patch("stripe._webhook.time.time", return_value=float(case["now"])):
            try:
                WebhookSignature.verify_header(
                    case["body"], case["header"], case["secret"], tolerance=case["tolerance"]
                )
            except stripe.SignatureVerificationError as e:
                return {"valid": False, "error": str(e), "event_id": None}
            # Accepted: the event is what construct_event (verify + parse) hands an app.
            event = stripe.Webhook.construct_event(
                case["body"], case["header"], case["secret"], tolerance=case["tolerance"]
            )
            return {"valid": True, "error": None, "event_id": event.id}
    raise ValueError(f"unknown case {vendor}/{op}")


def main():
    cases = json.load(sys.stdin)
    json.dump([run(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
