"""The pending sweep sends again only what is lost, against the two real brokers: Redis and
the embedded default's folder. No worker runs, so every message sent stays queued, counted."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from registry.models import File
from registry.models import FileStatus
from tests.artifacts import Package
from tests.conftest import DEFAULT_REDIS_URL
from tests.world import Tenant
from tests.world import publish
from uploads import tasks
from uploads.tasks import pending_files_requeue

pytestmark = pytest.mark.django_db

CONF = (
    "broker_url",
    "broker_transport",
    "broker_transport_options",
    "task_always_eager",
    "task_default_queue",
)


def _forget_connections() -> None:
    # Celery keeps its producer pool for the broker it first connected to; the next
    # publish must connect to the broker configured now.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture(params=["redis", "filesystem"])
def queued(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], int]]:
    """A real broker on a queue of this test's own, tasks sent to it (not run inline);
    yields how many messages it holds."""
    queue = f"wheelhouse-test-sweep-{uuid.uuid4().hex}"
    options: dict[str, object] = {}
    url, transport = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), None
    if request.param == "filesystem":
        # The embedded default's transport, exactly (config/settings.py).
        url, transport = "filesystem://", "config.celery:FolderTransport"
        folder = tmp_path / "broker"
        folder.mkdir()
        options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "store_processed": False,
            "control_folder": str(tmp_path / "control"),
        }
    saved = {name: celery_app.conf[name] for name in CONF}
    celery_app.conf.update(
        broker_url=url,
        broker_transport=transport,
        broker_transport_options=options,
        task_always_eager=False,
        task_default_queue=queue,
    )
    _forget_connections()

    def count() -> int:
        with celery_app.connection_for_read() as connection:
            return int(connection.default_channel._size(queue))

    try:
        yield count
    finally:
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
        celery_app.conf.update(saved)
        _forget_connections()


@pytest.fixture
def upload(tenant: Tenant, django_capture_on_commit_callbacks) -> Callable[[int], list[File]]:
    """Uploads files as the endpoint does, each one's message sent once its row commits."""
    uploaded = 0

    def files(count: int) -> list[File]:
        nonlocal uploaded
        with django_capture_on_commit_callbacks(execute=True):
            made = [
                publish(tenant.repository, Package(f"pkg-{i}", "1.0"), process=False)
                for i in range(uploaded, uploaded + count)
            ]
        uploaded += count
        return made

    return files


SWEEP = {"older_than": timedelta(0)}


def test_it_sends_nothing_for_a_backlog_still_queued(upload, queued) -> None:
    upload(5)
    assert queued() == 5

    for _minute in range(3):
        assert pending_files_requeue(**SWEEP) == 0
    assert queued() == 5


def test_it_sends_a_file_whose_message_was_lost_once(upload, queued, monkeypatch) -> None:
    monkeypatch.setattr("uploads.tasks.process_file_task.delay", _broker_down)
    lost = upload(1)[0]  # the broker refused it: answered, never queued
    monkeypatch.undo()
    assert queued() == 0

    assert pending_files_requeue(**SWEEP) == 1
    assert queued() == 1
    # Its message is queued now: later sweeps leave it there.
    assert pending_files_requeue(**SWEEP) == 0
    assert queued() == 1
    assert File.objects.get(pk=lost.pk).status == FileStatus.PENDING


def test_it_sends_the_oldest_files_when_fewer_messages_wait_than_files(
    upload, queued, monkeypatch
) -> None:
    monkeypatch.setattr("uploads.tasks.process_file_task.delay", _broker_down)
    lost = upload(2)  # sent while the broker was down
    monkeypatch.undo()
    upload(3)  # queued, behind nothing
    assert queued() == 3

    sent = _record_sends(monkeypatch)

    assert pending_files_requeue(**SWEEP) == 2
    assert sorted(sent) == sorted(f.pk for f in lost)
    assert queued() == 5
    assert pending_files_requeue(**SWEEP) == 0


def test_it_leaves_recent_files_to_their_messages_in_flight(upload, queued, monkeypatch) -> None:
    monkeypatch.setattr("uploads.tasks.process_file_task.delay", _broker_down)
    upload(1)
    monkeypatch.undo()

    assert pending_files_requeue(older_than=timedelta(minutes=2)) == 0
    assert queued() == 0


def test_it_sends_a_file_whose_worker_died_holding_it_even_behind_a_backlog(
    upload, queued, monkeypatch
) -> None:
    files = upload(4)
    claimed, live = files[0], files[1]
    File.objects.filter(pk=claimed.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    File.objects.filter(pk=live.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
    sent = _record_sends(monkeypatch)

    assert pending_files_requeue(**SWEEP) == 1
    assert sent == [claimed.pk]
    assert queued() == 5
    # Its new message waits behind the backlog: the next sweeps leave it there.
    assert pending_files_requeue(**SWEEP) == 0
    assert queued() == 5


def _record_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    send = tasks.file_enqueue_processing

    def recorded(*, file_id: int) -> None:
        sent.append(file_id)
        send(file_id=file_id)

    monkeypatch.setattr(tasks, "file_enqueue_processing", recorded)
    return sent


def _broker_down(*args: object, **kwargs: object) -> None:
    raise ConnectionError("the broker is down")
