"""Download throughput with download counting on and off (issue 17: within 5%).

    .venv/bin/python bench/downloads.py [--shape wheelhouse|embedded] [--rounds 5] \\
        [--duration 5] [--connections 8]

Starts the registry twice in the same shape, one with DOWNLOAD_COUNTING=1 (the default) and
one with it off, uploads one small wheel to each, and runs wrk against the wheel's URL with
pip's User-Agent, alternating between the two so both meet the same machine load; prints the
median requests per second and latencies of each, their ratio, and how many of the counted
stack's downloads its daily rows hold once flushed. A small wheel on purpose: the request,
not the bytes, dominates, so any cost counting adds shows. "wheelhouse" is PostgreSQL,
Redis and local files under gunicorn (4 workers x 2 threads, as bench/run.py); "embedded"
`make run`'s SQLite and local files. Needs `wrk`, PostgreSQL and Redis as bench/run.py.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.run import dist
from bench.run import get
from bench.run import project_path
from bench.run import start
from bench.run import upload
from bench.run import wait_listed
from bench.run import wrk
from bench.servers import Server
from tests.artifacts import Package

PIP_USER_AGENT = (
    'pip/26.3 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.11.7"},'
    '"installer":{"name":"pip","version":"26.3"},"python":"3.11.7",'
    '"system":{"name":"Linux","release":"6.1.0"}}'
)
PACKAGE = Package("bench-counted", "1.0")


def start_with(shape: str, workdir: Path, *, counting: bool) -> Server:
    os.environ["DOWNLOAD_COUNTING"] = "1" if counting else "0"
    # The production default: each worker adds its counters to the database every 10 s.
    os.environ["DOWNLOAD_FLUSH_SECONDS"] = "10"
    workdir.mkdir(parents=True)
    return start(shape, workdir)


def file_path(server: Server) -> str:
    item = dist(PACKAGE)
    connection = http.client.HTTPConnection(
        urllib.parse.urlsplit(server.base_url).netloc, timeout=60
    )
    upload(server, item, connection)
    wait_listed(server, "bench-counted", item[0])
    _status, page = get(server, project_path(server, "bench-counted"))
    href = re.search(rb'href="([^"#]+)', page).group(1).decode()
    url = urllib.parse.urljoin(server.base_url + project_path(server, "bench-counted"), href)
    return urllib.parse.urlsplit(url).path


# What the web processes' command lines contain, in either shape.
WEB = (b"gunicorn", b"config.embedded")


def web_cpu_seconds(server: Server) -> float:
    """CPU time (user and system) its web processes have used (gunicorn's, or the embedded
    default's waitress processes, `config.embedded`): what a download costs the web tier,
    which a busy machine disturbs far less than throughput."""
    groups = {p.pid for p in server.processes}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            if os.getpgid(pid) not in groups or not any(
                web in (stat.parent / "cmdline").read_bytes() for web in WEB
            ):
                continue
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ProcessLookupError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def counted(server: Server) -> int:
    status, body = get(
        server, "/api/v1/orgs/bench/repos/main/projects/bench-counted/downloads/",
        accept="application/json",
    )  # fmt: skip
    assert status == 200, body
    return int(json.loads(body)["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="wheelhouse", choices=["wheelhouse", "embedded"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--control", action="store_true",
        help="count in neither stack: what the harness alone makes of two equal stacks",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    workdir = Path(__file__).resolve().parent / "work" / "downloads"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started: dict[str, Server] = {}
    try:
        for label, counting in (("on", True), ("off", False)):
            started[label] = start_with(
                args.shape, workdir / label, counting=counting and not args.control
            )
        paths = {label: file_path(server) for label, server in started.items()}
        runs: dict[str, list[dict]] = {"on": [], "off": []}
        for round_number in range(args.rounds):
            # Alternate which goes first: a drift in machine load favours neither.
            order = ("on", "off") if round_number % 2 == 0 else ("off", "on")
            for label in order:
                cpu_before = web_cpu_seconds(started[label])
                run = wrk(
                    started[label], paths[label], accept="*/*", connections=args.connections,
                    duration=args.duration, user_agent=PIP_USER_AGENT,
                )  # fmt: skip
                cpu = web_cpu_seconds(started[label]) - cpu_before
                run["cpu_us"] = cpu / max(run["requests"], 1) * 1e6
                runs[label].append(run)
                print(f"round {round_number + 1} counting {label}: {run['rps']:.0f} req/s, "
                      f"{run['cpu_us']:.0f} us web CPU per download", flush=True)  # fmt: skip
        time.sleep(12)  # one flush interval and a little: every worker has flushed
        sent = sum(r["requests"] for r in runs["on"])
        held = counted(started["on"])
        assert counted(started["off"]) == 0
    finally:
        for server in started.values():
            server.stop()
            servers.drop_wheelhouse_database(server)
    median = {
        label: {
            k: statistics.median(r[k] for r in found) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")
        }
        for label, found in runs.items()
    }
    errors = {label: sum(r["errors"] for r in found) for label, found in runs.items()}
    ratio = median["on"]["rps"] / median["off"]["rps"]
    print(f"\nshape {args.shape}: {args.rounds} rounds of {args.duration}s, "
          f"c{args.connections}, a {len(dist(PACKAGE)[1])}-byte wheel")  # fmt: skip
    print("| counting | req/s (median) | p50 ms | p99 ms | web CPU us per download | non-2xx |")
    print("|---|---|---|---|---|---|")
    for label in ("on", "off"):
        m = median[label]
        print(f"| {label} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
              f"{m['cpu_us']:.0f} | {errors[label]} |")  # fmt: skip
    cpu_ratio = median["on"]["cpu_us"] / median["off"]["cpu_us"]
    print(f"\non/off throughput: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%)")
    print(f"on/off web CPU per download: {cpu_ratio:.3f} ({(cpu_ratio - 1) * 100:+.1f}%)")
    print(f"downloads counted: {held} of {sent} served ({held / max(sent, 1):.2%})")


if __name__ == "__main__":
    main()
