"""On S3, a download is a redirect to a presigned URL that lives S3_PRESIGN_SECONDS and is never
stored by a cache. Presigning is computed locally by boto3, so no S3 server is needed here (the
end-to-end tests download through a real one)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from django.test import Client

from registry.storage import _presign_client
from registry.storage import presigned_download_url
from tests.artifacts import Package
from tests.world import Tenant
from tests.world import publish

pytestmark = pytest.mark.django_db

ENDPOINT = "http://s3.wheelhouse.invalid:8333"
BUCKET = "wheelhouse-downloads"


@pytest.fixture(params=[300, 45], ids=lambda s: f"{s}s")
def s3_settings(tenant: Tenant, settings: Any, request: pytest.FixtureRequest) -> Iterator[int]:
    """S3 settings naming a server that does not exist; the files stay in the local folder."""
    settings.S3_BUCKET = BUCKET
    settings.S3_PUBLIC_ENDPOINT_URL = ENDPOINT
    settings.S3_ACCESS_KEY_ID = "AKIDWHEELHOUSETEST"
    settings.S3_SECRET_ACCESS_KEY = "wheelhouse-test-secret"  # signs URLs nobody fetches
    settings.S3_REGION = "us-east-1"
    settings.S3_PRESIGN_SECONDS = request.param
    # The client is built once per process from the settings of its first use.
    _presign_client.cache_clear()
    yield request.param
    _presign_client.cache_clear()


@pytest.fixture
def client(tenant: Tenant) -> Client:
    basic = base64.b64encode(f"__token__:{tenant.token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {basic}")


def _signed(url: str, key: str, seconds: int) -> None:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == ENDPOINT
    assert parts.path == f"/{BUCKET}/{key}"
    assert query["X-Amz-Expires"] == str(seconds)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("AKIDWHEELHOUSETEST/")
    assert len(query["X-Amz-Signature"]) == 64


def test_it_presigns_for_exactly_the_configured_lifetime(s3_settings: int) -> None:
    key = "repositories/1/ab/cd/ef/demo-1.0-py3-none-any.whl"
    url = presigned_download_url(key)
    assert url is not None
    _signed(url, key, s3_settings)


def test_it_redirects_downloads_to_a_short_lived_url_no_cache_keeps(
    client: Client, tenant: Tenant, s3_settings: int
) -> None:
    # The bytes sit in the local folder; only the redirect's URL names S3.
    wheel = publish(tenant.repository, Package("demo", "1.0"))
    url = f"/acme/main/files/{wheel.sha256}/{wheel.filename}"

    download = client.get(url)
    metadata = client.get(f"{url}.metadata")

    for response, key in ((download, wheel.storage_key), (metadata, wheel.metadata_storage_key)):
        assert response.status_code == 302
        # A cache replaying the redirect after its signature expired would break installs.
        assert response["Cache-Control"] == "private, no-store"
        _signed(response["Location"], key, s3_settings)


def test_a_member_downloading_from_the_project_page_gets_the_same_redirect(
    tenant: Tenant, s3_settings: int
) -> None:
    """The project page's download link: the owner's session instead of a key, the same
    presigned redirect as for installers."""
    wheel = publish(tenant.repository, Package("demo", "1.0"))
    browser = Client()
    browser.force_login(tenant.owner)
    response = browser.get(f"/acme/main/files/{wheel.sha256}/{wheel.filename}")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    _signed(response["Location"], wheel.storage_key, s3_settings)
