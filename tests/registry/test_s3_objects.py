"""What a download from S3 gives: exactly the bytes uploaded, whichever client fetches the
presigned URL (a client decoding `Content-Encoding: gzip` unpacked sdists before)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.storage import _presign_client
from tests.artifacts import Package
from tests.conftest import S3Bucket
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import SeaweedFS
from tests.world import Tenant
from tests.world import key_client
from tests.world import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def presigned(settings: Any, s3: SeaweedFS, s3_packages: S3Bucket) -> Iterator[None]:
    """Downloads redirect to the session's S3 server."""
    settings.S3_PUBLIC_ENDPOINT_URL = s3.endpoint
    settings.S3_ACCESS_KEY_ID = S3_ACCESS_KEY
    settings.S3_SECRET_ACCESS_KEY = S3_SECRET_KEY
    _presign_client.cache_clear()
    yield
    _presign_client.cache_clear()


@pytest.mark.usefixtures("presigned")
@pytest.mark.parametrize("sdist", [True, False], ids=["sdist", "wheel"])
def test_a_download_from_s3_is_the_bytes_uploaded(tenant: Tenant, sdist: bool) -> None:
    file = publish(tenant.repository, Package("served", "1.0"), sdist=sdist)

    redirect = key_client(tenant.token).get(f"/acme/main/files/{file.sha256}/{file.filename}")
    assert redirect.status_code == 302
    # httpx decodes a Content-Encoding it is given, as browsers and requests do.
    download = httpx.get(redirect["Location"])

    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == file.sha256
    assert "content-encoding" not in download.headers
