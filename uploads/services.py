"""The upload pipeline: receive (validate, store, commit, enqueue) and process (metadata)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from typing import TypeVar

from django.conf import settings
from django.core.files import File as DjangoFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version

from accounts.models import ApiKey
from accounts.services import audit_record
from registry.models import DeletedFilename
from registry.models import File
from registry.models import FileStatus
from registry.models import Project
from registry.models import Release
from registry.models import Repository
from registry.services import project_touch
from registry.services import project_upload_refusal
from registry.storage import distribution_storage_key
from registry.storage import packages_storage
from uploads.metadata import CoreMetadata
from uploads.metadata import InvalidDistribution
from uploads.metadata import check_core_metadata_matches_form
from uploads.metadata import read_core_metadata
from uploads.readme import readme_render
from uploads.validation import SDIST
from uploads.validation import UploadError
from uploads.validation import UploadForm
from uploads.validation import check_digests
from uploads.validation import check_filename

logger = logging.getLogger(__name__)
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
    check_filename(filename, form)
    check_digests(form.digests, digests)
    if refusal := project_upload_refusal(repository=repository, name=form.name):
        raise UploadError(400, refusal)
    existing = File.objects.filter(repository=repository, filename=filename).first()
    if existing is not None:
        return _duplicate_or_conflict(existing, digests)
    if DeletedFilename.objects.filter(repository=repository, filename=filename).exists():
        raise UploadError(400, FILENAME_REUSED)
    _inspect_distribution(content, filename, form)
    _check_one_sdist_per_release(repository, form, filename)

    key = distribution_storage_key(
        repository_id=repository.pk, blake2_256=digests["blake2_256"], filename=filename
    )
    storage = packages_storage()
    if not storage.exists(key):
        content.seek(0)
        storage.save(key, DjangoFile(content))

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
    return UploadResult(file=file, duplicate=False)


FILENAME_REUSED = (
    "This filename was previously used by a file that has since been deleted. "
    "Use a different version."
)
ONE_SDIST = "Only one sdist may be uploaded per release."


def _inspect_distribution(content: UploadedFile, filename: str, form: UploadForm) -> None:
    """Archive sanity and the file's own metadata, which must agree with filename and form."""
    content.seek(0)
    try:
        core = read_core_metadata(content, filename, form.filetype, size=content.size)
        check_core_metadata_matches_form(core, name=form.name, version=form.version)
    except InvalidDistribution as exc:
        raise UploadError(400, str(exc)) from None


def _check_one_sdist_per_release(repository: Repository, form: UploadForm, filename: str) -> None:
    if form.filetype != SDIST:
        return
    other = File.objects.filter(
        repository=repository,
        release__project__normalized_name=canonicalize_name(form.name),
        release__canonical_version=canonicalize_version(form.version),
        packagetype=SDIST,
    ).exclude(filename=filename)
    if other.exists():
        raise UploadError(400, ONE_SDIST)


def _resolve_lost_race(
    repository: Repository, form: UploadForm, filename: str, digests: dict[str, str], key: str
) -> UploadResult:
    existing = File.objects.filter(repository=repository, filename=filename).first()
    if existing is not None and existing.storage_key == key:
        return _duplicate_or_conflict(existing, digests)
    # Our bytes are under a key no committed row names: remove them, or they leak.
    packages_storage().delete(key)
    if existing is not None:
        return _duplicate_or_conflict(existing, digests)
    raise UploadError(400, ONE_SDIST)


def _duplicate_or_conflict(existing: File, digests: dict[str, str]) -> UploadResult:
    if existing.sha256 == digests["sha256"] and existing.blake2_256 == digests["blake2_256"]:
        return UploadResult(file=existing, duplicate=True)
    # Clients match this prefix to recognise an existing file; keep it.
    raise UploadError(
        409,
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
    project = _get_or_create_race_safe(
        Project,
        repository=repository,
        normalized_name=canonicalize_name(form.name),
        defaults={"name": form.name},
    )
    release = _get_or_create_race_safe(
        Release,
        project=project,
        canonical_version=canonicalize_version(form.version),
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


def file_enqueue_processing(*, file_id: int) -> None:
    """Send the file to a worker. A broker outage loses nothing: the sweep sends it later."""
    from uploads.tasks import process_file_task

    try:
        process_file_task.delay(file_id)
    except Exception:
        logger.exception("Could not enqueue file %s; the pending sweep will retry it", file_id)


def file_process(*, file_id: int) -> None:
    """Read the stored file back, extract its metadata and make it ready, or reject it.

    Idempotent and exclusive: the file is claimed with one conditional UPDATE, so a redelivered
    or duplicated task finds it claimed or no longer pending and leaves it alone. Storage faults
    release the claim and propagate for the task to retry; a bad distribution is rejected for
    good. A worker killed mid-task leaves a claim that expires, and the sweep sends it again.
    """
    if not _claim(file_id):
        return
    file = File.objects.select_related("release__project", "repository__organization").get(
        pk=file_id
    )
    try:
        _process_claimed(file)
    except BaseException:
        File.objects.filter(pk=file_id, status=FileStatus.PENDING).update(claimed_until=None)
        raise


def _claim(file_id: int) -> bool:
    now = timezone.now()
    lease = timedelta(seconds=settings.FILE_CLAIM_SECONDS)
    claimable = File.objects.filter(pk=file_id, status=FileStatus.PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    return claimable.update(claimed_until=now + lease) == 1


def _process_claimed(file: File) -> None:
    try:
        core = _read_verified_metadata(file)
    except InvalidDistribution as exc:
        _finish(file, status=FileStatus.REJECTED, rejection_reason=str(exc))
        return
    metadata_sha256 = ""
    if file.packagetype == "bdist_wheel":
        metadata_sha256 = _store_metadata_file(file, core.raw)
    _finish(file, status=FileStatus.READY, core=core, metadata_sha256=metadata_sha256)
    project_touch(project_id=file.release.project_id)


def _read_verified_metadata(file: File) -> CoreMetadata:
    with packages_storage().open(file.storage_key, "rb") as fh:
        sha256 = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            sha256.update(chunk)
            size += len(chunk)
        if sha256.hexdigest() != file.sha256:
            raise InvalidDistribution("The stored file does not match its recorded sha256.")
        fh.seek(0)
        return read_core_metadata(fh, file.filename, file.packagetype, size=size)


def _store_metadata_file(file: File, raw: bytes) -> str:
    from django.core.files.base import ContentFile

    storage = packages_storage()
    storage.save(file.metadata_storage_key, ContentFile(raw))
    return hashlib.sha256(raw).hexdigest()


def _finish(
    file: File,
    *,
    status: str,
    core: CoreMetadata | None = None,
    metadata_sha256: str = "",
    rejection_reason: str = "",
) -> None:
    with transaction.atomic():
        locked = File.objects.select_for_update().filter(pk=file.pk).first()
        if locked is None or locked.status != FileStatus.PENDING:
            return
        if core is not None:
            _fill_release(file.release, core)
            locked.requires_python = str(core.metadata.requires_python or "")
        if status == FileStatus.REJECTED:
            audit_record(
                organization=file.repository.organization,
                action="file.reject",
                target=f"file {file.repository}/{file.filename}",
                details={"reason": rejection_reason},
            )
        locked.status = status
        locked.rejection_reason = rejection_reason
        locked.metadata_sha256 = metadata_sha256
        locked.processed_at = timezone.now()
        locked.claimed_until = None
        locked.save(
            update_fields=[
                "status",
                "rejection_reason",
                "metadata_sha256",
                "requires_python",
                "processed_at",
                "claimed_until",
            ]
        )


def _fill_release(release: Release, core: CoreMetadata) -> None:
    """The release takes its metadata from the first file processed, as PyPI does."""
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.metadata:
        return
    release.metadata = core.fields
    release.summary = (core.metadata.summary or "")[:512]
    release.requires_python = str(core.metadata.requires_python or "")
    release.description_html = readme_render(
        core.metadata.description, core.metadata.description_content_type
    )
    release.save(update_fields=["metadata", "summary", "requires_python", "description_html"])


def pending_files_requeue(*, older_than: timedelta | None = None) -> int:
    """Send again every file still pending after `older_than`: a lost message, a killed
    worker or a broker restart never leaves an acknowledged upload behind."""
    if older_than is None:
        older_than = timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS)
    now = timezone.now()
    stale = (
        File.objects.filter(status=FileStatus.PENDING, uploaded_at__lte=now - older_than)
        # A live claim means a worker is on it; an expired one, that the worker died.
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)
    )
    count = 0
    for file_id in stale.iterator():
        file_enqueue_processing(file_id=file_id)
        count += 1
    return count
