"""Brute-force throttles: what they hold back, what they never hold back, where they count.

Findings M1 (a valid key refused behind a busy address; per-process counters), M2 (the admin
log-in unthrottled) and L3 (anyone writing into an organization's audit log) of the security
review, each reproduced as the attack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.models import User
from accounts.throttle import throttle_retry_after
from tests.world import World
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
PASSWORD = "correct horse battery staple"


def limits(settings: Any, **scopes: tuple[int, int]) -> None:
    settings.AUTH_FAILURE_LIMITS = {
        **settings.AUTH_FAILURE_LIMITS,
        **{scope.replace("_", "-"): limit for scope, limit in scopes.items()},
    }


def index(org: str = "acme", repo: str = "main") -> str:
    return reverse("simple-index", kwargs={"org": org, "repo": repo})


def public_id(token: str) -> str:
    return token.split("_")[1]


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# M1: keys -------------------------------------------------------------------------------------


def test_it_lets_valid_keys_of_every_tenant_in_from_an_address_that_sent_bad_ones(
    world: World, settings: Any
) -> None:
    limits(settings, key=(5, 300))
    shared = Client(REMOTE_ADDR=random_source_ip())  # e.g. everyone behind one proxy
    scans = [shared.get(index(), **bearer(f"whk_{i:012d}_guess")).status_code for i in range(6)]
    assert scans == [401] * 5 + [429]
    # Another tenant's valid key, from the same address, on the index and on the REST API.
    assert shared.get(index("globex"), **bearer(world.tokens["key_b"])).status_code == 200
    assert shared.get("/api/v1/user/", **bearer(world.tokens["key_b"])).status_code == 200
    # The address itself is still held back for keys that do not verify.
    held = shared.get(index(), **bearer("whk_000000000099_guess"))
    assert held.status_code == 429
    assert 0 < int(held["Retry-After"]) <= 300


def test_it_bounds_guessing_one_keys_secret_whatever_the_source(
    world: World, settings: Any
) -> None:
    limits(settings, key_id=(3, 300))
    target = public_id(world.tokens["key_read"])
    statuses = [
        Client(REMOTE_ADDR=random_source_ip())
        .get(index(), **bearer(f"whk_{target}_guess{i}"))
        .status_code
        for i in range(5)
    ]
    assert statuses == [401] * 3 + [429] * 2
    held = Client(REMOTE_ADDR=random_source_ip()).get("/api/v1/user/", **bearer(f"whk_{target}_x"))
    assert held.status_code == 429
    assert 0 < int(held["Retry-After"]) <= 300
    # The key itself still works, and guessing another key's secret is not held back.
    fresh = Client(REMOTE_ADDR=random_source_ip())
    assert fresh.get(index(), **bearer(world.tokens["key_read"])).status_code == 200
    other = public_id(world.tokens["key_upload"])
    assert fresh.get(index(), **bearer(f"whk_{other}_guess")).status_code == 401


def test_it_lets_everyone_in_while_its_cache_is_unreachable(world: World, settings: Any) -> None:
    limits(settings, key=(1, 300), key_id=(1, 300))
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        },
    }
    client = Client(REMOTE_ADDR=random_source_ip())
    bad = [client.get(index(), **bearer(f"whk_{i:012d}_guess")).status_code for i in range(3)]
    assert bad == [401] * 3
    assert client.get(index(), **bearer(world.tokens["key_read"])).status_code == 200


def _count_failures_in_a_process_of_its_own(data_dir: Path, source: str, times: int) -> Any:
    """Count failures from `source` in a new `manage.py shell` on the embedded default (no
    REDIS_URL, as `manage.py serve` runs each gunicorn worker), and report what it sees."""
    code = (
        "import json\n"
        "from django.conf import settings\n"
        "from accounts.throttle import throttle_failure, throttle_retry_after\n"
        f"for _ in range({times}):\n"
        f"    throttle_failure(scope='key', subject={source!r})\n"
        f"retry = throttle_retry_after(scope='key', subject={source!r})\n"
        "print(json.dumps({'retry_after': retry, 'cache': settings.CACHES['shared']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env |= {"DATA_DIR": str(data_dir), "KEY_FAILURE_LIMIT": "5", "KEY_FAILURE_WINDOW": "300"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_it_shares_the_embedded_counters_between_the_processes_of_one_host(
    tmp_path: Path, settings: Any
) -> None:
    source = "192.0.2.77"
    first = _count_failures_in_a_process_of_its_own(tmp_path, source, 3)
    second = _count_failures_in_a_process_of_its_own(tmp_path, source, 3)
    # 3 + 3 failures from two processes pass the limit of 5 that neither reached alone.
    assert first["retry_after"] is None
    assert second["retry_after"] is not None
    assert "locmem" not in first["cache"]["BACKEND"].lower()
    # And this process, configured the same way, sees the same count.
    limits(settings, key=(5, 300))
    settings.CACHES = {**settings.CACHES, "shared": first["cache"]}
    assert throttle_retry_after(scope="key", subject=source) is not None


# M1 and M2: log-ins ---------------------------------------------------------------------------


@pytest.fixture
def fast_password_hashing(settings: Any) -> None:
    # The production hasher is slow on purpose; these tests are about the counting around it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(fast_password_hashing: None) -> User:
    return User.objects.create_superuser("root@ops.example", PASSWORD)


def login(url: str, email: str, password: str, ip: str = "") -> Any:
    client = Client(REMOTE_ADDR=ip or random_source_ip())
    return client.post(url, {"username": email, "password": password, "next": "/admin/"})


ADMIN_LOGIN = "/admin/login/"


def test_it_holds_back_the_admin_log_in_after_the_limit(staff: User, settings: Any) -> None:
    limits(settings, login=(3, 300))
    ip = random_source_ip()
    wrong = [login(ADMIN_LOGIN, staff.email, "guess", ip).status_code for _ in range(3)]
    assert wrong == [200] * 3
    held = login(ADMIN_LOGIN, staff.email, PASSWORD, ip)
    assert held.status_code == 429
    assert 0 < int(held["Retry-After"]) <= 300
    # Per account: a new address does not help either.
    assert login(ADMIN_LOGIN, staff.email, PASSWORD).status_code == 429


def test_it_counts_admin_and_dashboard_log_in_failures_together(staff: User, settings: Any) -> None:
    limits(settings, login=(3, 300))
    login(ADMIN_LOGIN, staff.email, "guess")
    login(ADMIN_LOGIN, staff.email, "guess")
    login(reverse("login"), staff.email, "guess")
    assert login(reverse("login"), staff.email, PASSWORD).status_code == 429
    assert login(ADMIN_LOGIN, staff.email, PASSWORD).status_code == 429


def test_it_still_logs_staff_in_to_the_admin(staff: User) -> None:
    client = Client(REMOTE_ADDR=random_source_ip())
    response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# L3: the audit log of refused keys ------------------------------------------------------------

HOSTILE = "URGENT-all-keys-leaked-rotate-at-https-evil.example-now"


def test_it_keeps_attacker_chosen_text_out_of_the_audit_log(world: World) -> None:
    target = public_id(world.tokens["key_read"])
    wrong = bearer(f"whk_{target}_not-the-secret")
    by_path = Client(REMOTE_ADDR="203.0.113.50").get(f"/zzzz/x/simple/{HOSTILE}/", **wrong)
    by_method = Client(REMOTE_ADDR="203.0.113.51").generic(HOSTILE[:24], "/api/v1/user/", **wrong)
    assert (by_path.status_code, by_method.status_code) == (401, 401)
    events = AuditEvent.objects.filter(action="api_key.refused").order_by("source_ip")
    assert [(e.source_ip, e.details) for e in events] == [
        ("203.0.113.50", {"reason": "bad secret", "method": "GET"}),
        ("203.0.113.51", {"reason": "bad secret", "method": "other"}),
    ]
    for event in events:
        assert event.organization == world.org_a
        assert event.target == f"key {target}"
        assert HOSTILE.lower() not in (event.target + event.actor_label).lower()


def test_it_records_one_refusal_per_key_source_and_reason_per_window(
    world: World, settings: Any
) -> None:
    # Limits high enough that only the audit's own bound is at work.
    limits(settings, key=(1000, 300), key_id=(1000, 300))
    target = public_id(world.tokens["key_read"])
    client = Client(REMOTE_ADDR=random_source_ip())
    statuses = {
        client.get(index(), **bearer(f"whk_{target}_guess{i}")).status_code for i in range(50)
    }
    assert statuses == {401}
    refused = AuditEvent.objects.filter(organization=world.org_a, action="api_key.refused")
    assert refused.count() == 1
    # Another source, or another reason, is another event.
    Client(REMOTE_ADDR=random_source_ip()).get(index(), **bearer(f"whk_{target}_guess"))
    client.get(index(), **bearer(world.tokens["key_revoked"]))
    client.get(index(), **bearer(world.tokens["key_revoked"]))
    assert refused.count() == 3


def test_a_revoked_or_expired_key_is_refused_but_never_counted_as_a_guess(
    world: World, settings: Any
) -> None:
    """Its secret is right: a CI job still using it is not guessing, and must keep getting
    the 401 that says why, not a 429 that hides it (only wrong secrets count per key)."""
    limits(settings, key_id=(3, 300))
    for actor in ("key_revoked", "key_expired"):
        statuses = [
            Client(REMOTE_ADDR=random_source_ip()).get(index(), **bearer(world.tokens[actor]))
            for _ in range(5)
        ]
        assert [s.status_code for s in statuses] == [401] * 5
        assert throttle_retry_after(scope="key-id", subject=public_id(world.tokens[actor])) is None
