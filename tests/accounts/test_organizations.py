"""Organizations, members, invitations and repositories, through their pages and services."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.models import Invitation
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User
from accounts.permissions import Action
from accounts.permissions import can
from accounts.selectors import audit_events
from accounts.services import invitation_accept
from accounts.services import invitation_create
from accounts.services import invitation_revoke
from accounts.services import membership_remove
from accounts.services import membership_set_role
from accounts.services import organization_create
from registry.models import Repository
from registry.services import repository_create
from registry.services import repository_delete
from registry.services import repository_update
from registry.storage import packages_storage
from tests.world import World

pytestmark = pytest.mark.django_db


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def membership(w: World, role: str) -> Membership:
    return Membership.objects.get(organization=w.org_a, user=w.users[role])


# Organizations ----------------------------------------------------------------------------------


def test_it_makes_the_creator_the_owner_of_a_new_organization(world: World) -> None:
    client = logged_in(world.users["reader"])
    response = client.post(reverse("org-create"), {"slug": "initech", "name": "Initech"})
    assert response.status_code == 302
    created = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=created).role == Role.OWNER
    assert client.get(reverse("org-detail", kwargs={"org": "initech"})).status_code == 200


@pytest.mark.parametrize(("slug", "error"), [("admin", "reserved"), ("acme", "already exists")])
def test_it_refuses_an_organization_slug_that_is_reserved_or_taken(
    world: World, slug: str, error: str
) -> None:
    client = logged_in(world.users["reader"])
    response = client.post(reverse("org-create"), {"slug": slug, "name": "X"})
    assert response.status_code == 200
    assert error in response.content.decode()


def test_it_renames_an_organization_only_once_shown_the_urls_that_change(world: World) -> None:
    client = logged_in(world.users["admin"])
    url = reverse("org-settings", kwargs={"org": "acme"})
    page = client.get(url).content.decode()
    assert "After a rename the old URLs keep answering for 90 days" in page
    asked = client.post(url, {"slug": "acme-corp", "name": "Acme Corp"})
    assert asked.status_code == 200
    shown = " ".join(asked.content.decode().split())
    assert "Rename acme to acme-corp?" in shown
    assert "http://localhost:8000/acme/&lt;repository&gt;/simple/" in shown
    assert "http://localhost:8000/acme-corp/&lt;repository&gt;/legacy/" in shown
    until = timezone.now() + timedelta(days=90)
    assert f"until <strong>{until:%B} {until.day}, {until.year}</strong>" in shown
    world.org_a.refresh_from_db()
    assert world.org_a.slug == "acme"
    # The name alone changes without a question.
    assert client.post(url, {"slug": "acme", "name": "Acme Inc"}).status_code == 302
    confirmed = {"slug": "acme-corp", "name": "Acme Corp", "confirm_rename": "on"}
    done = client.post(url, confirmed, follow=True)
    assert done.redirect_chain == [("/orgs/acme-corp/", 302)]
    assert "The old URLs (/acme/…) keep answering until" in done.content.decode()
    world.org_a.refresh_from_db()
    assert (world.org_a.slug, world.org_a.name) == ("acme-corp", "Acme Corp")
    event = AuditEvent.objects.filter(action="organization.update").latest("pk")
    assert event.details["former_slug_until"].startswith(f"{until:%Y-%m-%d}")
    # People at an old page are sent to its new place, query and all.
    old = client.get("/orgs/acme/repos/main/?q=x")
    assert (old.status_code, old["Location"]) == (302, "/orgs/acme-corp/repos/main/?q=x")
    # The organization's own pages too.
    members = client.get("/orgs/acme/members/")
    assert (members.status_code, members["Location"]) == (302, "/orgs/acme-corp/members/")
    # Another organization's members see nothing there.
    stranger = logged_in(world.users["b_member"])
    assert stranger.get("/orgs/acme/repos/main/").status_code == 404


def test_it_renames_a_repository_only_once_shown_the_urls_that_change(world: World) -> None:
    client = logged_in(world.users["admin"])
    url = reverse("repo-edit", kwargs={"org": "acme", "repo": "main"})
    assert "(/acme/main/…)" in client.get(url).content.decode()
    form = {"slug": "core", "description": "", "allow_file_deletion": "on"}
    asked = client.post(url, form)
    shown = " ".join(asked.content.decode().split())
    assert "Rename acme/main to acme/core?" in shown
    assert "http://localhost:8000/acme/main/simple/" in shown
    assert "http://localhost:8000/acme/core/legacy/" in shown
    world.repo_a.refresh_from_db()
    assert world.repo_a.slug == "main"
    done = client.post(url, {**form, "confirm_rename": "on"})
    assert (done.status_code, done["Location"]) == (302, "/orgs/acme/repos/core/")
    world.repo_a.refresh_from_db()
    assert world.repo_a.slug == "core"
    old = client.get("/orgs/acme/repos/main/settings/")
    assert (old.status_code, old["Location"]) == (302, "/orgs/acme/repos/core/settings/")
    # A new repository taking the old slug wins: its own page, no redirect.
    repository_create(organization=world.org_a, actor=world.users["admin"], slug="main")
    assert client.get("/orgs/acme/repos/main/").status_code == 200


def test_it_deletes_an_organization_and_its_stored_files_only_when_confirmed(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = logged_in(world.users["owner"])
    url = reverse("org-delete", kwargs={"org": "acme"})
    assert "confirm" in client.post(url, {"confirm": "acm"}).content.decode()
    assert Organization.objects.filter(slug="acme").exists()
    storage = packages_storage()
    assert storage.exists(world.file.storage_key)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"confirm": "acme"}).status_code == 302
    assert not Organization.objects.filter(slug="acme").exists()
    assert not storage.exists(world.file.storage_key)
    # Organization B's files are untouched, and the deletion stays on record.
    assert storage.exists(Repository.objects.get(slug="main", organization=world.org_b)
                          .files.get().storage_key)  # fmt: skip
    assert AuditEvent.objects.filter(action="organization.delete", details__organization="acme")


# Members and the last owner ---------------------------------------------------------------------


def test_it_never_lets_the_last_owner_go(world: World) -> None:
    owner = world.users["owner"]
    with pytest.raises(ValidationError) as refused:
        membership_set_role(membership=membership(world, "owner"), role=Role.ADMIN, actor=owner)
    assert refused.value.messages == ["An organization must keep at least one owner."]
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership=membership(world, "owner"), actor=owner)
    assert membership(world, "owner").role == Role.OWNER


def test_it_lets_an_owner_step_down_once_another_owner_exists(world: World) -> None:
    owner = world.users["owner"]
    membership_set_role(membership=membership(world, "admin"), role=Role.OWNER, actor=owner)
    membership_set_role(membership=membership(world, "owner"), role=Role.MEMBER, actor=owner)
    assert membership(world, "owner").role == Role.MEMBER
    assert membership(world, "admin").role == Role.OWNER


def test_a_role_change_is_audited_with_who_what_and_where(world: World) -> None:
    member = membership(world, "member")
    membership_set_role(
        membership=member, role=Role.ADMIN, actor=world.users["owner"], source_ip="192.0.2.5"
    )
    event = AuditEvent.objects.get(action="membership.role_change")
    assert (event.organization, event.actor_user, event.target, event.source_ip) == (
        world.org_a,
        world.users["owner"],
        "user member@acme.test",
        "192.0.2.5",
    )
    assert event.details == {"before": Role.MEMBER, "after": Role.ADMIN}


def test_a_role_change_never_brings_back_a_member_removed_meanwhile(world: World) -> None:
    """The members page read the membership, then another admin removed it before the
    change was saved: the change is refused, not saved as a new membership."""
    stale = membership(world, "member")
    membership_remove(membership=membership(world, "member"), actor=world.users["admin"])
    with pytest.raises(DatabaseError):
        membership_set_role(membership=stale, role=Role.ADMIN, actor=world.users["owner"])
    assert not Membership.objects.filter(organization=world.org_a, user=world.users["member"])
    assert not AuditEvent.objects.filter(action="membership.role_change").exists()


def test_a_membership_change_is_seen_at_once_by_whoever_asks_next(world: World) -> None:
    """Roles are remembered on the user object for a request; the services that change a
    membership forget them, for the person changed and the one who changed it (scripts and
    the REST API go on asking with the same objects)."""
    owner, admin = world.users["owner"], world.users["admin"]
    membership_set_role(membership=membership(world, "admin"), role=Role.OWNER, actor=owner)
    stepping_down = membership(world, "owner")
    assert can(owner, Action.MANAGE_OWNERS, world.org_a)
    assert can(stepping_down.user, Action.MANAGE_OWNERS, world.org_a)
    membership_set_role(membership=stepping_down, role=Role.ADMIN, actor=owner)
    assert not can(owner, Action.MANAGE_OWNERS, world.org_a)
    assert not can(stepping_down.user, Action.MANAGE_OWNERS, world.org_a)
    removed = membership(world, "member")
    assert can(removed.user, Action.READ, world.org_a)
    membership_remove(membership=removed, actor=admin)
    assert not can(removed.user, Action.READ, world.org_a)
    reader = world.users["reader"]
    assert can(reader, Action.READ, world.org_a)
    membership_remove(membership=membership(world, "reader"), actor=reader)
    assert not can(reader, Action.READ, world.org_a)


def test_it_keeps_admins_away_from_the_owner_role(world: World) -> None:
    admin = world.users["admin"]
    with pytest.raises(PermissionDenied):
        membership_set_role(membership=membership(world, "owner"), role=Role.READER, actor=admin)
    with pytest.raises(PermissionDenied):
        membership_set_role(membership=membership(world, "member"), role=Role.OWNER, actor=admin)
    membership_set_role(membership=membership(world, "member"), role=Role.ADMIN, actor=admin)
    assert membership(world, "member").role == Role.ADMIN


def test_it_shows_the_last_owner_rule_on_the_members_page(world: World) -> None:
    client = logged_in(world.users["owner"])
    url = reverse(
        "member-role", kwargs={"org": "acme", "membership_id": membership(world, "owner").pk}
    )
    response = client.post(url, {"role": "reader"}, follow=True)
    assert "at least one owner" in response.content.decode()


# Invitations ------------------------------------------------------------------------------------


def _invite(world: World, mailoutbox: list[Any], on_commit: Any) -> str:
    """The path of the link emailed (after commit) to a new invitee."""
    client = logged_in(world.users["admin"])
    url = reverse("org-members", kwargs={"org": "acme"})
    with on_commit(execute=True):
        assert client.post(url, {"email": "new@acme.test", "role": "reader"}).status_code == 302
    link = re.search(r"https?://\S+/accounts/invitations/\S+/", mailoutbox[-1].body)
    assert link is not None, mailoutbox[-1].body
    return "/" + link.group(0).split("://", 1)[1].split("/", 1)[1]


def test_it_lets_an_invited_person_join_with_the_emailed_link_once(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    path = _invite(world, mailoutbox, django_capture_on_commit_callbacks)
    assert mailoutbox[-1].to == ["new@acme.test"]
    assert mailoutbox[-1].subject == "Join Acme on Wheelhouse"
    # The email says who invited them, to what, as what, with which address, and until when.
    invitation = Invitation.objects.get(email="new@acme.test")
    assert mailoutbox[-1].body.startswith(
        "admin@acme.test invited you to join Acme on Wheelhouse as reader.\n\n"
        "Accept here (log in or sign up with new@acme.test first):\n"
    )
    assert f"until {invitation.expires_at:%Y-%m-%d %H:%M} UTC." in mailoutbox[-1].body
    newcomer = logged_in(User.objects.create_user("new@acme.test"))
    assert newcomer.get(path).status_code == 200
    assert newcomer.post(path).status_code == 302
    joined = Membership.objects.get(organization=world.org_a, user__email="new@acme.test")
    assert joined.role == Role.READER
    assert newcomer.post(path).status_code == 404  # the link worked once


def test_it_refuses_an_expired_invitation(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    path = _invite(world, mailoutbox, django_capture_on_commit_callbacks)
    Invitation.objects.filter(email="new@acme.test").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    newcomer = logged_in(User.objects.create_user("new@acme.test"))
    response = newcomer.post(path)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(user__email="new@acme.test").exists()


def test_it_refuses_an_invitation_link_used_by_someone_else(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    path = _invite(world, mailoutbox, django_capture_on_commit_callbacks)
    stranger = logged_in(world.users["b_member"])
    assert stranger.post(path).status_code == 403
    assert not Membership.objects.filter(user=world.users["b_member"], organization=world.org_a)


def test_it_lets_only_owners_invite_owners(world: World) -> None:
    with pytest.raises(PermissionDenied):
        invitation_create(
            organization=world.org_a, email="boss@acme.test", role=Role.OWNER,
            actor=world.users["admin"], base_url="http://testserver",
        )  # fmt: skip
    invited = invitation_create(
        organization=world.org_a, email="boss@acme.test", role=Role.OWNER,
        actor=world.users["owner"], base_url="https://packages.example.com/",
    )  # fmt: skip
    assert invited.invitation.role == Role.OWNER
    # One slash between the site and the link's path, however the site's URL was written,
    # and nothing else of the site's URL cut (a host named in capitals, say).
    assert invited.url.startswith("https://packages.example.com/accounts/invitations/")
    for site in ("http://BUILDBOX", "http://BUILDBOX/"):
        again = invitation_create(
            organization=world.org_a, email="boss@acme.test", role=Role.OWNER,
            actor=world.users["owner"], base_url=site,
        )  # fmt: skip
        assert again.url.startswith("http://BUILDBOX/accounts/invitations/"), site


def test_a_member_of_another_organization_can_be_invited(world: World) -> None:
    b_member = world.users["b_member"]  # belongs to Globex, not to Acme
    invited = invitation_create(
        organization=world.org_a, email=b_member.email, role=Role.READER,
        actor=world.users["owner"], base_url="http://testserver",
    )  # fmt: skip
    assert invited.invitation.email == b_member.email


def test_member_changes_and_invitations_are_audited_with_who_what_and_where(
    world: World,
) -> None:
    owner, admin = world.users["owner"], world.users["admin"]
    invitation = invitation_create(
        organization=world.org_a, email="new@acme.test", role=Role.MEMBER, actor=owner,
        base_url="http://testserver", source_ip="192.0.2.1",
    ).invitation  # fmt: skip
    invitation_revoke(invitation=invitation, actor=owner, source_ip="192.0.2.2")
    member = Membership.objects.get(organization=world.org_a, user=world.users["member"])
    membership_remove(membership=member, actor=admin, source_ip="192.0.2.3")
    reader = Membership.objects.get(organization=world.org_a, user=world.users["reader"])
    membership_remove(membership=reader, actor=world.users["reader"], source_ip="192.0.2.4")

    events = AuditEvent.objects.filter(organization=world.org_a).order_by("pk")
    seen = [
        (e.action, e.actor_user, e.target, e.source_ip, e.details)
        for e in events.filter(action__in=[
            "invitation.create", "invitation.revoke", "membership.remove", "membership.leave",
        ])
    ]  # fmt: skip
    assert seen == [
        ("invitation.create", owner, "user new@acme.test", "192.0.2.1",
         {"role": Role.MEMBER, "expires_at": invitation.expires_at.isoformat(), "replaced": 0}),
        ("invitation.revoke", owner, "user new@acme.test", "192.0.2.2", {}),
        ("membership.remove", admin, "user member@acme.test", "192.0.2.3",
         {"role": Role.MEMBER}),
        ("membership.leave", world.users["reader"], "user reader@acme.test", "192.0.2.4",
         {"role": Role.READER}),
    ]  # fmt: skip


def test_the_last_owner_leaving_is_refused_saying_why(world: World) -> None:
    owner = world.users["owner"]
    last = Membership.objects.get(user=owner, organization=world.org_a)
    with pytest.raises(ValidationError) as refused:
        membership_remove(membership=last, actor=owner)
    assert refused.value.messages == ["An organization must keep at least one owner."]


# Repositories -----------------------------------------------------------------------------------


def test_it_creates_renames_describes_and_deletes_a_repository(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    admin = world.users["admin"]
    repo = repository_create(organization=world.org_a, actor=admin, slug="ml", description="")
    repository_update(repository=repo, actor=admin, slug="ml-models", description="Models")
    repo.refresh_from_db()
    assert (repo.slug, repo.description) == ("ml-models", "Models")
    with pytest.raises(ValidationError, match="already exists"):
        repository_update(repository=repo, actor=admin, slug="main", description="")
    with pytest.raises(ValidationError, match="reserved"):
        repository_create(organization=world.org_a, actor=admin, slug="simple")
    with pytest.raises(PermissionDenied):
        repository_create(organization=world.org_a, actor=world.users["member"], slug="x")
    storage = packages_storage()
    with django_capture_on_commit_callbacks(execute=True):
        repository_delete(repository=world.repo_a, actor=admin, confirm_slug="main")
    assert not Repository.objects.filter(pk=world.repo_a.pk).exists()
    assert not storage.exists(world.file.storage_key)


def test_it_creates_a_repository_from_the_dashboard(world: World) -> None:
    client = logged_in(world.users["owner"])
    url = reverse("repo-create", kwargs={"org": "acme"})
    assert client.post(url, {"slug": "tools", "description": "Internal"}).status_code == 302
    assert Repository.objects.get(organization=world.org_a, slug="tools").description == "Internal"
    again = client.post(url, {"slug": "tools"})
    assert "already exists" in again.content.decode()


# Audit ------------------------------------------------------------------------------------------


def test_it_records_changes_and_refused_key_uses_in_the_audit_log(world: World) -> None:
    owner = world.users["owner"]
    client = logged_in(owner)
    client.post(reverse("repo-create", kwargs={"org": "acme"}), {"slug": "tools"})
    client.post(reverse("org-keys", kwargs={"org": "acme"}), {"name": "ci", "scope": "read"})
    membership_set_role(membership=membership(world, "member"), role=Role.READER, actor=owner)
    Client(REMOTE_ADDR="203.0.113.9").get(
        reverse("simple-index", kwargs={"org": "acme", "repo": "main"}),
        HTTP_AUTHORIZATION=f"Bearer {world.tokens['key_revoked']}",
    )
    events = list(audit_events(organization=world.org_a, actor=owner))
    actions = [e.action for e in events]
    for action in ("repository.create", "api_key.create", "membership.role_change",
                   "api_key.refused"):  # fmt: skip
        assert action in actions
    refused = next(e for e in events if e.action == "api_key.refused")
    assert (refused.source_ip, refused.details["reason"]) == ("203.0.113.9", "revoked")
    page = client.get(reverse("org-audit", kwargs={"org": "acme"})).content.decode()
    assert "membership.role_change" in page
    assert "203.0.113.9" in page


def test_it_shows_the_audit_log_to_owners_and_admins_only(world: World) -> None:
    # The world's history of Acme: its creation, three repositories (one since deleted by the
    # model, unaudited), eighteen keys; then one more change.
    membership_set_role(
        membership=membership(world, "member"), role=Role.READER, actor=world.users["owner"]
    )
    for role in ("owner", "admin"):
        events = list(audit_events(organization=world.org_a, actor=world.users[role]))
        assert [(e.action, e.target) for e in events[:1] + events[-3:]] == [
            ("membership.role_change", "user member@acme.test"),
            ("repository.create", "repository acme/other"),
            ("repository.create", "repository acme/main"),
            ("organization.create", "organization acme"),
        ], role
        assert [e.action for e in events].count("api_key.create") == 18
        assert len(events) == 23
    for role in ("member", "reader", "b_member"):
        with pytest.raises(PermissionDenied):
            audit_events(organization=world.org_a, actor=world.users[role])


def test_it_keeps_each_organizations_audit_log_to_itself(world: World) -> None:
    organization_create(slug="initech", name="Initech", creator=world.users["b_member"])
    events = audit_events(organization=world.org_a, actor=world.users["owner"])
    assert not [e for e in events if "initech" in e.target]


def _invitation(world: World, email: str, role: str = Role.READER) -> Invitation:
    return invitation_create(
        organization=world.org_a,
        email=email,
        role=role,
        actor=world.users["owner"],
        base_url="http://testserver",
    ).invitation


def test_accepting_an_invitation_spends_only_that_one_and_records_who(world: World) -> None:
    """The service itself, not only the page: the REST API and scripts call it too."""
    mine = _invitation(world, "new@acme.test")
    other = _invitation(world, "other@acme.test")
    newcomer = User.objects.create_user("New@Acme.test")
    assert not can(newcomer, Action.READ, world.org_a)  # remembered until the change
    membership = invitation_accept(invitation=mine, user=newcomer, source_ip="192.0.2.7")
    assert (membership.organization, membership.role) == (world.org_a, Role.READER)
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.accepted_by == newcomer
    assert mine.accepted_at is not None
    assert other.accepted_at is None  # another person's link still works
    # Its role is known at once (no stale cached role): the newcomer can read the org.
    assert can(newcomer, Action.READ, world.org_a)
    event = AuditEvent.objects.get(action="membership.join", organization=world.org_a)
    assert (event.actor_user, event.target, event.source_ip) == (
        newcomer,
        "user new@acme.test",
        "192.0.2.7",
    )
    assert event.details == {"role": Role.READER, "already_member": False}
    with pytest.raises(ValidationError) as used:
        invitation_accept(invitation=mine, user=newcomer)
    assert used.value.messages == ["This invitation was already used."]
    assert used.value.error_list[0].code == "used"


def test_accepting_refuses_expired_links_and_other_people_saying_why(world: World) -> None:
    invitation = _invitation(world, "new@acme.test")
    with pytest.raises(PermissionDenied, match=r"^This invitation was sent to new@acme.test\.$"):
        invitation_accept(invitation=invitation, user=world.users["b_member"])
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    with pytest.raises(ValidationError) as expired:
        invitation_accept(invitation=invitation, user=User.objects.create_user("new@acme.test"))
    assert expired.value.messages == ["This invitation has expired; ask for a new one."]
    assert expired.value.error_list[0].code == "expired"
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_an_existing_member_accepting_keeps_their_role_and_it_is_audited_so(
    world: World,
) -> None:
    invitation = _invitation(world, "late@acme.test", role=Role.READER)
    # Made an admin by other means while the reader invitation was in their mailbox.
    late = User.objects.create_user("late@acme.test")
    Membership.objects.create(user=late, organization=world.org_a, role=Role.ADMIN)
    membership = invitation_accept(invitation=invitation, user=late)
    assert membership.role == Role.ADMIN
    event = AuditEvent.objects.get(action="membership.join")
    assert event.details == {"role": Role.ADMIN, "already_member": True}


def test_an_owner_may_leave_while_another_owner_remains_but_not_the_last(world: World) -> None:
    second = User.objects.create_user("second-owner@acme.test")
    Membership.objects.create(user=second, organization=world.org_a, role=Role.OWNER)
    # Another organization's owners do not count for this one.
    assert Membership.objects.filter(role=Role.OWNER).exclude(organization=world.org_a).exists()
    membership_remove(membership=Membership.objects.get(user=second), actor=second)
    owner = world.users["owner"]
    last = Membership.objects.get(user=owner, organization=world.org_a)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership=last, actor=owner)
    assert Membership.objects.filter(pk=last.pk).exists()
