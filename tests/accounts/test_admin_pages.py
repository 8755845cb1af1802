from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.models import User
from accounts.services import organization_create

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


def test_it_lists_invitations_for_staff() -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.test"))
    assert client.get("/admin/accounts/invitation/").status_code == 200
