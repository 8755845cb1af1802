"""Who may read or write a repository: API keys presented by pip, uv, twine and friends.

Answers, in this order:
- 429 with Retry-After: a key that does not verify, after too many failed key checks from
  this source address or for this key id recently (a key that verifies is never held back);
- 401 with a Basic challenge: no key, or a bad, expired or revoked one (pip and uv retry
  with their stored credentials only after a 401);
- 403: a valid key used from outside its allowed networks;
- 404: the organization or repository is missing, foreign, or outside the key's limits —
  one identical answer, so there is no existence oracle across tenants;
- 403: the repository is visible but the action is not allowed (a read-only key uploading,
  a personal key whose user's role does not allow it).
Session cookies are never accepted unless a view opts in for reads.

This is the index's mapping of the authentication core (accounts.authentication) and the
repository lookup (registry.selectors.repository_for) to HTTP answers. A key let through
before is let through again from memory until anything deciding access changes
(registry.index.hot); refusals always take the full path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http import HttpResponse
from django.http.response import HttpResponseBase

from accounts.authentication import Refusal
from accounts.authentication import authenticate_key
from accounts.models import ApiKey
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import Actor
from accounts.selectors import alias_until
from accounts.services import audit_key_refusal
from core.errors import NotFound
from core.http import error_response
from core.http import too_many_attempts_response
from core.http import unauthorized_response
from registry.index import hot
from registry.models import Repository
from registry.selectors import repository_for

View = Callable[..., HttpResponseBase]


class RepositoryRequest(HttpRequest):
    """A request the decorator has let through, with who acts and on which repository, and
    the generations its answer may be kept under (None: keep nothing)."""

    actor: Actor
    api_key: ApiKey | None
    repository: Repository
    generations: hot.Generations | None


def _authenticate(request: HttpRequest, realm: str, ip: str, session: bool) -> Actor | HttpResponse:
    """The acting key or user, or the response that refuses the request."""
    outcome = authenticate_key(
        authorization=request.headers.get("Authorization", ""),
        source_ip=ip,
        method=request.method or "",
    )
    if outcome.api_key is not None:
        return outcome.api_key
    if outcome.refusal == Refusal.THROTTLED:
        return too_many_attempts_response(outcome.message, outcome.retry_after)
    if outcome.refusal == Refusal.NETWORK:
        return error_response(403, outcome.message)
    # No user without the session middleware, which stands aside for installers.
    user = getattr(request, "user", None)
    if outcome.refusal == Refusal.NO_KEY and session and user is not None and user.is_authenticated:
        return user
    return unauthorized_response(realm, outcome.message)


def _refuse(request: HttpRequest, actor: Actor, ip: str, reason: str) -> None:
    audit_key_refusal(
        api_key=actor if isinstance(actor, ApiKey) else None,
        reason=reason,
        source_ip=ip,
        method=request.method or "",
    )


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
        def wrapper(request: HttpRequest, org: str, repo: str, **kwargs: Any) -> HttpResponseBase:
            ip = client_ip(request)
            authorization = request.headers.get("Authorization", "")
            # Read before any lookup, so what the lookups find is never kept under a
            # generation newer than itself.
            gen = hot.generations_for(org, hot.subject_name(kwargs))
            where = {"org": org, "repo": repo, "action": needed.value}
            known = (
                hot.access_get(gen, **where, authorization=authorization, source_ip=ip)
                if gen is not None
                else None
            )
            if known is not None:
                return _let_through(view, request, known.api_key, known.repository, gen, kwargs)
            actor = _authenticate(request, f"{org}/{repo}", ip, session)
            if isinstance(actor, HttpResponse):
                return actor
            try:
                repository = repository_for(
                    actor=actor, org=org, repo=repo, action=needed, follow_renames=True
                )
            except NotFound:
                _refuse(request, actor, ip, "not visible")
                return error_response(404, f"Repository '{org}/{repo}' not found.")
            except PermissionDenied as exc:
                _refuse(request, actor, ip, f"not allowed: {needed.value}")
                return error_response(403, str(exc))
            if not isinstance(actor, ApiKey):  # a dashboard session: keep nothing for it
                return _let_through(view, request, actor, repository, None, kwargs)
            current = repository.organization.slug
            if gen is not None and gen.org != current:
                # A former organization slug not known here yet: remember it (under the
                # generation read before the lookup), keep nothing else from this request,
                # whose generations are the former slug's; the next one reads the current's.
                until = alias_until(repository.organization)
                if until is not None and gen.org == org:
                    hot.alias_put(gen, org=org, current=current, until=until)
                gen = None
            if gen is not None:
                hot.access_put(
                    gen,
                    **where,
                    authorization=authorization,
                    api_key=actor,
                    repository=repository,
                    until=alias_until(repository),
                )
            return _let_through(view, request, actor, repository, gen, kwargs)

        return wrapper

    return decorator


def _let_through(
    view: View,
    request: HttpRequest,
    actor: Actor,
    repository: Repository,
    gen: hot.Generations | None,
    kwargs: dict[str, Any],
) -> HttpResponseBase:
    request.actor = actor  # type: ignore[attr-defined]
    request.api_key = actor if isinstance(actor, ApiKey) else None  # type: ignore[attr-defined]
    request.repository = repository  # type: ignore[attr-defined]
    request.generations = gen  # type: ignore[attr-defined]
    return view(request, **kwargs)
