"""Organizations, members, invitations, the audit log and usage through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.world import World

pytestmark = pytest.mark.django_db


def test_it_lists_only_the_callers_organizations_with_their_role(world: World) -> None:
    mine = as_actor(world, "admin").get("orgs/").json()["results"]
    theirs = as_actor(world, "b_member").get("orgs/").json()["results"]
    key = as_actor(world, "key_read").get("orgs/").json()["results"]
    assert [(o["slug"], o["role"]) for o in mine] == [("acme", "admin")]
    assert [(o["slug"], o["role"]) for o in theirs] == [("globex", "owner")]
    assert [(o["slug"], o["role"]) for o in key] == [("acme", None)]


def test_it_creates_an_organization_with_the_caller_as_owner(world: World) -> None:
    response = as_actor(world, "reader").post("orgs/", {"slug": "initech", "name": "Initech"})
    assert response.status_code == 201
    assert response.json()["role"] == "owner"
    organization = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=organization).user == world.users["reader"]


def test_it_refuses_a_taken_or_reserved_slug(world: World) -> None:
    api = as_actor(world, "owner")
    taken = api.post("orgs/", {"slug": "globex", "name": "Mine"})
    reserved = api.post("orgs/", {"slug": "api", "name": "Mine"})
    assert taken.status_code == reserved.status_code == 400
    assert "slug" in error(taken)["fields"]
    assert "reserved" in error(reserved)["message"]


def test_it_refuses_keys_creating_organizations(world: World) -> None:
    response = as_actor(world, "key_personal").post("orgs/", {"slug": "keyco", "name": "K"})
    assert response.status_code == 403
    assert "API keys cannot" in error(response)["message"]
    assert not Organization.objects.filter(slug="keyco").exists()


def test_it_renames_for_admins_and_refuses_members(world: World) -> None:
    refused = as_actor(world, "member").patch("orgs/acme/", {"name": "Nope"})
    renamed = as_actor(world, "admin").patch("orgs/acme/", {"name": "Acme Corp"})
    assert refused.status_code == 403
    assert renamed.status_code == 200
    assert Organization.objects.get(slug="acme").name == "Acme Corp"


def test_a_renamed_organization_answers_at_its_former_slug_and_says_until_when(
    world: World,
) -> None:
    # Another organization's former slug is its own business, never listed as acme's.
    globex = as_actor(world, "b_member").patch("orgs/globex/", {"slug": "globex-inc"}).json()
    assert [f["slug"] for f in globex["former_slugs"]] == ["globex"]
    admin = as_actor(world, "admin")
    renamed = admin.patch("orgs/acme/", {"slug": "acme-corp"}).json()
    assert [f["slug"] for f in renamed["former_slugs"]] == ["acme"]
    key = as_actor(world, "key_read")
    assert key.get("orgs/acme/repos/main/").json()["index_url"].endswith("/acme-corp/main/simple/")
    assert as_actor(world, "b_member").get("orgs/acme/").status_code == 404
    back = admin.patch("orgs/acme-corp/", {"slug": "acme"}).json()
    assert [f["slug"] for f in back["former_slugs"]] == ["acme-corp"]


def test_a_former_slug_stops_answering_people_and_keys_once_it_expires(world: World) -> None:
    as_actor(world, "admin").patch("orgs/acme/", {"slug": "acme-corp"})
    for actor in ("admin", "key_read"):
        assert as_actor(world, actor).get("orgs/acme/").json()["slug"] == "acme-corp"
    # Past the 90 days the former slug answered for, it is missing like any unknown slug.
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        for actor in ("admin", "key_read"):
            assert as_actor(world, actor).get("orgs/acme/").status_code == 404
            assert as_actor(world, actor).get("orgs/acme-corp/").status_code == 200


def test_it_deletes_an_organization_for_owners_only(world: World) -> None:
    assert as_actor(world, "admin").delete("orgs/acme/").status_code == 403
    assert as_actor(world, "b_member").delete("orgs/acme/").status_code == 404
    assert as_actor(world, "owner").delete("orgs/acme/").status_code == 204
    assert not Organization.objects.filter(slug="acme").exists()
    assert Organization.objects.filter(slug="globex").exists()


def test_it_changes_roles_and_keeps_the_last_owner(world: World) -> None:
    owner = as_actor(world, "owner")
    changed = owner.patch("orgs/acme/members/extra@acme.test/", {"role": "admin"})
    assert changed.json()["role"] == "admin"
    demote_self = owner.patch("orgs/acme/members/owner@acme.test/", {"role": "admin"})
    assert demote_self.status_code == 400
    assert "at least one owner" in error(demote_self)["message"]
    admin_grants_owner = as_actor(world, "admin").patch(
        "orgs/acme/members/extra@acme.test/", {"role": "owner"}
    )
    assert admin_grants_owner.status_code == 403
    assert Membership.objects.get(user=world.users["owner"]).role == Role.OWNER
    # Someone who is not a member is named in the 404, in the casing they were asked for.
    stranger = owner.patch("orgs/acme/members/Nobody@acme.test/", {"role": "admin"})
    assert stranger.status_code == 404
    assert error(stranger)["message"] == "No member 'Nobody@acme.test' in this organization."
    # The address is matched whatever its case.
    assert owner.get("orgs/acme/members/EXTRA@acme.test/").json()["role"] == "admin"


def test_it_removes_members_and_lets_members_leave(world: World) -> None:
    assert as_actor(world, "member").delete("orgs/acme/members/extra@acme.test/").status_code == 403
    assert as_actor(world, "admin").delete("orgs/acme/members/extra@acme.test/").status_code == 204
    assert (
        as_actor(world, "reader").delete("orgs/acme/members/reader@acme.test/").status_code == 204
    )
    emails = {m.user.email for m in Membership.objects.filter(organization=world.org_a)}
    assert "extra@acme.test" not in emails
    assert "reader@acme.test" not in emails
    last_owner = as_actor(world, "owner").delete("orgs/acme/members/owner@acme.test/")
    assert last_owner.status_code == 400


def test_it_invites_lists_and_revokes_invitations(world: World) -> None:
    admin = as_actor(world, "admin")
    created = admin.post("orgs/acme/invitations/", {"email": "New@Acme.test", "role": "reader"})
    assert created.status_code == 201
    # Another organization's invitation is its own business.
    globex = as_actor(world, "b_member").post("orgs/globex/invitations/", {"email": "x@b.test"})
    assert globex.status_code == 201
    assert created.json()["url"].startswith("http://localhost:8000/accounts/invitations/")
    listed = admin.get("orgs/acme/invitations/").json()["results"]
    assert {i["email"] for i in listed} == {"new@acme.test", "invitee@acme.test"}
    assert as_actor(world, "member").get("orgs/acme/invitations/").status_code == 403
    assert admin.delete("orgs/acme/invitations/new@acme.test/").status_code == 204
    listed = admin.get("orgs/acme/invitations/").json()["results"]
    assert [i["email"] for i in listed] == ["invitee@acme.test"]
    gone = admin.delete("orgs/acme/invitations/new@acme.test/")
    assert gone.status_code == 404
    assert error(gone)["message"] == "No pending invitation for 'new@acme.test'."
    # An accepted invitation is no longer pending.
    Invitation.objects.filter(email="invitee@acme.test").update(accepted_at=timezone.now())
    assert admin.get("orgs/acme/invitations/").json()["results"] == []


def test_it_builds_invitation_links_from_public_url_whatever_the_host(
    world: World, settings: Any
) -> None:
    """The link goes to the address the registry is published at, like the dashboard's, never
    to whatever Host the request named (any of ALLOWED_HOSTS, e.g. an internal name)."""
    settings.PUBLIC_URL = "https://packages.example.org"
    settings.ALLOWED_HOSTS = ["testserver", "internal.example"]
    admin = as_actor(world, "admin")
    for host in ("testserver", "internal.example"):
        invite = {"email": f"new-{len(host)}@acme.test"}
        created = admin.send("POST", "orgs/acme/invitations/", invite, HTTP_HOST=host)
        assert created.status_code == 201
        assert created.json()["url"].startswith(
            "https://packages.example.org/accounts/invitations/"
        )


def test_it_refuses_inviting_an_existing_member(world: World) -> None:
    response = as_actor(world, "owner").post(
        "orgs/acme/invitations/", {"email": "member@acme.test"}
    )
    assert response.status_code == 400
    assert "already a member" in error(response)["message"]
    assert mail.outbox == []


def test_it_filters_the_audit_log_for_owners_and_admins(world: World) -> None:
    owner = as_actor(world, "owner")
    owner.post("orgs/acme/repos/", {"slug": "audited"})
    by_action = owner.get("orgs/acme/audit/", {"action": "repository.create"}).json()["results"]
    assert by_action[0]["target"] == "repository acme/audited"
    assert by_action[0]["actor"] == "owner@acme.test"
    by_prefix = owner.get("orgs/acme/audit/", {"action": "api_key."}).json()["results"]
    assert by_prefix
    assert all(e["action"].startswith("api_key.") for e in by_prefix)
    by_actor = owner.get("orgs/acme/audit/", {"actor": "owner@"}).json()["results"]
    assert {e["actor"] for e in by_actor} == {"owner@acme.test"}
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert owner.get("orgs/acme/audit/", {"since": later}).json()["count"] == 0
    assert owner.get("orgs/acme/audit/", {"until": later}).json()["count"] == (
        AuditEvent.objects.filter(organization=world.org_a).count()
    )
    bad = owner.get("orgs/acme/audit/", {"since": "yesterday"})
    assert bad.status_code == 400
    assert list(error(bad)["fields"]) == ["since"]
    refused = as_actor(world, "member").get("orgs/acme/audit/")
    assert refused.status_code == 403
    assert error(refused)["message"] == "Only owners and admins can read the audit log."
    assert as_actor(world, "key_upload").get("orgs/acme/audit/").status_code == 403


def test_it_reports_usage_per_organization(world: World) -> None:
    usage = as_actor(world, "reader").get("orgs/acme/usage/").json()
    assert usage == {
        "storage_bytes": world.file.size,
        "file_count": 1,
        "project_count": 1,
        "release_count": 1,
        "repository_count": 2,
    }
    assert as_actor(world, "key_b").get("orgs/acme/usage/").status_code == 404


def test_it_reports_only_a_limited_keys_own_repositories_usage(world: World) -> None:
    """Security review L5: a key limited to acme/other (empty) learns nothing of acme/main."""
    usage = as_actor(world, "key_limited").get("orgs/acme/usage/").json()
    assert usage == {
        "storage_bytes": 0,
        "file_count": 0,
        "project_count": 0,
        "release_count": 0,
        "repository_count": 1,
    }
    everything = as_actor(world, "key_read").get("orgs/acme/usage/").json()
    assert (everything["file_count"], everything["repository_count"]) == (1, 2)


def test_it_shows_members_to_people_and_all_repository_keys_only(world: World) -> None:
    """Security review L5: who belongs to the organization is not a limited key's business."""
    email = world.extra_membership.user.email
    for actor in ("reader", "key_read", "key_personal"):
        assert as_actor(world, actor).get("orgs/acme/members/").status_code == 200, actor
        assert as_actor(world, actor).get(f"orgs/acme/members/{email}/").status_code == 200
    limited = as_actor(world, "key_limited")
    for path in ("orgs/acme/members/", f"orgs/acme/members/{email}/"):
        response = limited.get(path)
        assert response.status_code == 403
        assert "limited to some repositories" in error(response)["message"]
        assert email not in response.content.decode()
