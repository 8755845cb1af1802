"""Virtual repositories, in-process: hosted and proxy members behind one index URL, where a
private name always wins over the upstream unless an admin allows its upstream versions."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.models import AuditEvent
from accounts.services import api_key_create
from registry.index.negotiation import V1_JSON
from registry.models import File
from registry.models import Repository
from registry.services import repository_create
from registry.services import repository_delete
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

URL = "/acme/all/simple/"
# After a write elsewhere in the organization: the key and the repository, once for all pages,
# then per page the members and per member one lookup of the name (or of an override). Warm
# (registry.index.hot): none.
QUERIES_ACCESS = 2
QUERIES_VIRTUAL_PAGE = 3


@pytest.fixture
def virtual(tenant: Tenant, upstream: Upstream) -> Repository:
    organization = tenant.repository.organization
    repository_create(
        organization=organization,
        actor=tenant.owner,
        slug="public",
        kind="proxy",
        upstream_url=upstream.url,
    )
    return repository_create(
        organization=organization,
        actor=tenant.owner,
        slug="all",
        kind="virtual",
        members=["main", "public"],
        upload_target="main",
    )


@pytest.fixture
def client(tenant: Tenant) -> Client:
    return key_client(tenant.token)


def page(client: Client, name: str, *, status: int = 200) -> dict:
    response = client.get(f"{URL}{name}/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == status, response.content
    return json.loads(response.content) if status == 200 else {}


def test_one_url_serves_private_and_public_projects(
    client: Client, virtual: Repository, tenant: Tenant
) -> None:
    publish(tenant.repository, Package("acme-tools", "1.0", requires=("requests>=2",)))
    assert page(client, "acme-tools")["versions"] == ["1.0"]
    requests_page = page(client, "requests")
    assert requests_page["versions"] == ["2.32.3"]
    assert requests_page["files"][0]["url"].startswith("/acme/all/files/")
    root = json.loads(client.get(URL, HTTP_ACCEPT=V1_JSON).content)
    assert [p["name"] for p in root["projects"]] == ["acme-tools", "requests"]


def test_a_private_name_never_lists_or_serves_upstream_versions_whatever_their_number(
    client: Client, virtual: Repository, tenant: Tenant, upstream: Upstream
) -> None:
    publish(tenant.repository, Package("Acme_Tools", "1.0"))
    evil = upstream.add_wheel("acme-tools", "99.0")
    data = page(client, "acme-tools")
    assert data["versions"] == ["1.0"]
    assert "tracks" not in data["meta"]
    assert upstream.count("/simple/acme-tools/") == 0  # the upstream is not even asked
    # Even the upstream file's own URL, guessed, is refused through the virtual repository.
    proxy_page = json.loads(
        client.get("/acme/public/simple/acme-tools/", HTTP_ACCEPT=V1_JSON).content
    )
    sha = proxy_page["files"][0]["hashes"]["sha256"]
    response = client.get(f"/acme/all/files/{sha}/{evil}")
    assert response.status_code == 404
    assert "private project" in response.content.decode()


def test_an_admin_override_lists_upstream_versions_with_pep_708_metadata(
    client: Client, virtual: Repository, tenant: Tenant, upstream: Upstream
) -> None:
    publish(tenant.repository, Package("requests", "2.32.3.post1"))
    upstream_override_set(
        repository=virtual, actor=tenant.owner, name="Requests", allowed=True, reason="patched"
    )
    data = page(client, "requests")
    assert data["versions"] == ["2.32.3.post1", "2.32.3"]
    assert data["meta"]["tracks"] == [f"{upstream.url}requests/"]
    assert data["alternate-locations"] == [f"{upstream.url}requests/"]
    html = client.get(f"{URL}requests/", HTTP_ACCEPT="text/html").content.decode()
    assert f'<meta name="pypi:tracks" content="{upstream.url}requests/">' in html
    assert AuditEvent.objects.filter(action="repository.upstream_allow").exists()
    upstream_override_set(repository=virtual, actor=tenant.owner, name="requests", allowed=False)
    assert page(client, "requests")["versions"] == ["2.32.3.post1"]


def test_uploads_to_the_virtual_url_land_in_its_upload_target(
    client: Client, virtual: Repository, tenant: Tenant
) -> None:
    package = Package("via-virtual", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name, version="1.0")
    assert tenant.post(upload, url="/acme/all/legacy/").status_code == 200
    assert File.objects.get(filename=upload.filename).repository == tenant.repository
    repository_update(repository=virtual, actor=tenant.owner, upload_target=None)
    again = Upload(
        wheel_filename(Package("via-virtual", "1.1")),
        wheel_bytes(Package("via-virtual", "1.1")),
        name="via-virtual",
        version="1.1",
    )
    response = tenant.post(again, url="/acme/all/legacy/")
    assert response.status_code == 400
    assert "without an upload target" in response.content.decode()


def test_members_are_merged_in_order_first_filename_wins(
    client: Client, virtual: Repository, tenant: Tenant, upstream: Upstream
) -> None:
    organization = tenant.repository.organization
    second = repository_create(
        organization=organization, actor=tenant.owner, slug="second", kind="hosted"
    )
    publish(second, Package("shared", "2.0"))
    publish(tenant.repository, Package("shared", "1.0"))
    repository_update(repository=virtual, actor=tenant.owner, members=["second", "main", "public"])
    assert page(client, "shared")["versions"] == ["2.0", "1.0"]


def test_only_hosted_or_proxy_members_of_the_same_organization(
    virtual: Repository, tenant: Tenant
) -> None:
    with pytest.raises(ValidationError, match="virtual"):
        repository_update(repository=virtual, actor=tenant.owner, members=["all"])
    with pytest.raises(ValidationError, match="No repository 'elsewhere'"):
        repository_update(repository=virtual, actor=tenant.owner, members=["elsewhere"])
    with pytest.raises(ValidationError, match="hosted member"):
        repository_update(repository=virtual, actor=tenant.owner, upload_target="public")


def test_deleting_a_member_takes_it_out_of_the_virtual_repository(
    client: Client, virtual: Repository, tenant: Tenant
) -> None:
    publish(tenant.repository, Package("acme-tools", "1.0"))
    repository_delete(repository=tenant.repository, actor=tenant.owner, confirm_slug="main")
    page(client, "acme-tools", status=404)
    virtual.refresh_from_db()
    assert virtual.upload_target is None


def test_a_key_limited_to_the_virtual_repository_reads_its_members_through_it_only(
    virtual: Repository, tenant: Tenant
) -> None:
    publish(tenant.repository, Package("acme-tools", "1.0"))
    key = api_key_create(
        organization=virtual.organization, name="ci", scope="read", repositories=[virtual]
    )
    limited = key_client(key.token)
    assert limited.get(f"{URL}acme-tools/", HTTP_ACCEPT=V1_JSON).status_code == 200
    assert limited.get("/acme/main/simple/acme-tools/").status_code == 404
    assert limited.get("/acme/public/simple/requests/").status_code == 404


def test_a_warm_virtual_page_costs_no_query_and_a_rebuilt_one_a_fixed_number(
    client: Client, virtual: Repository, tenant: Tenant, django_assert_num_queries
) -> None:
    publish(tenant.repository, Package("acme-tools", "1.0"))
    page(client, "acme-tools")
    page(client, "requests")  # fetched: the proxy's copy is written during this request
    page(client, "requests")
    with django_assert_num_queries(0):
        assert page(client, "requests")["name"] == "requests"
    with django_assert_num_queries(0):
        assert page(client, "acme-tools")["name"] == "acme-tools"
    # Any write to who may do what in the organization: everything is looked up again, once.
    api_key_create(organization=virtual.organization, name="another")
    with django_assert_num_queries(QUERIES_ACCESS + QUERIES_VIRTUAL_PAGE):
        page(client, "requests")
    with django_assert_num_queries(QUERIES_VIRTUAL_PAGE):
        page(client, "acme-tools")
    with django_assert_num_queries(0):
        page(client, "acme-tools")


def test_a_key_limited_to_the_virtual_repository_uploads_into_its_target_through_it(
    virtual: Repository, tenant: Tenant
) -> None:
    key = api_key_create(
        organization=virtual.organization, name="ci", scope="upload", repositories=[virtual]
    )
    package = Package("via-limited", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name, version="1.0")
    assert tenant.post(upload, url="/acme/all/legacy/", token=key.token).status_code == 200
    assert File.objects.get(filename=upload.filename).repository == tenant.repository
    # The target's own URL stays outside the key's limits.
    again = Upload(upload.filename, upload.data, name=package.name, version="1.0")
    assert tenant.post(again, url="/acme/main/legacy/", token=key.token).status_code == 404
