"""Dashboard parts of proxy and virtual repositories: what a proxy has cached and lets
through, with purging; a virtual repository's members and upstream overrides."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.dashboard.http import AuthenticatedRequest
from accounts.network import client_ip
from accounts.permissions import Action
from registry import selectors
from registry import services
from registry.dashboard.forms import UpstreamOverrideForm
from registry.filters import rules_parse
from registry.links import url_without_credentials
from registry.models import Repository
from registry.models import RepositoryKind

# The proxy page lists this many cached projects (by name), and says how many there are.
CACHE_PAGE = 200


def _names(text: str, field: str) -> str:
    return ", ".join(rule.text for rule in rules_parse(text, field=field))


def proxy_rules_in_words(repository: Repository) -> list[str]:
    """What a proxy lets through from its upstream, one plain sentence per control."""
    upstream = url_without_credentials(repository.upstream_url)
    words = [
        f"Project pages come from {upstream} and are served from the cache for "
        f"{repository.cache_ttl} seconds before the upstream is asked again; what was fetched "
        "stays available while the upstream is down."
    ]
    allow = _names(repository.allow_rules, "allow_rules")
    words.append(
        f"Only these projects and versions are listed: {allow}."
        if allow
        else "Every project the upstream offers is listed (no allow list)."
    )
    if deny := _names(repository.deny_rules, "deny_rules"):
        words.append(f"Never listed: {deny}.")
    days = repository.cooldown_days
    if days:
        words.append(
            f"A file is listed {days} day{'s' if days != 1 else ''} after its upload upstream, "
            "so a compromised release has time to be found and removed first."
        )
    if repository.snapshot_at:
        words.append(
            f"Nothing uploaded after {repository.snapshot_at:%Y-%m-%d %H:%M} UTC is listed "
            "(a snapshot, for reproducible installs)."
        )
    exempt = _names(repository.exempt_names, "exempt_names")
    if exempt and (days or repository.snapshot_at):
        words.append(f"{exempt} skip the cooldown and the snapshot.")
    words.append("What a rule hides is absent from the index; asking for it directly says why.")
    return words


def kind_context(repository: Repository) -> dict[str, Any]:
    """What the repository page shows beyond projects, for its kind."""
    if repository.kind == RepositoryKind.PROXY:
        projects = selectors.cached_projects(repository=repository)
        return {
            "upstream": url_without_credentials(repository.upstream_url),
            "cache": selectors.proxy_cache_totals(repository=repository),
            "cached": projects[:CACHE_PAGE],
            "cache_page": CACHE_PAGE,
            "rules_in_words": proxy_rules_in_words(repository),
        }
    if repository.kind == RepositoryKind.VIRTUAL:
        return {
            "members": [
                {"repository": member, "upstream": url_without_credentials(member.upstream_url)}
                for member in selectors.virtual_members(repository=repository)
            ],
            "upload_target": repository.upload_target,
            "overrides": selectors.upstream_overrides(repository=repository),
            "override_form": UpstreamOverrideForm(),
        }
    return {"virtual_parents": selectors.virtual_parents(repository=repository)}


def _manageable(request: AuthenticatedRequest, org: str, repo: str) -> Repository:
    return selectors.repository_for(
        actor=request.user, org=org, repo=repo, action=Action.MANAGE_REPOSITORIES
    )


def _purge(request: AuthenticatedRequest, org: str, repo: str, project: str | None) -> HttpResponse:
    repository = _manageable(request, org, repo)
    try:
        count = services.proxy_purge(
            repository=repository,
            actor=request.user,
            normalized_name=project,
            source_ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        what = f"{project}'s cached page and files" if project else "the whole cache"
        messages.success(
            request,
            f"Purged {what} ({count} project{'s' if count != 1 else ''}): the next install "
            "fetches from the upstream again.",
        )
    return redirect("repo-detail", org=org, repo=repo)


@login_required
@require_POST
def cache_purge(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    return _purge(request, org, repo, None)


@login_required
@require_POST
def cache_purge_project(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    return _purge(request, org, repo, project)


def _override_set(
    request: AuthenticatedRequest, repository: Repository, name: str, allowed: bool, reason: str
) -> None:
    try:
        services.upstream_override_set(
            repository=repository,
            actor=request.user,
            name=name,
            allowed=allowed,
            reason=reason,
            source_ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Upstream versions of {name} are now listed beside the hosted ones."
            if allowed
            else f"{name} is answered from hosted members only again.",
        )


@login_required
@require_POST
def override_add(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _manageable(request, org, repo)
    form = UpstreamOverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Name the project (200 characters at most; a reason 1000).")
    else:
        _override_set(
            request, repository, form.cleaned_data["name"], True, form.cleaned_data["reason"]
        )
    return redirect("repo-detail", org=org, repo=repo)


@login_required
@require_POST
def override_remove(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    repository = _manageable(request, org, repo)
    _override_set(request, repository, project, False, "")
    return redirect("repo-detail", org=org, repo=repo)
