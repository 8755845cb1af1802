"""Nothing acknowledged is lost: the worker killed mid-task, the broker restarted empty.

These tests kill processes, so they run on a stack of their own: its own Redis (never the
shared one), database and bucket, with a sweep that runs every second.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.cluster import PrivateRedis
from tests.conftest import DEFAULT_DATABASE_URL
from tests.e2e.live_checks import file_rows
from tests.e2e.live_checks import post
from tests.e2e.live_checks import query
from tests.e2e.live_checks import stored_objects
from tests.fixtures.hostile import Upload
from tests.invariants import Acknowledged
from tests.invariants import LiveRegistry
from tests.invariants import assert_invariants
from tests.services import FAST_RECOVERY
from tests.services import PROJECT_ROOT
from tests.services import SeaweedFS
from tests.services import ServicesStack
from tests.services import private_database
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for

pytestmark = pytest.mark.e2e
FILES = 12


class FaultStack(ServicesStack):
    """A services stack whose worker can be killed and started again."""

    def worker_command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "--workdir", str(PROJECT_ROOT), "-A", "config",
            "worker", "--beat", "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
            "--schedule", str(self.workdir / "beat-schedule"),
        ]  # fmt: skip

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        return self.processes[1]

    def kill_worker(self) -> None:
        """SIGKILL the main worker and its pool: no warm shutdown, no message given back."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def kill_pool_children(self) -> list[int]:
        children = _children(self.worker.pid)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        return children

    def start_worker(self) -> None:
        self.processes[1] = start_process(
            self.worker_command(), env=self.env, log=self.workdir / "worker.log"
        )


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def fault_stack(session_dir: Path, s3: SeaweedFS) -> Iterator[tuple[FaultStack, PrivateRedis]]:
    workdir = session_dir / "faults"
    workdir.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    with private_database("wheelhouse_faults", base) as database_url:
        broker = PrivateRedis(workdir)
        broker.start()
        stack = FaultStack(workdir, database_url=database_url, redis_url=broker.url, s3=s3)
        stack.env.update(FAST_RECOVERY)
        try:
            stack.start()
            yield stack, broker
        finally:
            stack.stop()
            if broker.process is not None:
                stop_process(broker.process)


def upload_many(stack: FaultStack, repo: str, count: int) -> tuple[LiveRegistry, list[Upload]]:
    tenant = stack.provision("faults", repo)
    token, url = str(tenant["api_key"]["token"]), str(tenant["upload_url"])  # type: ignore[index]
    uploads = []
    for i in range(count):
        package = Package(f"{repo}-pkg-{i}", "1.0")
        upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name)
        assert post(url, token, upload).status == 200
        uploads.append(upload)
    return LiveRegistry(stack, "faults", repo, token), uploads


def statuses(stack: FaultStack, repo_id: int) -> list[str]:
    return [str(row[3]) for row in file_rows(stack, repo_id)]


def assert_all_ready_once(stack: FaultStack, registry: LiveRegistry, uploads: list[Upload]) -> None:
    repo_id = registry.repository_id
    wait_for(
        lambda: statuses(stack, repo_id) == ["ready"] * len(uploads),
        timeout=90,
        what="every acknowledged upload to be ready",
    )
    rows = file_rows(stack, repo_id)
    assert sorted(str(r[0]) for r in rows) == sorted(u.filename for u in uploads)
    objects = stored_objects(stack, repo_id)
    for _filename, _sha, _blake2, _status, key, _processed in rows:
        assert f"{key}.metadata" in objects
    # Further sweeps and redelivered messages find nothing left to do: once two more sweeps
    # have run and requeued nothing, no row has changed.
    seen = empty_sweeps(stack)
    wait_for(lambda: empty_sweeps(stack) >= seen + 2, timeout=30, what="two more empty sweeps")
    assert file_rows(stack, repo_id) == rows
    assert_invariants(registry, [Acknowledged.of(u.filename, u.data) for u in uploads])


def empty_sweeps(stack: FaultStack) -> int:
    """How many sweeps the worker has logged that found no pending file to send again."""
    log = (stack.workdir / "worker.log").read_text(errors="replace")
    return len(re.findall(r"requeue_pending_files_task\[[^\]]+\] succeeded in \S+: 0\s", log))


def file_state(stack: FaultStack, repo_id: int, filename: str) -> tuple[str, bool]:
    """The file's status, and whether a worker holds a claim on it."""
    rows = query(
        stack,
        "SELECT status, claimed_until IS NOT NULL FROM registry_file "
        "WHERE repository_id = %s AND filename = %s",
        repo_id,
        filename,
    )
    return str(rows[0][0]), bool(rows[0][1])


def test_it_finishes_every_upload_when_workers_are_killed_mid_task(fault_stack) -> None:
    stack, _broker = fault_stack
    stack.kill_worker()
    registry, uploads = upload_many(stack, "killed", FILES)
    repo_id = registry.repository_id
    assert statuses(stack, repo_id) == ["pending"] * FILES
    held = uploads[0].filename

    # The test holds one file's release row locked: the worker that takes that file claims it,
    # checks it, then blocks writing its release, mid-task, until the kill. Its pool is
    # killed, then the whole worker; the sweep and the restarted worker must finish it.
    with psycopg.connect(stack.database_url) as lock:
        lock.execute(
            "SELECT r.id FROM registry_release r JOIN registry_file f ON f.release_id = r.id "
            "WHERE f.repository_id = %s AND f.filename = %s FOR UPDATE OF r",
            (repo_id, held),
        )
        stack.start_worker()
        wait_for(
            lambda: file_state(stack, repo_id, held) == ("pending", True),
            timeout=60,
            what="a worker mid-task on the held file",
        )
        stack.kill_pool_children()
        stack.kill_worker()
        lock.rollback()
    # The killed task wrote nothing: its file is pending, under a claim left to expire.
    assert file_state(stack, repo_id, held) == ("pending", True)
    stack.start_worker()

    assert_all_ready_once(stack, registry, uploads)


def sweep(stack: FaultStack) -> int:
    """Run the pending sweep once, as beat would, with the stack's settings: how many files
    it sent again."""
    out = stack.manage(
        "shell", "-c",
        "from datetime import timedelta; from uploads.tasks import pending_files_requeue; "
        "print(pending_files_requeue(older_than=timedelta(0)))",
    )  # fmt: skip
    return int(out.split()[-1])


def test_the_sweep_sends_nothing_for_a_backlog_still_queued(fault_stack) -> None:
    stack, broker = fault_stack
    stack.kill_worker()
    registry, uploads = upload_many(stack, "backlog", FILES)
    queue = stack.env["CELERY_QUEUE"]
    assert broker.queued(queue) == FILES

    # Minutes of a worker that cannot keep up: not one copy is added to the queue.
    assert [sweep(stack) for _minute in range(3)] == [0, 0, 0]
    assert broker.queued(queue) == FILES

    stack.start_worker()
    assert_all_ready_once(stack, registry, uploads)


def test_it_finishes_every_upload_when_the_broker_restarts_empty(fault_stack) -> None:
    stack, broker = fault_stack
    stack.kill_worker()
    registry, uploads = upload_many(stack, "restarted", FILES)
    assert broker.queued(stack.env["CELERY_QUEUE"]) == FILES

    broker.kill()
    broker.start()
    assert broker.queued(stack.env["CELERY_QUEUE"]) == 0
    # Every message is lost: the sweep sends each file once, and a second sweep nothing.
    assert sweep(stack) == FILES
    assert sweep(stack) == 0
    assert broker.queued(stack.env["CELERY_QUEUE"]) == FILES
    stack.start_worker()

    assert_all_ready_once(stack, registry, uploads)


def test_it_acknowledges_uploads_while_the_broker_is_down_and_finishes_them_after(
    fault_stack,
) -> None:
    stack, broker = fault_stack
    broker.kill()
    try:
        registry, uploads = upload_many(stack, "brokerless", 3)
        assert statuses(stack, registry.repository_id) == ["pending"] * 3
    finally:
        broker.start()

    assert_all_ready_once(stack, registry, uploads)
