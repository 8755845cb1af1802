"""The request side of the upload pipeline: validate, store, commit as pending, enqueue.

The worker side (reading the file back, filling the release, ready or rejected) is in
uploads.processing; uploads.tasks is the thin adapter between the two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from django.core.files import File as DjangoFile
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError
from django.db import transaction

from accounts.models import ApiKey
from accounts.services import audit_record
from registry.models import DeletedFilename
from registry.models import File
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.names import normalize_name
from registry.names import normalize_version
from registry.quotas import storage_refusal
from registry.services import project_upload_refusal
from registry.storage import distribution_storage_key
from registry.storage import packages_storage
from uploads.errors import FileExists
from uploads.errors import ProjectNotAllowed
from uploads.errors import QuotaExceeded
from uploads.errors import UploadError
from uploads.metadata import CoreMetadata
from uploads.metadata import InvalidDistribution
from uploads.metadata import check_core_metadata_matches_form
from uploads.metadata import read_core_metadata
from uploads.tasks import file_enqueue_processing
from uploads.validation import SDIST
from uploads.validation import UploadForm
from uploads.validation import check_digests
from uploads.validation import check_filename

_M = TypeVar("_M", Project, Release)


@dataclass(frozen=True)
class UploadResult:
    file: File
    # True when the same bytes were already there under this name: nothing changed.
    duplicate: bool


def upload_receive(
    *,
    repository: Repository,
    api_key: ApiKey,
    form: UploadForm,
    content: UploadedFile,
    digests: dict[str, str],
    filename: str | None = None,
    source_ip: str | None = None,
) -> UploadResult:
    """Validate an upload, store its bytes, commit it as pending and enqueue its processing.

    Every check that can refuse the file runs before its bytes are stored, so a refused
    upload leaves nothing behind. Only once the bytes are durable is the row committed, so an
    acknowledged upload always has its file; identical bytes again are a success, no change.
    `filename` is the name exactly as the client sent it (default: the content's name).
    """
    filename = (content.name or "") if filename is None else filename
    _check_key_project(api_key, form.name)
    check_filename(filename, form)
    check_digests(form.digests, digests)
    if refusal := project_upload_refusal(repository=repository, name=form.name):
        raise UploadError(refusal)
    existing = File.objects.filter(repository=repository, filename=filename).first()
    if existing is not None:
        return _duplicate_or_conflict(existing, digests)
    if DeletedFilename.objects.filter(repository=repository, filename=filename).exists():
        raise UploadError(FILENAME_REUSED)
    core = _inspect_distribution(content, filename, form)
    _check_one_sdist_per_release(repository, form, filename)
    if refusal := storage_refusal(organization=repository.organization, size=content.size or 0):
        raise QuotaExceeded(refusal)

    key = distribution_storage_key(
        repository_id=repository.pk, blake2_256=digests["blake2_256"], filename=filename
    )
    _store(content, key, core)

    try:
        file = _commit_pending_file(repository, api_key, form, filename, digests, key, content.size)
        audit_record(
            organization=repository.organization,
            action="file.upload",
            actor=api_key,
            target=f"file {repository}/{filename}",
            source_ip=source_ip,
            details={"sha256": digests["sha256"], "size": content.size},
        )
    except IntegrityError:
        # A concurrent upload committed first: the same file, or a conflicting one.
        return _resolve_lost_race(repository, form, filename, digests, key)
    except QuotaExceeded:
        # Concurrent uploads filled the quota since the check above. The same file may be
        # among them (its row names these bytes: a success, as any duplicate); else the
        # bytes just stored belong to no row.
        existing = File.objects.filter(repository=repository, filename=filename).first()
        if existing is not None and existing.storage_key == key:
            return _duplicate_or_conflict(existing, digests)
        _delete_stored(key)
        raise
    return UploadResult(file=file, duplicate=False)


FILENAME_REUSED = (
    "This filename was previously used by a file that has since been deleted. "
    "Use a different version."
)
ONE_SDIST = "Only one sdist may be uploaded per release."


def _check_key_project(api_key: ApiKey, name: str) -> None:
    # Before anything else about the file: a key minted for one project learns nothing more.
    if api_key.upload_project and normalize_name(name) != api_key.upload_project:
        raise ProjectNotAllowed(
            f"This token may only upload to project '{api_key.upload_project}', "
            f"not '{name}' (its trusted publisher is limited to that project)."
        )


def _inspect_distribution(content: UploadedFile, filename: str, form: UploadForm) -> CoreMetadata:
    """Archive sanity and the file's own metadata, which must agree with filename and form."""
    content.seek(0)
    try:
        core = read_core_metadata(content, filename, form.filetype, size=content.size)
        check_core_metadata_matches_form(core, name=form.name, version=form.version)
    except InvalidDistribution as exc:
        raise UploadError(str(exc)) from None
    return core


def _store(content: UploadedFile, key: str, core: CoreMetadata) -> None:
    """The distribution, and its core metadata beside it, so the worker never opens the
    archive again.

    Written even when a key exists: keys are content-addressed, so an existing object holds
    the same bytes, but one no row names yet (an earlier attempt failed before its commit)
    is deleted once old (registry.reconcile). A write makes it young again, so it is safe
    until this upload's row commits."""
    storage = packages_storage()
    content.seek(0)
    storage.save(key, DjangoFile(content))
    storage.save(f"{key}.metadata", ContentFile(core.raw))


def _check_one_sdist_per_release(repository: Repository, form: UploadForm, filename: str) -> None:
    if form.filetype != SDIST:
        return
    other = File.objects.filter(
        repository=repository,
        release__project__normalized_name=normalize_name(form.name),
        release__canonical_version=normalize_version(form.version),
        packagetype=SDIST,
    ).exclude(filename=filename)
    if other.exists():
        raise UploadError(ONE_SDIST)


def _resolve_lost_race(
    repository: Repository, form: UploadForm, filename: str, digests: dict[str, str], key: str
) -> UploadResult:
    existing = File.objects.filter(repository=repository, filename=filename).first()
    if existing is not None and existing.storage_key == key:
        return _duplicate_or_conflict(existing, digests)
    # Our bytes are under a key no committed row names: remove them, or they leak.
    _delete_stored(key)
    if existing is not None:
        return _duplicate_or_conflict(existing, digests)
    raise UploadError(ONE_SDIST)


def _delete_stored(key: str) -> None:
    storage = packages_storage()
    storage.delete(key)
    storage.delete(f"{key}.metadata")


def _duplicate_or_conflict(existing: File, digests: dict[str, str]) -> UploadResult:
    if existing.sha256 == digests["sha256"] and existing.blake2_256 == digests["blake2_256"]:
        return UploadResult(file=existing, duplicate=True)
    # Clients match this prefix to recognise an existing file; keep it.
    raise FileExists(
        f"File already exists ({existing.filename!r}, with blake2_256 hash "
        f"{existing.blake2_256!r}). A filename can only be used once.",
    )


@transaction.atomic
def _commit_pending_file(
    repository: Repository,
    api_key: ApiKey,
    form: UploadForm,
    filename: str,
    digests: dict[str, str],
    key: str,
    size: int | None,
) -> File:
    # Checked again under the organization's lock: the check before storing saw only files
    # committed by then, and concurrent uploads may have added theirs since.
    if repository.organization.storage_quota is not None and (
        refusal := storage_refusal(organization=repository.organization, size=size or 0, lock=True)
    ):
        raise QuotaExceeded(refusal)
    project = _get_or_create_race_safe(
        Project,
        repository=repository,
        normalized_name=normalize_name(form.name),
        defaults={"name": form.name},
    )
    release = _get_or_create_race_safe(
        Release,
        project=project,
        canonical_version=normalize_version(form.version),
        defaults={"version": form.version},
    )
    with transaction.atomic():
        file = File.objects.create(
            release=release,
            repository=repository,
            filename=filename,
            packagetype=form.filetype,
            python_version=form.pyversion,
            size=size or 0,
            sha256=digests["sha256"],
            blake2_256=digests["blake2_256"],
            md5=digests["md5"],
            storage_key=key,
            uploaded_by=api_key,
        )
    transaction.on_commit(lambda: file_enqueue_processing(file_id=file.pk))
    return file


def _get_or_create_race_safe(model: type[_M], *, defaults: dict[str, Any], **lookup: Any) -> _M:
    """get_or_create in a savepoint: a concurrent creator's row is fetched, not an error.
    (Django's own retry only works outside a transaction.)"""
    found = model.objects.filter(**lookup).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **defaults)
    except IntegrityError:
        return model.objects.get(**lookup)
