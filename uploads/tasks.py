"""Celery tasks of the upload pipeline: thin adapters over uploads.processing, and the one
way a file is sent to a worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from celery import shared_task

from uploads import processing

logger = logging.getLogger(__name__)

# Storage and network faults pass; a bad distribution is rejected inside processing instead.
TRANSIENT_ERRORS = (OSError, BotoCoreError, ClientError)


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
    """Send again every file still pending after `older_than` that no worker holds, so no
    acknowledged upload is ever left behind. Returns how many were sent."""
    file_ids = processing.stale_pending_file_ids(older_than=older_than)
    for file_id in file_ids:
        file_enqueue_processing(file_id=file_id)
    return len(file_ids)
