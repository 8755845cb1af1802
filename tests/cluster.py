"""Stacks that faults are done to (issue 14): a private Redis a test may stop, a database of
their own, and a registry of several nodes behind a load balancer.

`Cluster` is the production shape past one host, on 127.0.0.1: HAProxy (Debian's package,
`make haproxy`) in front of gunicorn web nodes that it health-checks on /healthz, Celery
workers and one beat, against one PostgreSQL database, one Redis and SeaweedFS. Each part is
a process group of its own, so a test can SIGKILL a node or a worker and start it again.

Clients that drive load through it are here too (`Installer`, `Uploader`): each counts what
it did and when, so a test can tell what happened during a fault.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import redis

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import multipart
from tests.clients import with_credentials
from tests.fixtures.hostile import Upload
from tests.invariants import Acknowledged
from tests.services import PROJECT_ROOT
from tests.services import SeaweedFS
from tests.services import ServicesStack
from tests.services import client_env
from tests.services import free_port
from tests.services import http_ok
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for


class PrivateRedis:
    """A redis-server of the test's own on a free port: stopped and killed at will, never the
    machine's shared one. Without persistence by default: a restart loses every queued
    message, the worst a broker can do; `persistent` keeps its data across a stop, as the
    compose file's AOF does."""

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.workdir)]
            if self.persistent
            else ["--save", "", "--appendonly", "no"]
        )
        self.process = start_process(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *persistence],
            env=dict(os.environ),
            log=self.workdir / "redis.log",
        )
        wait_for(self._answers, timeout=20, what="private redis")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        """As an operator stops it (SIGTERM: a persistent one writes its data first)."""
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def queued(self, queue: str) -> int:
        return int(redis.Redis.from_url(self.url).llen(queue))


# The balancer: round robin over the nodes /healthz calls healthy, checked twice a second and
# out after two failed checks. A request whose connection a dead node refused or dropped
# unanswered is sent again, to another node (`retry-on`, `redispatch`): as a balancer in
# production is set up, so that a node going down costs no client a failure it did not cause.
HAPROXY_CONFIG = """\
global
    maxconn 1024

defaults
    mode http
    option httplog
    log stdout format raw local0
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 3s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend registry
    bind 127.0.0.1:{port}
    default_backend web

backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1:{port}
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


# client [date] frontend backend/server timers status bytes ... "METHOD URL HTTP/1.1"
BALANCER_LOG_LINE = re.compile(r'^\S+ \[[^\]]+\] \S+ \S+ \S+ (\d{3}) .*"(\S+) (\S+) HTTP', re.M)


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("HAProxy is missing: `make haproxy` installs Debian's package")
    return found


class Cluster(ServicesStack):
    """`web_nodes` gunicorn nodes and `workers` Celery workers behind HAProxy, and one beat.
    `base_url` (PUBLIC_URL) is the balancer's."""

    name = "cluster"

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        redis_url: str,
        s3: SeaweedFS,
        web_nodes: int = 2,
        workers: int = 2,
    ) -> None:
        super().__init__(workdir, database_url=database_url, redis_url=redis_url, s3=s3)
        self.web_ports = [free_port() for _ in range(web_nodes)]
        self.worker_count = workers
        self.webs: dict[int, subprocess.Popen[bytes]] = {}
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.beat: subprocess.Popen[bytes] | None = None
        self.balancer: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.s3.create_bucket(self.env["S3_BUCKET"])
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        for node in range(len(self.web_ports)):
            self.start_web(node)
        for worker in range(self.worker_count):
            self.start_worker(worker)
        self.beat = start_process(
            [sys.executable, "-m", "celery", "--workdir", str(PROJECT_ROOT), "-A", "config",
             "beat", "--loglevel", "INFO", "--schedule", str(self.workdir / "beat-schedule")],
            env=self.env, log=self.workdir / "beat.log",
        )  # fmt: skip
        servers = "\n".join(
            f"    server web{node} 127.0.0.1:{port} check"
            for node, port in enumerate(self.web_ports)
        )
        config = self.workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=self.port, servers=servers))
        self.balancer = start_process(
            [haproxy_binary(), "-db", "-f", str(config)],
            env=dict(os.environ),
            log=self.workdir / "haproxy.log",
        )
        for node in range(len(self.web_ports)):
            self.wait_web(node)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            if self.balancer is not None and self.balancer.poll() is not None:
                raise RuntimeError(f"HAProxy exited; see {self.workdir / 'haproxy.log'}")
            return self.answers()

        wait_for(healthy, timeout=timeout, what="the balancer's /healthz")

    def start_web(self, node: int) -> None:
        self.webs[node] = start_process(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.web_ports[node]}", "--workers", "2", "--threads", "4",
             "--chdir", str(PROJECT_ROOT), "--no-control-socket",
             "--access-logfile", str(self.workdir / f"access-{node}.log")],
            env=self.env, log=self.workdir / f"web-{node}.log",
        )  # fmt: skip

    def wait_web(self, node: int, timeout: float = 60) -> None:
        """Until the node answers /healthz itself (the balancer takes it back soon after)."""
        port = self.web_ports[node]

        def answers() -> bool:
            if self.webs[node].poll() is not None:
                raise RuntimeError(f"web node {node} exited; see {self.workdir}")
            return http_ok(f"http://127.0.0.1:{port}/healthz")

        wait_for(answers, timeout=timeout, what=f"web node {node}")

    def kill_web(self, node: int) -> None:
        """SIGKILL the node's gunicorn master and workers: requests in flight are cut off."""
        os.killpg(self.webs[node].pid, signal.SIGKILL)
        self.webs[node].wait(timeout=10)

    def start_worker(self, worker: int) -> None:
        self.workers[worker] = start_process(
            [sys.executable, "-m", "celery", "--workdir", str(PROJECT_ROOT), "-A", "config",
             "worker", "-n", f"worker{worker}@%h", "--pool", "prefork", "--concurrency", "2",
             "--loglevel", "INFO"],
            env=self.env, log=self.workdir / f"worker-{worker}.log",
        )  # fmt: skip

    def worker_log(self, worker: int) -> str:
        return (self.workdir / f"worker-{worker}.log").read_text(errors="replace")

    def kill_worker(self, worker: int) -> None:
        """SIGKILL the worker and its pool: no warm shutdown, no message given back."""
        os.killpg(self.workers[worker].pid, signal.SIGKILL)
        self.workers[worker].wait(timeout=10)

    def balancer_errors(self, path: str) -> list[tuple[int, str, str]]:
        """The 5xx answers the balancer gave clients for URLs containing `path`: status,
        method, URL (its log: one line a request, HAProxy's httplog format)."""
        log = (self.workdir / "haproxy.log").read_text(errors="replace")
        found = []
        for status, method, url in BALANCER_LOG_LINE.findall(log):
            if int(status) >= 500 and path in url:
                found.append((int(status), method, url))
        return found

    def stop(self) -> None:
        """Every part at once (a Celery worker takes seconds to shut down warm)."""
        parts = [self.balancer, self.beat, *self.workers.values(), *self.webs.values()]
        stoppers = [
            threading.Thread(target=stop_process, args=(process,), kwargs={"grace": 10})
            for process in parts
            if process is not None
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()


# Load ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    ended: float
    ok: bool
    detail: str = ""  # what went wrong
    subject: str = ""  # what it was about (an upload's filename)


@dataclass
class Load:
    """Outcomes of one kind of request, by when each began and ended (time.monotonic)."""

    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def within(self, start: float, end: float) -> list[Outcome]:
        """The requests that ran wholly between `start` and `end`."""
        return [o for o in self.outcomes if o.started >= start and o.ended <= end]

    def begun(self, start: float, end: float) -> list[Outcome]:
        """The requests begun between `start` and `end` (ended then or later)."""
        return [o for o in self.outcomes if start <= o.started < end]


class Installer(threading.Thread):
    """pip installs `requirement` again and again (no cache, a fresh target folder each time)
    through `index_url` until stopped. pip's own retries are its business: a failure is an
    install pip gave up on."""

    def __init__(self, index_url: str, token: str, requirement: str, workdir: Path) -> None:
        super().__init__(daemon=True)
        self.index_url = with_credentials(index_url, token)
        self.requirement = requirement
        self.workdir = workdir
        self.load = Load()
        self.stopping = threading.Event()

    def run(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            attempt += 1
            target = self.workdir / f"install-{attempt}"
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-input",
                 "--disable-pip-version-check", "--target", str(target),
                 "--index-url", self.index_url, self.requirement],
                env=client_env(), capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            ok = result.returncode == 0
            self.load.add(
                Outcome(started, time.monotonic(), ok, "" if ok else result.stdout + result.stderr)
            )
            shutil.rmtree(target, ignore_errors=True)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=300)


class Uploader(threading.Thread):
    """Uploads a new wheel every `interval` seconds until stopped, as twine does (one POST a
    file); what the registry answered 200 for is `acknowledged`. An upload that failed is
    sent again with the same bytes, as a retrying client does, until acknowledged."""

    def __init__(self, upload_url: str, token: str, prefix: str, *, interval: float) -> None:
        super().__init__(daemon=True)
        self.upload_url = upload_url
        self.token = token
        self.prefix = prefix
        self.interval = interval
        self.load = Load()
        self.acknowledged: list[Acknowledged] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            number += 1
            package = Package(f"{self.prefix}-{number}", "1.0")
            upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name)
            while not self._send(upload) and not self.stopping.is_set():
                self.stopping.wait(0.5)
            self.stopping.wait(self.interval)

    def _send(self, upload: Upload) -> bool:
        body, content_type = multipart(upload.fields(), {"content": (upload.filename, upload.data)})
        basic = base64.b64encode(f"__token__:{self.token}".encode()).decode()
        request = urllib.request.Request(
            self.upload_url,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "Authorization": f"Basic {basic}"},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                ok, detail = response.status == 200, str(response.status)
        except urllib.error.HTTPError as exc:
            ok, detail = False, f"{exc.code} {exc.reason}"
        except OSError as exc:
            ok, detail = False, repr(exc)
        self.load.add(
            Outcome(started, time.monotonic(), ok, f"{upload.filename}: {detail}", upload.filename)
        )
        if ok:
            self.acknowledged.append(Acknowledged.of(upload.filename, upload.data))
        return ok

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=120)
