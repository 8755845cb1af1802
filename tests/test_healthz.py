from __future__ import annotations

import json

import pytest

from config.celery import app as celery_app
from tests.clients import http
from tests.services import LiveStack


@pytest.mark.e2e
def test_it_reports_every_part_reachable_on_a_live_stack(stack: LiveStack) -> None:
    response = http("GET", stack.url("healthz"))
    assert response.status == 200
    checks = json.loads(response.body)["checks"]
    assert checks == {name: {"ok": True} for name in ("database", "cache", "broker", "storage")}


@pytest.mark.django_db
def test_it_answers_503_naming_the_part_that_is_down(client, monkeypatch) -> None:
    # Port 9 (discard) on loopback: nothing listens there.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:9/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["database"] == {"ok": True}
