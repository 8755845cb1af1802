"""Profile the hot path in one process: a warm, authenticated project page through Django's
WSGI handler (no network, no server), on the embedded default in a scratch DATA_DIR.

    .venv/bin/python bench/profile_page.py [--requests 2000] [--path simple/demo/] [--top 40]

Prints requests per second and CPU microseconds per request (the figure to compare runs by on
a busy machine), then cProfile's cumulative table.
What the table shows is the cost that is ours (the server and the network are not in it).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="wheelhouse-profile-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.services import user_get_or_create  # noqa: E402
from registry.models import Repository  # noqa: E402
from registry.provisioning import tenant_provision  # noqa: E402
from tests.artifacts import Package  # noqa: E402
from tests.world import publish  # noqa: E402

# What pip 26 sends (analytics counts downloads by it).
PIP_USER_AGENT = (
    'pip/26.3 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.11.7"},'
    '"installer":{"name":"pip","version":"26.3"},"python":"3.11.7",'
    '"system":{"name":"Linux","release":"6.1.0"}}'
)


def warm_request(path: str, accept: str = "*/*") -> Callable[[], str]:
    """A tenant `prof/main` with ten releases of `demo`, and a function that sends one GET
    of `path` (with its key) through Django's WSGI handler, warmed up; it returns the status.
    `path` may name `{file}`: the URL of demo 1.0.0's wheel."""
    call_command("migrate", verbosity=0)
    user_get_or_create(email="profile@example.com")
    tenant = tenant_provision(
        org_slug="prof", repo_slug="main", email="profile@example.com", base_url="http://x"
    )
    repository = Repository.objects.get(organization__slug="prof", slug="main")
    files = [publish(repository, Package("demo", f"1.0.{minor}")) for minor in range(10)]
    path = path.format(file=f"/prof/main/files/{files[0].sha256}/{files[0].filename}")
    token = tenant["api_key"]["token"]  # type: ignore[index]
    handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1", "HTTP_ACCEPT": accept,
        "HTTP_AUTHORIZATION": "Basic "
        + base64.b64encode(f"__token__:{token}".encode()).decode(),
        "HTTP_USER_AGENT": PIP_USER_AGENT,
    }  # fmt: skip

    def one() -> str:
        statuses: list[str] = []
        body: Any = handler(
            {**environ, "wsgi.input": io.BytesIO(b"")}, lambda s, h, *a: statuses.append(s)
        )
        b"".join(body)
        body.close()
        return statuses[0]

    first = one()
    if not first.startswith("200"):
        sys.exit(f"{path} answered {first}")
    for _ in range(100):
        one()
    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--path", default="simple/demo/", help="below /<org>/<repo>/; `file`: a wheel's URL"
    )
    parser.add_argument("--accept", default="text/html")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="cumulative, tottime, ...")
    args = parser.parse_args()

    one = warm_request("{file}" if args.path == "file" else f"/prof/main/{args.path}", args.accept)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(args.requests):
        one()
    elapsed = time.perf_counter() - started
    # CPU time is what other processes on the machine disturb least: compare runs by it.
    cpu = (time.process_time() - cpu_started) / args.requests * 1e6
    print(f"{args.requests / elapsed:.0f} requests/s in one process, {cpu:.0f} us CPU per request")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        one()
    profile.disable()
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
