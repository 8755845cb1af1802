"""Celery tasks of the upload pipeline: thin adapters over uploads.processing, and the one
way a file is sent to a worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from celery import shared_task
from django.db import InterfaceError
from django.db import OperationalError
from kombu.exceptions import ChannelError

from uploads import processing

logger = logging.getLogger(__name__)

# Storage, network and database faults pass (a dropped connection, a restarting server, a
# locked SQLite file): retried in seconds rather than left to the sweep. A bad distribution
# is rejected inside processing instead.
TRANSIENT_ERRORS = (OSError, BotoCoreError, ClientError, OperationalError, InterfaceError)


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
)
def process_file_task(file_id: int) -> None:
    processing.file_process(file_id=file_id)


@shared_task
def requeue_pending_files_task() -> int:
    return pending_files_requeue()


def file_enqueue_processing(*, file_id: int) -> None:
    """Send the file to a worker. A broker outage loses nothing: the sweep sends it later."""
    try:
        process_file_task.delay(file_id)
    except Exception:
        logger.exception("Could not enqueue file %s; the pending sweep will retry it", file_id)


def pending_files_requeue(*, older_than: timedelta | None = None) -> int:
    """Send again every pending file whose message is lost (a dead worker's claim, or more
    files waiting than messages queued), so no acknowledged upload is ever left behind and
    a backlog gets no copies. Returns how many were sent."""
    file_ids = processing.lost_pending_file_ids(queued=_queued_messages, older_than=older_than)
    for file_id in file_ids:
        file_enqueue_processing(file_id=file_id)
    return len(file_ids)


def _queued_messages() -> int | None:
    """How many messages wait in the processing queue (not those a worker holds), or None
    when the broker cannot say."""
    app = process_file_task.app
    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            try:
                declared = channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
            except ChannelError:
                # Redis drops a list once it is empty: no queue, no message.
                return 0
            return int(declared.message_count)
    except Exception:
        logger.exception("Could not count the queued messages; only expired claims are sent")
        return None
