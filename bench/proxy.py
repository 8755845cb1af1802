"""Proxy and virtual repositories: what serving from the cache costs next to a hosted page, and
what a first (cold) fetch adds to the upstream's own latency.

    .venv/bin/python bench/proxy.py [--duration 5] [--connections 8] [--upstream-delay-ms 50]
    make bench-proxy BENCH_ARGS="--duration 3"

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL as for the tests) and `wrk`. The upstream
is the tests' local index (tests/upstream.py) in this process, made `--upstream-delay-ms`
slow to stand in for the network between a registry and PyPI. Every page has 10 files.
Not part of the test suite: speed goals live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import HTML_ACCEPT
from bench.run import JSON_ACCEPT
from bench.run import bulk_upload
from bench.run import dist
from bench.run import wait_listed
from bench.run import wrk
from bench.servers import Server
from bench.servers import WheelhouseStack
from bench.servers import basic
from tests.artifacts import Package
from tests.upstream import Upstream

VERSIONS = 10
HOSTED = "bench-hosted"
PROXIED = "bench-proxied"
COLD_PROJECTS = 15


def get(base_url: str, path: str, *, auth: str | None, accept: str = JSON_ACCEPT) -> float:
    """Seconds one GET takes (a new connection, as a first request makes); asserts 200."""
    host = urllib.parse.urlsplit(base_url).netloc
    connection = http.client.HTTPConnection(host, timeout=60)
    headers = {"Accept": accept}
    if auth:
        headers["Authorization"] = auth
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status not in (200, 302):
        raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
    return elapsed


def cold_fetches(stack_url: str, server: Server, upstream: Upstream) -> dict[str, float]:
    """Median ms of a first page fetch through the proxy, of the same page straight from the
    upstream, and of a first file download through the proxy and straight from it."""
    proxied, direct, file_proxied, file_direct = [], [], [], []
    for i in range(COLD_PROJECTS):
        name = f"bench-cold-{i:02d}"
        for v in range(VERSIONS):
            upstream.add_wheel(name, f"1.0.{v}")
        direct.append(get(upstream.base, f"/simple/{name}/", auth=None))
        proxied.append(get(stack_url, f"/bench/mirror/simple/{name}/", auth=server.auth))
        page = _json(stack_url, f"/bench/mirror/simple/{name}/", server.auth)
        upstream_page = _json(upstream.base, f"/simple/{name}/", None)
        file_direct.append(
            get(
                upstream.base,
                urllib.parse.urlsplit(upstream_page["files"][0]["url"]).path,
                auth=None,
            )
        )
        file_proxied.append(get(stack_url, page["files"][0]["url"], auth=server.auth))
    return {
        "cold page via proxy (ms)": statistics.median(proxied) * 1000,
        "same page from upstream (ms)": statistics.median(direct) * 1000,
        "cold file via proxy (ms)": statistics.median(file_proxied) * 1000,
        "same file from upstream (ms)": statistics.median(file_direct) * 1000,
    }


def _json(base_url: str, path: str, auth: str | None) -> dict:
    host = urllib.parse.urlsplit(base_url).netloc
    connection = http.client.HTTPConnection(host, timeout=60)
    headers = {"Accept": JSON_ACCEPT, **({"Authorization": auth} if auth else {})}
    connection.request("GET", path, headers=headers)
    return json.loads(connection.getresponse().read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--upstream-delay-ms", type=float, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    workdir = Path(__file__).resolve().parent / "work" / "proxy"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wheelhouse")
    admin_url = database.rsplit("/", 1)[0] + "/postgres"
    name = f"wheelhouse_bench_{os.urandom(4).hex()}"
    _database("CREATE", admin_url, name)
    stack = WheelhouseStack(
        workdir,
        database_url=admin_url.rsplit("/", 1)[0] + f"/{name}",
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    upstream = Upstream()
    report: dict[str, object] = {}
    try:
        stack.start(workers=int(os.environ.get("BENCH_WORKERS", "2")),
                    threads=int(os.environ.get("BENCH_THREADS", "4")))  # fmt: skip
        tenant = stack.provision("bench", "main")
        stack.provision("bench", "mirror", "--kind", "proxy", "--upstream", upstream.url)
        stack.provision("bench", "all", "--kind", "virtual", "--members", "main,mirror")
        auth = basic("__token__", str(tenant["api_key"]["token"]))  # type: ignore[index]
        server = Server("wheelhouse", stack.base_url, "/bench/main/simple/",
                        "/bench/main/legacy/", auth, stack.processes)  # fmt: skip
        items = [dist(Package(HOSTED, f"1.0.{v}")) for v in range(VERSIONS)]
        bulk_upload(server, items, clients=1)
        wait_listed(server, HOSTED, items[-1][0])
        for v in range(VERSIONS):
            upstream.add_wheel(PROXIED, f"1.0.{v}")

        pages = {
            "hosted page": f"/bench/main/simple/{HOSTED}/",
            "proxied page (warm)": f"/bench/mirror/simple/{PROXIED}/",
            "virtual page, proxied name (warm)": f"/bench/all/simple/{PROXIED}/",
            "virtual page, hosted name": f"/bench/all/simple/{HOSTED}/",
        }
        for path in pages.values():  # warm: fetched and rendered once
            get(stack.base_url, path, auth=auth)
        asked = upstream.count("/simple/")
        for label, path in pages.items():
            for fmt, accept in (("json", JSON_ACCEPT), ("html", HTML_ACCEPT)):
                print(f"wrk {label} {fmt} ...", flush=True)
                report[f"{label} {fmt} c{args.connections}"] = wrk(
                    server, path, accept=accept, connections=args.connections,
                    duration=args.duration,
                )  # fmt: skip
        report["upstream page requests during the warm runs"] = float(
            upstream.count("/simple/") - asked
        )
        upstream.delay = args.upstream_delay_ms / 1000
        report.update(cold_fetches(stack.base_url, server, upstream))
    finally:
        upstream.close()
        stack.stop()
        _database("DROP", admin_url, name)
    print_report(report, args)


def _database(verb: str, admin_url: str, name: str) -> None:
    statement = (
        "CREATE DATABASE {}" if verb == "CREATE" else "DROP DATABASE IF EXISTS {} WITH (FORCE)"
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def print_report(report: dict[str, object], args: argparse.Namespace) -> None:
    print()
    print(f"{'measurement':48}{'result':>40}")
    for key, value in report.items():
        if isinstance(value, dict):
            cell = f"{value['rps']:.0f}/s p50 {value['p50_ms']:.1f} ms p99 {value['p99_ms']:.1f} ms"
            if value["errors"]:
                cell += f" ERR{value['errors']}"
        else:
            cell = f"{value:.1f}" if isinstance(value, float) else str(value)
        print(f"{key:48}{cell:>40}")
    hosted = report.get(f"hosted page json c{args.connections}")
    for label in ("proxied page (warm)", "virtual page, proxied name (warm)"):
        ours = report.get(f"{label} json c{args.connections}")
        if isinstance(hosted, dict) and isinstance(ours, dict) and hosted["rps"]:
            print(f"{label} / hosted page (json req/s): {ours['rps'] / hosted['rps']:.2f}x")
    print(f"upstream delay: {args.upstream_delay_ms:.0f} ms per request; "
          f"{VERSIONS} files per page; wrk runs of {args.duration}s.")  # fmt: skip


if __name__ == "__main__":
    main()
