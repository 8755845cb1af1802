from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.models import User
from accounts.services import organization_create
from tests.world import World

pytestmark = pytest.mark.django_db


def test_it_shows_staff_the_audit_log_and_lets_nobody_rewrite_it() -> None:
    staff = User.objects.create_superuser("root@example.test")
    organization_create(slug="acme", name="Acme", creator=staff)
    event = AuditEvent.objects.get(action="organization.create")
    client = Client()
    client.force_login(staff)
    assert b"organization.create" in client.get("/admin/accounts/auditevent/").content
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_lists_invitations_for_staff(world: World) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.test"))
    response = client.get("/admin/accounts/invitation/")
    assert response.status_code == 200
    page = response.content.decode()
    # The world's one invitation, with its organization and role, and never its token.
    row = re.search(r"<tr>(?:(?!</tr>).)*invitee@acme\.test.*?</tr>", page, re.DOTALL)
    assert row is not None, page
    assert '<td class="field-organization nowrap">acme</td>' in row.group(0)
    assert '<td class="field-role">Member</td>' in row.group(0)
    assert world.invitation.token_hash not in page
