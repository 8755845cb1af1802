"""Dashboard pages of an organization's repositories: its overview, creating, renaming,
describing and deleting repositories, and deleting the organization with all it stores."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import form_page
from accounts.dashboard.views import org_context
from accounts.models import Organization
from accounts.network import client_ip
from accounts.permissions import Action
from registry import selectors
from registry import services
from registry.dashboard.forms import MIB
from registry.dashboard.forms import ConfirmForm
from registry.dashboard.forms import RepositoryForm
from registry.dashboard.forms import RepositorySettingsForm
from registry.models import Repository


@login_required
def org_detail(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    context = {
        **org_context(request.user, organization),
        "repositories": selectors.repository_overviews(organization=organization),
        "usage": selectors.organization_usage(organization=organization),
        "member_count": account_selectors.members_of(organization=organization).count(),
        "base_url": settings.PUBLIC_URL,
    }
    return render(request, "registry/org_detail.html", context)


def _delete_page(
    request: AuthenticatedRequest,
    organization: Organization,
    *,
    title: str,
    intro: str,
    delete: Callable[[str], None],
    done: str,
    then: Callable[[], HttpResponse],
) -> HttpResponse:
    """Ask for the name to be typed, then call `delete` with what was typed (the service
    compares it and refuses a mismatch)."""
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            delete(form.cleaned_data["confirm"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, done)
            return then()
    context = org_context(request.user, organization)
    return form_page(request, form, title, submit="Delete", intro=intro, **context)


@login_required
def org_delete(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(
        actor=request.user, slug=org, action=Action.DELETE_ORGANIZATION
    )
    return _delete_page(
        request,
        organization,
        title="Delete organization",
        intro=f"This deletes {org} with all its repositories, packages, files and keys, for "
        f"good. Type {org} to confirm.",
        delete=lambda typed: services.organization_delete(
            organization=organization,
            actor=request.user,
            confirm_slug=typed,
            source_ip=client_ip(request),
        ),
        done=f"Organization {org} deleted.",
        then=lambda: redirect("org-list"),
    )


@login_required
def repository_create(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(
        actor=request.user, slug=org, action=Action.MANAGE_REPOSITORIES
    )
    form = RepositoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            repository = services.repository_create(
                organization=organization,
                actor=request.user,
                source_ip=client_ip(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Repository {repository} created. Connect a client next.")
            return redirect("repo-connect", org=org, repo=repository.slug)
    intro = "A repository is one package index with its own URL; keys can be limited to it."
    return form_page(
        request,
        form,
        "New repository",
        submit="Create",
        intro=intro,
        **org_context(request.user, organization),
    )


def _repository(request: AuthenticatedRequest, org: str, repo: str) -> Repository:
    return selectors.repository_for(
        actor=request.user, org=org, repo=repo, action=Action.MANAGE_REPOSITORIES
    )


@login_required
def repository_edit(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    initial = {
        "slug": repository.slug,
        "description": repository.description,
        "allow_file_deletion": repository.allow_file_deletion,
        "max_file_size_mib": repository.max_file_size // MIB if repository.max_file_size else None,
    }
    form = RepositorySettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.repository_update(
                repository=repository,
                actor=request.user,
                source_ip=client_ip(request),
                **form.policies(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Repository settings saved.")
            return redirect("repo-detail", org=org, repo=repository.slug)
    return form_page(
        request,
        form,
        f"Settings of {org}/{repo}",
        submit="Save",
        **org_context(request.user, repository.organization),
        danger_url=reverse("repo-delete", kwargs={"org": org, "repo": repo}),
        danger_label="Delete this repository",
    )


@login_required
def repository_delete(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    return _delete_page(
        request,
        repository.organization,
        title="Delete repository",
        intro=f"This deletes {org}/{repo} with all its packages and files. Type {repo} to confirm.",
        delete=lambda typed: services.repository_delete(
            repository=repository,
            actor=request.user,
            confirm_slug=typed,
            source_ip=client_ip(request),
        ),
        done=f"Repository {org}/{repo} deleted.",
        then=lambda: redirect("org-detail", org=org),
    )
