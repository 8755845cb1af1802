"""What the audit log says about who acted and on what: keys, personal keys, the system."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ApiKey
from accounts.models import AuditEvent
from tests.api.conftest import as_actor
from tests.world import World
from tests.world import as_user
from tests.world import key_client

pytestmark = pytest.mark.django_db


def _wrong_secret(token: str) -> str:
    return token.rsplit("_", 1)[0] + "_not-the-secret"


def test_it_names_the_key_and_a_personal_keys_user_as_who_acted(world: World) -> None:
    """A refused organization key reads "key <id>"; a personal key adds whose it is, and the
    event is found under that person too."""
    index = reverse("simple-index", kwargs={"org": "acme", "repo": "main"})
    for name in ("key_upload", "key_personal"):
        assert key_client(_wrong_secret(world.tokens[name])).get(index).status_code == 401
    organization_key = ApiKey.objects.get(organization=world.org_a, name="upload")
    personal_key = ApiKey.objects.get(organization=world.org_a, name="personal")
    events = as_actor(world, "owner").get("orgs/acme/audit/", {"action": "api_key.refused"})
    assert {e["actor"] for e in events.json()["results"]} == {
        f"key {organization_key.public_id}",
        f"key {personal_key.public_id} of member@acme.test",
    }
    by_person = AuditEvent.objects.get(action="api_key.refused", actor_user=world.users["member"])
    assert by_person.actor_api_key == personal_key
    by_key = AuditEvent.objects.get(action="api_key.refused", actor_api_key=organization_key)
    assert by_key.actor_user is None


def test_it_shows_what_provisioning_did_as_the_system(world: World) -> None:
    """Globex was provisioned (no person acted): its events have no actor, shown as "system"."""
    events = as_actor(world, "b_member").get("orgs/globex/audit/").json()["results"]
    provisioned = [e for e in events if e["action"] in {"organization.create", "membership.add"}]
    assert [e["actor"] for e in provisioned] == ["", ""]
    page = as_user(world, "b_member").get("/orgs/globex/audit/").content.decode()
    assert '<td data-label="Actor">system</td>' in page


def test_it_cuts_a_long_target_to_what_the_log_holds(world: World) -> None:
    """An address of the longest allowed length makes a target longer than the column."""
    labels = ["a" * 60, "b" * 61, "c" * 61]
    email = "x" * 64 + "@" + ".".join(labels) + ".test"
    assert len(email) == 254
    response = as_actor(world, "owner").post("orgs/acme/invitations/", {"email": email})
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="invitation.create", details__role="member")
    assert event.target == f"user {email}"[:255]
