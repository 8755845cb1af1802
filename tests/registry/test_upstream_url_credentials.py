"""A user and password written into a proxy's upstream URL are used to sign in upstream and
never shown to the repository's readers or uploaders (the API and dashboard leave them out
too: tests/api/test_repository_kinds.py, tests/registry/test_dashboard_kinds.py).

Regression: merged virtual pages carried the whole URL in PEP 708 `pypi:tracks` /
`meta.tracks` / `alternate-locations`, and a proxy's refusal of an upload quoted it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import AuditEvent
from registry.index.negotiation import V1_JSON
from registry.services import repository_create
from registry.services import repository_update
from registry.services import upstream_override_set
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.upstream import Upstream
from tests.world import Tenant
from tests.world import key_client
from tests.world import publish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("locmem_cache")]

SECRET = "url-secret-7"


@pytest.fixture
def signed_upstream(upstream: Upstream) -> str:
    """The upstream wants these credentials; the proxy has them only in its URL."""
    upstream.require_basic_auth("bot", SECRET)
    return upstream.url.replace("://", f"://bot:{SECRET}@", 1)


def _client(tenant: Tenant) -> Client:
    return key_client(tenant.token)


def test_a_merged_page_tracks_the_upstream_without_its_credentials(
    tenant: Tenant, upstream: Upstream, signed_upstream: str
) -> None:
    organization = tenant.repository.organization
    repository_create(organization=organization, actor=tenant.owner, slug="public",
                      kind="proxy", upstream_url=signed_upstream)  # fmt: skip
    virtual = repository_create(organization=organization, actor=tenant.owner, slug="all",
                                kind="virtual", members=["main", "public"])  # fmt: skip
    publish(tenant.repository, Package("requests", "2.32.3.post1"))
    upstream_override_set(repository=virtual, actor=tenant.owner, name="requests", allowed=True)
    client = _client(tenant)

    response = client.get("/acme/all/simple/requests/", HTTP_ACCEPT=V1_JSON)
    data = json.loads(response.content)
    assert data["versions"] == ["2.32.3.post1", "2.32.3"]  # signed in upstream with them
    tracked = f"{upstream.url}requests/"
    assert data["meta"]["tracks"] == [tracked]
    assert data["alternate-locations"] == [tracked]
    html = client.get("/acme/all/simple/requests/", HTTP_ACCEPT="text/html").content.decode()
    assert f'<meta name="pypi:tracks" content="{tracked}">' in html
    assert SECRET not in response.content.decode()
    assert SECRET not in html


def test_a_proxy_refusing_an_upload_names_its_upstream_without_credentials(
    tenant: Tenant, upstream: Upstream, signed_upstream: str
) -> None:
    repository_create(organization=tenant.repository.organization, actor=tenant.owner,
                      slug="public", kind="proxy", upstream_url=signed_upstream)  # fmt: skip
    package = Package("anything", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name, version="1.0")

    response = tenant.post(upload, url="/acme/public/legacy/")
    assert response.status_code == 400
    assert response.content.decode() == (
        f"'acme/public' is a proxy of {upstream.url} and takes no uploads; "
        "upload to a hosted repository.\n"
    )


def test_the_audit_log_keeps_neither_a_password_nor_one_written_into_the_url(
    tenant: Tenant, signed_upstream: str
) -> None:
    organization = tenant.repository.organization
    proxy = repository_create(organization=organization, actor=tenant.owner, slug="public",
                              kind="proxy", upstream_url=signed_upstream,
                              upstream_password="field-secret-9")  # fmt: skip
    repository_update(repository=proxy, actor=tenant.owner, upstream_url=signed_upstream + "x/")
    logged = json.dumps([e.details for e in AuditEvent.objects.filter(organization=organization)])
    assert SECRET not in logged
    assert "field-secret-9" not in logged
    assert '"upstream_password": "set"' in logged
    assert "127.0.0.1" in logged  # the URL itself is kept, without its credentials
