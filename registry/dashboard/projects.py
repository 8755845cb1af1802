"""Dashboard pages inside a repository: its projects, how to connect clients, and a project's
releases and files with yank, unyank and delete for the roles that may."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anybadge
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http import HttpResponse
from django.shortcuts import redirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.http import require_safe

from accounts import selectors as account_selectors
from accounts.dashboard.http import AuthenticatedRequest
from accounts.dashboard.views import org_context
from accounts.network import client_ip
from accounts.permissions import Action
from accounts.permissions import can
from core.errors import NotFound
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.dashboard.about import history
from registry.dashboard.about import release_about
from registry.dashboard.forms import ConfirmForm
from registry.dashboard.forms import ProjectSearchForm
from registry.dashboard.forms import ProjectStatusForm
from registry.dashboard.forms import YankForm
from registry.dashboard.kinds import kind_context
from registry.dashboard.snippets import client_sections
from registry.links import repository_urls
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.names import latest_release
from registry.names import normalize_version

PROJECTS_PER_PAGE = 50
# The dashboard's accent colour: a badge reads as this registry's.
BADGE_COLOR = "#1f4fb8"


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


def _search(request: AuthenticatedRequest) -> tuple[ProjectSearchForm, str]:
    """The search form of a package list, and what it asks for ("" for everything)."""
    form = ProjectSearchForm(request.GET)
    return form, form.cleaned_data["q"].strip() if form.is_valid() else ""


@login_required
def repository_detail(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = _repository(request, org, repo)
    form, query = _search(request)
    projects = registry_selectors.repository_projects(repository=repository, query=query)
    context = {
        **_repository_context(request, repository),
        **kind_context(repository),
        "form": form,
        "query": query,
        **_project_page_of(request, projects),
    }
    return render(request, "registry/repository.html", context)


@login_required
def organization_search(request: AuthenticatedRequest, org: str) -> HttpResponse:
    organization = account_selectors.organization_for(actor=request.user, slug=org)
    form, query = _search(request)
    projects = registry_selectors.organization_projects(organization=organization, query=query)
    context = {
        **org_context(request.user, organization),
        "form": form,
        "query": query,
        **_project_page_of(request, projects),
    }
    return render(request, "registry/search.html", context)


def _project_page_of(request: AuthenticatedRequest, projects: QuerySet[Project]) -> dict[str, Any]:
    """One page of a project list, each project with its latest release."""
    page = Paginator(projects, PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    registry_selectors.projects_latest_load(projects=page.object_list)
    return {"projects": page.object_list, "page_obj": page}


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
    return _project_page(request, _project(request, org, repo, project, Action.READ))


@login_required
def release_detail(
    request: AuthenticatedRequest, org: str, repo: str, project: str, version: str
) -> HttpResponse:
    found = _project(request, org, repo, project, Action.READ)
    return _project_page(request, found, version=normalize_version(version))


def _project_page(
    request: AuthenticatedRequest, project: Project, version: str | None = None
) -> HttpResponse:
    """The project as pypi.org shows it: one release (the latest, or `version`) with its
    metadata, README and files, beside the whole release history."""
    releases = registry_selectors.project_releases_for_dashboard(project=project)
    latest = latest_release(releases)
    shown = latest
    if version is not None:
        shown = next((r for r in releases if r.canonical_version == version), None)
        if shown is None:
            raise NotFound(f"Release '{project.name} {version}' not found.")
    about = release_about(shown) if shown is not None else {}
    deps = about.get("dependencies", [])
    linked = registry_selectors.project_repositories_named(
        repository=project.repository, names=[d.normalized_name for d in deps]
    )
    context = {
        **_repository_context(request, project.repository),
        **_badge_context(project),
        "project": project,
        "releases": releases,
        "history": history(releases),
        "latest": latest,
        "shown": shown,
        "about": about,
        "dependencies": [(d, linked.get(d.normalized_name)) for d in deps],
        "yank_form": YankForm(),
        "status_form": ProjectStatusForm(initial={"status": project.status}),
    }
    return render(request, "registry/project.html", context)


@require_safe
def project_badge(request: HttpRequest, org: str, repo: str, project: str) -> HttpResponse:
    """The README badge: the project's name and latest version as an SVG image. No login
    required here, on purpose: a README is read where nobody has a session (a public GitHub
    page). Who gets it is project_badge_for's rule: members who may read the repository
    always, anyone else only when its owners made the badge public; for the others it looks
    missing (404), like any private project. Session cookies are SameSite=Lax: another
    site's page embedding the image sends none, so it sees a private badge as missing too."""
    user = request.user if request.user.is_authenticated else None
    found = registry_selectors.project_badge_for(actor=user, org=org, repo=repo, name=project)
    latest = registry_selectors.project_latest(project=found)
    badge = anybadge.Badge(
        label=found.name,
        value=latest.version if latest is not None else "no release",
        default_color=BADGE_COLOR,
    )
    response = HttpResponse(badge.badge_svg_text, content_type="image/svg+xml")
    # Image proxies (GitHub's camo) may keep a public badge a few minutes; a private one is
    # nobody else's to keep.
    response["Cache-Control"] = "public, max-age=300" if found.public_badge else "private, no-cache"
    return response


@login_required
@require_POST
def project_badge_set(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    found = _project(request, org, repo, project, Action.READ)
    public = request.POST.get("public") == "on"
    # The service checks the role: a member's POST is refused there, not here.
    registry_services.project_badge_set(
        project=found, actor=request.user, public=public, source_ip=client_ip(request)
    )
    messages.success(
        request,
        f"The badge of {found.name} is now public: anyone with its URL sees its name and "
        "latest version."
        if public
        else f"The badge of {found.name} is now shown only to those who may read {repo}.",
    )
    return _to_project_page(found)


def _badge_context(project: Project) -> dict[str, Any]:
    """The badge's URL and the snippets that show it in a Markdown or reStructuredText README,
    linking to the project page."""
    repository = project.repository
    where = {
        "org": repository.organization.slug,
        "repo": repository.slug,
        "project": project.normalized_name,
    }
    base = settings.PUBLIC_URL.rstrip("/")
    badge = base + reverse("project-badge", kwargs=where)
    page = base + reverse("project-detail", kwargs=where)
    return {
        "badge_url": badge,
        "badge_markdown": f"[![{project.name}]({badge})]({page})",
        "badge_rst": f".. image:: {badge}\n   :alt: {project.name}\n   :target: {page}",
    }


@login_required
@require_POST
def project_status(
    request: AuthenticatedRequest, org: str, repo: str, project: str
) -> HttpResponse:
    found = _project(request, org, repo, project, Action.READ)
    form = ProjectStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _to_project_page(found)
    # The service checks the role: a reader's POST is refused there, not here.
    registry_services.project_status_set(
        project=found,
        actor=request.user,
        status=form.cleaned_data["status"],
        reason=form.cleaned_data["reason"],
        source_ip=client_ip(request),
    )
    messages.success(request, f"{found.name} is now {found.get_status_display().lower()}.")
    return _to_project_page(found)


def _to_project_page(project: Project) -> HttpResponse:
    repository = project.repository
    return redirect(
        "project-detail",
        org=repository.organization.slug,
        repo=repository.slug,
        project=project.normalized_name,
    )


def _to_project(release: Release) -> HttpResponse:
    return _to_project_page(release.project)


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
    what = f"release {release}"
    if request.method != "POST":
        return _confirm_page(request, release, what=what, form=ConfirmForm())
    # As for repositories and organizations: the version typed, so no stray click deletes.
    # (Where the policy forbids deletion the service says so, whatever was typed.)
    form = ConfirmForm(request.POST)
    typed = form.cleaned_data["confirm"].strip() if form.is_valid() else ""
    if release.project.repository.allow_file_deletion and typed != release.version:
        form.add_error("confirm", f"Type {release.version} to delete this release.")
        return _confirm_page(request, release, what=what, form=form)
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
