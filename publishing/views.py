"""The PyPI-compatible trusted publishing exchange, at the host root as on PyPI: uv, pdm and
pypa/gh-action-pypi-publish ask `/_/oidc/audience` which `aud` to request from their CI, then
POST the CI's identity token to `/_/oidc/mint-token` for an upload key."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from django.views.decorators.http import require_POST

from accounts.network import client_ip
from publishing.oidc import TokenRefused
from publishing.services import trusted_token_mint


@require_GET
def oidc_audience(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"audience": settings.OIDC_AUDIENCE})


def _refused(error: TokenRefused) -> JsonResponse:
    # PyPI's shape and status: uv and gh-action-pypi-publish print `errors` to the CI log.
    body = {
        "message": "Token request failed",
        "errors": [{"code": error.code, "description": error.description}],
    }
    return JsonResponse(body, status=422)


@csrf_exempt
@require_POST
def mint_token(request: HttpRequest) -> JsonResponse:
    try:
        payload: Any = json.loads(request.body or b"null")
    except ValueError:
        payload = None
    token = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        return _refused(TokenRefused("invalid-payload", 'Send {"token": "<OIDC token>"}.'))
    try:
        minted = trusted_token_mint(token=token, source_ip=client_ip(request))
    except TokenRefused as exc:
        return _refused(exc)
    expires = int(minted.expires_at.timestamp())
    return JsonResponse({"success": True, "token": minted.token, "expires": expires})
