"""A key's repository limit (security review H2): "all repositories" is stored explicitly, so
a limited key whose every repository is deleted is refused everywhere, never widened to the
whole organization; rotation keeps the limit; keys are never created already expired."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.dashboard.forms import ApiKeyForm
from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import KeyScope
from accounts.permissions import Action
from accounts.permissions import can
from accounts.services import api_key_create
from accounts.services import api_key_rotate
from registry.services import repository_delete
from registry.services import repository_get_or_create
from tests.api.conftest import as_actor
from tests.api.conftest import authorization
from tests.api.conftest import error
from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db

KEYS_URL = reverse("org-keys", kwargs={"org": "acme"})


def _key_client(token: str) -> Client:
    return Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION=authorization(token, "Basic"))


def _everywhere(token: str) -> dict[str, int]:
    """What the key gets on every repository of acme: index, upload, the REST repository."""
    client = _key_client(token)
    got = {}
    for repo in ("main", "other", "temp"):
        kwargs = {"org": "acme", "repo": repo}
        got[f"index {repo}"] = client.get(reverse("simple-index", kwargs=kwargs)).status_code
        got[f"upload {repo}"] = client.post(reverse("upload", kwargs=kwargs), {}).status_code
        got[f"api {repo}"] = client.get(f"/api/v1/orgs/acme/repos/{repo}/").status_code
    return got


def test_it_refuses_a_key_everywhere_once_its_only_repository_is_deleted(world: World) -> None:
    owner = as_actor(world, "owner")
    assert owner.post("orgs/acme/repos/", {"slug": "temp"}).status_code == 201
    created = owner.post(
        "orgs/acme/keys/", {"name": "only-temp", "scope": "upload", "repositories": ["temp"]}
    ).json()
    token = created["token"]
    assert created["all_repositories"] is False
    before = _everywhere(token)
    # An upload that got past access fails form validation with a 400.
    assert (before["index temp"], before["upload temp"], before["api temp"]) == (200, 400, 200)
    assert before["index main"] == before["upload main"] == before["api main"] == 404

    assert owner.delete("orgs/acme/repos/temp/").status_code == 204

    assert _everywhere(token) == dict.fromkeys(_everywhere(token), 404)
    listed = _key_client(token).get("/api/v1/orgs/acme/repos/").json()["results"]
    assert listed == []
    shown = owner.get(f"orgs/acme/keys/{created['public_id']}/").json()
    assert (shown["all_repositories"], shown["repositories"]) == (False, [])


def test_it_refuses_to_rotate_a_key_whose_repositories_are_all_gone(world: World) -> None:
    temp = repository_get_or_create(organization=world.org_a, slug="temp")
    old = api_key_create(
        organization=world.org_a, name="only-temp", scope=KeyScope.UPLOAD, repositories=[temp]
    )
    repository_delete(repository=temp, actor=world.users["owner"], confirm_slug="temp")
    with pytest.raises(ValidationError) as refused:
        api_key_rotate(api_key=old.api_key, actor=world.users["owner"])
    # It says what to do instead.
    assert refused.value.messages == [
        "This key has no repositories left (they were deleted), so it is refused everywhere; "
        "revoke it and create a new key instead."
    ]
    # Through the API: a clear 400, and the old key stays as refused as before.
    response = as_actor(world, "owner").post(f"orgs/acme/keys/{old.api_key.public_id}/rotate/")
    assert response.status_code == 400
    assert error(response)["message"] == refused.value.messages[0]
    assert ApiKey.objects.filter(organization=world.org_a, name="only-temp").count() == 1
    assert _everywhere(old.token) == dict.fromkeys(_everywhere(old.token), 404)


def test_it_rotates_a_limited_key_into_its_remaining_repositories_only(world: World) -> None:
    temp = repository_get_or_create(organization=world.org_a, slug="temp")
    limit = [temp, world.repo_a2]
    old = api_key_create(organization=world.org_a, name="two", scope="upload", repositories=limit)
    repository_delete(repository=temp, actor=world.users["owner"], confirm_slug="temp")
    new = api_key_rotate(api_key=old.api_key, actor=world.users["owner"])
    assert new.api_key.all_repositories is False
    assert list(new.api_key.repositories.all()) == [world.repo_a2]
    got = _everywhere(new.token)
    assert (got["index other"], got["index main"], got["upload main"]) == (200, 404, 404)


def test_it_rotates_an_all_repositories_key_into_one(world: World) -> None:
    old = ApiKey.objects.get(name="upload")
    new = api_key_rotate(api_key=old, actor=world.users["owner"])
    assert new.api_key.all_repositories is True
    assert list(new.api_key.repositories.all()) == []
    repository_get_or_create(organization=world.org_a, slug="temp")
    assert _everywhere(new.token)["index temp"] == 200  # covers repositories made later too


def test_it_refuses_an_empty_limit_at_creation(world: World) -> None:
    with pytest.raises(ValidationError) as refused:
        api_key_create(organization=world.org_a, name="nothing", repositories=[])
    assert refused.value.messages == [
        "A key limited to some repositories needs at least one repository; "
        "or let it cover all repositories."
    ]
    assert api_key_create(organization=world.org_a, name="all").api_key.all_repositories is True


def test_it_takes_all_repositories_explicitly_through_the_api(world: World) -> None:
    owner = as_actor(world, "owner")
    nothing = owner.post(
        "orgs/acme/keys/", {"name": "nothing", "all_repositories": False, "repositories": []}
    )
    assert nothing.status_code == 400
    assert "at least one repository" in error(nothing)["message"]
    both = owner.post(
        "orgs/acme/keys/", {"name": "both", "all_repositories": True, "repositories": ["main"]}
    )
    assert both.status_code == 400
    assert "all_repositories" in error(both)["fields"]
    assert not ApiKey.objects.filter(name__in=["nothing", "both"]).exists()
    # Callers from before the field keep their meaning: no list is every repository.
    everything = owner.post("orgs/acme/keys/", {"name": "everything"}).json()
    assert (everything["all_repositories"], everything["repositories"]) == (True, [])
    explicit = owner.post(
        "orgs/acme/keys/", {"name": "one", "all_repositories": False, "repositories": ["main"]}
    ).json()
    assert (explicit["all_repositories"], explicit["repositories"]) == (False, ["main"])


def _dashboard(world: World) -> Client:
    client = Client()
    client.force_login(world.users["owner"])
    return client


def test_it_makes_the_dashboard_choose_all_or_some_repositories(world: World) -> None:
    client = _dashboard(world)
    none_chosen = client.post(KEYS_URL, {"name": "none", "scope": "read", "access": "only"})
    assert none_chosen.status_code == 200
    assert "Choose at least one repository" in none_chosen.content.decode()
    ticked_but_all = client.post(
        KEYS_URL,
        {"name": "mixed", "scope": "read", "access": "all", "repositories": [world.repo_a.pk]},
    )
    assert "Only these" in ticked_but_all.content.decode()
    assert not ApiKey.objects.filter(name__in=["none", "mixed"]).exists()
    client.post(KEYS_URL, {"name": "every", "scope": "read", "access": "all"})
    assert ApiKey.objects.get(name="every").all_repositories is True


def test_it_shows_a_key_whose_repositories_are_gone_as_refused(world: World) -> None:
    temp = repository_get_or_create(organization=world.org_a, slug="temp")
    api_key_create(organization=world.org_a, name="only-temp", repositories=[temp])
    repository_delete(repository=temp, actor=world.users["owner"], confirm_slug="temp")
    listing = _dashboard(world).get(KEYS_URL).content.decode()
    row = listing[listing.index("only-temp") :]
    row = row[: row.index("</tr>")]
    assert "no repositories left: refused" in row
    assert "Rotate" not in row  # rotation is refused for it; revoking is what is left
    # This key and the world's "no-repos" key; never an all-repositories key.
    assert listing.count("no repositories left") == 2
    upload = listing[listing.index(">upload<") :]
    assert "all repositories" in upload[: upload.index("</tr>")]


def _forwards() -> Any:
    migration = importlib.import_module("accounts.migrations.0004_apikey_all_repositories")
    return migration.mark_all_repositories_keys


def test_the_migration_keeps_meanings_and_closes_keys_already_widened(world: World) -> None:
    """Keys with repository rows were limited; keys without were 'all', unless their creation
    was recorded with repositories: those lost them to a deletion (H2) and stay refused."""
    temp = repository_get_or_create(organization=world.org_a, slug="temp")
    widened = api_key_create(organization=world.org_a, name="widened", repositories=[temp])
    repository_delete(repository=temp, actor=world.users["owner"], confirm_slug="temp")
    # No audit record at all (keys from before the audit log): their rows alone decide.
    AuditEvent.objects.filter(target=f"key {ApiKey.objects.get(name='read').public_id}").delete()
    ApiKey.objects.update(all_repositories=False)
    _forwards()(apps, None)
    flags = dict(ApiKey.objects.values_list("name", "all_repositories"))
    assert flags["widened"] is False
    assert flags["limited"] is False
    assert flags["read"] is True
    assert flags["upload"] is True
    assert widened.api_key.repositories.count() == 0


def test_it_refuses_a_key_that_would_be_expired_at_birth(world: World) -> None:
    for when in (timezone.now() - timedelta(seconds=1), timezone.now()):
        with pytest.raises(ValidationError) as refused:
            api_key_create(organization=world.org_a, name="dead", expires_at=when)
        assert refused.value.messages == ["A key's expiry must be in the future."]
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = as_actor(world, "owner").post(
        "orgs/acme/keys/", {"name": "dead", "expires_at": past}
    )
    assert response.status_code == 400
    assert "future" in error(response)["message"]
    assert not ApiKey.objects.filter(name="dead").exists()


def test_it_shows_an_expiry_the_service_refuses_as_a_form_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The form only offers whole days from now, so reach the service's rule directly.
    monkeypatch.setattr(ApiKeyForm, "expires_at", lambda self: timezone.now() - timedelta(days=1))
    response = _dashboard(world).post(
        KEYS_URL, {"name": "dead", "scope": "read", "access": "all", "expires_in_days": "1"}
    )
    assert response.status_code == 200
    assert "must be in the future" in response.content.decode()
    assert not ApiKey.objects.filter(name="dead").exists()


def test_the_rules_keep_a_limited_key_to_its_repositories(world: World) -> None:
    """can() is the one table every service asks: it holds the limit even for a repository
    the caller found some other way than through the key's own lookup."""
    limited = ApiKey.objects.get(name="limited")
    allowed = {
        (repository.slug, action): can(limited, action, world.org_a, repository)
        for repository in (world.repo_a, world.repo_a2)
        for action in (Action.READ, Action.UPLOAD)
    }
    assert allowed == {
        ("main", Action.READ): False,
        ("main", Action.UPLOAD): False,
        ("other", Action.READ): True,
        ("other", Action.UPLOAD): True,
    }
    # Nor does any key act in another organization, whatever its scope.
    foreign = ApiKey.objects.get(name="b")
    assert not can(foreign, Action.READ, world.org_a)
    # And no one, person or key, acts on another organization's repository through their own.
    owner, upload = world.users["owner"], ApiKey.objects.get(name="upload")
    assert not can(owner, Action.READ, world.org_a, world.repo_b)
    assert not can(upload, Action.READ, world.org_a, world.repo_b)
