"""Reads over registry data. Every function takes the repository it is scoped to."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.models import Repository


def index_project_list(*, repository: Repository) -> QuerySet[Project]:
    """Projects of the repository that have something to install."""
    return (
        Project.objects.filter(repository=repository, releases__files__status=FileStatus.READY)
        .distinct()
        .order_by("normalized_name")
    )


def project_get(*, repository: Repository, normalized_name: str) -> Project | None:
    return Project.objects.filter(repository=repository, normalized_name=normalized_name).first()


def index_project_files(*, project: Project) -> QuerySet[File]:
    """The files an installer may see, with their releases, in one query."""
    return (
        File.objects.filter(release__project=project, status=FileStatus.READY)
        .select_related("release")
        .order_by("release__created_at", "filename")
    )


def ready_file_get(*, repository: Repository, sha256: str, filename: str) -> File | None:
    return File.objects.filter(
        repository=repository, sha256=sha256, filename=filename, status=FileStatus.READY
    ).first()
