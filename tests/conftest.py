"""The suite's one set of fixtures: in-process tenants (tests/world.py) with their packages
in a local folder, and the session-wide parts: one S3 server and one live stack of each kind
per test run."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache as django_cache
from django.test.utils import override_settings

from config.celery import app as celery_app
from config.settings import s3_packages_storage
from core import downloads
from tests.budgets import BudgetTenant
from tests.budgets import build_budget_tenant
from tests.fixtures.built import BACKENDS
from tests.fixtures.built import build
from tests.fixtures.real import PLATFORM_WHEEL
from tests.fixtures.real import UPSTREAM_TREE
from tests.fixtures.real import fetch_real_distribution
from tests.fixtures.real import fetch_real_distributions
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import EmbeddedStack
from tests.services import LiveStack
from tests.services import SeaweedFS
from tests.services import ServicesStack
from tests.services import bucket_delete
from tests.services import new_cache_prefix
from tests.services import private_database
from tests.services import redis_keys_delete
from tests.services import running
from tests.upstream import Upstream
from tests.world import Tenant
from tests.world import World
from tests.world import build_tenant
from tests.world import build_world
from tests.world import local_packages_storage

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wheelhouse"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session", autouse=True)
def in_process_tasks_run_eagerly() -> None:
    """Tasks sent by in-process tests run inline, never reaching a shared broker's queue.
    (Live stacks run their own worker, in their own processes, on their own queue.)"""
    celery_app.conf.update(task_always_eager=True, broker_url="memory://")


@pytest.fixture(scope="session", autouse=True)
def session_cache_prefix() -> Iterator[str]:
    """The cache key prefix of this test session, and of no other.

    Index pages are cached for a day under keys built from row ids and serials, and those
    restart with every test database: on a shared prefix one run could be served a page an
    earlier run left under the same ids. Each session gets a random prefix, and deletes what
    it wrote when it ends (also under the prefixes `<prefix>.<anything>`)."""
    prefix = new_cache_prefix()
    default = {**django_settings.CACHES["default"], "KEY_PREFIX": prefix}
    shared = {**django_settings.CACHES["shared"], "KEY_PREFIX": f"{prefix}.shared"}
    with override_settings(CACHES={"default": default, "shared": shared}):
        yield prefix
    if default["BACKEND"].endswith(".RedisCache"):
        redis_keys_delete(default["LOCATION"], prefix)


@pytest.fixture(autouse=True)
def downloads_counted_by_hand(settings: Any) -> Iterator[None]:
    """In-process tests flush download counters themselves (core.downloads.flush), inside
    their transaction: a flushing thread would write beside it, into other tests' rows.
    Each test starts and ends with nothing counted."""
    settings.DOWNLOAD_FLUSH_SECONDS = 0
    downloads.take()
    yield
    downloads.take()


@pytest.fixture(autouse=True)
def own_shared_cache(settings: Any, session_cache_prefix: str) -> None:
    """Each test counts failures from zero and has generations of its own (core.cache).
    Accounts, key ids and slugs repeat between tests (and between runs, in a Redis that
    outlives them), unlike the random source addresses. Under the session's prefix, so the
    session's end deletes them too."""
    prefix = f"{session_cache_prefix}.shared-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        "shared": {**settings.CACHES["shared"], "KEY_PREFIX": prefix},
    }


@pytest.fixture(autouse=True)
def webhooks_to_local_receivers(settings: Any) -> None:
    """Webhooks may reach receivers on this machine (tests listen on 127.0.0.1); the tests of
    the production switch turn it off."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def locmem_cache(settings: Any) -> None:
    """Index pages cached in this process only, empty for each test (pages are cached by
    serial, and ids restart with each test database)."""
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    settings.CACHES = {**settings.CACHES, "default": locmem}
    django_cache.clear()


@pytest.fixture
def packages_dir(settings: Any, tmp_path: Path) -> Path:
    """The packages storage as a local folder this test can inspect."""
    location = tmp_path / "packages"
    local_packages_storage(settings, location)
    return location


@pytest.fixture
def world(db: None, packages_dir: Path) -> World:
    """Two organizations with every kind of member and key (see tests/world.py)."""
    return build_world()


@pytest.fixture
def tenant(db: None, packages_dir: Path) -> Tenant:
    """One organization, `acme/main`, with an upload key and its owner."""
    return build_tenant()


@pytest.fixture(params=[2, 11], ids=lambda n: f"{n}-each")
def budget_tenant(db: None, packages_dir: Path, request: pytest.FixtureRequest) -> BudgetTenant:
    """One organization with n of everything, each with its own related rows: a query per
    item shows as a count that differs between n=2 and n=11 (tests/budgets.py)."""
    return build_budget_tenant(request.param)


@pytest.fixture(scope="session")
def real_distributions() -> dict[str, bytes]:
    """Distributions exactly as PyPI serves them (tests/fixtures/real.py), fetched at most
    once per session and cached across runs."""
    return fetch_real_distributions()


@pytest.fixture(scope="session")
def platform_wheel() -> bytes:
    """A compiled cp311 manylinux wheel as PyPI serves it (tests/fixtures/real.py)."""
    return fetch_real_distribution(PLATFORM_WHEEL)


@pytest.fixture(scope="session")
def upstream_tree() -> dict[str, bytes]:
    """requests, its dependencies and packaging as PyPI serves them (tests/fixtures/real.py),
    fetched at most once per session and cached across runs."""
    return fetch_real_distributions(UPSTREAM_TREE)


TREE_UPLOADED = datetime(2024, 10, 1, tzinfo=UTC)


@pytest.fixture
def upstream(upstream_tree: dict[str, bytes]) -> Iterator[Upstream]:
    """A local simple index serving upstream_tree, for proxy repositories to cache
    (tests/upstream.py); each test gets its own, so its switches and counts start afresh."""
    with Upstream() as server:
        for filename, data in upstream_tree.items():
            # Published long ago, as they were on PyPI: only files a test adds are fresh.
            server.add(filename, data, upload_time=TREE_UPLOADED)
        yield server


@pytest.fixture(scope="session")
def built_distributions() -> dict[str, list[Path]]:
    """The sdist and wheel each real build backend makes of a small project, by backend
    name (tests/fixtures/built.py): built once, then taken from a cache across runs."""
    return {backend.name: build(backend) for backend in BACKENDS}


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="wheelhouse-tests-"))
    yield path
    if os.environ.get("KEEP_TEST_LOGS") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(session_dir: Path) -> Iterator[SeaweedFS]:
    server = SeaweedFS(session_dir / "seaweedfs")
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class S3Bucket:
    """The packages storage of one test on the session's S3 server: its bucket, and a
    boto3 client to look inside it."""

    name: str
    client: Any


@pytest.fixture
def s3_packages(settings: Any, s3: SeaweedFS, packages_dir: Path) -> Iterator[S3Bucket]:
    """The packages storage on a bucket of its own on the session's S3 server, configured
    exactly as production's (config.settings.s3_packages_storage). Emptied and deleted after
    the test: SeaweedFS gives each bucket volumes of its own, and runs out after a few."""
    name = f"wheelhouse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    settings.S3_BUCKET = name
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": s3_packages_storage(
            bucket=name,
            endpoint_url=s3.endpoint,
            access_key=S3_ACCESS_KEY,
            secret_key=S3_SECRET_KEY,
        ),
    }
    bucket = S3Bucket(name=name, client=s3.client())
    yield bucket
    bucket_delete(bucket.client, name)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new PostgreSQL database beside DATABASE_URL's, dropped afterwards."""
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not base.startswith(("postgres://", "postgresql://")):
        pytest.fail(f"the live stack needs PostgreSQL; DATABASE_URL is {base!r}")
    with private_database("wheelhouse_live", base) as url:
        yield url


@pytest.fixture(scope="session")
def live_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the live server, dropped after the run."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def services_stack(
    session_dir: Path, s3: SeaweedFS, live_database_url: str
) -> Iterator[ServicesStack]:
    stack = ServicesStack(
        session_dir / "services",
        database_url=live_database_url,
        redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        s3=s3,
    )
    with running(stack):
        yield stack


@pytest.fixture(scope="session")
def embedded_stack(session_dir: Path) -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack(session_dir / "embedded")
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(params=["services", "embedded"])
def stack(request: pytest.FixtureRequest) -> LiveStack:
    """Each test using this runs on production's parts and on the embedded default."""
    return request.getfixturevalue(f"{request.param}_stack")
