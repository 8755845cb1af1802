from __future__ import annotations

import json

import pytest
from botocore.config import Config

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
def test_it_stays_healthy_naming_the_cache_and_broker_it_goes_on_without(
    client, monkeypatch, settings
) -> None:
    # Port 9 (discard) on loopback: nothing listens there. Every instance shares them, and
    # serves without them: a 503 would take every instance out of its load balancer at once.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:9/0")
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",
    }
    settings.CACHES = {**settings.CACHES, "default": dead}
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["degraded"] == ["broker", "cache"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"] == {"ok": True}


@pytest.mark.django_db
def test_it_answers_503_naming_the_storage_when_it_is_down(client, settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "wheelhouse-down",
                "endpoint_url": "http://127.0.0.1:9",
                "access_key": "AKIDWHEELHOUSETEST",
                "secret_key": "wheelhouse-test-secret",
                "region_name": "us-east-1",
                "client_config": Config(
                    connect_timeout=0.5, retries={"max_attempts": 1, "mode": "standard"}
                ),
            },
        },
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["storage"]["ok"] is False
    assert body["checks"]["database"] == {"ok": True}
