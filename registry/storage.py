"""The packages storage: S3 in production, a local folder in the embedded default; the keys
objects live under, and their removal once no file row names them."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterable
from typing import Any
from typing import Protocol

from django.conf import settings
from django.core.files import File as DjangoFile
from django.core.files.storage import FileSystemStorage
from django.core.files.storage import Storage
from django.core.files.storage import storages

from registry.models import File


def packages_storage() -> Storage:
    return storages["packages"]


def distribution_storage_key(*, repository_id: int, blake2_256: str, filename: str) -> str:
    """A content-addressed key: the same key always names the same bytes, so retries and
    concurrent identical uploads write identical objects and a loser can never overwrite a
    winner with different content."""
    h = blake2_256
    return f"repositories/{repository_id}/{h[:2]}/{h[2:4]}/{h[4:]}/{filename}"


@functools.cache
def _presign_client() -> Any:
    # Imported on first use: the embedded default never talks to S3, and boto3 costs
    # tens of megabytes in every process that loads it.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "s3",
        endpoint_url=settings.S3_PUBLIC_ENDPOINT_URL,
        region_name=settings.S3_REGION,
        aws_access_key_id=settings.S3_ACCESS_KEY_ID,
        aws_secret_access_key=settings.S3_SECRET_ACCESS_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def presigned_download_url(key: str) -> str | None:
    """A short-lived URL clients can fetch `key` from directly, or None on local storage."""
    if not settings.S3_BUCKET:
        return None
    return _presign_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.S3_BUCKET, "Key": key},
        ExpiresIn=settings.S3_PRESIGN_SECONDS,
    )


class StoredObject(Protocol):
    """A distribution kept in packages storage, with its `.metadata` beside it: an uploaded
    File or a proxy's CachedFile."""

    storage_key: str

    @property
    def metadata_storage_key(self) -> str: ...


def stored_keys(files: Iterable[StoredObject]) -> list[str]:
    """The storage keys some files occupy: each distribution and the `.metadata` beside it
    (stored at upload for every file, whether or not the index offers it)."""
    keys: list[str] = []
    for file in files:
        keys += [file.storage_key, file.metadata_storage_key]
    return keys


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


class AtomicFileSystemStorage(FileSystemStorage):
    """Each save writes a temporary file beside the target and renames it into place.

    Concurrent uploads of the same file write the same content-addressed key; with Django's
    in-place writes a reader (the worker, a download) could see a half-written file, and its
    hash would not match the recorded one. A rename shows either nothing or all the bytes.
    """

    def _save(self, name: str, content: DjangoFile) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                out.flush()
                os.fsync(out.fileno())
            # mkstemp makes it private; give it the mode Django's own saves would.
            os.chmod(temporary, self.file_permissions_mode or 0o644)
            os.replace(temporary, full_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return name
