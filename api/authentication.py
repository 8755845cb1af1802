"""Who is calling: an API key (Bearer, token or Basic) or the dashboard session (with CSRF).

Keys go through the same authentication core as pip and twine (accounts.authentication):
the same parsing, checks, brute-force counter and audit of refused keys. This only turns its
outcome into DRF's answers.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.authentication import Refusal
from accounts.authentication import authenticate_key
from accounts.models import ApiKey
from accounts.models import User
from accounts.network import client_ip


class TooManyFailures(exceptions.Throttled):
    default_detail = "Too many failed attempts; try later."


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`, `token <key>`, or Basic with the key as password.

    A personal key authenticates as its user; an organization key has no user. Either way
    `request.auth` is the key, and permissions ask `can()` about the key, never the user.
    """

    def authenticate(self, request: Request) -> tuple[User | AnonymousUser, ApiKey] | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        outcome = authenticate_key(
            authorization=header,
            source_ip=client_ip(request._request),
            method=request.method or "",
        )
        if outcome.api_key is not None:
            api_key = outcome.api_key
            return (api_key.user or AnonymousUser()), api_key
        if outcome.refusal == Refusal.THROTTLED:
            raise TooManyFailures(wait=outcome.retry_after)
        if outcome.refusal == Refusal.NETWORK:
            raise exceptions.PermissionDenied(outcome.message)
        if outcome.refusal == Refusal.NO_KEY:
            raise exceptions.AuthenticationFailed(
                "Unsupported Authorization header: use 'Bearer <API key>'."
            )
        raise exceptions.AuthenticationFailed(outcome.message)

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
