"""Reads over registry data. Every function takes the repository it is scoped to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count
from django.db.models import Max
from django.db.models import Prefetch
from django.db.models import Q
from django.db.models import QuerySet
from django.db.models import Sum
from django.http import Http404
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion
from packaging.version import Version

from accounts.models import ApiKey
from accounts.models import Organization
from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.models import Release
from registry.models import Repository


class IndexFile(NamedTuple):
    """What an index page says about one file: all of it from the database, none from storage."""

    filename: str
    sha256: str
    size: int
    requires_python: str
    uploaded_at: datetime
    metadata_sha256: str
    version: str
    yanked: bool
    yanked_reason: str


def index_project_list(*, repository: Repository) -> list[tuple[str, str]]:
    """(name, normalized name) of the projects that have something to install."""
    return list(
        Project.objects.filter(repository=repository, releases__files__status=FileStatus.READY)
        .distinct()
        .order_by("normalized_name")
        .values_list("name", "normalized_name")
    )


def project_get(*, repository: Repository, normalized_name: str) -> Project | None:
    return Project.objects.filter(repository=repository, normalized_name=normalized_name).first()


def index_project_files(*, project: Project) -> list[IndexFile]:
    """The files an installer may see, in one query."""
    rows = (
        File.objects.filter(release__project=project, status=FileStatus.READY)
        .order_by("release__created_at", "filename")
        .values_list(
            "filename",
            "sha256",
            "size",
            "requires_python",
            "uploaded_at",
            "metadata_sha256",
            "release__version",
            "release__yanked",
            "release__yanked_reason",
        )
    )
    return [IndexFile(*row) for row in rows]


def ready_file_get(*, repository: Repository, sha256: str, filename: str) -> File | None:
    return File.objects.filter(
        repository=repository, sha256=sha256, filename=filename, status=FileStatus.READY
    ).first()


# Dashboard reads -------------------------------------------------------------------------------


def repository_for_organization(*, organization: object, slug: str) -> Repository:
    """The organization's repository, or 404 (another organization's looks missing)."""
    found = Repository.objects.select_related("organization").filter(
        organization=organization, slug=slug
    )
    repository = found.first()
    if repository is None:
        raise Http404("Repository not found.")
    return repository


def repository_overviews(*, organization: object) -> QuerySet[Repository]:
    """The organization's repositories with how many projects and ready bytes each holds."""
    ready = Q(files__status=FileStatus.READY)
    return (
        Repository.objects.filter(organization=organization)
        .annotate(
            project_count=Count("projects", distinct=True),
            file_count=Count("files", filter=ready, distinct=True),
        )
        .order_by("slug")
    )


def repository_projects(*, repository: Repository, query: str = "") -> QuerySet[Project]:
    """Every project of the repository (pending ones too), newest release first, searchable
    by name or summary."""
    projects = Project.objects.filter(repository=repository)
    if query:
        normalized = re.sub(r"[-_.]+", "-", query).lower()
        projects = projects.filter(
            Q(normalized_name__icontains=normalized) | Q(releases__summary__icontains=query)
        ).distinct()
    return projects.annotate(
        release_count=Count("releases", distinct=True), updated_at=Max("releases__created_at")
    ).order_by("normalized_name")


def project_for_repository(*, repository: Repository, name: str) -> Project:
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    project = project_get(repository=repository, normalized_name=normalized)
    if project is None:
        raise Http404("Project not found.")
    return project


def project_releases_for_dashboard(*, project: Project) -> list[Release]:
    """Releases newest version first, each with its files (all statuses) and uploaders."""
    files = File.objects.select_related("uploaded_by", "uploaded_by__user").order_by("filename")
    releases = list(project.releases.prefetch_related(Prefetch("files", queryset=files)))
    releases.sort(key=_version_key, reverse=True)
    return releases


def _version_key(release: Release) -> tuple[int, object]:
    try:
        return (1, Version(release.version))
    except InvalidVersion:
        return (0, release.created_at)


def release_for_project(*, project: Project, version: str) -> Release:
    release = project.releases.filter(version=version).first()
    if release is None:
        raise Http404("Release not found.")
    return release


def file_for_release(*, release: Release, file_id: int) -> File:
    file = release.files.select_related("repository__organization").filter(pk=file_id).first()
    if file is None:
        raise Http404("File not found.")
    return file


def repositories_visible(*, actor: object, organization: Organization) -> QuerySet[Repository]:
    """The organization's repositories the actor may read; a key sees only those it covers."""
    repositories = Repository.objects.filter(organization=organization).select_related(
        "organization"
    )
    if isinstance(actor, ApiKey):
        limited = list(actor.repositories.values_list("pk", flat=True))
        if limited:
            repositories = repositories.filter(pk__in=limited)
    return repositories.order_by("slug")


def repository_visible(*, actor: object, organization: Organization, slug: str) -> Repository:
    """One repository the actor may read, else 404 (outside a key's limits looks missing)."""
    repository = repositories_visible(actor=actor, organization=organization).filter(slug=slug)
    found = repository.first()
    if found is None:
        raise Http404(f"Repository '{organization.slug}/{slug}' not found.")
    return found


def projects_of(*, repository: Repository, name: str = "") -> QuerySet[Project]:
    projects = Project.objects.filter(repository=repository)
    if name:
        projects = projects.filter(normalized_name__contains=canonicalize_name(name))
    return projects.order_by("normalized_name")


def project_visible(*, repository: Repository, name: str) -> Project:
    project = project_get(repository=repository, normalized_name=canonicalize_name(name))
    if project is None:
        raise Http404(f"Project '{name}' not found in '{repository}'.")
    return project


def releases_of(*, project: Project) -> QuerySet[Release]:
    return (
        Release.objects.filter(project=project)
        .select_related("project")
        .order_by("-created_at", "-pk")
    )


def release_visible(*, project: Project, version: str) -> Release:
    release = (
        releases_of(project=project).filter(canonical_version=canonicalize_version(version)).first()
    )
    if release is None:
        raise Http404(f"Release '{project.name} {version}' not found.")
    return release


def files_of(
    *, repository: Repository, status: str = "", project: str = "", version: str = ""
) -> QuerySet[File]:
    """Every file of the repository, pending and rejected too, newest first."""
    files = File.objects.filter(repository=repository).select_related("release__project")
    if status:
        files = files.filter(status=status)
    if project:
        files = files.filter(release__project__normalized_name=canonicalize_name(project))
    if version:
        files = files.filter(release__canonical_version=canonicalize_version(version))
    return files.order_by("-uploaded_at", "-pk")


def file_visible(*, repository: Repository, filename: str) -> File:
    file = files_of(repository=repository).filter(filename=filename).first()
    if file is None:
        raise Http404(f"File '{filename}' not found in '{repository}'.")
    return file


@dataclass(frozen=True)
class Usage:
    storage_bytes: int
    file_count: int
    project_count: int
    release_count: int
    repository_count: int


def organization_usage(*, organization: Organization) -> Usage:
    """What an organization occupies: stored bytes and counts of files, projects and releases.

    Pending and rejected files count too: their bytes are stored until processed or deleted."""
    files = File.objects.filter(repository__organization=organization).aggregate(
        size=Sum("size"), count=Count("pk")
    )
    return Usage(
        storage_bytes=files["size"] or 0,
        file_count=files["count"],
        project_count=Project.objects.filter(repository__organization=organization).count(),
        release_count=Release.objects.filter(
            project__repository__organization=organization
        ).count(),
        repository_count=Repository.objects.filter(organization=organization).count(),
    )
