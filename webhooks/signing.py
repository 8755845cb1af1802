"""The signature a receiver checks: `Wheelhouse-Signature: t=<unix time>,v1=<hex>`, where the
hex is HMAC-SHA256, keyed with the webhook's secret, of `<t>.<body>` (Stripe's scheme). The
time inside the signed text lets a receiver refuse an old delivery replayed by whoever
captured it (README: "Verifying webhooks" has the receiver's side)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
SIGNATURE_HEADER = "Wheelhouse-Signature"


def secret_new() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for `body` sent at `timestamp` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
