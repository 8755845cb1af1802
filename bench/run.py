"""Benchmark this registry against devpi-server and pypiserver on the same data, same machine.

    .venv/bin/python bench/run.py --files 2000 [--grow-to 40000] [--duration 5] \
        [--results bench/RESULTS.md]
    .venv/bin/python bench/run.py --only embedded,production --visible-only [--rounds 40]
    .venv/bin/python bench/run.py --only embedded,production --worker-rate 500

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL as for the tests) and `wrk`. Runs this
registry in three shapes: "production" (PostgreSQL, Redis, S3 on SeaweedFS, a prefork
worker), "wheelhouse" (the same with packages in a local folder) and "embedded" (`make run`:
SQLite, local files, a solo worker on the filesystem broker); devpi-server, pypiserver, and a
bare WSGI app ("bare") serving the bytes of the registry's project page: the ceiling for that
page on this machine. Prints one table with absolute figures and the ratios of each shape of
this registry to each other server, and with `--results` writes it, with the machine's cores
and load, to a Markdown file. `--visible-only` measures nothing but the time from an upload to
its listing on the project page; `--worker-rate N` nothing but how fast the worker lists a
backlog of N uploads (uploaded while it is paused). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.servers import Server
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import multipart
from tests.services import client_env

BIN = Path(sys.executable).parent
VERSIONS_PER_PROJECT = 10
TREE_SIZE = 20
LARGE_MB = 64
# devpi-server fails concurrent uploads (sqlite "database is locked", then 500): one at a time.
UPLOAD_CLIENTS = {"devpi": 1}
# This registry's shapes; the others are what they are measured against.
OURS = ("production", "wheelhouse", "embedded")
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
HTML_ACCEPT = "text/html"

Dist = tuple[str, bytes]  # (filename, content)


# Data ----------------------------------------------------------------------------------------


def bulk_packages(start: int, stop: int) -> Iterable[Package]:
    """`stop - start` small wheels: projects of VERSIONS_PER_PROJECT versions each."""
    for i in range(start, stop):
        project, version = divmod(i, VERSIONS_PER_PROJECT)
        yield Package(f"bench-pkg-{project:05d}", f"1.0.{version}")


def tree_packages() -> list[Package]:
    """A 20-package dependency tree, three versions per node, for the resolver timings."""
    packages = []
    for node in range(TREE_SIZE):
        children = [f"bench-tree-{c:02d}>=1.0" for c in (2 * node + 1, 2 * node + 2)
                    if c < TREE_SIZE]  # fmt: skip
        packages += [Package(f"bench-tree-{node:02d}", f"1.{v}", requires=children)
                     for v in range(3)]  # fmt: skip
    return packages


def dist(package: Package) -> Dist:
    return wheel_filename(package), wheel_bytes(package)


def large_wheel() -> Dist:
    """A wheel of incompressible bytes, for the download rate."""
    package = Package("bench-large", "1.0")
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(wheel_bytes(package))) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target,
    ):
        for item in source.infolist():
            if not item.filename.endswith("RECORD"):
                target.writestr(item, source.read(item))
        target.writestr("bench_large/blob.bin", os.urandom(LARGE_MB * 1024 * 1024))
        record = next(i for i in source.infolist() if i.filename.endswith("RECORD"))
        target.writestr(record, source.read(record) + b"bench_large/blob.bin,,\n")
    return wheel_filename(package), buffer.getvalue()


# Uploads -------------------------------------------------------------------------------------


def upload(server: Server, item: Dist, connection: http.client.HTTPConnection) -> None:
    filename, content = item
    name, version = filename.split("-")[:2]
    fields = {
        ":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
        "name": name, "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }  # fmt: skip
    body, content_type = multipart(fields, {"content": (filename, content)})
    headers = {"Content-Type": content_type}
    if server.auth:
        headers["Authorization"] = server.auth
    connection.request("POST", urllib.parse.urlsplit(server.upload_url).path, body, headers)
    response = connection.getresponse()
    response.read()
    if response.status >= 300:
        raise RuntimeError(f"{server.name}: upload of {filename} got {response.status} "
                           f"{response.reason}")  # fmt: skip


def bulk_upload(server: Server, items: list[Dist], *, clients: int = 4) -> float:
    """Files per second, `clients` HTTP uploaders with keep-alive."""
    host = urllib.parse.urlsplit(server.base_url).netloc
    local = threading.local()

    def send(item: Dist) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(host, timeout=120)
        upload(server, item, local.connection)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, items))
    return len(items) / (time.perf_counter() - started)


def twine_rate(server: Server, items: list[Dist], folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, content in items:
        (folder / filename).write_bytes(content)
        paths.append(folder / filename)
    user, password = ("x", "x")
    if server.auth:
        user, password = base64.b64decode(server.auth.split()[1]).decode().split(":", 1)
    started = time.perf_counter()
    result = subprocess.run(
        [BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", server.upload_url, "-u", user, "-p", password, *paths],
        env=client_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{server.name}: twine failed:\n{result.stdout}{result.stderr}")
    return len(paths) / (time.perf_counter() - started)


def get(server: Server, path: str, accept: str = HTML_ACCEPT) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(server.base_url).netloc)
    headers = {"Accept": accept}
    if server.auth:
        headers["Authorization"] = server.auth
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def project_path(server: Server, project: str) -> str:
    return f"{server.index_path}{project}/"


def wait_listed(
    server: Server, project: str, filename: str, timeout: float = 120, poll: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = get(server, project_path(server, project))
        if status == 200 and filename.encode() in body:
            return
        time.sleep(poll)
    raise TimeoutError(f"{server.name}: {filename} not listed after {timeout}s")


def wait_quiet(server: Server, *, stable_for: int = 5, timeout: float = 3600) -> None:
    """Until the root page stops changing: background processing must not skew the reads."""
    deadline = time.monotonic() + timeout
    last, stable = b"", 0
    while stable < stable_for and time.monotonic() < deadline:
        body = hashlib.sha256(get(server, server.index_path, JSON_ACCEPT)[1]).digest()
        stable = stable + 1 if body == last else 0
        last = body
        time.sleep(1)


def upload_to_visible(server: Server, tag: str, *, rounds: int = 20) -> dict[str, float]:
    """Seconds from sending an upload to seeing it on the project page: p50, p90 and max.
    One upload at a time, each into a project of its own (a fresh page each round), with a
    random pause between rounds so a worker that polls is caught at any point of its cycle."""
    timings, answered = [], []
    host = urllib.parse.urlsplit(server.base_url).netloc
    pauses = random.Random(0)  # noqa: S311 (pauses, not secrets)
    for i in range(rounds):
        project = f"bench-visible-{tag}-{i}"
        item = dist(Package(project, "1.0"))
        started = time.perf_counter()
        upload(server, item, http.client.HTTPConnection(host, timeout=60))
        answered.append(time.perf_counter() - started)
        wait_listed(server, project, item[0], poll=0.005)
        timings.append(time.perf_counter() - started)
        time.sleep(pauses.uniform(0.05, 0.5))
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p90": timings[int(0.9 * (len(timings) - 1))],
        "max": timings[-1],
        "upload answered p50": statistics.median(answered),
    }


# Reads ---------------------------------------------------------------------------------------


def wrk(
    server: Server,
    path: str,
    *,
    accept: str,
    connections: int,
    duration: int,
    user_agent: str | None = None,
) -> dict:
    headers = ["-H", f"Accept: {accept}"]
    if user_agent:
        headers += ["-H", f"User-Agent: {user_agent}"]
    if server.auth:
        headers += ["-H", f"Authorization: {server.auth}"]
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
         *headers, server.base_url + path],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def resolver_seconds(command: Callable[[Path], list], *, rounds: int = 3) -> float:
    """Median wall time of a resolver run with a fresh cache each time."""
    timings = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            result = subprocess.run([str(c) for c in command(Path(cache))], env=client_env(),
                                    capture_output=True, text=True, check=False)  # fmt: skip
            timings.append(time.perf_counter() - started)
            if result.returncode != 0:
                raise RuntimeError(f"resolver failed:\n{result.stdout}{result.stderr}")
    return statistics.median(timings)


def resolvers(server: Server, workdir: Path) -> dict[str, float]:
    requirements = workdir / "tree.in"
    requirements.write_text("bench-tree-00\n")
    index = server.index_url_with_credentials()
    return {
        "uv pip compile (s)": resolver_seconds(lambda cache: [
            BIN / "uv", "pip", "compile", "--no-config", "--quiet", "--cache-dir", cache,
            "--index-url", index, requirements,
        ]),
        "pip install --dry-run (s)": resolver_seconds(lambda cache: [
            BIN / "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--cache-dir", cache, "--index-url", index, "-r", requirements,
        ]),
    }  # fmt: skip


def download_rate(server: Server, filename: str) -> float:
    """MB/s of one large wheel fetched through the index's own link (redirects followed)."""
    _status, page = get(server, project_path(server, "bench-large"))
    href = re.search(rb'href="([^"#]+)', page).group(1).decode()
    url = urllib.parse.urljoin(server.base_url + project_path(server, "bench-large"), href)
    started = time.perf_counter()
    total = 0
    for _ in range(3):
        total += _fetch(server, url)
    return total / (1024 * 1024) / (time.perf_counter() - started)


def _fetch(server: Server, url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=120)
    headers = {"Authorization": server.auth} if server.auth else {}
    # The query too: a presigned S3 URL's signature is in it.
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    connection.request("GET", target, headers=headers)
    response = connection.getresponse()
    if response.status in (301, 302, 303, 307):
        response.read()
        return _fetch(Server(server.name, "", "", "", None), response.headers["Location"])
    if response.status != 200:
        raise RuntimeError(f"{server.name}: {url} answered {response.status}")
    size = 0
    while chunk := response.read(1024 * 1024):
        size += len(chunk)
    return size


def page_table(server: Server, project: str, duration: int) -> dict[str, dict]:
    results = {}
    for page, path in (("project", project_path(server, project)), ("root", server.index_path)):
        for fmt, accept in (("html", HTML_ACCEPT), ("json", JSON_ACCEPT)):
            for connections in (1, 8):
                key = f"{page} {fmt} c{connections}"
                results[key] = wrk(server, path, accept=accept, connections=connections,
                                   duration=duration)  # fmt: skip
    return results


# Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--grow-to", type=int, default=0, help="then top up and measure again")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--only", default="production,embedded,devpi,pypiserver,bare")
    parser.add_argument("--results", type=Path, help="also write the table to this file")
    parser.add_argument("--visible-only", action="store_true",
                        help="measure only upload to visible, then stop")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=20, help="uploads for upload to visible")
    parser.add_argument("--worker-rate", type=int, default=0, metavar="N",
                        help="measure only how fast a backlog of N uploads is listed")  # fmt: skip
    args = parser.parse_args()
    if args.visible_only or args.worker_rate:
        only_pipeline(args.only.split(","), rounds=args.rounds, backlog=args.worker_rate)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    workdir = Path(__file__).resolve().parent / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    print(f"generating {args.files} wheels ...", flush=True)
    bulk = [dist(p) for p in bulk_packages(0, args.files)]
    extra = [dist(p) for p in tree_packages()] + [large_wheel()]
    twine_items = [dist(Package("bench-twine", f"1.{i}")) for i in range(100)]
    wanted = args.only.split(",")
    load_before = os.getloadavg()
    started = {name: start(name, workdir) for name in wanted if name != "bare"}
    report: dict[str, dict[str, object]] = {name: {} for name in wanted}
    time.sleep(5)  # started and settled, nothing asked yet
    for name, server in started.items():
        report[name]["idle memory, proportional (MB)"] = server.proportional_memory_mb()
    try:
        for name, server in started.items():
            print(f"[{name}] uploading ...", flush=True)
            clients = UPLOAD_CLIENTS.get(name, 4)
            report[name]["bulk upload (files/s)"] = bulk_upload(server, bulk, clients=clients)
            bulk_upload(server, extra, clients=1)
            report[name]["twine upload (files/s)"] = twine_rate(
                server, twine_items, workdir / "twine" / name
            )
            wait_listed(server, "bench-large", extra[-1][0])
            wait_listed(server, "bench-tree-19", extra[-2][0])
        measure(started, report, args, workdir, size=args.files)
        ours = next((started[n] for n in OURS if n in started), None)
        if "bare" in wanted and ours is not None:
            bare = start_bare_from(ours, workdir / "bare")
            started["bare"] = bare
            for key, value in page_table(bare, "bench-pkg-00000", args.duration).items():
                if key.startswith("project"):
                    report["bare"][f"{key} @{args.files}"] = value
        if args.grow_to > args.files:
            more = [dist(p) for p in bulk_packages(args.files, args.grow_to)]
            for name, server in started.items():
                if name == "bare":
                    continue
                print(f"[{name}] growing to {args.grow_to} files ...", flush=True)
                bulk_upload(server, more, clients=UPLOAD_CLIENTS.get(name, 4))
                last = bulk_packages(args.grow_to - 1, args.grow_to)
                wait_listed(server, *_name_and_file(next(iter(last))), timeout=3600)
                wait_quiet(server)
            measure(started, report, args, workdir, size=args.grow_to, reads_only=True)
        for name, server in started.items():
            report[name]["peak memory (MB)"] = server.peak_memory_mb()
    finally:
        for server in started.values():
            server.stop()
            servers.drop_wheelhouse_database(server)
    table = report_table(report)
    print(table)
    if args.results:
        args.results.write_text(results_markdown(table, args, load_before))
        print(f"written to {args.results}")


def only_pipeline(names: list[str], *, rounds: int, backlog: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="wheelhouse-bench-pipeline-"))
    for name in names:
        server = start(name, workdir)
        try:
            if backlog:
                rate, upload_rate = worker_rate(server, backlog)
                print(f"{name:12} worker: {backlog} files listed at {rate:.1f} files/s "
                      f"(uploaded at {upload_rate:.1f} files/s, worker paused)",
                      flush=True)  # fmt: skip
            else:
                upload_to_visible(server, "warm", rounds=3)
                figures = upload_to_visible(server, "9", rounds=rounds)
                print(
                    f"{name:12} upload to visible, {rounds} uploads: "
                    + "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in figures.items()),
                    flush=True,
                )
        finally:
            server.stop()
            servers.drop_wheelhouse_database(server)
    shutil.rmtree(workdir, ignore_errors=True)


def worker_rate(server: Server, count: int) -> tuple[float, float]:
    """Files per second the worker lists from a backlog of `count` uploads (projects of
    VERSIONS_PER_PROJECT versions) sent while it is paused (SIGSTOP), timed from its
    resumption until the last upload is listed and then every project is found complete;
    and the rate the uploads were answered at. Only the last file's page is polled while
    the worker runs: re-rendering big pages would take the CPU the worker needs."""
    packages = [Package(f"bench-rate-{i // VERSIONS_PER_PROJECT:05d}",
                        f"1.0.{i % VERSIONS_PER_PROJECT}") for i in range(count)]  # fmt: skip
    items = [dist(p) for p in packages]
    workers = server.worker_pids()
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        upload_rate = bulk_upload(server, items, clients=4)
        # A worker that was not paused would make the rate meaningless.
        if items[0][0].encode() in get(server, project_path(server, packages[0].name))[1]:
            raise RuntimeError(f"{server.name}: files were listed while the worker was paused")
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    started = time.perf_counter()
    wait_listed(server, packages[-1].name, items[-1][0], timeout=3600, poll=0.05)
    done = time.perf_counter()
    missing: dict[str, set[str]] = {}
    for package, (filename, _content) in zip(packages, items, strict=True):
        missing.setdefault(package.name, set()).add(filename)
    late = False
    while missing:
        for project, filenames in list(missing.items()):
            body = get(server, project_path(server, project))[1].decode()
            filenames -= {f for f in filenames if f in body}
            if not filenames:
                del missing[project]
        if missing:
            late = True
            time.sleep(0.5)
    if late:  # some were listed after the last: they count to when they were seen
        done = time.perf_counter()
    return count / (done - started), upload_rate


def _name_and_file(package: Package) -> tuple[str, str]:
    return package.name, wheel_filename(package)


def start_bare_from(ours: Server, folder: Path) -> Server:
    """The bare app, serving exactly the bytes `ours` answers for the benchmark's project."""
    folder.mkdir()
    path = project_path(ours, "bench-pkg-00000")
    html, json_body = get(ours, path, HTML_ACCEPT)[1], get(ours, path, JSON_ACCEPT)[1]
    return servers.start_bare(folder, html=html, json_body=json_body, path=ours.index_path)


def start(name: str, workdir: Path) -> Server:
    folder = workdir / name
    folder.mkdir()
    if name == "embedded":
        return servers.start_embedded(folder)
    if name in ("wheelhouse", "production"):
        database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wheelhouse")
        start_stack = servers.start_wheelhouse if name == "wheelhouse" else servers.start_production
        return start_stack(
            folder,
            database_admin_url=database.rsplit("/", 1)[0] + "/postgres",
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        )
    return {"devpi": servers.start_devpi, "pypiserver": servers.start_pypiserver}[name](folder)


def measure(started, report, args, workdir: Path, *, size: int, reads_only: bool = False) -> None:
    for name, server in started.items():
        if name == "bare":
            continue
        print(f"[{name}] measuring at {size} files ...", flush=True)
        for key, value in page_table(server, "bench-pkg-00000", args.duration).items():
            report[name][f"{key} @{size}"] = value
        for key, value in resolvers(server, workdir).items():
            report[name][f"{key} @{size}"] = value
        if not reads_only:
            visible = upload_to_visible(server, "9", rounds=args.rounds)
            report[name]["upload to visible p50 (s)"] = visible["p50"]
            report[name]["upload to visible p90 (s)"] = visible["p90"]
            report[name]["large download (MB/s)"] = download_rate(server, "bench-large")


def report_table(report: dict[str, dict[str, object]]) -> str:
    """Absolute figures per registry, then each of ours against each other one."""
    names = list(report)
    keys = list(dict.fromkeys(k for r in report.values() for k in r))
    ours = [n for n in OURS if n in names]
    pairs = [(o, p) for o in ours for p in names if p not in OURS]
    lines = [
        "| measurement | " + " | ".join(names) + " | "
        + " | ".join(f"{o} vs {p}" for o, p in pairs) + " |",
        "|---" * (1 + len(names) + len(pairs)) + "|",
    ]  # fmt: skip
    for key in keys:
        cells, values = [], {}
        for name in names:
            value = report[name].get(key)
            if isinstance(value, dict):
                values[name] = value["rps"]
                cell = f"{value['rps']:.0f}/s p50 {value['p50_ms']:.1f} p99 {value['p99_ms']:.1f}"
                if value["errors"]:
                    cell += f" ERR{value['errors']}"
            elif isinstance(value, float):
                values[name] = value
                cell = f"{value:.3f}"
            else:
                cell = "-"
            cells.append(cell)
        ratios = [_ratio(key, values.get(o), values.get(p)) for o, p in pairs]
        lines.append(f"| {key} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lines += [
        "",
        "A ratio > 1 means this registry is better (faster, higher rate, less memory). "
        f"Bulk upload: 4 concurrent HTTP uploaders, except {UPLOAD_CLIENTS} (one at a time). "
        "Page rows: wrk, `cN` concurrent connections, authenticated where the registry "
        "needs it (this registry: an API key on every request; devpi and pypiserver: "
        "anonymous reads, their cheapest configuration).",
    ]
    return "\n".join(lines)


def results_markdown(table: str, args: argparse.Namespace, load_before: tuple[float, ...]) -> str:
    cores = os.cpu_count()
    load = ", ".join(f"{v:.2f}" for v in load_before)
    return (
        "# Benchmark results\n\n"
        f'`make bench BENCH_ARGS="--files {args.files}'
        + (f" --grow-to {args.grow_to}" if args.grow_to else "")
        + f' --duration {args.duration} --results bench/RESULTS.md"` on '
        f"{time.strftime('%Y-%m-%d')}, {cores} cores, load average before the run {load}. "
        "Every figure is one run on one machine, all registries in the same run on the same "
        "generated data.\n\n" + table + "\n"
    )


def _ratio(key: str, ours: float | None, theirs: float | None) -> str:
    if not theirs or not ours:
        return "-"
    lower_is_better = "(s)" in key or "MB)" in key
    return f"{(theirs / ours if lower_is_better else ours / theirs):.2f}x"


if __name__ == "__main__":
    main()
