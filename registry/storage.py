"""The packages storage: S3 in production, a local folder in the embedded default."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage
from django.core.files.storage import storages


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
    import boto3
    from botocore.config import Config

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
