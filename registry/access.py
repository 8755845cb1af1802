"""Who may read or write a repository: API keys presented by pip, uv, twine and friends."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http import HttpResponse

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from registry.models import Repository
from registry.responses import error_response
from registry.responses import unauthorized_response


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
    repositories = Repository.objects.select_related("organization").filter(
        organization=api_key.organization_id, organization__slug=org_slug, slug=repo_slug
    )
    if api_key.repositories.exists():
        repositories = repositories.filter(pk__in=api_key.repositories.values("pk"))
    return repositories.first()


View = Callable[..., HttpResponse]


def require_repository_key(*, upload: bool = False) -> Callable[[View], View]:
    """Resolve `org`/`repo` from the URL for the key presented, or answer 401/403/404.

    Missing or bad credentials get 401 with a Basic challenge, so pip retries with its
    keyring and uv with its stored credentials. A repository the key cannot see answers 404
    whether it exists elsewhere or not: no existence oracle across tenants.
    """

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, org: str, repo: str, **kwargs: Any) -> HttpResponse:
            realm = f"{org}/{repo}"
            token = token_from_authorization(request.headers.get("Authorization", ""))
            if token is None:
                return unauthorized_response(realm, "Authentication required: use an API key.")
            api_key = api_key_authenticate(token)
            if api_key is None:
                return unauthorized_response(realm, "Invalid, expired or revoked API key.")
            repository = repository_for_key(api_key, org, repo)
            if repository is None:
                return error_response(404, f"Repository '{org}/{repo}' not found.")
            if upload and not api_key.can_upload:
                return error_response(403, "This API key is read-only; it cannot upload.")
            request.api_key = api_key  # type: ignore[attr-defined]
            request.repository = repository  # type: ignore[attr-defined]
            return view(request, **kwargs)

        return wrapper

    return decorator
