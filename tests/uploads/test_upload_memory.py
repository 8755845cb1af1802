"""A large upload streams through the web process: from the request body to a temporary file,
through the archive checks and on to storage, holding a bounded buffer whatever the file's
size (issue 14, item 8). Measured in-process with tracemalloc while the request body is read
from a file on disk, so the test's own bytes are never counted."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from registry.models import File
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.conftest import S3Bucket
from tests.fixtures.hostile import Upload
from tests.large_uploads import MB
from tests.large_uploads import LargeUpload
from tests.large_uploads import large_upload
from tests.large_uploads import post_from_disk
from tests.world import Tenant

pytestmark = pytest.mark.django_db

# What the web process may add at its peak, whatever the file's size. With boto3's defaults
# on S3 it held ten 8 MB parts at once: 93 MB for this 90 MB wheel.
BOUND = 20 * MB
WARM_UP = Package("warm-up", "1.0")


@pytest.fixture(scope="session")
def upload_90_mb(session_dir: Path) -> LargeUpload:
    return large_upload(session_dir, Package("bigwheel", "1.0"), 90)


def _peak_of_upload(tenant: Tenant, upload: LargeUpload) -> int:
    """The upload's peak allocation in this process (and its threads), in bytes.

    A small upload goes first, untraced: what a process allocates once (the S3 client and
    its service models, about 12 MB) is not what this measures."""
    small = Upload(wheel_filename(WARM_UP), wheel_bytes(WARM_UP), name="warm-up", version="1.0")
    assert tenant.post(small).status_code == 200
    tracemalloc.start()
    try:
        response = post_from_disk(tenant.upload_url, tenant.token, upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.content
    return peak


def test_a_90_mb_upload_to_s3_holds_a_bounded_buffer(
    tenant: Tenant, s3_packages: S3Bucket, upload_90_mb: LargeUpload
) -> None:
    peak = _peak_of_upload(tenant, upload_90_mb)

    file = File.objects.get(filename=upload_90_mb.filename)
    stored = s3_packages.client.head_object(Bucket=s3_packages.name, Key=file.storage_key)
    assert stored["ContentLength"] == upload_90_mb.size
    assert peak < BOUND, f"peak {peak / MB:.1f} MB for a {upload_90_mb.size / MB:.0f} MB file"


def test_a_90_mb_upload_to_a_local_folder_holds_a_bounded_buffer(
    tenant: Tenant, packages_dir: Path, upload_90_mb: LargeUpload
) -> None:
    peak = _peak_of_upload(tenant, upload_90_mb)

    file = File.objects.get(filename=upload_90_mb.filename)
    assert (packages_dir / file.storage_key).stat().st_size == upload_90_mb.size
    assert peak < BOUND, f"peak {peak / MB:.1f} MB for a {upload_90_mb.size / MB:.0f} MB file"
