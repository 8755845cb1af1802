"""Dashboard pages of an organization's repositories: its overview, creating, renaming,
describing and deleting repositories, and deleting the organization with all it stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import form_page
from accounts.dashboard.views import org_context
from accounts.dashboard.views import rename_confirm_page
from accounts.dashboard.views import renamed_message
from accounts.models import Organization
from accounts.network import client_ip
from accounts.permissions import Action
from registry import selectors
from registry import services
from registry.dashboard.forms import MIB
from registry.dashboard.forms import PROXY_FIELDS
from registry.dashboard.forms import VIRTUAL_FIELDS
from registry.dashboard.forms import ConfirmForm
from registry.dashboard.forms import ProxySettingsForm
from registry.dashboard.forms import RepositoryCreateForm
from registry.dashboard.forms import RepositorySettingsForm
from registry.dashboard.forms import VirtualSettingsForm
from registry.models import Repository
from registry.models import RepositoryKind
from registry.quotas import quota_for


@login_required
def org_detail(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    context = {
        **org_context(request.user, organization),
        "repositories": selectors.repository_overviews(organization=organization),
        "usage": selectors.organization_usage(organization=organization),
        "quota": quota_for(actor=request.user, organization=organization),
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


def form_errors(form: BaseForm, exc: ValidationError) -> None:
    """A service's refusal on the form: under the field it names when the form has one."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _fieldsets(form: BaseForm) -> list[dict[str, Any]]:
    """The form's fields in groups: the common ones, then each kind's settings."""
    groups = [
        (
            "Proxy settings",
            "A proxy caches an upstream index: what it fetched stays available when the "
            "upstream is down. Its lists decide which projects and versions it lets through.",
            (*PROXY_FIELDS, "clear_upstream_password"),
        ),
        (
            "Virtual settings",
            "A virtual repository serves several of this organization's repositories under "
            "one index URL. A name any hosted member holds is answered only from hosted "
            "members: private names always win over the upstream.",
            VIRTUAL_FIELDS,
        ),
    ]
    grouped = {name for _, _, names in groups for name in names}
    common = [form[name] for name in form.fields if name not in grouped]
    fieldsets: list[dict[str, Any]] = [{"title": "", "intro": "", "fields": common}]
    for title, intro, names in groups:
        fields = [form[name] for name in names if name in form.fields]
        if fields:
            fieldsets.append({"title": title, "intro": intro, "fields": fields})
    return fieldsets


def _repository_form_page(
    request: AuthenticatedRequest, form: BaseForm, title: str, **extra: Any
) -> HttpResponse:
    context = {"form": form, "title": title, "fieldsets": _fieldsets(form), **extra}
    return render(request, "registry/repository_form.html", context)


@login_required
def repository_create(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(
        actor=request.user, slug=org, action=Action.MANAGE_REPOSITORIES
    )
    hosted = selectors.repository_slugs(organization=organization, kind=RepositoryKind.HOSTED)
    form = RepositoryCreateForm(request.POST or None, hosted=hosted)
    if request.method == "POST" and form.is_valid():
        try:
            repository = services.repository_create(
                organization=organization,
                actor=request.user,
                source_ip=client_ip(request),
                **form.options(),
            )
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, f"Repository {repository} created. Connect a client next.")
            return redirect("repo-connect", org=org, repo=repository.slug)
    intro = (
        "A repository is one package index with its own URL; keys can be limited to it. "
        "Hosted repositories hold what you upload, proxies cache an upstream index such as "
        "PyPI, and virtual repositories serve several of them as one index."
    )
    return _repository_form_page(
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


def _settings_form(request: AuthenticatedRequest, repository: Repository) -> RepositorySettingsForm:
    """The settings form of the repository's kind, filled with what is stored (never the
    upstream password: a blank field keeps it)."""
    initial: dict[str, Any] = {
        "org": repository.organization.slug,
        "slug": repository.slug,
        "description": repository.description,
        "allow_file_deletion": repository.allow_file_deletion,
        "max_file_size_mib": repository.max_file_size // MIB if repository.max_file_size else None,
    }
    data = request.POST or None
    if repository.kind == RepositoryKind.PROXY:
        names = [name for name in PROXY_FIELDS if name != "upstream_password"]
        initial |= {name: getattr(repository, name) for name in names}
        return ProxySettingsForm(data, initial=initial)
    if repository.kind == RepositoryKind.VIRTUAL:
        members = selectors.virtual_members(repository=repository)
        target = repository.upload_target
        initial["members"] = "\n".join(m.slug for m in members)
        initial["upload_target"] = target.slug if target is not None else ""
        hosted = selectors.repository_slugs(
            organization=repository.organization, kind=RepositoryKind.HOSTED
        )
        return VirtualSettingsForm(data, initial=initial, hosted=hosted)
    return RepositorySettingsForm(data, initial=initial)


@login_required
def repository_edit(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    form = _settings_form(request, repository)
    if request.method == "POST" and form.is_valid() and form.renames() and not form.confirmed():
        new = form.cleaned_data["slug"]
        return rename_confirm_page(
            request,
            title=f"Rename {org}/{repository.slug} to {org}/{new}?",
            what="repository",
            roots=(f"/{org}/{repository.slug}/", f"/{org}/{new}/"),
            back=reverse("repo-edit", kwargs={"org": org, "repo": repository.slug}),
            **org_context(request.user, repository.organization),
        )
    if request.method == "POST" and form.is_valid():
        renamed = form.renames()
        try:
            services.repository_update(
                repository=repository,
                actor=request.user,
                source_ip=client_ip(request),
                **form.policies(),
            )
        except ValidationError as exc:
            form_errors(form, exc)
        else:
            former = f"{org}/{form.initial['slug']}"
            saved = renamed_message(former) if renamed else "Repository settings saved."
            messages.success(request, saved)
            return redirect("repo-detail", org=org, repo=repository.slug)
    return _repository_form_page(
        request,
        form,
        f"Settings of {org}/{repo}",
        submit="Save",
        intro=f"A {repository.get_kind_display().lower()}. A repository's kind never changes.",
        **org_context(request.user, repository.organization),
        # The settings page also shows its trusted publishers (publishing.templatetags).
        repository=repository,
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
