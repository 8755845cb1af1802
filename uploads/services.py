"""The upload pipeline: receive (validate, store, commit, enqueue) and process (metadata)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files import File as DjangoFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError
from django.db import transaction
from django.utils import timezone
from packaging.utils import canonicalize_name
from packaging.utils import canonicalize_version

from accounts.models import ApiKey
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
from uploads.metadata import read_core_metadata
from uploads.validation import UploadError
from uploads.validation import UploadForm
from uploads.validation import check_digests
from uploads.validation import check_filename

logger = logging.getLogger(__name__)


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
) -> UploadResult:
    """Validate an upload, store its bytes, commit it as pending and enqueue its processing.

    Only once the bytes are durable is the row committed, so an acknowledged upload always
    has its file; a re-upload of identical bytes is answered as a success without change.
    """
    filename = content.name or ""
    check_filename(filename, form)
    check_digests(form.digests, digests)
    if refusal := project_upload_refusal(repository=repository, name=form.name):
        raise UploadError(400, refusal)
    existing = File.objects.filter(repository=repository, filename=filename).first()
    if existing is not None:
        return _duplicate_or_conflict(existing, digests)

    key = distribution_storage_key(
        repository_id=repository.pk, blake2_256=digests["blake2_256"], filename=filename
    )
    storage = packages_storage()
    if not storage.exists(key):
        content.seek(0)
        storage.save(key, DjangoFile(content))

    try:
        file = _commit_pending_file(repository, api_key, form, filename, digests, key, content.size)
    except IntegrityError:
        # A concurrent upload of the same filename committed first.
        existing = File.objects.get(repository=repository, filename=filename)
        return _duplicate_or_conflict(existing, digests)
    return UploadResult(file=file, duplicate=False)


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
    project, _ = Project.objects.get_or_create(
        repository=repository,
        normalized_name=canonicalize_name(form.name),
        defaults={"name": form.name},
    )
    release, _ = Release.objects.get_or_create(
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


def file_enqueue_processing(*, file_id: int) -> None:
    """Send the file to a worker. A broker outage loses nothing: the sweep sends it later."""
    from uploads.tasks import process_file_task

    try:
        process_file_task.delay(file_id)
    except Exception:
        logger.exception("Could not enqueue file %s; the pending sweep will retry it", file_id)


def file_process(*, file_id: int) -> None:
    """Read the stored file back, extract its metadata and make it ready, or reject it.

    Idempotent: a file no longer pending is left alone, so a redelivered task is harmless.
    Storage faults propagate for the task to retry; a bad distribution is rejected for good.
    """
    file = File.objects.select_related("release__project").filter(pk=file_id).first()
    if file is None or file.status != FileStatus.PENDING:
        return
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
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            sha256.update(chunk)
        if sha256.hexdigest() != file.sha256:
            raise InvalidDistribution("The stored file does not match its recorded sha256.")
        fh.seek(0)
        return read_core_metadata(fh, file.filename, file.packagetype)


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
        locked.status = status
        locked.rejection_reason = rejection_reason
        locked.metadata_sha256 = metadata_sha256
        locked.processed_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "rejection_reason",
                "metadata_sha256",
                "requires_python",
                "processed_at",
            ]
        )


def _fill_release(release: Release, core: CoreMetadata) -> None:
    """The release takes its metadata from the first file processed, as PyPI does."""
    if release.metadata:
        return
    release.metadata = core.fields
    release.summary = (core.metadata.summary or "")[:512]
    release.requires_python = str(core.metadata.requires_python or "")
    release.save(update_fields=["metadata", "summary", "requires_python"])


def pending_files_requeue(*, older_than: timedelta | None = None) -> int:
    """Send again every file still pending after `older_than`: a lost message, a killed
    worker or a broker restart never leaves an acknowledged upload behind."""
    if older_than is None:
        older_than = timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS)
    stale = File.objects.filter(
        status=FileStatus.PENDING, uploaded_at__lte=timezone.now() - older_than
    ).values_list("pk", flat=True)
    count = 0
    for file_id in stale.iterator():
        file_enqueue_processing(file_id=file_id)
        count += 1
    return count
