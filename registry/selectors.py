"""Reads over registry data. Every function takes the repository it is scoped to."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count
from django.db.models import Max
from django.db.models import Prefetch
from django.db.models import Q
from django.db.models import QuerySet
from django.db.models import Sum
from django.http import Http404
from packaging.version import InvalidVersion
from packaging.version import Version

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


def project_releases(*, project: Project) -> QuerySet[Release]:
    """Releases with at least one ready file, oldest first."""
    return (
        Release.objects.filter(project=project, files__status=FileStatus.READY)
        .distinct()
        .order_by("created_at")
    )


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


def organization_usage(*, organization: object) -> dict[str, int]:
    """What the organization stores: bytes and files that installers can get, and projects."""
    ready = File.objects.filter(repository__organization=organization, status=FileStatus.READY)
    totals = ready.aggregate(bytes=Sum("size"), files=Count("pk"))
    return {
        "bytes": totals["bytes"] or 0,
        "files": totals["files"],
        "projects": Project.objects.filter(repository__organization=organization).count(),
        "repositories": Repository.objects.filter(organization=organization).count(),
    }
