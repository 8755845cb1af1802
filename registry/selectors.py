"""Reads over registry data. Every function takes the repository it is scoped to."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db.models import QuerySet

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
