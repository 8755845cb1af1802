"""Writes for repositories, releases and files."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from packaging.utils import canonicalize_name

from accounts.models import Organization
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import can
from accounts.services import audit_record
from registry.models import DeletedFilename
from registry.models import File
from registry.models import Project
from registry.models import ProjectStatus
from registry.models import Release
from registry.models import Repository
from registry.storage import packages_storage

# Objects per deletion task: small enough for one message, large enough to be few messages.
DELETE_BATCH = 500

UPLOAD_REFUSING_STATUSES = frozenset({ProjectStatus.ARCHIVED, ProjectStatus.QUARANTINED})


def repository_get_or_create(
    *, organization: Organization, slug: str, description: str = ""
) -> Repository:
    repository = Repository.objects.filter(organization=organization, slug=slug).first()
    if repository is None:
        repository = Repository(organization=organization, slug=slug, description=description)
        repository.full_clean()
        repository.save()
        audit_record(
            organization=organization,
            action="repository.create",
            target=f"repository {organization.slug}/{slug}",
            details={"via": "provisioning"},
        )
    return repository


def repository_urls(repository: Repository, *, base_url: str) -> dict[str, str]:
    """The URLs a client configures for this repository."""
    root = f"{base_url.rstrip('/')}/{repository.organization.slug}/{repository.slug}"
    return {"index_url": f"{root}/simple/", "upload_url": f"{root}/legacy/"}


def _require_manage(actor: User, organization: Organization) -> None:
    if not can(actor, Action.MANAGE_REPOSITORIES, organization):
        raise PermissionDenied("Your role does not allow managing repositories.")


def _validate_unique_slug(repository: Repository) -> None:
    clash = Repository.objects.filter(organization=repository.organization, slug=repository.slug)
    if repository.pk:
        clash = clash.exclude(pk=repository.pk)
    if clash.exists():
        raise ValidationError({"slug": f"A repository named '{repository.slug}' already exists."})


@transaction.atomic
def repository_create(
    *,
    organization: Organization,
    actor: User,
    slug: str,
    description: str = "",
    source_ip: str | None = None,
) -> Repository:
    """A new, empty repository in the organization."""
    _require_manage(actor, organization)
    repository = Repository(organization=organization, slug=slug, description=description)
    repository.full_clean(validate_constraints=False)
    _validate_unique_slug(repository)
    repository.save()
    audit_record(
        organization=organization,
        action="repository.create",
        actor=actor,
        target=f"repository {organization.slug}/{slug}",
        source_ip=source_ip,
    )
    return repository


class _Keep:
    """Marks a policy argument the caller did not pass: the current value stays."""


KEEP = _Keep()


@transaction.atomic
def repository_update(
    *,
    repository: Repository,
    actor: User,
    slug: str,
    description: str,
    allow_file_deletion: bool | None = None,
    max_file_size: int | _Keep | None = KEEP,
    source_ip: str | None = None,
) -> Repository:
    """Rename, describe or change the policies of a repository. Renaming changes its index and
    upload URLs. Policies not passed stay as they are; a max_file_size of None means the
    server-wide limit."""
    organization = repository.organization
    _require_manage(actor, organization)
    if allow_file_deletion is None:
        allow_file_deletion = repository.allow_file_deletion
    if isinstance(max_file_size, _Keep):
        max_file_size = repository.max_file_size
    elif max_file_size is not None and not 0 < max_file_size <= settings.MAX_UPLOAD_SIZE:
        raise ValidationError(
            {"max_file_size": "The limit must be positive and at most the server's limit."}
        )
    fields = ("slug", "description", "allow_file_deletion", "max_file_size")
    before = {name: getattr(repository, name) for name in fields}
    repository.slug = slug
    repository.description = description
    repository.allow_file_deletion = allow_file_deletion
    repository.max_file_size = max_file_size
    repository.full_clean(validate_constraints=False)
    _validate_unique_slug(repository)
    repository.save(update_fields=list(fields))
    audit_record(
        organization=organization,
        action="repository.update",
        actor=actor,
        target=f"repository {organization.slug}/{slug}",
        source_ip=source_ip,
        details={"before": before, "after": {name: getattr(repository, name) for name in fields}},
    )
    return repository


@transaction.atomic
def repository_set_file_deletion(
    *, repository: Repository, actor: object, allow: bool, source_ip: str | None = None
) -> Repository:
    """Turn the repository's deletion policy on or off (off: files can only be yanked)."""
    organization = repository.organization
    _require_manage(actor, organization)
    if repository.allow_file_deletion == allow:
        return repository
    repository.allow_file_deletion = allow
    repository.save(update_fields=["allow_file_deletion"])
    audit_record(
        organization=organization,
        action="repository.policy",
        actor=actor,
        target=f"repository {organization.slug}/{repository.slug}",
        source_ip=source_ip,
        details={"allow_file_deletion": allow},
    )
    return repository


def repository_delete(
    *, repository: Repository, actor: User, confirm_slug: str, source_ip: str | None = None
) -> None:
    """Delete a repository with its projects and files; stored objects go after the commit."""
    organization = repository.organization
    _require_manage(actor, organization)
    if confirm_slug != repository.slug:
        raise ValidationError("Type the repository's name exactly to confirm deletion.")
    with transaction.atomic():
        keys = _stored_keys(File.objects.filter(repository=repository))
        audit_record(
            organization=organization,
            action="repository.delete",
            actor=actor,
            target=f"repository {organization.slug}/{repository.slug}",
            source_ip=source_ip,
            details={"stored_objects": len(keys)},
        )
        repository.delete()
        stored_files_delete_on_commit(keys)


def _stored_keys(files: Iterable[File]) -> list[str]:
    keys: list[str] = []
    for file in files:
        keys.append(file.storage_key)
        if file.metadata_sha256:
            keys.append(file.metadata_storage_key)
    return keys


def stored_keys_for(*, organization: Organization) -> list[str]:
    """Every storage key the organization's files occupy."""
    return _stored_keys(
        File.objects.filter(repository__organization=organization).only(
            "storage_key", "metadata_sha256"
        )
    )


def stored_files_delete_on_commit(keys: list[str]) -> None:
    """Delete stored objects once the rows pointing at them are gone for good."""
    from accounts.tasks import delete_stored_objects_task

    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        transaction.on_commit(lambda batch=batch: delete_stored_objects_task.delay(batch))


def stored_objects_delete(*, keys: Iterable[str]) -> int:
    """Delete objects from packages storage, unless a remaining file still uses the same
    content-addressed key. Returns how many were deleted."""
    keys = list(keys)
    still_used = set(
        File.objects.filter(storage_key__in=keys).values_list("storage_key", flat=True)
    )
    storage = packages_storage()
    deleted = 0
    for key in keys:
        if key.removesuffix(".metadata") in still_used:
            continue
        storage.delete(key)
        deleted += 1
    return deleted


class DeletionNotAllowed(Exception):
    """The repository's policy keeps its files: yank instead."""


def release_yank(
    *, release: Release, reason: str = "", actor: object = None, source_ip: str | None = None
) -> Release:
    """PEP 592: installers skip the release unless pinned to it exactly; reversible."""
    Release.objects.filter(pk=release.pk).update(yanked=True, yanked_reason=reason.strip())
    release.refresh_from_db(fields=["yanked", "yanked_reason"])
    project_touch(project_id=release.project_id)
    _audit_release(release, "release.yank", actor, source_ip, {"reason": release.yanked_reason})
    return release


def release_unyank(
    *, release: Release, actor: object = None, source_ip: str | None = None
) -> Release:
    Release.objects.filter(pk=release.pk).update(yanked=False, yanked_reason="")
    release.refresh_from_db(fields=["yanked", "yanked_reason"])
    project_touch(project_id=release.project_id)
    _audit_release(release, "release.unyank", actor, source_ip)
    return release


def file_delete(*, file: File, actor: object = None, source_ip: str | None = None) -> None:
    """Remove one file for good; its filename can never be uploaded to this repository again."""
    _check_deletion_allowed(file.repository)
    with transaction.atomic():
        _retire_files([file])
        File.objects.filter(pk=file.pk).delete()
        project_touch(project_id=file.release.project_id)
        audit_record(
            organization=file.repository.organization,
            action="file.delete",
            actor=actor,
            target=f"file {file.repository}/{file.filename}",
            source_ip=source_ip,
        )


def release_delete(*, release: Release, actor: object = None, source_ip: str | None = None) -> None:
    """Remove a release and all its files; none of their filenames can ever be reused."""
    _check_deletion_allowed(release.project.repository)
    with transaction.atomic():
        files = list(File.objects.select_for_update().filter(release=release))
        _retire_files(files)
        _audit_release(
            release, "release.delete", actor, source_ip, {"files": [f.filename for f in files]}
        )
        Release.objects.filter(pk=release.pk).delete()
        project_touch(project_id=release.project_id)


def _audit_release(
    release: Release,
    action: str,
    actor: object,
    source_ip: str | None,
    details: dict[str, object] | None = None,
) -> None:
    repository = release.project.repository
    audit_record(
        organization=repository.organization,
        action=action,
        actor=actor,
        target=f"release {repository}/{release.project.name} {release.version}",
        source_ip=source_ip,
        details=details,
    )


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
    stored_files_delete_on_commit(_stored_keys(files))


def project_touch(*, project_id: int) -> None:
    """Record that what the index shows for a project changed (a file became ready, a release
    was yanked, the status moved): its pages and the repository's root page are rendered anew."""
    project = Project.objects.filter(pk=project_id)
    project.update(serial=F("serial") + 1)
    Repository.objects.filter(projects__pk=project_id).update(serial=F("serial") + 1)


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
