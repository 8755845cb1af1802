"""Writes for repositories."""

from __future__ import annotations

from django.db.models import F
from packaging.utils import canonicalize_name

from accounts.models import Organization
from registry.models import Project
from registry.models import ProjectStatus
from registry.models import Release
from registry.models import Repository

UPLOAD_REFUSING_STATUSES = frozenset({ProjectStatus.ARCHIVED, ProjectStatus.QUARANTINED})


def repository_get_or_create(
    *, organization: Organization, slug: str, description: str = ""
) -> Repository:
    repository = Repository.objects.filter(organization=organization, slug=slug).first()
    if repository is None:
        repository = Repository(organization=organization, slug=slug, description=description)
        repository.full_clean()
        repository.save()
    return repository


def repository_urls(repository: Repository, *, base_url: str) -> dict[str, str]:
    """The URLs a client configures for this repository."""
    root = f"{base_url.rstrip('/')}/{repository.organization.slug}/{repository.slug}"
    return {"index_url": f"{root}/simple/", "upload_url": f"{root}/legacy/"}


def project_touch(*, project_id: int) -> None:
    """Record that what the index shows for a project changed (a file became ready, a release
    was yanked, the status moved): its pages and the repository's root page are rendered anew."""
    project = Project.objects.filter(pk=project_id)
    project.update(serial=F("serial") + 1)
    Repository.objects.filter(projects__pk=project_id).update(serial=F("serial") + 1)


def release_yank(*, release: Release, yanked: bool = True, reason: str = "") -> Release:
    """PEP 592: installers skip a yanked release unless it is pinned. Reversible."""
    release.yanked = yanked
    release.yanked_reason = reason if yanked else ""
    release.save(update_fields=["yanked", "yanked_reason"])
    project_touch(project_id=release.project_id)
    return release


def project_status_set(*, project: Project, status: str, reason: str = "") -> Project:
    """PEP 792: archived projects take no uploads; quarantined ones offer no files."""
    project.status = ProjectStatus(status)
    project.status_reason = reason
    project.save(update_fields=["status", "status_reason"])
    project_touch(project_id=project.pk)
    return project


def project_upload_refusal(*, repository: Repository, name: str) -> str | None:
    """Why the project `name` takes no new files, or None when it does."""
    project = (
        Project.objects.filter(repository=repository, normalized_name=canonicalize_name(name))
        .only("name", "status", "status_reason")
        .first()
    )
    if project is None or project.status not in UPLOAD_REFUSING_STATUSES:
        return None
    reason = f": {project.status_reason}" if project.status_reason else "."
    return f"Project '{project.name}' is {project.status} and accepts no uploads{reason}"
