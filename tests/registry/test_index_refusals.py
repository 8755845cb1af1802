"""A key refused at the index or upload URLs leaves a line in its own organization's audit log,
whichever refusal it was: an organization sees its keys probing where they have no business."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.models import Organization
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import multipart
from tests.fixtures.hostile import Upload
from tests.world import World

pytestmark = pytest.mark.django_db


def _as(token: str, source_ip: str) -> Client:
    basic = base64.b64encode(f"__token__:{token}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {basic}", REMOTE_ADDR=source_ip)


def _upload(client: Client, url: str) -> Any:
    package = Package("demo", "1.0")
    upload = Upload(wheel_filename(package), wheel_bytes(package), name="demo")
    body, content_type = multipart(upload.fields(), {"content": (upload.filename, upload.data)})
    return client.generic("POST", url, body, content_type=content_type)


def _refusals(organization: Organization) -> list[tuple[str, str, str, str | None]]:
    """(key name, reason, method, source address) of each refused use, oldest first; the
    target always names the key itself (never the path, which the request chose)."""
    events = AuditEvent.objects.filter(organization=organization, action="api_key.refused")
    found = []
    for e in events.select_related("actor_api_key").order_by("created_at", "pk"):
        assert e.actor_api_key is not None
        assert e.target == f"key {e.actor_api_key.public_id}"
        found.append((e.actor_api_key.name, e.details["reason"], e.details["method"], e.source_ip))
    return found


def test_it_audits_a_key_used_on_a_repository_it_cannot_see(world: World) -> None:
    # One source address per request: repeats of one (key, address, reason) are recorded once.
    upload, limited = world.tokens["key_upload"], world.tokens["key_limited"]  # limited: acme/other

    answers = [
        _as(upload, "203.0.113.1").get("/globex/main/simple/").status_code,
        _as(upload, "203.0.113.2").get("/globex/main/simple/globex-sentinel-lib/").status_code,
        _upload(_as(upload, "203.0.113.3"), "/globex/main/legacy/").status_code,
        _as(limited, "203.0.113.4").get("/acme/main/simple/").status_code,
    ]

    assert answers == [404, 404, 404, 404]
    assert _refusals(world.org_a) == [
        ("upload", "not visible", "GET", "203.0.113.1"),
        ("upload", "not visible", "GET", "203.0.113.2"),
        ("upload", "not visible", "POST", "203.0.113.3"),
        ("limited", "not visible", "GET", "203.0.113.4"),
    ]
    # Globex learns nothing about Acme's keys.
    assert _refusals(world.org_b) == []


def test_it_audits_a_read_key_that_tries_to_upload(world: World) -> None:
    response = _upload(_as(world.tokens["key_read"], "203.0.113.5"), "/acme/main/legacy/")

    assert response.status_code == 403
    assert _refusals(world.org_a) == [("read", "not allowed: upload", "POST", "203.0.113.5")]
