"""Error pages in the dashboard's look, each saying what happened and offering a way home."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client

from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    return response.content.decode()


def test_it_answers_a_missing_or_foreign_page_with_a_styled_404(world: World) -> None:
    for url in ("/orgs/acme/repos/nope/", "/orgs/globex/", "/no/such/page/here/"):
        response = as_user(world, "member").get(url)
        assert response.status_code == 404, url
        page = text(response)
        assert "<h1>Nothing here</h1>" in page
        assert 'href="/">Go to your organizations</a>' in page
        assert "/static/css/site.css" in page
        assert "globex" not in page.replace(url, "")


def test_it_offers_a_log_in_on_a_404_to_anonymous_visitors() -> None:
    page = text(Client().get("/no/such/page/"))
    assert ">Log in</a>" in page


def test_it_says_why_an_action_was_refused_on_a_styled_403(world: World) -> None:
    response = as_user(world, "reader").get("/orgs/acme/repos/main/settings/")
    assert response.status_code == 403
    page = text(response)
    assert "<h1>Your role does not allow this</h1>" in page
    assert "Go to your organizations" in page


def test_it_explains_an_expired_form_without_mentioning_debug(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    response = client.post("/orgs/acme/repos/main/projects/acme-lib/versions/1.0/yank/")
    assert response.status_code == 403
    page = text(response)
    assert "<h1>This form has expired</h1>" in page
    assert "Nothing was changed" in page
    assert "DEBUG" not in page


def test_it_renders_the_500_page_without_a_request() -> None:
    # Django renders it with an empty context: nothing in it may need the request or the DB.
    page = render_to_string("500.html")
    assert "<h1>Something went wrong on our side</h1>" in page
    assert 'href="/">Go to your organizations</a>' in page
