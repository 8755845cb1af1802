"""Checking a CI identity token (a JWT) against its issuer's published keys.

The keys come from the issuer's `/.well-known/openid-configuration` → `jwks_uri`, kept in this
process for OIDC_JWKS_TTL and fetched again at once when a token names a key id not among them
(an issuer rotating its keys), at most once per OIDC_JWKS_MIN_REFRESH per issuer, so tokens
with made-up key ids cannot turn us into a client hammering the issuer. Which issuers are
asked at all is decided by the caller: only those a trusted publisher names.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from django.conf import settings

# Asymmetric only: a symmetric algorithm would let anyone holding the public key sign.
ALGORITHMS = ("RS256", "ES256")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_DOCUMENT_BYTES = 1024 * 1024


class TokenRefused(Exception):
    """Why an identity token buys no upload key, in PyPI's terms: `code` is one of
    invalid-payload, invalid-token, invalid-publisher; `description` is for the CI log."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def issuer_url_problem(url: str) -> str | None:
    """Why `url` cannot be an issuer (or a key set's address), or None when it can."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query or parts.fragment:
        return "An issuer URL has no credentials, query or fragment."
    if not parts.hostname:
        return "An issuer URL needs a host."
    if parts.scheme == "https":
        return None
    loopback = parts.hostname in LOOPBACK_HOSTS
    if parts.scheme == "http" and loopback and settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS:
        return None
    return "An issuer URL must be https."


@dataclass
class _KeySet:
    fetched_at: float
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)


_key_sets: dict[str, _KeySet] = {}
_key_sets_lock = threading.Lock()


def forget_key_sets() -> None:
    """Drop every fetched key set (a test starting its own issuer afresh)."""
    with _key_sets_lock:
        _key_sets.clear()


def _get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    if problem := issuer_url_problem(url):
        raise TokenRefused("invalid-token", f"The issuer's key set is not usable: {problem}")
    data = b""
    with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            data += chunk
            # Bounded like the time: an issuer (any admin may name one) cannot make us
            # hold an endless answer.
            if len(data) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    body = json.loads(data)
    if not isinstance(body, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return body


def _fetch(issuer: str) -> _KeySet:
    try:
        with httpx.Client(timeout=settings.OIDC_HTTP_TIMEOUT, follow_redirects=False) as client:
            config = _get_json(client, f"{issuer.rstrip('/')}/.well-known/openid-configuration")
            if str(config.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
                # OpenID Connect Discovery §4.3: the document must be the issuer's own.
                raise ValueError(f"its configuration names another issuer, {config.get('issuer')}")
            jwks = _get_json(client, str(config.get("jwks_uri", "")))
    except (httpx.HTTPError, ValueError) as exc:
        raise TokenRefused(
            "invalid-token", f"The keys of issuer {issuer} could not be fetched ({exc})."
        ) from exc
    key_set = _KeySet(fetched_at=time.monotonic())
    for data in jwks.get("keys", []):
        try:
            key = jwt.PyJWK(data)
        except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError):
            continue  # a key of a kind we do not use (or cannot read) is no reason to fail
        key_set.keys[str(data.get("kid", ""))] = key
    return key_set


def _signing_key(issuer: str, kid: str) -> jwt.PyJWK:
    with _key_sets_lock:
        key_set = _key_sets.get(issuer)
    now = time.monotonic()
    fetched = False
    if key_set is None or now - key_set.fetched_at > settings.OIDC_JWKS_TTL:
        key_set = _fetch(issuer)
        fetched = True
    elif kid not in key_set.keys and now - key_set.fetched_at >= settings.OIDC_JWKS_MIN_REFRESH:
        # A key id not seen yet: the issuer may have rotated its keys since we fetched them.
        key_set = _fetch(issuer)
        fetched = True
    if fetched:
        with _key_sets_lock:
            _key_sets[issuer] = key_set
    key = key_set.keys.get(kid)
    if key is None and not kid and len(key_set.keys) == 1:
        key = next(iter(key_set.keys.values()))  # an issuer with one key may name none
    if key is None:
        raise TokenRefused(
            "invalid-token",
            f"The token is signed with key {kid!r}, which issuer {issuer} does not publish.",
        )
    return key


def unverified_issuer(token: str) -> str:
    """The `iss` the token claims, unchecked: only to choose whose keys to check it with."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("invalid-token", f"Malformed token ({exc}).") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRefused("invalid-token", "The token has no issuer (iss).")
    return issuer


def verify_token(token: str, *, issuer: str, audiences: Iterable[str]) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience and times check out."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("invalid-token", f"Malformed token ({exc}).") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise TokenRefused(
            "invalid-token",
            f"Tokens signed with {algorithm!r} are not accepted: use RS256 or ES256.",
        )
    key = _signing_key(issuer, str(header.get("kid") or ""))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[algorithm],
            audience=list(audiences),
            issuer=issuer,
            leeway=settings.OIDC_LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRefused("invalid-token", "The token has expired (exp).") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenRefused(
            "invalid-token", f"The token is not valid yet ({exc}): check the clocks."
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRefused(
            "invalid-token",
            f"The token's audience (aud) is not {settings.OIDC_AUDIENCE!r}: "
            "request it for this registry's audience (GET /_/oidc/audience).",
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRefused("invalid-token", "The token's issuer (iss) does not match.") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRefused(
            "invalid-token", f"The token's signature does not verify with issuer {issuer}'s key."
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRefused("invalid-token", f"The token lacks a claim: {exc}.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("invalid-token", f"Malformed or invalid token ({exc}).") from exc
    return claims
