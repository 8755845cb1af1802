"""The embedded default's broker: kombu's folder transport listing the folder once per batch
(config.celery.FolderTransport). Every message is delivered once, in order, including those
that arrive while a batch is being taken, and an idle consumer sees a new one at once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from config.celery import FolderTransport


def connection(folder: Path) -> Any:
    queue = folder / "queue"
    queue.mkdir(exist_ok=True)
    return Connection(
        "filesystem://",
        transport=FolderTransport,
        transport_options={
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "store_processed": False,
            "control_folder": str(folder / "control"),
            "polling_interval": 0.05,
        },
    )


def queue_name() -> str:
    # kombu remembers a queue's bindings per process (not per folder): a name per test.
    return f"tasks-{uuid.uuid4().hex}"


def test_it_delivers_every_message_once_in_order_with_more_arriving_mid_batch(
    tmp_path: Path,
) -> None:
    with connection(tmp_path) as producer_side, connection(tmp_path) as consumer_side:
        name = queue_name()
        sent = producer_side.SimpleQueue(name)
        received = consumer_side.SimpleQueue(name)
        for number in range(5):
            sent.put(number)
            time.sleep(0.002)  # kombu names messages by the millisecond
        taken = []
        for _ in range(2):
            message = received.get(timeout=1)
            taken.append(message.payload)
            message.ack()
        for number in range(5, 8):  # after the batch was listed
            sent.put(number)
            time.sleep(0.002)
        while len(taken) < 8:
            message = received.get(timeout=1)
            taken.append(message.payload)
            message.ack()
        assert taken == list(range(8))
        assert received.qsize() == 0
        with pytest.raises(received.Empty):
            received.get(timeout=0.2)


def test_an_idle_consumer_sees_a_new_message_within_the_polling_interval(
    tmp_path: Path,
) -> None:
    with connection(tmp_path) as producer_side, connection(tmp_path) as consumer_side:
        name = queue_name()
        # Messages of a queue nobody consumes lie in the folder for good.
        producer_side.SimpleQueue(queue_name()).put("a reply nobody reads")
        received = consumer_side.SimpleQueue(name)
        with pytest.raises(received.Empty):
            received.get(timeout=0.1)
        producer_side.SimpleQueue(name).put("upload")
        started = time.monotonic()
        assert received.get(timeout=1).payload == "upload"
        assert time.monotonic() - started < 0.4


def test_a_message_file_not_yet_written_never_stops_the_consumer(tmp_path: Path) -> None:
    """kombu writes a message where readers look; one taken between its creation and its
    write is empty. That stopped the worker, and `manage.py serve` with it. Our messages
    appear only once whole, and an unreadable one is dropped (the sweep sends its file
    again) while the next is delivered."""
    with connection(tmp_path) as producer_side, connection(tmp_path) as consumer_side:
        name = queue_name()
        received = consumer_side.SimpleQueue(name)
        (tmp_path / "queue" / f"1_{uuid.uuid4()}.{name}.msg").write_bytes(b"")  # half-made
        producer_side.SimpleQueue(name).put("upload")
        assert received.get(timeout=1).payload == "upload"
        assert not list((tmp_path / "queue").glob("*.partial"))
