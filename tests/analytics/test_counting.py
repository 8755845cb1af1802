"""Downloads are counted per file, version, key and installer, in memory on the download path
(no query: the warm budgets of tests/registry/test_hot_path.py hold) and added to daily rows
when flushed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from analytics.models import DailyDownloads
from core import downloads
from registry.models import File
from registry.services import repository_create
from registry.services import repository_delete
from tests.analytics.user_agents import PDM
from tests.analytics.user_agents import PIP
from tests.analytics.user_agents import POETRY
from tests.analytics.user_agents import UV
from tests.artifacts import Package
from tests.world import Tenant
from tests.world import download
from tests.world import key_client
from tests.world import publish

pytestmark = pytest.mark.django_db


def file_url(file: File, repo: str = "main") -> str:
    return f"/acme/{repo}/files/{file.sha256}/{file.filename}"


def get(client: Client, url: str, user_agent: str) -> int:
    client.defaults["HTTP_USER_AGENT"] = user_agent
    return download(client, url)[0]


def counts(**filters: Any) -> dict[tuple[str, str, bool, str], int]:
    """(version, installer, metadata, python) -> downloads, over the rows the filters select."""
    found: dict[tuple[str, str, bool, str], int] = {}
    for row in DailyDownloads.objects.filter(**filters):
        name = (row.version, row.installer, row.metadata, row.python)
        found[name] = found.get(name, 0) + row.count
    return found


def test_each_download_is_counted_under_its_version_key_and_installer(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    old = publish(tenant.repository, Package("demo", "1.0"))
    new = publish(tenant.repository, Package("demo", "1.1"))
    client = key_client(tenant.token)
    assert get(client, file_url(old), PIP) == 200
    # Warm now: counting adds no query to the hot path.
    with django_assert_num_queries(0):
        assert get(client, file_url(old), PIP) == 200
    assert get(client, file_url(new) + ".metadata", UV) == 200
    assert get(client, file_url(new), UV) == 200
    assert get(client, file_url(new), POETRY) == 200
    assert get(client, file_url(new), PDM) == 200
    assert get(client, file_url(new), "curl/8.5.0") == 200
    # Not installs: a HEAD, a revalidation, a range (a resumed download), a refusal.
    client.defaults["HTTP_USER_AGENT"] = PIP
    assert client.head(file_url(new)).status_code == 200
    assert client.get(file_url(new), HTTP_IF_NONE_MATCH=f'"{new.sha256}"').status_code == 304
    client.defaults["HTTP_RANGE"] = "bytes=10-"
    assert download(client, file_url(new))[0] == 206
    del client.defaults["HTTP_RANGE"]
    assert get(client, f"/acme/main/files/{'0' * 64}/{new.filename}", PIP) == 404
    assert DailyDownloads.objects.count() == 0  # nothing written before a flush

    downloads.flush()

    assert counts(project="demo") == {
        ("1.0", "pip", False, "3.11.7"): 2,
        ("1.1", "uv", True, "3.11.7"): 1,
        ("1.1", "uv", False, "3.11.7"): 1,
        ("1.1", "poetry", False, "3.11.7"): 1,
        ("1.1", "pdm", False, "3.11.7"): 1,
        ("1.1", "other", False, ""): 1,
    }
    key = ApiKey.objects.get(name="ci")
    row = DailyDownloads.objects.get(version="1.0", installer="pip")
    assert (row.key_id, row.filename, row.installer_version, row.system, row.cpu) == (
        key.pk, old.filename, "26.3", "Linux", "x86_64"
    )  # fmt: skip
    assert row.day == timezone.now().date()
    assert row.organization_id == tenant.repository.organization_id

    # A second flush adds to the same rows.
    assert get(client, file_url(old), PIP) == 200
    downloads.flush()
    assert counts(project="demo", version="1.0") == {("1.0", "pip", False, "3.11.7"): 3}
    assert DailyDownloads.objects.filter(version="1.0").count() == 1


def test_a_download_through_a_virtual_repository_counts_for_the_member_holding_it(
    tenant: Tenant,
) -> None:
    file = publish(tenant.repository, Package("demo", "1.0"))
    repository_create(
        organization=tenant.repository.organization, actor=tenant.owner, slug="all",
        kind="virtual", members=["main"],
    )  # fmt: skip
    assert get(key_client(tenant.token), file_url(file, "all"), UV) == 200
    downloads.flush()
    assert counts(repository=tenant.repository) == {("1.0", "uv", False, "3.11.7"): 1}


def test_counters_of_a_repository_deleted_before_the_flush_are_dropped_not_raised(
    tenant: Tenant,
) -> None:
    other = repository_create(
        organization=tenant.repository.organization, actor=tenant.owner, slug="other"
    )
    gone = publish(other, Package("gone", "1.0"))
    kept = publish(tenant.repository, Package("demo", "1.0"))
    client = key_client(tenant.token)
    assert get(client, file_url(gone, "other"), PIP) == 200
    assert get(client, file_url(kept), PIP) == 200
    repository_delete(repository=other, actor=tenant.owner, confirm_slug="other")

    downloads.flush()

    assert set(DailyDownloads.objects.values_list("project", "count")) == {("demo", 1)}


def test_counting_switched_off_counts_nothing(tenant: Tenant, settings: Any) -> None:
    settings.DOWNLOAD_COUNTING = False
    file = publish(tenant.repository, Package("demo", "1.0"))
    assert get(key_client(tenant.token), file_url(file), PIP) == 200
    downloads.flush()
    assert not DailyDownloads.objects.exists()
