from __future__ import annotations

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from celery import shared_task

from registry.services import stored_objects_delete


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, BotoCoreError, ClientError),
    retry_backoff=2,
    max_retries=8,
)
def delete_stored_objects_task(keys: list[str]) -> int:
    """Delete the stored files of a deleted repository or organization."""
    return stored_objects_delete(keys=keys)
