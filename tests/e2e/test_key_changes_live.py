"""A key that stops being valid is refused on the very next request, by every web process,
although warm answers for it are kept in each process's memory (registry.index.hot).

Two web servers share the stack's database and caches, as two hosts behind a load balancer
would; the change is made by a third process (`manage.py shell`, through the services)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.clients import http
from tests.services import PROJECT_ROOT
from tests.services import LiveStack
from tests.services import free_port
from tests.services import http_ok
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def servers(stack: LiveStack) -> Iterator[list[str]]:
    """The stack's web server and a second one of its own, on the same settings."""
    port = free_port()
    second = f"http://127.0.0.1:{port}"
    process = start_process(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "--chdir", str(PROJECT_ROOT),
         "--no-control-socket"],
        env={**stack.env, "PUBLIC_URL": second},
        log=stack.workdir / f"second-web-{port}.log",
    )  # fmt: skip
    try:
        wait_for(lambda: http_ok(f"{second}/healthz"), timeout=60, what="second web server")
        yield [stack.base_url, second]
    finally:
        stop_process(process)


def _shell(stack: LiveStack, code: str) -> dict[str, str]:
    """Run `code` in a process of its own; it prints one JSON object, returned here."""
    out = stack.manage("shell", "-c", code)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


KEY_CODE = """
import json
from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke, api_key_rotate
from django.utils import timezone
from datetime import timedelta
owner = User.objects.get(email={email!r})
"""


def _warm(servers: list[str], paths: list[str], token: str) -> None:
    for _ in range(2):  # the second round is answered from memory
        for server in servers:
            for path in paths:
                assert http("GET", server + path, token=token).status == 200, server + path


def _statuses(servers: list[str], paths: list[str], token: str) -> set[int]:
    return {http("GET", server + path, token=token).status for server in servers for path in paths}


def test_a_revoked_rotated_or_expired_key_is_refused_at_once_by_every_web_process(
    stack: LiveStack, servers: list[str]
) -> None:
    org = f"keys-{uuid.uuid4().hex[:8]}"
    tenant = stack.provision(org, "main", scope="read")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    email = f"owner@{org}.test"
    json_format = "format=application/vnd.pypi.simple.v1%2Bjson"
    paths = [f"/{org}/main/simple/", f"/{org}/main/simple/?{json_format}"]
    prelude = KEY_CODE.format(email=email)

    # Revoked.
    _warm(servers, paths, token)
    public_id = token.split("_")[1]
    _shell(stack, prelude + (
        f"key = ApiKey.objects.get(public_id={public_id!r})\n"
        "api_key_revoke(api_key=key, actor=owner)\n"
        "print(json.dumps({}))\n"
    ))  # fmt: skip
    assert _statuses(servers, paths, token) == {401}

    # Rotated: the old secret is refused everywhere, the new one works everywhere.
    old = _shell(stack, prelude + (
        "key = api_key_create(organization=owner.memberships.get().organization, name='ci')\n"
        "print(json.dumps({'token': key.token}))\n"
    ))["token"]  # fmt: skip
    _warm(servers, paths, old)
    new = _shell(stack, prelude + (
        f"key = ApiKey.objects.get(public_id={old.split('_')[1]!r})\n"
        "print(json.dumps({'token': api_key_rotate(api_key=key, actor=owner).token}))\n"
    ))["token"]  # fmt: skip
    assert _statuses(servers, paths, old) == {401}
    assert _statuses(servers, paths, new) == {200}

    # Expired: nothing is written when a key expires; its warm answers must not outlive it.
    expiring = _shell(stack, prelude + (
        "key = api_key_create(organization=owner.memberships.get().organization, name='soon',"
        " expires_at=timezone.now() + timedelta(seconds=4))\n"
        "print(json.dumps({'token': key.token, 'at': key.api_key.expires_at.timestamp()}))\n"
    ))  # fmt: skip
    _warm(servers, paths, expiring["token"])
    deadline = float(expiring["at"])
    wait_for(lambda: time.time() > deadline + 0.1, timeout=30, what="the key's expiry")
    assert _statuses(servers, paths, expiring["token"]) == {401}
