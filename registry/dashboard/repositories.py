"""Dashboard pages of an organization's repositories: its overview, creating, renaming,
describing and deleting repositories, and deleting the organization with all it stores."""

from __future__ import annotations

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
from accounts.dashboard.views import org_context
from accounts.network import client_ip
from accounts.permissions import Action
from registry import selectors
from registry import services
from registry.dashboard.forms import MIB
from registry.dashboard.forms import ConfirmForm
from registry.dashboard.forms import RepositoryForm
from registry.dashboard.forms import RepositorySettingsForm
from registry.models import Repository


def _page(request: AuthenticatedRequest, form: object, title: str, **extra: object) -> HttpResponse:
    # The organization's tabs come with org_context in `extra`.
    return render(request, "accounts/form.html", {"form": form, "title": title, **extra})


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


@login_required
def org_delete(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(
        actor=request.user, slug=org, action=Action.DELETE_ORGANIZATION
    )
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_delete(
                organization=organization,
                actor=request.user,
                confirm_slug=form.cleaned_data["confirm"],
                source_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Organization {org} deleted.")
            return redirect("org-list")
    intro = (
        f"This deletes {organization.slug} with all its repositories, packages, files and "
        f"keys, for good. Type {organization.slug} to confirm."
    )
    return _page(
        request,
        form,
        "Delete organization",
        submit="Delete",
        intro=intro,
        **org_context(request.user, organization),
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
    return _page(
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
    return _page(
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
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.repository_delete(
                repository=repository,
                actor=request.user,
                confirm_slug=form.cleaned_data["confirm"],
                source_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Repository {org}/{repo} deleted.")
            return redirect("org-detail", org=org)
    intro = f"This deletes {org}/{repo} with all its packages and files. Type {repo} to confirm."
    return _page(
        request,
        form,
        "Delete repository",
        submit="Delete",
        intro=intro,
        **org_context(request.user, repository.organization),
    )
