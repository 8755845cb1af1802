"""Organization quotas at upload, in-process: a file past the storage or file-size quota is
refused with the limit and the use in its one line, nothing is stored or recorded, and the
same upload goes through once the operator raises the quota."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent
from accounts.models import Organization
from registry.models import File
from registry.quotas import parse_size
from registry.quotas import quota_set
from registry.quotas import size_text
from registry.quotas import storage_used
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.world import Tenant
from tests.world import key_client
from tests.world import publish
from tests.world import stored_files

pytestmark = pytest.mark.django_db(transaction=True)

REST_UPLOAD = "/api/v1/orgs/acme/repos/main/files/"


def _wheel(version: str) -> Upload:
    package = Package("demo", version)
    return Upload(wheel_filename(package), wheel_bytes(package), name="demo", version=version)


def _state(packages_dir: Path) -> tuple[int, list[Path]]:
    return File.objects.count(), sorted(stored_files(packages_dir))


@pytest.mark.parametrize("url", [None, REST_UPLOAD], ids=["legacy", "rest"])
def test_an_upload_past_the_storage_quota_is_refused_then_let_through_when_raised(
    tenant: Tenant, packages_dir: Path, url: str | None
) -> None:
    organization = tenant.repository.organization
    publish(tenant.repository, Package("demo", "1.0"))
    used = storage_used(organization.pk)
    upload = _wheel("2.0")
    # Room for a file a byte smaller than this one.
    quota_set(organization=organization, storage=used + len(upload.data) - 1)
    before = _state(packages_dir)

    refused = tenant.post(upload, url=url, accept="application/json")

    assert refused.status_code == 413, refused.content
    body = json.loads(refused.content)
    # The legacy endpoint answers as PyPI does, the REST API in its own error shape.
    message = body["message"] if url is None else body["error"]["message"]
    assert message.startswith("Storage quota exceeded: organization 'acme' may store ")
    quota = used + len(upload.data) - 1
    assert message == (
        f"Storage quota exceeded: organization 'acme' may store {size_text(quota)} and uses "
        f"{size_text(used)}; this file is {size_text(len(upload.data))}."
    )
    assert _state(packages_dir) == before

    quota_set(organization=organization, storage=used + len(upload.data))
    accepted = tenant.post(upload, url=url)

    assert accepted.status_code in {200, 201}, accepted.content
    assert File.objects.filter(filename=upload.filename).exists()
    assert storage_used(organization.pk) == used + len(upload.data)


def test_twine_reads_the_refusal_in_the_reason_phrase(tenant: Tenant) -> None:
    quota_set(organization=tenant.repository.organization, storage=500)
    refused = tenant.post(_wheel("1.0"))
    assert refused.status_code == 413
    assert refused.reason_phrase.startswith(
        "Storage quota exceeded: organization 'acme' may store 500 bytes and uses 0 bytes;"
    )


def test_a_file_past_the_organizations_file_size_quota_is_refused(
    tenant: Tenant, packages_dir: Path
) -> None:
    quota_set(organization=tenant.repository.organization, file_size=512)
    refused = tenant.post(_wheel("1.0"))
    assert refused.status_code == 413
    assert refused.reason_phrase == (
        "File too large. Limit for organization 'acme' is 512 bytes per file (its file-size quota)."
    )
    assert _state(packages_dir) == (0, [])
    # A repository's own, lower limit is the one named.
    tenant.repository.max_file_size = 300
    tenant.repository.save()
    refused = tenant.post(_wheel("1.0"))
    assert refused.reason_phrase == "File too large. Limit for repository 'acme/main' is 300 bytes."


def test_a_rejected_file_counts_for_nothing(tenant: Tenant) -> None:
    organization = tenant.repository.organization
    kept = publish(tenant.repository, Package("demo", "1.0"))
    File.objects.filter(pk=kept.pk).update(status="rejected")
    assert storage_used(organization.pk) == 0


def test_the_operator_sets_shows_and_clears_quotas_with_the_command(tenant: Tenant) -> None:
    out = _command("--org", "acme", "--storage", "10GB", "--file-size", "200MB")
    assert out == {
        "organization": "acme", "storage_quota": 10 * 1024**3,
        "max_file_size": 200 * 1024**2, "storage_used": 0,
    }  # fmt: skip
    out = _command("--org", "acme", "--storage", "none")
    assert (out["storage_quota"], out["max_file_size"]) == (None, 200 * 1024**2)
    organization = Organization.objects.get(slug="acme")
    assert organization.storage_quota is None
    audit = AuditEvent.objects.filter(action="organization.quota").order_by("pk")
    assert [e.details["after"] for e in audit] == [
        {"storage_quota": 10 * 1024**3, "max_file_size": 200 * 1024**2},
        {"storage_quota": None},
    ]


def _command(*args: str) -> Any:
    out = StringIO()
    call_command("quota", *args, stdout=out)
    return json.loads(out.getvalue())


def test_sizes_read_as_people_write_them() -> None:
    assert parse_size("10GB") == 10 * 1024**3
    assert parse_size("1.5 g") == int(1.5 * 1024**3)
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError, match="not a size"):
        parse_size("ten gigs")


def test_the_api_shows_limits_and_use(tenant: Tenant) -> None:
    publish(tenant.repository, Package("demo", "1.0"))
    quota_set(organization=tenant.repository.organization, storage=10**9)
    body = key_client(tenant.token).get("/api/v1/orgs/acme/quota/").json()
    assert body == {
        "storage_limit": 10**9,
        "storage_used": storage_used(tenant.repository.organization.pk),
        "file_size_limit": None,
    }
