"""The API key pages: a secret shown once, who may make which key, and who sees which."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from accounts.models import User
from accounts.services import api_key_authenticate
from tests.world import World

pytestmark = pytest.mark.django_db


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


KEYS_URL = reverse("org-keys", kwargs={"org": "acme"})


def _token(response: Any) -> str:
    text = response.content.decode()
    start = text.index("whk_")
    return text[start : text.index("<", start)]


def test_it_shows_a_new_key_once_with_its_limits_applied(world: World) -> None:
    client = logged_in(world.users["admin"])
    response = client.post(KEYS_URL, {
        "name": "deploy", "scope": "upload", "access": "only", "repositories": [world.repo_a2.pk],
        "expires_in_days": "30", "allowed_networks": "192.0.2.0/24, 2001:db8::/32",
    })  # fmt: skip
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = _token(response)
    key = api_key_authenticate(token, source_ip="192.0.2.4")
    assert key is not None
    assert key.created_by == world.users["admin"]
    assert (key.all_repositories, list(key.repositories.all())) == (False, [world.repo_a2])
    assert key.allowed_networks == ["192.0.2.0/24", "2001:db8::/32"]
    assert key.expires_at is not None
    listing = client.get(KEYS_URL).content.decode()
    assert key.public_id in listing
    assert token.split("_", 2)[2] not in listing


def test_it_refuses_a_malformed_network(world: World) -> None:
    client = logged_in(world.users["owner"])
    response = client.post(KEYS_URL, {"name": "x", "scope": "read", "allowed_networks": "10.0/8x"})
    assert "CIDR" in response.content.decode()
    assert not ApiKey.objects.filter(name="x").exists()


def test_it_lets_members_make_personal_keys_only_within_their_role(world: World) -> None:
    member, reader = logged_in(world.users["member"]), logged_in(world.users["reader"])
    mine = {"name": "mine", "scope": "upload", "personal": "on", "access": "all"}
    personal = member.post(KEYS_URL, mine)
    assert personal.status_code == 200
    assert ApiKey.objects.get(name="mine").user == world.users["member"]
    org_key = {"name": "org", "scope": "read", "access": "all"}
    assert member.post(KEYS_URL, org_key).status_code == 403
    too_much = {"name": "r", "scope": "upload", "personal": "on", "access": "all"}
    assert reader.post(KEYS_URL, too_much).status_code == 403
    assert reader.post(KEYS_URL, {**too_much, "scope": "read"}).status_code == 200


def test_it_lists_only_their_own_personal_keys_to_members(world: World) -> None:
    listing = logged_in(world.users["member"]).get(KEYS_URL).content.decode()
    mine = ApiKey.objects.get(name="personal").public_id
    theirs = ApiKey.objects.get(name="upload").public_id
    assert mine in listing
    assert theirs not in listing


def test_it_rotates_and_revokes_from_the_page(world: World) -> None:
    client = logged_in(world.users["owner"])
    key = ApiKey.objects.get(name="upload")
    rotate = reverse("key-rotate", kwargs={"org": "acme", "public_id": key.public_id})
    new_token = _token(client.post(rotate))
    assert api_key_authenticate(world.tokens["key_upload"]) is None
    assert api_key_authenticate(new_token) is not None
    new_key = ApiKey.objects.get(public_id=new_token[4:16])
    revoke = reverse("key-revoke", kwargs={"org": "acme", "public_id": new_key.public_id})
    assert client.post(revoke).status_code == 302
    assert api_key_authenticate(new_token) is None


def test_it_lets_admins_revoke_but_not_rotate_someone_elses_personal_key(world: World) -> None:
    client = logged_in(world.users["admin"])
    key = ApiKey.objects.get(name="personal")
    kwargs = {"org": "acme", "public_id": key.public_id}
    assert client.post(reverse("key-rotate", kwargs=kwargs)).status_code == 403
    assert client.post(reverse("key-revoke", kwargs=kwargs)).status_code == 302
    assert api_key_authenticate(world.tokens["key_personal"]) is None


def test_it_lists_active_keys_before_revoked_ones(world: World) -> None:
    listing = logged_in(world.users["owner"]).get(KEYS_URL).content.decode()
    revoked = ApiKey.objects.get(name="revoked").public_id
    active = ApiKey.objects.get(name="read").public_id
    assert listing.index(active) < listing.index(revoked)


def test_it_offers_management_scopes_only_to_those_who_may_grant_them(world: World) -> None:
    assert 'value="manage:keys"' not in logged_in(world.users["member"]).get(KEYS_URL).text
    admin = logged_in(world.users["admin"])
    assert 'value="manage:keys"' in admin.get(KEYS_URL).text
    response = admin.post(KEYS_URL, {
        "name": "ops", "scope": "read", "access": "all",
        "management_scopes": ["manage:repositories", "yank"],
    })  # fmt: skip
    assert response.status_code == 200
    key = ApiKey.objects.get(name="ops")
    assert key.scopes == {"read", "manage:repositories", "yank"}
    # A member's form has no such field: a scope posted anyway is not granted.
    member = logged_in(world.users["member"])
    member.post(KEYS_URL, {
        "name": "sneaky", "scope": "read", "access": "all", "personal": "on",
        "management_scopes": ["manage:keys"],
    })  # fmt: skip
    assert ApiKey.objects.get(name="sneaky").scopes == {"read"}
