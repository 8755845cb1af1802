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
from tests.fixtures.hostile import Upload
from tests.services import free_port
from tests.world import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage_down(settings: Any, packages_dir: Any) -> None:
    """S3 settings naming a port nothing listens on (in place of the local folder)."""
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


@pytest.mark.usefixtures("storage_down")
def test_an_upload_while_storage_is_down_answers_503_and_writes_nothing(
    tenant: Tenant, settings: Any
) -> None:
    package = Package("outage", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name="outage", version="1.0")

    response = tenant.post(upload)

    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.OUTAGE_RETRY_AFTER)
    assert response.reason_phrase.startswith("The registry's package storage is unavailable")
    assert (File.objects.count(), Release.objects.count(), Project.objects.count()) == (0, 0, 0)
