"""Past one host, under faults (issue 14): two web nodes behind HAProxy, Celery workers and
beat, one PostgreSQL database, one Redis and SeaweedFS (tests/cluster.py), with real pip
installing and uploads arriving all along.

- Redis stopped (as an operator stops it) and started again: not one install fails, uploads
  go on being acknowledged, and those acknowledged during the outage are ready once it ends.
- A web node and a worker SIGKILLed mid-load and restarted (then the other pair, in longer
  runs): not one install fails beyond the retries pip makes itself, and no acknowledged
  upload is lost.

After each, the invariant checker (tests/invariants.py) looks at what the registry holds.
The durations here keep the suite short; `make reliability` runs the long versions (a 30 s
Redis outage, more load, both pairs killed in turn) with the same code (REDIS_OUTAGE_SECONDS,
CLUSTER_LOAD_SECONDS, CLUSTER_KILL_ROUNDS, CLUSTER_INSTALLERS).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.artifacts import Package
from tests.artifacts import sdist_bytes
from tests.artifacts import sdist_filename
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import wait_until_listed
from tests.cluster import Cluster
from tests.cluster import Installer
from tests.cluster import Load
from tests.cluster import PrivateRedis
from tests.cluster import Uploader
from tests.conftest import DEFAULT_DATABASE_URL
from tests.e2e.live_checks import post
from tests.e2e.live_checks import query
from tests.fixtures.hostile import Upload
from tests.invariants import Acknowledged
from tests.invariants import LiveRegistry
from tests.invariants import assert_invariants
from tests.services import FAST_RECOVERY
from tests.services import SeaweedFS
from tests.services import private_database
from tests.services import wait_for

pytestmark = pytest.mark.e2e

REDIS_OUTAGE_SECONDS = float(os.environ.get("REDIS_OUTAGE_SECONDS", "8"))
# How long the load runs around each kill (before it, between the kill and the restart, after).
CLUSTER_LOAD_SECONDS = float(os.environ.get("CLUSTER_LOAD_SECONDS", "3"))
# Node 0 and worker 0 are killed in the first round, node 1 and worker 1 in the second, ...
CLUSTER_KILL_ROUNDS = int(os.environ.get("CLUSTER_KILL_ROUNDS", "1"))
INSTALLERS = int(os.environ.get("CLUSTER_INSTALLERS", "2"))


@pytest.fixture(scope="module")
def cluster(session_dir: Path, s3: SeaweedFS) -> Iterator[tuple[Cluster, PrivateRedis]]:
    workdir = session_dir / "cluster"
    workdir.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    # Persistent, as the compose file runs it: a stop keeps what it held.
    broker = PrivateRedis(workdir, persistent=True)
    broker.start()
    try:
        with private_database("wheelhouse_cluster", base) as database_url:
            stack = Cluster(workdir, database_url=database_url, redis_url=broker.url, s3=s3)
            stack.env.update(FAST_RECOVERY)
            try:
                stack.start()
                yield stack, broker
            finally:
                stack.stop()
    finally:
        broker.stop()


class Tenant:
    """A repository with `app` (which needs `lib`) ready to install, and its clients' URLs."""

    def __init__(self, stack: Cluster, repo: str) -> None:
        provisioned = stack.provision("cluster", repo)
        self.token = str(provisioned["api_key"]["token"])  # type: ignore[index]
        self.upload_url = str(provisioned["upload_url"])
        self.index_url = str(provisioned["index_url"])
        self.app = f"{repo}-app"
        self.acknowledged: list[Acknowledged] = []
        for package in (Package(f"{repo}-lib", "1.0"), Package(self.app, "1.0", (f"{repo}-lib",))):
            upload = Upload(wheel_filename(package), wheel_bytes(package), name=package.name)
            assert post(self.upload_url, self.token, upload).status == 200
            self.acknowledged.append(Acknowledged.of(upload.filename, upload.data))
            wait_until_listed(self.index_url, self.token, package.name, [upload.filename])
        self.registry = LiveRegistry(stack, "cluster", repo, self.token)

    def installers(self, workdir: Path) -> list[Installer]:
        return [
            Installer(self.index_url, self.token, self.app, workdir / f"installer-{n}")
            for n in range(INSTALLERS)
        ]


def wait_for_installs(installers: list[Installer], after: float, count: int) -> None:
    """Until each installer has finished `count` installs begun after `after`."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if all(len(i.load.within(after, time.monotonic())) >= count for i in installers):
            return
        time.sleep(0.2)
    raise TimeoutError(f"installs did not go on: {[len(i.load.outcomes) for i in installers]}")


def summary(name: str, load: Load, start: float, end: float) -> str:
    begun, within = load.begun(start, end), load.within(start, end)
    return (
        f"{name}: {len(load.outcomes)} ({len(load.failures())} failed), "
        f"{len(begun)} begun during the fault ({sum(not o.ok for o in begun)} failed), "
        f"{len(within)} wholly within it"
    )


def failures(loads: list[Load]) -> list[str]:
    return [o.detail[-2000:] for load in loads for o in load.failures()]


def test_installs_and_uploads_go_on_while_redis_is_stopped(
    cluster: tuple[Cluster, PrivateRedis], tmp_path: Path
) -> None:
    stack, broker = cluster
    tenant = Tenant(stack, "redis-outage")
    # A task in flight when Redis goes: the test holds the release of an sdist's wheel
    # locked, so the worker processing the sdist waits, mid-task, until Redis is back (the
    # upload itself only shares the lock, as its row's foreign key does).
    held = Package("redis-outage-held", "1.0")
    wheel = Upload(wheel_filename(held), wheel_bytes(held), name=held.name)
    sdist = Upload(sdist_filename(held), sdist_bytes(held), name=held.name)
    assert post(tenant.upload_url, tenant.token, wheel).status == 200
    wait_until_listed(tenant.index_url, tenant.token, held.name, [wheel.filename])
    installers = tenant.installers(tmp_path)
    uploader = Uploader(tenant.upload_url, tenant.token, "during-outage", interval=0.5)
    for client in (*installers, uploader):
        client.start()
    try:
        with psycopg.connect(stack.database_url) as lock:
            lock.execute(
                "SELECT r.id FROM registry_release r JOIN registry_file f ON f.release_id = r.id "
                "WHERE f.repository_id = %s AND f.filename = %s FOR NO KEY UPDATE OF r",
                (tenant.registry.repository_id, wheel.filename),
            )
            assert post(tenant.upload_url, tenant.token, sdist).status == 200
            wait_for(
                lambda: claimed(stack, tenant.registry.repository_id, sdist.filename),
                timeout=60,
                what="a worker mid-task on the held sdist",
            )
            wait_for_installs(installers, after=0, count=1)
            start = time.monotonic()
            broker.stop()
            time.sleep(REDIS_OUTAGE_SECONDS)  # the outage: the clients go on meanwhile
            broker.start()
            end = time.monotonic()
            lock.rollback()
        acknowledged_during = [o for o in uploader.load.within(start, end) if o.ok]
        # They had no message (the broker was down): the sweep sends them.
        during = {o.subject for o in acknowledged_during}
        wait_for(
            lambda: {r.filename for r in tenant.registry.rows() if r.status == "ready"} >= during,
            timeout=90,
            what="the uploads acknowledged during the outage to be ready",
        )
        ready_after = time.monotonic() - end
        wait_for_installs(installers, after=end, count=2)
    finally:
        for client in (*installers, uploader):
            client.stop()

    # Every worker lived through it, the one that held a task too.
    assert [w.poll() for w in stack.workers.values()] == [None] * len(stack.workers)
    report = [summary(f"installer {n}", i.load, start, end) for n, i in enumerate(installers)]
    report.append(summary("uploads", uploader.load, start, end))
    report.append(f"those acknowledged during it ready {ready_after:.1f} s after it ended")
    print(f"\nRedis stopped {end - start:.1f} s:", "; ".join(report))
    assert failures([i.load for i in installers]) == []
    assert all(i.load.begun(start, end) for i in installers), "no install began in the outage"
    # Not one 5xx that pip's retries could have hidden: the nodes stayed in the balancer.
    assert stack.balancer_errors("/redis-outage/") == []
    assert failures([uploader.load]) == []
    assert acknowledged_during, "no upload was acknowledged during the outage"
    # The workers tried Redis again every second (config.celery.Consumer), not 2 s longer
    # after each attempt: they were back with it.
    for worker in stack.workers:
        waits = re.findall(r"Trying again in ([\d.]+) seconds?", stack.worker_log(worker))
        assert waits, "the worker never noticed the outage"
        assert max(float(wait) for wait in waits) <= 1.0
    held_files = [Acknowledged.of(u.filename, u.data) for u in (wheel, sdist)]
    assert_invariants(tenant.registry, [*tenant.acknowledged, *held_files, *uploader.acknowledged])


def claimed(stack: Cluster, repository_id: int, filename: str) -> bool:
    """Whether a worker holds the file, pending, under its claim."""
    rows = query(
        stack,
        "SELECT status, claimed_until IS NOT NULL FROM registry_file "
        "WHERE repository_id = %s AND filename = %s",
        repository_id,
        filename,
    )
    return bool(rows) and rows[0] == ("pending", True)


def test_a_web_node_and_a_worker_killed_mid_load_lose_nothing(
    cluster: tuple[Cluster, PrivateRedis], tmp_path: Path
) -> None:
    stack, _broker = cluster
    tenant = Tenant(stack, "killed-nodes")
    installers = tenant.installers(tmp_path)
    uploaders = [
        Uploader(tenant.upload_url, tenant.token, f"under-kill-{n}", interval=0.25)
        for n in range(2)
    ]
    for client in (*installers, *uploaders):
        client.start()
    windows = []
    try:
        wait_for_installs(installers, after=0, count=1)
        for round_ in range(CLUSTER_KILL_ROUNDS):
            node = round_ % 2
            time.sleep(CLUSTER_LOAD_SECONDS)
            start = time.monotonic()
            stack.kill_web(node)
            stack.kill_worker(node)
            time.sleep(CLUSTER_LOAD_SECONDS)  # one node, one worker left to carry the load
            stack.start_worker(node)
            stack.start_web(node)
            stack.wait_web(node)
            windows.append((start, time.monotonic()))
        wait_for_installs(installers, after=time.monotonic(), count=1)
    finally:
        for client in (*installers, *uploaders):
            client.stop()

    start, end = windows[0][0], windows[-1][1]
    report = [summary(f"installer {n}", i.load, start, end) for n, i in enumerate(installers)]
    report += [summary(f"uploader {n}", u.load, start, end) for n, u in enumerate(uploaders)]
    print(f"\nNodes killed over {end - start:.1f} s:", "; ".join(report))
    assert failures([i.load for i in installers]) == []
    assert all(i.load.begun(start, end) for i in installers), "no install began in the kills"
    # Reads cut off with their node were sent again by the balancer; only an upload whose body
    # had gone to the killed node can have failed (HAProxy cannot send a body twice).
    assert [e for e in stack.balancer_errors("/killed-nodes/") if e[1] != "POST"] == []
    # An upload cut off with its node may fail (and is sent again); none acknowledged is lost.
    acknowledged = [a for u in uploaders for a in u.acknowledged]
    assert acknowledged
    assert_invariants(tenant.registry, [*tenant.acknowledged, *acknowledged])
