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
    }, follow=True)  # fmt: skip
    # Post, redirect, get: the page with the secret is a GET, so a reload re-posts nothing.
    assert response.redirect_chain == [("/orgs/acme/keys/new/", 302)]
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
    # A reload of the secret's page neither shows the secret again nor makes another key.
    again = client.get("/orgs/acme/keys/new/", follow=True)
    assert token not in again.content.decode()
    assert "shown only once" in again.content.decode()
    assert ApiKey.objects.filter(name="deploy").count() == 1


def test_it_refuses_a_malformed_network(world: World) -> None:
    client = logged_in(world.users["owner"])
    response = client.post(KEYS_URL, {"name": "x", "scope": "read", "allowed_networks": "10.0/8x"})
    assert "CIDR" in response.content.decode()
    assert not ApiKey.objects.filter(name="x").exists()


def test_it_lets_members_make_personal_keys_only_within_their_role(world: World) -> None:
    member, reader = logged_in(world.users["member"]), logged_in(world.users["reader"])
    # The form offers a member and a reader no "personal" box: their keys are always theirs.
    form = member.get(KEYS_URL).content.decode()
    assert 'name="personal"' not in form
    assert "Your key will be personal" in form
    assert (
        member.post(KEYS_URL, {"name": "mine", "scope": "upload", "access": "all"}).status_code
        == 302
    )
    assert ApiKey.objects.get(name="mine").user == world.users["member"]
    # A reader is offered read only; asking for more is a form error, not a bare 403 page.
    reader_form = reader.get(KEYS_URL).content.decode()
    assert 'value="upload"' not in reader_form
    too_much = {"name": "r", "scope": "upload", "access": "all", "expires_in_days": "90"}
    refused = reader.post(KEYS_URL, too_much)
    assert refused.status_code == 200
    assert "Select a valid choice. upload is not one of the available choices." in (
        refused.content.decode()
    )
    assert not ApiKey.objects.filter(name="r").exists()
    assert reader.post(KEYS_URL, {**too_much, "scope": "read"}).status_code == 302
    assert ApiKey.objects.get(name="r").user == world.users["reader"]


def test_it_refuses_a_second_live_key_of_the_same_name_as_a_form_error(world: World) -> None:
    client = logged_in(world.users["owner"])
    refused = client.post(KEYS_URL, {"name": "upload", "scope": "read", "access": "all"})
    assert refused.status_code == 200
    assert "A key named &#x27;upload&#x27; already exists" in refused.content.decode()
    assert ApiKey.objects.filter(name="upload").count() == 1
    # A revoked key's name is free again.
    assert (
        client.post(KEYS_URL, {"name": "revoked", "scope": "read", "access": "all"}).status_code
        == 302
    )


def test_it_proposes_an_expiry_and_marks_revoked_keys(world: World) -> None:
    client = logged_in(world.users["owner"])
    page = client.get(KEYS_URL).content.decode()
    assert 'name="expires_in_days" value="90"' in page
    revoked = ApiKey.objects.get(name="revoked")
    row = page[page.index('<tr class="revoked">') :]
    assert row.index("revoked") < row.index(revoked.public_id)
    client.post(KEYS_URL, {"name": "ci", "scope": "read", "access": "all", "expires_in_days": "90"})
    assert ApiKey.objects.get(name="ci").expires_at is not None


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
    new_token = _token(client.post(rotate, follow=True))
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
    assert response.status_code == 302  # to the page that shows the secret once
    key = ApiKey.objects.get(name="ops")
    assert key.scopes == {"read", "manage:repositories", "yank"}
    # A member's form has no such field: a scope posted anyway is not granted.
    member = logged_in(world.users["member"])
    member.post(KEYS_URL, {
        "name": "sneaky", "scope": "read", "access": "all", "personal": "on",
        "management_scopes": ["manage:keys"],
    })  # fmt: skip
    assert ApiKey.objects.get(name="sneaky").scopes == {"read"}
