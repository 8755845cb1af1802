"""Who is calling: an API key (Bearer, token or Basic) or the dashboard session (with CSRF).

The key path is the one pip and twine go through (registry.access): the same parsing, the
same checks, the same brute-force counter, the same audit of refused keys.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.network import client_ip
from accounts.services import api_key_check
from accounts.services import audit_key_refusal
from accounts.throttle import throttle_failure
from accounts.throttle import throttle_retry_after
from registry.access import THROTTLE_SCOPE
from registry.access import token_from_authorization


class TooManyFailures(exceptions.Throttled):
    default_detail = "Too many failed attempts from your address; try later."


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`, `token <key>`, or Basic with the key as password.

    A personal key authenticates as its user; an organization key has no user. Either way
    `request.auth` is the key, and permissions ask `can()` about the key, never the user.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        ip = client_ip(request._request)
        retry_after = throttle_retry_after(scope=THROTTLE_SCOPE, source=ip)
        if retry_after is not None:
            raise TooManyFailures(wait=retry_after)
        token = token_from_authorization(header)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Unsupported Authorization header: use 'Bearer <API key>'."
            )
        check = api_key_check(token, source_ip=ip)
        if check.failure == "network":
            audit_key_refusal(
                api_key=check.named_key,
                reason="network",
                source_ip=ip,
                path=request.path,
                method=request.method,
            )
            raise exceptions.PermissionDenied(f"This API key may not be used from {ip}.")
        if check.api_key is None:
            throttle_failure(scope=THROTTLE_SCOPE, source=ip)
            audit_key_refusal(
                api_key=check.named_key,
                reason=check.failure,
                source_ip=ip,
                path=request.path,
                method=request.method,
            )
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        api_key = check.api_key
        return (api_key.user if api_key.user_id else AnonymousUser()), api_key

    def authenticate_header(self, request: Request) -> str:
        # A 401 (not a 403) needs a challenge; clients then know to send a key.
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (whk_...). `token <key>` and Basic with the key as "
            "password work too.",
        }
