"""Proxy repositories, in-process, against a local upstream index (tests/upstream.py) serving
requests and its dependencies as PyPI serves them."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from accounts.services import api_key_create
from registry.index.negotiation import V1_JSON
from registry.models import CachedFile
from registry.models import CachedProject
from registry.models import Repository
from registry.services import proxy_purge
from registry.services import repository_create
from registry.services import repository_update
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.upstream import Upstream
from tests.world import Tenant
from tests.world import download
from tests.world import key_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("locmem_cache")]

URL = "/acme/public/simple/"
# After a write elsewhere in the organization: the key, the repository, the cached page. Warm
# (registry.index.hot): none. Never the upstream, never per file.
QUERIES_PROXY_PAGE = 3
IDNA = "idna-3.10-py3-none-any.whl"


@pytest.fixture
def proxy(tenant: Tenant, upstream: Upstream) -> Repository:
    return repository_create(
        organization=tenant.repository.organization,
        actor=tenant.owner,
        slug="public",
        kind="proxy",
        upstream_url=upstream.url,
    )


@pytest.fixture
def client(tenant: Tenant) -> Client:
    return key_client(tenant.token)


def page(client: Client, name: str, *, status: int = 200) -> dict:
    response = client.get(f"{URL}{name}/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == status, response.content
    return json.loads(response.content) if status == 200 else {}


def test_it_lists_an_upstream_project_with_every_field_under_its_own_urls(
    client: Client, proxy: Repository, upstream: Upstream, upstream_tree: dict[str, bytes]
) -> None:
    data = page(client, "idna")
    (entry,) = data["files"]
    assert entry["filename"] == IDNA
    assert entry["url"] == f"/acme/public/files/{entry['hashes']['sha256']}/{IDNA}"
    assert entry["hashes"]["sha256"] == hashlib.sha256(upstream_tree[IDNA]).hexdigest()
    assert entry["size"] == len(upstream_tree[IDNA])
    assert entry["upload-time"] == "2024-10-01T00:00:00.000000Z"
    assert entry["requires-python"] == ">=3.6"
    assert entry["core-metadata"]["sha256"]
    assert data["versions"] == ["3.10"]
    html = client.get(f"{URL}idna/", HTTP_ACCEPT="text/html").content.decode()
    assert f'href="/acme/public/files/{entry["hashes"]["sha256"]}/{IDNA}#sha256=' in html
    assert 'data-requires-python="&gt;=3.6"' in html
    # Clients never talk to the upstream: its address is on no page.
    assert upstream.base not in html
    assert upstream.base not in json.dumps(data)


def test_it_reads_an_upstream_that_speaks_only_html(
    client: Client, proxy: Repository, upstream: Upstream, upstream_tree: dict[str, bytes]
) -> None:
    upstream.html_only = True
    upstream.add_wheel("oldlib", "1.0", yanked="broken")
    (entry,) = page(client, "idna")["files"]
    assert entry["hashes"]["sha256"] == hashlib.sha256(upstream_tree[IDNA]).hexdigest()
    assert entry["requires-python"] == ">=3.6"
    assert entry["core-metadata"]["sha256"]
    assert page(client, "oldlib")["files"][0]["yanked"] == "broken"
    # Its relative hrefs were resolved against the page: the file and metadata download.
    assert download(client, entry["url"]) == (200, upstream_tree[IDNA])
    assert download(client, f"{entry['url']}.metadata")[0] == 200


def test_it_keeps_upstream_yanks_with_their_reasons(
    client: Client, proxy: Repository, upstream: Upstream
) -> None:
    upstream.add_wheel("oldlib", "1.0", yanked="broken on 3.12")
    upstream.add_wheel("oldlib", "1.1")
    files = {f["filename"]: f["yanked"] for f in page(client, "oldlib")["files"]}
    assert files == {
        "oldlib-1.0-py3-none-any.whl": "broken on 3.12",
        "oldlib-1.1-py3-none-any.whl": False,
    }


def test_it_fetches_a_page_once_per_ttl_then_revalidates(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant
) -> None:
    page(client, "idna")
    page(client, "idna")
    assert upstream.count("/simple/idna/") == 1
    repository_update(repository=proxy, actor=tenant.owner, cache_ttl=0)
    upstream.add_wheel("idna", "3.11")
    versions = page(client, "idna")["versions"]
    assert upstream.count("/simple/idna/") == 2
    assert versions == ["3.10", "3.11"]
    # Unchanged upstream: a 304 keeps the copy (and the ETag it sent is what we revalidate).
    cached = CachedProject.objects.get(repository=proxy, normalized_name="idna")
    assert cached.etag
    serial = cached.serial
    page(client, "idna")
    cached.refresh_from_db()
    assert cached.serial == serial
    assert upstream.count("/simple/idna/") == 3


def test_a_download_is_fetched_once_checked_and_stored(
    client: Client,
    proxy: Repository,
    upstream: Upstream,
    upstream_tree: dict[str, bytes],
    packages_dir: Path,
) -> None:
    url = page(client, "idna")["files"][0]["url"]
    assert download(client, url) == (200, upstream_tree[IDNA])
    status, body = download(client, f"{url}.metadata")
    assert status == 200
    assert body.startswith(b"Metadata-Version")
    assert (
        hashlib.sha256(body).hexdigest()
        == page(client, "idna")["files"][0]["core-metadata"]["sha256"]
    )
    assert download(client, url) == (200, upstream_tree[IDNA])
    assert upstream.count("/files/") == 2  # the file and its metadata, once each
    stored = CachedFile.objects.get(repository=proxy, filename=IDNA)
    assert stored.size == len(upstream_tree[IDNA])
    assert (packages_dir / stored.storage_key).read_bytes() == upstream_tree[IDNA]


def test_a_file_whose_bytes_do_not_match_the_upstream_hash_is_neither_stored_nor_served(
    client: Client, proxy: Repository, upstream: Upstream, packages_dir: Path
) -> None:
    url = page(client, "idna")["files"][0]["url"]
    upstream.corrupt(IDNA)
    status, body = download(client, url)
    assert status == 502
    assert b"it was not stored" in body
    assert not list(packages_dir.rglob("*.whl"))
    assert not CachedFile.objects.filter(repository=proxy, size__isnull=False).exists()


def test_a_missing_upstream_project_is_404_and_an_unknown_file_too(
    client: Client, proxy: Repository
) -> None:
    page(client, "no-such-project", status=404)
    assert client.get(f"/acme/public/files/{'0' * 64}/{IDNA}").status_code == 404


def test_an_unreachable_upstream_serves_what_is_cached_stale_and_names_itself_otherwise(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant
) -> None:
    url = page(client, "idna")["files"][0]["url"]
    assert download(client, url)[0] == 200
    repository_update(repository=proxy, actor=tenant.owner, cache_ttl=0)
    upstream.stop()
    response = client.get(f"{URL}idna/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == 200
    assert "127.0.0.1" in response["X-Upstream-Stale"]
    assert json.loads(response.content)["files"][0]["url"] == url
    assert download(client, url)[0] == 200  # stored bytes need no upstream
    missing = client.get(f"{URL}certifi/", HTTP_ACCEPT=V1_JSON)
    assert missing.status_code == 502
    reason = missing.content.decode()
    assert f"Upstream 127.0.0.1:{upstream.port} is unreachable for certifi" in reason
    assert reason.count("\n") <= 1


def test_a_slow_upstream_answers_504_within_the_timeout(
    client: Client, proxy: Repository, upstream: Upstream, settings
) -> None:
    settings.UPSTREAM_TIMEOUT = 1
    upstream.delay = 3
    response = client.get(f"{URL}idna/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == 504
    assert "timed out" in response.content.decode()


@pytest.mark.parametrize("status", [500, 401])
def test_an_upstream_error_status_is_a_502_naming_it(
    client: Client, proxy: Repository, upstream: Upstream, status: int
) -> None:
    upstream.fail_with = status
    response = client.get(f"{URL}idna/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == 502
    assert f"answered {status}" in response.content.decode()


def test_garbage_from_the_upstream_is_a_502_and_never_replaces_a_good_copy(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant, settings
) -> None:
    upstream.garbage = True
    assert client.get(f"{URL}certifi/", HTTP_ACCEPT=V1_JSON).status_code == 502
    upstream.garbage = False
    settings.UPSTREAM_RETRY_SECONDS = 0
    assert page(client, "certifi")["files"]
    repository_update(repository=proxy, actor=tenant.owner, cache_ttl=0)
    upstream.garbage = True
    response = client.get(f"{URL}certifi/", HTTP_ACCEPT=V1_JSON)
    assert response.status_code == 200
    assert "unreadable" in response["X-Upstream-Stale"]
    assert json.loads(response.content)["files"]


def test_it_signs_in_to_an_upstream_with_the_stored_credentials(
    client: Client, tenant: Tenant, upstream: Upstream
) -> None:
    upstream.require_basic_auth("mirror", "s3cret")
    repository_create(
        organization=tenant.repository.organization,
        actor=tenant.owner,
        slug="public",
        kind="proxy",
        upstream_url=upstream.url,
        upstream_username="mirror",
        upstream_password="s3cret",
    )
    url = page(client, "idna")["files"][0]["url"]
    assert download(client, url)[0] == 200


def test_a_purged_project_is_fetched_again_and_its_stored_files_go(
    client: Client,
    proxy: Repository,
    upstream: Upstream,
    tenant: Tenant,
    packages_dir: Path,
    django_capture_on_commit_callbacks,
) -> None:
    url = page(client, "idna")["files"][0]["url"]
    download(client, url)
    assert list(packages_dir.rglob("*.whl"))
    with django_capture_on_commit_callbacks(execute=True):
        assert proxy_purge(repository=proxy, actor=tenant.owner, normalized_name="IDNA") == 1
    assert not list(packages_dir.rglob("*.whl"))
    page(client, "idna")
    assert upstream.count("/simple/idna/") == 2


def test_a_proxy_root_page_lists_what_it_has_fetched(
    client: Client, proxy: Repository, upstream: Upstream
) -> None:
    page(client, "idna")
    page(client, "certifi")
    page(client, "nothing-here", status=404)
    data = json.loads(client.get(URL, HTTP_ACCEPT=V1_JSON).content)
    assert [p["name"] for p in data["projects"]] == ["certifi", "idna"]


def test_a_proxy_takes_no_uploads(tenant: Tenant, proxy: Repository) -> None:
    package = Package("mine", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name="mine", version="1.0")
    response = tenant.post(upload, url="/acme/public/legacy/")
    assert response.status_code == 400
    assert "is a proxy of" in response.content.decode()


# Filters -----------------------------------------------------------------------------------------

NOW = datetime.now(UTC)


def test_a_cooldown_hides_fresh_upstream_files_and_refuses_them_with_the_reason(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant
) -> None:
    upstream.add_wheel("fresh", "1.0", upload_time=NOW - timedelta(days=30))
    new = upstream.add_wheel("fresh", "2.0", upload_time=NOW - timedelta(hours=2))
    assert page(client, "fresh")["versions"] == ["1.0", "2.0"]
    repository_update(repository=proxy, actor=tenant.owner, cooldown_days=7)
    assert page(client, "fresh")["versions"] == ["1.0"]
    cached = CachedProject.objects.get(repository=proxy, normalized_name="fresh")
    sha = next(e["sha256"] for e in cached.files if e["filename"] == new)
    response = client.get(f"/acme/public/files/{sha}/{new}")
    assert response.status_code == 404
    assert "less than 7 days ago" in response.content.decode()
    repository_update(repository=proxy, actor=tenant.owner, exempt_names="Fresh")
    assert page(client, "fresh")["versions"] == ["1.0", "2.0"]


def test_a_snapshot_date_hides_everything_uploaded_after_it(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant
) -> None:
    upstream.add_wheel("snap", "1.0", upload_time=datetime(2024, 1, 1, tzinfo=UTC))
    upstream.add_wheel("snap", "2.0", upload_time=datetime(2025, 6, 1, tzinfo=UTC))
    repository_update(
        repository=proxy, actor=tenant.owner, snapshot_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert page(client, "snap")["versions"] == ["1.0"]


def test_allow_and_deny_lists_decide_names_and_versions(
    client: Client, proxy: Repository, upstream: Upstream, tenant: Tenant
) -> None:
    upstream.add_wheel("idna", "2.0")
    repository_update(repository=proxy, actor=tenant.owner, deny_rules="idna<3\ncertifi")
    assert page(client, "idna")["versions"] == ["3.10"]
    page(client, "certifi", status=404)
    repository_update(
        repository=proxy, actor=tenant.owner, deny_rules="", allow_rules="requests\nidna>=3"
    )
    assert page(client, "idna")["versions"] == ["3.10"]
    page(client, "urllib3", status=404)
    assert upstream.count("/simple/urllib3/") == 0  # a name no rule lets through is never asked


def test_a_bad_rule_is_refused_naming_its_line(proxy: Repository, tenant: Tenant) -> None:
    with pytest.raises(ValidationError, match="Line 2"):
        repository_update(repository=proxy, actor=tenant.owner, deny_rules="ok\nnot a name!")
    proxy.refresh_from_db()
    assert proxy.deny_rules == ""


def test_a_warm_proxy_page_costs_no_query_and_a_rebuilt_one_a_fixed_number(
    client: Client, proxy: Repository, django_assert_num_queries
) -> None:
    page(client, "requests")  # fetched: the proxy's copy is written during this request
    page(client, "idna")
    page(client, "requests")
    with django_assert_num_queries(0):
        assert page(client, "requests")["name"] == "requests"
    api_key_create(organization=proxy.organization, name="another")
    with django_assert_num_queries(QUERIES_PROXY_PAGE):
        page(client, "requests")
    with django_assert_num_queries(0):
        page(client, "requests")


@pytest.mark.django_db(transaction=True)
def test_clients_asking_at_once_share_one_upstream_fetch_even_with_no_ttl(
    tenant: Tenant, upstream: Upstream
) -> None:
    """Each takes the answer fetched after it asked: with a TTL of 0, a queue of ten waiting
    for one slow fetch must not become ten fetches one after another."""
    repository_create(
        organization=tenant.repository.organization,
        actor=tenant.owner,
        slug="public",
        kind="proxy",
        upstream_url=upstream.url,
        cache_ttl=0,
    )
    upstream.delay = 0.5
    start = threading.Barrier(10)
    statuses: list[int] = []

    def ask() -> None:
        try:
            client = key_client(tenant.token)
            start.wait()
            statuses.append(client.get(f"{URL}idna/", HTTP_ACCEPT=V1_JSON).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 10
    assert upstream.count("/simple/idna/") == 1
