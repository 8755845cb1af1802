from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import Organization
from accounts.models import User
from accounts.services import api_key_authenticate
from accounts.services import api_key_create
from accounts.services import api_key_issue
from accounts.services import api_key_revoke
from accounts.services import api_key_rotate
from accounts.services import organization_get_or_create
from tests.world import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def organization():
    owner = User.objects.create_user("owner@acme.test")
    return organization_get_or_create(slug="acme", name="Acme", owner=owner)


def test_it_authenticates_the_token_it_issued(organization) -> None:
    new = api_key_create(organization=organization, name="ci")
    assert new.token.startswith("whk_")
    assert api_key_authenticate(new.token) == new.api_key
    assert api_key_authenticate(f"  {new.token}\n") == new.api_key


def test_its_tokens_have_the_documented_shape(organization) -> None:
    """`whk_<public id>_<secret>`, the public id 12 lowercase letters and digits (what secret
    scanners are told to match, and what the dashboard's key URLs carry)."""
    for n in range(20):
        new = api_key_create(organization=organization, name=f"ci-{n}")
        assert re.fullmatch(r"whk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", new.token), new.token
        assert new.token.split("_")[1] == new.api_key.public_id


def test_it_authenticates_a_token_whose_secret_holds_underscores(
    organization: Organization,
) -> None:
    """Secrets are URL-safe base64, so about half of them hold an `_`: the token is split at
    its first `_` after the prefix, the one that ends the public id."""
    for n in range(100):
        new = api_key_create(organization=organization, name=f"ci-{n}")
        if "_" in new.token.split("_", 2)[2]:
            break
    else:
        pytest.fail("no secret with an underscore in 100 keys")
    assert api_key_authenticate(new.token) == new.api_key


def test_it_stores_no_recoverable_form_of_the_secret(organization) -> None:
    new = api_key_create(organization=organization, name="ci")
    secret = new.token.split("_", 2)[2]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")  # noqa: S608 - our own table
        rows = cursor.fetchall()
    dump = repr(rows)
    assert new.api_key.public_id in dump  # the search does see the row
    assert secret not in dump
    assert secret[:16] not in dump


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the secret
        lambda t: t.replace("whk_", "pkr_"),  # another prefix
        lambda t: "_".join(t.split("_", 2)[:2]),  # no secret
        lambda t: "",
    ],
    ids=["wrong secret", "wrong prefix", "no secret", "empty"],
)
def test_it_refuses_a_mangled_token(organization, mangle) -> None:
    new = api_key_create(organization=organization, name="ci")
    assert api_key_authenticate(mangle(new.token)) is None


def test_it_refuses_a_revoked_key(organization) -> None:
    new = api_key_create(organization=organization, name="ci")
    ApiKey.objects.filter(pk=new.api_key.pk).update(revoked_at=timezone.now())
    assert api_key_authenticate(new.token) is None


def test_it_refuses_an_expired_key_and_accepts_one_not_yet_expired(organization) -> None:
    past = api_key_create(
        organization=organization, name="old", expires_at=timezone.now() + timedelta(seconds=1)
    )
    ApiKey.objects.filter(pk=past.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    future = api_key_create(
        organization=organization, name="new", expires_at=timezone.now() + timedelta(days=1)
    )
    assert api_key_authenticate(past.token) is None
    assert api_key_authenticate(future.token) == future.api_key


def test_it_records_when_a_key_was_last_used(organization) -> None:
    new = api_key_create(organization=organization, name="ci")
    assert new.api_key.last_used_at is None
    api_key_authenticate(new.token)
    new.api_key.refresh_from_db()
    assert new.api_key.last_used_at is not None


def test_a_person_issues_organization_keys_and_personal_keys_as_their_role_allows(
    world: World,
) -> None:
    admin, reader = world.users["admin"], world.users["reader"]
    shared = api_key_issue(
        actor=admin, organization=world.org_a, name="ci", scope="upload", personal=False,
        source_ip="192.0.2.4",
    )  # fmt: skip
    # An organization key outlives the person who made it: it is nobody's.
    assert (shared.api_key.user, shared.api_key.created_by) == (None, admin)
    event = AuditEvent.objects.filter(action="api_key.create").latest("pk")
    assert (event.actor_user, event.source_ip) == (admin, "192.0.2.4")
    mine = api_key_issue(
        actor=reader, organization=world.org_a, name="laptop", scope="read", personal=True
    )
    assert mine.api_key.user == reader
    with pytest.raises(PermissionDenied, match=r"^A reader cannot create a key with the 'upload'"):
        api_key_issue(
            actor=reader, organization=world.org_a, name="x", scope="upload", personal=True
        )
    with pytest.raises(PermissionDenied, match=r"^You are not a member of this organization\.$"):
        api_key_issue(
            actor=world.users["b_member"], organization=world.org_a, name="x", scope="read",
            personal=True,
        )  # fmt: skip


def test_it_limits_a_key_only_to_its_own_organizations_repositories(world: World) -> None:
    with pytest.raises(ValidationError) as refused:
        api_key_create(organization=world.org_a, name="ci", repositories=[world.repo_b])
    assert refused.value.messages == [
        "A key can only be limited to its own organization's repositories."
    ]
    assert not ApiKey.objects.filter(name="ci").exists()


def test_a_new_keys_audit_event_records_what_it_may_do(world: World) -> None:
    new = api_key_create(
        organization=world.org_a, name="ci", scope="upload", repositories=[world.repo_a],
        upload_project="acme-lib", created_by=world.users["owner"],
    )  # fmt: skip
    event = AuditEvent.objects.get(action="api_key.create", target=f"key {new.api_key.public_id}")
    assert event.details == {
        "name": "ci", "scope": "upload", "personal": False, "all_repositories": False,
        "repositories": [world.repo_a.slug], "expires_at": None, "allowed_networks": [],
        "upload_project": "acme-lib",
    }  # fmt: skip


def test_a_new_keys_audit_event_records_its_management_scopes_expiry_and_networks(
    world: World,
) -> None:
    expires_at = timezone.now() + timedelta(days=30)
    new = api_key_create(
        organization=world.org_a, name="laptop", scope="read", user=world.users["admin"],
        management_scopes=["manage:keys", "yank"], expires_at=expires_at,
        allowed_networks=[" 10.0.0.0/8 ", "", "192.0.2.0/24"],
    )  # fmt: skip
    event = AuditEvent.objects.get(action="api_key.create", target=f"key {new.api_key.public_id}")
    assert event.details == {
        "name": "laptop", "scope": "read", "management_scopes": ["manage:keys", "yank"],
        "personal": True, "all_repositories": True, "repositories": [],
        "expires_at": expires_at.isoformat(), "allowed_networks": ["10.0.0.0/8", "192.0.2.0/24"],
    }  # fmt: skip


def test_a_key_a_person_issues_uploads_to_any_project(world: World) -> None:
    new = api_key_issue(
        actor=world.users["owner"], organization=world.org_a, name="ci", scope="upload",
        personal=False,
    )  # fmt: skip
    assert new.api_key.upload_project == ""
    event = AuditEvent.objects.get(action="api_key.create", target=f"key {new.api_key.public_id}")
    assert "upload_project" not in event.details


def test_it_lets_a_member_manage_no_key_but_their_own_personal_one(world: World) -> None:
    """The pages and the API show such a member only their own personal keys; the services
    hold the same line for any caller that found a key some other way."""
    member = world.users["member"]
    for name in ("upload", "demoted"):  # the organization's key, another member's personal key
        key = ApiKey.objects.get(name=name)
        for manage in (api_key_revoke, api_key_rotate):
            with pytest.raises(PermissionDenied) as refused:
                manage(api_key=key, actor=member)
            assert str(refused.value) == "You may not manage this key."
        key.refresh_from_db()
        assert key.revoked_at is None
