"""What the benchmark compares, each started on a free port in its own folder: this registry in
three shapes (production's parts with S3, the same with packages in a local folder, and the
embedded default of `make run`), devpi-server and pypiserver (each pip-installed from PyPI into
its own virtualenv under bench/.venvs/), and a bare WSGI app serving the same page bytes."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import psycopg
from psycopg import sql

from tests.services import PROJECT_ROOT
from tests.services import EmbeddedStack
from tests.services import LiveStack
from tests.services import SeaweedFS
from tests.services import ServicesStack
from tests.services import free_port
from tests.services import http_ok
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".venvs"
PEERS = {"devpi": ["devpi-server"], "pypiserver": ["pypiserver", "gunicorn"]}


def peer_venv(name: str) -> Path:
    """bench/.venvs/<name>/bin, created and filled from PyPI on first use."""
    venv = VENVS / name
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", *PEERS[name]]
        subprocess.run(pip, check=True)
        (venv / ".installed").touch()
    return venv / "bin"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Server:
    """What the load generators need to know about one running registry."""

    name: str
    base_url: str
    index_path: str  # the simple index, ending in /
    upload_path: str
    auth: str | None  # an Authorization header value for reads and uploads
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def index_url(self) -> str:
        return self.base_url + self.index_path

    @property
    def upload_url(self) -> str:
        return self.base_url + self.upload_path

    def index_url_with_credentials(self) -> str:
        if self.auth is None:
            return self.index_url
        user, password = base64.b64decode(self.auth.split()[1]).decode().split(":", 1)
        return self.index_url.replace("://", f"://{user}:{password}@", 1)

    def peak_memory_mb(self) -> float:
        """Sum of the peak resident sizes (VmHWM) of every process in its process groups."""
        return self._memory_mb("status", "VmHWM:")

    def proportional_memory_mb(self) -> float:
        """Sum of the proportional set sizes (Pss: shared pages split between their users) of
        every process in its process groups: what the processes cost the machine now."""
        return self._memory_mb("smaps_rollup", "Pss:")

    def _memory_mb(self, proc_file: str, field: str) -> float:
        groups = {p.pid for p in self.processes}
        total_kb = 0
        for path in Path("/proc").glob(f"[0-9]*/{proc_file}"):
            try:
                if os.getpgid(int(path.parent.name)) not in groups:
                    continue
                for line in path.read_text().splitlines():
                    if line.startswith(field):
                        total_kb += int(line.split()[1])
            except (OSError, ProcessLookupError, ValueError):
                continue
        return total_kb / 1024

    def worker_pids(self) -> list[int]:
        """The Celery worker's processes (its main process and its pool)."""
        groups = {p.pid for p in self.processes}
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                pid = int(cmdline.parent.name)
                # Celery retitles its processes ("[celeryd: ...]"): a substring, not an arg.
                command = cmdline.read_bytes()
                if os.getpgid(pid) in groups and b"celery" in command and b"worker" in command:
                    pids.append(pid)
            except (OSError, ProcessLookupError, ValueError):
                continue
        return pids

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process, grace=10)


class WheelhouseStack(LiveStack):
    name = "wheelhouse"

    def __init__(self, workdir: Path, *, database_url: str, redis_url: str) -> None:
        super().__init__(workdir)
        suffix = os.urandom(4).hex()
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CELERY_QUEUE=f"wheelhouse-bench-{suffix}",
            CACHE_KEY_PREFIX=f"wheelhouse-bench-{suffix}",
            SECRET_KEY=os.urandom(32).hex(),
            DEBUG="0",
        )

    def start(self, *, workers: int, threads: int) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.processes.append(start_process(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
             "--no-control-socket", "--log-level", "warning"],
            env=self.env, log=self.workdir / "web.log",
        ))  # fmt: skip
        self.processes.append(start_process(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
             "--concurrency", "2", "--loglevel", "WARNING"],
            env=self.env, log=self.workdir / "worker.log",
        ))  # fmt: skip
        self.wait_healthy()


def start_wheelhouse(workdir: Path, *, database_admin_url: str, redis_url: str) -> Server:
    """PostgreSQL, Redis, packages in a local folder, gunicorn and a prefork worker."""
    database_url, name = _create_database(database_admin_url)
    stack = WheelhouseStack(workdir, database_url=database_url, redis_url=redis_url)
    stack.start(workers=int(os.environ.get("BENCH_WORKERS", "4")),
                threads=int(os.environ.get("BENCH_THREADS", "2")))  # fmt: skip
    server = _tenant_server("wheelhouse", stack)
    server.drop_database = (database_admin_url, name)  # type: ignore[attr-defined]
    return server


def start_embedded(workdir: Path) -> Server:
    """The embedded default exactly as `make run` starts it: SQLite, local files, a solo
    worker on the filesystem broker."""
    stack = EmbeddedStack(workdir)
    stack.start()
    return _tenant_server("embedded", stack)


def start_production(workdir: Path, *, database_admin_url: str, redis_url: str) -> Server:
    """Production's parts as the test suite starts them: PostgreSQL, Redis, S3 (SeaweedFS),
    gunicorn and a prefork worker with beat."""
    database_url, name = _create_database(database_admin_url)
    s3 = SeaweedFS(workdir / "seaweedfs")
    s3.start()
    stack = ServicesStack(workdir / "stack", database_url=database_url, redis_url=redis_url, s3=s3)
    stack.processes.append(s3.process)  # type: ignore[arg-type]
    stack.start()
    server = _tenant_server("production", stack)
    server.drop_database = (database_admin_url, name)  # type: ignore[attr-defined]
    return server


def _create_database(admin_url: str) -> tuple[str, str]:
    name = f"wheelhouse_bench_{os.urandom(4).hex()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _tenant_server(name: str, stack: LiveStack) -> Server:
    tenant = stack.provision("bench", "main")
    token = str(tenant["api_key"]["token"])  # type: ignore[index]
    return Server(
        name=name,
        base_url=stack.base_url,
        index_path="/bench/main/simple/",
        upload_path="/bench/main/legacy/",
        auth=basic("__token__", token),
        processes=stack.processes,
    )


def start_bare(workdir: Path, *, html: bytes, json_body: bytes, path: str) -> Server:
    """bench/bare.py under gunicorn with the registry's web settings, serving `html` and
    `json_body` (a project page of the registry, as it answered) at every URL."""
    (workdir / "page.html").write_bytes(html)
    (workdir / "page.json").write_bytes(json_body)
    port = free_port()
    env = {**os.environ, "BARE_HTML": str(workdir / "page.html"),
           "BARE_JSON": str(workdir / "page.json")}  # fmt: skip
    process = start_process(
        [sys.executable, "-m", "gunicorn", "bench.bare:application", "--bind",
         f"127.0.0.1:{port}", "--workers", os.environ.get("BENCH_WORKERS", "4"), "--threads",
         os.environ.get("BENCH_THREADS", "2"), "--no-control-socket", "--log-level", "warning",
         "--chdir", str(PROJECT_ROOT)],
        env=env, log=workdir / "bare.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/"), timeout=60, what="bare WSGI app")
    return Server(
        name="bare", base_url=base, index_path=path, upload_path="/", auth=None,
        processes=[process],
    )  # fmt: skip


def drop_wheelhouse_database(server: Server) -> None:
    if not hasattr(server, "drop_database"):
        return
    admin_url, name = server.drop_database  # type: ignore[attr-defined]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def start_devpi(workdir: Path) -> Server:
    bin_dir = peer_venv("devpi")
    serverdir = workdir / "server"
    password = os.urandom(8).hex()
    subprocess.run([bin_dir / "devpi-init", "--serverdir", serverdir, "--root-passwd", password,
                    "--no-root-pypi"], check=True, capture_output=True)  # fmt: skip
    port = free_port()
    process = start_process(
        [str(bin_dir / "devpi-server"), "--serverdir", str(serverdir), "--port", str(port),
         "--host", "127.0.0.1", "--offline-mode"],
        env=dict(os.environ), log=workdir / "devpi.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/+api"), timeout=60, what="devpi-server")
    login = _json_request("POST", base + "/+login", {"user": "root", "password": password})
    session = login["result"]["password"]
    devpi_auth = base64.b64encode(f"root:{session}".encode()).decode()
    _json_request("PUT", base + "/root/bench", {"type": "stage", "bases": [], "volatile": True},
                  headers={"X-Devpi-Auth": devpi_auth})  # fmt: skip
    return Server(
        name="devpi",
        base_url=base,
        index_path="/root/bench/+simple/",
        upload_path="/root/bench/",
        auth=basic("root", password),
        processes=[process],
    )


def start_pypiserver(workdir: Path) -> Server:
    bin_dir = peer_venv("pypiserver")
    packages = workdir / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # No authentication at all (`-P . -a .`): the cheapest configuration pypiserver has.
    process = start_process(
        [str(bin_dir / "pypi-server"), "run", "-p", str(port), "-i", "127.0.0.1", "-P", ".",
         "-a", ".", "--server", "gunicorn", str(packages)],
        env=dict(os.environ), log=workdir / "pypiserver.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(base + "/simple/"), timeout=60, what="pypiserver")
    return Server(
        name="pypiserver",
        base_url=base,
        index_path="/simple/",
        upload_path="/",
        auth=None,
        processes=[process],
    )


def _json_request(
    method: str, url: str, data: object, *, headers: dict[str, str] | None = None
) -> dict:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    sent = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    connection.request(method, parts.path, json.dumps(data).encode(), sent)
    response = connection.getresponse()
    body = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {url}: {response.status} {body[:200]!r}")
    return json.loads(body or b"{}")
