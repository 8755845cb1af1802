"""Management scopes: a key never makes a key with more than it has, and a personal key is
bounded by its user's role as it is now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Role
from accounts.network import networks_within
from accounts.permissions import Action
from accounts.permissions import can
from accounts.services import api_key_create
from accounts.services import api_key_issue
from accounts.services import api_key_rotate
from accounts.services import invitation_create
from accounts.services import membership_set_role
from publishing.services import publisher_create
from registry.services import repository_create
from tests.world import World

pytestmark = pytest.mark.django_db


def _parent(world: World, scopes: tuple[str, ...] = (ManagementScope.MANAGE_KEYS,)) -> ApiKey:
    """An upload key with manage:keys, limited to A/main, expiring in a day, from 10/8."""
    made = api_key_create(
        organization=world.org_a, name="parent", scope=KeyScope.UPLOAD,
        management_scopes=scopes, repositories=[world.repo_a],
        expires_at=timezone.now() + timedelta(days=1), allowed_networks=["10.0.0.0/8"],
    )  # fmt: skip
    return made.api_key


def _issue(parent: ApiKey, world: World, **kw: object) -> ApiKey:
    args: dict[str, object] = {
        "name": "child", "scope": KeyScope.READ, "personal": False,
        "repositories": [world.repo_a], "expires_at": parent.expires_at,
        "allowed_networks": ["10.1.0.0/16"],
    }  # fmt: skip
    return api_key_issue(actor=parent, organization=world.org_a, **(args | kw)).api_key  # type: ignore[arg-type]


def test_it_lets_a_key_make_a_key_within_what_it_has(world: World) -> None:
    parent = _parent(world)
    child = _issue(parent, world, scope=KeyScope.UPLOAD)
    assert child.scopes == {"read", "upload"}
    assert [r.slug for r in child.repositories.all()] == ["main"]
    assert (child.expires_at, child.allowed_networks) == (parent.expires_at, ["10.1.0.0/16"])
    event = AuditEvent.objects.get(action="api_key.create", target=f"key {child.public_id}")
    assert event.actor_api_key == parent
    assert event.actor_label == f"key {parent.public_id}"


REPOSITORIES = "This API key cannot grant repositories it does not cover."
EXPIRY = "This API key expires at {expires_at}; a key it makes must expire no later."
NETWORKS = (
    "This API key is limited to some networks; a key it makes must be limited to networks "
    "inside them."
)


@pytest.mark.parametrize(
    ("wider", "message"),
    [
        ({"management_scopes": ["yank"]}, "This API key lacks the yank scope; it cannot grant it."),
        ({"repositories": None}, REPOSITORIES),
        ({"repositories": "other"}, REPOSITORIES),
        ({"expires_at": None}, EXPIRY),
        ({"expires_at": "later"}, EXPIRY),
        ({"allowed_networks": []}, NETWORKS),
        ({"allowed_networks": ["0.0.0.0/0"]}, NETWORKS),
        ({"allowed_networks": ["10.1.0.0/16", "11.0.0.0/8"]}, NETWORKS),
    ],
    ids=["scope", "all-repos", "other-repo", "no-expiry", "later", "anywhere", "wider", "one-out"],
)
def test_it_never_lets_a_key_make_a_key_with_more_than_it_has(
    world: World, wider: dict[str, object], message: str
) -> None:
    """Each refusal says, word for word, which of its own limits the key would exceed."""
    parent = _parent(world)
    assert parent.expires_at is not None
    if wider.get("repositories") == "other":
        wider["repositories"] = [world.repo_a2]
    if wider.get("expires_at") == "later":
        wider["expires_at"] = parent.expires_at + timedelta(seconds=1)
    before = ApiKey.objects.count()
    with pytest.raises(PermissionDenied) as refused:
        _issue(parent, world, **wider)
    assert str(refused.value) == message.format(expires_at=parent.expires_at.isoformat())
    assert ApiKey.objects.count() == before


def test_a_key_limited_to_one_projects_uploads_passes_its_limit_on(world: World) -> None:
    parent = api_key_create(
        organization=world.org_a, name="parent", scope=KeyScope.UPLOAD,
        management_scopes=[ManagementScope.MANAGE_KEYS], upload_project="acme-lib",
    ).api_key  # fmt: skip
    child = _issue(parent, world, repositories=None, expires_at=None, allowed_networks=[])
    assert child.upload_project == "acme-lib"


def test_it_never_lets_a_key_rotate_a_key_with_more_than_it_has(world: World) -> None:
    rotator = api_key_create(
        organization=world.org_a, name="rotator", scope=KeyScope.UPLOAD,
        management_scopes=[ManagementScope.MANAGE_KEYS],
    ).api_key  # fmt: skip
    yanker = api_key_create(
        organization=world.org_a, name="yanker", scope=KeyScope.READ,
        management_scopes=[ManagementScope.YANK],
    ).api_key  # fmt: skip
    with pytest.raises(PermissionDenied, match="lacks the yank scope"):
        api_key_rotate(api_key=yanker, actor=rotator)
    yanker.refresh_from_db()
    assert yanker.revoked_at is None
    uploader = ApiKey.objects.get(organization=world.org_a, name="upload")
    new = api_key_rotate(api_key=uploader, actor=rotator)
    assert new.api_key.scopes == {"read", "upload"}
    assert new.api_key.created_by is None  # an organization key acted: no person made it
    # ... so the audit names the key that did: the rotation, and the new key's creation.
    made = AuditEvent.objects.get(action="api_key.create", target=f"key {new.api_key.public_id}")
    rotation = AuditEvent.objects.get(action="api_key.rotate", target=f"key {uploader.public_id}")
    assert (made.actor_api_key, rotation.actor_api_key) == (rotator, rotator)
    assert made.actor_label == rotation.actor_label == f"key {rotator.public_id}"


def test_a_key_that_expires_rotates_only_keys_that_expire_no_later(world: World) -> None:
    """Measured against the rotated key's own expiry, which the new secret keeps."""
    soon = timezone.now() + timedelta(days=1)
    rotator = api_key_create(
        organization=world.org_a, name="rotator", scope=KeyScope.UPLOAD,
        management_scopes=[ManagementScope.MANAGE_KEYS], expires_at=soon + timedelta(days=1),
    ).api_key  # fmt: skip
    sooner = api_key_create(organization=world.org_a, name="sooner", expires_at=soon).api_key
    new = api_key_rotate(api_key=sooner, actor=rotator)
    assert new.api_key.expires_at == soon
    never = ApiKey.objects.get(organization=world.org_a, name="read")
    with pytest.raises(PermissionDenied, match="a key it makes must expire no later"):
        api_key_rotate(api_key=never, actor=rotator)
    never.refresh_from_db()
    assert never.revoked_at is None


def test_a_key_limited_to_some_repositories_rotates_only_keys_within_them(world: World) -> None:
    rotator = api_key_create(
        organization=world.org_a, name="rotator", scope=KeyScope.READ,
        management_scopes=[ManagementScope.MANAGE_KEYS], repositories=[world.repo_a],
    ).api_key  # fmt: skip
    inside = api_key_create(
        organization=world.org_a, name="inside", repositories=[world.repo_a]
    ).api_key
    new = api_key_rotate(api_key=inside, actor=rotator)
    assert not new.api_key.all_repositories
    assert [r.pk for r in new.api_key.repositories.all()] == [world.repo_a.pk]
    everywhere = api_key_create(organization=world.org_a, name="everywhere").api_key
    with pytest.raises(PermissionDenied, match="cannot grant repositories it does not cover"):
        api_key_rotate(api_key=everywhere, actor=rotator)
    everywhere.refresh_from_db()
    assert everywhere.revoked_at is None


def test_it_refuses_key_management_to_a_key_without_the_scope(world: World) -> None:
    parent = _parent(world, scopes=(ManagementScope.YANK,))
    with pytest.raises(PermissionDenied, match="lacks the manage:keys scope"):
        _issue(parent, world)


def test_it_makes_a_personal_key_of_a_personal_keys_user_only(world: World) -> None:
    org_key = api_key_create(
        organization=world.org_a, name="org", scope=KeyScope.READ,
        management_scopes=[ManagementScope.MANAGE_KEYS],
    ).api_key  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        _issue(org_key, world, personal=True, repositories=None, expires_at=None,
               allowed_networks=[])  # fmt: skip
    assert refused.value.messages == ["An organization key has no user to make a personal key for."]
    admin_key = ApiKey.objects.get(name="admin-all")
    mine = _issue(admin_key, world, personal=True, repositories=None, expires_at=None)
    assert mine.user == world.users["admin"]


def test_it_lets_a_person_grant_only_the_scopes_of_their_role(world: World) -> None:
    member = world.users["member"]
    with pytest.raises(PermissionDenied, match="A member cannot create a key with the 'yank'"):
        api_key_issue(
            actor=member, organization=world.org_a, name="m", scope=KeyScope.UPLOAD,
            personal=True, management_scopes=[ManagementScope.YANK],
        )  # fmt: skip
    # Organization keys are made by key managers, and may hold any scope.
    made = api_key_issue(
        actor=world.users["admin"], organization=world.org_a, name="ops", scope=KeyScope.READ,
        personal=False, management_scopes=ManagementScope.values,
    ).api_key  # fmt: skip
    assert made.scopes == {"read", *ManagementScope.values}


def test_it_bounds_a_personal_key_by_its_users_role_as_it_is_now(world: World) -> None:
    """An admin's key with manage:members invites; the admin is made a member; the same key
    (as the next request loads it) is refused, though it still holds the scope."""
    key = ApiKey.objects.get(name="admin-all")
    invitation_create(
        organization=world.org_a, email="one@acme.test", role=Role.MEMBER, actor=key,
        base_url="http://testserver",
    )  # fmt: skip
    membership_set_role(
        membership=world.memberships["admin"], role=Role.MEMBER, actor=world.users["owner"]
    )
    key = ApiKey.objects.select_related("user", "organization").get(name="admin-all")
    assert ManagementScope.MANAGE_MEMBERS in key.scopes
    assert not can(key, Action.MANAGE_MEMBERS, world.org_a)
    with pytest.raises(PermissionDenied, match="personal API key's user may not manage/members"):
        invitation_create(
            organization=world.org_a, email="two@acme.test", role=Role.MEMBER, actor=key,
            base_url="http://testserver",
        )  # fmt: skip


def test_it_never_lets_a_key_touch_the_owner_role(world: World) -> None:
    key = ApiKey.objects.get(name="admin-all")
    with pytest.raises(PermissionDenied, match="API keys cannot manage/owners"):
        invitation_create(
            organization=world.org_a, email="boss@acme.test", role=Role.OWNER, actor=key,
            base_url="http://testserver",
        )  # fmt: skip


def test_it_refuses_unknown_scopes_on_a_key(world: World) -> None:
    with pytest.raises(ValidationError, match="Unknown scopes: admin"):
        api_key_create(organization=world.org_a, name="x", management_scopes=["admin"])


@pytest.mark.parametrize(
    ("networks", "bounds", "inside"),
    [
        (["10.1.0.0/16"], ["10.0.0.0/8"], True),
        (["10.1.2.3"], ["10.0.0.0/8", "192.168.0.0/16"], True),
        (["10.0.0.0/7"], ["10.0.0.0/8"], False),
        ([], ["10.0.0.0/8"], False),
        ([], [], True),
        (["0.0.0.0/0"], [], True),
        (["::1/128"], ["10.0.0.0/8"], False),
        (["not a network"], ["10.0.0.0/8"], False),
    ],
)
def test_it_knows_which_networks_lie_inside_others(
    networks: list[str], bounds: list[str], inside: bool
) -> None:
    assert networks_within(networks, bounds) is inside


def test_it_keeps_organization_wide_management_from_limited_keys(world: World) -> None:
    """Members are the organization's, and a virtual repository's members reach other
    repositories: a key limited to some repositories manages neither."""
    limited = api_key_create(
        organization=world.org_a, name="limited-ops", scope=KeyScope.UPLOAD,
        management_scopes=ManagementScope.values, repositories=[world.repo_a],
    ).api_key  # fmt: skip
    with pytest.raises(PermissionDenied, match="limited to some repositories cannot manage/repo"):
        repository_create(organization=world.org_a, actor=limited, slug="sneaky")
    with pytest.raises(PermissionDenied, match="limited to some repositories cannot manage/memb"):
        invitation_create(
            organization=world.org_a, email="x@acme.test", role=Role.MEMBER, actor=limited,
            base_url="http://testserver",
        )  # fmt: skip
    # Within its repository it still yanks, and it still makes keys within its own limits.
    assert can(limited, Action.YANK, world.org_a, world.repo_a)
    assert not can(limited, Action.YANK, world.org_a, world.repo_a2)
    child = _issue(limited, world, expires_at=None, allowed_networks=[])
    assert [r.slug for r in child.repositories.all()] == ["main"]


def test_it_lets_a_key_give_only_roles_it_could_act_as(world: World) -> None:
    """manage:members alone never reaches further: a key cannot invite (or promote to) a role
    with more than its scopes, and admins, who read the audit log, are made by people."""
    reader_key = api_key_create(
        organization=world.org_a, name="hr", scope=KeyScope.READ,
        management_scopes=[ManagementScope.MANAGE_MEMBERS],
    ).api_key  # fmt: skip
    invite = {"organization": world.org_a, "base_url": "http://testserver", "actor": reader_key}
    assert invitation_create(email="r@acme.test", role=Role.READER, **invite)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied, match="cannot give the member role: it lacks the upload"):
        invitation_create(email="m@acme.test", role=Role.MEMBER, **invite)  # type: ignore[arg-type]
    everything = ApiKey.objects.get(name="admin-all")
    with pytest.raises(PermissionDenied, match="cannot give the admin role: it could never act"):
        membership_set_role(
            membership=world.memberships["member"], role=Role.ADMIN, actor=everything
        )
    demoted = membership_set_role(
        membership=world.memberships["member"], role=Role.READER, actor=everything
    )
    assert demoted.role == Role.READER


def test_it_lets_no_key_add_a_trusted_publisher_without_the_upload_scope(world: World) -> None:
    """A publisher mints upload keys: adding one is uploading by other means."""
    no_upload = api_key_create(
        organization=world.org_a, name="config", scope=KeyScope.READ,
        management_scopes=[ManagementScope.MANAGE_REPOSITORIES],
    ).api_key  # fmt: skip
    with pytest.raises(PermissionDenied, match="read-only; it cannot upload"):
        publisher_create(
            repository=world.repo_a, actor=no_upload, kind="github",
            ci_repository="acme/app", workflow="release.yml",
        )  # fmt: skip
