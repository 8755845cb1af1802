"""An upload over 8 MB goes to S3 in parts (a multipart upload). When a part fails, boto3
aborts the multipart upload itself (s3transfer's failure cleanup), so nothing is left; when S3
is gone, that abort fails too, and the reconciliation aborts it later (issue 14, item 3).
The failures are injected on the storage's own boto3 client, the rest is the session's
SeaweedFS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from registry.models import File
from registry.reconcile import storage_reconcile
from registry.storage import packages_storage
from tests.artifacts import Package
from tests.conftest import S3Bucket
from tests.invariants import Acknowledged
from tests.invariants import InProcessRegistry
from tests.invariants import assert_invariants
from tests.large_uploads import LargeUpload
from tests.large_uploads import large_upload
from tests.large_uploads import post_from_disk
from tests.world import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def upload_20_mb(session_dir: Path) -> LargeUpload:
    # Three parts: 8 MB, 8 MB and the rest.
    return large_upload(session_dir, Package("parted", "1.0"), 20)


class S3Faults:
    """Failures injected on the boto3 client the packages storage uses in this thread, which
    is the one the request uses (and its transfer threads)."""

    def __init__(self) -> None:
        self.client = packages_storage().connection.meta.client  # type: ignore[attr-defined]
        self.handlers: list[tuple[str, Any]] = []

    def fail(self, operation: str, *, part: int | None = None) -> None:
        """Every call of `operation` (or only the one sending `part`) fails unanswered."""

        def fail(params: dict[str, Any], **kwargs: Any) -> None:
            if part is None or params.get("PartNumber") == part:
                raise EndpointConnectionError(endpoint_url=f"S3 gone during {operation}")

        event = f"before-parameter-build.s3.{operation}"
        self.client.meta.events.register(event, fail)
        self.handlers.append((event, fail))

    def clear(self) -> None:
        for event, handler in self.handlers:
            self.client.meta.events.unregister(event, handler)
        self.handlers = []


@pytest.fixture
def s3_faults(s3_packages: S3Bucket) -> Iterator[S3Faults]:
    faults = S3Faults()
    yield faults
    faults.clear()


def _uploads(bucket: S3Bucket) -> list[dict[str, Any]]:
    return bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])


def _objects(bucket: S3Bucket) -> list[str]:
    listed = bucket.client.list_objects_v2(Bucket=bucket.name).get("Contents", [])
    return [item["Key"] for item in listed]


def test_a_failed_part_aborts_the_multipart_upload(
    tenant: Tenant, s3_packages: S3Bucket, s3_faults: S3Faults, upload_20_mb: LargeUpload
) -> None:
    s3_faults.fail("UploadPart", part=2)

    response = post_from_disk(tenant.upload_url, tenant.token, upload_20_mb)

    assert response.status_code == 503
    assert not File.objects.exists()
    assert _uploads(s3_packages) == []
    assert _objects(s3_packages) == []


def test_a_multipart_upload_s3_could_not_abort_is_aborted_by_the_reconciliation(
    tenant: Tenant,
    s3_packages: S3Bucket,
    s3_faults: S3Faults,
    upload_20_mb: LargeUpload,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # S3 goes away mid-upload: the part fails, and so does boto3's abort.
    s3_faults.fail("UploadPart", part=2)
    s3_faults.fail("AbortMultipartUpload")

    response = post_from_disk(tenant.upload_url, tenant.token, upload_20_mb)

    assert response.status_code == 503
    assert len(_uploads(s3_packages)) == 1
    s3_faults.clear()  # S3 is back

    assert storage_reconcile(grace_seconds=0).aborted == 1
    assert _uploads(s3_packages) == []
    assert _objects(s3_packages) == []

    # twine retries, S3 answering: the upload is whole, and nothing of the first attempt is.
    with django_capture_on_commit_callbacks(execute=True):  # the worker's part, as on commit
        assert post_from_disk(tenant.upload_url, tenant.token, upload_20_mb).status_code == 200
    acknowledged = [Acknowledged(upload_20_mb.filename, upload_20_mb.sha256)]
    assert_invariants(InProcessRegistry(tenant.repository, tenant.token), acknowledged)
