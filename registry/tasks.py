"""Background work on stored objects. Tasks are thin: each calls one function below it."""

from __future__ import annotations

import dataclasses
import functools

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from celery import shared_task
from django.db import transaction

from registry.reconcile import slug_aliases_expire
from registry.reconcile import storage_reconcile
from registry.storage import stored_objects_delete

# Objects per deletion task: small enough for one message, large enough to be few messages.
DELETE_BATCH = 500


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, BotoCoreError, ClientError),
    retry_backoff=2,
    max_retries=8,
)
def delete_stored_objects_task(keys: list[str]) -> int:
    """Delete the stored files of deleted files, releases, repositories or organizations."""
    return stored_objects_delete(keys=keys)


def delete_stored_objects_on_commit(keys: list[str]) -> None:
    """Delete stored objects once the rows pointing at them are gone for good: a rollback
    never leaves a row whose bytes are gone."""
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        transaction.on_commit(functools.partial(delete_stored_objects_task.delay, batch))


# A run lists the whole bucket: it may take far longer than the default task limits, but must
# end before the next hourly run is sent (a second run at once would only repeat the work).
@shared_task(acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def reconcile_storage_task() -> dict[str, int]:
    """Remove stored objects and multipart uploads no row accounts for (registry.reconcile).
    No retry: the next scheduled run is one."""
    return dataclasses.asdict(storage_reconcile())


@shared_task(acks_late=True)
def slug_aliases_expire_task() -> int:
    """Remove expired former slugs of organizations and repositories (registry.reconcile)."""
    return slug_aliases_expire()
