"""How fast the worker's service processes uploaded files, in this process, optionally profiled.

    .venv/bin/python bench/worker.py [--files 300] [--shape embedded|production] [--profile]

`embedded`: SQLite and local files, as `make run`; `production`: PostgreSQL (DATABASE_URL, a
database of its own, dropped after) and S3 (a SeaweedFS started for the run). The files are
uploaded as the endpoint does (messages not sent), then `uploads.processing.file_process`
runs on each, one after the other, as a solo worker would: files/s, and with `--profile`
a pyinstrument profile of that loop (pip install pyinstrument). Not part of the test suite.
"""

# Django's settings read the environment once, at import: the shape (SQLite or PostgreSQL,
# folder or S3) is chosen first, and the project's modules imported after.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import _create_database
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import SeaweedFS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--shape", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wheelhouse-bench-worker-"))
    os.environ.update(DATA_DIR=str(workdir / "data"), DJANGO_SETTINGS_MODULE="config.settings")
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "S3_BUCKET"):
        os.environ.pop(name, None)
    s3, drop = None, None
    if args.shape == "production":
        s3 = SeaweedFS(workdir / "seaweedfs")
        s3.start()
        s3.create_bucket("bench")
        os.environ.update(
            S3_BUCKET="bench", S3_ENDPOINT_URL=s3.endpoint, S3_ACCESS_KEY_ID=S3_ACCESS_KEY,
            S3_SECRET_ACCESS_KEY=S3_SECRET_KEY,
        )  # fmt: skip
        admin = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wheelhouse")
        admin = admin.rsplit("/", 1)[0] + "/postgres"
        os.environ["DATABASE_URL"], name = _create_database(admin)
        drop = (admin, name)
    else:
        os.environ.pop("DATABASE_URL", None)
    try:
        run(args.files, profile=args.profile, shape=args.shape)
    finally:
        if s3 is not None:
            s3.stop()
        if drop is not None:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(drop[0], autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(drop[1])
                    )
                )


def run(count: int, *, profile: bool, shape: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from config.celery import app

    # The messages are not sent: this measures the worker's service, not the broker.
    app.conf.update(task_always_eager=False, broker_url="memory://")
    from registry.models import File
    from registry.models import FileStatus
    from tests.artifacts import Package
    from tests.world import build_tenant
    from tests.world import publish
    from uploads import tasks
    from uploads.processing import file_process

    tasks.process_file_task.delay = lambda *a, **k: None  # type: ignore[method-assign]
    repository = build_tenant().repository
    print(f"[{shape}] uploading {count} wheels ...", flush=True)
    ids = [
        publish(repository, Package(f"bench-pkg-{i // 10:05d}", f"1.0.{i % 10}"), process=False).pk
        for i in range(count)
    ]
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    started = time.perf_counter()
    for file_id in ids:
        file_process(file_id=file_id)
    elapsed = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    ready = File.objects.filter(pk__in=ids, status=FileStatus.READY).count()
    print(f"[{shape}] {count} files processed in {elapsed:.2f} s: {count / elapsed:.1f} files/s "
          f"({ready} ready)")  # fmt: skip


if __name__ == "__main__":
    main()
