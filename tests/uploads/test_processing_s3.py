"""The worker's service on a real S3 server (the session's SeaweedFS): the distribution is
read back in one streamed request, its metadata object in another."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile

from registry.models import File
from registry.models import FileStatus
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import SeaweedFS
from tests.world import Tenant
from tests.world import publish
from uploads.processing import file_process

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bucket(s3: SeaweedFS) -> str:
    # One for the module: SeaweedFS gives each bucket volumes of its own, from a few.
    name = f"wheelhouse-processing-{os.urandom(4).hex()}"
    s3.create_bucket(name)
    return name


@pytest.fixture
def on_s3(tenant: Tenant, s3: SeaweedFS, bucket: str, settings: Any) -> None:
    """The packages storage on S3; each test's files under keys of their own (a test
    database's ids start again, and keys name the repository's id)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket, "endpoint_url": s3.endpoint,
                "location": os.urandom(4).hex(),
                "access_key": S3_ACCESS_KEY, "secret_key": S3_SECRET_KEY,
                "region_name": "us-east-1", "file_overwrite": True, "default_acl": None,
                "addressing_style": "path", "signature_version": "s3v4",
            },
        },
    }  # fmt: skip


def pending(tenant: Tenant) -> File:
    return publish(tenant.repository, Package("demo", "1.0"), process=False)


@pytest.mark.usefixtures("on_s3")
def test_it_makes_a_file_stored_on_s3_ready(tenant) -> None:
    file = pending(tenant)

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.READY
    assert file.release.summary == Package("demo", "1.0").summary


@pytest.mark.usefixtures("on_s3")
def test_it_rejects_a_file_whose_bytes_on_s3_changed(tenant) -> None:
    file = pending(tenant)
    storage = packages_storage()
    storage.delete(file.storage_key)
    storage.save(file.storage_key, ContentFile(b"tampered"))

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.REJECTED


@pytest.mark.usefixtures("on_s3")
def test_it_writes_the_metadata_object_a_file_from_before_it_lacks(tenant) -> None:
    file = pending(tenant)
    storage = packages_storage()
    storage.delete(file.metadata_storage_key)

    file_process(file_id=file.pk)

    file.refresh_from_db()
    assert file.status == FileStatus.READY
    with storage.open(file.metadata_storage_key, "rb") as stored:
        assert stored.read() == Package("demo", "1.0").metadata().encode()


@pytest.mark.usefixtures("on_s3")
def test_it_keeps_a_file_pending_when_its_object_is_missing(tenant) -> None:
    file = pending(tenant)
    packages_storage().delete(file.storage_key)

    # A ClientError is a transient fault: the task retries it.
    with pytest.raises(ClientError):
        file_process(file_id=file.pk)

    file.refresh_from_db()
    assert (file.status, file.claimed_until) == (FileStatus.PENDING, None)
