from __future__ import annotations

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from celery import shared_task

from uploads import services

# Storage and network faults pass; a bad distribution is rejected inside the service instead.
TRANSIENT_ERRORS = (OSError, BotoCoreError, ClientError)


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
)
def process_file_task(file_id: int) -> None:
    services.file_process(file_id=file_id)


@shared_task
def requeue_pending_files_task() -> int:
    return services.pending_files_requeue()
