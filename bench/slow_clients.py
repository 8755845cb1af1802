"""Install and page latency with and without clients trickling uploads (issue 14, item 7).

    make bench-slow BENCH_ARGS="--only production,direct,embedded --rounds 3 \
        --results bench/RESULTS.md"

For each shape, three phases: with no trickle, then with TRICKLES clients each sending an
upload's body a few bytes a second (tests/slow_clients.py), open for the whole phase, then
with none again. In each phase, 8
threads fetch a project page in a loop for --duration seconds (page latency), then 8 clients
each run `pip install` (two packages, no cache) --rounds times (install latency).

Shapes: "production" is production's parts (PostgreSQL, Redis, SeaweedFS, gunicorn 2x4 as the
test suite runs it, a prefork worker) behind Debian's nginx with deploy/nginx.conf, as in
docker-compose.yml; "direct" is the same gunicorn without nginx (the shape the review found
denied: its requests time out, so it uses short client timeouts and one install round);
"embedded" is `make run` (`manage.py serve`). Needs PostgreSQL and Redis (DATABASE_URL /
REDIS_URL) and nginx (`make nginx`). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.servers import Server
from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.front import Nginx
from tests.services import wait_for
from tests.slow_clients import pip_install_loop
from tests.slow_clients import start_trickles

TRICKLES = 32
CLIENTS = 8
LIB = Package("slow-lib", "1.0")
APP = Package("slow-app", "1.0", requires=["slow-lib"])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def page_latencies(server: Server, *, duration: float, timeout: float) -> tuple[list[float], int]:
    """Seconds per GET of the app's project page, CLIENTS threads for `duration`; and errors."""
    url = urllib.parse.urlsplit(server.index_url + f"{APP.name}/")
    timings: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection(url.netloc, timeout=timeout)
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                connection.request("GET", url.path, headers={"Authorization": server.auth or ""})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(url.netloc, timeout=timeout)
            with lock:
                if ok:
                    timings.append(time.monotonic() - started)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, errors


def measure(server: Server, *, trickles: int, rounds: int, duration: float, timeout: float,
            workdir: Path) -> dict[str, str]:  # fmt: skip
    token = _token(server)
    slow = start_trickles(server.upload_url, token, trickles, f"{server.name}{time.time_ns()}")
    try:
        if slow:
            wait_for(lambda: all(t.sent > 0 for t in slow), timeout=60, what="the trickles")
        pages, page_errors = page_latencies(server, duration=duration, timeout=timeout)
        installs = pip_install_loop(
            server.index_url, token, APP.name, clients=CLIENTS, rounds=rounds,
            target=workdir / f"installs-{trickles}", timeout=max(timeout * 6, 30),
        )  # fmt: skip
        still_open = sum(t.open for t in slow)
    finally:
        for trickle in slow:
            trickle.close()
    done = len(installs.seconds)
    return {
        "shape": server.name,
        "trickling clients": str(trickles),
        "installs ok": f"{done}/{done + len(installs.failures)}",
        "install p50 / p95 (s)": _pair(installs.seconds, 1, "{:.2f}"),
        "page GETs ok": f"{len(pages)}/{len(pages) + page_errors}",
        "page p50 / p95 (ms)": _pair(pages, 1000, "{:.1f}"),
        "trickles open at the end": f"{still_open}/{trickles}" if trickles else "-",
    }


def _token(server: Server) -> str:
    """The API key of the server's tenant (its Authorization header is Basic __token__:key)."""
    assert server.auth is not None
    return base64.b64decode(server.auth.split()[1]).decode().split(":", 1)[1]


def _pair(values: list[float], scale: float, form: str) -> str:
    if not values:
        return "-"
    return (form + " / " + form).format(
        statistics.median(values) * scale, percentile(values, 0.95) * scale
    )


def prepare(server: Server, workdir: Path) -> None:
    token = _token(server)
    wheels = [p for pkg in (LIB, APP) for p in write_distributions(pkg, workdir / "dist")
              if p.suffix == ".whl"]  # fmt: skip
    uploaded = twine_upload(server.upload_url, token, wheels)
    if uploaded.returncode != 0:
        raise RuntimeError(uploaded.output)
    for package, wheel in zip((LIB, APP), wheels, strict=True):
        wait_until_listed(server.index_url, token, package.name, [wheel.name])


def start(shape: str, workdir: Path) -> tuple[Server, list[Nginx]]:
    if shape == "embedded":
        return servers.start_embedded(workdir / "embedded"), []
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    server = servers.start_production(
        workdir / shape, database_admin_url=admin_url, redis_url=os.environ["REDIS_URL"]
    )
    server.name = shape
    if shape == "direct":
        return server, []
    gunicorn = urllib.parse.urlsplit(server.base_url).netloc
    front = Nginx(workdir / "nginx", upstream=gunicorn)
    front.start()
    server.base_url = front.base_url
    return server, [front]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="production,direct,embedded")
    parser.add_argument("--rounds", type=int, default=3, help="pip installs per client")
    parser.add_argument("--duration", type=float, default=10, help="seconds of page GETs")
    parser.add_argument("--trickles", type=int, default=TRICKLES)
    parser.add_argument("--results", type=Path, help="also append the table to this file")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-slow-") as folder:
        for shape in args.only.split(","):
            workdir = Path(folder) / shape
            print(f"[{shape}] starting ...", flush=True)
            server, fronts = start(shape, workdir)
            try:
                prepare(server, workdir)
                # gunicorn alone is expected to be denied: short timeouts, one round.
                denied = shape == "direct"
                # None, then the trickles, then none again: the machine's load drifts.
                for trickles in (0, args.trickles, 0):
                    print(f"[{shape}] {trickles} trickling clients ...", flush=True)
                    rows.append(measure(
                        server, trickles=trickles, rounds=1 if denied else args.rounds,
                        duration=args.duration, timeout=10 if denied else 60, workdir=workdir,
                    ))  # fmt: skip
                    print(rows[-1], flush=True)
            finally:
                for front in fronts:
                    front.stop()
                server.stop()
                servers.drop_wheelhouse_database(server)
    table = _table(rows)
    heading = (
        f'`make bench-slow BENCH_ARGS="--only {args.only} --rounds {args.rounds} '
        f'--duration {args.duration:g}"` on {time.strftime("%Y-%m-%d")}, {os.cpu_count()} '
        f"cores, load average before the run {load}. "
        f"{CLIENTS} clients: page GETs for {args.duration:g} s, then {CLIENTS} x pip install "
        f"of two packages, with none and with {args.trickles} clients trickling uploads "
        "(4 bytes a second each, open for the whole phase)."
    )
    print(f"\n{heading}\n\n{table}")
    if args.results:
        with args.results.open("a") as out:
            out.write(f"\n{heading}\n\n{table}\n")


def _table(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
