"""The one way presented credentials are checked: API keys for the index, uploads and the REST
API, and the counting of failed log-ins for the dashboard and the admin site.

Parse the credentials, verify the key, count failures, audit refusals of a known key; each
interface only turns the outcome into its own kind of answer.

The brute-force throttle never refuses a key that verifies: many clients may share one address
(a proxy, a NAT, a CI fleet) and one of them sending bad keys must not lock out the others.
Keys that do not verify are counted per source address, and wrong secrets for a known key id
per key id as well, so guessing one key's secret is bounded whatever the source.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

from accounts.models import ApiKey
from accounts.services import KeyCheck
from accounts.services import api_key_check
from accounts.services import audit_key_refusal
from accounts.throttle import throttle_failure
from accounts.throttle import throttle_retry_after

# Scopes of settings.AUTH_FAILURE_LIMITS.
KEY_SOURCE_SCOPE = "key"
KEY_ID_SCOPE = "key-id"
LOGIN_ACCOUNT_SCOPE = "login"
LOGIN_SOURCE_SCOPE = "login-source"
LOGIN_THROTTLED_MESSAGE = "Too many failed log-ins; wait before trying again."


class Refusal(StrEnum):
    # A key that does not verify, after too many failures from this source or for this key id
    # lately: 429 with Retry-After.
    THROTTLED = "throttled"
    # No Authorization header, or one that carries no key: 401 (or a session, where allowed).
    NO_KEY = "no key"
    # A key was presented but is malformed, unknown, wrong, revoked or expired: 401.
    INVALID = "invalid"
    # A valid key used from outside its allowed networks: 403.
    NETWORK = "network"


MESSAGES = {
    Refusal.THROTTLED: "Too many failed attempts; try later.",
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


def _refused(refusal: Refusal, *, message: str = "", retry_after: int = 0) -> KeyAuthentication:
    return KeyAuthentication(None, refusal, message or MESSAGES[refusal], retry_after=retry_after)


def authenticate_key(*, authorization: str, source_ip: str, method: str) -> KeyAuthentication:
    """Check the key in an Authorization header presented from `source_ip`."""
    token = token_from_authorization(authorization)
    if token is None:
        return _refused(Refusal.NO_KEY)
    # The key first: one that verifies is let in however busy its address is.
    check = api_key_check(token, source_ip=source_ip)
    if check.api_key is not None:
        return KeyAuthentication(check.api_key)
    if check.failure == "network":
        # The secret was right: not a guess, so not counted (and not held back).
        _audit(check, source_ip, method)
        message = f"This API key may not be used from {source_ip}."
        return _refused(Refusal.NETWORK, message=message)
    counters = [(KEY_SOURCE_SCOPE, source_ip)]
    if check.failure == "bad secret" and check.named_key is not None:
        counters.append((KEY_ID_SCOPE, check.named_key.public_id))
    waits = [throttle_retry_after(scope=scope, subject=subject) for scope, subject in counters]
    retry_after = max((w for w in waits if w is not None), default=None)
    if retry_after is not None:
        # Held back without a new audit event: the failures that led here were recorded.
        return _refused(Refusal.THROTTLED, retry_after=retry_after)
    for scope, subject in counters:
        throttle_failure(scope=scope, subject=subject)
    _audit(check, source_ip, method)
    return _refused(Refusal.INVALID)


def _audit(check: KeyCheck, source_ip: str, method: str) -> None:
    audit_key_refusal(
        api_key=check.named_key, reason=check.failure, source_ip=source_ip, method=method
    )


def login_retry_after(*, email: str, source_ip: str) -> int | None:
    """Seconds until a log-in as `email` from `source_ip` may be tried, or None.

    Counted per account (a password is guessed for one account, from anywhere) and per source
    (one address trying many accounts), the source with a higher limit so that people behind
    one proxy do not lock each other out. The dashboard and the admin site count together.
    """
    waits = [
        throttle_retry_after(scope=LOGIN_ACCOUNT_SCOPE, subject=_account(email)),
        throttle_retry_after(scope=LOGIN_SOURCE_SCOPE, subject=source_ip),
    ]
    return max((w for w in waits if w is not None), default=None)


def login_failure(*, email: str, source_ip: str) -> None:
    """Count one failed log-in as `email` from `source_ip`."""
    throttle_failure(scope=LOGIN_ACCOUNT_SCOPE, subject=_account(email))
    throttle_failure(scope=LOGIN_SOURCE_SCOPE, subject=source_ip)


def _account(email: str) -> str:
    # Emails are stored in lower case, so "Ada@x" and "ada@x" aim at one account: one count.
    return email.strip().casefold()
