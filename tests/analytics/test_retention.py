"""Retention over a generated history: the dry run (service, page, API, command) lists exactly
the files the policy deletes; applying it deletes exactly those, through the registry's
deletion (audited, filenames reserved), and only for who may."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.models import Membership
from accounts.models import Role
from accounts.models import User
from accounts.services import api_key_create
from analytics.models import RetentionPolicy
from analytics.retention import policy_plan
from analytics.retention import retention_apply_all
from analytics.retention import retention_policy_set
from core import downloads
from core.errors import Conflict
from registry.models import DeletedFilename
from registry.models import File
from registry.services import repository_create
from registry.services import repository_update
from tests.analytics.history import DAYS_OLD
from tests.analytics.history import DELETED
from tests.analytics.history import LONG_AGO_DOWNLOADED
from tests.analytics.history import POLICY
from tests.analytics.history import RECENTLY_DOWNLOADED
from tests.analytics.history import build_history
from tests.analytics.history import filenames
from tests.analytics.user_agents import PIP
from tests.artifacts import Package
from tests.world import Tenant
from tests.world import download
from tests.world import key_client
from tests.world import publish

pytestmark = pytest.mark.django_db

History = dict[tuple[str, str], list[File]]


def _download(tenant: Tenant, files: list[File]) -> None:
    client = key_client(tenant.token)
    client.defaults["HTTP_USER_AGENT"] = PIP
    for file in files:
        assert download(client, f"/acme/main/files/{file.sha256}/{file.filename}")[0] == 200
    downloads.flush()


@pytest.fixture
def history(tenant: Tenant) -> History:
    files = build_history(tenant.repository)
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        _download(tenant, [f for name in LONG_AGO_DOWNLOADED for f in files[name]])
    _download(tenant, [f for name in RECENTLY_DOWNLOADED for f in files[name]])
    return files


def _set(tenant: Tenant, actor: Any = None, **changes: Any) -> RetentionPolicy:
    return retention_policy_set(
        repository=tenant.repository,
        actor=actor or tenant.owner,
        **{"enabled": True, **POLICY, **changes},
    )


def _admin(tenant: Tenant) -> User:
    user = User.objects.create_user("admin@acme.test")
    Membership.objects.create(
        user=user, organization=tenant.repository.organization, role=Role.ADMIN
    )
    return user


def test_a_dry_run_lists_exactly_the_files_the_policy_would_delete(
    tenant: Tenant, history: History
) -> None:
    expected = filenames(history, DELETED)
    assert len(expected) == 8  # six releases, two with an sdist
    policy = _set(tenant, enabled=False)

    assert policy_plan(repository=tenant.repository, policy=policy).filenames == expected

    api = key_client(tenant.token).get("/api/v1/orgs/acme/repos/main/retention/dry-run/")
    assert api.status_code == 200, api.content
    assert api.json()["filenames"] == expected
    assert {(r["project"], r["version"]) for r in api.json()["releases"]} == DELETED

    out = io.StringIO()
    call_command("retention", "--dry-run", "--repository", "acme/main", stdout=out)
    assert sorted(line.split("\t")[1] for line in out.getvalue().splitlines()) == expected

    browser = Client()
    browser.force_login(tenant.owner)
    page = browser.get("/orgs/acme/repos/main/retention/").content.decode()
    listed = page[page.index('id="retention-dry-run"') :]
    assert all(f"<code>{name}</code>" in listed for name in expected)
    kept = filenames(history, set(DAYS_OLD) - DELETED)
    assert not any(f"<code>{name}</code>" in listed for name in kept)

    # A dry run deletes nothing, and a disabled policy is never applied.
    assert retention_apply_all() == {}
    assert File.objects.count() == sum(len(f) for f in history.values())


def test_applying_deletes_exactly_those_through_the_audited_registry_deletion(
    tenant: Tenant, history: History
) -> None:
    _set(tenant)
    all_files = {f.filename for made in history.values() for f in made}
    expected = filenames(history, DELETED)

    assert retention_apply_all() == {"acme/main": len(expected)}

    assert set(File.objects.values_list("filename", flat=True)) == all_files - set(expected)
    assert sorted(DeletedFilename.objects.values_list("filename", flat=True)) == expected
    deleted_releases = AuditEvent.objects.filter(action="release.delete")
    assert deleted_releases.count() == len(DELETED)
    assert {e.actor_label for e in deleted_releases} == {tenant.owner.email}
    summary = AuditEvent.objects.get(action="retention.apply")
    assert summary.details["files"] == expected
    policy = RetentionPolicy.objects.get()
    assert policy.last_run_outcome == f"Deleted {len(expected)} files."
    # Installers are answered 404 for what went, as before for what stays.
    client = key_client(tenant.token)
    for (name, version), made in history.items():
        status = 404 if (name, version) in DELETED else 200
        for f in made:
            assert download(client, f"/acme/main/files/{f.sha256}/{f.filename}")[0] == status
    # Run again: nothing more goes.
    assert retention_apply_all() == {"acme/main": 0}


def test_the_policy_is_set_by_owners_admins_or_keys_with_both_scopes_and_audited(
    tenant: Tenant,
) -> None:
    organization = tenant.repository.organization
    member = User.objects.create_user("member@acme.test")
    Membership.objects.create(user=member, organization=organization, role=Role.MEMBER)
    with pytest.raises(PermissionDenied):
        _set(tenant, actor=member)
    only_delete = api_key_create(
        organization=organization, name="d", scope="upload", management_scopes=["delete"]
    )
    with pytest.raises(PermissionDenied):
        _set(tenant, actor=only_delete.api_key)
    both = api_key_create(
        organization=organization, name="both", scope="upload",
        management_scopes=["delete", "manage:repositories"],
    )  # fmt: skip
    assert _set(tenant, actor=both.api_key).updated_by_key == both.api_key
    _set(tenant, actor=_admin(tenant), keep_finals=5)
    event = AuditEvent.objects.filter(action="retention.set").latest("pk")
    assert event.details["keep_finals"] == 5
    assert event.actor_label == "admin@acme.test"

    with pytest.raises(ValidationError, match="between 1"):
        _set(tenant, keep_finals=0)
    proxy = repository_create(
        organization=organization, actor=tenant.owner, slug="mirror", kind="proxy",
        upstream_url="https://pypi.org/simple/",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="hosted repositories only"):
        retention_policy_set(
            repository=proxy, actor=tenant.owner, enabled=False, keep_finals=1,
            prerelease_days=None, protect_downloaded_days=0,
        )  # fmt: skip
    repository_update(repository=tenant.repository, actor=tenant.owner, allow_file_deletion=False)
    with pytest.raises(Conflict, match="does not allow deleting files"):
        _set(tenant)


def test_a_policy_whose_author_may_no_longer_delete_is_not_applied(
    tenant: Tenant, history: History
) -> None:
    admin = _admin(tenant)
    _set(tenant, actor=admin)
    Membership.objects.filter(user=admin).update(role=Role.MEMBER)

    assert retention_apply_all() == {}

    assert File.objects.count() == sum(len(f) for f in history.values())
    assert RetentionPolicy.objects.get().last_run_outcome.startswith("Not applied:")


def test_the_api_sets_and_reads_the_policy_with_clear_refusals(tenant: Tenant) -> None:
    client = key_client(tenant.token)
    url = "/api/v1/orgs/acme/repos/main/retention/"
    unset = client.get(url).json()
    assert (unset["enabled"], unset["keep_finals"], unset["prerelease_days"]) == (False, None, None)
    body = json.dumps({"enabled": True, **POLICY})
    refused = client.put(url, body, content_type="application/json")
    assert refused.status_code == 403  # an upload key: no manage:repositories, no delete
    admin = Client()
    admin.force_login(tenant.owner)
    saved = admin.put(url, body, content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert client.get(url).json()["keep_finals"] == 2
    bad = admin.put(url, json.dumps({**POLICY, "enabled": True, "keep_finals": 0}),
                    content_type="application/json")  # fmt: skip
    assert bad.status_code == 400
    assert "keep_finals" in bad.json()["error"]["fields"]


def test_a_dry_run_costs_the_same_queries_whatever_the_history(
    tenant: Tenant, history: History, django_assert_num_queries: Any
) -> None:
    policy = _set(tenant, enabled=False)
    with django_assert_num_queries(4):  # downloads, then projects, releases and files at once
        small = policy_plan(repository=tenant.repository, policy=policy)
    for minor in range(8):
        publish(tenant.repository, Package("more-history", f"0.{minor}.dev1"))
    with django_assert_num_queries(4):
        larger = policy_plan(repository=tenant.repository, policy=policy)
    assert set(small.filenames) <= set(larger.filenames)
