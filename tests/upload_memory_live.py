"""Live web and Celery workers' memory around 90 MB uploads (issue 14, item 8), for the report,
not CI.

Starts SeaweedFS, a fresh PostgreSQL database, gunicorn (one worker, THREADS threads) and a
prefork Celery worker (concurrency 1, no beat) on the project tree TREE, with the Redis at
REDIS_URL as broker and cache (a queue and key prefix of its own). Makes a few small uploads
(each web thread builds its own S3 client), then two rounds of PARALLEL 90 MB wheels at once
(default 1) with curl. Prints the web worker's and the Celery pool child's VmHWM (peak) and
VmRSS (resident) in MB: fresh, then after each step once the Celery worker has processed its
files to `ready` (polled in the database). Compare a tree before the change
(`git archive <commit> | tar -x -C DIR`) with this one.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/x REDIS_URL=redis://127.0.0.1:6379/n \\
       .venv/bin/python -m tests.upload_memory_live [TREE] [THREADS] [PARALLEL]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import redis

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import multipart
from tests.fixtures.hostile import Upload
from tests.large_uploads import BOUNDARY
from tests.large_uploads import large_upload
from tests.services import PROJECT_ROOT
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import SeaweedFS
from tests.services import free_port
from tests.services import http_ok
from tests.services import private_database
from tests.services import redis_keys_delete
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for


def _child(pid: int) -> int:
    """The one pool process of the prefork Celery worker `pid` (concurrency 1)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return int(children.read().split()[0])


def _memory(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith("Vm"))
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmHWM", "VmRSS")}


def _post(url: str, token: str, body: Path, content_type: str) -> str:
    command = [
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"__token__:{token}",
        "-H", f"Content-Type: {content_type}", "--data-binary", f"@{body}", url,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _processed(database_url: str, filenames: list[str]) -> bool:
    """Whether the worker is done with every file of `filenames` (fails on a rejected one)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT filename, status, rejection_reason FROM registry_file WHERE filename = ANY(%s)",
            [filenames],
        ).fetchall()
    if rejected := [row for row in rows if row[1] == "rejected"]:
        raise RuntimeError(f"rejected: {rejected}")
    return len(rows) == len(filenames) and all(row[1] == "ready" for row in rows)


def _env(
    work: Path, database_url: str, redis_url: str, s3: SeaweedFS, bucket: str, port: int
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    env.update(
        DATABASE_URL=database_url, S3_BUCKET=bucket, S3_ENDPOINT_URL=s3.endpoint,
        S3_ACCESS_KEY_ID=S3_ACCESS_KEY, S3_SECRET_ACCESS_KEY=S3_SECRET_KEY,
        DATA_DIR=str(work / "data"), SECRET_KEY=uuid.uuid4().hex * 2,
        PUBLIC_URL=f"http://127.0.0.1:{port}", REDIS_URL=redis_url,
        CELERY_QUEUE=bucket, CACHE_KEY_PREFIX=bucket,
    )  # fmt: skip
    return env


def measure(
    tree: Path, threads: int, parallel: int, work: Path, database_url: str, redis_url: str
) -> None:
    s3 = SeaweedFS(work / "s3")
    (work / "s3").mkdir()
    s3.start()
    bucket, port = f"measure-{uuid.uuid4().hex[:8]}", free_port()
    s3.create_bucket(bucket)
    env = _env(work, database_url, redis_url, s3, bucket, port)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=tree, env=env, check=True)
    provisioned = subprocess.run(
        [python, "manage.py", "provision", "--org", "acme", "--repo", "main",
         "--email", "owner@acme.test", "--scope", "upload", "--base-url", env["PUBLIC_URL"]],
        cwd=tree, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    token = json.loads(provisioned)["api_key"]["token"]
    url = f"http://127.0.0.1:{port}/acme/main/legacy/"
    web = start_process(
        [python, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", str(threads), "--timeout", "300", "--chdir", str(tree)],
        env=env, log=work / "web.log",
    )  # fmt: skip
    # Prefork with one pool child that lives through every task (--max-tasks-per-child unset),
    # so its peak covers all of them; no beat, whose periodic tasks would muddle the figures.
    celery = start_process(
        [python, "-m", "celery", "--workdir", str(tree), "-A", "config", "worker",
         "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"],
        env=env, log=work / "worker.log",
    )  # fmt: skip
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=60, what="web")
        children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True)
        worker = int(children.stdout.split()[0])
        wait_for(lambda: " ready." in (work / "worker.log").read_text(), timeout=120, what="celery")
        child = _child(celery.pid)

        def report(step: str, filenames: list[str]) -> None:
            wait_for(
                lambda: _processed(database_url, filenames), timeout=600, what=f"{step}: ready"
            )
            if _child(celery.pid) != child:
                raise RuntimeError("the Celery pool child was replaced: it died mid-task")
            print(step, "web", _memory(worker), "celery", _memory(child))

        report("fresh", [])
        small = []
        for number in range(threads):
            package = Package(f"warm{number}", "1.0")
            filename, data = wheel_filename(package), wheel_bytes(package)
            upload = Upload(filename, data, name=package.name, version="1.0")
            form, content_type = multipart(upload.fields(), {"content": (filename, data)})
            (work / "small").write_bytes(form)
            _post(url, token, work / "small", content_type)
            small.append(filename)
        report("after small uploads", small)
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        for number in range(2):
            packages = [Package(f"big{number}x{n}", "1.0") for n in range(parallel)]
            bodies = [large_upload(work, package, 90).body for package in packages]
            with ThreadPoolExecutor(parallel) as pool:
                answers = list(pool.map(lambda b: _post(url, token, b, content_type), bodies))
            for body in bodies:
                body.unlink()
            report(
                f"after round {number + 1} of {parallel} x 90 MB {answers}",
                [wheel_filename(package) for package in packages],
            )
    finally:
        stop_process(celery, grace=10)
        stop_process(web)
        s3.stop()
        redis_keys_delete(redis_url, bucket)
        # And the broker's bindings of the queue, which outlive the worker.
        broker = redis.Redis.from_url(redis_url)
        broker.delete(f"_kombu.binding.{bucket}", f"_kombu.binding_permanent.{bucket}")
        broker.close()


def main() -> None:
    tree = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PROJECT_ROOT
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wheelhouse")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    with (
        private_database("wheelhouse_memory", base) as database_url,
        tempfile.TemporaryDirectory(prefix="wheelhouse-memory-") as work,
    ):
        measure(tree, threads, parallel, Path(work), database_url, redis_url)


if __name__ == "__main__":
    main()
