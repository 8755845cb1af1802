"""The API reference page runs under the strict Content-Security-Policy: every script and
style it needs is a file from this server, and the dashboard links to it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.world import World
from tests.world import as_user

pytestmark = pytest.mark.django_db


def test_it_serves_the_reference_page_without_inline_script_or_style() -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<style" not in page
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts, page
    assert all('src="' in attrs for attrs in scripts), scripts
    # Swagger UI's own files come from this server (drf-spectacular-sidecar), not a CDN.
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(s.startswith("/") for s in sources), sources
    start = Client().get("/api/v1/docs/?script")
    assert start.status_code == 200
    assert "javascript" in start["Content-Type"]
    assert "/api/v1/schema/" in start.content.decode()


def test_it_links_the_reference_from_every_dashboard_page(world: World) -> None:
    page = as_user(world, "reader").get("/orgs/acme/").content.decode()
    assert '<a href="/api/v1/docs/">REST API reference</a>' in page
