"""Storage reconciled with the database: objects under `repositories/` that no file row names,
and S3 multipart uploads never completed, are removed once older than a grace period.

Nothing else notices them. An upload stores its bytes before it commits its row, so a
database that fails in between (or a process killed there) leaves an object no row names; a
deletion task lost after its commit leaves one too; an S3 upload cut off mid-way (S3 down,
so boto3's own abort fails, or the web process killed) leaves its parts, billed and invisible.

The grace period is what keeps an upload in flight safe: its object is younger than that until
its row commits. A write always renews an object's age (uploads.services and registry.proxy
write even a key that exists), and each candidate's age and rows are checked again right
before it is deleted, so a key reused by an upload as this runs is left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from accounts.models import OrganizationSlugAlias
from registry.models import CachedFile
from registry.models import File
from registry.models import RepositorySlugAlias
from registry.storage import packages_storage

logger = logging.getLogger(__name__)

# Every object the registry stores lives under this prefix (registry.storage, registry.proxy).
PREFIX = "repositories/"
# Keys per listing page and per deletion: S3 lists and deletes at most 1,000 per request.
BATCH = 1000


@dataclass
class Reconciliation:
    """What one run found: objects listed, orphans deleted, multipart uploads aborted."""

    listed: int = 0
    deleted: int = 0
    aborted: int = 0


def storage_reconcile(*, grace_seconds: int | None = None, dry_run: bool = False) -> Reconciliation:
    """Delete stored objects no File or CachedFile row names, and abort unfinished S3
    multipart uploads, of those older than `grace_seconds` (STORAGE_ORPHAN_GRACE_SECONDS).
    With `dry_run`, only count (and log) them: a check that storage holds nothing else."""
    if grace_seconds is None:
        grace_seconds = settings.STORAGE_ORPHAN_GRACE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    storage = packages_storage()
    bucket: _Folder | _Bucket = (
        _Folder(storage) if isinstance(storage, FileSystemStorage) else _Bucket(storage)
    )
    result = Reconciliation()
    for page in bucket.pages():
        result.listed += len(page)
        old = [key for key, modified in page if modified < cutoff]
        # Rows first (most objects have one), then each survivor's age again, then its
        # rows again: a key an upload wrote and committed meanwhile is kept.
        candidates = [key for key in _unnamed(old) if bucket.older_than(key, cutoff)]
        orphans = _unnamed(candidates)
        deleted = orphans if dry_run else bucket.delete(orphans)
        for key in deleted:
            logger.warning(
                "%s %s: no file names it and it is older than the grace",
                "Found" if dry_run else "Deleted",
                key,
            )
        result.deleted += len(deleted)
    result.aborted = bucket.abort_uploads(cutoff, dry_run=dry_run)
    return result


def _unnamed(keys: list[str]) -> list[str]:
    """The keys no File or CachedFile row names, as its distribution or the `.metadata`
    beside it."""
    if not keys:
        return []
    distribution = {key: key.removesuffix(".metadata") for key in keys}
    wanted = set(distribution.values())
    named = _named_by_filename(wanted)
    if rest := wanted - named:
        # The rare keys whose last part is not their row's filename (or that have no row):
        # asked by exact key, which reads the whole table, so only for these.
        for model in (File, CachedFile):
            named |= set(
                model.objects.filter(storage_key__in=rest).values_list("storage_key", flat=True)
            )
    return [key for key in keys if distribution[key] not in named]


def _named_by_filename(keys: set[str]) -> set[str]:
    """The keys a row names, found through the (repository, filename) index: every key ends
    in `/<filename>` and starts `repositories/<repository id>/`."""
    repositories, filenames = set(), set()
    for key in keys:
        parts = key.split("/")
        if len(parts) > 2 and parts[1].isdigit():
            repositories.add(int(parts[1]))
            filenames.add(parts[-1])
    named: set[str] = set()
    for model in (File, CachedFile):
        rows = model.objects.filter(
            repository_id__in=repositories, filename__in=filenames, storage_key__in=keys
        )
        named |= set(rows.values_list("storage_key", flat=True))
    return named


class _Folder:
    """The embedded default's packages folder: a walk, file times, unlink."""

    def __init__(self, storage: FileSystemStorage) -> None:
        self.storage = storage
        self.root = Path(storage.location)

    def pages(self) -> Iterator[list[tuple[str, datetime]]]:
        page: list[tuple[str, datetime]] = []
        for directory, _dirs, files in os.walk(self.root / PREFIX):
            for name in files:
                path = Path(directory) / name
                modified = self._modified(path)
                if modified is not None:
                    page.append((path.relative_to(self.root).as_posix(), modified))
                if len(page) == BATCH:
                    yield page
                    page = []
        if page:
            yield page

    def older_than(self, key: str, cutoff: datetime) -> bool:
        modified = self._modified(Path(self.storage.path(key)))
        return modified is not None and modified < cutoff

    def delete(self, keys: list[str]) -> list[str]:
        for key in keys:
            self.storage.delete(key)
        return keys

    def abort_uploads(self, cutoff: datetime, *, dry_run: bool) -> int:
        # A folder has no multipart uploads; a write cut off leaves a `.partial-` file
        # (registry.storage.AtomicFileSystemStorage), which no row names: deleted above.
        return 0

    @staticmethod
    def _modified(path: Path) -> datetime | None:
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except FileNotFoundError:  # deleted since it was listed
            return None


class _Bucket:
    """The S3 bucket, through the storage's own boto3 client (its endpoint, credentials and
    timeouts): listed a page at a time, deleted a page at a time."""

    def __init__(self, storage: Any) -> None:
        self.client = storage.connection.meta.client
        self.name: str = storage.bucket_name

    def pages(self) -> Iterator[list[tuple[str, datetime]]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.name, Prefix=PREFIX, PaginationConfig={"PageSize": BATCH}
        )
        for page in pages:
            yield [(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]

    def older_than(self, key: str, cutoff: datetime) -> bool:
        try:
            head = self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return False  # deleted since it was listed
            raise
        return bool(head["LastModified"] < cutoff)

    def delete(self, keys: list[str]) -> list[str]:
        """Delete the keys; those deleted (a key S3 refuses is logged, and tried next run)."""
        if not keys:
            return []
        answer = self.client.delete_objects(
            Bucket=self.name,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        failed = set()
        for error in answer.get("Errors", []):
            failed.add(error.get("Key"))
            logger.error("Could not delete %s: %s", error.get("Key"), error.get("Message"))
        return [key for key in keys if key not in failed]

    def abort_uploads(self, cutoff: datetime, *, dry_run: bool) -> int:
        """Abort the multipart uploads begun before `cutoff` and never completed (with
        `dry_run`, count them)."""
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.name, Prefix=PREFIX):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] >= cutoff:
                    continue
                if dry_run:
                    logger.warning("Found the unfinished multipart upload of %s", upload["Key"])
                    aborted += 1
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                except ClientError as exc:
                    if _status(exc) != 404:  # 404: aborted or completed since it was listed
                        raise
                    continue
                logger.warning(
                    "Aborted the multipart upload of %s begun %s",
                    upload["Key"],
                    upload["Initiated"],
                )
                aborted += 1
        return aborted


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def slug_aliases_expire() -> int:
    """Remove the former slugs past their time (they already answer nothing: every lookup
    checks the expiry); through the ORM's delete, which sends each row's signals, so what the
    hot path keeps about them is renewed. How many were removed."""
    now = timezone.now()
    removed = 0
    for model in (OrganizationSlugAlias, RepositorySlugAlias):
        removed += model.objects.filter(expires_at__lte=now).delete()[0]
    return removed
