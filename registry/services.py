"""Writes for repositories, releases and files."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import Organization
from registry.models import DeletedFilename
from registry.models import File
from registry.models import Release
from registry.models import Repository
from registry.storage import packages_storage

logger = logging.getLogger(__name__)


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


class DeletionNotAllowed(Exception):
    """The repository's policy keeps its files: yank instead."""


def release_yank(*, release: Release, reason: str = "") -> Release:
    """PEP 592: installers skip the release unless pinned to it exactly; reversible."""
    Release.objects.filter(pk=release.pk).update(yanked=True, yanked_reason=reason.strip())
    release.refresh_from_db(fields=["yanked", "yanked_reason"])
    return release


def release_unyank(*, release: Release) -> Release:
    Release.objects.filter(pk=release.pk).update(yanked=False, yanked_reason="")
    release.refresh_from_db(fields=["yanked", "yanked_reason"])
    return release


def file_delete(*, file: File) -> None:
    """Remove one file for good; its filename can never be uploaded to this repository again."""
    _check_deletion_allowed(file.repository)
    with transaction.atomic():
        _retire_files([file])
        File.objects.filter(pk=file.pk).delete()


def release_delete(*, release: Release) -> None:
    """Remove a release and all its files; none of their filenames can ever be reused."""
    _check_deletion_allowed(release.project.repository)
    with transaction.atomic():
        files = list(File.objects.select_for_update().filter(release=release))
        _retire_files(files)
        Release.objects.filter(pk=release.pk).delete()


def _check_deletion_allowed(repository: Repository) -> None:
    if not repository.allow_file_deletion:
        raise DeletionNotAllowed(
            f"Repository '{repository}' does not allow deleting files; yank the release instead."
        )


def _retire_files(files: list[File]) -> None:
    """Tombstone the filenames now; remove the stored objects only once that has committed, so
    a rollback never leaves a row whose bytes are gone."""
    for file in files:
        DeletedFilename.objects.get_or_create(
            repository_id=file.repository_id,
            filename=file.filename,
            defaults={"sha256": file.sha256},
        )
    keys = [key for file in files for key in (file.storage_key, file.metadata_storage_key)]
    transaction.on_commit(lambda: _delete_stored(keys))


def _delete_stored(keys: list[str]) -> None:
    storage = packages_storage()
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            # The rows are gone and the names retired; an orphaned object is only wasted space.
            logger.exception("Could not delete stored object %s", key)
