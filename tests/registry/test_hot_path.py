"""The index's hot path (registry.index.hot): what installers read costs no query once warm,
every change shows on the next request, and a cache outage costs speed, never an install.

Query budgets are pinned: a change that adds a query to a read of the index or to an upload
fails here. "Rebuilt" budgets are what a read costs after a write in the organization sent
everything back to the database, once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.services import api_key_create
from accounts.services import api_key_revoke
from accounts.services import membership_remove
from accounts.services import organization_update
from registry.models import File
from registry.quotas import quota_set
from registry.services import repository_delete
from registry.services import repository_update
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from tests.world import download
from tests.world import key_client
from tests.world import publish

pytestmark = pytest.mark.django_db

ROOT = "/acme/main/simple/"
HTML = "text/html"
JSON = "application/vnd.pypi.simple.v1+json"

# What each read costs when nothing is known: the key (with its organization and user) and the
# repository (with its organization), then the read's own lookup (the rendered page itself
# comes from the cache of pages, by tag).
QUERIES_ACCESS = 2
REBUILT = {"root": 1, "project": 1, "absent": 1, "file": 1, "metadata": 1}
# An upload with its key known: the project's status, the file's name (taken? deleted
# before?), then the project, release and file rows and the audit event, in one transaction.
QUERIES_UPLOAD = 14
# With a storage quota: its use summed before the bytes are stored, then the organization's
# row locked and the use summed again in the commit (registry.quotas). None without one.
QUERIES_UPLOAD_QUOTA = QUERIES_UPLOAD + 3


def _urls(file: File) -> dict[str, tuple[str, str, int]]:
    url = f"/acme/main/files/{file.sha256}/{file.filename}"
    return {
        "root": (ROOT, HTML, 200),
        "project": (f"{ROOT}demo/", JSON, 200),
        "absent": (f"{ROOT}no-such/", HTML, 404),
        "file": (url, "*/*", 200),
        "metadata": (f"{url}.metadata", "*/*", 200),
    }


def _get(client: Client, url: str, accept: str) -> int:
    return download(client, url, accept=accept)[0]


@pytest.fixture
def warm(tenant: Tenant) -> tuple[Client, dict[str, tuple[str, str, int]]]:
    urls = _urls(publish(tenant.repository, Package("demo", "1.0")))
    client = key_client(tenant.token)
    for _ in range(2):
        for url, accept, status in urls.values():
            assert _get(client, url, accept) == status, url
    return client, urls


def test_a_warm_read_of_any_index_url_costs_no_query(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], django_assert_num_queries: Any
) -> None:
    client, urls = warm
    for name, (url, accept, status) in urls.items():
        with django_assert_num_queries(0, info=name):
            got = _get(client, url, accept)
        assert got == status, name


@pytest.mark.parametrize("name", list(REBUILT))
def test_a_read_after_a_write_in_the_organization_costs_its_budget_once(
    warm: tuple[Client, dict[str, tuple[str, str, int]]],
    tenant: Tenant,
    name: str,
    django_assert_num_queries: Any,
) -> None:
    client, urls = warm
    url, accept, status = urls[name]
    api_key_create(organization=tenant.repository.organization, name="another")
    with django_assert_num_queries(QUERIES_ACCESS + REBUILT[name]):
        assert _get(client, url, accept) == status
    with django_assert_num_queries(0):
        assert _get(client, url, accept) == status


def test_an_upload_costs_its_budget_however_large_the_repository(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    def upload(version: str) -> Any:
        package = Package("grow", version)
        data = wheel_bytes(package)
        return tenant.post(Upload(wheel_filename(package), data, name="grow", version=version))

    assert upload("0.1").status_code == 200
    with django_assert_num_queries(QUERIES_UPLOAD):
        assert upload("0.2").status_code == 200
    for minor in range(3, 13):
        publish(tenant.repository, Package("grow", f"0.{minor}"))
    upload("0.13")  # after the publishes' new keys: access looked up again
    with django_assert_num_queries(QUERIES_UPLOAD):
        assert upload("0.14").status_code == 200


def test_an_upload_under_a_quota_costs_three_queries_more(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    quota_set(organization=tenant.repository.organization, storage=10**9)

    def upload(version: str) -> Any:
        package = Package("grow", version)
        data = wheel_bytes(package)
        return tenant.post(Upload(wheel_filename(package), data, name="grow", version=version))

    assert upload("0.1").status_code == 200
    with django_assert_num_queries(QUERIES_UPLOAD_QUOTA):
        assert upload("0.2").status_code == 200


# Changes show on the next request ---------------------------------------------------------------


def test_a_warm_key_stops_at_once_when_revoked(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, urls = warm
    key = tenant.repository.organization.api_keys.get(name="ci")
    api_key_revoke(api_key=key, actor=tenant.owner)
    for name, (url, accept, _) in urls.items():
        assert _get(client, url, accept) == 401, name


def test_a_warm_personal_key_stops_at_once_when_its_user_leaves(tenant: Tenant) -> None:
    organization = tenant.repository.organization
    member = Membership.objects.create(
        user=tenant.owner.__class__.objects.create_user("dev@acme.test"),
        organization=organization,
        role="member",
    )
    personal = api_key_create(organization=organization, name="mine", user=member.user)
    client = key_client(personal.token)
    assert [_get(client, ROOT, HTML) for _ in range(2)] == [200, 200]
    membership_remove(membership=member, actor=tenant.owner)
    assert _get(client, ROOT, HTML) == 401


def test_renamed_and_deleted_repositories_and_organizations_stop_answering_at_once(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="core")
    assert _get(client, ROOT, HTML) == 404
    assert _get(client, "/acme/core/simple/demo/", JSON) == 200
    organization = tenant.repository.organization
    organization_update(organization=organization, actor=tenant.owner, name="Acme", slug="acme2")
    assert _get(client, "/acme/core/simple/demo/", JSON) == 404
    assert _get(client, "/acme2/core/simple/demo/", JSON) == 200
    tenant.repository.refresh_from_db()
    repository_delete(repository=tenant.repository, actor=tenant.owner, confirm_slug="core")
    assert _get(client, "/acme2/core/simple/demo/", JSON) == 404


def test_a_name_absent_a_moment_ago_is_listed_once_published(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    assert _get(client, f"{ROOT}late/", HTML) == 404
    assert _get(client, f"{ROOT}late/", HTML) == 404  # known absent, from memory
    publish(tenant.repository, Package("late", "1.0"), process=False)
    assert _get(client, f"{ROOT}late/", HTML) == 200  # the project, no file yet
    wheel = File.objects.get(filename__startswith="late-")
    assert wheel.filename.encode() not in download(client, f"{ROOT}late/", accept=HTML)[1]


# A cache outage -----------------------------------------------------------------------------------


class RefusingRedis:
    """A port that accepts connections and closes them at once, counting them: a Redis that
    is down but still reachable enough to be tried."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def redis_down(settings: Any) -> Iterator[RefusingRedis]:
    down = RefusingRedis()
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{down.port}/0",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5},
    }
    settings.CACHES = {**settings.CACHES, "default": dead, "shared": dead}
    yield down
    down.close()


def test_installs_and_uploads_go_on_while_the_cache_is_down_and_it_is_not_asked_each_time(
    tenant: Tenant, redis_down: RefusingRedis
) -> None:
    urls = _urls(publish(tenant.repository, Package("demo", "1.0")))
    client = key_client(tenant.token)
    for _ in range(5):
        for name, (url, accept, status) in urls.items():
            assert _get(client, url, accept) == status, name
    package = Package("during-outage", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name, version="1.0")
    assert tenant.post(upload).status_code == 200
    # Tried, then left alone for CACHE_RETRY_SECONDS: not once per request (26 of them).
    assert 1 <= redis_down.connections <= 4
