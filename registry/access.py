"""Who may read or write a repository: API keys presented by pip, uv, twine and friends.

Answers, in this order:
- 429 with Retry-After: this source address failed too many key checks recently;
- 401 with a Basic challenge: no key, or a bad, expired or revoked one (pip and uv retry
  with their stored credentials only after a 401);
- 403: a valid key used from outside its allowed networks;
- 404: the organization or repository is missing, foreign, or outside the key's limits —
  one identical answer, so there is no existence oracle across tenants;
- 403: the repository is visible but the action is not allowed (a read-only key uploading,
  a personal key whose user's role does not allow it).
Session cookies are never accepted unless a view opts in for reads.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http import HttpResponse

from accounts.models import ApiKey
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import can
from accounts.services import api_key_check
from accounts.services import audit_key_refusal
from accounts.throttle import throttle_failure
from accounts.throttle import throttle_retry_after
from registry.models import Repository
from registry.responses import error_response
from registry.responses import unauthorized_response

THROTTLE_SCOPE = "key"


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


def repository_for_key(api_key: ApiKey, org_slug: str, repo_slug: str) -> Repository | None:
    """The repository if this key may see it. A foreign or missing one is None alike."""
    repository = _repository_in(api_key.organization_id, org_slug, repo_slug)
    if repository is None or not can(api_key, Action.READ, repository.organization, repository):
        return None
    return repository


def _repository_in(organization_id: int, org_slug: str, repo_slug: str) -> Repository | None:
    return (
        Repository.objects.select_related("organization")
        .filter(organization=organization_id, organization__slug=org_slug, slug=repo_slug)
        .first()
    )


def too_many_attempts_response(retry_after: int) -> HttpResponse:
    response = error_response(429, "Too many failed attempts from your address; try later.")
    response["Retry-After"] = str(retry_after)
    return response


View = Callable[..., HttpResponse]


def _authenticate(request: HttpRequest, realm: str, ip: str, session: bool) -> Any:
    """The acting key or user, or the response that refuses the request."""
    retry_after = throttle_retry_after(scope=THROTTLE_SCOPE, source=ip)
    if retry_after is not None:
        return too_many_attempts_response(retry_after)
    token = token_from_authorization(request.headers.get("Authorization", ""))
    if token is None:
        if session and request.user.is_authenticated:
            return request.user
        return unauthorized_response(realm, "Authentication required: use an API key.")
    check = api_key_check(token, source_ip=ip)
    if check.failure == "network":
        audit_key_refusal(
            api_key=check.named_key,
            reason="network",
            source_ip=ip,
            path=request.path,
            method=request.method,
        )
        return error_response(403, f"This API key may not be used from {ip}.")
    if check.api_key is None:
        throttle_failure(scope=THROTTLE_SCOPE, source=ip)
        audit_key_refusal(
            api_key=check.named_key,
            reason=check.failure,
            source_ip=ip,
            path=request.path,
            method=request.method,
        )
        return unauthorized_response(realm, "Invalid, expired or revoked API key.")
    return check.api_key


def _resolve(actor: Any, org: str, repo: str) -> Repository | None:
    """The repository named in the URL if the actor may see it; else None (answered as 404)."""
    if isinstance(actor, ApiKey):
        return repository_for_key(actor, org, repo)
    repository = (
        Repository.objects.select_related("organization")
        .filter(organization__slug=org, slug=repo)
        .first()
    )
    if repository is None or not can(actor, Action.READ, repository.organization, repository):
        return None
    return repository


def _denial_message(actor: Any, action: Action) -> str:
    if isinstance(actor, ApiKey) and not actor.can_upload and action == Action.UPLOAD:
        return "This API key is read-only; it cannot upload."
    if isinstance(actor, ApiKey) and actor.user_id is not None:
        return f"This personal API key's user may not {action.value.replace('_', '/')} here."
    return f"You may not {action.value.replace('_', '/')} in this repository."


def require_repository_key(
    *, upload: bool = False, action: Action | str | None = None, session: bool = False
) -> Callable[[View], View]:
    """Resolve `org`/`repo` from the URL for the key presented, or answer 429/401/403/404.

    `upload=True` is shorthand for `action=Action.UPLOAD`; the default action is reading.
    `session=True` lets a logged-in dashboard user read too; writes never take a session.
    """
    needed = Action(action) if action is not None else Action.UPLOAD if upload else Action.READ
    if session and needed != Action.READ:
        raise ValueError("Only reads may accept a session cookie.")

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, org: str, repo: str, **kwargs: Any) -> HttpResponse:
            ip = client_ip(request)
            actor = _authenticate(request, f"{org}/{repo}", ip, session)
            if isinstance(actor, HttpResponse):
                return actor
            api_key = actor if isinstance(actor, ApiKey) else None
            repository = _resolve(actor, org, repo)
            if repository is None:
                audit_key_refusal(
                    api_key=api_key,
                    reason="not visible",
                    source_ip=ip,
                    path=request.path,
                    method=request.method,
                )
                return error_response(404, f"Repository '{org}/{repo}' not found.")
            if not can(actor, needed, repository.organization, repository):
                audit_key_refusal(
                    api_key=api_key,
                    reason=f"not allowed: {needed.value}",
                    source_ip=ip,
                    path=request.path,
                    method=request.method,
                )
                return error_response(403, _denial_message(actor, needed))
            request.api_key = api_key  # type: ignore[attr-defined]
            request.actor = actor  # type: ignore[attr-defined]
            request.repository = repository  # type: ignore[attr-defined]
            return view(request, **kwargs)

        return wrapper

    return decorator
