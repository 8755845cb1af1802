"""API keys through the API: the secret once, last use, rotation and revocation."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.models import AuditEvent
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db


def _with_key(token: str) -> Client:
    return Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_shows_a_new_keys_secret_once_and_the_key_works(world: World) -> None:
    admin = as_actor(world, "admin")
    created = admin.post(
        "orgs/acme/keys/", {"name": "ci", "scope": "upload", "repositories": ["other"]}
    )
    body = created.json()
    assert created.status_code == 201
    assert body["token"].startswith(f"whk_{body['public_id']}_")
    assert body["repositories"] == ["other"]
    assert body["last_used_at"] is None
    listed = admin.get("orgs/acme/keys/").json()["results"]
    assert "token" not in next(k for k in listed if k["public_id"] == body["public_id"])
    key_client = _with_key(body["token"])
    assert key_client.get("/api/v1/orgs/acme/repos/other/").status_code == 200
    assert key_client.get("/api/v1/orgs/acme/repos/main/").status_code == 404
    used = admin.get(f"orgs/acme/keys/{body['public_id']}/").json()
    assert used["last_used_at"] is not None


def test_it_lets_members_make_personal_keys_within_their_role(world: World) -> None:
    reader = as_actor(world, "reader")
    personal = reader.post("orgs/acme/keys/", {"name": "mine", "personal": True, "scope": "read"})
    too_much = reader.post("orgs/acme/keys/", {"name": "up", "personal": True, "scope": "upload"})
    org_key = reader.post("orgs/acme/keys/", {"name": "org", "scope": "read"})
    assert personal.status_code == 201
    assert personal.json()["user"] == "reader@acme.test"
    assert too_much.status_code == org_key.status_code == 403
    visible = [k["name"] for k in reader.get("orgs/acme/keys/").json()["results"]]
    assert visible == ["mine"]


def test_it_refuses_limiting_a_key_to_a_foreign_repository(world: World) -> None:
    response = as_actor(world, "owner").post(
        "orgs/acme/keys/", {"name": "x", "repositories": ["main", "missing"]}
    )
    assert response.status_code == 404
    assert not ApiKey.objects.filter(name="x").exists()


def test_it_rotates_a_key_so_only_the_new_secret_works(world: World) -> None:
    owner = as_actor(world, "owner")
    public_id = ApiKey.objects.get(name="upload").public_id
    rotated = owner.post(f"orgs/acme/keys/{public_id}/rotate/")
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["public_id"] != public_id
    assert _with_key(world.tokens["key_upload"]).get("/api/v1/user/").status_code == 401
    assert _with_key(new["token"]).get("/api/v1/user/").status_code == 200
    again = owner.post(f"orgs/acme/keys/{public_id}/rotate/")
    assert again.status_code == 400
    assert "revoked" in error(again)["message"]


def test_each_refusal_to_rotate_says_why(world: World) -> None:
    owner = as_actor(world, "owner")

    def refusal(name: str) -> tuple[int, str]:
        public_id = ApiKey.objects.get(name=name).public_id
        response = owner.post(f"orgs/acme/keys/{public_id}/rotate/")
        return response.status_code, error(response)["message"]

    assert refusal("personal") == (
        403,
        "Only its own user can rotate a personal key; you can revoke it.",
    )
    assert refusal("expired") == (400, "This key has expired; create a new one instead.")
    assert refusal("revoked") == (400, "This key is revoked; create a new one instead.")
    missing = owner.post("orgs/acme/keys/nosuchkey000/rotate/")
    assert (missing.status_code, error(missing)["message"]) == (404, "API key not found.")


def test_it_revokes_a_key_at_once(world: World) -> None:
    public_id = ApiKey.objects.get(name="read").public_id
    revoked = as_actor(world, "admin").delete(f"orgs/acme/keys/{public_id}/")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert _with_key(world.tokens["key_read"]).get("/api/v1/user/").status_code == 401


def test_it_hides_other_keys_from_members_and_keys(world: World) -> None:
    public_id = ApiKey.objects.get(name="upload").public_id
    assert as_actor(world, "member").delete(f"orgs/acme/keys/{public_id}/").status_code == 404
    assert as_actor(world, "key_read").get(f"orgs/acme/keys/{public_id}/").status_code == 404
    assert as_actor(world, "b_member").get(f"orgs/acme/keys/{public_id}/").status_code == 404
    itself = as_actor(world, "key_upload")
    assert itself.get(f"orgs/acme/keys/{public_id}/").status_code == 200
    refused = itself.delete(f"orgs/acme/keys/{public_id}/")
    assert refused.status_code == 403
    # A key is told which scope it lacks.
    assert error(refused)["message"] == "This API key lacks the manage:keys scope."
    assert ApiKey.objects.get(public_id=public_id).revoked_at is None


def test_it_lists_active_keys_newest_first_then_the_revoked(world: World) -> None:
    """Keys made in one instant (a script's batch) keep the order they were made in."""
    now = ApiKey.objects.get(name="read").created_at
    ApiKey.objects.filter(name__in=["upload", "limited"]).update(created_at=now)
    listed = as_actor(world, "owner").get("orgs/acme/keys/", {"page_size": 50}).json()
    assert [k["name"] for k in listed["results"]] == [
        "demoted-admin", "admin-all", "scope manage:webhooks", "scope delete", "scope yank",
        "scope manage:members", "scope manage:keys", "scope manage:repositories", "left",
        "demoted", "personal",
        "network", "expired", "no-repos", "read", "upload", "limited", "revoked",
    ]  # fmt: skip


def test_a_revocation_is_audited_once_and_never_moves(world: World) -> None:
    """Revoking a revoked key changes nothing: not its revocation time, not the log."""
    public_id = ApiKey.objects.get(name="read").public_id
    admin = Client(REMOTE_ADDR="192.0.2.44")
    admin.force_login(world.users["admin"])
    first = admin.delete(f"/api/v1/orgs/acme/keys/{public_id}/").json()["revoked_at"]
    again = admin.delete(f"/api/v1/orgs/acme/keys/{public_id}/").json()["revoked_at"]
    assert again == first
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2  # and "revoked"
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert (event.organization, event.actor_user, event.target, event.source_ip) == (
        world.org_a,
        world.users["admin"],
        f"key {public_id}",
        "192.0.2.44",
    )
    assert event.details == {"name": "read"}


def test_a_rotation_is_audited_with_who_from_where_and_the_new_key(world: World) -> None:
    public_id = ApiKey.objects.get(name="read").public_id
    admin = Client(REMOTE_ADDR="192.0.2.45")
    admin.force_login(world.users["admin"])
    rotated = admin.post(f"/api/v1/orgs/acme/keys/{public_id}/rotate/")
    assert rotated.status_code == 201
    new_id = rotated.json()["public_id"]
    event = AuditEvent.objects.get(action="api_key.rotate")
    assert (event.organization, event.actor_user, event.target, event.source_ip) == (
        world.org_a,
        world.users["admin"],
        f"key {public_id}",
        "192.0.2.45",
    )
    assert event.details == {"name": "read", "replaced_by": new_id}
    created = AuditEvent.objects.get(action="api_key.create", target=f"key {new_id}")
    assert (created.actor_user, created.source_ip) == (world.users["admin"], "192.0.2.45")


def test_a_member_revokes_and_rotates_their_own_personal_key(world: World) -> None:
    """Managing keys is for owners and admins, but a personal key is its user's to end."""
    public_id = ApiKey.objects.get(name="personal").public_id
    member = as_actor(world, "member")
    rotated = member.post(f"orgs/acme/keys/{public_id}/rotate/")
    assert rotated.status_code == 201
    new_id = rotated.json()["public_id"]
    revoked = member.delete(f"orgs/acme/keys/{new_id}/")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
