"""An upload while the packages storage (S3) is down: twine gets a 503 it shows and retries on,
with a one-line reason and Retry-After, within seconds, and nothing is half-written."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from registry.models import File
from registry.models import Project
from registry.models import Release
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.conftest import S3Bucket
from tests.fixtures.hostile import Upload
from tests.invariants import Acknowledged
from tests.invariants import InProcessRegistry
from tests.invariants import assert_invariants
from tests.services import free_port
from tests.world import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage_down(settings: Any, s3_packages: S3Bucket) -> dict[str, Any]:
    """S3 settings naming a port nothing listens on, in place of the test's bucket; yields
    the test's bucket's settings, to bring the storage back."""
    up = settings.STORAGES
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings.S3_BUCKET = "wheelhouse-down"
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "wheelhouse-down",
                "endpoint_url": endpoint,
                "access_key": "AKIDWHEELHOUSETEST",
                "secret_key": "wheelhouse-test-secret",
                "region_name": "us-east-1",
                "client_config": Config(
                    connect_timeout=0.5, retries={"max_attempts": 1, "mode": "standard"}
                ),
            },
        },
    }
    return up


def test_an_upload_while_storage_is_down_answers_503_and_writes_nothing(
    tenant: Tenant,
    settings: Any,
    storage_down: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    package = Package("outage", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name="outage", version="1.0")

    response = tenant.post(upload)

    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.OUTAGE_RETRY_AFTER)
    assert response.reason_phrase.startswith("The registry's package storage is unavailable")
    assert (File.objects.count(), Release.objects.count(), Project.objects.count()) == (0, 0, 0)

    # The storage is back and twine retries: the one acknowledged upload is all there is.
    settings.STORAGES = storage_down
    with django_capture_on_commit_callbacks(execute=True):  # the worker's part, as on commit
        assert tenant.post(upload).status_code == 200
    registry = InProcessRegistry(tenant.repository, tenant.token)
    assert_invariants(registry, [Acknowledged.of(upload.filename, upload.data)])
