"""The index's hot path (registry.index.hot): what installers read costs no query once warm,
every change shows on the next request, and a cache outage costs speed, never an install.

Query budgets are pinned: a change that adds a query to a read of the index or to an upload
fails here. "Rebuilt" budgets are what a read costs after a write in the organization sent
everything back to the database, once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.models import Membership
from accounts.models import OrganizationSlugAlias
from accounts.models import User
from accounts.services import api_key_create
from accounts.services import api_key_revoke
from accounts.services import membership_remove
from accounts.services import organization_create
from accounts.services import organization_update
from registry.models import File
from registry.models import RepositorySlugAlias
from registry.quotas import quota_set
from registry.reconcile import slug_aliases_expire
from registry.services import repository_create
from registry.services import repository_delete
from registry.services import repository_update
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.invariants import Acknowledged
from tests.invariants import InProcessRegistry
from tests.invariants import assert_invariants
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


def _upload_grow(tenant: Tenant, version: str) -> Any:
    package = Package("grow", version)
    data = wheel_bytes(package)
    return tenant.post(Upload(wheel_filename(package), data, name="grow", version=version))


def test_an_upload_costs_its_budget_however_large_the_repository(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    def upload(version: str) -> Any:
        return _upload_grow(tenant, version)

    assert upload("0.1").status_code == 200
    with django_assert_num_queries(QUERIES_UPLOAD):
        assert upload("0.2").status_code == 200
    for minor in range(3, 13):
        publish(tenant.repository, Package("grow", f"0.{minor}"))
    upload("0.13")  # after the publishes' new keys: access looked up again
    with django_assert_num_queries(QUERIES_UPLOAD):
        assert upload("0.14").status_code == 200


def test_an_upload_through_a_virtual_repository_costs_one_query_more_for_its_target(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    organization = tenant.repository.organization
    repository_create(
        organization=organization, actor=tenant.owner, slug="all", kind="virtual",
        members=["main"], upload_target="main",
    )  # fmt: skip

    def upload(version: str) -> Any:
        package = Package("grow", version)
        data = wheel_bytes(package)
        found = Upload(wheel_filename(package), data, name="grow", version=version)
        return tenant.post(found, url="/acme/all/legacy/")

    assert upload("0.1").status_code == 200
    # The upload target with its organization, in one query; then as a hosted upload.
    with django_assert_num_queries(QUERIES_UPLOAD + 1):
        assert upload("0.2").status_code == 200
    assert set(File.objects.values_list("repository__slug", flat=True)) == {"main"}


def test_an_upload_under_a_quota_costs_three_queries_more(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    quota_set(organization=tenant.repository.organization, storage=10**9)
    assert _upload_grow(tenant, "0.1").status_code == 200
    with django_assert_num_queries(QUERIES_UPLOAD_QUOTA):
        assert _upload_grow(tenant, "0.2").status_code == 200


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


def test_former_slugs_answer_as_the_current_ones_until_deleted(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="core")
    assert _get(client, ROOT, HTML) == 200
    assert _get(client, "/acme/core/simple/demo/", JSON) == 200
    organization = tenant.repository.organization
    organization_update(organization=organization, actor=tenant.owner, name="Acme", slug="acme2")
    for url in ("/acme/core/simple/demo/", "/acme/main/simple/demo/", "/acme2/main/simple/demo/"):
        assert _get(client, url, JSON) == 200, url
    assert _get(client, "/acme2/core/simple/demo/", JSON) == 200
    tenant.repository.refresh_from_db()
    repository_delete(repository=tenant.repository, actor=tenant.owner, confirm_slug="core")
    for url in ("/acme2/core/simple/demo/", "/acme/main/simple/demo/", "/acme/core/simple/"):
        assert _get(client, url, JSON) == 404, url


# Former slugs ----------------------------------------------------------------------------------


def _renamed(tenant: Tenant) -> None:
    """acme/main becomes acme2/core; acme/main and acme/core and acme2/main answer too."""
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="core")
    organization = tenant.repository.organization
    organization_update(organization=organization, actor=tenant.owner, name="Acme", slug="acme2")


def _read_thrice(client: Client, *urls: str) -> None:
    """Past what the first reads at a former slug learn (see QUERIES_FORMER)."""
    for _ in range(3):
        for url in urls:
            assert _get(client, url, JSON) == 200, url


def _at(
    urls: dict[str, tuple[str, str, int]], org: str, repo: str
) -> dict[str, tuple[str, str, int]]:
    return {
        name: (url.replace("/acme/main/", f"/{org}/{repo}/", 1), accept, status)
        for name, (url, accept, status) in urls.items()
    }


@pytest.mark.parametrize(("org", "repo"), [("acme", "main"), ("acme2", "main"), ("acme", "core")])
def test_a_warm_read_at_a_former_slug_costs_no_query_as_at_the_current_one(
    warm: tuple[Client, dict[str, tuple[str, str, int]]],
    tenant: Tenant,
    org: str,
    repo: str,
    django_assert_num_queries: Any,
) -> None:
    """The first read at a former organization slug learns it (and keeps nothing else), the
    second looks the key up under the current slug's generations, then none queries: one
    read of the shared cache, as at the current URL (three generations instead of two)."""
    client, urls = warm
    _renamed(tenant)
    former = _at(urls, org, repo)
    for _ in range(3):
        for url, accept, status in former.values():
            assert _get(client, url, accept) == status, url
    for name, (url, accept, status) in former.items():
        with django_assert_num_queries(0, info=name):
            assert _get(client, url, accept) == status, name


# What the first reads at a former slug cost, all told: the key, the organization's former
# slug (a key's own organization is known without a query), the repository (by its former
# slug, after its current ones missed: two), then the page's own lookup. The first read learns
# the organization's former slug and keeps nothing else; the second keeps the key; the third
# costs nothing.
QUERIES_FORMER = {("acme", "main"): 5, ("acme2", "main"): 4, ("acme", "core"): 4}


@pytest.mark.parametrize(("org", "repo"), list(QUERIES_FORMER))
def test_the_first_reads_at_a_former_slug_cost_their_budget_twice_then_nothing(
    warm: tuple[Client, dict[str, tuple[str, str, int]]],
    tenant: Tenant,
    org: str,
    repo: str,
    django_assert_num_queries: Any,
) -> None:
    client, urls = warm
    _renamed(tenant)
    url, accept, status = _at(urls, org, repo)["project"]
    budget = QUERIES_FORMER[(org, repo)]
    # A former organization slug is learnt by the first read; at the current one, the
    # key's entry is kept at once.
    reads = [budget, budget, 0] if org != "acme2" else [budget, 0, 0]
    for queries in reads:
        with django_assert_num_queries(queries):
            assert _get(client, url, accept) == status


def test_a_key_revoked_stops_at_once_at_former_slugs_too(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, urls = warm
    _renamed(tenant)
    former = _at(urls, "acme", "main")
    for _ in range(3):
        for url, accept, status in former.values():
            assert _get(client, url, accept) == status, url
    key = tenant.repository.organization.api_keys.get(name="ci")
    api_key_revoke(api_key=key, actor=tenant.owner)
    for name, (url, accept, _) in former.items():
        assert _get(client, url, accept) == 401, name


def test_former_slugs_stop_answering_when_expired_taken_or_renamed_back(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    _renamed(tenant)
    project = "/acme/main/simple/demo/"
    _read_thrice(client, project)
    # Past SLUG_ALIAS_DAYS: gone from memory and from the database alike, then swept.
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert _get(client, project, JSON) == 404
        assert _get(client, "/acme2/main/simple/demo/", JSON) == 404
        assert _get(client, "/acme2/core/simple/demo/", JSON) == 200
        assert slug_aliases_expire() == 2
    assert not OrganizationSlugAlias.objects.exists()
    assert not RepositorySlugAlias.objects.exists()


def test_a_former_repository_slug_stops_answering_when_it_expires_even_while_warm(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="core")
    soon = timezone.now() + timedelta(seconds=20)
    RepositorySlugAlias.objects.filter(slug="main").update(expires_at=soon)
    project = "/acme/main/simple/demo/"
    _read_thrice(client, project)
    # Well within what memory keeps (HOT_CACHE_SECONDS), but past the former slug's end.
    with time_machine.travel(soon + timedelta(seconds=1)):
        assert _get(client, project, JSON) == 404
        assert _get(client, "/acme/core/simple/demo/", JSON) == 200


def test_a_new_repository_or_organization_taking_a_former_slug_wins(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    _renamed(tenant)
    _read_thrice(client, "/acme2/main/simple/demo/", "/acme/core/simple/demo/")
    organization = tenant.repository.organization
    repository_create(organization=organization, actor=tenant.owner, slug="main")
    assert _get(client, "/acme2/main/simple/demo/", JSON) == 404  # the new, empty one
    assert _get(client, "/acme2/main/simple/", HTML) == 200
    # Another tenant takes "acme": this key's organization is not there any more.
    organization_create(slug="acme", name="New Acme", creator=organization_owner("new@x.test"))
    assert _get(client, "/acme/core/simple/demo/", JSON) == 404
    assert _get(client, "/acme2/core/simple/demo/", JSON) == 200
    events = AuditEvent.objects.filter(organization=organization, action__endswith="_taken")
    assert sorted(e.details["former_slug"] for e in events) == ["acme", "main"]


def test_renaming_back_removes_the_former_slug(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="core")
    assert _get(client, ROOT, HTML) == 200
    repository_update(repository=tenant.repository, actor=tenant.owner, slug="main")
    assert _get(client, ROOT, HTML) == 200
    assert _get(client, "/acme/core/simple/", HTML) == 200  # "core" is now the former slug
    assert list(RepositorySlugAlias.objects.values_list("slug", flat=True)) == ["core"]


def test_another_tenants_key_finds_nothing_at_a_former_slug(
    warm: tuple[Client, dict[str, tuple[str, str, int]]], tenant: Tenant
) -> None:
    client, _ = warm
    _renamed(tenant)
    _read_thrice(client, "/acme/main/simple/demo/")
    other = organization_create(
        slug="globex", name="Globex", creator=organization_owner("g@x.test")
    )
    repository_create(organization=other, actor=other.memberships.get().user, slug="main")
    foreign = key_client(api_key_create(organization=other, name="theirs").token)
    for url in ("/acme/main/simple/demo/", "/acme/main/simple/", "/acme2/core/simple/"):
        assert _get(foreign, url, HTML) == 404, url


def organization_owner(email: str) -> User:
    return User.objects.create_user(email)


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
    tenant: Tenant, redis_down: RefusingRedis, django_capture_on_commit_callbacks: Any
) -> None:
    published = publish(tenant.repository, Package("demo", "1.0"))
    urls = _urls(published)
    client = key_client(tenant.token)
    for _ in range(5):
        for name, (url, accept, status) in urls.items():
            assert _get(client, url, accept) == status, name
    package = Package("during-outage", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name, version="1.0")
    with django_capture_on_commit_callbacks(execute=True):  # the worker's part, as on commit
        assert tenant.post(upload).status_code == 200
    # Tried, then left alone for CACHE_RETRY_SECONDS: not once per request (26 of them).
    assert 1 <= redis_down.connections <= 4
    # Still down: the upload is ready and listed, stored whole, and nothing else is.
    acknowledged = [
        Acknowledged(published.filename, published.sha256),
        Acknowledged.of(upload.filename, upload.data),
    ]
    assert_invariants(InProcessRegistry(tenant.repository, tenant.token), acknowledged)
