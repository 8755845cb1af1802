"""Dashboard pages inside a repository: its projects, how to connect clients, and a project's
releases and files with yank, unyank and delete for the roles that may."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import can
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.dashboard.forms import ProjectSearchForm
from registry.dashboard.forms import YankForm
from registry.dashboard.kinds import kind_context
from registry.dashboard.snippets import client_sections
from registry.links import repository_urls
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.names import latest_release


def _repository(
    request: AuthenticatedRequest, org: str, repo: str, action: Action = Action.READ
) -> Repository:
    return registry_selectors.repository_for(actor=request.user, org=org, repo=repo, action=action)


def _repository_context(request: AuthenticatedRequest, repository: Repository) -> dict[str, Any]:
    urls = repository_urls(repository, base_url=settings.PUBLIC_URL)
    public = urlsplit(settings.PUBLIC_URL)
    return {
        **org_context(request.user, repository.organization),
        "repository": repository,
        "urls": urls,
        "host": public.hostname,
        "netloc": public.netloc,
        "scheme": public.scheme,
        "can_upload": can(request.user, Action.UPLOAD, repository.organization, repository),
        "can_yank": can(request.user, Action.YANK, repository.organization, repository),
    }


@login_required
def repository_detail(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    form = ProjectSearchForm(request.GET)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    context = {
        **_repository_context(request, repository),
        **kind_context(repository),
        "form": form,
        "query": query,
        "projects": registry_selectors.repository_projects(repository=repository, query=query),
    }
    return render(request, "registry/repository.html", context)


@login_required
def repository_connect(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    context = {**_repository_context(request, repository), **kind_context(repository)}
    context["parent_urls"] = [
        (parent, repository_urls(parent, base_url=settings.PUBLIC_URL)["index_url"])
        for parent in context.get("virtual_parents", [])
    ]
    context["sections"] = client_sections(
        index_url=context["urls"]["index_url"],
        upload_url=context["urls"]["upload_url"],
        name=f"{repository.organization.slug}-{repository.slug}",
        audience=settings.OIDC_AUDIENCE,
    )
    return render(request, "registry/repository_connect.html", context)


def _project(
    request: AuthenticatedRequest, org: str, repo: str, project: str, action: Action
) -> Project:
    repository = _repository(request, org, repo, action)
    return registry_selectors.project_for(repository=repository, name=project)


def _release(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str, action: Action
) -> Release:
    # Yanking is checked by its service; deleting here too, so no reader sees the confirm page.
    found = _project(request, org, repo, project, action)
    return registry_selectors.release_for(project=found, version=version)


@login_required
def project_detail(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    found = _project(request, org, repo, project, Action.READ)
    releases = registry_selectors.project_releases_for_dashboard(project=found)
    context = {
        **_repository_context(request, found.repository),
        "project": found,
        "releases": releases,
        "latest": latest_release(releases),
        "yank_form": YankForm(),
    }
    return render(request, "registry/project.html", context)


def _to_project(release: Release) -> HttpResponse:
    project = release.project
    repository = project.repository
    return redirect(
        "project-detail",
        org=repository.organization.slug,
        repo=repository.slug,
        project=project.normalized_name,
    )


@login_required
@require_POST
def release_yank(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str
) -> HttpResponse:
    release = _release(request, org, repo, project, version, Action.READ)
    form = YankForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is too long (500 characters at most).")
        return _to_project(release)
    registry_services.release_yank(
        release=release,
        reason=form.cleaned_data["reason"],
        actor=request.user,
        source_ip=client_ip(request),
    )
    messages.success(request, f"{release} yanked: installers skip it unless pinned to it.")
    return _to_project(release)


@login_required
@require_POST
def release_unyank(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str
) -> HttpResponse:
    release = _release(request, org, repo, project, version, Action.READ)
    registry_services.release_unyank(
        release=release, actor=request.user, source_ip=client_ip(request)
    )
    messages.success(request, f"{release} is installable again.")
    return _to_project(release)


def _confirm_page(request: AuthenticatedRequest, release: Release, **extra: Any) -> HttpResponse:
    context = {**_repository_context(request, release.project.repository), "release": release}
    return render(request, "registry/delete_confirm.html", {**context, **extra})


@login_required
def release_delete(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str
) -> HttpResponse:
    release = _release(request, org, repo, project, version, Action.DELETE)
    if request.method != "POST":
        return _confirm_page(request, release, what=f"release {release}")
    try:
        registry_services.release_delete(
            release=release, actor=request.user, source_ip=client_ip(request)
        )
    except registry_services.DeletionNotAllowed as exc:
        messages.error(request, str(exc))
        return _to_project(release)
    messages.success(request, f"{release} deleted; its filenames can never be reused.")
    return _to_project(release)


@login_required
def file_delete(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str, file_id: int
) -> HttpResponse:
    release = _release(request, org, repo, project, version, Action.DELETE)
    file = registry_selectors.file_of_release(release=release, file_id=file_id)
    if request.method != "POST":
        return _confirm_page(request, release, what=f"file {file.filename}", file=file)
    try:
        registry_services.file_delete(file=file, actor=request.user, source_ip=client_ip(request))
    except registry_services.DeletionNotAllowed as exc:
        messages.error(request, str(exc))
        return _to_project(release)
    messages.success(request, f"{file.filename} deleted; its name can never be reused.")
    return _to_project(release)
