"""Pages: a project's downloads (chart, table, CSV) and a repository's retention policy with
its dry run. Readers of the repository see the numbers and the dry run; owners and admins
(or who else may manage repositories and delete) change the policy."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import can
from analytics import selectors
from analytics.charts import stacked_bars
from analytics.forms import RetentionForm
from analytics.retention import policy_plan
from analytics.retention import retention_policy_set
from core.errors import Conflict
from registry import selectors as registry_selectors
from registry.models import Project
from registry.models import Repository

BY = ("version", "installer")


def _project(request: AuthenticatedRequest, org: str, repo: str, project: str) -> Project:
    repository = registry_selectors.repository_for(actor=request.user, org=org, repo=repo)
    found = registry_selectors.project_for(repository=repository, name=project)
    found.repository = repository
    return found


def _choice(request: AuthenticatedRequest, name: str, allowed: tuple[Any, ...]) -> Any:
    """A query parameter from a fixed list; its first entry when absent; 400 otherwise."""
    given = request.GET.get(name)
    if given is None or given == "":
        return allowed[0]
    for value in allowed:
        if str(value) == given:
            return value
    raise ValidationError(f"'{name}' must be one of {', '.join(map(str, allowed))}.")


def _bad_request(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


@login_required
def project_downloads(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    found = _project(request, org, repo, project)
    try:
        days = _choice(request, "days", selectors.PERIODS)
        by = _choice(request, "by", BY)
    except ValidationError as exc:
        return _bad_request(exc.messages[0])
    numbers = selectors.project_downloads(project=found, days=days)
    context = {
        **org_context(request.user, found.repository.organization),
        "repository": found.repository,
        "project": found,
        "numbers": numbers,
        "version_rows": [(s, numbers.last_downloaded.get(s.name)) for s in numbers.by_version],
        "chart": stacked_bars(numbers.days, numbers.series(by)),
        "days": days,
        "by": by,
        "periods": selectors.PERIODS,
        "bys": BY,
    }
    return render(request, "analytics/project_downloads.html", context)


def _cell(value: object) -> object:
    # A cell starting with = + - @ is a formula to a spreadsheet.
    text = str(value)
    return f"'{text}" if text[:1] in {"=", "+", "-", "@"} else value


@login_required
def project_downloads_csv(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    found = _project(request, org, repo, project)
    try:
        days = _choice(request, "days", selectors.PERIODS)
    except ValidationError as exc:
        return _bad_request(exc.messages[0])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"downloads-{found.repository.organization.slug}-{found.repository.slug}-"
    response["Content-Disposition"] = f'attachment; filename="{name}{found.normalized_name}.csv"'
    writer = csv.writer(response)
    for row in selectors.project_csv_rows(project=found, days=days):
        writer.writerow([_cell(v) for v in row])
    return response


def _retention_context(request: AuthenticatedRequest, repository: Repository) -> dict[str, Any]:
    policy = selectors.policy_of(repository=repository)
    organization = repository.organization
    return {
        **org_context(request.user, organization),
        "repository": repository,
        "policy": policy,
        "plan": policy_plan(repository=repository, policy=policy),
        "can_configure": can(request.user, Action.MANAGE_REPOSITORIES, organization, repository)
        and can(request.user, Action.DELETE, organization, repository),
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def retention(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = registry_selectors.repository_for(actor=request.user, org=org, repo=repo)
    policy = selectors.policy_of(repository=repository)
    initial = (
        {
            "enabled": policy.enabled,
            "keep_finals": policy.keep_finals,
            "prerelease_days": policy.prerelease_days,
            "protect_downloaded_days": policy.protect_downloaded_days,
        }
        if policy is not None
        else None
    )
    form = RetentionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            retention_policy_set(
                repository=repository,
                actor=request.user,
                source_ip=client_ip(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Retention policy saved.")
            return redirect("repo-retention", org=org, repo=repo)
    context = {**_retention_context(request, repository), "form": form}
    return render(request, "analytics/retention.html", context, status=400 if form.errors else 200)
