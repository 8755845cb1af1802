"""The worker side of the upload pipeline: verify the stored file, fill its release, and make
it ready (or rejected, with the reason). Called by uploads.tasks; never enqueues anything."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import actor_label
from accounts.services import audit_record
from core.events import Event
from core.events import EventType
from core.events import emit
from registry.models import File
from registry.models import FileStatus
from registry.models import PackageType
from registry.models import Release
from registry.services import project_touch
from registry.services import release_subject
from registry.storage import packages_storage
from uploads.metadata import CoreMetadata
from uploads.metadata import InvalidDistribution
from uploads.metadata import parse_core_metadata
from uploads.metadata import read_core_metadata
from uploads.readme import readme_render

CHUNK = 1024 * 1024


def file_process(*, file_id: int) -> None:
    """Read the stored file back, check it, fill its release and make it ready, or reject it.

    Idempotent and exclusive: the file is claimed with one conditional UPDATE, so a redelivered
    or duplicated task finds it claimed or no longer pending and leaves it alone. Storage and
    database faults release the claim and propagate for the task to retry; a bad distribution
    is rejected for good. A worker killed mid-task leaves a short claim, renewed while it
    lived, that soon expires, and the sweep sends the file again.
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


def lost_pending_file_ids(
    *, queued: Callable[[], int | None], older_than: timedelta | None = None
) -> list[int]:
    """Pending files whose message is lost, to be sent again; a file whose message is still
    queued is left to it, so a backlog never fills the queue with copies.

    Lost for sure: a claim that expired (its worker died mid-task). Lost by count: files
    waiting unclaimed beyond what the queue holds. `queued()` is how many messages the
    queue holds (None: the broker cannot say, so only expired claims are sent). The queue
    is served in order, so when more files wait than messages, the missing messages are
    those of the oldest files (older than `older_than`, so a message on its way is not
    mistaken for a lost one): a broker restarted empty, or a send that failed.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS)
    now = timezone.now()
    pending = File.objects.filter(status=FileStatus.PENDING)
    expired = list(pending.filter(claimed_until__lt=now).values_list("pk", flat=True))
    unclaimed = pending.filter(claimed_until__isnull=True)
    # Counted before the queue: a file uploaded in between adds its message to the count
    # but not its row, so the sweep sends too little (the next sweep sees it), never a
    # copy of a file whose message is queued.
    waiting = unclaimed.count()
    messages = queued() if waiting else 0
    lost: list[int] = []
    if messages is not None and waiting > messages:
        lost = list(
            unclaimed.filter(uploaded_at__lte=now - older_than)
            .order_by("uploaded_at", "pk")
            .values_list("pk", flat=True)[: waiting - messages]
        )
    if expired:
        # About to be sent: from now on unclaimed, with its message queued and counted like
        # any other, instead of sent again at every sweep while a backlog drains.
        File.objects.filter(pk__in=expired, claimed_until__lt=now).update(claimed_until=None)
    return expired + lost


def _claim(file_id: int) -> bool:
    now = timezone.now()
    lease = timedelta(seconds=settings.FILE_CLAIM_SECONDS)
    claimable = File.objects.filter(pk=file_id, status=FileStatus.PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    return claimable.update(claimed_until=now + lease) == 1


class _Lease:
    """Keeps a claim alive while its worker works: renewed once a third of it has passed,
    so a short lease (quick recovery when the worker dies) outlasts a long read."""

    def __init__(self, file_id: int) -> None:
        self.file_id = file_id
        self.renewed = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self.renewed < settings.FILE_CLAIM_SECONDS / 3:
            return
        until = timezone.now() + timedelta(seconds=settings.FILE_CLAIM_SECONDS)
        File.objects.filter(pk=self.file_id, status=FileStatus.PENDING).update(claimed_until=until)
        self.renewed = time.monotonic()


def _process_claimed(file: File) -> None:
    try:
        core = _verified_metadata(file)
    except InvalidDistribution as exc:
        _finish(file, status=FileStatus.REJECTED, rejection_reason=str(exc))
        return
    metadata_sha256 = ""
    if file.packagetype == PackageType.WHEEL:
        # PEP 658 metadata is offered for wheels only: an sdist's PKG-INFO may not be final.
        metadata_sha256 = hashlib.sha256(core.raw).hexdigest()
    # Rendered before the transaction, and only for the release's first file: docutils takes
    # milliseconds, during which the release (and SQLite's whole database) would stay locked.
    readme = "" if file.release.metadata else _readme_html(core)
    _finish(
        file, status=FileStatus.READY, core=core, metadata_sha256=metadata_sha256, readme=readme
    )


def _verified_metadata(file: File) -> CoreMetadata:
    """The file's core metadata, once its stored bytes are proven to be the ones uploaded.

    The upload stored the metadata beside the distribution after checking the archive, so
    the archive is read here only to hash it, streamed once. Files accepted before that was
    so have no metadata object: their archive is read and checked again, and the object
    written."""
    storage = packages_storage()
    lease = _Lease(file.pk)
    sha256 = hashlib.sha256()
    size = 0
    for chunk in _stored_chunks(storage, file.storage_key):
        sha256.update(chunk)
        size += len(chunk)
        lease.keep()
    if sha256.hexdigest() != file.sha256:
        raise InvalidDistribution("The stored file does not match its recorded sha256.")
    raw = _stored_bytes_or_none(storage, file.metadata_storage_key)
    if raw is not None:
        return parse_core_metadata(raw)
    with storage.open(file.storage_key, "rb") as fh:
        core = read_core_metadata(fh, file.filename, file.packagetype, size=size)
    storage.save(file.metadata_storage_key, ContentFile(core.raw))
    return core


def _stored_chunks(storage: Storage, key: str) -> Iterator[bytes]:
    """An object's bytes, streamed from one request. (S3Storage.open asks for the object's
    size, then downloads all of it to a spooled file through a transfer manager: three
    requests, threads, and the whole file in the worker's memory.)"""
    s3 = _s3_client(storage)
    if s3 is None:
        with storage.open(key, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        return
    body = s3.get_object(Bucket=storage.bucket_name, Key=_s3_key(storage, key))["Body"]  # type: ignore[attr-defined]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def _stored_bytes_or_none(storage: Storage, key: str) -> bytes | None:
    """A small object's bytes, or None when there is none, in one request."""
    s3 = _s3_client(storage)
    if s3 is None:
        try:
            with storage.open(key, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
    try:
        response = s3.get_object(Bucket=storage.bucket_name, Key=_s3_key(storage, key))  # type: ignore[attr-defined]
    except s3.exceptions.NoSuchKey:
        return None
    with response["Body"] as body:
        return body.read()


def _s3_client(storage: Storage) -> Any:
    """The storage's S3 client, or None for a local folder (duck-typed: importing the S3
    backend would load boto3 into the embedded worker)."""
    connection = getattr(storage, "connection", None)
    return None if connection is None else connection.meta.client


def _s3_key(storage: Storage, key: str) -> str:
    # As S3Storage names its objects (under its `location`, if one is set); our keys are
    # already clean (registry.storage.distribution_storage_key).
    return str(storage._normalize_name(key))  # type: ignore[attr-defined]


def _finish(
    file: File,
    *,
    status: str,
    core: CoreMetadata | None = None,
    metadata_sha256: str = "",
    rejection_reason: str = "",
    readme: str = "",
) -> None:
    """The file's new status, its release's metadata and, when it becomes ready, the bumped
    project serial that names its cached pages: one transaction. A fault at any point leaves
    either all of it or none (the file still pending, sent again), never a ready file under
    the old page."""
    with transaction.atomic():
        locked = File.objects.select_for_update().filter(pk=file.pk).first()
        if locked is None or locked.status != FileStatus.PENDING:
            return
        if core is not None:
            _fill_release(file.release, core, readme)
            locked.requires_python = str(core.metadata.requires_python or "")
        subject = {
            **release_subject(file.release),
            "filename": file.filename,
            "sha256": file.sha256,
        }
        if status == FileStatus.REJECTED:
            audit_record(
                organization=file.repository.organization,
                action="file.reject",
                target=f"file {file.repository}/{file.filename}",
                details={"reason": rejection_reason},
                event=EventType.FILE_REJECTED,
                repository_id=file.repository_id,
                subject={**subject, "reason": rejection_reason},
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
        if status == FileStatus.READY:
            # A rejected file is listed nowhere: the pages stay as they were.
            project_touch(project_id=file.release.project_id)
            # Not audited (the upload was, by whoever sent it): the worker only confirms it.
            emit(
                Event(
                    type=EventType.FILE_PUBLISHED,
                    organization_id=file.repository.organization_id,
                    repository_id=file.repository_id,
                    subject=subject,
                    actor=actor_label(locked.uploaded_by),
                )
            )


def _fill_release(release: Release, core: CoreMetadata, readme: str) -> None:
    """The release takes its metadata from the first file processed, as PyPI does.
    `readme` is the core metadata's description as HTML, if rendered already."""
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.metadata:
        return
    release.metadata = core.fields
    release.summary = (core.metadata.summary or "")[:512]
    release.requires_python = str(core.metadata.requires_python or "")
    # Empty when the release looked filled before the transaction (or the description is
    # empty): rendered here, should that have changed.
    release.description_html = readme or _readme_html(core)
    release.save(update_fields=["metadata", "summary", "requires_python", "description_html"])


def _readme_html(core: CoreMetadata) -> str:
    return readme_render(core.metadata.description, core.metadata.description_content_type)
