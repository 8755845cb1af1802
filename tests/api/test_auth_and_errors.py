"""Who may call the API, and how every refusal looks: one JSON shape, a code and a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent
from tests.api.conftest import as_actor
from tests.api.conftest import error
from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scheme", ["Bearer", "token", "Basic"])
def test_it_accepts_a_key_as_bearer_token_or_basic_password(world: World, scheme: str) -> None:
    response = as_actor(world, "key_read", scheme=scheme).get("user/")
    assert response.status_code == 200
    assert response.json()["api_key"]["name"] == "read"
    assert response.json()["organizations"] == [{"slug": "acme", "name": "Acme", "role": None}]


def test_it_shows_a_personal_key_acting_as_its_user(world: World) -> None:
    body = as_actor(world, "key_personal").get("user/").json()
    assert body["email"] == "member@acme.test"
    assert body["organizations"] == [{"slug": "acme", "name": "Acme", "role": "member"}]


def test_it_answers_401_with_a_challenge_without_credentials() -> None:
    response = Client().get("/api/v1/orgs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error(response)["code"] == "not_authenticated"


@pytest.mark.parametrize("actor", ["key_expired", "key_revoked", "key_personal_left"])
def test_it_refuses_unusable_keys_with_401_and_audits_them(world: World, actor: str) -> None:
    response = as_actor(world, actor).get("orgs/acme/")
    assert response.status_code == 401
    assert error(response)["message"] == "Invalid, expired or revoked API key."
    refused = AuditEvent.objects.filter(organization=world.org_a, action="api_key.refused")
    assert refused.count() == 1


def test_it_refuses_a_key_used_outside_its_networks_with_403(world: World) -> None:
    response = as_actor(world, "key_network").get("orgs/acme/")
    assert response.status_code == 403
    assert "may not be used from" in error(response)["message"]


def test_it_refuses_an_unknown_authorization_scheme(world: World) -> None:
    response = Client(HTTP_AUTHORIZATION="Digest abc").get("/api/v1/user/")
    assert response.status_code == 401
    assert "Bearer" in error(response)["message"]


def test_it_throttles_repeated_bad_keys_with_429_and_retry_after(settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "key": (3, 60)}
    client = Client(REMOTE_ADDR=random_source_ip(), HTTP_AUTHORIZATION="Bearer whk_nonsense")
    statuses = [client.get("/api/v1/user/").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    response = client.get("/api/v1/user/")
    assert error(response)["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_it_requires_a_csrf_token_for_session_writes(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["owner"])
    response = client.post(
        "/api/v1/orgs/acme/repos/", {"slug": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in error(response)["message"]
    assert not world.org_a.repositories.filter(slug="x").exists()


def test_it_answers_a_foreign_organization_exactly_like_a_missing_one(world: World) -> None:
    api = as_actor(world, "owner")
    foreign = api.get("orgs/globex/repos/main/")
    missing = api.get("orgs/nosuch/repos/main/")
    assert foreign.status_code == missing.status_code == 404
    assert error(foreign)["code"] == error(missing)["code"] == "not_found"
    assert error(foreign)["message"].replace("globex", "X") == error(missing)["message"].replace(
        "nosuch", "X"
    )
    assert error(missing)["message"] == "Organization 'nosuch' not found."


def test_it_answers_a_key_outside_its_repositories_like_a_missing_repository(
    world: World,
) -> None:
    api = as_actor(world, "key_limited")
    assert api.get("orgs/acme/repos/main/").status_code == 404
    assert api.get("orgs/acme/repos/other/").status_code == 200
    listed = api.get("orgs/acme/repos/").json()["results"]
    assert [r["slug"] for r in listed] == ["other"]


def test_it_answers_validation_errors_with_their_fields(world: World) -> None:
    response = as_actor(world, "owner").post("orgs/acme/repos/", {"slug": "Not A Slug"})
    body = error(response)
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["slug"]
    assert body["message"].startswith("slug: ")


def test_it_answers_a_wrong_method_with_405_in_the_same_shape(world: World) -> None:
    response = as_actor(world, "owner").delete("orgs/")
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


def test_it_answers_unknown_api_urls_with_json(world: World) -> None:
    response = as_actor(world, "owner").get("nothing/here")
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_it_points_out_a_missing_trailing_slash(world: World) -> None:
    client = Client(
        enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {world.tokens['key_read']}"
    )
    response = client.post(
        "/api/v1/orgs/acme/repos", {"slug": "x"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert error(response)["message"].endswith("end with a slash: /api/v1/orgs/acme/repos/")


def test_it_answers_a_read_again_with_304_until_it_changes(world: World) -> None:
    api = as_actor(world, "owner")
    first = api.get("orgs/acme/repos/main/")
    etag = first["ETag"]
    again = api.get("orgs/acme/repos/main/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    api.patch("orgs/acme/repos/main/", {"description": "changed"})
    changed = api.get("orgs/acme/repos/main/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["description"] == "changed"
    assert changed["ETag"] != etag


def test_it_pages_long_lists_in_a_stable_order(world: World) -> None:
    api = as_actor(world, "owner")
    first = api.get("orgs/acme/members/", {"page_size": 4}).json()
    second = api.get("orgs/acme/members/", {"page_size": 4, "page": 2}).json()
    emails = [m["email"] for m in first["results"] + second["results"]]
    assert first["count"] == 7
    assert first["next"].endswith("page=2&page_size=4")
    assert emails == sorted(emails)
    assert len(set(emails)) == 7
