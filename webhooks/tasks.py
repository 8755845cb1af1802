"""Thin Celery adapters for webhook deliveries, and the one way a delivery is sent."""

from __future__ import annotations

import functools

from celery import shared_task
from django.conf import settings
from django.db import transaction

from webhooks.delivery import deliveries_due
from webhooks.delivery import delivery_attempt


@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int) -> None:
    """One attempt; a retry due soon is scheduled in a message, a later one by the sweep
    (a message held for hours would outlive the broker's visibility timeout)."""
    delay = delivery_attempt(delivery_id=delivery_id)
    if delay is not None and delay <= settings.WEBHOOK_ETA_MAX_SECONDS:
        webhook_deliver_task.apply_async((delivery_id,), countdown=delay)


@shared_task(acks_late=True)
def webhook_retry_due_task() -> int:
    """Send the deliveries whose next attempt is a minute overdue: never put in a message
    (a long delay) or whose message was lost. One still in a message finds it claimed or
    done, and sends nothing twice."""
    due = deliveries_due(older_than=60)
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)


def delivery_send_on_commit(delivery_id: int) -> None:
    """Send a delivery once the row exists for the worker to read."""
    transaction.on_commit(functools.partial(webhook_deliver_task.delay, delivery_id))
