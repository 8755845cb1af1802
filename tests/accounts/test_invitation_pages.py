"""Invitations without dead ends: inviting again replaces the earlier link, joining closes
every other link for that address, the inviter can copy the link when no mail is sent, and a
visitor who is not logged in sees what the link is for."""

from __future__ import annotations

import re
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Role
from accounts.models import User
from accounts.services import invitation_accept
from accounts.services import invitation_create
from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db


def _invite(world: World, email: str, role: str) -> Any:
    return invitation_create(
        organization=world.org_a,
        email=email,
        role=role,
        actor=world.users["owner"],
        base_url="http://testserver",
    )


def test_inviting_again_replaces_the_earlier_link_and_its_role(world: World) -> None:
    first = _invite(world, "bob@acme.test", Role.ADMIN)
    second = _invite(world, "Bob@acme.test", Role.READER)
    pending = Invitation.objects.filter(organization=world.org_a, email="bob@acme.test")
    assert list(pending.values_list("role", flat=True)) == [Role.READER]
    # The first link no longer leads anywhere.
    assert Client().get(first.url.replace("http://testserver", "")).status_code == 404
    bob = User.objects.create_user("bob@acme.test")
    invitation_accept(invitation=second.invitation, user=bob)
    assert Membership.objects.get(organization=world.org_a, user=bob).role == Role.READER


def test_joining_closes_any_other_link_for_that_address(world: World) -> None:
    one = _invite(world, "carol@acme.test", Role.MEMBER)
    # A link from before this rule: two live invitations for one address.
    Invitation.objects.create(
        organization=world.org_a, email="carol@acme.test", role=Role.ADMIN,
        token_hash="stale", expires_at=one.invitation.expires_at,
    )  # fmt: skip
    carol = User.objects.create_user("carol@acme.test")
    invitation_accept(invitation=one.invitation, user=carol)
    assert not Invitation.objects.filter(email="carol@acme.test", accepted_at=None).exists()


def test_the_inviter_gets_the_link_to_copy_when_mail_is_not_sent(
    world: World, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    page = as_user(world, "owner").post(
        "/orgs/acme/members/", {"email": "dan@acme.test", "role": "reader"}, follow=True
    )
    body = page.content.decode()
    assert "Email is not set up here (EMAIL_URL), so nothing was delivered." in body
    assert "Send this link yourself: http" in body
    assert "/accounts/invitations/" in body


def test_a_visitor_who_is_not_logged_in_sees_what_the_link_is_for(world: World) -> None:
    invited = _invite(world, "erin@acme.test", Role.MEMBER)
    path = invited.url.replace("http://testserver", "")
    page = Client().get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert (
        "erin@acme.test was invited to join Acme on Wheelhouse as <strong>member</strong>" in body
    )
    assert f'href="/accounts/login/?next={path}"' in body
    assert "Create an account</a>" in body
    # Nothing is accepted without logging in.
    assert Client().post(path).status_code == 200
    assert not Membership.objects.filter(user__email="erin@acme.test").exists()


def test_the_members_page_lists_invitations_newest_first_even_sent_in_one_instant(
    world: World,
) -> None:
    # A coarse clock stamps several invitations alike: the later one still comes first.
    with time_machine.travel(timezone.now(), tick=False):
        for name in ("ann", "ben", "cat"):
            _invite(world, f"{name}@acme.test", Role.MEMBER)
    page = as_user(world, "owner").get("/orgs/acme/members/").content.decode()
    listed = re.findall(r"<tr><td>(ann|ben|cat)@acme\.test</td>", page)
    assert listed == ["cat", "ben", "ann"]
