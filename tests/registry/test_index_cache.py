"""Index pages are cached by serial in the real cache (Redis in the suite): every change a user
makes shows on the next read, and no test run is ever served a page another run cached."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils.module_loading import import_string

from registry.models import Project
from registry.services import file_delete
from registry.services import release_unyank
from registry.services import release_yank
from tests.artifacts import Package
from tests.services import new_cache_prefix
from tests.services import redis_keys_delete
from tests.world import Tenant
from tests.world import publish

pytestmark = pytest.mark.django_db

URL = "/acme/main/simple/"
JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def client(tenant: Tenant) -> Client:
    basic = base64.b64encode(f"__token__:{tenant.token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {basic}")


def _files(response: Any) -> dict[str, object]:
    assert response.status_code == 200
    return {f["filename"]: f["yanked"] for f in json.loads(response.content)["files"]}


def test_it_shows_an_unyanked_release_as_installable_at_once(
    client: Client, tenant: Tenant
) -> None:
    wheel = publish(tenant.repository, Package("demo", "1.0"))
    release = wheel.release
    release_yank(release=release, actor=tenant.owner, reason="broken")
    yanked = client.get(f"{URL}demo/", HTTP_ACCEPT=JSON)  # now cached
    assert _files(yanked) == {wheel.filename: "broken"}
    assert json.loads(client.get("/acme/main/pypi/demo/json").content)["info"]["yanked"] is True

    release_unyank(release=release, actor=tenant.owner)

    again = client.get(f"{URL}demo/", HTTP_ACCEPT=JSON, HTTP_IF_NONE_MATCH=yanked["ETag"])
    assert _files(again) == {wheel.filename: False}  # a 304 would keep pip off the release
    assert again["ETag"] != yanked["ETag"]
    assert "data-yanked" not in client.get(f"{URL}demo/").content.decode()
    warehouse = json.loads(client.get("/acme/main/pypi/demo/json").content)
    assert (warehouse["info"]["yanked"], warehouse["urls"][0]["yanked"]) == (False, False)


def test_it_stops_listing_a_deleted_file_at_once(client: Client, tenant: Tenant) -> None:
    wheel = publish(tenant.repository, Package("demo", "1.0"))
    sdist = publish(tenant.repository, Package("demo", "1.0"), sdist=True)
    solo = publish(tenant.repository, Package("solo", "1.0"))
    before = client.get(f"{URL}demo/", HTTP_ACCEPT=JSON)
    assert set(_files(before)) == {wheel.filename, sdist.filename}
    root = client.get(URL).content.decode()
    assert "solo/" in root
    client.get("/acme/main/pypi/demo/json")  # cache every page that names the file

    file_delete(file=wheel, actor=tenant.owner)
    file_delete(file=solo, actor=tenant.owner)

    after = client.get(f"{URL}demo/", HTTP_ACCEPT=JSON, HTTP_IF_NONE_MATCH=before["ETag"])
    assert set(_files(after)) == {sdist.filename}
    assert wheel.filename not in client.get(f"{URL}demo/").content.decode()
    warehouse = json.loads(client.get("/acme/main/pypi/demo/json").content)
    assert [u["filename"] for u in warehouse["urls"]] == [sdist.filename]
    # The project left with nothing to install leaves the root page too.
    assert "solo/" not in client.get(URL).content.decode()
    assert client.get(f"/acme/main/files/{wheel.sha256}/{wheel.filename}").status_code == 404


def test_each_test_run_caches_pages_under_a_prefix_of_its_own(
    client: Client, tenant: Tenant, session_cache_prefix: str
) -> None:
    # Ids restart with every test database, so the key this run's project page is cached
    # under is the key an earlier run's page may still sit under, on the old fixed prefix or
    # on another run's. Put such leftovers there and read the page.
    publish(tenant.repository, Package("demo", "1.0"))
    project = Project.objects.get(repository=tenant.repository)
    key = f"simple:p{tenant.repository.pk}.{project.pk}.{project.serial}.html"
    default = settings.CACHES["default"]
    backend = import_string(default["BACKEND"])
    others = [
        backend(default.get("LOCATION", ""), {"KEY_PREFIX": prefix})
        for prefix in ("wheelhouse", new_cache_prefix())
    ]
    try:
        for other in others:
            other.set(key, b"a page another test run cached", 60)

        page = client.get(f"{URL}demo/")

        assert page.status_code == 200
        assert b"another test run" not in page.content
        assert cache.get(key) == page.content
    finally:
        for other in others:
            other.delete(key)
    assert re.fullmatch(r"wheelhouse-test-[0-9a-f]{16}", session_cache_prefix)
    assert cache.make_key(key).startswith(f"{session_cache_prefix}:")
    assert new_cache_prefix() != new_cache_prefix()


def test_it_deletes_only_what_one_prefix_wrote(tenant: Tenant, session_cache_prefix: str) -> None:
    # What the session fixture runs at its end, so no run leaves its pages behind: the
    # session's keys and its per-test throttle counters (`<prefix>.throttle-...`).
    default = settings.CACHES["default"]
    assert default["BACKEND"].endswith(".RedisCache"), "the suite runs on Redis (REDIS_URL)"
    backend = import_string(default["BACKEND"])
    ended_prefix = new_cache_prefix()
    ended = backend(default["LOCATION"], {"KEY_PREFIX": ended_prefix})
    counters = backend(default["LOCATION"], {"KEY_PREFIX": f"{ended_prefix}.throttle-1"})
    ended.set_many({f"simple:p{n}": b"page" for n in range(3)}, 60)
    counters.set("failures", 3, 60)
    cache.set("simple:still-ours", b"page", 60)

    assert redis_keys_delete(default["LOCATION"], ended_prefix) == 4

    assert ended.get_many([f"simple:p{n}" for n in range(3)]) == {}
    assert counters.get("failures") is None
    assert cache.get("simple:still-ours") == b"page"
