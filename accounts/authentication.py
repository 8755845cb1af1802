"""The one way a presented API key is authenticated, for the index, uploads and the REST API.

Parse the credentials, verify the key, count failures against the source, audit refusals of
a known key; each interface only turns the outcome into its own kind of answer.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

from accounts.models import ApiKey
from accounts.services import api_key_check
from accounts.services import audit_key_refusal
from accounts.throttle import throttle_failure
from accounts.throttle import throttle_retry_after

THROTTLE_SCOPE = "key"


class Refusal(StrEnum):
    # Too many failures from this source lately: 429 with Retry-After.
    THROTTLED = "throttled"
    # No Authorization header, or one that carries no key: 401 (or a session, where allowed).
    NO_KEY = "no key"
    # A key was presented but is malformed, unknown, wrong, revoked or expired: 401.
    INVALID = "invalid"
    # A valid key used from outside its allowed networks: 403.
    NETWORK = "network"


MESSAGES = {
    Refusal.THROTTLED: "Too many failed attempts from your address; try later.",
    Refusal.NO_KEY: "Authentication required: use an API key.",
    Refusal.INVALID: "Invalid, expired or revoked API key.",
}


@dataclass(frozen=True)
class KeyAuthentication:
    """A usable key, or why there is none (with the one line to show the client)."""

    api_key: ApiKey | None
    refusal: Refusal | None = None
    message: str = ""
    retry_after: int = 0
    # An Authorization header was sent, whether or not it named a key.
    presented: bool = False


def token_from_authorization(header: str) -> str | None:
    """The key in `Basic` (any username, key as password), `Bearer` or `token` credentials."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme in {"bearer", "token"}:
        return value or None
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, password = decoded.partition(":")
    # Some tools put the key in the username and leave the password empty.
    return password or username or None


def _refused(
    refusal: Refusal, *, presented: bool, message: str = "", retry_after: int = 0
) -> KeyAuthentication:
    return KeyAuthentication(
        None, refusal, message or MESSAGES[refusal], retry_after=retry_after, presented=presented
    )


def authenticate_key(
    *, authorization: str, source_ip: str, path: str, method: str
) -> KeyAuthentication:
    """Check the key in an Authorization header presented from `source_ip` for `path`."""
    presented = bool(authorization.strip())
    retry_after = throttle_retry_after(scope=THROTTLE_SCOPE, source=source_ip)
    if retry_after is not None:
        return _refused(Refusal.THROTTLED, retry_after=retry_after, presented=presented)
    token = token_from_authorization(authorization)
    if token is None:
        return _refused(Refusal.NO_KEY, presented=presented)
    check = api_key_check(token, source_ip=source_ip)
    if check.api_key is not None:
        return KeyAuthentication(check.api_key, presented=True)
    if check.failure != "network":
        throttle_failure(scope=THROTTLE_SCOPE, source=source_ip)
    audit_key_refusal(
        api_key=check.named_key,
        reason=check.failure,
        source_ip=source_ip,
        path=path,
        method=method,
    )
    if check.failure == "network":
        message = f"This API key may not be used from {source_ip}."
        return _refused(Refusal.NETWORK, message=message, presented=True)
    return _refused(Refusal.INVALID, presented=True)
