"""Slow clients deny no one (issue 14, item 7): 32 clients trickle upload bodies a few bytes a
second, kept open the whole time, while 8 clients install with pip in a loop; every install
succeeds while every trickle is still open. Then a client that stops sending in the middle of
its body is cut off by the body timeout, and nothing of any unfinished upload is written.

On both shapes: production's parts behind nginx with deploy/nginx.conf (docker-compose.yml's
front; gunicorn's 8 threads here would otherwise all be held by the first 8 trickles), and the
embedded default of `make run` (waitress, config/embedded.py), with no service in front.
Figures (latencies with and without the trickles) are bench/slow_clients.py's, not this test's.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.front import Nginx
from tests.services import EmbeddedStack
from tests.services import LiveStack
from tests.services import ServicesStack
from tests.services import wait_for
from tests.slow_clients import Trickle
from tests.slow_clients import pip_install_loop
from tests.slow_clients import start_trickles

pytestmark = pytest.mark.e2e

TRICKLES = 32
INSTALLERS = 8
ROUNDS = 2
# Seconds of silence before a client is cut off, short for the test (60 s by default); the
# trickles send every second.
BODY_TIMEOUT = 4
LIB = Package("slow-lib", "1.0")
APP = Package("slow-app", "1.0", requires=["slow-lib"])


@dataclass
class Shape:
    name: str
    stack: LiveStack
    tenant: dict[str, object]
    stored_keys: Callable[[], list[str]]
    # What the server's own log says of a client it cut off.
    log: Path

    @property
    def token(self) -> str:
        return str(self.tenant["api_key"]["token"])  # type: ignore[index]

    def rows(self, prefix: str) -> int:
        """File rows whose filename starts with `prefix`, counted by the stack's own Django."""
        out = self.stack.manage(
            "shell", "-v", "0", "-c",
            "from registry.models import File; "
            f"print(File.objects.filter(filename__startswith={prefix!r}).count())",
        )  # fmt: skip
        return int(out.strip())


@pytest.fixture(scope="module")
def production(services_stack: ServicesStack) -> Iterator[Shape]:
    front = Nginx(
        services_stack.workdir.parent / "slow-clients-nginx",
        upstream=f"127.0.0.1:{services_stack.port}",
        overrides={"client_body_timeout": f"{BODY_TIMEOUT}s"},
    )
    front.start()
    bucket = services_stack.env["S3_BUCKET"]

    def stored_keys() -> list[str]:
        pages = services_stack.s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    try:
        # Every address the tenant is given is nginx's.
        tenant = services_stack.provision("slow-prod", "main", "--base-url", front.base_url)
        yield Shape("production", services_stack, tenant, stored_keys, front.workdir / "access.log")
    finally:
        front.stop()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shape]:
    stack = EmbeddedStack(tmp_path_factory.mktemp("slow-embedded"))
    stack.env["REQUEST_IDLE_TIMEOUT"] = str(BODY_TIMEOUT)
    files = Path(stack.env["DATA_DIR"]) / "files"

    def stored_keys() -> list[str]:
        return [str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()]

    try:
        stack.start()
        tenant = stack.provision("slow-emb", "main")
        yield Shape("embedded", stack, tenant, stored_keys, stack.workdir / "serve.log")
    finally:
        stack.stop()


@pytest.fixture(params=["production", "embedded"])
def shape(request: pytest.FixtureRequest) -> Shape:
    return request.getfixturevalue(request.param)


def test_trickling_uploads_deny_no_install_and_a_silent_one_is_cut_off(
    shape: Shape, tmp_path: Path
) -> None:
    upload_url, index_url = str(shape.tenant["upload_url"]), str(shape.tenant["index_url"])
    wheels = [p for pkg in (LIB, APP) for p in write_distributions(pkg, tmp_path / "dist")
              if p.suffix == ".whl"]  # fmt: skip
    uploaded = twine_upload(upload_url, shape.token, wheels)
    assert uploaded.returncode == 0, uploaded.output
    for package, wheel in zip((LIB, APP), wheels, strict=True):
        wait_until_listed(index_url, shape.token, package.name, [wheel.name])

    trickles = start_trickles(upload_url, shape.token, TRICKLES, shape.name)
    try:
        wait_for(lambda: all(t.sent > 0 for t in trickles), timeout=60, what="every trickle")
        installs = pip_install_loop(
            index_url, shape.token, APP.name, clients=INSTALLERS, rounds=ROUNDS,
            target=tmp_path / "installs",
        )  # fmt: skip
        # Every install succeeded, and every trickle was still sending all along.
        assert installs.failures == []
        assert len(installs.seconds) == INSTALLERS * ROUNDS
        assert [t.filename for t in trickles if not t.open] == []
        for target in (tmp_path / "installs").iterdir():
            assert (target / "slow_app").is_dir()
            assert (target / "slow_lib").is_dir()

        # One stops sending: it alone is cut off, once the body timeout passes.
        silent, sending = trickles[0], trickles[1:]
        silent.pause()
        wait_for(silent.closed_by_server.is_set, timeout=BODY_TIMEOUT * 10, what="the cut-off")
        assert [t.filename for t in sending if not t.open] == []
    finally:
        for trickle in trickles:
            trickle.close()
    _assert_cut_off_with_408(shape, silent)
    # Nothing of an unfinished upload was written: no row, no object.
    assert shape.rows("trickle_") == 0
    stored = shape.stored_keys()
    assert [k for k in stored if "trickle" in k] == []
    assert any(k.endswith(wheels[1].name) for k in stored)


def _assert_cut_off_with_408(shape: Shape, silent: Trickle) -> None:
    if shape.name == "embedded":
        # Waitress (config/embedded.py) answers before it closes.
        assert silent.reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), silent.reply
        assert b"the client stopped sending" in silent.reply
    else:
        # nginx closes the connection (a reset: reset_timedout_connection) and logs the 408.
        assert silent.reply == b""
        path = str(shape.tenant["upload_url"]).split("/", 3)[3]
        wait_for(
            lambda: any(f"POST /{path} HTTP/1.1\" 408 " in line
                        for line in shape.log.read_text().splitlines()),
            timeout=10, what="nginx's log of the 408",
        )  # fmt: skip
