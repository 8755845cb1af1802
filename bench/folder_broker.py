"""How fast a consumer takes messages from the embedded default's folder broker, kombu's own
transport against config.celery.FolderTransport, with a backlog of N messages queued.

    .venv/bin/python bench/folder_broker.py [--messages 7000]

Only the broker: each message is taken and acknowledged, nothing else. Not part of the test
suite."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kombu import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.celery import FolderTransport

BODY = {"file_id": 0, "padding": "x" * 1200}  # about the size of a task message


def rate(transport: object, count: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="wheelhouse-bench-folder-"))
    (folder / "queue").mkdir()
    options = {
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "store_processed": False, "control_folder": str(folder / "control"),
        "polling_interval": 0.05,
    }  # fmt: skip
    name = f"bench-{uuid.uuid4().hex}"
    with Connection("filesystem://", transport=transport, transport_options=options) as conn:
        queue = conn.SimpleQueue(name)
        for _ in range(count):
            queue.put(BODY)
        started = time.perf_counter()
        for _ in range(count):
            queue.get(timeout=10).ack()
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=7000)
    args = parser.parse_args()
    transports = {"kombu filesystem": "filesystem", "FolderTransport": FolderTransport}
    for label, transport in transports.items():
        figure = rate(transport, args.messages)
        print(f"{label:18} {args.messages} queued: {figure:8.0f} messages/s", flush=True)


if __name__ == "__main__":
    main()
